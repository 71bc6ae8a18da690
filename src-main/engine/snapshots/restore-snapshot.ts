/**
 * Restoring from a snapshot into the live volume: a file or directory of the snapshot is put back
 * at its path (or `as` another), pointing at the content the snapshot already holds, so no file
 * data is copied whatever its size (VolumeFs.graft). A restore never destroys data: when it
 * replaces something, the volume's dirty files are stored and an automatic snapshot
 * ("before-restore-TIME") is taken first, which keeps what is replaced.
 */
import type { RestoreResult } from '../../common/api.js';
import { BazilError, quote } from '../../common/errors.js';
import { volumePathNames } from '../../common/volume-path.js';
import type { VolumeFs } from '../fs/volume-fs.js';
import { S_IFMT, S_IFDIR, decodeInodeMode, type VolumeRecord } from '../store/format.js';
import type { Store } from '../store/store.js';
import { entryAt, getSnapshot, readTree } from './browse-snapshot.js';
import { createSnapshot } from './create-snapshot.js';

export interface Restore {
  snapshot: string;
  path: string;
  /** Where to put it instead of its own path. */
  as?: string;
}

const kindOf = (mode: number) => ((mode & S_IFMT) === S_IFDIR ? 'a directory' : 'a file');

/** `fs` serves the volume: its mount's, or one made for the restore when it is not mounted. */
export async function restoreSnapshot(
  store: Store,
  volume: VolumeRecord,
  fs: VolumeFs,
  restore: Restore,
): Promise<RestoreResult> {
  const record = getSnapshot(store, volume.id, volume.name, restore.snapshot);
  const { entry, path } = entryAt(store, record, restore.path);
  const target = volumePathNames(restore.as ?? path);
  const targetPath = `/${target.join('/')}`;
  if (target.length === 0) {
    throw new BazilError(
      'EINVAL',
      `the volume's root cannot be replaced in place; restore "/" --as a new directory, or restore what is in it one by one`,
    );
  }
  const name = target.at(-1)!;
  const parent = fs.resolve(target.slice(0, -1));
  if (!parent || (parent.mode & S_IFMT) !== S_IFDIR) {
    throw new BazilError(
      'ENOENT',
      `${quote(`/${target.slice(0, -1).join('/')}`)} is not a directory in volume ${quote(volume.name)}: ` +
        `create it first, or restore the directory above it`,
    );
  }
  const existing = fs.resolve(target);
  let safetySnapshot: string | null = null;
  if (existing) {
    const restoring = decodeInodeMode(entry.record);
    if (((restoring ^ existing.mode) & S_IFMT) !== 0 && (restoring & S_IFMT) === S_IFDIR) {
      throw new BazilError(
        'EISDIR',
        `${quote(targetPath)} is ${kindOf(existing.mode)} in volume ${quote(volume.name)} and ${kindOf(restoring)} ` +
          `in snapshot ${quote(record.name)}; restore it --as another path`,
      );
    }
    if ((existing.mode & S_IFMT) === S_IFDIR && (restoring & S_IFMT) !== S_IFDIR) {
      throw new BazilError(
        'EISDIR',
        `${quote(targetPath)} is a directory in volume ${quote(volume.name)} and a file in snapshot ` +
          `${quote(record.name)}; restore it --as another path`,
      );
    }
    // What is replaced is kept first, dirty files included.
    await fs.flushAll();
    const safety = await createSnapshot(store, volume, {
      name: null,
      kind: 'before-restore',
      settled: () => fs.settled(),
    });
    fs.snapshotChanged(safety.name);
    safetySnapshot = safety.name;
  }
  const entries = fs.graft(parent.ino, name, entry, (key) => readTree(store, key));
  await fs.settled();
  await store.syncToDisk();
  return { path: targetPath, entries, replaced: existing !== null, safetySnapshot };
}
