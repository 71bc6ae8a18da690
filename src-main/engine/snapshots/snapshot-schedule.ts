/**
 * Scheduled snapshots: per volume, a snapshot every interval, taken only when something changed
 * since the newest snapshot (the live tree's root key differs from it), then the scheduled
 * snapshots pruned by the volume's keep policy (retention.ts). Manual snapshots and those taken
 * before a restore are never pruned.
 *
 * The engine calls `tick` on a timer; the clock is given, so tests drive time themselves.
 */
import type { KeepPolicy, SnapshotSchedule } from '../../common/api.js';
import { decodeSchedule, encodeSchedule, volumePrefix, type VolumeRecord } from '../store/format.js';
import type { Store } from '../store/store.js';
import { listSnapshots } from './browse-snapshot.js';
import { createSnapshot } from './create-snapshot.js';
import { deleteSnapshot } from './delete-snapshot.js';
import { snapshotsToPrune } from './retention.js';
import { writeVolumeTree } from './take-snapshot.js';

export interface SchedulerDeps {
  store: Store;
  /** Every volume (mounted or not). */
  volumes(): VolumeRecord[];
  /** Resolves when the volume's changes so far are committed (a mounted volume's). */
  settled(volume: VolumeRecord): Promise<void>;
  /** A snapshot of the volume was taken or deleted (a mount shows it in `.snap`). */
  changed(volume: VolumeRecord, name: string, action: 'created' | 'deleted'): void;
  /** A volume's scheduled snapshot failed (it is tried again at the next tick). */
  failed(volume: VolumeRecord, error: unknown): void;
  nowMs(): number;
}

const NO_KEEP: Required<KeepPolicy> = { hourly: 0, daily: 0, weekly: 0, monthly: 0, yearly: 0 };

export function getSchedule(store: Store, volume: VolumeRecord): SnapshotSchedule | null {
  const bytes = store.dbs.schedules.get(volumePrefix(volume.id));
  if (bytes === undefined) return null;
  const record = decodeSchedule(bytes);
  return { volume: volume.name, everyMinutes: record.everyMs / 60_000, keep: record.keep };
}

export async function setSchedule(
  store: Store,
  volume: VolumeRecord,
  schedule: { everyMinutes: number; keep: KeepPolicy } | null,
): Promise<void> {
  if (schedule === null) {
    await store.dbs.schedules.remove(volumePrefix(volume.id));
    return;
  }
  const keep = { ...NO_KEEP, ...schedule.keep };
  await store.dbs.schedules.put(
    volumePrefix(volume.id),
    encodeSchedule({ everyMs: schedule.everyMinutes * 60_000, keep }),
  );
}

export class SnapshotScheduler {
  private running: Promise<void> | null = null;

  constructor(private readonly deps: SchedulerDeps) {}

  /** Resolves when no tick runs (the engine stops after it, so the store never closes under one). */
  async idle(): Promise<void> {
    await this.running;
  }

  /** Takes and prunes what is due now; one tick at a time. */
  tick(): Promise<void> {
    this.running ??= this.run().finally(() => (this.running = null));
    return this.running;
  }

  private async run(): Promise<void> {
    const { store } = this.deps;
    for (const volume of this.deps.volumes()) {
      const schedule = getSchedule(store, volume);
      if (!schedule) continue;
      try {
        await this.runFor(volume, schedule);
      } catch (error) {
        this.deps.failed(volume, error);
      }
    }
  }

  private async runFor(volume: VolumeRecord, schedule: SnapshotSchedule): Promise<void> {
    const { store } = this.deps;
    const now = this.deps.nowMs();
    const snapshots = listSnapshots(store, volume.id);
    const scheduled = snapshots.filter((s) => s.scheduled);
    const lastScheduledMs = scheduled.length > 0 ? Number(scheduled.at(-1)!.createdNs / 1_000_000n) : -Infinity;
    if (now - lastScheduledMs >= schedule.everyMinutes * 60_000) {
      await this.deps.settled(volume);
      const newest = snapshots.at(-1);
      const live = store.env.transactionSync(() => writeVolumeTree(store.dbs, volume.id, volume.name, store.marks)).root
        .treeKey;
      if (!newest || !Buffer.from(newest.rootTreeKey).equals(Buffer.from(live))) {
        const taken = await createSnapshot(store, volume, {
          name: null,
          kind: 'scheduled',
          createdNs: BigInt(now) * 1_000_000n,
          settled: () => this.deps.settled(volume),
        });
        this.deps.changed(volume, taken.name, 'created');
      }
    }
    const candidates = listSnapshots(store, volume.id)
      .filter((s) => s.scheduled)
      .map((s) => ({ name: s.name, timeMs: Number(s.createdNs / 1_000_000n) }));
    for (const name of snapshotsToPrune(candidates, schedule.keep)) {
      deleteSnapshot(store, volume, name);
      this.deps.changed(volume, name, 'deleted');
    }
  }
}
