/**
 * The sink: a do-nothing FUSE file system, the ceiling of our binding. It is mounted with Bazil's
 * addon and the same mount options as Bazil (mountOptions, imported from the engine so the two
 * cannot drift), and it runs in its own process: the bench drives the mount from child processes,
 * never from the process that serves it.
 *
 * Files keep a size and nothing else: create/open/write succeed without storing (write answers
 * its length), read answers zeros up to the size, getattr reports the size written. Directories
 * exist so the small-file test can run here too.
 *
 * Usage (by bench.ts): node dist/bench/sink-fs.js MOUNTPOINT
 * Prints "ready" once mounted; unmounts and exits on SIGTERM, SIGINT or when the parent's IPC
 * channel closes (the bench died).
 */
import { ERRNO } from '../src-main/common/errors.js';
import type { Attr, Entry, Request, Session } from '../src-main/engine/fuse/addon.js';
import { mountOptions } from '../src-main/engine/fuse/fuse-mount.js';
import { loadAddon } from '../src-main/engine/fuse/load-addon.js';

const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const ROOT = 1;
const ZEROS = Buffer.alloc(1024 * 1024);

interface Node {
  ino: number;
  mode: number;
  size: number;
  nlink: number;
  timeNs: bigint;
  /** A directory's names. */
  entries: Map<string, number> | null;
}

const nodes = new Map<number, Node>();
const handles = new Map<number, Node>();
let nextIno = 2;
let nextFh = 1;
const uid = process.getuid?.() ?? 0;
const gid = process.getgid?.() ?? 0;
const nowNs = () => BigInt(Date.now()) * 1_000_000n;

nodes.set(ROOT, { ino: ROOT, mode: S_IFDIR | 0o755, size: 4096, nlink: 2, timeNs: nowNs(), entries: new Map() });

function attrOf(node: Node): Attr {
  const { ino, mode, nlink, size, timeNs } = node;
  return {
    ino,
    mode,
    nlink,
    uid,
    gid,
    rdev: 0,
    size,
    blocks: Math.ceil(size / 512),
    atimeNs: timeNs,
    mtimeNs: timeNs,
    ctimeNs: timeNs,
  };
}

function entryOf(node: Node): Entry {
  return { ino: node.ino, generation: 1, attr: attrOf(node), entryTimeoutS: 1, attrTimeoutS: 1 };
}

function add(parent: number, name: string, mode: number): Node | number {
  const dir = nodes.get(parent);
  if (!dir?.entries) return ERRNO.ENOTDIR;
  if (dir.entries.has(name)) return ERRNO.EEXIST;
  const node: Node = {
    ino: nextIno++,
    mode,
    size: 0,
    nlink: mode & S_IFDIR ? 2 : 1,
    timeNs: nowNs(),
    entries: mode & S_IFDIR ? new Map() : null,
  };
  nodes.set(node.ino, node);
  dir.entries.set(name, node.ino);
  return node;
}

const addon = loadAddon();
let session: Session | null = null;

function serve(s: Session, r: Request): void {
  const err = (errno: number) => addon.replyErr(s, r.id, errno);
  switch (r.op) {
    case 'lookup': {
      const ino = nodes.get(r.parent)?.entries?.get(r.name);
      const node = ino === undefined ? undefined : nodes.get(ino);
      return node ? addon.replyEntry(s, r.id, entryOf(node)) : err(ERRNO.ENOENT);
    }
    case 'forget':
      return addon.replyNone(s, r.id);
    case 'getattr': {
      const node = nodes.get(r.ino);
      return node ? addon.replyAttr(s, r.id, attrOf(node), 1) : err(ERRNO.ENOENT);
    }
    case 'setattr': {
      const node = nodes.get(r.ino);
      if (!node) return err(ERRNO.ENOENT);
      if (r.changes.size !== undefined) node.size = r.changes.size;
      return addon.replyAttr(s, r.id, attrOf(node), 1);
    }
    case 'mkdir':
    case 'create': {
      const node = add(r.parent, r.name, (r.op === 'mkdir' ? S_IFDIR : S_IFREG) | (r.mode & 0o7777));
      if (typeof node === 'number') return err(node);
      if (r.op === 'mkdir') return addon.replyEntry(s, r.id, entryOf(node));
      const fh = nextFh++;
      handles.set(fh, node);
      return addon.replyCreate(s, r.id, entryOf(node), fh, { keepCache: true });
    }
    case 'open': {
      const node = nodes.get(r.ino);
      if (!node) return err(ERRNO.ENOENT);
      const fh = nextFh++;
      handles.set(fh, node);
      return addon.replyOpen(s, r.id, fh, { keepCache: true });
    }
    case 'read': {
      const node = handles.get(r.fh);
      if (!node) return err(ERRNO.EBADF);
      const n = Math.max(0, Math.min(r.size, node.size - r.offset, ZEROS.length));
      return addon.replyData(s, r.id, [ZEROS.subarray(0, n)]);
    }
    case 'write': {
      const node = handles.get(r.fh);
      if (!node) return err(ERRNO.EBADF);
      node.size = Math.max(node.size, r.offset + r.data.length);
      return addon.replyWrite(s, r.id, r.data.length);
    }
    case 'release':
      handles.delete(r.fh);
      return err(0);
    case 'opendir':
      return addon.replyOpen(s, r.id, 0, {});
    case 'readdirplus': {
      const dir = nodes.get(r.ino);
      if (!dir?.entries) return err(ERRNO.ENOTDIR);
      const all: [string, Node][] = [
        ['.', dir],
        ['..', dir],
        ...[...dir.entries].map(([name, ino]): [string, Node] => [name, nodes.get(ino)!]),
      ];
      const entries = all
        .slice(r.offset)
        .map(([name, node], i) => ({ name, nextOffset: r.offset + i + 1, entry: entryOf(node) }));
      addon.replyDirPlus(s, r.id, entries);
      return;
    }
    case 'unlink':
    case 'rmdir': {
      const dir = nodes.get(r.parent);
      const ino = dir?.entries?.get(r.name);
      if (ino === undefined) return err(ERRNO.ENOENT);
      dir!.entries!.delete(r.name);
      nodes.delete(ino);
      return err(0);
    }
    case 'statfs':
      return addon.replyStatfs(s, r.id, {
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
      });
    case 'flush':
    case 'fsync':
    case 'releasedir':
    case 'fsyncdir':
    case 'access':
      return err(0);
    default:
      return err(ERRNO.ENOSYS);
  }
}

const mountpoint = process.argv[2];
if (!mountpoint) {
  console.error('usage: node dist/bench/sink-fs.js MOUNTPOINT');
  process.exit(2);
}

let stopping = false;
function stop(): void {
  if (stopping || !session) return;
  stopping = true;
  addon.unmount(session, true).then(
    () => process.exit(0),
    (error: Error) => {
      console.error(`sink: unmount failed: ${error.message}`);
      process.exit(1);
    },
  );
}

const options = { ...mountOptions('bazil-sink'), subtype: 'bazil-sink' };
addon
  .mount(mountpoint, options, () => {
    if (session) for (const request of addon.take(session)) serve(session, request);
  })
  .then(
    ({ session: mounted }) => {
      session = mounted;
      for (const request of addon.take(mounted)) serve(mounted, request);
      console.log('ready');
    },
    (error: Error) => {
      console.error(`sink: mount failed: ${error.message}`);
      process.exit(1);
    },
  );
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
process.on('disconnect', stop);
