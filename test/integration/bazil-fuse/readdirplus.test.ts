/**
 * READDIRPLUS of a folder of 3,000 entries: the listing takes several requests, each answered
 * with as many entries as fit; the offsets carry on where the last answer stopped, so every name
 * comes once; each packed entry is one lookup the kernel later forgets.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { mountMemoryFs } from '../../helpers/memory-mount.js';
import { waitFor } from '../../helpers/wait-for.js';

test(
  'a listing of 3,000 entries takes several READDIRPLUS, and every name comes once',
  { timeout: 60_000 },
  async (t) => {
    const m = await mountMemoryFs(t);
    await m.ok('mkdir big');
    const names = new Set<string>();
    for (let i = 0; i < 3000; i++) {
      // 10 to ~210 bytes, some not ASCII
      const name = `${i % 7 === 0 ? 'é' : 'e'}-${i}-${'x'.repeat(i % 200)}`;
      names.add(name);
      m.fs.addBehind('big', name, String(i));
    }
    const listed = (await m.ok('ls -f big')).split('\n').filter(Boolean);
    const counts = new Map<string, number>();
    for (const name of listed) counts.set(name, (counts.get(name) ?? 0) + 1);
    assert.deepEqual(
      [...counts].filter(([, n]) => n !== 1),
      [],
      'names listed more than once',
    );
    assert.deepEqual(new Set(listed), new Set([...names, '.', '..']));

    const packed = m.fs.readdirplusPacked;
    assert.ok(packed.length > 2, `${packed.length} READDIRPLUS requests`);
    assert.equal(
      packed.reduce((a, b) => a + b, 0),
      3002,
    );
    // (Counted as given: the kernel may already have forgotten some, if anything dropped caches.)
    for (const name of names) assert.equal(m.fs.node(`big/${name}`)!.dirplusLookups, 1, name);
    t.diagnostic(`READDIRPLUS requests: ${packed.length}, entries per answer: ${packed.join(' ')}`);

    // Only root can make the kernel drop its caches (CI runs these tests as a normal user too).
    if (process.getuid?.() === 0) {
      await m.ok('echo 2 > /proc/sys/vm/drop_caches');
      await waitFor(() => m.fs.looked().length === 0, { timeoutMs: 20_000, what: 'every lookup to be forgotten' });
    }
    assert.deepEqual(m.fs.replyErrors, []);
  },
);
