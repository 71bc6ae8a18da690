import assert from 'node:assert/strict';
import { test } from 'node:test';
import { waitFor } from './wait-for.js';

test('waitFor resolves with the first truthy result of the condition', async () => {
  let checks = 0;
  const found = await waitFor(() => (++checks === 3 ? 'ready' : null), { timeoutMs: 5_000, what: 'three checks' });
  assert.equal(found, 'ready');
  assert.equal(checks, 3);
});

test('waitFor fails with what it waited for, also when a check never answers or time is mocked', async (t) => {
  await assert.rejects(
    waitFor(() => false, { timeoutMs: 100, what: 'a condition that never holds' }),
    /timed out after 100 ms waiting for a condition that never holds/,
  );
  t.mock.timers.enable({ apis: ['setTimeout'] });
  await assert.rejects(
    waitFor(() => new Promise<boolean>(() => undefined), { timeoutMs: 100, what: 'a check that hangs' }),
    /timed out after 100 ms waiting for a check that hangs/,
  );
});

test('waitFor fails at once when the condition throws', async () => {
  await assert.rejects(
    waitFor(
      () => {
        throw new Error('the child exited');
      },
      { timeoutMs: 60_000, what: 'nothing' },
    ),
    /the child exited/,
  );
});
