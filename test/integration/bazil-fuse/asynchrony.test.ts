/**
 * Replies are asynchronous: a request JS answers seconds later holds up nothing else. One file's
 * flush (or read) is answered 2 s after it arrives; meanwhile another file is opened, read and
 * closed 30 times from another process, and every round trip stays fast.
 */
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'node:test';
import type { Request } from '../../../src-main/engine/fuse/addon.js';
import { PYTHON, q } from '../../helpers/fs-tools.js';
import { mountMemoryFs } from '../../helpers/memory-mount.js';
import { waitFor } from '../../helpers/wait-for.js';

const HOLD_MS = 2000;

for (const op of ['flush', 'read'] as const) {
  test(
    `a ${op} answered ${HOLD_MS / 1000} s later does not delay another file's requests`,
    { timeout: 60_000 },
    async (t) => {
      const m = await mountMemoryFs(t);
      await m.ok(`printf slow > slow && printf fast > fast`);
      const slowIno = m.fs.node('slow')!.ino;
      let held: Request | null = null;
      m.fs.hold = (request) => {
        if (request.op !== op || !('ino' in request) || request.ino !== slowIno || held) return;
        held = request;
        return sleep(HOLD_MS);
      };
      const started = performance.now();
      const touchSlow = op === 'flush' ? `${PYTHON} -c "open('slow', 'w').write('x')"` : 'cat slow > /dev/null';
      const slow = m.run(touchSlow).then((result) => ({ ...result, ms: performance.now() - started }));
      await waitFor(() => held, { timeoutMs: 10_000, what: `the ${op} of "slow" to arrive` });

      const fastScript = [
        'import os, time, json',
        'worst = 0',
        'for i in range(30):',
        '    t = time.monotonic()',
        "    fd = os.open('fast', os.O_RDONLY)",
        '    assert os.read(fd, 100) == b"fast"',
        '    os.close(fd)',
        '    worst = max(worst, time.monotonic() - t)',
        'print(json.dumps(worst * 1000))',
      ].join('\n');
      const fast = await m.ok(`${PYTHON} -c ${q(fastScript)}`);
      const fastDoneMs = performance.now() - started;
      const worstMs = Number(fast.trim());
      const slowResult = await slow;
      assert.equal(slowResult.code, 0, slowResult.stderr);
      assert.ok(slowResult.ms >= HOLD_MS - 100, `the held ${op} took ${slowResult.ms} ms`);
      assert.ok(
        fastDoneMs < HOLD_MS,
        `the other file's 30 round trips ended ${fastDoneMs} ms in, after the held ${op}`,
      );
      assert.ok(worstMs < 500, `the slowest round trip on the other file took ${worstMs} ms`);
      t.diagnostic(
        `held ${op}: ${Math.round(slowResult.ms)} ms; other file's slowest open+read+close: ${worstMs.toFixed(1)} ms`,
      );
      assert.deepEqual(m.fs.replyErrors, []);
    },
  );
}
