/**
 * The sink on Bazil's own addon (native/bazil-fuse): a do-nothing file system on the Addon
 * protocol, the ceiling of the new binding as sink-fs.ts is the old one's. Files keep a size and
 * nothing else: create/open/write succeed without storing (write answers the length), read
 * answers zeros up to the size, getattr reports the size written. Folders exist so small files can
 * be made here too. xattr requests answer ENOSYS, which the kernel remembers, as the old sink's
 * missing xattr handlers do.
 *
 * Usage: node dist/bench/addon-sink-fs.js MOUNTPOINT [MOUNT_OPTIONS_JSON]
 * Prints "ready GRANTED_JSON" once mounted; unmounts and exits on SIGTERM, SIGINT or when the
 * parent's IPC channel closes.
 */
import type { Attr, DirEntryPlus, Entry, MountOptions, Request, Session } from '../src-main/engine/fuse/addon.js';
import { loadAddon } from '../src-main/engine/fuse/load-addon.js';

const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const ENOENT = 2;
const EEXIST = 17;
const ENOTEMPTY = 39;
const ENOSYS = 38;
const TIMEOUT_S = 1;

interface Node {
  ino: number;
  mode: number;
  size: number;
  nlink: number;
  timeNs: bigint;
  entries: Map<string, number> | null;
}

const addon = loadAddon();
const nodes = new Map<number, Node>();
const uid = process.getuid?.() ?? 0;
const gid = process.getgid?.() ?? 0;
const zeros = Buffer.alloc(1 << 20);
let nextIno = 2;

nodes.set(1, {
  ino: 1,
  mode: S_IFDIR | 0o755,
  size: 0,
  nlink: 2,
  timeNs: BigInt(Date.now()) * 1_000_000n,
  entries: new Map(),
});

function attr(node: Node): Attr {
  const t = node.timeNs;
  const { ino, mode, nlink, size } = node;
  return {
    ino,
    mode,
    nlink,
    uid,
    gid,
    rdev: 0,
    size,
    blocks: Math.ceil(size / 512),
    atimeNs: t,
    mtimeNs: t,
    ctimeNs: t,
  };
}

function entry(node: Node): Entry {
  return { ino: node.ino, generation: 1, attr: attr(node), entryTimeoutS: TIMEOUT_S, attrTimeoutS: TIMEOUT_S };
}

function add(parent: number, name: string, mode: number): Node | number {
  const dir = nodes.get(parent)?.entries;
  if (!dir) return ENOENT;
  if (dir.has(name)) return EEXIST;
  const isDir = (mode & S_IFDIR) !== 0;
  const node: Node = {
    ino: nextIno++,
    mode,
    size: 0,
    nlink: isDir ? 2 : 1,
    timeNs: BigInt(Date.now()) * 1_000_000n,
    entries: isDir ? new Map() : null,
  };
  nodes.set(node.ino, node);
  dir.set(name, node.ino);
  return node;
}

function serve(session: Session, r: Request): void {
  switch (r.op) {
    case 'lookup': {
      const ino = nodes.get(r.parent)?.entries?.get(r.name);
      return ino === undefined
        ? addon.replyErr(session, r.id, ENOENT)
        : addon.replyEntry(session, r.id, entry(nodes.get(ino)!));
    }
    case 'forget':
      return addon.replyNone(session, r.id);
    case 'getattr': {
      const node = nodes.get(r.ino);
      return node ? addon.replyAttr(session, r.id, attr(node), TIMEOUT_S) : addon.replyErr(session, r.id, ENOENT);
    }
    case 'setattr': {
      const node = nodes.get(r.ino);
      if (!node) return addon.replyErr(session, r.id, ENOENT);
      if (r.changes.size !== undefined) node.size = r.changes.size;
      return addon.replyAttr(session, r.id, attr(node), TIMEOUT_S);
    }
    case 'mkdir': {
      const node = add(r.parent, r.name, S_IFDIR | (r.mode & 0o7777));
      return typeof node === 'number'
        ? addon.replyErr(session, r.id, node)
        : addon.replyEntry(session, r.id, entry(node));
    }
    case 'create': {
      const node = add(r.parent, r.name, S_IFREG | (r.mode & 0o7777));
      if (typeof node === 'number') return addon.replyErr(session, r.id, node);
      return addon.replyCreate(session, r.id, entry(node), 0, {});
    }
    case 'open':
    case 'opendir':
      return addon.replyOpen(session, r.id, 0, {});
    case 'read': {
      const size = nodes.get(r.ino)?.size ?? 0;
      const n = Math.max(0, Math.min(r.size, size - r.offset));
      return addon.replyData(session, r.id, [zeros.subarray(0, n)]);
    }
    case 'write': {
      const node = nodes.get(r.ino);
      if (node && r.offset + r.data.length > node.size) node.size = r.offset + r.data.length;
      return addon.replyWrite(session, r.id, r.data.length);
    }
    case 'readdirplus': {
      const dir = nodes.get(r.ino)!;
      const names = [...dir.entries!.keys()];
      const list: DirEntryPlus[] = [];
      for (let i = r.offset; i < names.length; i++) {
        list.push({ name: names[i]!, nextOffset: i + 1, entry: entry(nodes.get(dir.entries!.get(names[i]!)!)!) });
      }
      addon.replyDirPlus(session, r.id, list);
      return;
    }
    case 'unlink':
    case 'rmdir': {
      const dir = nodes.get(r.parent)?.entries;
      const ino = dir?.get(r.name);
      if (ino === undefined) return addon.replyErr(session, r.id, ENOENT);
      if (nodes.get(ino)?.entries?.size) return addon.replyErr(session, r.id, ENOTEMPTY);
      dir!.delete(r.name);
      return addon.replyErr(session, r.id, 0);
    }
    case 'flush':
    case 'release':
    case 'fsync':
    case 'releasedir':
    case 'fsyncdir':
    case 'access':
      return addon.replyErr(session, r.id, 0);
    case 'statfs':
      return addon.replyStatfs(session, r.id, {
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
    default:
      return addon.replyErr(session, r.id, ENOSYS);
  }
}

const [mountpoint, optionsJson] = process.argv.slice(2);
if (!mountpoint) {
  console.error('usage: node dist/bench/addon-sink-fs.js MOUNTPOINT [MOUNT_OPTIONS_JSON]');
  process.exit(2);
}
const options: MountOptions = {
  fsName: 'bazil-sink',
  subtype: 'bazil-sink',
  allowOther: false,
  defaultPermissions: true,
  writebackCache: false,
  readdirplus: true,
  parallelDirops: true,
  maxWriteBytes: 1 << 20,
  maxReadaheadBytes: 1 << 20,
  ...(optionsJson ? (JSON.parse(optionsJson) as Partial<MountOptions>) : {}),
};
// The addon calls onRequests only once the mount's promise has settled: `session` is set by then.
const { session, granted } = await addon.mount(mountpoint, options, () => {
  for (const request of addon.take(session)) serve(session, request);
});
console.log(`ready ${JSON.stringify(granted)}`);

let stopping = false;
function stop(): void {
  if (stopping) return;
  stopping = true;
  addon.unmount(session, false).then(
    () => process.exit(0),
    (error: Error) => {
      console.error(`sink: unmount failed: ${error.message}`);
      process.exit(1);
    },
  );
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
process.on('disconnect', stop);
