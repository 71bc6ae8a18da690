/**
 * Read windows at the level of VolumeFs: what the FUSE adapter may keep lent, and when VolumeFs
 * takes it back. (The mount-level behaviour is in the integration tests; the race between a loan
 * and its answer cannot be provoked from outside.)
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { ChunkPool } from '../../src-main/engine/chunking/chunk-pool.js';
import { giveBack } from '../../src-main/engine/chunking/chunk-reader.js';
import { DirtyBudget } from '../../src-main/engine/fs/dirty-budget.js';
import { S_IFDIR, S_IFREG, VolumeFs } from '../../src-main/engine/fs/volume-fs.js';
import { newInode } from '../../src-main/engine/fs/volume-meta.js';
import { ROOT_INO, encodeInode, inodeKey, type VolumeRecord } from '../../src-main/engine/store/format.js';
import { Store } from '../../src-main/engine/store/store.js';

const MiB = 1024 * 1024;

/** A store with one empty volume, its file system and chunk workers, for `use`; then all closed. */
async function withVolume(use: (fs: VolumeFs, store: Store) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'bazil-volume-fs-'));
  const store = new Store(dir);
  const pool = new ChunkPool(dir, 1);
  try {
    const volume: VolumeRecord = { id: 1, name: 'v', createdNs: 0n, nextIno: ROOT_INO + 1 };
    await store.dbs.inodes.put(inodeKey(1, ROOT_INO), encodeInode(newInode(ROOT_INO, S_IFDIR | 0o755, 2)));
    await use(new VolumeFs(volume, { store, pool, budget: new DirtyBudget(64 * MiB), dataDir: dir }), store);
  } finally {
    await pool.close();
    await store.close();
    await rm(dir, { recursive: true, force: true });
  }
}

/** Fails instead of waiting for ever. */
function within<T>(ms: number, what: string, promise: Promise<T> | T): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ms} ms`)), ms);
  });
  return Promise.race([Promise.resolve(promise), timeout]).finally(() => clearTimeout(timer));
}

test('a read window is kept only while the file is unchanged, and revoked when it changes', async () => {
  await withVolume(async (fs) => {
    const revoked: (number | undefined)[] = [];
    const stop = fs.lendWindows((ino) => revoked.push(ino));

    const fh = fs.create('/f', S_IFREG | 0o644, 0);
    await fs.write('/f', fh, randomBytes(8 * MiB), 0);
    await fs.flush('/f', fh); // stored: reads now come from the chunk cache
    const out = Buffer.alloc(131072);
    /**
     * The first read from `offset` on whose loan runs on past it: a read across two cache slots
     * is copied instead, and one at the end of a slot has nothing more to lend.
     */
    const lentRead = async (offset: number) => {
      for (let at = offset; at < offset + 2 * MiB; at += out.length) {
        const answer = await fs.read('/f', fh, out, out.length, at);
        if (typeof answer === 'number') continue;
        if (answer.loan.bytes.length > answer.count) return answer;
        giveBack(answer.loan);
      }
      assert.fail(`no read from ${offset} on was lent with bytes past it`);
    };

    const first = await lentRead(0);
    assert.equal(fs.keepWindow(first), true, 'an unchanged file keeps its window');
    assert.deepEqual(revoked, []);

    // A change between a loan and its answer: the window is turned down, not kept.
    const second = await lentRead(1 * MiB);
    await fs.write('/f', fh, Buffer.from('changed'), 4 * MiB);
    assert.equal(fs.keepWindow(second), false, 'a window lent before a change is turned down');
    assert.deepEqual(revoked, [first.ino], 'and the write took back the window kept before it');

    await fs.flush('/f', fh);
    const third = await lentRead(0);
    stop();
    assert.deepEqual(revoked, [first.ino, undefined], 'stopping takes back every window');
    assert.equal(fs.keepWindow(third), false, 'and no window is kept after it');
    for (const answer of [first, second, third]) giveBack(answer.loan);
    await fs.release('/f', fh);
  });
});

test('a read or write across two chunks completes while prefetched chunks fill the cache', async () => {
  await withVolume(async (fs, store) => {
    const write = async (path: string, data: Buffer) => {
      const fh = fs.create(path, S_IFREG | 0o644, 0);
      for (let at = 0; at < data.length; at += 4 * MiB) await fs.write(path, fh, data.subarray(at, at + 4 * MiB), at);
      await fs.release(path, fh); // stored: reads now come from the packs through the chunk cache
      return store.getManifest(fs.meta.inode(fs.getattr(path).ino)!.manifestKey!);
    };
    const filler = await write('/filler', randomBytes(64 * MiB));
    const data = randomBytes(8 * MiB);
    const chunks = await write('/f', data);
    /** Chunks prefetched for a reader that never comes take every slot the cache lets them. */
    const fillCache = () => {
      for (let round = 0; round < 4; round++) store.cache.prefetch(filler);
    };
    fillCache();
    const boundary = chunks[0]!.sizeBytes;
    const fh = fs.open('/f', 2);
    const out = Buffer.alloc(131072);
    // Before, the chunk on one side was loaded into the slot of the one on the other, for ever.
    const count = await within(
      10_000,
      'a read across two chunks',
      fs.read('/f', fh, out, out.length, boundary - 65536),
    );
    assert.equal(typeof count === 'number' ? count : count.count, out.length);
    const got = typeof count === 'number' ? out : Buffer.from(count.loan.bytes.subarray(0, count.count));
    if (typeof count !== 'number') giveBack(count.loan);
    assert.ok(got.equals(data.subarray(boundary - 65536, boundary + 65536)), "the bytes read are the file's");

    // A write of part of a page across the next boundary fills the rest of the page from both chunks.
    const second = boundary + chunks[1]!.sizeBytes;
    fillCache();
    const patch = Buffer.from('patched across a chunk boundary');
    await within(10_000, 'a write across two chunks', fs.write('/f', fh, patch, second - 10));
    patch.copy(data, second - 10);
    const page = Buffer.alloc(131072);
    const pageStart = Math.floor((second - 10) / 131072) * 131072;
    const n = await within(10_000, 'a read of the written page', fs.read('/f', fh, page, page.length, pageStart));
    const pageBytes = typeof n === 'number' ? page : Buffer.from(n.loan.bytes.subarray(0, n.count));
    if (typeof n !== 'number') giveBack(n.loan);
    assert.ok(
      pageBytes.equals(data.subarray(pageStart, pageStart + 131072)),
      "the page holds the file's bytes and the patch",
    );
    await fs.release('/f', fh);
  });
});
