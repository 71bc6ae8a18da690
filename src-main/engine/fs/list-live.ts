/**
 * A directory of a volume's live tree, as the API lists it (the same shape as a snapshot's): what
 * a mounted volume holds now, its files' sizes as programs see them (a file being written counts
 * with what is written, stored or not), or, for a volume that is not mounted, what is committed.
 * Read through the volume's metadata (VolumeMeta), never through the mount.
 */
import type { SnapshotListing } from '../../common/api.js';
import { BazilError, quote } from '../../common/errors.js';
import { volumePathNames } from '../../common/volume-path.js';
import { ROOT_INO, S_IFDIR, S_IFMT } from '../store/format.js';
import { describeInode } from '../snapshots/browse-snapshot.js';
import { currentSizeBytes, type Inode, type VolumeMeta } from './volume-meta.js';

const isDir = (inode: Inode) => (inode.mode & S_IFMT) === S_IFDIR;

export function listLive(meta: VolumeMeta, path: string): SnapshotListing {
  const names = volumePathNames(path);
  const where = () => `volume ${quote(meta.volume.name)}`;
  const root = meta.inode(ROOT_INO);
  if (!root) throw new Error(`${where()} has no root directory`);
  let inode: Inode = root;
  for (let i = 0; i < names.length; i++) {
    const at = `/${names.slice(0, i + 1).join('/')}`;
    if (!isDir(inode)) throw new BazilError('ENOTDIR', `${at} in ${where()}: not a directory`);
    const ino = meta.entries(inode.ino).get(names[i]!);
    const next: Inode | undefined = ino === undefined ? undefined : meta.inode(ino);
    if (!next) throw new BazilError('ENOENT', `${at} in ${where()}: no such file or directory`);
    inode = next;
  }
  const entryPath = `/${names.join('/')}`;
  const parentPath = `/${names.slice(0, -1).join('/')}`;
  const describe = (name: string, of: Inode, parent: string) =>
    describeInode(name, { ...of, sizeBytes: currentSizeBytes(of) }, parent);
  const entry = describe(names.at(-1) ?? '', inode, parentPath);
  const entries = [];
  if (isDir(inode)) {
    for (const [name, ino] of [...meta.entries(inode.ino)].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
      const child = meta.inode(ino);
      if (child) entries.push(describe(name, child, entryPath));
    }
  }
  return { entry, entries };
}
