/**
 * When the engine's automatic collection finds garbage worth collecting: enough of it for the
 * store's size, or any once the store's disk runs low; and how soon it looks again.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AUTO_GC_MIN_BYTES, LOW_DISK_EVERY_MS, nextCheckMs, worthCollecting } from '../../src-main/engine/auto-gc.js';

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;
const roomy = { freeBytes: 500 * GiB, sizeBytes: 1000 * GiB };
const low = { freeBytes: 50 * GiB, sizeBytes: 1000 * GiB };

test('a small store: worth it from AUTO_GC_MIN_BYTES of garbage on', () => {
  assert.equal(worthCollecting(AUTO_GC_MIN_BYTES - 1, 200 * MiB, roomy), false);
  assert.equal(worthCollecting(AUTO_GC_MIN_BYTES, 200 * MiB, roomy), true);
});

test('a large store: worth it from a twentieth of it on', () => {
  assert.equal(worthCollecting(4 * GiB, 100 * GiB, roomy), false);
  assert.equal(worthCollecting(5 * GiB, 100 * GiB, roomy), true);
});

test('a disk running low: any garbage is worth it, and none is not', () => {
  assert.equal(worthCollecting(MiB, 100 * GiB, low), true);
  assert.equal(worthCollecting(0, 100 * GiB, low), false);
});

test('the checks come every interval, and within minutes while the disk runs low', () => {
  const hour = 60 * 60_000;
  assert.equal(nextCheckMs(hour, roomy), hour);
  assert.equal(nextCheckMs(hour, low), LOW_DISK_EVERY_MS);
  assert.ok(LOW_DISK_EVERY_MS <= 5 * 60_000);
  assert.equal(nextCheckMs(1000, low), 1000, 'a shorter interval is kept');
});
