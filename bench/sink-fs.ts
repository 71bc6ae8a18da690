/**
 * The sink: a do-nothing FUSE file system, the ceiling of our fuse-native binding. It is mounted
 * with the same patched binding and the same libfuse options as Bazil (MOUNT_OPTIONS, imported from
 * the engine so the two cannot drift), and it runs in its own process: the bench drives the mount
 * from child processes, never from the process that serves it.
 *
 * Files keep a size and nothing else: create/open/write succeed without storing (write answers
 * len), read fills zeros up to the size, getattr reports the size written. Directories exist so
 * the small-file test can run here too.
 *
 * Usage (by bench.ts): node dist/bench/sink-fs.js MOUNTPOINT
 * Prints "ready" once mounted; unmounts and exits on SIGTERM, SIGINT or when the parent's IPC
 * channel closes (the bench died).
 */
import { createRequire } from 'node:module';
import { MOUNT_OPTIONS } from '../src-main/engine/fs/fuse-mount.js';

const require = createRequire(import.meta.url);

type Callback = (result: number, ...values: unknown[]) => void;
interface FuseInstance {
  mount(cb: (error: Error | null) => void): void;
  unmount(cb: (error: Error | null) => void): void;
}
type FuseConstructor = new (mnt: string, ops: Record<string, unknown>, opts: Record<string, unknown>) => FuseInstance;

const Fuse = require('fuse-native') as FuseConstructor;

const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const ENOENT = -2;
const EEXIST = -17;
const ENOTDIR = -20;
const EBADF = -9;

interface Node {
  ino: number;
  mode: number;
  size: number;
  nlink: number;
  timeNs: bigint;
}

const nodes = new Map<string, Node>();
const handles = new Map<number, Node>();
let nextIno = 2;
let nextFh = 1;
const uid = process.getuid?.() ?? 0;
const gid = process.getgid?.() ?? 0;
const nowNs = () => BigInt(Date.now()) * 1_000_000n;

nodes.set('/', { ino: 1, mode: S_IFDIR | 0o755, size: 4096, nlink: 2, timeNs: nowNs() });

function statOf(node: Node) {
  return {
    mode: node.mode,
    uid,
    gid,
    size: node.size,
    dev: 0,
    nlink: node.nlink,
    ino: node.ino,
    rdev: 0,
    blksize: 4096,
    blocks: Math.ceil(node.size / 512),
    atimeNs: node.timeNs,
    mtimeNs: node.timeNs,
    ctimeNs: node.timeNs,
  };
}

function parentOf(path: string): string {
  const slash = path.lastIndexOf('/');
  return slash <= 0 ? '/' : path.slice(0, slash);
}

function add(path: string, mode: number): Node | number {
  if (nodes.has(path)) return EEXIST;
  const parent = nodes.get(parentOf(path));
  if (!parent) return ENOENT;
  if ((parent.mode & S_IFDIR) === 0) return ENOTDIR;
  const node: Node = { ino: nextIno++, mode, size: 0, nlink: mode & S_IFDIR ? 2 : 1, timeNs: nowNs() };
  nodes.set(path, node);
  return node;
}

function openHandle(node: Node): number {
  const fh = nextFh++;
  handles.set(fh, node);
  return fh;
}

const ops: Record<string, unknown> = {
  init: (cb: Callback) => cb(0),
  statfs: (_path: string, cb: Callback) =>
    cb(0, {
      bsize: 4096,
      frsize: 4096,
      blocks: 2 ** 30,
      bfree: 2 ** 30,
      bavail: 2 ** 30,
      files: 2 ** 32,
      ffree: 2 ** 32 - 1,
      favail: 2 ** 32 - 1,
      fsid: 1,
      flag: 0,
      namemax: 255,
    }),
  getattr: (path: string, cb: Callback) => {
    const node = nodes.get(path);
    if (!node) return cb(ENOENT);
    cb(0, statOf(node));
  },
  fgetattr: (path: string | null, fh: number, cb: Callback) => {
    const node = handles.get(fh) ?? (path === null ? undefined : nodes.get(path));
    if (!node) return cb(ENOENT);
    cb(0, statOf(node));
  },
  access: (path: string, _mode: number, cb: Callback) => cb(nodes.has(path) ? 0 : ENOENT),
  readdir: (path: string, cb: Callback) => {
    const dir = nodes.get(path);
    if (!dir) return cb(ENOENT);
    const prefix = path === '/' ? '/' : `${path}/`;
    const names = ['.', '..'];
    for (const name of nodes.keys()) {
      if (name !== '/' && name.startsWith(prefix) && !name.slice(prefix.length).includes('/')) {
        names.push(name.slice(prefix.length));
      }
    }
    cb(0, names);
  },
  mkdir: (path: string, mode: number, cb: Callback) => {
    const node = add(path, S_IFDIR | (mode & 0o7777));
    cb(typeof node === 'number' ? node : 0);
  },
  create: (path: string, mode: number, cb: Callback) => {
    const node = add(path, S_IFREG | (mode & 0o7777));
    if (typeof node === 'number') return cb(node);
    cb(0, openHandle(node));
  },
  open: (path: string, _flags: number, cb: Callback) => {
    const node = nodes.get(path);
    if (!node) return cb(ENOENT);
    cb(0, openHandle(node));
  },
  read: (_path: string | null, fh: number, buf: Buffer, len: number, pos: number, cb: Callback) => {
    const node = handles.get(fh);
    if (!node) return cb(EBADF);
    const n = Math.max(0, Math.min(len, node.size - pos));
    buf.fill(0, 0, n);
    cb(n);
  },
  write: (_path: string | null, fh: number, _buf: Buffer, len: number, pos: number, cb: Callback) => {
    const node = handles.get(fh);
    if (!node) return cb(EBADF);
    if (pos + len > node.size) node.size = pos + len;
    cb(len);
  },
  truncate: (path: string, size: number, cb: Callback) => {
    const node = nodes.get(path);
    if (!node) return cb(ENOENT);
    node.size = size;
    cb(0);
  },
  ftruncate: (_path: string | null, fh: number, size: number, cb: Callback) => {
    const node = handles.get(fh);
    if (!node) return cb(EBADF);
    node.size = size;
    cb(0);
  },
  flush: (_path: string | null, _fh: number, cb: Callback) => cb(0),
  fsync: (_path: string | null, _datasync: number, _fh: number, cb: Callback) => cb(0),
  release: (_path: string | null, fh: number, cb: Callback) => {
    handles.delete(fh);
    cb(0);
  },
  unlink: (path: string, cb: Callback) => cb(nodes.delete(path) ? 0 : ENOENT),
  rmdir: (path: string, cb: Callback) => cb(nodes.delete(path) ? 0 : ENOENT),
  utimens: (_path: string, _atime: unknown, _mtime: unknown, cb: Callback) => cb(0),
  chmod: (_path: string, _mode: number, cb: Callback) => cb(0),
  chown: (_path: string, _uid: number, _gid: number, cb: Callback) => cb(0),
};

const mountpoint = process.argv[2];
if (!mountpoint) {
  console.error('usage: node dist/bench/sink-fs.js MOUNTPOINT');
  process.exit(2);
}

const fuse = new Fuse(mountpoint, ops, {
  // As Bazil's FuseMount: no per-op timeout, the engine's libfuse options.
  timeout: false,
  fsname: 'bazil-sink',
  subtype: 'bazil-sink',
  options: MOUNT_OPTIONS,
});

let stopping = false;
function stop(): void {
  if (stopping) return;
  stopping = true;
  fuse.unmount((error) => {
    if (error) console.error(`sink: unmount failed: ${error.message}`);
    process.exit(error ? 1 : 0);
  });
}

fuse.mount((error) => {
  if (error) {
    console.error(`sink: mount failed: ${error.message}`);
    process.exit(1);
  }
  console.log(`ready ${MOUNT_OPTIONS.join(',')}`);
});
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
process.on('disconnect', stop);
