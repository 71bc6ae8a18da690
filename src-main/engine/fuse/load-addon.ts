/**
 * Loads Bazil's FUSE addon (native/bazil-fuse, built at `npm install`) as the `Addon` of addon.ts.
 *
 * Two kinds of call differ between the two, to spare the engine's thread work on every request:
 * - the addon's `takeRaw` hands over the queued requests as numbers in a Float64Array this module
 *   owns, plus a list of their names and bytes, and `take` below makes the `Request` objects. An
 *   object literal of one shape costs JS a few stores; made in C with napi_define_properties, the
 *   objects took 6.5% of the engine's thread during `cp -a` of a tree, against 4.5% this way;
 * - the replies that carry attributes take their fields as arguments, spread here from the
 *   objects: the addon's reading them by name took 2.0%, the spreading ~0.6%.
 * (perf, bench/RESULTS.md, 2026-12-01.)
 */
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import type { Addon, Attr, Entry, Op, OpenFlags, Request, Session, SetattrChanges } from './addon.js';

/** Where the build puts it; this file runs from dist/src-main/engine/fuse/. */
export const ADDON_PATH = fileURLToPath(
  new URL('../../../../native/bazil-fuse/build/Release/bazil_fuse.node', import.meta.url),
);

/**
 * What the built addon exports: the Addon, with `takeRaw` in place of `take`, and the replies that
 * carry attributes taking them as arguments (entry fields, then the attr's, as `entryArgs` lists
 * them) rather than reading them from objects, a property lookup each.
 */
type NativeAddon = Omit<Addon, 'take' | 'replyEntry' | 'replyCreate' | 'replyAttr'> & {
  replyEntry(session: Session, id: number, ...entry: unknown[]): void;
  replyCreate(session: Session, id: number, fh: number, flags: OpenFlags, ...entry: unknown[]): void;
  replyAttr(session: Session, id: number, attrTimeoutS: number, ...attr: unknown[]): void;
  /**
   * Writes queued requests into `numbers` (as many as fit) and returns their names and bytes in
   * order. numbers[0]: how many; numbers[1]: 1 when more are queued. Then TAKE_STRIDE numbers per
   * request: the op's index in OPS, id, uid, gid, pid, umask, and the op's own fields (see take).
   */
  takeRaw(session: Session, numbers: Float64Array): unknown[];
};

/** native/bazil-fuse/src/session.h: kTakeHeader, kTakeStride. */
const TAKE_HEADER = 2;
const TAKE_STRIDE = 12;
/**
 * Requests the first take has room for; the room doubles whenever more were queued (a batch of
 * forgets after the kernel dropped its caches brings hundreds), and stays so.
 */
const TAKE_FIRST_ROOM = 64;

/** The ops in the order of the addon's Op enum (session.h). READDIR is answered like READ. */
const OPS: readonly (Op | 'readdir')[] = [
  'lookup',
  'forget',
  'getattr',
  'setattr',
  'readlink',
  'mknod',
  'mkdir',
  'unlink',
  'rmdir',
  'symlink',
  'rename',
  'link',
  'open',
  'read',
  'write',
  'flush',
  'release',
  'fsync',
  'opendir',
  'readdir',
  'readdirplus',
  'releasedir',
  'fsyncdir',
  'statfs',
  'setxattr',
  'getxattr',
  'listxattr',
  'removexattr',
  'access',
  'create',
  'lseek',
  'fallocate',
];

export function loadAddon(): Addon {
  const native = createRequire(import.meta.url)(ADDON_PATH) as NativeAddon;
  let numbers = new Float64Array(TAKE_HEADER + TAKE_FIRST_ROOM * TAKE_STRIDE);
  const take = (session: Session): Request[] => {
    const requests: Request[] = [];
    for (;;) {
      const extras = native.takeRaw(session, numbers);
      decode(numbers, extras, requests);
      if (numbers[1] === 0) return requests;
      // More were queued than fit: room for twice as many from now on.
      numbers = new Float64Array(TAKE_HEADER + (numbers.length - TAKE_HEADER) * 2);
    }
  };
  const replies: Pick<Addon, 'replyEntry' | 'replyCreate' | 'replyAttr'> = {
    replyEntry: (session, id, entry) => native.replyEntry(session, id, ...entryArgs(entry)),
    replyCreate: (session, id, entry, fh, flags) => native.replyCreate(session, id, fh, flags, ...entryArgs(entry)),
    replyAttr: (session, id, attr, attrTimeoutS) => native.replyAttr(session, id, attrTimeoutS, ...attrArgs(attr)),
  };
  // The addon defines its exports non-enumerable (napi_default), so a spread would drop them.
  const addon: Record<string, unknown> = {};
  for (const key of Object.getOwnPropertyNames(native)) addon[key] = native[key as keyof NativeAddon];
  Object.assign(addon, replies, { take });
  return addon as unknown as Addon;
}

/**
 * An Attr's fields in the order the addon reads them (replies.cc: ReadAttrArgs). A malformed
 * object gives undefined fields: the addon then names the field, throws and answers EIO.
 */
function attrArgs(attr: Attr | undefined): unknown[] {
  const a = attr as Partial<Attr> | undefined;
  return [a?.ino, a?.mode, a?.nlink, a?.uid, a?.gid, a?.rdev, a?.size, a?.blocks, a?.atimeNs, a?.mtimeNs, a?.ctimeNs];
}

/** An Entry's fields, then its attr's (replies.cc: ReadEntryArgs). */
function entryArgs(entry: Entry | undefined): unknown[] {
  const e = entry as Partial<Entry> | undefined;
  return [e?.ino, e?.generation, e?.entryTimeoutS, e?.attrTimeoutS, ...attrArgs(e?.attr)];
}

/** Appends the requests takeRaw wrote to `numbers` and `extras` to `out`. */
function decode(numbers: Float64Array, extras: unknown[], out: Request[]): void {
  const count = numbers[0]!;
  let x = 0;
  const name = () => extras[x++] as string;
  for (let i = 0, k = TAKE_HEADER; i < count; i++, k += TAKE_STRIDE) {
    const op = OPS[numbers[k]!]!;
    const id = numbers[k + 1]!;
    const uid = numbers[k + 2]!;
    const gid = numbers[k + 3]!;
    const pid = numbers[k + 4]!;
    const umask = numbers[k + 5]!;
    const a = numbers[k + 6]!;
    const b = numbers[k + 7]!;
    const c = numbers[k + 8]!;
    const d = numbers[k + 9]!;
    let request: Request;
    switch (op) {
      case 'lookup':
      case 'unlink':
      case 'rmdir':
        request = { id, op, uid, gid, pid, umask, parent: a, name: name() };
        break;
      case 'forget':
        request = { id, op, uid, gid, pid, umask, ino: a, nlookup: b };
        break;
      case 'getattr':
        request = { id, op, uid, gid, pid, umask, ino: a, fh: Number.isNaN(b) ? null : b };
        break;
      case 'setattr':
        request = {
          id,
          op,
          uid,
          gid,
          pid,
          umask,
          ino: a,
          fh: Number.isNaN(b) ? null : b,
          changes: extras[x++] as SetattrChanges,
        };
        break;
      case 'readlink':
      case 'statfs':
        request = { id, op, uid, gid, pid, umask, ino: a };
        break;
      case 'mknod':
        request = { id, op, uid, gid, pid, umask, parent: a, name: name(), mode: b, rdev: c };
        break;
      case 'mkdir':
        request = { id, op, uid, gid, pid, umask, parent: a, name: name(), mode: b };
        break;
      case 'symlink':
        request = { id, op, uid, gid, pid, umask, parent: a, name: name(), target: name() };
        break;
      case 'rename':
        request = { id, op, uid, gid, pid, umask, parent: a, name: name(), newParent: b, newName: name(), flags: c };
        break;
      case 'link':
        request = { id, op, uid, gid, pid, umask, ino: a, newParent: b, newName: name() };
        break;
      case 'open':
      case 'opendir':
        request = { id, op, uid, gid, pid, umask, ino: a, flags: b };
        break;
      case 'read':
      case 'readdirplus':
        request = { id, op, uid, gid, pid, umask, ino: a, fh: b, size: c, offset: d };
        break;
      case 'readdir':
        // Not in the Request union: the engine answers an op it does not know ENOSYS.
        request = { id, op, uid, gid, pid, umask, ino: a, fh: b, size: c, offset: d } as unknown as Request;
        break;
      case 'write':
        request = { id, op, uid, gid, pid, umask, ino: a, fh: b, offset: c, data: extras[x++] as Uint8Array, flags: d };
        break;
      case 'flush':
      case 'releasedir':
        request = { id, op, uid, gid, pid, umask, ino: a, fh: b };
        break;
      case 'release':
        request = { id, op, uid, gid, pid, umask, ino: a, fh: b, flags: c };
        break;
      case 'fsync':
      case 'fsyncdir':
        request = { id, op, uid, gid, pid, umask, ino: a, fh: b, datasync: c !== 0 };
        break;
      case 'setxattr':
        request = { id, op, uid, gid, pid, umask, ino: a, name: name(), value: extras[x++] as Buffer, flags: b };
        break;
      case 'getxattr':
        request = { id, op, uid, gid, pid, umask, ino: a, name: name(), size: b };
        break;
      case 'listxattr':
        request = { id, op, uid, gid, pid, umask, ino: a, size: b };
        break;
      case 'removexattr':
        request = { id, op, uid, gid, pid, umask, ino: a, name: name() };
        break;
      case 'access':
        request = { id, op, uid, gid, pid, umask, ino: a, mask: b };
        break;
      case 'create':
        request = { id, op, uid, gid, pid, umask, parent: a, name: name(), mode: b, flags: c };
        break;
      case 'lseek':
        request = { id, op, uid, gid, pid, umask, ino: a, fh: b, offset: c, whence: d };
        break;
      case 'fallocate':
        request = { id, op, uid, gid, pid, umask, ino: a, fh: b, mode: c, offset: d, length: numbers[k + 10]! };
        break;
    }
    out.push(request);
  }
}
