/**
 * Which directories' tree objects are still exact, so a snapshot reuses them without visiting
 * what is under them: the cost of a snapshot follows what changed, not the volume's size.
 *
 * `tree-cache` holds, per directory, the tree object of its committed state (written by a
 * snapshot). Every metadata batch that changes a directory's entries, or the record of an inode
 * in it, drops that directory's entry and its ancestors' in the same transaction (`parents` says
 * where an inode has names; a directory has one). Invariant: when a directory has no entry, none
 * of its ancestors has one, so dropping stops at the first directory without one.
 *
 * Every function here runs inside a write transaction (VolumeMeta's batch, or a snapshot).
 */
import {
  EMPTY_VALUE,
  decodeCachedTree,
  decodeDirentValue,
  direntKey,
  encodeCachedTree,
  inodeKey,
  parentOfParentsKey,
  parentsKey,
  parentsPrefix,
  type CachedTree,
} from '../store/format.js';
import type { StoreDbs } from '../store/store.js';

type Dbs = Pick<StoreDbs, 'dirents' | 'parents' | 'treeCache'>;

/** The directories where an inode has names. */
function* parentsOf(dbs: Dbs, volumeId: number, ino: number): Generator<number> {
  const start = parentsPrefix(volumeId, ino);
  const end = parentsPrefix(volumeId, ino + 1);
  for (const key of dbs.parents.getKeys({ start, end })) yield parentOfParentsKey(key as Buffer);
}

/** Drops the cached tree of `dirIno` and of its ancestors. */
export function invalidateTree(dbs: Dbs, volumeId: number, dirIno: number): void {
  for (let dir: number | undefined = dirIno; dir !== undefined;) {
    const key = inodeKey(volumeId, dir);
    if (!dbs.treeCache.doesExist(key)) return;
    dbs.treeCache.removeSync(key);
    dir = parentsOf(dbs, volumeId, dir).next().value ?? undefined;
  }
}

/**
 * A directory entry is about to be set (`childIno`) or removed (null): keeps `parents` in step
 * and drops the directory's cached tree. Call before writing the entry (the old one is read).
 */
export function entryChanging(dbs: Dbs, volumeId: number, dirIno: number, name: string, childIno: number | null): void {
  const old = dbs.dirents.get(direntKey(volumeId, dirIno, name));
  if (old !== undefined) dbs.parents.removeSync(parentsKey(volumeId, decodeDirentValue(old), dirIno, name));
  if (childIno !== null) dbs.parents.putSync(parentsKey(volumeId, childIno, dirIno, name), EMPTY_VALUE);
  invalidateTree(dbs, volumeId, dirIno);
}

/** An inode's record changed: the trees of the directories that name it are stale. */
export function inodeChanged(dbs: Dbs, volumeId: number, ino: number): void {
  for (const dir of [...parentsOf(dbs, volumeId, ino)]) invalidateTree(dbs, volumeId, dir);
}

export function cachedTree(dbs: Dbs, volumeId: number, dirIno: number): CachedTree | null {
  const bytes = dbs.treeCache.get(inodeKey(volumeId, dirIno));
  return bytes === undefined ? null : decodeCachedTree(bytes);
}

export function cacheTree(dbs: Dbs, volumeId: number, dirIno: number, cached: CachedTree): void {
  dbs.treeCache.putSync(inodeKey(volumeId, dirIno), encodeCachedTree(cached));
}
