import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import {
  FormatError,
  decodeInode,
  decodeInodeManifestKey,
  decodeManifest,
  decodeSnapshot,
  decodeTree,
  decodeVolume,
  direntKey,
  direntNameFromKey,
  encodeInode,
  encodeManifest,
  encodeSnapshot,
  encodeTree,
  encodeVolume,
  hole,
  isHole,
  type ChunkRef,
  type InodeRecord,
} from '../../src-main/engine/store/format.js';

test('an inode record round-trips with nanosecond times, xattrs and a symlink target', () => {
  const record: InodeRecord = {
    ino: 42,
    mode: 0o120777,
    uid: 1000,
    gid: 1000,
    nlink: 3,
    sizeBytes: 5 * 2 ** 32 + 7,
    atimeNs: 981173106123456789n,
    mtimeNs: -1n,
    ctimeNs: 1764000000000000001n,
    manifestKey: randomBytes(32),
    symlinkTarget: 'ünïcode/target',
    rdev: 0,
    xattrs: new Map([
      ['user.a', Buffer.from('x')],
      ['user.empty', new Uint8Array(0)],
    ]),
  };
  const decoded = decodeInode(42, encodeInode(record));
  const comparable = (r: InodeRecord) => ({
    ...r,
    manifestKey: Buffer.from(r.manifestKey!).toString('hex'),
    xattrs: [...r.xattrs].map(([k, v]) => [k, Buffer.from(v).toString('hex')]),
  });
  assert.deepEqual(comparable(decoded), comparable(record));
});

test('a device node keeps its rdev (record version 2); every other inode is written as version 1, as before', () => {
  const base = decodeInode(7, encodeInode({ ...newRecord(), rdev: 0 }));
  assert.equal(base.rdev, 0);
  assert.equal(encodeInode({ ...newRecord(), rdev: 0 })[0], 1);
  const device = encodeInode({ ...newRecord(), mode: 0o020644, rdev: 0x0801 });
  assert.equal(device[0], 2);
  assert.equal(decodeInode(7, device).rdev, 0x0801);
  assert.deepEqual(
    [...decodeInodeManifestKey(device)!],
    [...newRecord().manifestKey!],
    'the manifest key is where a scan looks',
  );
});

function newRecord(): InodeRecord {
  return {
    ino: 7,
    mode: 0o100644,
    uid: 1,
    gid: 2,
    nlink: 1,
    sizeBytes: 10,
    atimeNs: 1n,
    mtimeNs: 2n,
    ctimeNs: 3n,
    manifestKey: new Uint8Array(32).fill(5),
    symlinkTarget: null,
    rdev: 0,
    xattrs: new Map([['user.x', new Uint8Array([1])]]),
  };
}

test('a manifest round-trips, and data that is not a manifest is refused', () => {
  const chunks = [
    { key: randomBytes(32), sizeBytes: 65536 },
    { key: randomBytes(32), sizeBytes: 1 },
  ];
  assert.deepEqual(
    decodeManifest(encodeManifest(chunks)).map((c) => [Buffer.from(c.key).toString('hex'), c.sizeBytes]),
    chunks.map((c) => [c.key.toString('hex'), c.sizeBytes]),
  );
  assert.throws(() => decodeManifest(Buffer.from('hello world, not a manifest')), FormatError);
});

test('a manifest with a hole of 4 GiB or more round-trips; one without keeps the encoding (and key) of format 2', () => {
  const data = { key: randomBytes(32), sizeBytes: 300_000 };
  const small = [hole(2 ** 32 - 1), data];
  const large = [data, hole(10 ** 15), { ...data, sizeBytes: 1 }];
  const plain = (refs: ChunkRef[]) => refs.map((c) => [Buffer.from(c.key).toString('hex'), c.sizeBytes]);
  for (const refs of [small, large]) assert.deepEqual(plain(decodeManifest(encodeManifest(refs))), plain(refs));
  assert.equal(encodeManifest(small).subarray(0, 8).toString('latin1'), 'bzlmnf01', 'u32 sizes as before');
  assert.equal(encodeManifest(large).subarray(0, 8).toString('latin1'), 'bzlmnf02', 'f64 sizes only when needed');
  assert.deepEqual(
    decodeManifest(encodeManifest(large)).map((ref) => isHole(ref)),
    [false, true, false],
    'a hole decodes as a hole',
  );
});

test('a volume record round-trips; one of version 1 (no flags) reads with .snap hidden', () => {
  for (const showSnap of [false, true]) {
    const volume = { id: 7, name: 'photos', createdNs: 1764000000123456789n, nextIno: 123456, showSnap };
    assert.deepEqual(decodeVolume(encodeVolume(volume)), volume);
  }
  // As format 4 wrote it: version 1, id, created ns, next inode, the name.
  const v1 = Buffer.alloc(21 + 6);
  v1.writeUInt8(1, 0);
  v1.writeUInt32LE(7, 1);
  v1.writeBigInt64LE(5n, 5);
  v1.writeDoubleLE(99, 13);
  v1.write('photos', 21, 'utf8');
  assert.deepEqual(decodeVolume(v1), { id: 7, name: 'photos', createdNs: 5n, nextIno: 99, showSnap: false });
});

test('directory entry keys sort by parent, then name bytes, and give the name back', () => {
  const a = direntKey(1, 2, 'a');
  const b = direntKey(1, 2, 'b');
  const other = direntKey(1, 3, '0');
  assert.ok(Buffer.compare(a, b) < 0 && Buffer.compare(b, other) < 0);
  assert.equal(direntNameFromKey(direntKey(1, 2, 'naïve name')), 'naïve name');
});

test('a tree object round-trips its entries (files, directories with their tree keys, names in UTF-8)', () => {
  const file = (ino: number, mode: number, manifestKey: Uint8Array | null) =>
    encodeInode({
      ino,
      mode,
      uid: 1000,
      gid: 100,
      nlink: 2,
      sizeBytes: 123,
      atimeNs: 1n,
      mtimeNs: 981173106123456789n,
      ctimeNs: 3n,
      manifestKey,
      symlinkTarget: null,
      rdev: 0,
      xattrs: new Map([['user.a', Buffer.from('b')]]),
    });
  const entries = [
    { name: 'a.txt', ino: 7, record: file(7, 0o100644, randomBytes(32)), treeKey: null },
    { name: 'docs', ino: 8, record: file(8, 0o040755, null), treeKey: randomBytes(32) },
    { name: 'é link', ino: 7, record: file(7, 0o100644, null), treeKey: null },
  ];
  const decoded = decodeTree(encodeTree(entries));
  assert.deepEqual(
    decoded.map((e) => [
      e.name,
      e.ino,
      Buffer.from(e.record).toString('hex'),
      e.treeKey && Buffer.from(e.treeKey).toString('hex'),
    ]),
    entries.map((e) => [e.name, e.ino, e.record.toString('hex'), e.treeKey && e.treeKey.toString('hex')]),
  );
  assert.equal(decodeInode(7, decoded[0]!.record).mtimeNs, 981173106123456789n);
  assert.throws(() => decodeTree(Buffer.from('bzlmnf01')), FormatError);
  assert.throws(() => decodeTree(Buffer.concat([encodeTree(entries), Buffer.from([0])])), /trailing bytes/);
});

test('a snapshot record round-trips', () => {
  const record = {
    name: 'before-upgrade',
    createdNs: 1764531912123456789n,
    automatic: true,
    scheduled: true,
    rootTreeKey: randomBytes(32),
    files: 100_000,
    logicalBytes: 5 * 2 ** 40,
    rootRecord: encodeInode({
      ino: 1,
      mode: 0o040700,
      uid: 0,
      gid: 0,
      nlink: 3,
      sizeBytes: 0,
      atimeNs: 0n,
      mtimeNs: 0n,
      ctimeNs: 0n,
      manifestKey: null,
      symlinkTarget: null,
      rdev: 0,
      xattrs: new Map(),
    }),
  };
  const decoded = decodeSnapshot(record.name, encodeSnapshot(record));
  assert.deepEqual(
    { ...decoded, rootTreeKey: Buffer.from(decoded.rootTreeKey), rootRecord: Buffer.from(decoded.rootRecord) },
    {
      ...record,
      rootTreeKey: Buffer.from(record.rootTreeKey),
      rootRecord: record.rootRecord,
    },
  );
});
