/**
 * Many requests at once: 8 processes each create, write, close and stat 500 files in the same
 * folder. Every request is answered (each process ends, nothing hangs) and none is lost (all
 * 4,000 files are there, with their byte, and the file system saw 4,000 creates).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PYTHON, q } from '../../helpers/fs-tools.js';
import { mountMemoryFs } from '../../helpers/memory-mount.js';

test('8 processes x 500 creates and stats are all answered, none lost', { timeout: 180_000 }, async (t) => {
  const m = await mountMemoryFs(t);
  const script = [
    'import os, sys',
    'p = sys.argv[1]',
    'for i in range(500):',
    "    name = 'p%s-%d' % (p, i)",
    '    fd = os.open(name, os.O_CREAT | os.O_WRONLY | os.O_EXCL, 0o644)',
    '    os.write(fd, p.encode())',
    '    os.close(fd)',
    '    assert os.stat(name).st_size == 1',
  ].join('\n');
  const started = performance.now();
  await m.ok(
    `for p in 1 2 3 4 5 6 7 8; do ${PYTHON} -c ${q(script)} $p & pids="$pids $!"; done; fail=0; for pid in $pids; do wait $pid || fail=1; done; exit $fail`,
    120_000,
  );
  const ms = performance.now() - started;
  const root = m.fs.node('')!;
  assert.equal(root.entries!.size, 4000);
  for (let p = 1; p <= 8; p++) {
    for (let i = 0; i < 500; i++) assert.equal(m.fs.node(`p${p}-${i}`)?.data.toString(), String(p), `p${p}-${i}`);
  }
  assert.equal(m.fs.seen.get('create'), 4000);
  assert.equal((await m.ok('ls -f | wc -l')).trim(), '4002');
  assert.deepEqual(m.fs.replyErrors, []);
  t.diagnostic(
    `4,000 create+write+close+stat in ${Math.round(ms)} ms; requests: ${JSON.stringify(Object.fromEntries(m.fs.seen))}`,
  );
});
