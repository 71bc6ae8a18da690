/**
 * Reading a snapshot: its record, the tree object at a path, an entry's attributes as the API
 * gives them, and a file's bytes. Everything here reads committed, immutable objects (a tree or a
 * manifest never changes under its key), so nothing waits for the volume.
 *
 * Paths are from the volume's root (../../common/volume-path.ts).
 */
import type { SnapshotEntry, SnapshotInfo } from '../../common/api.js';
import { BazilError, quote } from '../../common/errors.js';
import { formatNs } from '../../common/time.js';
import { childPath, volumePathNames } from '../../common/volume-path.js';
import {
  ROOT_INO,
  asBuffer,
  decodeInode,
  decodeSnapshot,
  decodeTree,
  isHole,
  snapshotKey,
  snapshotNameFromKey,
  volumePrefix,
  type InodeRecord,
  type SnapshotRecord,
  type TreeEntry,
} from '../store/format.js';
import type { Store } from '../store/store.js';

const TYPES: Record<number, SnapshotEntry['type']> = {
  0o100000: 'file',
  0o040000: 'dir',
  0o120000: 'symlink',
  0o010000: 'fifo',
  0o140000: 'socket',
  0o020000: 'char',
  0o060000: 'block',
};

export const entryType = (mode: number): SnapshotEntry['type'] => TYPES[mode & 0o170000] ?? 'file';

export function snapshotInfo(volume: string, record: SnapshotRecord, uniqueBytes: number | null = null): SnapshotInfo {
  return {
    volume,
    name: record.name,
    createdAt: formatNs(record.createdNs),
    automatic: record.automatic,
    files: record.files,
    logicalBytes: record.logicalBytes,
    uniqueBytes,
  };
}

/** A volume's snapshots, oldest first. */
export function listSnapshots(store: Store, volumeId: number): SnapshotRecord[] {
  const records: SnapshotRecord[] = [];
  const range = store.dbs.snapshots.getRange({ start: volumePrefix(volumeId), end: volumePrefix(volumeId + 1) });
  for (const { key, value } of range) records.push(decodeSnapshot(snapshotNameFromKey(key), value));
  return records.sort((a, b) => (a.createdNs < b.createdNs ? -1 : a.createdNs > b.createdNs ? 1 : 0));
}

export function getSnapshot(store: Store, volumeId: number, volumeName: string, name: string): SnapshotRecord {
  const value = store.dbs.snapshots.get(snapshotKey(volumeId, name));
  if (value === undefined) {
    throw new BazilError(
      'ENOENT',
      `volume ${quote(volumeName)} has no snapshot named ${quote(name)} (bazil snapshot list ${volumeName})`,
    );
  }
  return decodeSnapshot(name, value);
}

export function readTree(store: Store, key: Uint8Array): TreeEntry[] {
  const bytes = store.dbs.trees.get(asBuffer(key));
  if (bytes === undefined) throw new Error(`tree object ${Buffer.from(key).toString('hex')} is missing from the store`);
  return decodeTree(bytes);
}

/** The root of a tree (a snapshot's, or the live tree's as a diff writes it): an entry named "". */
export function treeRoot(rootRecord: Uint8Array, rootTreeKey: Uint8Array): TreeEntry {
  return { name: '', ino: ROOT_INO, record: rootRecord, treeKey: rootTreeKey };
}

/** The entry at `path` in a snapshot (the root is an entry named ""), with its path normalised. */
export function entryAt(store: Store, record: SnapshotRecord, path: string): { entry: TreeEntry; path: string } {
  return entryInTree(store, treeRoot(record.rootRecord, record.rootTreeKey), path, `snapshot ${quote(record.name)}`);
}

/**
 * The entry at `path` below `root` (a snapshot's root, or the live tree's as a diff writes it),
 * with its path normalised; `where` names the tree in the error ("snapshot "x"").
 */
export function entryInTree(
  store: Store,
  root: TreeEntry,
  path: string,
  where: string,
): { entry: TreeEntry; path: string } {
  const parts = volumePathNames(path);
  let entry = root;
  for (let i = 0; i < parts.length; i++) {
    const found = entry.treeKey ? readTree(store, entry.treeKey).find((child) => child.name === parts[i]) : undefined;
    if (!found) {
      const at = `/${parts.slice(0, i + 1).join('/')}`;
      const why = entry.treeKey ? 'no such file or directory' : 'not a directory';
      throw new BazilError(entry.treeKey ? 'ENOENT' : 'ENOTDIR', `${at} in ${where}: ${why}`);
    }
    entry = found;
  }
  return { entry, path: `/${parts.join('/')}` };
}

/** An entry of a snapshot's tree as the API shows it. */
export function describeEntry(entry: TreeEntry, parentPath: string): SnapshotEntry {
  return describeInode(entry.name, decodeInode(entry.ino, entry.record), parentPath);
}

/** An inode named `name` in the directory at `parentPath`, as the API shows it (a snapshot's or a live one). */
export function describeInode(name: string, inode: InodeRecord, parentPath: string): SnapshotEntry {
  const type = entryType(inode.mode);
  return {
    name,
    path: childPath(parentPath, name),
    type,
    mode: inode.mode & 0o7777,
    uid: inode.uid,
    gid: inode.gid,
    ino: inode.ino,
    nlink: inode.nlink,
    sizeBytes: type === 'dir' ? 0 : inode.sizeBytes,
    mtime: formatNs(inode.mtimeNs),
    mtimeNs: inode.mtimeNs.toString(),
    ...(inode.symlinkTarget !== null ? { target: inode.symlinkTarget } : {}),
  };
}

/** Up to `length` bytes of a file in a snapshot from `offset` (fewer at its end). */
export function readSnapshotFile(store: Store, entry: TreeEntry, offset: number, length: number): Buffer {
  const inode = decodeInode(entry.ino, entry.record);
  if ((inode.mode & 0o170000) !== 0o100000)
    throw new BazilError('EISDIR', `${quote(entry.name)} is not a regular file`);
  const end = Math.min(inode.sizeBytes, offset + length);
  if (end <= offset || !inode.manifestKey) return Buffer.alloc(Math.max(0, end - offset));
  const out = Buffer.alloc(end - offset);
  let start = 0;
  for (const chunk of store.getManifest(inode.manifestKey)) {
    const chunkEnd = start + chunk.sizeBytes;
    if (chunkEnd > offset && start < end && !isHole(chunk)) {
      const bytes = store.readChunk(chunk.key);
      if (!bytes) throw new Error(`chunk ${Buffer.from(chunk.key).toString('hex')} is missing from the store`);
      const from = Math.max(offset, start);
      const to = Math.min(end, chunkEnd);
      bytes.copy(out, from - offset, from - start, to - start);
    }
    if (chunkEnd >= end) break;
    start = chunkEnd;
  }
  return out;
}
