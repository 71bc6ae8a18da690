/**
 * FORGET: the kernel's lookups of each inode, counted by the test file system from the replies
 * (entries, creates, packed READDIRPLUS entries), return to zero once the kernel drops its caches;
 * an unlinked inode is then freed.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { mountMemoryFs } from '../../helpers/memory-mount.js';
import { needsRoot } from '../../helpers/fs-tools.js';
import { waitFor } from '../../helpers/wait-for.js';

test(
  'after rm and drop_caches every lookup is forgotten, and removed inodes are freed',
  { timeout: 60_000, ...needsRoot('make the kernel drop its caches') },
  async (t) => {
    const m = await mountMemoryFs(t);
    await m.ok(
      'mkdir d && for i in $(seq 1 200); do echo $i > d/f$i; done && ln d/f2 d/hard2 && ln -s f3 d/soft3 && ' +
        'stat d/* > /dev/null && ls -l d > /dev/null && cat d/soft3 d/hard2 > /dev/null',
    );
    assert.ok(m.fs.looked().length > 0, 'the kernel looked inodes up');
    await m.ok('rm d/f1 d/f1?? && rm d/f2');
    const removed = 101; // f1, f100..f199 (f2 lives on as hard2)
    await m.ok('echo 2 > /proc/sys/vm/drop_caches');
    await waitFor(() => m.fs.looked().length === 0, {
      timeoutMs: 20_000,
      what: `every lookup to be forgotten (still held: ${m.fs
        .looked()
        .slice(0, 5)
        .map((n) => `${n.ino}:${n.lookups}`)
        .join(' ')})`,
    });
    assert.ok((m.fs.seen.get('forget') ?? 0) > 0);
    // The root, d, 99 files left of f1..f200 minus f2, hard2 (f2's inode) and soft3.
    assert.equal(m.fs.nodes.size, 1 + 1 + (200 - removed - 1) + 1 + 1);
    assert.equal((await m.ok('ls d | wc -l')).trim(), String(200 - removed - 1 + 2));
    assert.deepEqual(m.fs.replyErrors, []);
  },
);
