/**
 * The file system of one mounted volume: every FUSE operation, in terms of inodes, directory
 * entries and file content, with the semantics Linux programs expect (errors, link counts, times).
 * Paths arrive from FUSE; they are resolved against the in-memory directory maps.
 *
 * Open handles (fh) name an inode, not a path, so a file unlinked while open stays readable and
 * writable through them. libfuse 2.9 unlinks an open file by renaming it to `.fuse_hidden<id>`
 * (and unlinks that name at the last close): VolumeFs treats that rename as the unlink it stands
 * for, and keeps the hidden name only as an alias that resolves but is listed nowhere, so the
 * directory looks and behaves as on any Linux file system (it can be removed, for one).
 *
 * Times: ctime and mtime change where Linux changes them; reads do not update atime (as with
 * `noatime`), which spares a metadata write per read.
 */
import { statfsSync } from 'node:fs';
import { FsError, quote } from '../../common/errors.js';
import type { ChunkPool } from '../chunking/chunk-pool.js';
import { FILE_MAX_BYTES, ROOT_INO, encodeManifest, type ChunkRef, type VolumeRecord } from '../store/format.js';
import { chunkKeyOf, type Store } from '../store/store.js';
import type { DirtyBudget } from './dirty-budget.js';
import { FileContent, type LentRead, type StoredContent } from './file-content.js';
import { VolumeMeta, newInode, type Inode } from './volume-meta.js';
import { nowNs } from '../../common/time.js';

export const S_IFMT = 0o170000;
export const S_IFDIR = 0o040000;
export const S_IFREG = 0o100000;
export const S_IFLNK = 0o120000;
const NAME_MAX_BYTES = 255;
const XATTR_CREATE = 1;
const XATTR_REPLACE = 2;
const XATTR_VALUE_MAX_BYTES = 64 * 1024;
const POSIX_ACL_PREFIX = 'system.posix_acl_';
const O_ACCMODE = 3;
/** The names libfuse 2.9 gives files unlinked while open (fuse.c, hidden_name). */
const HIDDEN_NAME = /^\.fuse_hidden[0-9a-f]{16}$/;
const O_RDONLY = 0;
/** A closed file that could not be stored is tried again after this long, doubling up to the last. */
const UNSTORED_FIRST_RETRY_MS = 1000;
const UNSTORED_LAST_RETRY_MS = 30_000;

export interface Stat {
  mode: number;
  uid: number;
  gid: number;
  size: number;
  dev: number;
  nlink: number;
  ino: number;
  rdev: number;
  blksize: number;
  blocks: number;
  atimeNs: bigint;
  mtimeNs: bigint;
  ctimeNs: bigint;
}

export interface StatFs {
  bsize: number;
  frsize: number;
  blocks: number;
  bfree: number;
  bavail: number;
  files: number;
  ffree: number;
  favail: number;
  fsid: number;
  flag: number;
  namemax: number;
}

interface Handle {
  ino: number;
  flags: number;
}

export interface VolumeFsDeps {
  store: Store;
  pool: ChunkPool;
  budget: DirtyBudget;
  dataDir: string;
}

const isDir = (inode: Inode) => (inode.mode & S_IFMT) === S_IFDIR;
const isFile = (inode: Inode) => (inode.mode & S_IFMT) === S_IFREG;

/**
 * Takes back read windows (see LentRead) that a FUSE adapter keeps: those over one inode's
 * content, or every one (no argument).
 */
export type RevokeWindows = (ino?: number) => void;

/** Stored bytes lent for a read, and the file they are of (its inode is the key its windows are revoked by). */
export interface VolumeRead extends LentRead {
  ino: number;
  content: FileContent;
}

export class VolumeFs {
  readonly meta: VolumeMeta;
  private readonly handles = new Map<number, Handle>();
  private nextFh = 1;
  /** Set while the FUSE adapter keeps read windows (lendWindows). */
  private revokeWindows: RevokeWindows | null = null;
  /** Inodes that windows may show: revoked before their content changes or a handle closes. */
  private readonly windowed = new Set<number>();
  /** Set by the FUSE adapter: drops the kernel's cached attributes of every name of an inode. */
  private invalidateAttributes: ((ino: number) => void) | null = null;

  constructor(
    volume: VolumeRecord,
    private readonly deps: VolumeFsDeps,
  ) {
    this.meta = new VolumeMeta(deps.store, volume);
    // Commits work again: the closed files that could not be stored are tried at once.
    this.meta.onRecovered = () => {
      if (this.unstored.size === 0) return;
      if (this.unstoredTimer) clearTimeout(this.unstoredTimer);
      this.unstoredTimer = null;
      void this.storeUnstored();
    };
  }

  get volumeName(): string {
    return this.meta.volume.name;
  }

  // ---- attributes ----

  getattr(path: string): Stat {
    return this.stat(this.resolve(path));
  }

  fgetattr(path: string | null, fh: number): Stat {
    return this.stat(this.handleInode(path, fh));
  }

  statfs(): StatFs {
    const host = statfsSync(this.deps.dataDir, { bigint: false });
    const frsize = host.bsize;
    return {
      bsize: frsize,
      frsize,
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

  access(path: string): void {
    this.resolve(path);
  }

  chmod(path: string, mode: number): void {
    const inode = this.resolve(path);
    inode.mode = (inode.mode & S_IFMT) | (mode & 0o7777);
    this.changed(inode);
  }

  chown(path: string, uid: number, gid: number): void {
    const inode = this.resolve(path);
    // -1 (as unsigned) leaves the id as it is.
    if (uid !== -1 && uid !== 0xffffffff) inode.uid = uid;
    if (gid !== -1 && gid !== 0xffffffff) inode.gid = gid;
    this.changed(inode);
  }

  utimens(path: string, atimeNs: bigint | null, mtimeNs: bigint | null): void {
    const inode = this.resolve(path);
    if (atimeNs !== null) inode.atimeNs = atimeNs;
    if (mtimeNs !== null) inode.mtimeNs = mtimeNs;
    this.changed(inode);
  }

  // ---- directories ----

  readdir(path: string): { names: string[]; stats: Stat[] } {
    const dir = this.resolve(path);
    if (!isDir(dir)) throw new FsError('ENOTDIR');
    const names = ['.', '..'];
    const stats = [this.stat(dir), this.stat(this.parentOf(path))];
    for (const [name, ino] of this.meta.entries(dir.ino)) {
      const child = this.meta.inode(ino);
      if (!child) continue;
      names.push(name);
      stats.push(this.stat(child));
    }
    return { names, stats };
  }

  mkdir(path: string, mode: number): void {
    const { dir, name } = this.resolveNew(path);
    const inode = this.newInode(S_IFDIR | (mode & 0o7777), 2);
    this.meta.addInode(inode);
    this.meta.setEntry(dir.ino, name, inode.ino);
    dir.nlink++;
    this.modified(dir);
  }

  rmdir(path: string): void {
    const { dir, name } = this.resolveExisting(path);
    const ino = this.meta.entries(dir.ino).get(name)!;
    const target = this.meta.inode(ino)!;
    if (!isDir(target)) throw new FsError('ENOTDIR');
    if (this.meta.entries(ino).size > 0) throw new FsError('ENOTEMPTY');
    this.meta.removeEntry(dir.ino, name);
    dir.nlink--;
    this.modified(dir);
    this.meta.dropInode(ino);
  }

  // ---- names ----

  symlink(target: string, path: string): void {
    const { dir, name } = this.resolveNew(path);
    const inode = this.newInode(S_IFLNK | 0o777, 1);
    inode.symlinkTarget = target;
    inode.sizeBytes = Buffer.byteLength(target);
    this.meta.addInode(inode);
    this.meta.setEntry(dir.ino, name, inode.ino);
    this.modified(dir);
  }

  readlink(path: string): string {
    const inode = this.resolve(path);
    if (inode.symlinkTarget === null) throw new FsError('EINVAL');
    return inode.symlinkTarget;
  }

  link(existing: string, path: string): void {
    const inode = this.resolve(existing);
    if (isDir(inode)) throw new FsError('EPERM');
    const { dir, name } = this.resolveNew(path);
    this.meta.setEntry(dir.ino, name, inode.ino);
    inode.nlink++;
    this.changed(inode);
    this.modified(dir);
  }

  unlink(path: string): void {
    const hidden = this.hiddenAlias(path);
    if (hidden !== undefined) {
      // libfuse's last close of a file unlinked while open; the inode went at release.
      this.hidden.delete(hidden);
      return;
    }
    const { dir, name } = this.resolveExisting(path);
    const ino = this.meta.entries(dir.ino).get(name)!;
    const inode = this.meta.inode(ino)!;
    if (isDir(inode)) throw new FsError('EISDIR');
    this.meta.removeEntry(dir.ino, name);
    this.modified(dir);
    this.unlinked(inode);
  }

  rename(from: string, to: string): void {
    const source = this.resolveExisting(from);
    const ino = this.meta.entries(source.dir.ino).get(source.name)!;
    const inode = this.meta.inode(ino)!;
    const dest = this.resolveParent(to);
    if (HIDDEN_NAME.test(dest.name) && inode.openCount > 0 && !this.meta.entries(dest.dir.ino).has(dest.name)) {
      // libfuse hiding a file unlinked while open: unlink it, keep the hidden name as an alias.
      this.meta.removeEntry(source.dir.ino, source.name);
      this.modified(source.dir);
      this.unlinked(inode);
      this.hidden.set(dest.name, ino);
      return;
    }
    const replacedIno = this.meta.entries(dest.dir.ino).get(dest.name);
    if (replacedIno === ino) return; // Linux: renaming a name onto a link of the same inode does nothing
    if (isDir(inode)) {
      // A directory cannot move below itself.
      for (let at: Inode | null = dest.dir; at; at = this.parentInode(at)) {
        if (at.ino === ino) throw new FsError('EINVAL');
        if (at.ino === ROOT_INO) break;
      }
    }
    if (replacedIno !== undefined) {
      const replaced = this.meta.inode(replacedIno)!;
      if (isDir(inode) && !isDir(replaced)) throw new FsError('ENOTDIR');
      if (!isDir(inode) && isDir(replaced)) throw new FsError('EISDIR');
      if (isDir(replaced) && this.meta.entries(replacedIno).size > 0) throw new FsError('ENOTEMPTY');
    }
    // Every check passed: the change below lands in LMDB as one transaction.
    if (replacedIno !== undefined) {
      const replaced = this.meta.inode(replacedIno)!;
      if (isDir(replaced)) {
        dest.dir.nlink--;
        this.meta.dropInode(replacedIno);
      } else {
        this.unlinked(replaced);
      }
    }
    this.meta.removeEntry(source.dir.ino, source.name);
    this.meta.setEntry(dest.dir.ino, dest.name, ino);
    if (isDir(inode) && source.dir.ino !== dest.dir.ino) {
      source.dir.nlink--;
      dest.dir.nlink++;
      this.parents.set(ino, dest.dir.ino);
    }
    this.changed(inode);
    this.modified(source.dir);
    if (dest.dir !== source.dir) this.modified(dest.dir);
  }

  // ---- extended attributes ----

  setxattr(path: string, name: string, value: Uint8Array, flags: number): void {
    const inode = this.resolve(path);
    // POSIX ACLs are not supported. Without FUSE_POSIX_ACL the kernel passes `system.posix_acl_*`
    // through as plain xattrs; storing them would let `cp -a`/`cp -p` (libacl's perm_copy_fd)
    // "set" the mode through an ACL that changes nothing, so the copy kept mode 0600. EOPNOTSUPP
    // makes them fall back to fchmod(2), as on any file system without ACLs.
    if (name.startsWith(POSIX_ACL_PREFIX)) throw new FsError('EOPNOTSUPP');
    if (value.byteLength > XATTR_VALUE_MAX_BYTES) throw new FsError('ERANGE');
    const exists = inode.xattrs.has(name);
    if (flags & XATTR_CREATE && exists) throw new FsError('EEXIST');
    if (flags & XATTR_REPLACE && !exists) throw new FsError('ENODATA');
    inode.xattrs.set(name, Uint8Array.prototype.slice.call(value));
    this.changed(inode);
  }

  getxattr(path: string, name: string): Uint8Array {
    const value = this.resolve(path).xattrs.get(name);
    if (!value) throw new FsError('ENODATA');
    return value;
  }

  listxattr(path: string): string[] {
    return [...this.resolve(path).xattrs.keys()];
  }

  removexattr(path: string, name: string): void {
    const inode = this.resolve(path);
    if (!inode.xattrs.delete(name)) throw new FsError('ENODATA');
    this.changed(inode);
  }

  // ---- files ----

  create(path: string, mode: number, flags: number): number {
    const { dir, name } = this.resolveNew(path);
    const inode = this.newInode(S_IFREG | (mode & 0o7777), 1);
    this.meta.addInode(inode);
    this.meta.setEntry(dir.ino, name, inode.ino);
    this.modified(dir);
    return this.openInode(inode, path, flags);
  }

  open(path: string, flags: number): number {
    const inode = this.resolve(path);
    if (isDir(inode) && (flags & O_ACCMODE) !== O_RDONLY) throw new FsError('EISDIR');
    return this.openInode(inode, path, flags);
  }

  /**
   * Bytes copied into `out`, their count; or stored bytes lent for the caller to copy, and while
   * the adapter keeps read windows (lendWindows), maybe more of the file's bytes after them.
   */
  read(
    path: string | null,
    fh: number,
    out: Uint8Array,
    length: number,
    offset: number,
  ): number | VolumeRead | Promise<number | VolumeRead> {
    const inode = this.handleInode(path, fh);
    const content = inode.content;
    if (!content) throw new FsError('EISDIR');
    const result = content.readOrLend(offset, length, out, this.revokeWindows !== null);
    const withFile = (answer: number | LentRead) =>
      typeof answer === 'number' ? answer : { ...answer, ino: inode.ino, content };
    return result instanceof Promise ? result.then(withFile) : withFile(result);
  }

  /**
   * Whether the bytes lent past a read's count may stay lent as a read window. The adapter asks
   * as it hands the answer over, in the same synchronous step, and only then is the inode noted
   * for revoking: nothing can change the file between this check and the window being set, and
   * a change made earlier (while the read waited for the disk, or before its answer was handed
   * over) turns the window down.
   */
  keepWindow(lent: VolumeRead): boolean {
    if (lent.loan.bytes.length <= lent.count || !this.revokeWindows) return false;
    if (this.meta.inode(lent.ino)?.content !== lent.content || lent.content.version !== lent.version) return false;
    this.windowed.add(lent.ino);
    return true;
  }

  /**
   * The FUSE adapter keeps the rest of a lent read as that handle's read window, and serves the
   * reads that fall in it without asking (see native/fuse-native, item 12). VolumeFs revokes an
   * inode's windows when its content changes or a handle on it closes, and the chunk cache asks
   * for them all back when it needs their slots. Returns the way to stop: no more windows, and
   * every one revoked.
   */
  lendWindows(revoke: RevokeWindows): () => void {
    const cache = this.deps.store.cache;
    const revokeAll = () => {
      this.windowed.clear();
      revoke();
    };
    this.revokeWindows = revoke;
    cache.reclaimers.add(revokeAll);
    return () => {
      if (this.revokeWindows !== revoke) return;
      this.revokeWindows = null;
      cache.reclaimers.delete(revokeAll);
      revokeAll();
    };
  }

  /**
   * libfuse 2.9 gives each name of a file its own kernel inode, with its own attribute cache: a
   * change through one name of a hard-linked file left the others showing the old size, times and
   * link count for up to a second (a read through them stopped at the old size). The FUSE adapter
   * passes the way to drop them all (native/fuse-native, item 14); VolumeFs uses it whenever a
   * file with more than one name, or one that just lost a name, changes.
   */
  setAttributeInvalidation(invalidate: ((ino: number) => void) | null): void {
    this.invalidateAttributes = invalidate;
  }

  private otherNamesChanged(inode: Inode): void {
    if (inode.nlink > 1) this.invalidateAttributes?.(inode.ino);
  }

  /** Revokes the read windows over an inode's content (it changed, or a handle on it closes). */
  private revokeWindowsOf(inode: Inode): void {
    if (this.windowed.delete(inode.ino)) this.revokeWindows?.(inode.ino);
  }

  /** Resolves once the dirty cap leaves room for a write (null: room now). */
  waitForWriteRoom(): Promise<void> | null {
    return this.deps.budget.waitForRoom();
  }

  write(path: string | null, fh: number, data: Uint8Array, offset: number): number | Promise<number> {
    const inode = this.handleInode(path, fh);
    if (!inode.content) throw new FsError('EISDIR');
    if (offset + data.length > FILE_MAX_BYTES) throw new FsError('EFBIG');
    const written = () => {
      // After the change: a write that waited for a load may have let a window be lent meanwhile.
      this.revokeWindowsOf(inode);
      const now = nowNs();
      inode.mtimeNs = now;
      inode.ctimeNs = now;
      this.otherNamesChanged(inode);
      // The record is written with the content when it is stored (see storedContent).
      return data.length;
    };
    const copying = inode.content.write(offset, data);
    if (!copying) return written();
    return copying.then(written, (error: unknown) => {
      this.revokeWindowsOf(inode); // pages written before the failure are changes too
      throw error;
    });
  }

  truncate(path: string, sizeBytes: number): Promise<void> {
    const inode = this.resolve(path);
    return this.truncateInode(inode, path, sizeBytes);
  }

  ftruncate(path: string | null, fh: number, sizeBytes: number): Promise<void> {
    return this.truncateInode(this.handleInode(path, fh), path ?? '', sizeBytes);
  }

  /**
   * close(2): stores the file's dirty data and its record, durable against a crash of the engine.
   * Only this file's changes are waited for: a file that changed nothing reports no failure.
   */
  async flush(path: string | null, fh: number): Promise<void> {
    const inode = this.handleInode(path, fh);
    try {
      await inode.content?.flush();
      await this.meta.committedFor(inode.ino);
    } catch (error) {
      throw this.deps.store.explainWriteFailure(error);
    }
  }

  /** fsync(2): as flush, then the store is synced to the disk. */
  async fsync(path: string | null, fh: number): Promise<void> {
    await this.flush(path, fh);
    await this.deps.store.syncToDisk();
  }

  /**
   * fsync(2) of a directory: every change to names so far (a rename a program wants durable,
   * say) is committed and synced to the disk. Without this op FUSE answers such an fsync with
   * success and nothing done.
   */
  async fsyncdir(path: string): Promise<void> {
    this.resolve(path);
    await this.meta.committed();
    await this.deps.store.syncToDisk();
  }

  async release(path: string | null, fh: number): Promise<void> {
    const inode = this.handleInode(path, fh);
    this.handles.delete(fh);
    this.revokeWindowsOf(inode);
    inode.openCount--;
    if (inode.openCount > 0) return;
    if (inode.nlink === 0) {
      this.meta.dropInode(inode.ino);
      return;
    }
    if (!inode.content) return;
    // A program that never called close (killed) still gets its data stored.
    try {
      await this.storeClosed(inode);
    } catch (error) {
      this.storeLater(inode, this.deps.store.explainWriteFailure(error));
      throw error;
    }
  }

  /** Stores a closed file's content, then lets go of it (its inode keeps the stored record). */
  private async storeClosed(inode: Inode): Promise<void> {
    const content = inode.content!;
    await content.flush();
    if (inode.openCount === 0 && inode.content === content && !content.isDirty) {
      content.close();
      inode.content = null;
    }
  }

  /**
   * Keeps a closed file whose data could not be stored (a full disk) and stores it again later:
   * on a timer that backs off, and at once when metadata commits work again. Said in the log when
   * it starts and when every such file is stored.
   */
  private storeLater(inode: Inode, error: Error): void {
    if (this.unstored.size === 0 && !this.unstoredSince) {
      this.unstoredSince = Date.now();
      console.error(
        `bazil: volume ${quote(this.volumeName)}: a closed file could not be stored (${error.message}); ` +
          'its data stays in memory and is stored again when it can be',
      );
    }
    this.unstored.add(inode);
    if (this.unstoredTimer) return;
    this.unstoredTimer = setTimeout(() => {
      this.unstoredTimer = null;
      void this.storeUnstored();
    }, this.unstoredDelayMs);
    this.unstoredTimer.unref();
    this.unstoredDelayMs = Math.min(this.unstoredDelayMs * 2, UNSTORED_LAST_RETRY_MS);
  }

  /** Tries the closed files that could not be stored again (see storeLater). */
  private async storeUnstored(): Promise<void> {
    let failure: Error | null = null;
    for (const inode of [...this.unstored]) {
      this.unstored.delete(inode);
      // Open again (its next close stores it), gone, or stored by a flush since.
      if (inode.openCount > 0 || this.meta.inode(inode.ino) !== inode || !inode.content?.isDirty) continue;
      try {
        await this.storeClosed(inode);
      } catch (error) {
        failure = this.deps.store.explainWriteFailure(error);
        this.unstored.add(inode);
      }
    }
    if (failure) {
      this.storeLater([...this.unstored][0]!, failure);
    } else if (this.unstored.size === 0 && this.unstoredSince) {
      const seconds = Math.round((Date.now() - this.unstoredSince) / 1000);
      console.error(
        `bazil: volume ${quote(this.volumeName)}: the closed files that could not be stored are, after ${seconds} s`,
      );
      this.unstoredSince = 0;
      this.unstoredDelayMs = UNSTORED_FIRST_RETRY_MS;
    }
  }

  /** Stops the timers (the volume is unmounted). */
  close(): void {
    this.meta.close();
    if (this.unstoredTimer) clearTimeout(this.unstoredTimer);
    this.unstoredTimer = null;
  }

  /** Stores every dirty file of this volume (unmount, engine stop). */
  async flushAll(): Promise<void> {
    // Every file with content in memory: open ones, and closed ones whose store failed earlier.
    const files: Promise<void>[] = [];
    for (const inode of this.meta.loaded()) if (inode.content?.isDirty) files.push(inode.content.flush());
    await Promise.all(files);
    await this.meta.committed();
  }

  // ---- helpers ----

  /** Closed files whose data could not be stored yet (see storeLater). */
  private readonly unstored = new Set<Inode>();
  private unstoredTimer: NodeJS.Timeout | null = null;
  private unstoredDelayMs = UNSTORED_FIRST_RETRY_MS;
  /** When closed files first could not be stored (0: all are). */
  private unstoredSince = 0;

  /** Parent directory inode numbers, learned while resolving paths (for moves of directories). */
  private readonly parents = new Map<number, number>();

  /** Hidden names (see the header) to the inode they stand for. */
  private readonly hidden = new Map<string, number>();

  private hiddenAlias(path: string): string | undefined {
    const name = path.slice(path.lastIndexOf('/') + 1);
    return this.hidden.has(name) ? name : undefined;
  }

  private resolve(path: string): Inode {
    const hidden = this.hiddenAlias(path);
    if (hidden !== undefined) {
      const inode = this.meta.inode(this.hidden.get(hidden)!);
      if (!inode) throw new FsError('ENOENT');
      return inode;
    }
    let inode = this.meta.inode(ROOT_INO);
    if (!inode) throw new FsError('EIO', 'the volume has no root directory');
    if (path === '/') return inode;
    const names = path.split('/');
    for (let i = 1; i < names.length; i++) {
      const name = names[i]!;
      if (name === '') continue;
      if (Buffer.byteLength(name) > NAME_MAX_BYTES) throw new FsError('ENAMETOOLONG');
      if (!isDir(inode)) throw new FsError('ENOTDIR');
      const ino = this.meta.entries(inode.ino).get(name);
      if (ino === undefined) throw new FsError('ENOENT');
      const child = this.meta.inode(ino);
      if (!child) throw new FsError('EIO', `entry ${path} names inode ${ino}, which is missing`);
      if (isDir(child)) this.parents.set(ino, inode.ino);
      inode = child;
    }
    return inode;
  }

  private resolveParent(path: string): { dir: Inode; name: string } {
    const slash = path.lastIndexOf('/');
    const name = path.slice(slash + 1);
    if (Buffer.byteLength(name) > NAME_MAX_BYTES) throw new FsError('ENAMETOOLONG');
    const dir = this.resolve(slash <= 0 ? '/' : path.slice(0, slash));
    if (!isDir(dir)) throw new FsError('ENOTDIR');
    return { dir, name };
  }

  private resolveNew(path: string): { dir: Inode; name: string } {
    const parent = this.resolveParent(path);
    if (this.meta.entries(parent.dir.ino).has(parent.name)) throw new FsError('EEXIST');
    return parent;
  }

  private resolveExisting(path: string): { dir: Inode; name: string } {
    const parent = this.resolveParent(path);
    if (!this.meta.entries(parent.dir.ino).has(parent.name)) throw new FsError('ENOENT');
    return parent;
  }

  private parentOf(path: string): Inode {
    if (path === '/') return this.resolve('/');
    return this.resolveParent(path).dir;
  }

  private parentInode(dir: Inode): Inode | null {
    const parent = this.parents.get(dir.ino);
    return parent === undefined ? null : (this.meta.inode(parent) ?? null);
  }

  private handleInode(path: string | null, fh: number): Inode {
    const handle = this.handles.get(fh);
    if (handle) {
      const inode = this.meta.inode(handle.ino);
      if (inode) return inode;
    }
    if (path !== null && fh === 0) return this.resolve(path);
    throw new FsError('EBADF');
  }

  private openInode(inode: Inode, path: string, flags: number): number {
    if (isFile(inode) && !inode.content) inode.content = this.makeContent(inode, path);
    inode.openCount++;
    const fh = this.nextFh++;
    this.handles.set(fh, { ino: inode.ino, flags });
    return fh;
  }

  private makeContent(inode: Inode, path: string): FileContent {
    const chunks: ChunkRef[] = inode.manifestKey ? this.deps.store.getManifest(inode.manifestKey) : [];
    const stored: StoredContent = { manifestKey: inode.manifestKey, chunks, sizeBytes: inode.sizeBytes };
    return new FileContent(this.volumeName, path, stored, {
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

  private async truncateInode(inode: Inode, path: string, sizeBytes: number): Promise<void> {
    if (isDir(inode)) throw new FsError('EISDIR');
    if (!isFile(inode)) throw new FsError('EINVAL');
    if (!(sizeBytes >= 0)) throw new FsError('EINVAL');
    if (sizeBytes > FILE_MAX_BYTES) throw new FsError('EFBIG');
    const opened = inode.content !== null;
    const before = { mtimeNs: inode.mtimeNs, ctimeNs: inode.ctimeNs, manifestKey: inode.manifestKey };
    if (!inode.content) inode.content = this.makeContent(inode, path);
    const content = inode.content;
    this.revokeWindowsOf(inode);
    content.truncate(sizeBytes);
    const now = nowNs();
    inode.mtimeNs = now;
    inode.ctimeNs = now;
    this.meta.touchInode(inode.ino);
    this.otherNamesChanged(inode);
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
        this.otherNamesChanged(inode);
      }
      throw error;
    }
    if (inode.openCount === 0 && inode.content === content) {
      content.close();
      inode.content = null;
    }
  }

  private unlinked(inode: Inode): void {
    inode.nlink--;
    inode.ctimeNs = nowNs();
    if (inode.nlink > 0) {
      this.meta.touchInode(inode.ino);
      this.invalidateAttributes?.(inode.ino); // the names left: link count and ctime
    } else if (inode.openCount > 0) {
      this.meta.touchInode(inode.ino);
      this.meta.setOrphan(inode.ino, true);
    } else {
      this.meta.dropInode(inode.ino);
    }
  }

  private newInode(mode: number, nlink: number): Inode {
    return newInode(this.meta.allocateIno(), mode, nlink);
  }

  /** Attributes changed: ctime. */
  private changed(inode: Inode): void {
    inode.ctimeNs = nowNs();
    this.meta.touchInode(inode.ino);
    this.otherNamesChanged(inode);
  }

  /** A directory's entries changed: mtime and ctime. */
  private modified(dir: Inode): void {
    const now = nowNs();
    dir.mtimeNs = now;
    dir.ctimeNs = now;
    this.meta.touchInode(dir.ino);
  }

  private stat(inode: Inode): Stat {
    const size = inode.content ? inode.content.sizeBytes : isDir(inode) ? 4096 : inode.sizeBytes;
    return {
      mode: inode.mode,
      uid: inode.uid,
      gid: inode.gid,
      size,
      dev: 0,
      nlink: inode.nlink,
      ino: inode.ino,
      rdev: 0,
      blksize: 4096,
      blocks: Math.ceil(size / 512),
      atimeNs: inode.atimeNs,
      mtimeNs: inode.mtimeNs,
      ctimeNs: inode.ctimeNs,
    };
  }
}
