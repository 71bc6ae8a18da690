/**
 * A test double for the FUSE addon's users: a small in-memory file system written directly on the
 * Addon protocol of src-main/engine/fuse/addon.ts. Not product code (Bazil's file system is
 * src-main/engine/fs); it exists so the addon's tests can mount something real.
 *
 * It keeps each inode's lookup count as the kernel does (+1 per entry reply and per packed
 * READDIRPLUS entry, -nlookup per FORGET) and frees an inode once it is unlinked, forgotten and
 * closed. A test can hold a request's answer back (`hold`), count what arrived (`seen`), and
 * change the tree behind the kernel's back (`node`, `renameBehind`).
 */
import type {
  Addon,
  Attr,
  DirEntryPlus,
  Entry,
  Granted,
  MountOptions,
  OpenFlags,
  Request,
  Session,
  SetattrChanges,
} from '../../src-main/engine/fuse/addon.js';

const S_IFMT = 0o170000;
const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const S_IFLNK = 0o120000;
const O_TRUNC = 0o1000;
const RENAME_NOREPLACE = 1;
const RENAME_EXCHANGE = 2;
const XATTR_CREATE = 1;
const XATTR_REPLACE = 2;
const SEEK_DATA = 3;
const SEEK_HOLE = 4;

export const ERRNO = {
  ENOENT: 2,
  EIO: 5,
  ENXIO: 6,
  EBADF: 9,
  EEXIST: 17,
  ENOTDIR: 20,
  EISDIR: 21,
  EINVAL: 22,
  ENOTEMPTY: 39,
  ENODATA: 61,
  EOPNOTSUPP: 95,
} as const;

class FsError extends Error {
  constructor(readonly errno: number) {
    super(`errno ${errno}`);
  }
}

export interface Node {
  ino: number;
  generation: number;
  mode: number;
  nlink: number;
  uid: number;
  gid: number;
  rdev: number;
  data: Buffer;
  target: string;
  /** Directories: name → ino. */
  entries: Map<string, number> | null;
  /** Directories: the parent's ino. */
  parent: number;
  xattrs: Map<string, Buffer>;
  atimeNs: bigint;
  mtimeNs: bigint;
  ctimeNs: bigint;
  /** The kernel's lookup count of this inode, as the replies made it. */
  lookups: number;
  /** Lookups given by packed READDIRPLUS entries, in all (forgets do not take them back). */
  dirplusLookups: number;
  openCount: number;
}

export const TEST_MOUNT_OPTIONS: MountOptions = {
  fsName: 'bazil-test:memory',
  subtype: 'bazil-test',
  allowOther: false,
  defaultPermissions: true,
  writebackCache: false,
  readdirplus: true,
  parallelDirops: true,
  maxWriteBytes: 1 << 20,
  maxReadaheadBytes: 1 << 20,
};

const nowNs = () => BigInt(Date.now()) * 1_000_000n;

interface Handle {
  ino: number;
  /** Directories: the names listed at opendir, so offsets stay put while the listing is read. */
  listing: string[] | null;
}

export class MemoryFs {
  readonly nodes = new Map<number, Node>();
  session: Session | null = null;
  granted: Granted | null = null;
  /** How many requests of each op arrived. */
  readonly seen = new Map<string, number>();
  /** The most requests one `take` returned. */
  mostTaken = 0;
  /** How many READDIRPLUS requests there were and how many entries each packed. */
  readonly readdirplusPacked: number[] = [];
  /** Return a promise to answer `request` only once it settles. */
  hold: ((request: Request) => Promise<void> | void) | null = null;
  /** Failures of the addon's reply calls (a correct run has none). */
  readonly replyErrors: unknown[] = [];
  entryTimeoutS = 1;
  attrTimeoutS = 1;
  /** How files are opened (keepCache: the kernel keeps their pages across opens). */
  openFlags: OpenFlags = {};
  /** Once every request taken is answered, await the next awake this long (0: never), as the engine does. */
  awaitMicros = 0;
  /** How often awaiting awake brought a request in. */
  awaitedRequests = 0;
  private nextIno = 2;
  private nextFh = 1;
  private readonly handles = new Map<number, Handle>();

  constructor(readonly addon: Addon) {
    this.nodes.set(1, this.newNode(1, S_IFDIR | 0o755, process.getuid?.() ?? 0, process.getgid?.() ?? 0, 1));
    this.nodes.get(1)!.nlink = 2;
  }

  async mount(mountpoint: string, options: Partial<MountOptions> = {}): Promise<Granted> {
    const { session, granted } = await this.addon.mount(mountpoint, { ...TEST_MOUNT_OPTIONS, ...options }, () =>
      this.drain(),
    );
    this.session = session;
    this.granted = granted;
    return granted;
  }

  unmount(detach = false): Promise<void> {
    return this.addon.unmount(this.session!, detach);
  }

  /** The node at a path relative to the root ("a/b"), or undefined. */
  node(path: string): Node | undefined {
    let node = this.nodes.get(1);
    for (const name of path.split('/').filter(Boolean)) {
      const ino = node?.entries?.get(name);
      node = ino === undefined ? undefined : this.nodes.get(ino);
    }
    return node;
  }

  /** Adds a file without the kernel knowing (in a folder the kernel has not listed yet). */
  addBehind(dirPath: string, name: string, content: string): Node {
    const node = this.add(this.node(dirPath)!.ino, name, S_IFREG | 0o644, { uid: 0, gid: 0 });
    node.data = Buffer.from(content);
    return node;
  }

  /** Renames an entry without the kernel knowing (as a restore or another name's change would). */
  renameBehind(dirPath: string, from: string, to: string): void {
    const dir = this.node(dirPath)!;
    const ino = dir.entries!.get(from)!;
    dir.entries!.delete(from);
    dir.entries!.set(to, ino);
  }

  /** Inodes other than the root that the kernel still holds lookups on. */
  looked(): Node[] {
    return [...this.nodes.values()].filter((n) => n.ino !== 1 && n.lookups !== 0);
  }

  private drain(): void {
    const until = performance.now() + 2;
    for (;;) {
      let heldAny = false;
      const taken = this.addon.take(this.session!);
      this.mostTaken = Math.max(this.mostTaken, taken.length);
      for (const request of taken) {
        this.seen.set(request.op, (this.seen.get(request.op) ?? 0) + 1);
        const held = this.hold?.(request);
        heldAny ||= Boolean(held);
        if (held) void held.then(() => this.serve(request));
        else this.serve(request);
      }
      if (this.awaitMicros === 0 || heldAny || performance.now() > until) return;
      if (!this.addon.awaitRequests(this.session!, this.awaitMicros)) return;
      this.awaitedRequests++;
    }
  }

  private serve(request: Request): void {
    try {
      this.answer(request);
    } catch (error) {
      if (!(error instanceof FsError)) this.replyErrors.push(error);
      try {
        this.addon.replyErr(this.session!, request.id, error instanceof FsError ? error.errno : ERRNO.EIO);
      } catch (again) {
        this.replyErrors.push(again);
      }
    }
  }

  private newNode(ino: number, mode: number, uid: number, gid: number, parent: number): Node {
    const now = nowNs();
    return {
      ino,
      generation: 1,
      mode,
      nlink: 1,
      uid,
      gid,
      rdev: 0,
      data: Buffer.alloc(0),
      target: '',
      entries: (mode & S_IFMT) === S_IFDIR ? new Map() : null,
      parent,
      xattrs: new Map(),
      atimeNs: now,
      mtimeNs: now,
      ctimeNs: now,
      lookups: 0,
      dirplusLookups: 0,
      openCount: 0,
    };
  }

  private get(ino: number): Node {
    const node = this.nodes.get(ino);
    if (!node) throw new FsError(ERRNO.ENOENT);
    return node;
  }

  private dir(ino: number): Node {
    const node = this.get(ino);
    if (!node.entries) throw new FsError(ERRNO.ENOTDIR);
    return node;
  }

  private child(parent: number, name: string): Node {
    const ino = this.dir(parent).entries!.get(name);
    if (ino === undefined) throw new FsError(ERRNO.ENOENT);
    return this.get(ino);
  }

  attr(node: Node): Attr {
    const size = (node.mode & S_IFMT) === S_IFLNK ? Buffer.byteLength(node.target) : node.data.length;
    return {
      ino: node.ino,
      mode: node.mode,
      nlink: node.nlink,
      uid: node.uid,
      gid: node.gid,
      rdev: node.rdev,
      size,
      blocks: Math.ceil(size / 512),
      atimeNs: node.atimeNs,
      mtimeNs: node.mtimeNs,
      ctimeNs: node.ctimeNs,
    };
  }

  private entry(node: Node): Entry {
    return {
      ino: node.ino,
      generation: node.generation,
      attr: this.attr(node),
      entryTimeoutS: this.entryTimeoutS,
      attrTimeoutS: this.attrTimeoutS,
    };
  }

  private replyEntry(id: number, node: Node): void {
    node.lookups++;
    this.addon.replyEntry(this.session!, id, this.entry(node));
  }

  private add(parent: number, name: string, mode: number, caller: { uid: number; gid: number }): Node {
    const dir = this.dir(parent);
    if (dir.entries!.has(name)) throw new FsError(ERRNO.EEXIST);
    const node = this.newNode(this.nextIno++, mode, caller.uid, caller.gid, parent);
    this.nodes.set(node.ino, node);
    dir.entries!.set(name, node.ino);
    if (node.entries) {
      node.nlink = 2;
      dir.nlink++;
    }
    dir.mtimeNs = dir.ctimeNs = nowNs();
    return node;
  }

  /** Takes `name` out of `parent`: one link less, and the inode freed when nothing holds it. */
  private drop(parent: Node, name: string): void {
    const node = this.get(parent.entries!.get(name)!);
    parent.entries!.delete(name);
    if (node.entries) {
      node.nlink = 0;
      parent.nlink--;
    } else {
      node.nlink--;
    }
    node.ctimeNs = parent.mtimeNs = parent.ctimeNs = nowNs();
    this.maybeFree(node);
  }

  private maybeFree(node: Node): void {
    if (node.nlink <= 0 && node.lookups <= 0 && node.openCount <= 0) this.nodes.delete(node.ino);
  }

  private setattr(node: Node, changes: SetattrChanges): void {
    const now = nowNs();
    if (changes.mode !== undefined) node.mode = (node.mode & S_IFMT) | (changes.mode & 0o7777);
    if (changes.uid !== undefined) node.uid = changes.uid;
    if (changes.gid !== undefined) node.gid = changes.gid;
    if (changes.size !== undefined) {
      const data = Buffer.alloc(changes.size);
      node.data.copy(data, 0, 0, Math.min(changes.size, node.data.length));
      node.data = data;
      node.mtimeNs = now;
    }
    if (changes.atimeNs !== undefined) node.atimeNs = changes.atimeNs === 'now' ? now : changes.atimeNs;
    if (changes.mtimeNs !== undefined) node.mtimeNs = changes.mtimeNs === 'now' ? now : changes.mtimeNs;
    node.ctimeNs = changes.ctimeNs ?? now;
  }

  private write(node: Node, offset: number, data: Uint8Array): void {
    const end = offset + data.length;
    if (end > node.data.length) {
      const grown = Buffer.alloc(end);
      node.data.copy(grown);
      node.data = grown;
    }
    node.data.set(data, offset);
    node.mtimeNs = node.ctimeNs = nowNs();
  }

  private rename(r: Extract<Request, { op: 'rename' }>): void {
    const from = this.dir(r.parent);
    const to = this.dir(r.newParent);
    const moving = this.child(r.parent, r.name);
    const replaced = to.entries!.get(r.newName);
    if (r.flags & RENAME_EXCHANGE) {
      if (replaced === undefined) throw new FsError(ERRNO.ENOENT);
      from.entries!.set(r.name, replaced);
      to.entries!.set(r.newName, moving.ino);
      return;
    }
    if (replaced !== undefined) {
      if (r.flags & RENAME_NOREPLACE) throw new FsError(ERRNO.EEXIST);
      if (replaced === moving.ino) return;
      const target = this.get(replaced);
      if (target.entries && !moving.entries) throw new FsError(ERRNO.EISDIR);
      if (!target.entries && moving.entries) throw new FsError(ERRNO.ENOTDIR);
      if (target.entries && target.entries.size > 0) throw new FsError(ERRNO.ENOTEMPTY);
      this.drop(to, r.newName);
    }
    from.entries!.delete(r.name);
    to.entries!.set(r.newName, moving.ino);
    if (moving.entries && from !== to) {
      moving.parent = to.ino;
      from.nlink--;
      to.nlink++;
    }
    moving.ctimeNs = from.mtimeNs = to.mtimeNs = nowNs();
  }

  private readdir(r: Extract<Request, { op: 'readdirplus' }>): void {
    const handle = this.handles.get(r.fh);
    if (!handle?.listing) throw new FsError(ERRNO.EBADF);
    const dir = this.dir(handle.ino);
    const entries: DirEntryPlus[] = [];
    for (let i = r.offset; i < handle.listing.length; i++) {
      const name = handle.listing[i]!;
      let node: Node | undefined;
      if (name === '.') node = dir;
      else if (name === '..') node = this.nodes.get(dir.parent) ?? dir;
      else node = this.nodes.get(dir.entries!.get(name) ?? -1);
      if (!node) continue; // removed since opendir
      entries.push({ name, nextOffset: i + 1, entry: this.entry(node) });
    }
    const packed = this.addon.replyDirPlus(this.session!, r.id, entries);
    this.readdirplusPacked.push(packed);
    // Each packed entry but "." and ".." is a lookup the kernel will forget.
    for (const { name, entry } of entries.slice(0, packed)) {
      if (name === '.' || name === '..' || entry.ino === 0) continue;
      const node = this.get(entry.ino);
      node.lookups++;
      node.dirplusLookups++;
    }
  }

  private answer(r: Request): void {
    const { addon } = this;
    const session = this.session!;
    switch (r.op) {
      case 'lookup':
        return this.replyEntry(r.id, this.child(r.parent, r.name));
      case 'forget': {
        const node = this.nodes.get(r.ino);
        if (node) {
          node.lookups -= r.nlookup;
          this.maybeFree(node);
        }
        return addon.replyNone(session, r.id);
      }
      case 'getattr':
        return addon.replyAttr(session, r.id, this.attr(this.get(r.ino)), this.attrTimeoutS);
      case 'setattr': {
        const node = this.get(r.ino);
        this.setattr(node, r.changes);
        return addon.replyAttr(session, r.id, this.attr(node), this.attrTimeoutS);
      }
      case 'readlink':
        return addon.replyReadlink(session, r.id, this.get(r.ino).target);
      case 'mknod': {
        const node = this.add(r.parent, r.name, r.mode, r);
        node.rdev = r.rdev;
        return this.replyEntry(r.id, node);
      }
      case 'mkdir':
        return this.replyEntry(r.id, this.add(r.parent, r.name, S_IFDIR | (r.mode & 0o7777), r));
      case 'symlink': {
        const node = this.add(r.parent, r.name, S_IFLNK | 0o777, r);
        node.target = r.target;
        return this.replyEntry(r.id, node);
      }
      case 'unlink': {
        const dir = this.dir(r.parent);
        if (this.child(r.parent, r.name).entries) throw new FsError(ERRNO.EISDIR);
        this.drop(dir, r.name);
        return addon.replyErr(session, r.id, 0);
      }
      case 'rmdir': {
        const dir = this.dir(r.parent);
        const node = this.child(r.parent, r.name);
        if (!node.entries) throw new FsError(ERRNO.ENOTDIR);
        if (node.entries.size > 0) throw new FsError(ERRNO.ENOTEMPTY);
        this.drop(dir, r.name);
        return addon.replyErr(session, r.id, 0);
      }
      case 'rename':
        this.rename(r);
        return addon.replyErr(session, r.id, 0);
      case 'link': {
        const node = this.get(r.ino);
        const dir = this.dir(r.newParent);
        if (dir.entries!.has(r.newName)) throw new FsError(ERRNO.EEXIST);
        dir.entries!.set(r.newName, node.ino);
        node.nlink++;
        node.ctimeNs = nowNs();
        return this.replyEntry(r.id, node);
      }
      case 'open': {
        const node = this.get(r.ino);
        if (r.flags & O_TRUNC) this.setattr(node, { size: 0 });
        return addon.replyOpen(session, r.id, this.open(node, null), this.openFlags);
      }
      case 'create': {
        const node = this.add(r.parent, r.name, S_IFREG | (r.mode & 0o7777), r);
        node.lookups++;
        return addon.replyCreate(session, r.id, this.entry(node), this.open(node, null), {});
      }
      case 'read': {
        const data = this.get(r.ino).data;
        return addon.replyData(session, r.id, [data.subarray(r.offset, r.offset + r.size)]);
      }
      case 'write':
        this.write(this.get(r.ino), r.offset, r.data);
        return addon.replyWrite(session, r.id, r.data.length);
      case 'flush':
      case 'fsync':
      case 'fsyncdir':
      case 'access':
        return addon.replyErr(session, r.id, 0);
      case 'release':
      case 'releasedir': {
        const handle = this.handles.get(r.fh);
        this.handles.delete(r.fh);
        const node = handle && this.nodes.get(handle.ino);
        if (node) {
          node.openCount--;
          this.maybeFree(node);
        }
        return addon.replyErr(session, r.id, 0);
      }
      case 'opendir': {
        const dir = this.dir(r.ino);
        return addon.replyOpen(session, r.id, this.open(dir, ['.', '..', ...dir.entries!.keys()]), {});
      }
      case 'readdirplus':
        return this.readdir(r);
      case 'statfs':
        return addon.replyStatfs(session, r.id, {
          bsize: 4096,
          frsize: 4096,
          blocks: 1 << 20,
          bfree: 1 << 19,
          bavail: 1 << 19,
          files: 1 << 20,
          ffree: (1 << 20) - this.nodes.size,
          favail: (1 << 20) - this.nodes.size,
          fsid: 0,
          flag: 0,
          namemax: 255,
        });
      case 'setxattr': {
        const node = this.get(r.ino);
        const exists = node.xattrs.has(r.name);
        if (r.flags & XATTR_CREATE && exists) throw new FsError(ERRNO.EEXIST);
        if (r.flags & XATTR_REPLACE && !exists) throw new FsError(ERRNO.ENODATA);
        node.xattrs.set(r.name, r.value);
        node.ctimeNs = nowNs();
        return addon.replyErr(session, r.id, 0);
      }
      case 'getxattr': {
        const value = this.get(r.ino).xattrs.get(r.name);
        if (!value) throw new FsError(ERRNO.ENODATA);
        if (r.size === 0) return addon.replyXattrSize(session, r.id, value.length);
        return addon.replyData(session, r.id, [value]);
      }
      case 'listxattr': {
        const list = Buffer.from([...this.get(r.ino).xattrs.keys()].map((name) => `${name}\0`).join(''));
        if (r.size === 0) return addon.replyXattrSize(session, r.id, list.length);
        return addon.replyData(session, r.id, [list]);
      }
      case 'removexattr': {
        const node = this.get(r.ino);
        if (!node.xattrs.delete(r.name)) throw new FsError(ERRNO.ENODATA);
        return addon.replyErr(session, r.id, 0);
      }
      case 'lseek': {
        const size = this.get(r.ino).data.length;
        if (r.whence !== SEEK_DATA && r.whence !== SEEK_HOLE) throw new FsError(ERRNO.EINVAL);
        if (r.offset >= size) throw new FsError(ERRNO.ENXIO);
        return addon.replyLseek(session, r.id, r.whence === SEEK_DATA ? r.offset : size);
      }
      case 'fallocate': {
        if (r.mode !== 0) throw new FsError(ERRNO.EOPNOTSUPP);
        const node = this.get(r.ino);
        if (r.offset + r.length > node.data.length) this.setattr(node, { size: r.offset + r.length });
        return addon.replyErr(session, r.id, 0);
      }
    }
  }

  private open(node: Node, listing: string[] | null): number {
    const fh = this.nextFh++;
    this.handles.set(fh, { ino: node.ino, listing });
    node.openCount++;
    return fh;
  }
}
