import assert from 'node:assert/strict';
import { test } from 'node:test';
import { notificationFor } from '../../src-main/common/notifications.js';

test('a snapshot someone took and a restore are notified; a scheduled snapshot and a deletion are not', () => {
  const snapshot = { type: 'snapshot', volume: 'photos', snapshot: 'mine' } as const;
  assert.equal(notificationFor({ ...snapshot, action: 'created' }), 'Snapshot mine of photos taken');
  assert.equal(notificationFor({ ...snapshot, action: 'restored' }), 'Restored from snapshot mine of photos');
  assert.equal(notificationFor({ ...snapshot, action: 'created', scheduled: true }), null);
  assert.equal(notificationFor({ ...snapshot, action: 'deleted', scheduled: true }), null, 'pruned by the schedule');
  assert.equal(notificationFor({ ...snapshot, action: 'deleted' }), null);
});

test('failures are notified: an error event, failed long work; progress, volumes and dirty bytes are not', () => {
  const message = 'the scheduled snapshot of volume "photos" failed: no space';
  assert.equal(notificationFor({ type: 'error', message }), message);
  const job = { type: 'job', jobId: 3, method: 'snapshotExport', progress: null } as const;
  assert.equal(notificationFor({ ...job, state: 'failed', message: 'EEXIST' }), 'snapshotExport failed: EEXIST');
  assert.equal(notificationFor({ ...job, state: 'done' }), null);
  assert.equal(notificationFor({ ...job, state: 'running' }), null);
  assert.equal(notificationFor({ type: 'volumes', volumes: [] }), null);
  assert.equal(notificationFor({ type: 'dirty', dirty: { capBytes: 1, totalBytes: 0, volumes: [], files: [] } }), null);
});
