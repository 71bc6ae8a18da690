/**
 * The snapshot scheduler on a volume's file system (VolumeFs over a real store, no FUSE), with
 * a clock the test moves: snapshots only when due and only when something changed, and the
 * scheduled ones pruned by the keep policy while manual ones stay.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { VolumeFs } from '../../src-main/engine/fs/volume-fs.js';
import { ROOT_INO } from '../../src-main/engine/store/format.js';
import { listSnapshots } from '../../src-main/engine/snapshots/browse-snapshot.js';
import { createSnapshot } from '../../src-main/engine/snapshots/create-snapshot.js';
import { SnapshotScheduler, setSchedule } from '../../src-main/engine/snapshots/snapshot-schedule.js';
import { withVolume } from '../helpers/volume-harness.js';

const MINUTE = 60_000;
const me = { uid: 1000, gid: 1000 };

async function change(fs: VolumeFs, n: number): Promise<void> {
  const { fh } = fs.createFile(ROOT_INO, `f${n}`, 0o644, 2, me);
  await fs.write(fh, Buffer.from(`change ${n}`), 0);
  await fs.release(fh);
}

test('a schedule snapshots when due and changed, and prunes only its own snapshots by the keep policy', async () => {
  await withVolume(async (fs, store, volume) => {
    let clock = new Date(2026, 5, 1, 8, 0).getTime();
    const told: string[] = [];
    const scheduler = new SnapshotScheduler({
      store,
      volumes: () => [volume],
      settled: () => fs.settled(),
      changed: (_, name, action) => told.push(`${action} ${name}`),
      failed: (_, error) => assert.fail(error as Error),
      nowMs: () => clock,
    });
    const scheduled = () => listSnapshots(store, volume.id).filter((s) => s.scheduled);
    await setSchedule(store, volume, { everyMinutes: 60, keep: { hourly: 3, daily: 2 } });

    await scheduler.tick();
    assert.equal(scheduled().length, 1, 'the first tick takes one');
    assert.match(scheduled()[0]!.name, /^auto-2026-06-01-0800/);
    assert.deepEqual(told, [`created ${scheduled()[0]!.name}`]);

    clock += 30 * MINUTE;
    await change(fs, 1);
    await scheduler.tick();
    assert.equal(scheduled().length, 1, 'not due yet');

    clock += 31 * MINUTE;
    await scheduler.tick();
    assert.equal(scheduled().length, 2, 'due, and something changed');

    clock += 61 * MINUTE;
    await scheduler.tick();
    assert.equal(scheduled().length, 2, 'due, but nothing changed');

    await createSnapshot(store, volume, { name: 'mine', kind: 'manual', settled: () => fs.settled() });
    // Three days of hourly changes.
    for (let hour = 0; hour < 72; hour++) {
      clock += 60 * MINUTE;
      await change(fs, 100 + hour);
      await scheduler.tick();
    }
    const left = scheduled().map((s) => new Date(Number(s.createdNs / 1_000_000n)));
    // The last 3 hours, and the newest of the last 2 days (one of them is among the hours).
    assert.equal(left.length, 4, left.map((t) => t.toString()).join('\n'));
    const newest = left.at(-1)!.getTime();
    assert.equal(newest, clock);
    assert.deepEqual(
      left.slice(-3).map((t) => (newest - t.getTime()) / MINUTE),
      [120, 60, 0],
    );
    assert.ok(
      listSnapshots(store, volume.id).some((s) => s.name === 'mine'),
      'a manual snapshot is never pruned',
    );
    const deleted = told.filter((t) => t.startsWith('deleted '));
    assert.equal(told.length - deleted.length - deleted.length, 4, 'each pruned snapshot was told as deleted');
  });
});
