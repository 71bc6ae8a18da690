/**
 * The file system of one mounted volume, in the kernel's terms: inodes and names in directories,
 * with the semantics Linux programs expect (errors, link counts, times, ownership). The FUSE
 * adapter (../fuse/fuse-mount.ts) turns each kernel request into one call here.
 *
 * Terms:
 * - lookup: the kernel learns an inode (by name, or from a creation or a directory listing) and
 *   holds a reference to it until it forgets it; `nlookup` counts those references.
 * - handle (fh): an open file or directory. It names an inode, so a file unlinked while open stays
 *   readable, writable and fstat-able through it, whatever happens to its directory.
 * - orphan: an inode with no name left that is still open or still known to the kernel (a stat
 *   that raced the unlink or rename that removed it gets its attributes, as on any Linux file
 *   system); deleted once neither holds it, or by the next mount.
 *
 * `.snap` (dot-snap.ts) is served here too: its nodes are inodes with ids of their own, every change
 * to them is refused with EROFS (EXDEV between them and the live tree), and `mkdir .snap/NAME`
 * takes a snapshot.
 *
 * Times: ctime and mtime change where Linux changes them; reads do not update atime (as with
 * `noatime`), which spares a metadata write per read.
 */
import { statfsSync } from 'node:fs';
import { FsError, quote } from '../../common/errors.js';
import type { FailureReporter } from '../failure-feed.js';
import { nowNs } from '../../common/time.js';
import type { ChunkPool } from '../chunking/chunk-pool.js';
import {
  S_IFMT,
  S_IFDIR,
  S_IFREG,
  S_IFLNK,
  S_IFIFO,
  S_IFSOCK,
  S_IFCHR,
  S_IFBLK,
  FILE_MAX_BYTES,
  ROOT_INO,
  decodeInode,
  encodeManifest,
  type ChunkRef,
  type TreeEntry,
  type VolumeRecord,
} from '../store/format.js';
import { chunkKeyOf, type Store } from '../store/store.js';
import type { Attr, SetattrChanges, StatFs } from '../fuse/addon.js';
import type { DirtyBudget } from './dirty-budget.js';
import { FileContent, type StoredContent } from './file-content.js';
import { UnstoredFiles } from './unstored-files.js';
import { VolumeMeta, currentSizeBytes, newInode, type Inode } from './volume-meta.js';
import { DotSnap, SNAP_DIR_NAME, SNAP_INO_BASE, isSnapIno } from './dot-snap.js';
import { createSnapshot } from '../snapshots/create-snapshot.js';

export { S_IFMT, S_IFDIR, S_IFREG, S_IFLNK };
const S_ISGID = 0o2000;
const O_ACCMODE = 3;
const O_RDONLY = 0;

/** Whether open(2) flags open for reading only. */
export function opensReadOnly(flags: number): boolean {
  return (flags & O_ACCMODE) === O_RDONLY;
}

const NAME_MAX_BYTES = 255;
const XATTR_CREATE = 1;
const XATTR_REPLACE = 2;
const XATTR_VALUE_MAX_BYTES = 64 * 1024;
const POSIX_ACL_PREFIX = 'system.posix_acl_';
/** The kernel's xattr form of a POSIX ACL: a version, then entries of tag, permissions and id. */
const ACL_XATTR_VERSION = 2;
const ACL_ENTRY_BYTES = 8;
const ACL_USER_OBJ = 0x01;
const ACL_GROUP_OBJ = 0x04;
const ACL_OTHER = 0x20;
const O_TRUNC = 0o1000;
/** renameat2 flags. */
const RENAME_NOREPLACE = 1;
const RENAME_EXCHANGE = 2;
/** lseek whence values past SEEK_END. */
const SEEK_DATA = 3;
const SEEK_HOLE = 4;

/**
 * The permission bits an ACL in xattr form grants when it says no more than a mode (exactly one
 * owner, one group and one others entry, as posix_acl_equiv_mode judges), else null.
 */
function modeOfTrivialAcl(value: Uint8Array): number | null {
  if (value.byteLength !== 4 + 3 * ACL_ENTRY_BYTES) return null;
  const view = new DataView(value.buffer, value.byteOffset, value.byteLength);
  if (view.getUint32(0, true) !== ACL_XATTR_VERSION) return null;
  const shifts = new Map([
    [ACL_USER_OBJ, 6],
    [ACL_GROUP_OBJ, 3],
    [ACL_OTHER, 0],
  ]);
  let mode = 0;
  for (let at = 4; at < value.byteLength; at += ACL_ENTRY_BYTES) {
    const tag = view.getUint16(at, true);
    const shift = shifts.get(tag);
    if (shift === undefined) return null; // another kind of entry, or one of these twice
    shifts.delete(tag);
    mode |= (view.getUint16(at + 2, true) & 0o7) << shift;
  }
  return mode;
}

/** Who asks (from the request): new inodes belong to them. */
export interface Caller {
  uid: number;
  gid: number;
}

/** A name in a directory listing, with its inode. */
export interface DirEntry {
  name: string;
  inode: Inode;
  /** Where the listing goes on after this entry. */
  nextOffset: number;
}

interface Handle {
  ino: number;
  flags: number;
  /** For a directory: its listing as it was when reading began (offsets index it). */
  listing: [string, number][] | null;
}

export interface VolumeFsDeps {
  store: Store;
  pool: ChunkPool;
  budget: DirtyBudget;
  dataDir: string;
  /** Failures of this volume that no call returns (../failure-feed.ts). */
  reportFailure: FailureReporter;
  /** A snapshot was taken through the mount (`mkdir .snap/NAME`): the engine publishes it. */
  snapshotTaken(volume: string, name: string): void;
}

const isDir = (inode: Inode) => (inode.mode & S_IFMT) === S_IFDIR;
const isFile = (inode: Inode) => (inode.mode & S_IFMT) === S_IFREG;

export class VolumeFs {
  readonly meta: VolumeMeta;
  private readonly handles = new Map<number, Handle>();
  private nextFh = 1;
  /** Closed files whose data could not be stored yet (a full disk). */
  private readonly unstored: UnstoredFiles;
  private readonly dotSnap: DotSnap;
  /**
   * Set by the mount: the kernel must forget what it caches of a name, and the listing of the
   * directory that holds it (a snapshot taken through the API appears in `.snap`, where the
   * kernel may hold a negative entry for it; a restore adds names to a directory whose listing
   * the kernel keeps).
   */
  onInvalidateEntry: (parent: number, name: string) => void = () => undefined;

  constructor(
    volume: VolumeRecord,
    private readonly deps: VolumeFsDeps,
  ) {
    this.meta = new VolumeMeta(deps.store, volume);
    this.unstored = new UnstoredFiles(volume.name, {
      isStillClosedAndDirty: (inode) =>
        inode.openCount === 0 && this.meta.inode(inode.ino) === inode && inode.content?.isDirty === true,
      store: (inode) => this.storeClosed(inode),
      explain: (error) => deps.store.explainWriteFailure(error),
      reportFailure: (message) => deps.reportFailure(`unstored:${volume.name}`, message),
    });
    // Commits work again: the closed files that could not be stored are tried at once.
    this.meta.onRecovered = () => this.unstored.retryNow();
    this.meta.onFailing = (error) =>
      deps.reportFailure(
        `metadata:${volume.name}`,
        `volume ${quote(volume.name)}: changes cannot be written (${error.message}); ` +
          'they stay in memory and are written once it works again',
      );
    this.dotSnap = new DotSnap({
      store: deps.store,
      volume,
      root: () => this.inode(ROOT_INO),
      createSnapshot: async (name) => {
        const record = await createSnapshot(deps.store, this.meta.volume, {
          name,
          kind: 'manual',
          settled: () => this.settled(),
        });
        deps.snapshotTaken(this.volumeName, record.name);
        return record;
      },
    });
  }

  get volumeName(): string {
    return this.meta.volume.name;
  }

  /** A failure of this volume that no call returns: the person hears of it (an error event). */
  reportFailure(kind: string, message: string): void {
    this.deps.reportFailure(`${kind}:${this.volumeName}`, `volume ${quote(this.volumeName)}: ${message}`);
  }

  /** Lists `.snap` in the root directory from the next listing on, or stops listing it. */
  setShowSnap(showSnap: boolean): void {
    this.meta.setShowSnap(showSnap);
    this.onInvalidateEntry(ROOT_INO, SNAP_DIR_NAME);
  }

  // ---- the kernel's references ----

  /** The inode a name stands for; the kernel holds it until it forgets it. */
  lookup(parent: number, name: string): Inode {
    if (parent === ROOT_INO && name === SNAP_DIR_NAME) return this.dotSnap.dirInode();
    if (isSnapIno(parent)) return this.dotSnap.lookup(parent, name);
    const { dir, inode } = this.existing(parent, name);
    this.learned(inode, dir, name);
    return inode;
  }

  /**
   * The kernel learned these inodes without a lookup (a creation, a directory listing): each is
   * a reference it will forget.
   */
  referenced(inode: Inode): void {
    inode.nlookup++;
  }

  /** The kernel forgets `count` references to an inode. */
  forget(ino: number, count: number): void {
    if (isSnapIno(ino)) return this.dotSnap.forget(ino, count);
    const inode = this.meta.loadedInode(ino);
    if (!inode) return;
    inode.nlookup = Math.max(0, inode.nlookup - count);
    if (inode.nlookup > 0 || inode.openCount > 0 || ino === ROOT_INO) return;
    if (inode.nlink === 0) this.meta.dropInode(ino);
    else if (!inode.content) this.meta.evict(ino);
  }

  // ---- attributes ----

  getattr(ino: number, fh: number | null): Attr {
    return this.stat(fh === null ? this.inode(ino) : this.handleInode(fh));
  }

  /** chmod, chown, truncate and utimens: whatever the request changes, at once. */
  setattr(ino: number, fh: number | null, changes: SetattrChanges): Attr | Promise<Attr> {
    const inode = fh === null ? this.inode(ino) : this.handleInode(fh);
    notInSnap(inode.ino);
    if (changes.size !== undefined) {
      const truncated = this.truncate(inode, changes.size);
      const rest = { ...changes, size: undefined };
      return truncated.then(() => this.setattr(ino, fh, rest));
    }
    const now = nowNs();
    if (changes.mode !== undefined) inode.mode = (inode.mode & S_IFMT) | (changes.mode & 0o7777);
    // -1 (as unsigned) leaves an id as it is.
    if (changes.uid !== undefined && changes.uid !== 0xffffffff) inode.uid = changes.uid;
    if (changes.gid !== undefined && changes.gid !== 0xffffffff) inode.gid = changes.gid;
    if (changes.atimeNs !== undefined) inode.atimeNs = changes.atimeNs === 'now' ? now : changes.atimeNs;
    if (changes.mtimeNs !== undefined) inode.mtimeNs = changes.mtimeNs === 'now' ? now : changes.mtimeNs;
    inode.ctimeNs = now;
    this.meta.touchInode(inode.ino);
    return this.stat(inode);
  }

  statfs(): StatFs {
    const host = statfsSync(this.deps.dataDir, { bigint: false });
    return {
      bsize: host.bsize,
      frsize: host.bsize,
      blocks: host.blocks,
      bfree: host.bfree,
      bavail: host.bavail,
      files: 2 ** 32,
      ffree: 2 ** 32 - 1,
      favail: 2 ** 32 - 1,
      fsid: this.meta.volume.id,
      flag: 0,
      namemax: NAME_MAX_BYTES,
    };
  }

  // ---- names ----

  mkdir(parent: number, name: string, mode: number, caller: Caller): Inode | Promise<Inode> {
    if (parent === SNAP_INO_BASE) return this.dotSnap.mkdir(name);
    const dir = this.newName(parent, name);
    const inode = this.create(dir, name, S_IFDIR | (mode & 0o7777), 2, caller);
    dir.nlink++;
    return inode;
  }

  /** A FIFO, socket or device node (or a regular file: mknod(2) with S_IFREG). */
  mknod(parent: number, name: string, mode: number, rdev: number, caller: Caller): Inode {
    const type = mode & S_IFMT;
    if (![S_IFREG, S_IFIFO, S_IFSOCK, S_IFCHR, S_IFBLK].includes(type)) throw new FsError('EINVAL');
    const dir = this.newName(parent, name);
    const inode = this.create(dir, name, mode & (S_IFMT | 0o7777), 1, caller);
    if (type === S_IFCHR || type === S_IFBLK) {
      inode.rdev = rdev;
      this.meta.touchInode(inode.ino);
    }
    return inode;
  }

  symlink(parent: number, name: string, target: string, caller: Caller): Inode {
    const dir = this.newName(parent, name);
    const inode = this.create(dir, name, S_IFLNK | 0o777, 1, caller);
    inode.symlinkTarget = target;
    inode.sizeBytes = Buffer.byteLength(target);
    return inode;
  }

  readlink(ino: number): string {
    const inode = this.inode(ino);
    if (inode.symlinkTarget === null) throw new FsError('EINVAL');
    return inode.symlinkTarget;
  }

  link(ino: number, newParent: number, newName: string): Inode {
    if (isSnapIno(ino) && !isSnapIno(newParent)) throw new FsError('EXDEV');
    const inode = this.inode(ino);
    if (isDir(inode)) throw new FsError('EPERM');
    const dir = this.newName(newParent, newName);
    this.meta.setEntry(dir.ino, newName, inode.ino);
    inode.nlink++;
    this.changed(inode);
    this.modified(dir);
    this.learned(inode, dir, newName);
    return inode;
  }

  unlink(parent: number, name: string): void {
    const { dir, inode } = this.existing(parent, name);
    if (isDir(inode)) throw new FsError('EISDIR');
    this.meta.removeEntry(dir.ino, name);
    this.modified(dir);
    this.unlinked(inode);
  }

  rmdir(parent: number, name: string): void {
    const { dir, inode } = this.existing(parent, name);
    if (!isDir(inode)) throw new FsError('ENOTDIR');
    if (this.meta.entries(inode.ino).size > 0) throw new FsError('ENOTEMPTY');
    this.meta.removeEntry(dir.ino, name);
    dir.nlink--;
    this.modified(dir);
    this.removeDirectory(inode);
  }

  /** rename(2) and renameat2(2) (RENAME_NOREPLACE, RENAME_EXCHANGE). */
  rename(parent: number, name: string, newParent: number, newName: string, flags: number): void {
    if (flags & ~(RENAME_NOREPLACE | RENAME_EXCHANGE) || flags === (RENAME_NOREPLACE | RENAME_EXCHANGE)) {
      throw new FsError('EINVAL');
    }
    // Out of `.snap` into the live tree: `mv` then copies (and fails to delete the original).
    if (isSnapIno(parent) !== isSnapIno(newParent)) throw new FsError(isSnapIno(parent) ? 'EXDEV' : 'EROFS');
    if (newParent === ROOT_INO && newName === SNAP_DIR_NAME) throw new FsError('EROFS');
    const source = this.existing(parent, name);
    const destDir = this.dir(newParent);
    checkName(newName);
    const { inode } = source;
    const replacedIno = this.meta.entries(destDir.ino).get(newName);
    if (flags & RENAME_NOREPLACE && replacedIno !== undefined) throw new FsError('EEXIST');
    if (flags & RENAME_EXCHANGE) {
      if (replacedIno === undefined) throw new FsError('ENOENT');
      return this.exchange(source.dir, name, destDir, newName);
    }
    // Linux: renaming a name onto a link of the same inode does nothing.
    if (replacedIno === inode.ino) return;
    if (isDir(inode)) this.checkNotBelow(destDir, inode);
    const replaced = replacedIno === undefined ? null : this.meta.inode(replacedIno)!;
    if (replaced) {
      if (isDir(inode) && !isDir(replaced)) throw new FsError('ENOTDIR');
      if (!isDir(inode) && isDir(replaced)) throw new FsError('EISDIR');
      if (isDir(replaced) && this.meta.entries(replaced.ino).size > 0) throw new FsError('ENOTEMPTY');
    }
    // Every check passed: the change below lands in LMDB as one transaction.
    if (replaced && isDir(replaced)) {
      destDir.nlink--;
      this.removeDirectory(replaced);
    } else if (replaced) {
      this.unlinked(replaced);
    }
    this.meta.removeEntry(source.dir.ino, name);
    this.meta.setEntry(destDir.ino, newName, inode.ino);
    if (isDir(inode) && source.dir !== destDir) {
      source.dir.nlink--;
      destDir.nlink++;
    }
    this.learned(inode, destDir, newName);
    this.changed(inode);
    this.modified(source.dir);
    if (destDir !== source.dir) this.modified(destDir);
  }

  // ---- directories ----

  opendir(ino: number): number {
    const dir = this.inode(ino);
    if (!isDir(dir)) throw new FsError('ENOTDIR');
    return this.addHandle({ ino, flags: O_RDONLY, listing: null });
  }

  /**
   * The directory's entries from `offset` on (`max` at most), "." and ".." first. The listing is taken when the
   * handle reads from its start, and offsets index it: they stay valid while names come and go
   * (a program that deletes what it lists sees every entry once).
   */
  readdir(fh: number, offset: number, max: number): DirEntry[] {
    const handle = this.handles.get(fh);
    if (!handle) throw new FsError('EBADF');
    const dir = this.inode(handle.ino);
    if (offset === 0 || !handle.listing) {
      const parentIno = dir.ino === ROOT_INO ? ROOT_INO : (dir.parent ?? dir.ino);
      handle.listing = [['.', dir.ino], ['..', parentIno], ...this.entriesOf(dir.ino)];
      // `.snap` is listed only when the volume is set to show it (find, rsync and backups would
      // otherwise walk every snapshot).
      if (dir.ino === ROOT_INO && this.meta.volume.showSnap) {
        handle.listing.push([SNAP_DIR_NAME, this.dotSnap.dirInode().ino]);
      }
    }
    const entries: DirEntry[] = [];
    for (let at = offset; at < handle.listing.length && entries.length < max; at++) {
      const [name, childIno] = handle.listing[at]!;
      const inode = this.inodeOrUndefined(childIno);
      if (!inode) continue; // removed since the listing was taken
      if (at >= 2) this.learned(inode, dir, name);
      entries.push({ name, inode, nextOffset: at + 1 });
    }
    return entries;
  }

  releasedir(fh: number): void {
    this.handles.delete(fh);
  }

  /**
   * fsync(2) of a directory: every change to names so far (a rename a program wants durable,
   * say) is committed and synced to the disk.
   */
  async fsyncdir(ino: number): Promise<void> {
    this.inode(ino);
    await this.meta.committed();
    await this.deps.store.syncToDisk();
  }

  // ---- extended attributes ----

  /**
   * setxattr(2). Returns whether the call changed the inode's attributes behind the kernel's back
   * (an ACL that set the mode): the kernel's cached ones must then be dropped.
   */
  setxattr(ino: number, name: string, value: Uint8Array, flags: number, caller: Caller): boolean {
    notInSnap(ino);
    const inode = this.inode(ino);
    if (name.startsWith(POSIX_ACL_PREFIX)) {
      this.setAclAsMode(inode, name, value, caller);
      return true;
    }
    if (value.byteLength > XATTR_VALUE_MAX_BYTES) throw new FsError('E2BIG');
    const exists = inode.xattrs.has(name);
    if (flags & XATTR_CREATE && exists) throw new FsError('EEXIST');
    if (flags & XATTR_REPLACE && !exists) throw new FsError('ENODATA');
    inode.xattrs.set(name, Uint8Array.prototype.slice.call(value));
    this.changed(inode);
    return false;
  }

  /**
   * POSIX ACLs are not kept. Without FUSE_POSIX_ACL the kernel passes `system.posix_acl_*`
   * through as plain xattrs, and enforces only the mode. An access ACL that says no more than a
   * mode (owner, group, others: what `cp -a` and `cp -p` set through libacl) sets that mode, as
   * ext4 does with such an ACL, and is not stored: one call instead of a refused one and the
   * fchmod(2) it falls back to. Any other ACL, and any default ACL, is refused (EOPNOTSUPP), as on
   * a file system without ACLs. Only the owner (or root) may set one (EPERM); the file's type and
   * its setuid, setgid and sticky bits stay.
   */
  private setAclAsMode(inode: Inode, name: string, value: Uint8Array, caller: Caller): void {
    const perms = name === `${POSIX_ACL_PREFIX}access` ? modeOfTrivialAcl(value) : null;
    if (perms === null) throw new FsError('EOPNOTSUPP');
    if (caller.uid !== 0 && caller.uid !== inode.uid) throw new FsError('EPERM');
    this.setattr(inode.ino, null, { mode: (inode.mode & 0o7000) | perms });
  }

  getxattr(ino: number, name: string): Uint8Array {
    const value = this.inode(ino).xattrs.get(name);
    if (!value) throw new FsError('ENODATA');
    return value;
  }

  listxattr(ino: number): string[] {
    return [...this.inode(ino).xattrs.keys()];
  }

  removexattr(ino: number, name: string): void {
    notInSnap(ino);
    const inode = this.inode(ino);
    if (!inode.xattrs.delete(name)) throw new FsError('ENODATA');
    this.changed(inode);
  }

  // ---- files ----

  /** creat(2) and open(2) with O_CREAT of a new name: the inode, and a handle on it. */
  createFile(parent: number, name: string, mode: number, flags: number, caller: Caller): { inode: Inode; fh: number } {
    const dir = this.newName(parent, name);
    const inode = this.create(dir, name, S_IFREG | (mode & 0o7777), 1, caller);
    return { inode, fh: this.openInode(inode, flags) };
  }

  /**
   * open(2) of an existing inode. O_TRUNC empties a regular file here: libfuse asks the kernel for
   * atomic O_TRUNC (one request instead of an open and a SETATTR), so the kernel leaves it to us.
   */
  open(ino: number, flags: number): number {
    if (isSnapIno(ino) && (!opensReadOnly(flags) || flags & O_TRUNC)) throw new FsError('EROFS');
    const inode = this.inode(ino);
    if (isDir(inode) && !opensReadOnly(flags)) throw new FsError('EISDIR');
    const fh = this.openInode(inode, flags);
    if (flags & O_TRUNC && isFile(inode) && inode.content!.sizeBytes > 0) this.truncateOpen(inode, 0);
    return fh;
  }

  /**
   * Reads up to `size` bytes at `offset` and hands them to `deliver` in the same call they are
   * ready in, as pieces valid only during it (stored bytes may be passed as they lie in the chunk
   * cache). A promise when stored chunks must be read from the disk first.
   */
  read(fh: number, size: number, offset: number, deliver: (pieces: Uint8Array[]) => void): void | Promise<void> {
    const inode = this.handleInode(fh);
    if (!inode.content) throw new FsError(isDir(inode) ? 'EISDIR' : 'EINVAL');
    return inode.content.read(offset, size, deliver);
  }

  /** Resolves once the dirty cap leaves room for a write (null: room now). */
  /**
   * Writes `data` (read during the call only) at `offset`. At the dirty cap it waits for room
   * first, with a copy of `data`, and asks again when woken, so writers woken together do not all
   * take pages past the cap.
   */
  write(fh: number, data: Uint8Array, offset: number): number | Promise<number> {
    const room = this.deps.budget.waitForRoom();
    if (room) {
      const kept = data.slice();
      return room.then(() => this.write(fh, kept, offset));
    }
    const inode = this.handleInode(fh);
    if (!inode.content) throw new FsError('EBADF');
    if (offset + data.length > FILE_MAX_BYTES) throw new FsError('EFBIG');
    const written = () => {
      const now = nowNs();
      inode.mtimeNs = now;
      inode.ctimeNs = now;
      // The record is written with the content when it is stored (see makeContent's onStored).
      return data.length;
    };
    const copying = inode.content.write(offset, data);
    return copying ? copying.then(written) : written();
  }

  /**
   * lseek(2) with SEEK_DATA or SEEK_HOLE: where the next data or hole begins at or after
   * `offset`, as holes in the stored content and dirty pages show. (Other whence values are the
   * kernel's.)
   */
  lseek(fh: number, offset: number, whence: number): number {
    const inode = this.handleInode(fh);
    const content = inode.content;
    if (!content) throw new FsError('EINVAL');
    if (whence !== SEEK_DATA && whence !== SEEK_HOLE) throw new FsError('EINVAL');
    if (offset >= content.sizeBytes) throw new FsError('ENXIO');
    return whence === SEEK_DATA ? content.nextData(offset) : content.nextHole(offset);
  }

  /**
   * close(2): stores the file's dirty data and its record, durable against a crash of the engine.
   * Only this file's changes are waited for: a file that changed nothing reports no failure.
   */
  async flush(fh: number): Promise<void> {
    const inode = this.handleInode(fh);
    try {
      await inode.content?.flush();
      await this.meta.committedFor(inode.ino);
    } catch (error) {
      throw this.deps.store.explainWriteFailure(error);
    }
  }

  /** fsync(2): as flush, then the store is synced to the disk. */
  async fsync(fh: number): Promise<void> {
    await this.flush(fh);
    await this.deps.store.syncToDisk();
  }

  async release(fh: number): Promise<void> {
    const inode = this.handleInode(fh);
    this.handles.delete(fh);
    inode.openCount--;
    if (inode.openCount > 0) return;
    if (inode.nlink === 0) {
      if (inode.nlookup === 0) this.meta.dropInode(inode.ino);
      return;
    }
    if (isSnapIno(inode.ino)) {
      inode.content?.close();
      inode.content = null;
      return this.dotSnap.released(inode);
    }
    if (!inode.content) return;
    // A program that never called close (killed) still gets its data stored.
    try {
      await this.storeClosed(inode);
    } catch (error) {
      this.unstored.add(inode, error);
      throw error;
    }
  }

  // ---- restore (../snapshots/restore-snapshot.ts) ----

  /** The inode at a path from the root (its names), or null where a name is missing. */
  resolve(names: readonly string[]): Inode | null {
    let at = this.inode(ROOT_INO);
    for (const name of names) {
      if (!isDir(at)) return null;
      const ino = this.meta.entries(at.ino).get(name);
      const next = ino === undefined ? undefined : this.meta.inode(ino);
      if (!next) return null;
      at = next;
    }
    return at;
  }

  /**
   * Puts a snapshot's entry at `name` in directory `dirIno`, and for a directory everything under
   * it, as new inodes that name the content the snapshot holds: no file data is copied. Names of
   * one file in the snapshot become links of one new inode. Whatever had the name before is
   * removed first, a directory with everything under it (a file open there stays readable through
   * its handle). All of it is one metadata batch, so it lands whole; the kernel is told the name
   * changed. Returns how many entries were made.
   */
  graft(dirIno: number, name: string, entry: TreeEntry, readTree: (treeKey: Uint8Array) => TreeEntry[]): number {
    const dir = this.dir(dirIno);
    checkName(name);
    if (this.meta.entries(dir.ino).has(name)) this.removeTree(dir, name);
    const now = nowNs();
    /** The snapshot's inode numbers to the inodes made for them (hard links). */
    const made = new Map<number, Inode>();
    let count = 0;
    const place = (parent: Inode, childName: string, child: TreeEntry): void => {
      count++;
      const linked = child.treeKey ? undefined : made.get(child.ino);
      if (linked) {
        this.meta.setEntry(parent.ino, childName, linked.ino);
        linked.nlink++;
        this.meta.touchInode(linked.ino);
        return;
      }
      const record = decodeInode(0, child.record);
      const inode: Inode = {
        ...record,
        ino: this.meta.allocateIno(),
        nlink: child.treeKey ? 2 : 1,
        ctimeNs: now,
        openCount: 0,
        content: null,
        nlookup: 0,
      };
      this.meta.addInode(inode);
      this.meta.setEntry(parent.ino, childName, inode.ino);
      this.deps.store.marks.announce(inode.manifestKey);
      made.set(child.ino, inode);
      if (!child.treeKey) return;
      inode.parent = parent.ino;
      parent.nlink++;
      for (const grandchild of readTree(child.treeKey)) place(inode, grandchild.name, grandchild);
    };
    place(dir, name, entry);
    this.modified(dir);
    this.onInvalidateEntry(dir.ino, name);
    return count;
  }

  /** A snapshot was taken or deleted outside the mount: `.snap` shows it at once. */
  snapshotChanged(name: string): void {
    this.onInvalidateEntry(SNAP_INO_BASE, name);
  }

  /** Resolves when every change made before the call is committed (what a snapshot takes). */
  settled(): Promise<void> {
    return this.meta.committed();
  }

  /** Stores every dirty file of this volume (unmount, engine stop). */
  async flushAll(): Promise<void> {
    // Every file with content in memory: open ones, and closed ones whose store failed earlier.
    const files: Promise<void>[] = [];
    for (const inode of this.meta.loaded()) if (inode.content?.isDirty) files.push(inode.content.flush());
    await Promise.all(files);
    await this.meta.committed();
  }

  /** Stops the timers (the volume is unmounted). */
  close(): void {
    this.meta.close();
    this.unstored.close();
  }

  // ---- helpers ----

  /** Stores a closed file's content, then lets go of it (its inode keeps the stored record). */
  private async storeClosed(inode: Inode): Promise<void> {
    const content = inode.content!;
    await content.flush();
    if (inode.openCount === 0 && inode.content === content && !content.isDirty) {
      content.close();
      inode.content = null;
    }
  }

  private inode(ino: number): Inode {
    const inode = this.inodeOrUndefined(ino);
    // The kernel asks only about inodes it learned from us: one gone is stale.
    if (!inode) throw new FsError(ino === ROOT_INO ? 'EIO' : 'ESTALE');
    return inode;
  }

  /** A live inode, or a node of `.snap`. */
  private inodeOrUndefined(ino: number): Inode | undefined {
    return isSnapIno(ino) ? this.dotSnap.inode(ino) : this.meta.inode(ino);
  }

  /** A directory's names and inode numbers. */
  private entriesOf(dirIno: number): Map<string, number> {
    return isSnapIno(dirIno) ? this.dotSnap.entries(dirIno) : this.meta.entries(dirIno);
  }

  private dir(ino: number): Inode {
    const dir = this.inode(ino);
    if (!isDir(dir)) throw new FsError('ENOTDIR');
    return dir;
  }

  /** The directory `parent`, where `name` is free. */
  private newName(parent: number, name: string): Inode {
    notInSnap(parent);
    if (parent === ROOT_INO && name === SNAP_DIR_NAME) throw new FsError('EEXIST');
    const dir = this.dir(parent);
    checkName(name);
    if (this.meta.entries(dir.ino).has(name)) throw new FsError('EEXIST');
    return dir;
  }

  /** A name that exists, to remove or rename: never in `.snap`, nor `.snap` itself. */
  private existing(parent: number, name: string): { dir: Inode; inode: Inode } {
    notInSnap(parent);
    if (parent === ROOT_INO && name === SNAP_DIR_NAME) throw new FsError('EROFS');
    const dir = this.dir(parent);
    checkName(name);
    const ino = this.meta.entries(dir.ino).get(name);
    if (ino === undefined) throw new FsError('ENOENT');
    const inode = this.meta.inode(ino);
    if (!inode) throw new FsError('EIO', `entry ${name} of directory ${parent} names inode ${ino}, which is missing`);
    return { dir, inode };
  }

  /**
   * A new inode named `name` in `dir`, owned by the caller: the group is the directory's when
   * the directory is set-group-ID (and a new directory is too), as on Linux.
   */
  private create(dir: Inode, name: string, mode: number, nlink: number, caller: Caller): Inode {
    const inode = newInode(this.meta.allocateIno(), mode, nlink);
    inode.uid = caller.uid;
    inode.gid = caller.gid;
    if (dir.mode & S_ISGID) {
      inode.gid = dir.gid;
      if (isDir(inode)) inode.mode |= S_ISGID;
    }
    this.meta.addInode(inode);
    this.meta.setEntry(dir.ino, name, inode.ino);
    this.modified(dir);
    this.learned(inode, dir, name);
    return inode;
  }

  /** Notes where an inode was just seen by name: a directory's parent, and a name to show it by. */
  private learned(inode: Inode, dir: Inode, name: string): void {
    if (isDir(inode)) inode.parent = dir.ino;
    inode.seenAs = { parent: dir.ino, name };
  }

  /** A directory cannot move below itself. */
  private checkNotBelow(dest: Inode, dir: Inode): void {
    for (let at: Inode | undefined = dest; at; at = at.parent === undefined ? undefined : this.meta.inode(at.parent)) {
      if (at.ino === dir.ino) throw new FsError('EINVAL');
      if (at.ino === ROOT_INO) return;
    }
  }

  /** RENAME_EXCHANGE: the two names swap inodes, atomically. */
  private exchange(dirA: Inode, nameA: string, dirB: Inode, nameB: string): void {
    const a = this.meta.inode(this.meta.entries(dirA.ino).get(nameA)!)!;
    const b = this.meta.inode(this.meta.entries(dirB.ino).get(nameB)!)!;
    if (a === b) return;
    if (isDir(a)) this.checkNotBelow(dirB, a);
    if (isDir(b)) this.checkNotBelow(dirA, b);
    this.meta.setEntry(dirA.ino, nameA, b.ino);
    this.meta.setEntry(dirB.ino, nameB, a.ino);
    if (dirA !== dirB && isDir(a) !== isDir(b)) {
      // A directory moving to the other side takes its ".." link with it.
      const moved = isDir(a) ? 1 : -1;
      dirA.nlink -= moved;
      dirB.nlink += moved;
    }
    this.learned(a, dirB, nameB);
    this.learned(b, dirA, nameA);
    this.changed(a);
    this.changed(b);
    this.modified(dirA);
    if (dirB !== dirA) this.modified(dirB);
  }

  private removeDirectory(dir: Inode): void {
    dir.nlink = 0;
    this.gone(dir);
  }

  private handleInode(fh: number): Inode {
    const handle = this.handles.get(fh);
    const inode = handle && this.inodeOrUndefined(handle.ino);
    if (!inode) throw new FsError('EBADF');
    return inode;
  }

  private addHandle(handle: Handle): number {
    const fh = this.nextFh++;
    this.handles.set(fh, handle);
    return fh;
  }

  private openInode(inode: Inode, flags: number): number {
    if (isFile(inode) && !inode.content) inode.content = this.makeContent(inode);
    inode.openCount++;
    return this.addHandle({ ino: inode.ino, flags, listing: null });
  }

  /** A path to show a file by (the dirty-memory list): from the names it was last seen by. */
  private displayPath(inode: Inode): string {
    const names: string[] = [];
    for (let at: Inode | undefined = inode; at?.seenAs && names.length < 64;) {
      names.unshift(at.seenAs.name);
      at = this.meta.loadedInode(at.seenAs.parent);
    }
    return `/${names.join('/')}`;
  }

  private makeContent(inode: Inode): FileContent {
    const chunks: ChunkRef[] = inode.manifestKey ? this.deps.store.getManifest(inode.manifestKey) : [];
    const stored: StoredContent = { manifestKey: inode.manifestKey, chunks, sizeBytes: inode.sizeBytes };
    return new FileContent(this.volumeName, () => this.displayPath(inode), stored, {
      pool: this.deps.pool,
      budget: this.deps.budget,
      chunks: this.deps.store.cache,
      queueSmallContent: (bytes) => {
        const chunkKey = chunkKeyOf(bytes);
        const manifest = encodeManifest([{ key: chunkKey, sizeBytes: bytes.length }]);
        const manifestKey = chunkKeyOf(manifest);
        this.meta.queueBlob('chunks', chunkKey, bytes);
        this.meta.queueBlob('manifests', manifestKey, manifest);
        return { chunkKey, manifestKey };
      },
      storeManifest: (chunks) => this.deps.store.putManifest(chunks),
      onChunksStored: (packs, bytes) => this.deps.store.notePacksWritten(packs, bytes),
      onStored: async (content) => {
        this.deps.store.marks.announce(content.manifestKey, content.chunks);
        // The inode may be gone (unlinked and closed while the flush ran): nothing to record then.
        if (this.meta.inode(inode.ino) !== inode || inode.nlink === 0) return;
        inode.manifestKey = content.manifestKey;
        inode.sizeBytes = content.sizeBytes;
        this.meta.touchInode(inode.ino);
        await this.meta.committedFor(inode.ino);
      },
      storeBlocked: () => this.meta.failure,
    });
  }

  private async truncate(inode: Inode, sizeBytes: number): Promise<void> {
    if (isDir(inode)) throw new FsError('EISDIR');
    if (!isFile(inode)) throw new FsError('EINVAL');
    if (!(sizeBytes >= 0)) throw new FsError('EINVAL');
    if (sizeBytes > FILE_MAX_BYTES) throw new FsError('EFBIG');
    const opened = inode.content !== null;
    const before = { mtimeNs: inode.mtimeNs, ctimeNs: inode.ctimeNs, manifestKey: inode.manifestKey };
    if (!inode.content) inode.content = this.makeContent(inode);
    const content = inode.content;
    this.truncateOpen(inode, sizeBytes);
    if (opened) return;
    // truncate(2) on a closed file: store it now, as nothing else will. If that fails before the
    // inode names the new content, the call changes nothing: the content goes back to what is
    // stored. (Once it names it, only the commit failed, which is retried like any metadata.)
    try {
      await content.flush();
    } catch (error) {
      const recorded = inode.manifestKey !== before.manifestKey || inode.sizeBytes === sizeBytes;
      if (recorded) return;
      if (inode.openCount === 0 && inode.content === content) {
        content.discard();
        inode.content = null;
        inode.mtimeNs = before.mtimeNs;
        inode.ctimeNs = before.ctimeNs;
      }
      throw error;
    }
    if (inode.openCount === 0 && inode.content === content) {
      content.close();
      inode.content = null;
    }
  }

  /** rm -r of `name` in `dir`: a directory with everything under it, or one name of a file. */
  private removeTree(dir: Inode, name: string): void {
    const { inode } = this.existing(dir.ino, name);
    this.meta.removeEntry(dir.ino, name);
    if (!isDir(inode)) return this.unlinked(inode);
    for (const child of [...this.meta.entries(inode.ino).keys()]) this.removeTree(inode, child);
    dir.nlink--;
    this.removeDirectory(inode);
  }

  /** Truncation of a file whose content is in memory (open): stored with the rest at close. */
  private truncateOpen(inode: Inode, sizeBytes: number): void {
    inode.content!.truncate(sizeBytes);
    const now = nowNs();
    inode.mtimeNs = now;
    inode.ctimeNs = now;
    this.meta.touchInode(inode.ino);
  }

  private unlinked(inode: Inode): void {
    inode.nlink--;
    if (inode.nlink > 0) this.changed(inode);
    else this.gone(inode);
  }

  /** An inode lost its last name: deleted now, or an orphan while it is open or known to the kernel. */
  private gone(inode: Inode): void {
    inode.ctimeNs = nowNs();
    if (inode.openCount > 0 || inode.nlookup > 0) {
      this.meta.touchInode(inode.ino);
      this.meta.setOrphan(inode.ino, true);
    } else {
      this.meta.dropInode(inode.ino);
    }
  }

  /** Attributes changed: ctime. */
  private changed(inode: Inode): void {
    inode.ctimeNs = nowNs();
    this.meta.touchInode(inode.ino);
  }

  /** A directory's entries changed: mtime and ctime. */
  private modified(dir: Inode): void {
    const now = nowNs();
    dir.mtimeNs = now;
    dir.ctimeNs = now;
    this.meta.touchInode(dir.ino);
  }

  stat(inode: Inode): Attr {
    const size = isDir(inode) ? 4096 : currentSizeBytes(inode);
    return {
      ino: inode.ino,
      mode: inode.mode,
      nlink: inode.nlink,
      uid: inode.uid,
      gid: inode.gid,
      rdev: inode.rdev,
      size,
      blocks: Math.ceil(size / 512),
      atimeNs: inode.atimeNs,
      mtimeNs: inode.mtimeNs,
      ctimeNs: inode.ctimeNs,
    };
  }
}

/** `.snap` and the snapshots in it are read-only. */
function notInSnap(ino: number): void {
  if (isSnapIno(ino)) throw new FsError('EROFS');
}

function checkName(name: string): void {
  if (Buffer.byteLength(name) > NAME_MAX_BYTES) throw new FsError('ENAMETOOLONG');
}
