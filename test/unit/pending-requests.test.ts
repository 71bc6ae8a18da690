import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PendingRequests } from '../../src-main/engine/fuse/pending-requests.js';

test('a request left waiting is named in the log once, and again when it is answered', (t) => {
  t.mock.timers.enable({ apis: ['setInterval', 'Date'] });
  const lines: string[] = [];
  const pending = new PendingRequests(
    'photos',
    (line) => lines.push(line),
    30_000,
    () => Date.now(),
  );
  const quick = pending.start('getattr', '/a');
  const stuck = pending.start('read', '/big.bin');
  t.mock.timers.tick(1_000);
  pending.end(quick);
  t.mock.timers.tick(28_000);
  assert.deepEqual(lines, [], 'nothing is said of requests answered in time');
  t.mock.timers.tick(10_000);
  assert.equal(lines.length, 1);
  assert.match(lines[0]!, /^bazil: volume "photos": a read of "\/big.bin" has waited 3\d s for an answer/);
  t.mock.timers.tick(60_000);
  assert.equal(lines.length, 1, 'said once');
  pending.end(stuck);
  assert.match(lines[1]!, /a read of "\/big.bin" was answered after \d+ s/);
  assert.equal(pending.size, 0);
  pending.close();
});
