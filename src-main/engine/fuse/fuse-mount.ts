/**
 * The FUSE adapter: mounts a VolumeFs with Bazil's addon (native/bazil-fuse, see addon.ts) and
 * turns each kernel request into one call of it, and its result into one reply. It only
 * translates: requests to calls, results to replies, FsError to errno, and it counts the
 * references (lookups) each reply gives the kernel.
 *
 * Requests come in batches (every one queued when the JS thread wakes up) and are answered as
 * each is ready; none waits for another. Nothing in this process may make a synchronous file call
 * into the mount (the request would wait on the thread that must answer it).
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { ERRNO, FsError, quote } from '../../common/errors.js';
import { RepeatLimiter } from '../repeat-limiter.js';
import { isNoSpace } from '../store/store.js';
import { opensReadOnly, type Caller, type VolumeFs } from '../fs/volume-fs.js';
import type { Inode } from '../fs/volume-meta.js';
import type { Addon, DirEntryPlus, Entry, MountOptions, Request, Session } from './addon.js';
import { loadAddon } from './load-addon.js';
import { PendingRequests } from './pending-requests.js';

const execFileAsync = promisify(execFile);

/**
 * How long the kernel may keep names and attributes without asking again. Every change reaches
 * the engine through the kernel, which updates its caches as it goes (the engine will say when it
 * changes something itself: a restore). Measured on the bench's tree of 34,100 entries, right
 * after copying it in: an unchanged `rsync -a` took 6.1-6.4 s with 1 s, as libfuse's default, and
 * 0.69-0.86 s with 60 s; `find` and `ls -lR` 10-20% less.
 */
const ENTRY_TIMEOUT_S = 60;
const ATTR_TIMEOUT_S = 60;
/**
 * How long the thread waits awake for the next request once every one taken is answered
 * (addon.awaitRequests), rather than sleeping in the event loop and being woken: two context
 * switches and, on a VM, an interrupt between processors per request. Measured with `cp -a` of a
 * tree of 6,820 entries, two runs each in two rounds: 9.4-10.1 s without, 6.8-7.8 s at 50 µs,
 * 6.3-7.3 s at 200 µs, no better at 500 or 1,000 µs; the engine's CPU stayed the same.
 */
const SPIN_US = 200;
/** The longest a turn of the event loop goes on serving requests that came while it waited awake. */
const SPIN_TURN_MS = 2;
/** The largest write and read-ahead the kernel may send (it lowers them to what it allows). */
const MAX_WRITE_BYTES = 1024 * 1024;
const MAX_READAHEAD_BYTES = 1024 * 1024;
/** The kernel's size of one READDIRPLUS entry without its name (struct fuse_direntplus). */
const DIRENTPLUS_BYTES = 152;
/** Inode generation: Bazil never reuses an inode number within a volume (see FORMAT.md). */
const GENERATION = 1;

/**
 * The answer to a lookup of a name that does not exist: the kernel keeps the miss as long as a
 * name (a shell's or a build tool's searches ask again and again), and drops it when the name is
 * made, as every name is, through the kernel. Node id 0 is no reference (nothing to forget).
 */
const NEGATIVE_ENTRY: Entry = {
  ino: 0,
  generation: 0,
  attr: {
    ino: 0,
    mode: 0,
    nlink: 0,
    uid: 0,
    gid: 0,
    rdev: 0,
    size: 0,
    blocks: 0,
    atimeNs: 0n,
    mtimeNs: 0n,
    ctimeNs: 0n,
  },
  entryTimeoutS: ENTRY_TIMEOUT_S,
  attrTimeoutS: 0,
};

/** A lookup's inode, or null when the name does not exist (ENOENT); other errors go on. */
function lookupOrNull<T>(lookup: () => T | Promise<T>): T | null | Promise<T | null> {
  const missing = (error: unknown): null => {
    if (error instanceof FsError && error.code === 'ENOENT') return null;
    throw error;
  };
  try {
    const result = lookup();
    return result instanceof Promise ? result.catch(missing) : result;
  } catch (error) {
    return missing(error);
  }
}

export interface FuseMountOptions {
  /** Other users may enter the mount (the kernel checks their modes). */
  allowOther?: boolean;
}

/** The options Bazil mounts with (the bench's sink mounts with the same, so the two cannot drift). */
export function mountOptions(fsName: string, { allowOther = false }: FuseMountOptions = {}): MountOptions {
  return {
    fsName,
    subtype: 'bazil',
    allowOther,
    defaultPermissions: true,
    writebackCache: false,
    readdirplus: true,
    parallelDirops: true,
    maxWriteBytes: MAX_WRITE_BYTES,
    maxReadaheadBytes: MAX_READAHEAD_BYTES,
  };
}

/** Failures that are not an errno answer are logged, each kind once a minute (see RepeatLimiter). */
const unexpected = new RepeatLimiter();

/**
 * The errno a failed call answers. Anything but an errno the call chose (a store that cannot be
 * read, a bug) is EIO: logged, and told to the person through `fs` (an error event), as the
 * program that gets it may say nothing.
 */
function errnoOf(error: unknown, fs: VolumeFs): number {
  if (error instanceof FsError) return error.errno;
  // LMDB and the disk say "no space" in several ways; programs should see ENOSPC.
  if (isNoSpace(error)) return ERRNO.ENOSPC;
  const message = error instanceof Error ? error.message : String(error);
  const said = unexpected.take(message);
  if (said?.repeats === 0) console.error('bazil: file-system call failed (EIO):', error);
  else if (said)
    console.error(`bazil: file-system call failed (EIO): ${message} (${said.repeats} more since it was logged)`);
  fs.reportFailure('eio', `a program's file-system call failed with an I/O error (EIO): ${message}`);
  return ERRNO.EIO;
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
  private addon: Addon | null = null;
  private session: Session | null = null;
  /** Requests woke the JS thread before the mount had its session: served once it has. */
  private wokenEarly = false;
  /** Whether awaiting the next request awake is likely to catch it (see serveQueued). */
  private awaitPays = true;
  /** When the last turn left every request answered (null while some wait for an answer). */
  private idleSince: number | null = null;
  private readonly pending: PendingRequests;

  constructor(
    readonly mountpoint: string,
    private readonly fs: VolumeFs,
    private readonly options: FuseMountOptions = {},
  ) {
    this.pending = new PendingRequests(fs.volumeName);
  }

  async mount(): Promise<void> {
    const addon = loadAddon();
    this.addon = addon;
    const { session } = await addon.mount(
      this.mountpoint,
      mountOptions(`bazil:${this.fs.volumeName}`, this.options),
      (ended) => (ended ? this.endedFromOutside() : this.serveQueued()),
    );
    this.session = session;
    this.fs.onInvalidateEntry = (parent, name) => {
      addon.notifyInvalEntry(session, parent, name);
      // The directory's listing and attributes too (the kernel keeps listings: cacheDir).
      addon.notifyInvalInode(session, parent, 0, 0);
    };
    if (this.wokenEarly) this.serveQueued();
  }

  /** Hears that the mount ended from outside (its dirty data is stored first). */
  onEnded: () => void = () => undefined;

  /**
   * The kernel ended the connection by itself: someone unmounted it (`fusermount3 -u`, `umount`,
   * possible only while no program used it). What is dirty is stored, then the volume is closed.
   */
  private endedFromOutside(): void {
    if (!this.session) return;
    this.session = null;
    this.fs.onInvalidateEntry = () => undefined;
    console.error(
      `bazil: volume ${quote(this.fs.volumeName)} was unmounted from outside (at ${quote(this.mountpoint)})`,
    );
    void this.fs
      .flushAll()
      .catch((error: unknown) => {
        console.error(
          `bazil: volume ${quote(this.fs.volumeName)}: data that could not be stored after its unmount:`,
          error,
        );
        const why = error instanceof Error ? error.message : String(error);
        this.fs.reportFailure('unstored', `data could not be stored after it was unmounted from outside: ${why}`);
      })
      .finally(() => {
        this.fs.close();
        this.pending.close();
        this.onEnded();
      });
  }

  /**
   * Stores every dirty file, then unmounts. The kernel refuses while a program has a file or
   * directory open in the mount (EBUSY), unless `detachIfBusy`: then the mount is detached from
   * the tree and its programs get errors from then on.
   */
  async unmount({ detachIfBusy = false } = {}): Promise<{ stored: boolean }> {
    const { addon, session } = this;
    if (!addon || !session) return { stored: true };
    let stored = true;
    try {
      await this.fs.flushAll();
    } catch (error) {
      // Dirty data that cannot be stored (a full disk) keeps the volume mounted, unless forced.
      if (!detachIfBusy) throw new UnstoredDataError(this.fs.volumeName, error);
      stored = false;
      console.error(`bazil: volume ${quote(this.fs.volumeName)} unmounted with data that could not be stored:`, error);
    }
    this.fs.onInvalidateEntry = () => undefined;
    await addon.unmount(session, detachIfBusy);
    this.session = null;
    this.fs.close();
    this.pending.close();
    return { stored };
  }

  /** Takes every queued request and starts serving each. */
  private serveQueued(): void {
    const { addon, session } = this;
    if (!addon || !session) {
      this.wokenEarly = true;
      return;
    }
    this.wokenEarly = false;
    const woken = performance.now();
    // A request that came within SPIN_US of the last answers: awaiting awake would have caught it.
    if (this.idleSince !== null) this.awaitPays = woken - this.idleSince < SPIN_US / 1000;
    this.idleSince = null;
    const until = woken + SPIN_TURN_MS;
    for (;;) {
      for (const request of addon.take(session)) this.serve(addon, session, request);
      if (this.pending.size > 0 || this.session !== session) return;
      // Everything answered: a program that waits for each answer (cp, tar) asks again within
      // microseconds, so the next request is awaited awake for a moment, as long as that pays
      // (the last wait caught one, or the last request came that soon); programs that ask now
      // and then cost one wait, not one per request.
      if (!this.awaitPays || performance.now() > until) break;
      this.awaitPays = addon.awaitRequests(session, SPIN_US);
      if (!this.awaitPays) break;
    }
    this.idleSince = performance.now();
  }

  private serve(addon: Addon, session: Session, request: Request): void {
    const fs = this.fs;
    const { id } = request;
    const caller: Caller = { uid: request.uid, gid: request.gid };
    const entry = (inode: Inode): Entry => {
      fs.referenced(inode);
      return this.entryOf(inode);
    };
    /** Runs a call; an error is answered as errno, a result through `answer`. */
    const run = <T>(call: () => T | Promise<T>, answer: (value: T) => void): void => {
      let result: T | Promise<T>;
      try {
        result = call();
      } catch (error) {
        addon.replyErr(session, id, errnoOf(error, fs));
        return;
      }
      if (!(result instanceof Promise)) return answer(result);
      const watched = this.pending.start(request.op, null);
      result.then(
        (value) => {
          this.pending.end(watched);
          answer(value);
        },
        (error: unknown) => {
          this.pending.end(watched);
          addon.replyErr(session, id, errnoOf(error, fs));
        },
      );
    };
    const ok = () => addon.replyErr(session, id, 0);
    switch (request.op) {
      case 'lookup':
        return run(
          () => lookupOrNull(() => fs.lookup(request.parent, request.name)),
          (inode) => addon.replyEntry(session, id, inode ? entry(inode) : NEGATIVE_ENTRY),
        );
      case 'forget':
        fs.forget(request.ino, request.nlookup);
        return addon.replyNone(session, id);
      case 'getattr':
        return run(
          () => fs.getattr(request.ino, request.fh),
          (stat) => addon.replyAttr(session, id, stat, ATTR_TIMEOUT_S),
        );
      case 'setattr':
        return run(
          () => fs.setattr(request.ino, request.fh, request.changes),
          (stat) => addon.replyAttr(session, id, stat, ATTR_TIMEOUT_S),
        );
      case 'readlink':
        return run(
          () => fs.readlink(request.ino),
          (target) => addon.replyReadlink(session, id, target),
        );
      case 'mknod':
        return run(
          () => fs.mknod(request.parent, request.name, request.mode, request.rdev, caller),
          (inode) => addon.replyEntry(session, id, entry(inode)),
        );
      case 'mkdir':
        return run(
          () => fs.mkdir(request.parent, request.name, request.mode, caller),
          (inode) => addon.replyEntry(session, id, entry(inode)),
        );
      case 'symlink':
        return run(
          () => fs.symlink(request.parent, request.name, request.target, caller),
          (inode) => addon.replyEntry(session, id, entry(inode)),
        );
      case 'link':
        return run(
          () => fs.link(request.ino, request.newParent, request.newName),
          (inode) => addon.replyEntry(session, id, entry(inode)),
        );
      case 'unlink':
        return run(() => fs.unlink(request.parent, request.name), ok);
      case 'rmdir':
        return run(() => fs.rmdir(request.parent, request.name), ok);
      case 'rename':
        return run(
          () => fs.rename(request.parent, request.name, request.newParent, request.newName, request.flags),
          ok,
        );
      case 'create':
        return run(
          () => fs.createFile(request.parent, request.name, request.mode, request.flags, caller),
          ({ inode, fh }) => addon.replyCreate(session, id, entry(inode), fh, { keepCache: true }),
        );
      case 'open':
        return run(
          () => fs.open(request.ino, request.flags),
          // A handle that cannot write has nothing to store when closed: the kernel sends no
          // FLUSH for it (one round trip fewer for each file a program reads).
          (fh) => addon.replyOpen(session, id, fh, { keepCache: true, noFlush: opensReadOnly(request.flags) }),
        );
      case 'read':
        // The bytes go to the kernel in the call that has them ready (they may be the chunk cache's).
        return run(
          () => fs.read(request.fh, request.size, request.offset, (pieces) => addon.replyData(session, id, pieces)),
          () => undefined,
        );
      case 'write':
        return run(
          () => fs.write(request.fh, request.data, request.offset),
          (count) => addon.replyWrite(session, id, count),
        );
      case 'flush':
        return run(() => fs.flush(request.fh), ok);
      case 'release':
        return run(() => fs.release(request.fh), ok);
      case 'fsync':
        return run(() => fs.fsync(request.fh), ok);
      case 'opendir':
        return run(
          () => fs.opendir(request.ino),
          // The kernel keeps a listing from one opendir to the next (a second `ls`, `find` after
          // `ls -lR`, read no entries from the engine); it drops it when the directory changes
          // through the mount, and the engine tells it of changes made elsewhere (onInvalidateEntry).
          (fh) => addon.replyOpen(session, id, fh, { keepCache: true, cacheDir: true }),
        );
      case 'readdirplus':
        return run(
          () => fs.readdir(request.fh, request.offset, Math.ceil(request.size / DIRENTPLUS_BYTES) + 1),
          (entries) => {
            const plus: DirEntryPlus[] = entries.map(({ name, inode, nextOffset }) => ({
              name,
              nextOffset,
              entry: this.entryOf(inode),
            }));
            const packed = addon.replyDirPlus(session, id, plus);
            // Each entry the kernel got, but "." and "..", is a lookup it will forget.
            for (const { name, inode } of entries.slice(0, packed))
              if (name !== '.' && name !== '..') fs.referenced(inode);
          },
        );
      case 'releasedir':
        fs.releasedir(request.fh);
        return ok();
      case 'fsyncdir':
        return run(() => fs.fsyncdir(request.ino), ok);
      case 'statfs':
        return run(
          () => fs.statfs(),
          (statfs) => addon.replyStatfs(session, id, statfs),
        );
      case 'setxattr':
        return run(
          () => fs.setxattr(request.ino, request.name, request.value, request.flags, caller),
          (modeChanged) => {
            // Before the answer: the program that set the mode sees it in its next stat.
            if (modeChanged) addon.notifyInvalAttrNow(session, request.ino);
            ok();
          },
        );
      case 'getxattr':
        return run(
          () => fs.getxattr(request.ino, request.name),
          (value) => this.replySized(addon, session, id, request.size, value),
        );
      case 'listxattr':
        return run(
          () => fs.listxattr(request.ino),
          (names) =>
            this.replySized(addon, session, id, request.size, Buffer.from(names.map((n) => `${n}\0`).join(''))),
        );
      case 'removexattr':
        return run(() => fs.removexattr(request.ino, request.name), ok);
      case 'access':
        // The kernel checks modes itself (default_permissions): this is only asked with F_OK.
        return run(() => fs.getattr(request.ino, null), ok);
      case 'lseek':
        return run(
          () => fs.lseek(request.fh, request.offset, request.whence),
          (offset) => addon.replyLseek(session, id, offset),
        );
      case 'fallocate':
        return addon.replyErr(session, id, ERRNO.EOPNOTSUPP);
    }
  }

  /** getxattr and listxattr: the size alone when asked with size 0, ERANGE when it does not fit. */
  private replySized(addon: Addon, session: Session, id: number, size: number, value: Uint8Array): void {
    if (size === 0) return addon.replyXattrSize(session, id, value.byteLength);
    if (value.byteLength > size) return addon.replyErr(session, id, ERRNO.ERANGE);
    addon.replyData(session, id, [value]);
  }

  private entryOf(inode: Inode): Entry {
    return {
      ino: inode.ino,
      generation: GENERATION,
      attr: this.fs.stat(inode),
      entryTimeoutS: ENTRY_TIMEOUT_S,
      attrTimeoutS: ATTR_TIMEOUT_S,
    };
  }
}

/** Clears a mount left by a crashed engine ("Transport endpoint is not connected"). */
export async function clearDeadMount(mountpoint: string): Promise<void> {
  try {
    await execFileAsync('fusermount3', ['-uz', mountpoint]);
  } catch {
    await execFileAsync('umount', ['-l', mountpoint]);
  }
}
