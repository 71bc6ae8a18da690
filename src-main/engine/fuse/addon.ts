/**
 * The contract with Bazil's own FUSE addon (native/bazil-fuse, C over libfuse3's low-level API):
 * what it exports, the requests it hands to JS and the replies it takes. This file is the truth
 * for both sides; the C code follows it. (One call differs: the addon hands requests over as
 * numbers and names, and load-addon.ts makes the `Request` objects of `take`.)
 *
 * How a request travels:
 * - libfuse's thread reads a request from the kernel, copies what JS needs (names, a write's data)
 *   into the request and queues it; it never waits for JS. It wakes the JS thread (one call of
 *   `onRequests` however many are queued).
 * - JS takes every queued request at once (`take`), works, and answers each with one reply call,
 *   whenever it is ready: in the same turn, or after the disk answered. A request is answered
 *   exactly once; the reply writes the answer to the kernel at once (libfuse's reply functions
 *   are thread-safe), so a read's data goes from JS memory to the kernel with no copy in between.
 * - FORGET (and each entry of a BATCH_FORGET) needs no reply.
 *
 * Memory: no external buffers (Electron's runtime refuses them). Data from the kernel is copied
 * into memory JS owns: an xattr value into a Buffer of its own, a write's bytes into a region of
 * an ArrayBuffer the session keeps and reuses (its `data` is a view of it, valid only until JS
 * returns to the event loop: a write that must wait copies what it keeps; past eight 1 MiB writes
 * in one take, a write gets a Buffer of its own). Data to the kernel is read from JS memory
 * during the reply call.
 *
 * Numbers: inode numbers, file handles, offsets and sizes are JS numbers (they stay below 2^53 in
 * Bazil); a size the kernel sends past 2^53 arrives as Infinity. Times are nanoseconds, as bigint.
 */

/** The request kinds, named as libfuse names the low-level operations. */
export type Op =
  | 'lookup'
  | 'forget'
  | 'getattr'
  | 'setattr'
  | 'readlink'
  | 'mknod'
  | 'mkdir'
  | 'unlink'
  | 'rmdir'
  | 'symlink'
  | 'rename'
  | 'link'
  | 'open'
  | 'read'
  | 'write'
  | 'flush'
  | 'release'
  | 'fsync'
  | 'opendir'
  | 'readdirplus'
  | 'releasedir'
  | 'fsyncdir'
  | 'statfs'
  | 'setxattr'
  | 'getxattr'
  | 'listxattr'
  | 'removexattr'
  | 'access'
  | 'create'
  | 'lseek'
  | 'fallocate';

/** Who asks: the calling process's credentials and umask (from the request header). */
export interface Caller {
  uid: number;
  gid: number;
  pid: number;
  umask: number;
}

interface Base<O extends Op> extends Caller {
  /** This request's number: what its reply takes. */
  id: number;
  op: O;
}

/** setattr: which fields to change (FATTR_* of fuse_lowlevel.h, as named fields). */
export interface SetattrChanges {
  mode?: number;
  uid?: number;
  gid?: number;
  size?: number;
  /** A time in ns, or 'now' (UTIME_NOW). */
  atimeNs?: bigint | 'now';
  mtimeNs?: bigint | 'now';
  ctimeNs?: bigint;
}

export type Request =
  | (Base<'lookup'> & { parent: number; name: string })
  | (Base<'forget'> & { ino: number; nlookup: number })
  | (Base<'getattr'> & { ino: number; fh: number | null })
  | (Base<'setattr'> & { ino: number; fh: number | null; changes: SetattrChanges })
  | (Base<'readlink'> & { ino: number })
  | (Base<'mknod'> & { parent: number; name: string; mode: number; rdev: number })
  | (Base<'mkdir'> & { parent: number; name: string; mode: number })
  | (Base<'unlink'> & { parent: number; name: string })
  | (Base<'rmdir'> & { parent: number; name: string })
  | (Base<'symlink'> & { parent: number; name: string; target: string })
  | (Base<'rename'> & { parent: number; name: string; newParent: number; newName: string; flags: number })
  | (Base<'link'> & { ino: number; newParent: number; newName: string })
  | (Base<'open'> & { ino: number; flags: number })
  | (Base<'read'> & { ino: number; fh: number; size: number; offset: number })
  /** `data`: valid only until JS returns to the event loop (see Memory above). */
  | (Base<'write'> & { ino: number; fh: number; offset: number; data: Uint8Array; flags: number })
  | (Base<'flush'> & { ino: number; fh: number })
  | (Base<'release'> & { ino: number; fh: number; flags: number })
  | (Base<'fsync'> & { ino: number; fh: number; datasync: boolean })
  | (Base<'opendir'> & { ino: number; flags: number })
  | (Base<'readdirplus'> & { ino: number; fh: number; size: number; offset: number })
  | (Base<'releasedir'> & { ino: number; fh: number })
  | (Base<'fsyncdir'> & { ino: number; fh: number; datasync: boolean })
  | (Base<'statfs'> & { ino: number })
  | (Base<'setxattr'> & { ino: number; name: string; value: Buffer; flags: number })
  /** `size` 0 asks for the value's size only (replyXattrSize); else reply the value or ERANGE. */
  | (Base<'getxattr'> & { ino: number; name: string; size: number })
  /** `size` 0 asks for the list's size only. */
  | (Base<'listxattr'> & { ino: number; size: number })
  | (Base<'removexattr'> & { ino: number; name: string })
  | (Base<'access'> & { ino: number; mask: number })
  | (Base<'create'> & { parent: number; name: string; mode: number; flags: number })
  | (Base<'lseek'> & { ino: number; fh: number; offset: number; whence: number })
  | (Base<'fallocate'> & { ino: number; fh: number; mode: number; offset: number; length: number });

/** Attributes as the kernel caches them (struct stat). */
export interface Attr {
  ino: number;
  mode: number;
  nlink: number;
  uid: number;
  gid: number;
  rdev: number;
  size: number;
  /** 512-byte blocks allocated. */
  blocks: number;
  atimeNs: bigint;
  mtimeNs: bigint;
  ctimeNs: bigint;
}

/** An entry the kernel may cache: a name's inode (ino 0 with a timeout: a cached "no such name"). */
export interface Entry {
  ino: number;
  generation: number;
  attr: Attr;
  /** How long the kernel may keep the name, and the attributes, in seconds. */
  entryTimeoutS: number;
  attrTimeoutS: number;
}

/** How a handle is opened (fuse_file_info flags a reply may set). */
export interface OpenFlags {
  directIo?: boolean;
  keepCache?: boolean;
  nonSeekable?: boolean;
  /** For opendir: let the kernel cache the directory's listing. */
  cacheDir?: boolean;
  /** For open: the kernel sends no FLUSH when this handle is closed (FOPEN_NOFLUSH). */
  noFlush?: boolean;
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

/**
 * One entry of a READDIRPLUS answer. For "." and ".." the kernel uses only the inode number and
 * type, and counts no lookup.
 */
export interface DirEntryPlus {
  name: string;
  /** The offset of the entry after this one (what the next READDIRPLUS starts from). */
  nextOffset: number;
  entry: Entry;
}

/** Mount options the addon passes to libfuse and the kernel. */
export interface MountOptions {
  /** Shown in the mount table: "bazil:photos". */
  fsName: string;
  /** fuse.<subtype> is the mount's type: "bazil". */
  subtype: string;
  /** Other users may enter (needs root or user_allow_other in /etc/fuse.conf). */
  allowOther: boolean;
  /** The kernel checks modes (default_permissions). */
  defaultPermissions: boolean;
  /** Capabilities to ask for at INIT (granted only where the kernel offers them). */
  writebackCache: boolean;
  readdirplus: boolean;
  parallelDirops: boolean;
  /** Largest write and read request, in bytes (the kernel may lower it). */
  maxWriteBytes: number;
  maxReadaheadBytes: number;
}

/** What INIT settled: what the kernel granted. */
export interface Granted {
  protocolMajor: number;
  protocolMinor: number;
  maxWriteBytes: number;
  maxReadaheadBytes: number;
  writebackCache: boolean;
  readdirplus: boolean;
  parallelDirops: boolean;
}

/** A mounted session (opaque to JS). */
export type Session = { readonly __session: unique symbol };

/** What native/bazil-fuse exports. */
export interface Addon {
  /**
   * Mounts at `mountpoint` (through fusermount3 for a normal user) and starts serving. Resolves
   * once INIT is answered, with what the kernel granted. `onRequests` is called on the JS thread
   * when requests are queued (once for any number of them): call `take`. It is called once more,
   * with `ended` true, if the kernel ends the connection by itself (an unmount from outside: the
   * session is over, and its requests were answered EIO).
   */
  mount(
    mountpoint: string,
    options: MountOptions,
    onRequests: (ended?: boolean) => void,
  ): Promise<{ session: Session; granted: Granted }>;
  /** Every request queued now (possibly none). */
  take(session: Session): Request[];
  /**
   * Reads `/dev/fuse` for up to `maxMicros` (at most 10,000) without sleeping, until a request
   * comes: true when one did (`take` it now, in this turn), false when the time was up, the
   * session is not serving, or the kernel ended it (`onRequests(true)` follows). For when every
   * request taken is answered and a program that waits for each answer (cp, tar) is likely to ask
   * again within microseconds: the thread stays awake instead of sleeping in the event loop and
   * being woken.
   */
  awaitRequests(session: Session, maxMicros: number): boolean;

  /** An error (a positive errno), or 0: success for a request that returns nothing else. */
  replyErr(session: Session, id: number, errno: number): void;
  /** FORGET: no answer goes to the kernel; frees the request. */
  replyNone(session: Session, id: number): void;
  replyEntry(session: Session, id: number, entry: Entry): void;
  replyCreate(session: Session, id: number, entry: Entry, fh: number, flags: OpenFlags): void;
  replyAttr(session: Session, id: number, attr: Attr, attrTimeoutS: number): void;
  replyReadlink(session: Session, id: number, target: string): void;
  replyOpen(session: Session, id: number, fh: number, flags: OpenFlags): void;
  replyWrite(session: Session, id: number, count: number): void;
  /** READ, GETXATTR, LISTXATTR (a list is names each ended by a NUL): the bytes, one piece or several. */
  replyData(session: Session, id: number, pieces: Uint8Array[]): void;
  replyStatfs(session: Session, id: number, statfs: StatFs): void;
  replyXattrSize(session: Session, id: number, size: number): void;
  replyLseek(session: Session, id: number, offset: number): void;
  /**
   * READDIRPLUS: packs entries in order while they fit in the request's size; returns how many
   * went in. Each packed entry other than "." and ".." is a lookup the kernel will forget.
   */
  replyDirPlus(session: Session, id: number, entries: DirEntryPlus[]): number;

  /**
   * Invalidations, sent on a thread of the addon's (never the JS thread: an invalidation can wait
   * on a page lock held by a read that waits for JS). Fire and forget: ENOENT (the kernel holds
   * no such inode or name) is not an error.
   */
  notifyInvalInode(session: Session, ino: number, offset: number, length: number): void;
  notifyInvalEntry(session: Session, parent: number, name: string): void;
  /**
   * Drops the kernel's cached attributes of `ino` at once, on this thread (no page lock is taken),
   * before the answer that follows: only for the inode of a request not yet answered (the
   * kernel's reference then is not its last, whose drop could write dirty pages back and wait
   * for this thread).
   */
  notifyInvalAttrNow(session: Session, ino: number): void;
  notifyDelete(session: Session, parent: number, child: number, name: string): void;

  /**
   * Unmounts (lazily when `detach`: a program still using the mount then gets errors), stops
   * serving and frees the session; requests still unanswered are answered EIO. Rejects with EBUSY
   * when the mount is in use and not `detach`.
   */
  unmount(session: Session, detach: boolean): Promise<void>;

  // Calls on ordinary files that Node's fs lacks (exporting a snapshot to a directory; collecting
  // garbage on a full disk). Each throws an Error whose `code` is the errno's name (EPERM, ENOTSUP, ...).
  /** Sets the times of `path` itself (a symlink too) to the nanosecond. */
  setTimesNs(path: string, atimeNs: bigint, mtimeNs: bigint): void;
  /** Sets an extended attribute of `path` itself (lsetxattr). */
  setXattr(path: string, name: string, value: Uint8Array): void;
  /** Creates a FIFO, socket or device node (mknod): `mode` has the type bits. */
  makeNode(path: string, mode: number, rdev: number): void;
  /**
   * Gives back the disk blocks of ranges of a file (offset, length pairs), which then read as
   * zeros; the file keeps its size (fallocate's PUNCH_HOLE).
   */
  punchHoles(path: string, ranges: Float64Array): void;
}
