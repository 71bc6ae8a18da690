import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { EngineEvent } from '../../src-main/common/api.js';
import { EventHub } from '../../src-main/common/event-hub.js';
import { FailureFeed } from '../../src-main/engine/failure-feed.js';
import { RepeatLimiter } from '../../src-main/engine/repeat-limiter.js';

test('a failure is published once a minute per kind, then with how many more came meanwhile', () => {
  const events = new EventHub<EngineEvent>();
  const heard: string[] = [];
  events.subscribe((e) => e.type === 'error' && heard.push(e.message));
  let nowMs = 0;
  const feed = new FailureFeed(events, new RepeatLimiter(60_000, () => nowMs));
  for (let i = 0; i < 100; i++) feed.report('unstored:photos', 'a closed file could not be stored');
  feed.report('eio:photos', 'an I/O error');
  assert.deepEqual(heard, ['a closed file could not be stored', 'an I/O error']);
  nowMs = 61_000;
  feed.report('unstored:photos', 'a closed file could not be stored');
  assert.equal(heard[2], 'a closed file could not be stored (99 more since it was last said)');
});
