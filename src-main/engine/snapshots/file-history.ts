/**
 * The history of one path: its distinct versions across a volume's snapshots, oldest first. A
 * version is its content (a file's manifest and size, a symlink's target, a directory's tree):
 * snapshots in a row that hold the same content are one version, and one the path is missing from
 * ends the run. Trees that snapshots share are decoded once.
 */
import type { FileVersion } from '../../common/api.js';
import { BazilError, quote } from '../../common/errors.js';
import { formatNs } from '../../common/time.js';
import { volumePathNames } from '../../common/volume-path.js';
import { decodeInode, type SnapshotRecord, type TreeEntry } from '../store/format.js';
import type { Store } from '../store/store.js';
import { entryType, listSnapshots, readTree } from './browse-snapshot.js';

const hex = (bytes: Uint8Array | null) => (bytes ? Buffer.from(bytes).toString('hex') : '');

export function fileHistory(store: Store, volumeId: number, volumeName: string, path: string): FileVersion[] {
  const names = volumePathNames(path);
  if (names.length === 0) throw new BazilError('EINVAL', `path ${quote(path)}: give a file, not the volume's root`);
  const trees = new Map<string, Map<string, TreeEntry>>();
  const childrenOf = (treeKey: Uint8Array) => {
    let children = trees.get(hex(treeKey));
    if (!children) {
      children = new Map(readTree(store, treeKey).map((entry) => [entry.name, entry]));
      trees.set(hex(treeKey), children);
    }
    return children;
  };
  const find = (snapshot: SnapshotRecord): TreeEntry | null => {
    let treeKey: Uint8Array | null = snapshot.rootTreeKey;
    let entry: TreeEntry | undefined;
    for (const name of names) {
      if (!treeKey) return null;
      entry = childrenOf(treeKey).get(name);
      if (!entry) return null;
      treeKey = entry.treeKey;
    }
    return entry ?? null;
  };
  const versions: FileVersion[] = [];
  let last: string | null = null;
  for (const snapshot of listSnapshots(store, volumeId)) {
    const entry = find(snapshot);
    if (!entry) {
      last = null;
      continue;
    }
    const inode = decodeInode(entry.ino, entry.record);
    const content = `${inode.mode & 0o170000}:${hex(entry.treeKey ?? inode.manifestKey)}:${inode.sizeBytes}:${inode.symlinkTarget ?? ''}`;
    if (content === last) {
      versions.at(-1)!.snapshots.push(snapshot.name);
      continue;
    }
    last = content;
    versions.push({
      snapshots: [snapshot.name],
      firstSeen: formatNs(snapshot.createdNs),
      type: entryType(inode.mode),
      sizeBytes: entry.treeKey ? 0 : inode.sizeBytes,
      mtime: formatNs(inode.mtimeNs),
    });
  }
  if (versions.length === 0) {
    throw new BazilError('ENOENT', `no snapshot of volume ${quote(volumeName)} holds ${quote(`/${names.join('/')}`)}`);
  }
  return versions;
}
