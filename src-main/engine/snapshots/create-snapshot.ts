/**
 * Creating a snapshot as the API and `mkdir .snap/NAME` both do it: the name checked (or the time
 * chosen, made unique), the volume's pending changes committed, the snapshot taken in one
 * transaction (take-snapshot.ts), and the store synced, so a snapshot that was reported survives
 * a power loss.
 */
import { checkSnapshotName } from '../../common/api.js';
import { nowNs } from '../../common/time.js';
import { snapshotKey, type SnapshotRecord, type VolumeRecord } from '../store/format.js';
import type { Store } from '../store/store.js';
import { takeSnapshot } from './take-snapshot.js';

/** Who takes it: a person, a restore (of what it replaces), or a schedule. */
export type SnapshotKind = 'manual' | 'before-restore' | 'scheduled';

const NAME_PREFIX: Record<SnapshotKind, string> = {
  manual: '',
  'before-restore': 'before-restore-',
  scheduled: 'auto-',
};

export interface CreateSnapshot {
  /**
   * Null: named for the local time to the second (2026-11-30-194512, before-restore-..., auto-...),
   * with -2, -3... if taken.
   */
  name: string | null;
  kind: SnapshotKind;
  /** When it is taken (the scheduler's clock); now by default. */
  createdNs?: bigint;
  /** Resolves once the volume's changes made before the call are committed (a mounted volume's). */
  settled: () => Promise<void>;
}

export async function createSnapshot(
  store: Store,
  volume: VolumeRecord,
  options: CreateSnapshot,
): Promise<SnapshotRecord> {
  if (options.name !== null) checkSnapshotName(options.name);
  await options.settled();
  const createdNs = options.createdNs ?? nowNs();
  let name = options.name;
  if (name === null) {
    const base = `${NAME_PREFIX[options.kind]}${defaultSnapshotName(createdNs)}`;
    name = base;
    for (let i = 2; store.dbs.snapshots.doesExist(snapshotKey(volume.id, name)); i++) name = `${base}-${i}`;
  }
  const record = takeSnapshot(
    store.env,
    store.dbs,
    {
      volumeId: volume.id,
      volumeName: volume.name,
      name,
      createdNs,
      automatic: options.kind !== 'manual',
      scheduled: options.kind === 'scheduled',
    },
    store.marks,
  );
  await store.syncToDisk();
  return record;
}

function defaultSnapshotName(ns: bigint): string {
  const t = new Date(Number(ns / 1_000_000n));
  const two = (n: number) => String(n).padStart(2, '0');
  return `${t.getFullYear()}-${two(t.getMonth() + 1)}-${two(t.getDate())}-${two(t.getHours())}${two(t.getMinutes())}${two(t.getSeconds())}`;
}
