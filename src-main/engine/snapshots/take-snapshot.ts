/**
 * Taking a snapshot: a volume's committed tree written as tree objects (one per directory, keyed
 * by the SHA-256 of its encoding: see format.ts), and a snapshot record naming the root, in one
 * LMDB transaction, so the snapshot is whole or absent and sees one moment of the volume.
 *
 * What it holds is what is committed: a file's last stored content (written and closed, or
 * fsync'd; a file open for writing counts with what it held at its last close or fsync), and every
 * metadata change committed when the transaction begins. The caller first waits for the changes
 * made before the call to commit (VolumeFs.settled).
 *
 * Cost follows change: a directory whose tree object is still exact (tree-cache.ts) is reused
 * without reading what is under it, so a snapshot after one change reads and writes the changed
 * directories and their ancestors only.
 *
 * Terms: tree object, snapshot record (format.ts). Hard links keep their inode number in each
 * entry, so a restore can make them links again. Files are counted per name.
 */
import type { RootDatabase } from 'lmdb';
import {
  S_IFMT,
  S_IFDIR,
  S_IFREG,
  ROOT_INO,
  decodeDirentValue,
  decodeInode,
  decodeInodeMode,
  direntNameFromKey,
  direntPrefix,
  encodeSnapshot,
  encodeTree,
  inodeKey,
  snapshotKey,
  type CachedTree,
  type SnapshotRecord,
  type TreeEntry,
} from '../store/format.js';
import { cacheTree, cachedTree } from './tree-cache.js';
import { chunkKeyOf, type StoreDbs } from '../store/store.js';
import type { MarkFeed } from '../store/mark.js';
import { BazilError, quote } from '../../common/errors.js';

export interface TakeSnapshot {
  volumeId: number;
  volumeName: string;
  name: string;
  createdNs: bigint;
  automatic: boolean;
  scheduled: boolean;
}

/** Writes the snapshot; throws EEXIST if the volume has one of that name. */
export function takeSnapshot(env: RootDatabase, dbs: StoreDbs, take: TakeSnapshot, feed?: MarkFeed): SnapshotRecord {
  return env.transactionSync(() => {
    const key = snapshotKey(take.volumeId, take.name);
    if (dbs.snapshots.doesExist(key)) {
      throw new BazilError(
        'EEXIST',
        `volume ${quote(take.volumeName)} already has a snapshot named ${quote(take.name)}`,
      );
    }
    const { root, rootRecord } = writeVolumeTree(dbs, take.volumeId, take.volumeName, feed);
    const record: SnapshotRecord = {
      name: take.name,
      createdNs: take.createdNs,
      automatic: take.automatic,
      scheduled: take.scheduled,
      rootTreeKey: root.treeKey,
      files: root.files,
      logicalBytes: root.logicalBytes,
      rootRecord,
    };
    dbs.snapshots.putSync(key, encodeSnapshot(record));
    return record;
  });
}

/**
 * Writes the tree objects of a volume's committed tree (reusing every directory the tree cache
 * still holds) and returns the root's; inside a write transaction. A snapshot records the root;
 * a diff against the live volume compares with it.
 *
 * Every tree object it writes or finds already stored is announced to `feed`: a collection
 * running must not delete a tree that was garbage a moment ago and is named again now.
 */
export function writeVolumeTree(
  dbs: StoreDbs,
  volumeId: number,
  volumeName: string,
  feed?: MarkFeed,
): { root: CachedTree; rootRecord: Uint8Array } {
  const rootRecord = dbs.inodes.get(inodeKey(volumeId, ROOT_INO));
  if (rootRecord === undefined) throw new Error(`volume ${quote(volumeName)} has no root directory`);
  /** Writes the tree object of directory `dirIno` and of every directory under it that changed. */
  const writeTree = (dirIno: number): CachedTree => {
    const cached = cachedTree(dbs, volumeId, dirIno);
    if (cached) return cached;
    const entries: TreeEntry[] = [];
    let files = 0;
    let logicalBytes = 0;
    const range = dbs.dirents.getRange({
      start: direntPrefix(volumeId, dirIno),
      end: direntPrefix(volumeId, dirIno + 1),
    });
    for (const { key: direntKey, value } of range) {
      const ino = decodeDirentValue(value);
      const record = dbs.inodes.get(inodeKey(volumeId, ino));
      if (record === undefined) throw new Error(`volume ${quote(volumeName)}: entry ${ino} has no inode record`);
      const type = decodeInodeMode(record) & S_IFMT;
      let treeKey: Uint8Array | null = null;
      if (type === S_IFDIR) {
        const sub = writeTree(ino);
        treeKey = sub.treeKey;
        files += sub.files;
        logicalBytes += sub.logicalBytes;
      } else if (type === S_IFREG) {
        files++;
        logicalBytes += decodeInode(ino, record).sizeBytes;
      }
      entries.push({ name: direntNameFromKey(direntKey), ino, record, treeKey });
    }
    const bytes = encodeTree(entries);
    const treeKey = chunkKeyOf(bytes);
    if (!dbs.trees.doesExist(treeKey)) dbs.trees.putSync(treeKey, bytes);
    feed?.announceTree(treeKey);
    const tree: CachedTree = { treeKey, files, logicalBytes };
    cacheTree(dbs, volumeId, dirIno, tree);
    return tree;
  };
  return { root: writeTree(ROOT_INO), rootRecord };
}
