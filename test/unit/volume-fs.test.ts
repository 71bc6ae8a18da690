/**
 * VolumeFs directly, in the kernel's terms (inodes, names, handles): what a mount cannot provoke
 * on demand (a cache full of prefetched chunks), and the kernel's references. Everything else is
 * tested through real mounts in the integration tests.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import type { VolumeFs } from '../../src-main/engine/fs/volume-fs.js';
import { ROOT_INO } from '../../src-main/engine/store/format.js';
import type { Store } from '../../src-main/engine/store/store.js';
import { mkdirNow, withVolume } from '../helpers/volume-harness.js';

const MiB = 1024 * 1024;

/** Fails instead of waiting for ever. */
function within<T>(ms: number, what: string, promise: Promise<T> | T): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ms} ms`)), ms);
  });
  return Promise.race([Promise.resolve(promise), timeout]).finally(() => clearTimeout(timer));
}

const me = { uid: 1000, gid: 1000 };
const O_RDWR = 2;

/** Reads through VolumeFs, copying what it delivers. */
async function readAll(fs: VolumeFs, fh: number, size: number, offset: number): Promise<Buffer> {
  let got: Buffer | null = null;
  await fs.read(fh, size, offset, (pieces) => (got = Buffer.concat(pieces)));
  assert.ok(got, 'the read delivered');
  return got;
}

/** Writes `data` as a new file in the root, closes it (stored), and returns its chunks. */
async function storeFile(fs: VolumeFs, store: Store, name: string, data: Buffer) {
  const { inode, fh } = fs.createFile(ROOT_INO, name, 0o644, O_RDWR, me);
  for (let at = 0; at < data.length; at += 4 * MiB) await fs.write(fh, data.subarray(at, at + 4 * MiB), at);
  await fs.flush(fh);
  await fs.release(fh);
  return { inode, chunks: store.getManifest(inode.manifestKey!) };
}

test("the kernel's references: a looked-up inode stays in memory until forgotten, then goes (and comes back)", async () => {
  await withVolume(async (fs) => {
    const dir = mkdirNow(fs, ROOT_INO, 'd', 0o755, me);
    fs.referenced(dir);
    const { inode, fh } = fs.createFile(dir.ino, 'f', 0o600, O_RDWR, me);
    fs.referenced(inode);
    await fs.release(fh);
    await fs.meta.committed();
    assert.equal(fs.lookup(dir.ino, 'f'), inode);
    fs.referenced(inode);
    fs.forget(inode.ino, 1);
    assert.equal(fs.meta.loadedInode(inode.ino), inode, 'one reference left');
    fs.forget(inode.ino, 1);
    assert.equal(fs.meta.loadedInode(inode.ino), undefined, 'forgotten: no longer in memory');
    const again = fs.lookup(dir.ino, 'f');
    assert.equal(again.ino, inode.ino, 'looked up again, from the store');
    assert.equal(again.uid, 1000, 'with what was stored (the caller owns what it creates)');
  });
});

test('an open file unlinked keeps its data and attributes through its handle, and goes at its last close', async () => {
  await withVolume(async (fs) => {
    const dir = mkdirNow(fs, ROOT_INO, 'd', 0o755, me);
    const { inode, fh } = fs.createFile(dir.ino, 'f', 0o644, O_RDWR, me);
    await fs.write(fh, Buffer.from('still here'), 0);
    fs.unlink(dir.ino, 'f');
    fs.rmdir(ROOT_INO, 'd');
    assert.equal(fs.getattr(inode.ino, fh).nlink, 0, 'fstat works, whatever happened to its directory');
    assert.equal((await readAll(fs, fh, 100, 0)).toString(), 'still here');
    await fs.release(fh);
    assert.throws(() => fs.getattr(inode.ino, null), /ESTALE/);
  });
});

test('rename: RENAME_EXCHANGE swaps two names, RENAME_NOREPLACE refuses to replace, a directory cannot go below itself', async () => {
  await withVolume(async (fs) => {
    const a = mkdirNow(fs, ROOT_INO, 'a', 0o755, me);
    const b = mkdirNow(fs, a.ino, 'b', 0o755, me);
    const file = fs.mknod(ROOT_INO, 'file', 0o100644, 0, me);
    assert.throws(() => fs.rename(ROOT_INO, 'a', b.ino, 'a2', 0), /EINVAL/);
    assert.throws(() => fs.rename(ROOT_INO, 'file', ROOT_INO, 'a', 1), /EEXIST/);
    fs.rename(ROOT_INO, 'file', a.ino, 'b', 2);
    assert.equal(fs.lookup(a.ino, 'b'), file);
    assert.equal(fs.lookup(ROOT_INO, 'file'), b);
    assert.equal(a.nlink, 2, 'a lost its subdirectory');
    assert.equal(fs.getattr(ROOT_INO, null).nlink, 4, 'the root gained one (a and the moved b)');
  });
});

test('a set-group-ID directory gives new entries its group, and new directories its bit', async () => {
  await withVolume(async (fs) => {
    const shared = mkdirNow(fs, ROOT_INO, 'shared', 0o2775, { uid: 0, gid: 50 });
    const file = fs.mknod(shared.ino, 'f', 0o100644, 0, me);
    const sub = mkdirNow(fs, shared.ino, 'sub', 0o755, me);
    assert.deepEqual([file.uid, file.gid], [1000, 50]);
    assert.equal(sub.gid, 50);
    assert.equal(sub.mode & 0o2000, 0o2000);
  });
});

test('a directory read in pieces lists every entry once, while entries are removed as they are read', async () => {
  await withVolume(async (fs) => {
    const dir = mkdirNow(fs, ROOT_INO, 'd', 0o755, me);
    for (let i = 0; i < 300; i++) fs.mknod(dir.ino, `n${i}`, 0o100644, 0, me);
    const fh = fs.opendir(dir.ino);
    const seen: string[] = [];
    for (let offset = 0; ;) {
      const entries = fs.readdir(fh, offset, 17);
      if (entries.length === 0) break;
      for (const { name } of entries) {
        seen.push(name);
        if (name.startsWith('n')) fs.unlink(dir.ino, name); // rm -r deletes as it lists
      }
      offset = entries[entries.length - 1]!.nextOffset;
    }
    fs.releasedir(fh);
    assert.equal(seen.length, 302);
    assert.equal(new Set(seen).size, 302);
    assert.equal(fs.meta.entries(dir.ino).size, 0);
  });
});

test('SEEK_DATA and SEEK_HOLE find the holes of a sparse file', async () => {
  await withVolume(async (fs, store) => {
    const { inode, fh } = fs.createFile(ROOT_INO, 'sparse', 0o644, O_RDWR, me);
    await fs.write(fh, randomBytes(300_000), 0);
    await fs.write(fh, Buffer.from('tail'), 64 * MiB);
    await fs.flush(fh); // stored: the 64 MiB of zeros between are a hole
    assert.ok(store.getManifest(inode.manifestKey!).some((ref) => ref.key.every((b) => b === 0)));
    const SEEK_DATA = 3;
    const SEEK_HOLE = 4;
    const hole = fs.lseek(fh, 0, SEEK_HOLE);
    assert.ok(hole >= 300_000 && hole < 2 * MiB, `the hole starts after the data (${hole})`);
    const data = fs.lseek(fh, hole, SEEK_DATA);
    assert.ok(data > 60 * MiB && data <= 64 * MiB, `data again near the tail (${data})`);
    assert.equal(fs.lseek(fh, 64 * MiB + 4 - 1, SEEK_HOLE), 64 * MiB + 4, 'the end of the file is a hole');
    assert.throws(() => fs.lseek(fh, 64 * MiB + 4, SEEK_DATA), /ENXIO/);
    await fs.release(fh);
  });
});

test('a page used before by another file is not cleared when taken, yet its old bytes never show when a file grows over them', async () => {
  await withVolume(async (fs) => {
    // Pages of a closed file go back to the pool with its bytes in them.
    const old = fs.createFile(ROOT_INO, 'old', 0o644, O_RDWR, me);
    await fs.write(old.fh, Buffer.alloc(1 * MiB, 0xab), 0);
    await fs.flush(old.fh);
    await fs.release(old.fh);
    const { inode, fh } = fs.createFile(ROOT_INO, 'new', 0o644, O_RDWR, me);
    await fs.write(fh, Buffer.from('head'), 0);
    await fs.setattr(inode.ino, fh, { size: 10_000 }); // truncate up
    await fs.write(fh, Buffer.from('gap before me'), 200_000); // a write past the end
    await fs.setattr(inode.ino, fh, { size: 150_000 }); // down, into the second page
    await fs.setattr(inode.ino, fh, { size: 300_000 }); // and up again
    const expected = Buffer.alloc(300_000);
    expected.write('head', 0);
    const got = await readAll(fs, fh, 300_000, 0);
    assert.equal(got.length, 300_000);
    assert.ok(
      got.equals(expected),
      `zeros after "head" (first non-zero past it at ${got.findIndex((b, i) => i >= 4 && b !== 0)})`,
    );
    // A flush in flight (its pages frozen) and the file grown meanwhile.
    await fs.write(fh, Buffer.from('tail'), 299_996);
    const flushing = fs.flush(fh);
    await fs.setattr(inode.ino, fh, { size: 100 });
    await fs.setattr(inode.ino, fh, { size: 280_000 });
    await flushing;
    await fs.flush(fh);
    const after = await readAll(fs, fh, 280_000, 0);
    assert.ok(after.equals(expected.subarray(0, 280_000)), 'zeros past "head" after the flush too');
    await fs.release(fh);
  });
});

test('a read or write across two chunks completes while prefetched chunks fill the cache', async () => {
  await withVolume(async (fs, store) => {
    // Stored: reads now come from the packs through the chunk cache.
    const { chunks: filler } = await storeFile(fs, store, 'filler', randomBytes(64 * MiB));
    const data = randomBytes(8 * MiB);
    const { inode, chunks } = await storeFile(fs, store, 'f', data);
    /** Chunks prefetched for a reader that never comes take every slot the cache lets them. */
    const fillCache = () => {
      for (let round = 0; round < 4; round++) store.cache.prefetch(filler);
    };
    fillCache();
    const boundary = chunks[0]!.sizeBytes;
    const fh = fs.open(inode.ino, O_RDWR);
    // Before, the chunk on one side was loaded into the slot of the one on the other, for ever.
    const got = await within(10_000, 'a read across two chunks', readAll(fs, fh, 131072, boundary - 65536));
    assert.ok(got.equals(data.subarray(boundary - 65536, boundary + 65536)), "the bytes read are the file's");

    // A write of part of a page across the next boundary fills the rest of the page from both chunks.
    const second = boundary + chunks[1]!.sizeBytes;
    fillCache();
    const patch = Buffer.from('patched across a chunk boundary');
    await within(10_000, 'a write across two chunks', fs.write(fh, patch, second - 10));
    patch.copy(data, second - 10);
    const pageStart = Math.floor((second - 10) / 131072) * 131072;
    const pageBytes = await within(10_000, 'a read of the written page', readAll(fs, fh, 131072, pageStart));
    assert.ok(
      pageBytes.equals(data.subarray(pageStart, pageStart + 131072)),
      "the page holds the file's bytes and the patch",
    );
    await fs.release(fh);
  });
});
