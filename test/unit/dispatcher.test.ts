import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Api, EngineEvent, JobProgress } from '../../src-main/common/api.js';
import { BazilError } from '../../src-main/common/errors.js';
import { EventHub } from '../../src-main/common/event-hub.js';
import { Dispatcher } from '../../src-main/engine/transports/dispatcher.js';

const volume = { name: 'photos', createdAt: '2026-12-01T03:00:00.000Z', mountpoint: '/m', showSnap: false };

/** An engine stand-in: only the methods a test calls, each as the test says. */
function dispatcher(methods: Partial<Record<keyof Api, (args: never, progress: (p: JobProgress) => void) => unknown>>) {
  const events: EngineEvent[] = [];
  const hub = new EventHub<EngineEvent>();
  hub.subscribe((e) => events.push(e));
  const api = { volumeList: async () => [volume], ...methods } as unknown as Api;
  return { d: new Dispatcher(api, hub), events };
}

test('a result comes back as it is; a void result as null', async () => {
  const { d } = dispatcher({ unmount: async () => undefined, stats: async () => ({ storeBytes: 5 }) });
  assert.deepEqual(await d.call('stats', {}), { result: { storeBytes: 5 } });
  assert.deepEqual(await d.call('unmount', { name: 'photos' }), { result: null });
});

test('a BazilError keeps its code and words; anything else is EINTERNAL', async (t) => {
  t.mock.method(console, 'error', () => undefined);
  const { d } = dispatcher({
    volumeCreate: async () => {
      throw new BazilError('EEXIST', 'volume "photos" already exists');
    },
    stats: async () => {
      throw new TypeError('x is undefined');
    },
  });
  assert.deepEqual(await d.call('volumeCreate', { name: 'photos' }), {
    error: { code: 'EEXIST', message: 'volume "photos" already exists' },
  });
  assert.deepEqual(await d.call('stats', {}), { error: { code: 'EINTERNAL', message: 'x is undefined' } });
});

test('a call that changes volumes publishes them; one that fails publishes nothing', async () => {
  const { d, events } = dispatcher({
    mount: async () => volume,
    volumeDelete: async () => {
      throw new BazilError('EBUSY', 'mounted');
    },
  });
  await d.call('mount', { name: 'photos', mountpoint: '/m' });
  assert.deepEqual(events, [{ type: 'volumes', volumes: [volume] }]);
  await d.call('volumeDelete', { name: 'photos' });
  assert.equal(events.length, 1);
});

test('snapshots taken, deleted and restored are published with their names', async () => {
  const { d, events } = dispatcher({
    snapshotCreate: async () => ({ name: '2026-12-01-030000' }),
    snapshotDelete: async () => undefined,
    snapshotRestore: async () => ({ path: '/a' }),
  });
  await d.call('snapshotCreate', { volume: 'photos' });
  await d.call('snapshotDelete', { volume: 'photos', snapshot: 'old' });
  await d.call('snapshotRestore', { volume: 'photos', snapshot: 'mine', path: '/a' });
  assert.deepEqual(
    events.map((e) => e.type === 'snapshot' && [e.snapshot, e.action]),
    [
      ['2026-12-01-030000', 'created'],
      ['old', 'deleted'],
      ['mine', 'restored'],
    ],
  );
});

test('long work is a job: announced, its progress passed on (throttled, the last always), then its end', async () => {
  const heard: JobProgress[] = [];
  const { d, events } = dispatcher({
    verify: async (_: never, progress: (p: JobProgress) => void) => {
      for (let done = 0; done <= 1000; done += 10) progress({ phase: 'checking', done, total: 1000, unit: 'items' });
      return { checkedChunks: 3 };
    },
    gc: async () => {
      throw new BazilError('EIO', 'disk failed');
    },
  });
  await d.call('verify', {}, (p) => heard.push(p));
  assert.ok(heard.length >= 2 && heard.length < 20, `${heard.length} progress messages for 101 steps`);
  assert.equal(heard.at(-1)!.done, 1000, 'the last step always gets through');
  const job = events.filter((e) => e.type === 'job');
  assert.deepEqual(
    job.map((e) => e.type === 'job' && [e.jobId, e.method, e.state]),
    [[1, 'verify', 'running'], ...heard.map(() => [1, 'verify', 'running']), [1, 'verify', 'done']],
  );
  await d.call('gc', {});
  const failed = events.at(-1)!;
  assert.deepEqual(failed, {
    type: 'job',
    jobId: 2,
    method: 'gc',
    state: 'failed',
    progress: null,
    message: 'disk failed',
  });
  const { d: plain, events: none } = dispatcher({ stats: async () => ({}) });
  await plain.call('stats', {});
  assert.deepEqual(none, [], 'a short call is no job');
});
