import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, open, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test, type TestContext } from 'node:test';
import { ChunkPool } from '../../src-main/engine/chunking/chunk-pool.js';
import {
  PACK_BLOCK_BYTES,
  PACK_HEADER_BYTES,
  decodePackLocation,
  packFileName,
  packKey,
  readPackHeader,
} from '../../src-main/engine/store/format.js';
import { PackFile, alignedBuffer } from '../../src-main/engine/store/pack-file.js';
import { PackWriter } from '../../src-main/engine/store/pack-writer.js';
import { PackReaders, Store, chunkKeyOf, packsDirOf } from '../../src-main/engine/store/store.js';
import { ChunkCache } from '../../src-main/engine/store/chunk-cache.js';
import type { FsError } from '../../src-main/common/errors.js';
import { ChunkReader } from '../../src-main/engine/chunking/chunk-reader.js';

const MiB = 1024 * 1024;
const PAGE = 128 * 1024;

const dirs: string[] = [];
async function tempDir(root: string): Promise<string> {
  const dir = await mkdtemp(join(root, 'bazil-packs-'));
  dirs.push(dir);
  return dir;
}
after(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

/** A flush job for a new file holding `data`. */
function jobOf(data: Buffer) {
  const pages = new Map<number, Uint8Array>();
  for (let i = 0; i * PAGE < data.length; i++) {
    const page = new Uint8Array(new SharedArrayBuffer(PAGE));
    page.set(data.subarray(i * PAGE, (i + 1) * PAGE));
    pages.set(i, page);
  }
  return { base: [], baseLimitBytes: 0, sizeBytes: data.length, pageBytes: PAGE, pages, storeManifest: true };
}

/** Stores `data` as a file's content through a chunk worker; returns the chunks and where they start. */
async function storeFile(dir: string, data: Buffer) {
  const pool = new ChunkPool(dir, 1);
  try {
    const reply = await pool.flush(jobOf(data));
    let at = 0;
    return reply.chunks.map((chunk) => {
      const start = at;
      at += chunk.sizeBytes;
      return { ...chunk, start };
    });
  } finally {
    await pool.close();
  }
}

/**
 * A store in `root` holding one file of `sizeBytes` random bytes (more than the cache's 48 MiB of
 * slots makes reading it all reuse every slot), and a chunk cache over it for `use`.
 */
async function withCachedFile(
  root: string,
  sizeBytes: number,
  trimAfterIdleMs: number,
  use: (file: { data: Buffer; chunks: Awaited<ReturnType<typeof storeFile>>; cache: ChunkCache }) => Promise<void>,
): Promise<void> {
  const dir = await tempDir(root);
  const data = randomBytes(sizeBytes);
  const chunks = await storeFile(dir, data);
  const store = new Store(dir);
  const cache = new ChunkCache(store.dbs, new PackReaders(packsDirOf(dir), true), trimAfterIdleMs);
  try {
    await use({ data, chunks, cache });
  } finally {
    cache.close();
    await store.close();
  }
}

/** The caches' wait before giving memory back, in the tests of that. */
const IDLE_MS = 50;

/**
 * From here on, the cache's timers run on mocked time: each test says how long reads stop for
 * (`idle`) instead of sleeping through it. Loads (real I/O) do not wait on timers, but a prefetch
 * still reading keeps its slot: only tick once every load has been awaited.
 */
function mockIdleTime(t: TestContext): void {
  t.mock.timers.enable({ apis: ['setInterval', 'setTimeout'] });
}

/** `ms` pass without a read. */
function idle(t: TestContext, ms: number): void {
  t.mock.timers.tick(ms);
}

// One suite, run on the temporary folder's file system (ext4 here) and on tmpfs (which refuses
// O_DIRECT before Linux 6.6: the packs then use buffered I/O).
const places: [string, string][] = [['the temporary folder', tmpdir()]];
if (existsSync('/dev/shm')) places.push(['tmpfs', '/dev/shm']);

for (const [where, root] of places) {
  test(`${where}: chunks a worker stores read back whole, through the cache and directly`, async () => {
    const dir = await tempDir(root);
    const data = randomBytes(13 * MiB + 4321);
    const chunks = await storeFile(dir, data);
    assert.ok(chunks.length > 20, `${chunks.length} chunks`);
    const store = new Store(dir);
    try {
      assert.deepEqual(store.stats().packReads, { count: 0, bytes: 0, busyMs: 0 }, 'no disk read yet');
      for (const chunk of chunks) {
        const expected = data.subarray(chunk.start, chunk.start + chunk.sizeBytes);
        assert.ok(store.readChunk(chunk.key)?.equals(expected), `chunk at ${chunk.start} read directly`);
        assert.equal(store.cache.get(chunk), null, 'a packed chunk is not in memory before it is loaded');
        await store.cache.load(chunk);
        assert.ok(Buffer.from(store.cache.get(chunk)!).equals(expected), `chunk at ${chunk.start} through the cache`);
      }
      const stats = store.stats();
      assert.equal(stats.chunkCount, chunks.length);
      // One disk read per chunk loaded (reads directly do not count: they are not the mounts').
      assert.equal(stats.packReads.count, chunks.length);
      assert.ok(stats.packReads.bytes >= data.length, `${stats.packReads.bytes} bytes read`);
      assert.ok(stats.packReads.busyMs > 0);
      assert.ok(stats.storeBytes >= data.length, `store ${stats.storeBytes} bytes`);
      assert.deepEqual(
        store.openCheck,
        { checkedChunks: 0, droppedChunks: 0 },
        'a clean close leaves nothing to check',
      );
    } finally {
      await store.close();
    }
  });

  test(`${where}: a chunk kept in LMDB (a small file's) is read through the cache at once`, async () => {
    const store = new Store(await tempDir(root));
    try {
      const bytes = randomBytes(5000);
      const key = chunkKeyOf(bytes);
      await store.dbs.chunks.put(key, bytes);
      const got = store.cache.get({ key, sizeBytes: bytes.length });
      assert.ok(got && Buffer.from(got).equals(bytes));
      assert.throws(() => store.cache.get({ key: Buffer.alloc(32, 9), sizeBytes: 1 }), /chunk 0909.* is missing/);
    } finally {
      await store.close();
    }
  });

  test(`${where}: the cache gives its memory back once reads stop`, async (t) => {
    const dir = await tempDir(root);
    const [chunk] = await storeFile(dir, randomBytes(2 * MiB));
    const store = new Store(dir);
    const cache = new ChunkCache(store.dbs, new PackReaders(packsDirOf(dir), true), IDLE_MS);
    try {
      mockIdleTime(t);
      let trimmed = 0;
      cache.onTrimmed = () => trimmed++;
      await cache.load(chunk!);
      assert.ok(cache.get(chunk!));
      idle(t, IDLE_MS - 1);
      assert.equal(trimmed, 0, 'kept while reads may still come');
      idle(t, IDLE_MS + 1);
      assert.equal(trimmed, 1, 'given back within twice the wait');
      assert.equal(cache.get(chunk!), null, 'the chunk is no longer in memory');
      await cache.load(chunk!);
      assert.ok(cache.get(chunk!), 'and loads again');
    } finally {
      cache.close();
      await store.close();
    }
  });

  test(`${where}: bytes in the cache are handed over as they lie there, a piece per run of chunks read together`, async () => {
    await withCachedFile(root, 56 * MiB, 60_000, async ({ data, chunks, cache }) => {
      const reader = new ChunkReader(chunks, cache);
      const same = (pieces: Uint8Array[], from: number, to: number) =>
        assert.ok(Buffer.concat(pieces).equals(data.subarray(from, to)), `bytes ${from}-${to}`);
      // Across the first chunk's end: the next one was read with it, right after it in the slot.
      const offset = chunks[0]!.sizeBytes - 1000;
      const end = offset + 128 * 1024;
      assert.equal(reader.pieces(offset, end), chunks[0], 'a chunk not in memory is to be loaded first');
      await cache.load(chunks[0]!);
      const pieces = reader.pieces(offset, end) as Uint8Array[];
      assert.equal(pieces.length, 1, 'bytes of two chunks read together are one piece');
      same(pieces, offset, end);
      assert.equal(pieces[0]!.buffer, cache.get(chunks[0]!)!.buffer, 'not a copy: the cache memory itself');

      // The end of what one slot holds: the chunk after it was not read with it.
      const slotEnd = chunks.findIndex((chunk, i) => i > 0 && cache.get(chunk) === null);
      assert.ok(slotEnd > 1, 'the first load brought in a run of chunks');
      const across = chunks[slotEnd]!.start - 10;
      assert.equal(reader.pieces(across, across + 20), chunks[slotEnd], 'a later chunk not in memory: to be loaded');
      await cache.load(chunks[slotEnd]!);
      assert.ok(cache.get(chunks[slotEnd - 1]!), 'both slots are in memory');
      const two = reader.pieces(across, across + 20) as Uint8Array[];
      assert.ok(two.length >= 1 && two.length <= 2, `${two.length} pieces`);
      same(two, across, across + 20);
      assert.ok(
        two.every((piece) => cache.stays(piece)),
        'each piece is the cache memory itself',
      );
    });
  });

  test(`${where}: chunks kept in LMDB, whose bytes the next read overwrites, are not gathered but copied`, async () => {
    const dir = await tempDir(root);
    const store = new Store(dir);
    const cache = new ChunkCache(store.dbs, new PackReaders(packsDirOf(dir), true));
    try {
      const parts = [randomBytes(1000), randomBytes(2000)];
      const refs = parts.map((bytes) => {
        const key = chunkKeyOf(bytes);
        store.dbs.chunks.putSync(key, bytes);
        return { key, sizeBytes: bytes.length };
      });
      const reader = new ChunkReader(refs, cache);
      const first = reader.pieces(10, 20) as Uint8Array[];
      assert.ok(Buffer.from(first[0]!).equals(parts[0]!.subarray(10, 20)), 'within one chunk: its bytes');
      assert.equal(cache.stays(first[0]!), false);
      assert.equal(reader.pieces(990, 1010), null, 'across two: copied (reading the second overwrites the first)');
    } finally {
      cache.close();
      await store.close();
    }
  });

  test(`${where}: once the store closes, nothing reads it: a load in flight fails with EIO and calls nothing back`, async () => {
    await withCachedFile(root, 4 * MiB, 60_000, async ({ chunks, cache }) => {
      let calledBack = false;
      const loading = cache.load(chunks[0]!, () => (calledBack = true));
      cache.close(); // the engine stops while a read waits for the disk
      await assert.rejects(loading, (error: FsError) => error.code === 'EIO' && /store is closed/.test(error.message));
      assert.equal(calledBack, false, 'the reader was not called back to read a closed store');
      assert.throws(
        () => cache.get(chunks[1]!),
        (error: FsError) => error.code === 'EIO',
      );
      await assert.rejects(cache.load(chunks[1]!), (error: FsError) => error.code === 'EIO');
    });
  });

  test(`${where}: chunks prefetched for a reader stay until read, whatever is prefetched or loaded after them`, async () => {
    await withCachedFile(root, 56 * MiB, 60_000, async ({ chunks, cache }) => {
      // The first 24 MiB take about 13 of the 24 slots; the rest of the file would need about 17.
      const split = chunks.findIndex((chunk) => chunk.start >= 24 * MiB);
      cache.prefetch(chunks.slice(0, split));
      for (const chunk of chunks.slice(0, split)) await cache.load(chunk); // waits for the prefetch
      cache.prefetch(chunks.slice(split));
      await cache.load(chunks[split]!); // prefetched into a free slot: waits for that
      const kept = chunks.slice(0, split).filter((chunk) => cache.get(chunk) !== null).length;
      assert.equal(kept, split, `${kept} of the ${split} chunks prefetched first are still in memory`);
      // Those were read just now; a load in need of a slot reuses the one read longest ago, not
      // one prefetched since.
      await cache.load(chunks[chunks.length - 1]!);
      assert.equal(cache.get(chunks[0]!), null, 'the slot read longest ago was reused');
      assert.notEqual(cache.get(chunks[split]!), null, 'the chunks prefetched last are still in memory');
    });
  });

  test(`${where}: after a crash, chunks whose bytes did not reach the disk are dropped, the rest kept`, async () => {
    const dir = await tempDir(root);
    const data = randomBytes(6 * MiB);
    const chunks = await storeFile(dir, data);
    // A power loss after the index reached the disk but before the pack did: the record of the
    // pack's synced length is gone, one chunk's bytes are zeros, and the file lost its tail.
    let store = new Store(dir);
    const location = decodePackLocation(store.dbs.packedChunks.get(Buffer.from(chunks[2]!.key))!);
    await store.dbs.packs.remove(packKey(location.packId));
    await store.env.close();
    const packPath = join(packsDirOf(dir), packFileName(location.packId));
    const file = await open(packPath, 'r+');
    await file.write(Buffer.alloc(chunks[2]!.sizeBytes), 0, chunks[2]!.sizeBytes, location.offset);
    const last = chunks[chunks.length - 1]!;
    // Cut inside the last chunk, whatever its size (the end of the file may make it tiny).
    await file.truncate(location.offset - chunks[2]!.start + last.start + Math.floor(last.sizeBytes / 2));
    await file.close();

    store = new Store(dir);
    try {
      assert.deepEqual(store.openCheck, { checkedChunks: chunks.length, droppedChunks: 2 });
      chunks.forEach((chunk, i) => {
        const bytes = store.readChunk(chunk.key);
        if (i === 2 || i === chunks.length - 1) assert.equal(bytes, undefined, `chunk ${i} is dropped`);
        else assert.ok(bytes?.equals(data.subarray(chunk.start, chunk.start + chunk.sizeBytes)), `chunk ${i} is kept`);
      });
    } finally {
      await store.close();
    }
    // The check is recorded: the next open has nothing to check.
    store = new Store(dir);
    assert.deepEqual(store.openCheck, { checkedChunks: 0, droppedChunks: 0 });
    await store.close();
  });

  test(`${where}: a pack is written in whole blocks, and a chunk after a seal starts a new block`, async () => {
    const packsDir = await tempDir(root);
    const ids = [1, 2];
    await writeFile(join(packsDir, packFileName(1)), 'left by a crash that lost the id counter');
    const synced: [number, number][] = [];
    const writer = new PackWriter({
      packsDir,
      newPackId: () => ids.shift()!,
      onPackStarted: () => undefined,
      recordSynced: async (packId, bytes) => void synced.push([packId, bytes]),
    });
    // Enough for several stage buffers, waiting for room between chunks as the worker does.
    const written: { bytes: Buffer; offset: number }[] = [];
    for (let i = 0; i < 40; i++) {
      const bytes = randomBytes(300_000 + i);
      const half = bytes.length >> 1;
      const location = writer.append([bytes.subarray(0, half), bytes.subarray(half)], bytes.length);
      assert.equal(location.packId, 2, 'the pack id whose file exists is skipped');
      written.push({ bytes, offset: location.offset });
      await writer.roomForNext();
    }
    const first = await writer.seal();
    const next = writer.append([Buffer.from('after the seal')], 14);
    assert.equal(next.offset % PACK_BLOCK_BYTES, 0);
    assert.equal(next.offset, first!.endBytes);
    const second = await writer.seal();
    assert.equal(
      await writer.seal().then((r) => r?.endBytes),
      second!.endBytes,
      'a seal with nothing new writes nothing',
    );
    await writer.close();
    assert.deepEqual(synced, [[2, second!.endBytes]]);

    const pack = await readFile(join(packsDir, packFileName(2)));
    assert.equal(readPackHeader(pack), 2);
    assert.equal(written[0]!.offset, PACK_HEADER_BYTES);
    assert.equal(pack.length, second!.endBytes);
    assert.equal(pack.length % PACK_BLOCK_BYTES, 0);
    for (const { bytes, offset } of written) assert.ok(pack.subarray(offset, offset + bytes.length).equals(bytes));
    assert.equal(pack.toString('latin1', next.offset, next.offset + 14), 'after the seal');
    assert.equal((await stat(join(packsDir, packFileName(1)))).size, 40, 'the existing file is left alone');
  });
}

test('direct I/O that the kernel refuses (EINVAL) falls back to buffered I/O, with the same result', async () => {
  const dir = await tempDir(tmpdir());
  const path = join(dir, packFileName(1));
  const pack = PackFile.create(path);
  // A buffer that starts one byte past an aligned address: direct I/O refuses it.
  const misaligned = alignedBuffer(2 * PACK_BLOCK_BYTES).subarray(1, 1 + PACK_BLOCK_BYTES);
  misaligned.fill(0x42);
  await pack.write(misaligned, 0, PACK_BLOCK_BYTES, 0);
  assert.equal(pack.isDirect, false, 'the pack fell back to buffered I/O');
  await pack.close();
  const reader = PackFile.openForReading(path, { direct: true });
  const out = alignedBuffer(2 * PACK_BLOCK_BYTES).subarray(3, 3 + PACK_BLOCK_BYTES);
  assert.equal(await reader.read(out, 0, PACK_BLOCK_BYTES, 0), PACK_BLOCK_BYTES);
  assert.ok(out.every((b) => b === 0x42));
  await reader.close();
});
