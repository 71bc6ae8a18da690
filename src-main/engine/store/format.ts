/**
 * The on-disk format: every key and record Bazil writes to LMDB is encoded and decoded here, and
 * nowhere else. FORMAT.md beside this file states the invariants.
 *
 * Terms:
 * - chunk: a run of file bytes, stored once under its key, the SHA-256 of its bytes.
 * - manifest: a file's content, the ordered list of (chunk key, length); stored as a blob in the
 *   manifests database under the SHA-256 of its encoding.
 * - hole: a manifest entry under the all-zero key, standing for that many zero bytes that no
 *   chunk stores (a sparse file, a file grown by truncate): a hole of any size costs one entry.
 * - inode: one file, directory or symlink of a volume (its attributes and, for a file, its
 *   manifest key); keyed by volume id and inode number.
 * - dirent: a name in a directory, keyed by volume id, parent inode number and name.
 * - pack: an append-only file of chunk bytes, written in aligned blocks; the `packed-chunks`
 *   database says where in which pack each chunk lies.
 */

/**
 * Version 2 added pack files (chunk bytes outside LMDB), version 3 holes in manifests (see
 * FORMAT.md). An older store is a newer one without them: it is upgraded in place by writing the
 * new number.
 */
export const FORMAT_VERSION = 5;
export const UPGRADABLE_FORMAT_VERSIONS: readonly number[] = [1, 2, 3, 4];
export const KEY_BYTES = 32;

/**
 * The largest file size: offsets stay exact in a JS number (below 2^53) with room for a request's
 * length. Past it, writes and truncations fail with EFBIG, as Linux's limit gives.
 */
export const FILE_MAX_BYTES = 2 ** 52;

export interface ChunkRef {
  key: Uint8Array;
  sizeBytes: number;
}

/** The key of a hole: no chunk has it (SHA-256 yields no all-zero hash one can find). */
const HOLE_KEY = new Uint8Array(KEY_BYTES);

/** A manifest entry for `sizeBytes` zero bytes that no chunk stores. */
export function hole(sizeBytes: number): ChunkRef {
  return { key: HOLE_KEY, sizeBytes };
}

export function isHole(ref: ChunkRef): boolean {
  const { key } = ref;
  if (key === HOLE_KEY) return true;
  for (let i = 0; i < KEY_BYTES; i++) if (key[i] !== 0) return false;
  return true;
}

export type InodeKind = 'file' | 'dir' | 'symlink';

/** File types, in an inode record's `mode` as in st_mode. */
export const S_IFMT = 0o170000;
export const S_IFDIR = 0o040000;
export const S_IFREG = 0o100000;
export const S_IFLNK = 0o120000;
export const S_IFIFO = 0o010000;
export const S_IFSOCK = 0o140000;
export const S_IFCHR = 0o020000;
export const S_IFBLK = 0o060000;

export interface InodeRecord {
  ino: number;
  /** st_mode: type bits and permission bits. */
  mode: number;
  uid: number;
  gid: number;
  nlink: number;
  sizeBytes: number;
  atimeNs: bigint;
  mtimeNs: bigint;
  ctimeNs: bigint;
  /** Content of a file: null when empty. */
  manifestKey: Uint8Array | null;
  /** Target of a symlink. */
  symlinkTarget: string | null;
  /** The device a character or block device node stands for (st_rdev); 0 for any other inode. */
  rdev: number;
  /** Extended attributes, name to value. */
  xattrs: Map<string, Uint8Array>;
}

export interface VolumeRecord {
  id: number;
  name: string;
  createdNs: bigint;
  /** The next inode number to hand out; the root directory is inode 1. */
  nextIno: number;
  /** `.snap` is listed in the root directory (it is reached by its path either way). */
  showSnap: boolean;
}

export const ROOT_INO = 1;

/** The value of keys that say everything by themselves (`orphans`, `parents`). */
export const EMPTY_VALUE = Buffer.alloc(0);

/** A Buffer view of the same bytes (no copy), for Buffer's read and write methods. */
export function asBuffer(bytes: Uint8Array): Buffer {
  // A new view costs ~1 µs: a third of a space scan's time went to views of Buffers.
  if (Buffer.isBuffer(bytes)) return bytes;
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

// ---- keys ----

export function inodeKey(volumeId: number, ino: number): Buffer {
  const key = Buffer.allocUnsafe(12);
  key.writeUInt32BE(volumeId, 0);
  key.writeBigUInt64BE(BigInt(ino), 4);
  return key;
}

/** All inode keys of a volume fall in [volumePrefix(id), volumePrefix(id + 1)). */
export function volumePrefix(volumeId: number): Buffer {
  const key = Buffer.allocUnsafe(4);
  key.writeUInt32BE(volumeId, 0);
  return key;
}

export function direntKey(volumeId: number, parentIno: number, name: string): Buffer {
  const nameBytes = Buffer.from(name, 'utf8');
  const key = Buffer.allocUnsafe(12 + nameBytes.length);
  key.writeUInt32BE(volumeId, 0);
  key.writeBigUInt64BE(BigInt(parentIno), 4);
  nameBytes.copy(key, 12);
  return key;
}

/** Every dirent key of a directory starts with this 12-byte prefix. */
export function direntPrefix(volumeId: number, parentIno: number): Buffer {
  return inodeKey(volumeId, parentIno);
}

export function direntNameFromKey(key: Uint8Array): string {
  return Buffer.from(key.buffer, key.byteOffset + 12, key.byteLength - 12).toString('utf8');
}

export function encodeDirentValue(childIno: number): Buffer {
  const value = Buffer.allocUnsafe(8);
  value.writeBigUInt64BE(BigInt(childIno), 0);
  return value;
}

export function decodeDirentValue(value: Uint8Array): number {
  return Number(Buffer.from(value.buffer, value.byteOffset, 8).readBigUInt64BE(0));
}

// ---- inode record ----
// Layout (little endian): u8 version, u32 mode, u32 uid, u32 gid, u32 nlink, f64 size (a safe
// integer), i64 atime ns, i64 mtime ns, i64 ctime ns, u8 hasManifest, [32 bytes manifest key],
// u32 symlink target length (0xffffffff: none), [target utf8], u32 xattr count,
// { u16 name length, name utf8, u32 value length, value }*. Version 2 (a device node) adds
// f64 rdev at the end; every other inode is written as version 1, as before format 3.
const INODE_RECORD_VERSION = 1;
const INODE_RECORD_WITH_RDEV = 2;
const NO_TARGET = 0xffffffff;

export function encodeInode(record: InodeRecord): Buffer {
  const target = record.symlinkTarget === null ? null : Buffer.from(record.symlinkTarget, 'utf8');
  const xattrs = [...record.xattrs].map(([name, value]) => [Buffer.from(name, 'utf8'), value] as const);
  let size = 1 + 4 * 4 + 8 + 3 * 8 + 1 + (record.manifestKey ? KEY_BYTES : 0) + 4 + (target?.length ?? 0) + 4;
  for (const [name, value] of xattrs) size += 2 + name.length + 4 + value.byteLength;
  if (record.rdev !== 0) size += 8;
  const out = Buffer.allocUnsafe(size);
  let at = 0;
  at = out.writeUInt8(record.rdev !== 0 ? INODE_RECORD_WITH_RDEV : INODE_RECORD_VERSION, at);
  at = out.writeUInt32LE(record.mode >>> 0, at);
  at = out.writeUInt32LE(record.uid >>> 0, at);
  at = out.writeUInt32LE(record.gid >>> 0, at);
  at = out.writeUInt32LE(record.nlink >>> 0, at);
  at = out.writeDoubleLE(record.sizeBytes, at);
  at = out.writeBigInt64LE(record.atimeNs, at);
  at = out.writeBigInt64LE(record.mtimeNs, at);
  at = out.writeBigInt64LE(record.ctimeNs, at);
  if (record.manifestKey) {
    at = out.writeUInt8(1, at);
    out.set(record.manifestKey, at);
    at += KEY_BYTES;
  } else {
    at = out.writeUInt8(0, at);
  }
  if (target) {
    at = out.writeUInt32LE(target.length, at);
    at += target.copy(out, at);
  } else {
    at = out.writeUInt32LE(NO_TARGET, at);
  }
  at = out.writeUInt32LE(xattrs.length, at);
  for (const [name, value] of xattrs) {
    at = out.writeUInt16LE(name.length, at);
    at += name.copy(out, at);
    at = out.writeUInt32LE(value.byteLength, at);
    out.set(value, at);
    at += value.byteLength;
  }
  if (record.rdev !== 0) out.writeDoubleLE(record.rdev, at);
  return out;
}

const knownInodeRecord = (version: number | undefined) =>
  version === INODE_RECORD_VERSION || version === INODE_RECORD_WITH_RDEV;

/** Where the inode record's hasManifest byte lies (its manifest key follows). */
const INODE_HAS_MANIFEST_AT = 1 + 4 * 4 + 8 + 3 * 8;

/**
 * An inode record's manifest key alone (a view into `bytes`), or null: for a scan of every inode,
 * without decoding the rest (times, target, xattrs).
 */
export function decodeInodeManifestKey(bytes: Uint8Array): Uint8Array | null {
  if (!knownInodeRecord(bytes[0])) throw new FormatError(`inode record version ${bytes[0]}`);
  if (bytes[INODE_HAS_MANIFEST_AT] !== 1) return null;
  return bytes.subarray(INODE_HAS_MANIFEST_AT + 1, INODE_HAS_MANIFEST_AT + 1 + KEY_BYTES);
}

export function decodeInode(ino: number, bytes: Uint8Array): InodeRecord {
  const b = asBuffer(bytes);
  let at = 0;
  const version = b.readUInt8(at);
  at += 1;
  if (!knownInodeRecord(version)) throw new FormatError(`inode ${ino} has record version ${version}`);
  const mode = b.readUInt32LE(at);
  const uid = b.readUInt32LE(at + 4);
  const gid = b.readUInt32LE(at + 8);
  const nlink = b.readUInt32LE(at + 12);
  at += 16;
  const sizeBytes = b.readDoubleLE(at);
  at += 8;
  const atimeNs = b.readBigInt64LE(at);
  const mtimeNs = b.readBigInt64LE(at + 8);
  const ctimeNs = b.readBigInt64LE(at + 16);
  at += 24;
  let manifestKey: Uint8Array | null = null;
  if (b.readUInt8(at++) === 1) {
    manifestKey = Uint8Array.prototype.slice.call(b, at, at + KEY_BYTES);
    at += KEY_BYTES;
  }
  let symlinkTarget: string | null = null;
  const targetLength = b.readUInt32LE(at);
  at += 4;
  if (targetLength !== NO_TARGET) {
    symlinkTarget = b.toString('utf8', at, at + targetLength);
    at += targetLength;
  }
  const xattrCount = b.readUInt32LE(at);
  at += 4;
  const xattrs = new Map<string, Uint8Array>();
  for (let i = 0; i < xattrCount; i++) {
    const nameLength = b.readUInt16LE(at);
    at += 2;
    const name = b.toString('utf8', at, at + nameLength);
    at += nameLength;
    const valueLength = b.readUInt32LE(at);
    at += 4;
    xattrs.set(name, Uint8Array.prototype.slice.call(b, at, at + valueLength));
    at += valueLength;
  }
  const rdev = version === INODE_RECORD_WITH_RDEV ? b.readDoubleLE(at) : 0;
  return { ino, mode, uid, gid, nlink, sizeBytes, atimeNs, mtimeNs, ctimeNs, manifestKey, symlinkTarget, rdev, xattrs };
}

// ---- manifest ----
// A list: 8-byte tag "bzlmnf01", u32 count, { 32-byte chunk key, u32 length }*; or, when an entry
// (a hole) is 4 GiB or more, "bzlmnf02", u32 count, { 32-byte key, f64 length }*. The wide form is
// used only then, so a manifest without such a hole encodes (and is keyed) as before format 3.
// A tree (a file of more than MANIFEST_LIST_MAX_ENTRIES chunks): 8-byte tag "bzlmnt01", u32 count,
// { 32-byte key of a child manifest (list or tree), f64 bytes it covers }*. Children are split
// where a chunk key's low bits are zero (content-defined, as chunks are), so an edit or an append
// rewrites the children around it and the root, not the whole list.
/** A manifest blob is a tagged list of (key, size) entries; the two kinds differ in tag and size width. */
interface EntryLayout {
  tag: Buffer;
  sizeWidth: 4 | 8;
}
const MANIFEST_LIST: EntryLayout = { tag: Buffer.from('bzlmnf01', 'latin1'), sizeWidth: 4 };
const MANIFEST_WIDE_LIST: EntryLayout = { tag: Buffer.from('bzlmnf02', 'latin1'), sizeWidth: 8 };
const MANIFEST_TREE: EntryLayout = { tag: Buffer.from('bzlmnt01', 'latin1'), sizeWidth: 8 };
export const MANIFEST_LIST_MAX_ENTRIES = 4096;
/** Tree children end after a key whose low 10 bits are zero (~1024 entries), at most 4096. */
const MANIFEST_SPLIT_MASK = 0x3ff;

export interface ManifestChild {
  key: Uint8Array;
  sizeBytes: number;
}

/** Splits a manifest's entries (chunks, or children) into the groups a tree stores. */
export function splitManifest<T extends { key: Uint8Array }>(entries: readonly T[]): T[][] {
  const groups: T[][] = [];
  let group: T[] = [];
  for (const entry of entries) {
    group.push(entry);
    const low = entry.key[KEY_BYTES - 2]! * 256 + entry.key[KEY_BYTES - 1]!;
    if ((low & MANIFEST_SPLIT_MASK) === 0 || group.length === MANIFEST_LIST_MAX_ENTRIES) {
      groups.push(group);
      group = [];
    }
  }
  if (group.length > 0) groups.push(group);
  return groups;
}

function hasTag(b: Buffer, layout: EntryLayout): boolean {
  return b.length >= layout.tag.length + 4 && b.subarray(0, layout.tag.length).equals(layout.tag);
}

function encodeEntries(layout: EntryLayout, entries: readonly { key: Uint8Array; sizeBytes: number }[]): Buffer {
  const entryBytes = KEY_BYTES + layout.sizeWidth;
  const out = Buffer.allocUnsafe(layout.tag.length + 4 + entries.length * entryBytes);
  layout.tag.copy(out, 0);
  let at = out.writeUInt32LE(entries.length, layout.tag.length);
  for (const entry of entries) {
    out.set(entry.key, at);
    at += KEY_BYTES;
    at = layout.sizeWidth === 4 ? out.writeUInt32LE(entry.sizeBytes, at) : out.writeDoubleLE(entry.sizeBytes, at);
  }
  return out;
}

function decodeEntries(layout: EntryLayout, b: Buffer): { key: Uint8Array; sizeBytes: number }[] {
  const entryBytes = KEY_BYTES + layout.sizeWidth;
  const count = b.readUInt32LE(layout.tag.length);
  const entries: { key: Uint8Array; sizeBytes: number }[] = new Array(count);
  let at = layout.tag.length + 4;
  for (let i = 0; i < count; i++) {
    const key = Uint8Array.prototype.slice.call(b, at, at + KEY_BYTES);
    const sizeBytes = layout.sizeWidth === 4 ? b.readUInt32LE(at + KEY_BYTES) : b.readDoubleLE(at + KEY_BYTES);
    entries[i] = { key, sizeBytes };
    at += entryBytes;
  }
  return entries;
}

export function encodeManifestTree(children: readonly ManifestChild[]): Buffer {
  return encodeEntries(MANIFEST_TREE, children);
}

/** A stored manifest blob: a list of chunks, or a tree node naming child manifests. */
export function decodeManifestBlob(
  bytes: Uint8Array,
): { kind: 'list'; chunks: ChunkRef[] } | { kind: 'tree'; children: ManifestChild[] } {
  const b = asBuffer(bytes);
  if (hasTag(b, MANIFEST_TREE)) return { kind: 'tree', children: decodeEntries(MANIFEST_TREE, b) };
  return { kind: 'list', chunks: decodeManifest(b) };
}

export function encodeManifest(chunks: readonly ChunkRef[]): Buffer {
  const wide = chunks.some((chunk) => chunk.sizeBytes > 0xffffffff);
  return encodeEntries(wide ? MANIFEST_WIDE_LIST : MANIFEST_LIST, chunks);
}

export function decodeManifest(bytes: Uint8Array): ChunkRef[] {
  const b = asBuffer(bytes);
  if (hasTag(b, MANIFEST_LIST)) return decodeEntries(MANIFEST_LIST, b);
  if (hasTag(b, MANIFEST_WIDE_LIST)) return decodeEntries(MANIFEST_WIDE_LIST, b);
  throw new FormatError('manifest blob has no manifest tag');
}

// ---- volume record ----
// Layout: u8 version, u32 id, i64 created ns, f64 next inode number, name utf8 (rest).
/**
 * Volume record, version 2: u8 version, u32 LE id, i64 LE created ns, f64 LE next inode number,
 * u8 flags (1: show `.snap` in the root's listing), the name (UTF-8, to the end). Version 1 had
 * no flags byte.
 */
const VOLUME_RECORD_VERSION = 2;
const VOLUME_SHOW_SNAP = 1;

export function encodeVolume(record: VolumeRecord): Buffer {
  const name = Buffer.from(record.name, 'utf8');
  const out = Buffer.allocUnsafe(1 + 4 + 8 + 8 + 1 + name.length);
  let at = out.writeUInt8(VOLUME_RECORD_VERSION, 0);
  at = out.writeUInt32LE(record.id, at);
  at = out.writeBigInt64LE(record.createdNs, at);
  at = out.writeDoubleLE(record.nextIno, at);
  at = out.writeUInt8(record.showSnap ? VOLUME_SHOW_SNAP : 0, at);
  name.copy(out, at);
  return out;
}

export function decodeVolume(bytes: Uint8Array): VolumeRecord {
  const b = asBuffer(bytes);
  const version = b.readUInt8(0);
  if (version !== 1 && version !== VOLUME_RECORD_VERSION) throw new FormatError(`volume record version ${version}`);
  const flags = version === 1 ? 0 : b.readUInt8(21);
  return {
    id: b.readUInt32LE(1),
    createdNs: b.readBigInt64LE(5),
    nextIno: b.readDoubleLE(13),
    showSnap: (flags & VOLUME_SHOW_SNAP) !== 0,
    name: b.toString('utf8', version === 1 ? 21 : 22),
  };
}

export function volumeKey(name: string): Buffer {
  return Buffer.from(name, 'utf8');
}

// ---- snapshots (format 4) ----
// A tree object, in `trees` under the SHA-256 of its encoding: one directory of a snapshot. 8-byte
// tag "bzltre01", u32 count, then per entry, sorted by name bytes: u16 name length, name (UTF-8),
// f64 inode number (hard links share it), u32 record length, the inode record as `inodes` holds
// it, and for a directory the 32-byte key of its own tree object.
// A snapshot record, in `snapshots` under u32 BE volume id · name (UTF-8): u8 version (1), i64
// created ns, u8 flags (1: taken automatically, 2: by a schedule), 32-byte root tree key, f64 files, f64 logical
// bytes (of distinct regular files), u32 root record length, the root directory's inode record.
const TREE_TAG = Buffer.from('bzltre01', 'latin1');
const SNAPSHOT_RECORD_VERSION = 1;
const SNAPSHOT_AUTOMATIC = 1;
const SNAPSHOT_SCHEDULED = 2;

export interface TreeEntry {
  name: string;
  ino: number;
  /** The entry's inode record, encoded (see encodeInode). */
  record: Uint8Array;
  /** A directory's tree object; null for every other kind. */
  treeKey: Uint8Array | null;
}

export interface SnapshotRecord {
  name: string;
  createdNs: bigint;
  automatic: boolean;
  /** Taken by a schedule (automatic too): the only ones its keep policy prunes. */
  scheduled: boolean;
  rootTreeKey: Uint8Array;
  files: number;
  logicalBytes: number;
  /** The root directory's inode record, encoded. */
  rootRecord: Uint8Array;
}

/** The mode in an encoded inode record, without decoding the rest. */
export function decodeInodeMode(record: Uint8Array): number {
  if (!knownInodeRecord(record[0])) throw new FormatError(`inode record version ${record[0]}`);
  return asBuffer(record).readUInt32LE(1);
}

/** Entries must come sorted by name bytes (as `dirents` lists them). */
export function encodeTree(entries: readonly TreeEntry[]): Buffer {
  const names = entries.map((entry) => Buffer.from(entry.name, 'utf8'));
  let size = TREE_TAG.length + 4;
  entries.forEach((entry, i) => {
    size += 2 + names[i]!.length + 8 + 4 + entry.record.byteLength + (entry.treeKey ? KEY_BYTES : 0);
  });
  const out = Buffer.allocUnsafe(size);
  let at = TREE_TAG.copy(out, 0);
  at = out.writeUInt32LE(entries.length, at);
  entries.forEach((entry, i) => {
    at = out.writeUInt16LE(names[i]!.length, at);
    at += names[i]!.copy(out, at);
    at = out.writeDoubleLE(entry.ino, at);
    at = out.writeUInt32LE(entry.record.byteLength, at);
    out.set(entry.record, at);
    at += entry.record.byteLength;
    if (entry.treeKey) {
      out.set(entry.treeKey, at);
      at += KEY_BYTES;
    }
  });
  return out;
}

export function decodeTree(bytes: Uint8Array): TreeEntry[] {
  const b = asBuffer(bytes);
  if (!b.subarray(0, TREE_TAG.length).equals(TREE_TAG)) throw new FormatError('not a tree object');
  const count = b.readUInt32LE(TREE_TAG.length);
  let at = TREE_TAG.length + 4;
  const entries: TreeEntry[] = [];
  for (let i = 0; i < count; i++) {
    const nameLength = b.readUInt16LE(at);
    at += 2;
    const name = b.toString('utf8', at, at + nameLength);
    at += nameLength;
    const ino = b.readDoubleLE(at);
    const recordLength = b.readUInt32LE(at + 8);
    at += 12;
    const record = b.subarray(at, at + recordLength);
    at += recordLength;
    let treeKey: Uint8Array | null = null;
    if ((decodeInodeMode(record) & 0o170000) === 0o040000) {
      treeKey = b.subarray(at, at + KEY_BYTES);
      at += KEY_BYTES;
    }
    entries.push({ name, ino, record, treeKey });
  }
  if (at !== b.length) throw new FormatError('tree object has trailing bytes');
  return entries;
}

/** `parents` (format 4): the names of an inode, by inode: u32 BE volume id · u64 BE child · u64 BE parent · name. */
export function parentsKey(volumeId: number, childIno: number, parentIno: number, name: string): Buffer {
  const nameBytes = Buffer.from(name, 'utf8');
  const key = Buffer.allocUnsafe(20 + nameBytes.length);
  key.writeUInt32BE(volumeId, 0);
  key.writeBigUInt64BE(BigInt(childIno), 4);
  key.writeBigUInt64BE(BigInt(parentIno), 12);
  nameBytes.copy(key, 20);
  return key;
}

/** The `parents` key that mirrors a `dirents` entry (key and value). */
export function parentsKeyOfDirent(direntKey: Uint8Array, direntValue: Uint8Array): Buffer {
  const k = asBuffer(direntKey);
  return parentsKey(
    k.readUInt32BE(0),
    decodeDirentValue(direntValue),
    Number(k.readBigUInt64BE(4)),
    direntNameFromKey(k),
  );
}

/** Every `parents` key of an inode starts with this 12-byte prefix (as its inode key). */
export const parentsPrefix = inodeKey;

export function parentOfParentsKey(key: Uint8Array): number {
  return Number(asBuffer(key).readBigUInt64BE(12));
}

/**
 * `tree-cache` (format 4), under a directory's inode key: the tree object its committed state
 * encodes to, and the regular files and their bytes in its subtree (names counted: a file with
 * two names counts twice). Absent when anything under the directory changed since.
 */
export interface CachedTree {
  treeKey: Uint8Array;
  files: number;
  logicalBytes: number;
}

export function encodeCachedTree(cached: CachedTree): Buffer {
  const out = Buffer.allocUnsafe(KEY_BYTES + 16);
  out.set(cached.treeKey, 0);
  out.writeDoubleLE(cached.files, KEY_BYTES);
  out.writeDoubleLE(cached.logicalBytes, KEY_BYTES + 8);
  return out;
}

export function decodeCachedTree(bytes: Uint8Array): CachedTree {
  const b = asBuffer(bytes);
  return {
    treeKey: Uint8Array.prototype.slice.call(b, 0, KEY_BYTES),
    files: b.readDoubleLE(KEY_BYTES),
    logicalBytes: b.readDoubleLE(KEY_BYTES + 8),
  };
}

export function snapshotKey(volumeId: number, name: string): Buffer {
  return Buffer.concat([volumePrefix(volumeId), Buffer.from(name, 'utf8')]);
}

/** Every snapshot key of a volume starts with volumePrefix(volumeId). */
export function snapshotNameFromKey(key: Uint8Array): string {
  return asBuffer(key).toString('utf8', 4);
}

export function encodeSnapshot(record: SnapshotRecord): Buffer {
  const out = Buffer.allocUnsafe(1 + 8 + 1 + KEY_BYTES + 8 + 8 + 4 + record.rootRecord.byteLength);
  let at = out.writeUInt8(SNAPSHOT_RECORD_VERSION, 0);
  at = out.writeBigInt64LE(record.createdNs, at);
  at = out.writeUInt8((record.automatic ? SNAPSHOT_AUTOMATIC : 0) | (record.scheduled ? SNAPSHOT_SCHEDULED : 0), at);
  out.set(record.rootTreeKey, at);
  at += KEY_BYTES;
  at = out.writeDoubleLE(record.files, at);
  at = out.writeDoubleLE(record.logicalBytes, at);
  at = out.writeUInt32LE(record.rootRecord.byteLength, at);
  out.set(record.rootRecord, at);
  return out;
}

export function decodeSnapshot(name: string, bytes: Uint8Array): SnapshotRecord {
  const b = asBuffer(bytes);
  const version = b.readUInt8(0);
  if (version !== SNAPSHOT_RECORD_VERSION) throw new FormatError(`snapshot record version ${version}`);
  const at = 1 + 8 + 1;
  const recordLength = b.readUInt32LE(at + KEY_BYTES + 16);
  return {
    name,
    createdNs: b.readBigInt64LE(1),
    automatic: (b.readUInt8(9) & SNAPSHOT_AUTOMATIC) !== 0,
    scheduled: (b.readUInt8(9) & SNAPSHOT_SCHEDULED) !== 0,
    rootTreeKey: Uint8Array.prototype.slice.call(b, at, at + KEY_BYTES),
    files: b.readDoubleLE(at + KEY_BYTES),
    logicalBytes: b.readDoubleLE(at + KEY_BYTES + 8),
    rootRecord: Uint8Array.prototype.slice.call(b, at + KEY_BYTES + 20, at + KEY_BYTES + 20 + recordLength),
  };
}

// ---- snapshot schedules (format 4) ----
// `schedules`, under u32 BE volume id: u8 version (1), f64 LE interval in ms, then how many
// periods the keep policy keeps, u32 LE each: hourly, daily, weekly, monthly, yearly.
const SCHEDULE_RECORD_VERSION = 1;
const KEEP_FIELDS = ['hourly', 'daily', 'weekly', 'monthly', 'yearly'] as const;

export interface ScheduleRecord {
  everyMs: number;
  keep: Record<(typeof KEEP_FIELDS)[number], number>;
}

export function encodeSchedule(record: ScheduleRecord): Buffer {
  const out = Buffer.allocUnsafe(1 + 8 + 4 * KEEP_FIELDS.length);
  let at = out.writeUInt8(SCHEDULE_RECORD_VERSION, 0);
  at = out.writeDoubleLE(record.everyMs, at);
  for (const field of KEEP_FIELDS) at = out.writeUInt32LE(record.keep[field], at);
  return out;
}

export function decodeSchedule(bytes: Uint8Array): ScheduleRecord {
  const b = asBuffer(bytes);
  const version = b.readUInt8(0);
  if (version !== SCHEDULE_RECORD_VERSION) throw new FormatError(`schedule record version ${version}`);
  const keep = {} as ScheduleRecord['keep'];
  KEEP_FIELDS.forEach((field, i) => (keep[field] = b.readUInt32LE(9 + 4 * i)));
  return { everyMs: b.readDoubleLE(1), keep };
}

// ---- store metadata ----
export const META_FORMAT_KEY = Buffer.from('format', 'latin1');
export const META_NEXT_VOLUME_ID_KEY = Buffer.from('next-volume-id', 'latin1');
export const META_NEXT_PACK_ID_KEY = Buffer.from('next-pack-id', 'latin1');

export function encodeU32(n: number): Buffer {
  const out = Buffer.allocUnsafe(4);
  out.writeUInt32LE(n, 0);
  return out;
}

export function decodeU32(bytes: Uint8Array): number {
  return asBuffer(bytes).readUInt32LE(0);
}

// ---- packs ----
/** Every write to a pack starts and ends on this boundary (O_DIRECT needs it). */
export const PACK_BLOCK_BYTES = 4096;
// A pack's first block: 8-byte tag "bzlpack1", u32 LE pack id, zeros. Chunk bytes follow.
const PACK_TAG = Buffer.from('bzlpack1', 'latin1');
export const PACK_HEADER_BYTES = PACK_BLOCK_BYTES;

export function packFileName(packId: number): string {
  return `${packId.toString(16).padStart(8, '0')}.pack`;
}

/** The pack id of a pack file's name, or null for any other file. */
export function packIdOfFileName(name: string): number | null {
  const match = /^([0-9a-f]{8})\.pack$/.exec(name);
  return match ? parseInt(match[1]!, 16) : null;
}

/** Writes a pack's header into the first PACK_HEADER_BYTES of `out`. */
export function writePackHeader(packId: number, out: Buffer): void {
  out.fill(0, 0, PACK_HEADER_BYTES);
  PACK_TAG.copy(out, 0);
  out.writeUInt32LE(packId, PACK_TAG.length);
}

export function readPackHeader(bytes: Uint8Array): number {
  const b = asBuffer(bytes);
  if (b.length < PACK_TAG.length + 4 || !b.subarray(0, PACK_TAG.length).equals(PACK_TAG)) {
    throw new FormatError('not a pack file (no pack tag)');
  }
  return b.readUInt32LE(PACK_TAG.length);
}

/** Where a chunk's bytes lie: `sizeBytes` bytes at `offset` in pack `packId`. */
export interface PackLocation {
  packId: number;
  offset: number;
  sizeBytes: number;
}

// `packed-chunks` value: u8 version, u32 pack id, f64 offset (a safe integer), u32 length.
const PACK_LOCATION_VERSION = 1;

export function encodePackLocation(location: PackLocation): Buffer {
  const out = Buffer.allocUnsafe(17);
  out.writeUInt8(PACK_LOCATION_VERSION, 0);
  out.writeUInt32LE(location.packId, 1);
  out.writeDoubleLE(location.offset, 5);
  out.writeUInt32LE(location.sizeBytes, 13);
  return out;
}

export function decodePackLocation(bytes: Uint8Array): PackLocation {
  const b = asBuffer(bytes);
  const version = b.readUInt8(0);
  if (version !== PACK_LOCATION_VERSION) throw new FormatError(`pack location version ${version}`);
  return { packId: b.readUInt32LE(1), offset: b.readDoubleLE(5), sizeBytes: b.readUInt32LE(13) };
}

// `packs` key: u32 BE pack id. Value: u8 version, f64 bytes of the pack known to be on the disk
// (synced); chunks past it are checked against their keys after a crash.
const PACK_RECORD_VERSION = 1;

export function packKey(packId: number): Buffer {
  const key = Buffer.allocUnsafe(4);
  key.writeUInt32BE(packId, 0);
  return key;
}

export function packIdOfKey(key: Uint8Array): number {
  return asBuffer(key).readUInt32BE(0);
}

export function encodePackRecord(syncedBytes: number): Buffer {
  const out = Buffer.allocUnsafe(9);
  out.writeUInt8(PACK_RECORD_VERSION, 0);
  out.writeDoubleLE(syncedBytes, 1);
  return out;
}

export function decodePackRecord(bytes: Uint8Array): { syncedBytes: number } {
  const b = asBuffer(bytes);
  const version = b.readUInt8(0);
  if (version !== PACK_RECORD_VERSION) throw new FormatError(`pack record version ${version}`);
  return { syncedBytes: b.readDoubleLE(1) };
}

export class FormatError extends Error {
  readonly code = 'EFORMAT';
}
