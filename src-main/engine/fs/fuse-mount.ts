/**
 * The FUSE adapter: binds a VolumeFs to a mountpoint with fuse-native (patched, see
 * native/fuse-native). It only translates: callbacks to calls, FsError to errno, and it copies the
 * bytes of a write out of libfuse's memory (valid only until the callback).
 *
 * fuse-native must run on the process's main JS thread, and nothing in this process may make a
 * synchronous file call into the mount (the request would wait on the thread that must answer it).
 */
import { createRequire } from 'node:module';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { ERRNO, FsError, quote } from '../../common/errors.js';
import type { VolumeFs } from './volume-fs.js';
import { PendingRequests } from './pending-requests.js';
import { RepeatLimiter } from '../repeat-limiter.js';
import { isNoSpace } from '../store/store.js';

const require = createRequire(import.meta.url);
const execFileAsync = promisify(execFile);

type Callback = (result: number, ...values: unknown[]) => void;

interface FuseInstance {
  mount(cb: (error: Error | null) => void): void;
  unmount(cb: (error: Error | null) => void): void;
  revokeReadWindows(ino?: number): void;
  invalidateAttributes(ino: number): void;
}

type FuseConstructor = new (mnt: string, ops: Record<string, unknown>, opts: Record<string, unknown>) => FuseInstance;

function loadFuse(): FuseConstructor {
  return require('fuse-native') as FuseConstructor;
}

/**
 * libfuse options: 128 KiB writes and our inode numbers (so hard links share one). Not
 * `hard_remove`: with it, fstat(2) on a file unlinked while open fails (the kernel asks for its
 * attributes by inode and libfuse 2.9 has no path for it); without it, libfuse
 * renames such a file to `.fuse_hidden*`, which VolumeFs turns into a true unlink.
 */
export const MOUNT_OPTIONS = ['big_writes', 'use_ino', 'default_permissions', 'max_read=131072'];

/** Failures that are not an errno answer are logged, each kind once a minute (see RepeatLimiter). */
const unexpected = new RepeatLimiter();

function errnoOf(error: unknown): number {
  if (error instanceof FsError) return -error.errno;
  // LMDB and the disk say "no space" in several ways; programs should see ENOSPC.
  if (isNoSpace(error)) return -ERRNO.ENOSPC;
  const message = error instanceof Error ? error.message : String(error);
  const said = unexpected.take(message);
  if (said?.repeats === 0) console.error('bazil: file-system call failed (EIO):', error);
  else if (said)
    console.error(`bazil: file-system call failed (EIO): ${message} (${said.repeats} more since it was logged)`);
  return -ERRNO.EIO;
}

function opsFor(fs: VolumeFs, pending: PendingRequests): Record<string, unknown> {
  /**
   * Runs a call and answers FUSE: an error as -errno, a result through `answer`. A call answered
   * later is watched until then (see PendingRequests).
   */
  function serve<T>(
    op: string,
    path: string | null,
    cb: Callback,
    run: () => T | Promise<T>,
    answer: (value: T) => void = () => cb(0),
  ): void {
    let result: T | Promise<T>;
    try {
      result = run();
    } catch (error) {
      cb(errnoOf(error));
      return;
    }
    if (!(result instanceof Promise)) return answer(result);
    const id = pending.start(op, path);
    result.then(
      (value) => {
        pending.end(id);
        answer(value);
      },
      (error: unknown) => {
        pending.end(id);
        cb(errnoOf(error));
      },
    );
  }

  return {
    init: (cb: Callback) => cb(0),
    statfs: (_path: string, cb: Callback) =>
      serve(
        'statfs',
        null,
        cb,
        () => fs.statfs(),
        (s) => cb(0, s),
      ),
    getattr: (path: string, cb: Callback) =>
      serve(
        'getattr',
        path,
        cb,
        () => fs.getattr(path),
        (s) => cb(0, s),
      ),
    fgetattr: (path: string | null, fd: number, cb: Callback) =>
      serve(
        'fgetattr',
        path,
        cb,
        () => fs.fgetattr(path, fd),
        (s) => cb(0, s),
      ),
    access: (path: string, _mode: number, cb: Callback) => serve('access', path, cb, () => fs.access(path)),
    readdir: (path: string, cb: Callback) =>
      serve(
        'readdir',
        path,
        cb,
        () => fs.readdir(path),
        ({ names, stats }) => cb(0, names, stats),
      ),
    mkdir: (path: string, mode: number, cb: Callback) => serve('mkdir', path, cb, () => fs.mkdir(path, mode)),
    rmdir: (path: string, cb: Callback) => serve('rmdir', path, cb, () => fs.rmdir(path)),
    create: (path: string, mode: number, cb: Callback) =>
      serve(
        'create',
        path,
        cb,
        () => fs.create(path, mode, 0),
        (fd) => cb(0, fd),
      ),
    open: (path: string, flags: number, cb: Callback) =>
      serve(
        'open',
        path,
        cb,
        () => fs.open(path, flags),
        (fd) => cb(0, fd),
      ),
    read: (path: string | null, fd: number, buf: Buffer, len: number, pos: number, cb: Callback) =>
      serve(
        'read',
        path,
        cb,
        () => fs.read(path, fd, buf, len, pos),
        // A loan: libfuse's thread copies the bytes into its buffer and gives the loan back; the
        // bytes past the count become the handle's read window if VolumeFs keeps it (lendWindows).
        (r) => {
          if (typeof r === 'number') return cb(r);
          const { count, loan } = r;
          if (!fs.keepWindow(r)) return cb(count, loan.bytes, loan.pins, loan.pinIndex);
          return cb(count, loan.bytes, loan.pins, loan.pinIndex, r.ino, r.toEnd);
        },
      ),
    write: (path: string | null, fd: number, buf: Buffer, len: number, pos: number, cb: Callback) => {
      const write = () => fs.write(path, fd, buf.subarray(0, len), pos);
      const room = fs.waitForWriteRoom();
      serve(
        'write',
        path,
        cb,
        // Over the dirty cap: libfuse's buffer stays valid until we answer, so the copy can wait.
        room === null ? write : () => room.then(write),
        (n) => cb(n),
      );
    },
    flush: (path: string | null, fd: number, cb: Callback) => serve('flush', path, cb, () => fs.flush(path, fd)),
    fsync: (path: string | null, _datasync: number, fd: number, cb: Callback) =>
      serve('fsync', path, cb, () => fs.fsync(path, fd)),
    fsyncdir: (path: string, _datasync: number, _fd: number, cb: Callback) =>
      serve('fsyncdir', path, cb, () => fs.fsyncdir(path)),
    release: (path: string | null, fd: number, cb: Callback) => serve('release', path, cb, () => fs.release(path, fd)),
    truncate: (path: string, size: number, cb: Callback) => serve('truncate', path, cb, () => fs.truncate(path, size)),
    ftruncate: (path: string | null, fd: number, size: number, cb: Callback) =>
      serve('ftruncate', path, cb, () => fs.ftruncate(path, fd, size)),
    unlink: (path: string, cb: Callback) => serve('unlink', path, cb, () => fs.unlink(path)),
    rename: (from: string, to: string, cb: Callback) => serve('rename', from, cb, () => fs.rename(from, to)),
    link: (existing: string, path: string, cb: Callback) => serve('link', path, cb, () => fs.link(existing, path)),
    symlink: (target: string, path: string, cb: Callback) => serve('symlink', path, cb, () => fs.symlink(target, path)),
    readlink: (path: string, cb: Callback) =>
      serve(
        'readlink',
        path,
        cb,
        () => fs.readlink(path),
        (target) => cb(0, target),
      ),
    chmod: (path: string, mode: number, cb: Callback) => serve('chmod', path, cb, () => fs.chmod(path, mode)),
    chown: (path: string, uid: number, gid: number, cb: Callback) =>
      serve('chown', path, cb, () => fs.chown(path, uid, gid)),
    utimens: (path: string, atimeNs: bigint | null, mtimeNs: bigint | null, cb: Callback) =>
      serve('utimens', path, cb, () => fs.utimens(path, atimeNs, mtimeNs)),
    setxattr: (path: string, name: string, value: Buffer, _position: number, flags: number, cb: Callback) =>
      serve('setxattr', path, cb, () => fs.setxattr(path, name, value, flags)),
    getxattr: (path: string, name: string, _position: number, cb: Callback) =>
      serve(
        'getxattr',
        path,
        cb,
        () => fs.getxattr(path, name),
        (value) => cb(0, Buffer.from(value)),
      ),
    listxattr: (path: string, cb: Callback) =>
      serve(
        'listxattr',
        path,
        cb,
        () => fs.listxattr(path),
        (names) => cb(0, names),
      ),
    removexattr: (path: string, name: string, cb: Callback) =>
      serve('removexattr', path, cb, () => fs.removexattr(path, name)),
  };
}

export class UnstoredDataError extends Error {
  constructor(volumeName: string, cause: unknown) {
    super(
      `volume ${quote(volumeName)} has data that could not be stored (${cause instanceof Error ? cause.message : String(cause)}); ` +
        'free space and try again, or use --force (the unstored data is then lost)',
    );
  }
}

export class FuseMount {
  private fuse: FuseInstance | null = null;
  private stopWindows: () => void = () => undefined;
  private readonly pending: PendingRequests;

  constructor(
    readonly mountpoint: string,
    private readonly fs: VolumeFs,
  ) {
    this.pending = new PendingRequests(fs.volumeName);
  }

  async mount(): Promise<void> {
    const Fuse = loadFuse();
    const fuse = new Fuse(this.mountpoint, opsFor(this.fs, this.pending), {
      // A flush of a large dirty file may take longer than fuse-native's 15 s default.
      timeout: false,
      fsname: `bazil:${this.fs.volumeName}`,
      subtype: 'bazil',
      options: MOUNT_OPTIONS,
    });
    await new Promise<void>((resolve, reject) => fuse.mount((error) => (error ? reject(error) : resolve())));
    this.fuse = fuse;
    this.lendWindows(fuse);
    this.fs.setAttributeInvalidation((ino) => fuse.invalidateAttributes(ino));
  }

  /**
   * Stores every dirty file, then unmounts. The kernel refuses while a program has a file or
   * directory open in the mount (EBUSY), unless `detachIfBusy`: then the mount is detached from
   * the tree and its programs get errors from then on. Says whether every dirty file was stored
   * (not so only when `detachIfBusy` went on past a store that failed).
   */
  async unmount({ detachIfBusy = false } = {}): Promise<{ stored: boolean }> {
    const fuse = this.fuse;
    if (!fuse) return { stored: true };
    let stored = true;
    try {
      await this.fs.flushAll();
    } catch (error) {
      // Dirty data that cannot be stored (a full disk) keeps the volume mounted, unless forced.
      if (!detachIfBusy) throw new UnstoredDataError(this.fs.volumeName, error);
      stored = false;
      console.error(`bazil: volume ${quote(this.fs.volumeName)} unmounted with data that could not be stored:`, error);
    }
    if (detachIfBusy) await execFileAsync('fusermount', ['-uz', this.mountpoint]).catch(() => undefined);
    // No window may outlive the mount (each holds a slot of the chunk cache): stopped first, and
    // lent again if the mount turns out to be busy.
    this.stopWindows();
    try {
      await new Promise<void>((resolve, reject) => fuse.unmount((error) => (error ? reject(error) : resolve())));
    } catch (error) {
      this.lendWindows(fuse);
      throw error;
    }
    this.fs.setAttributeInvalidation(null);
    this.fs.close();
    this.pending.close();
    this.fuse = null;
    return { stored };
  }

  /** Lets VolumeFs lend read windows to the binding, which keeps them until revoked. */
  private lendWindows(fuse: FuseInstance): void {
    this.stopWindows = this.fs.lendWindows((ino) => fuse.revokeReadWindows(ino));
  }
}

/** Clears a mount left by a crashed engine ("Transport endpoint is not connected"). */
export async function clearDeadMount(mountpoint: string): Promise<void> {
  try {
    await execFileAsync('fusermount', ['-u', mountpoint]);
  } catch {
    await execFileAsync('umount', ['-l', mountpoint]);
  }
}
