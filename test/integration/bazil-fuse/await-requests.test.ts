/**
 * awaitRequests: once JS has answered every request, the engine waits for the next one awake for
 * a moment instead of sleeping in the event loop (a program like cp asks again within
 * microseconds of each answer). Requests read while awake are taken at once, without a wake-up
 * of their own: none may be left unanswered, and every answer must be right.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PYTHON, q } from '../../helpers/fs-tools.js';
import { mountMemoryFs } from '../../helpers/memory-mount.js';

test(
  'requests that come while JS awaits awake are taken and answered, each one right',
  { timeout: 60_000 },
  async (t) => {
    const m = await mountMemoryFs(t);
    m.fs.awaitMicros = 200;
    await m.ok(`printf hello > f && mkdir d`);
    // A program that waits for each answer before it asks again, as cp does.
    const script = [
      'import os',
      'for i in range(2000):',
      "    assert os.stat('f').st_size == 5",
      "    fd = os.open('f', os.O_RDONLY)",
      "    assert os.read(fd, 10) == b'hello'",
      '    os.close(fd)',
      "    assert os.listdir('d') == []",
      "print('done')",
    ].join('\n');
    assert.equal(await m.ok(`${PYTHON} -c ${q(script)}`, 50_000), 'done\n');
    assert.ok(m.fs.awaitedRequests > 0, 'some requests were read while awaiting awake');
    t.diagnostic(`requests brought in by awaiting awake: ${m.fs.awaitedRequests}`);
    assert.deepEqual(m.fs.replyErrors, []);
  },
);

test('awaiting awake with nothing asked returns false after the time given; a wait past 10 ms is refused', async (t) => {
  const m = await mountMemoryFs(t);
  const { addon } = m.fs;
  const started = performance.now();
  assert.equal(addon.awaitRequests(m.fs.session!, 2000), false);
  const ms = performance.now() - started;
  assert.ok(ms >= 2 && ms < 1000, `waited ${ms} ms for 2 ms`);
  assert.throws(() => addon.awaitRequests(m.fs.session!, 10_001), /awaitRequests: maxMicros must be at most 10000/);
  // The mount still serves as before.
  await m.ok(`printf x > g`);
  assert.equal(await m.ok(`cat g`), 'x');
});
