import assert from 'node:assert/strict';
import { test } from 'node:test';
import { snapshotsToPrune } from '../../src-main/engine/snapshots/retention.js';

const HOUR = 3600_000;
/** Hourly snapshots for `hours` hours, ending at local midnight of 2026-03-31 (times in local time). */
function hourly(hours: number): { name: string; timeMs: number }[] {
  const end = new Date(2026, 2, 31, 0, 30).getTime();
  return Array.from({ length: hours }, (_, i) => ({ name: `s${i}`, timeMs: end - i * HOUR }));
}

test('keep-hourly keeps the newest snapshot of each of the last N hours', () => {
  const snaps = hourly(48);
  const pruned = snapshotsToPrune(snaps, { hourly: 24 });
  assert.equal(pruned.length, 24);
  assert.deepEqual(
    pruned,
    snaps.slice(24).map((s) => s.name),
  );
});

test('hourly, daily and monthly together keep one per period, newest of each, and never the newest snapshot', () => {
  const snaps = hourly(24 * 90); // 90 days, one an hour
  const kept = new Set(snaps.map((s) => s.name));
  for (const name of snapshotsToPrune(snaps, { hourly: 24, daily: 30, monthly: 12 })) kept.delete(name);
  const keptTimes = snaps.filter((s) => kept.has(s.name)).map((s) => new Date(s.timeMs));
  // 24 hourly, then 30 days of which the first day is already covered by the hourly ones, then
  // the months the 90 days touch (the last hours of December 2025, January, February and March
  // 2026: March's newest is the newest of all; each other month's is its last hour).
  const days = new Set(keptTimes.map((t) => `${t.getMonth()}-${t.getDate()}`));
  assert.ok(days.size >= 30);
  const months = new Set(keptTimes.map((t) => t.getMonth()));
  assert.deepEqual(
    [...months].sort((a, b) => a - b),
    [0, 1, 2, 11],
  );
  const newestOfFebruary = snaps.find((s) => new Date(s.timeMs).getMonth() === 1)!;
  assert.ok(kept.has(newestOfFebruary.name), 'the newest snapshot of a month is the one kept');
  assert.ok(kept.has('s0'));
  assert.ok(kept.size < 24 + 30 + 3 + 1);
});

test('an empty policy keeps only the newest snapshot; no snapshots, nothing to prune', () => {
  assert.deepEqual(snapshotsToPrune(hourly(3), {}), ['s1', 's2']);
  assert.deepEqual(snapshotsToPrune([], { daily: 7 }), []);
});
