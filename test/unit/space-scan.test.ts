/**
 * The mark's order of steps (see src-main/engine/store/mark.ts), on a real LMDB store with the
 * scan's own thread: stores made at each step of a scan are counted as they must be.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { PACK_HEADER_BYTES, encodeManifest, encodePackLocation, inodeKey } from '../../src-main/engine/store/format.js';
import { Store, chunkKeyOf } from '../../src-main/engine/store/store.js';
import type { MarkSources, MemoryRoots } from '../../src-main/engine/store/mark.js';
import { SpaceScanner } from '../../src-main/engine/store/space-scan.js';
import { fileInodeRecord } from '../helpers/store-records.js';

const dirs: string[] = [];
after(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

const CHUNK_BYTES = 100_000;
let nextOffset = PACK_HEADER_BYTES;

/** A chunk's index entry, committed now (its bytes are not needed: no pack is accounted here). */
function commitChunk(store: Store): Buffer {
  const key = randomBytes(32);
  store.dbs.packedChunks.putSync(key, encodePackLocation({ packId: 1, offset: nextOffset, sizeBytes: CHUNK_BYTES }));
  nextOffset += CHUNK_BYTES;
  return key;
}

function commitManifest(store: Store, chunks: Buffer[]): Buffer {
  const bytes = encodeManifest(chunks.map((key) => ({ key, sizeBytes: CHUNK_BYTES })));
  const key = chunkKeyOf(bytes);
  store.dbs.manifests.putSync(key, bytes);
  return key;
}

/** A store with one live file of one chunk, and a scanner over it with these sources. */
async function scannerOf(
  sources: (store: Store) => Partial<MarkSources>,
): Promise<{ store: Store; scanner: SpaceScanner }> {
  const dir = await mkdtemp(join(tmpdir(), 'bazil-space-'));
  dirs.push(dir);
  const store = new Store(dir);
  store.dbs.inodes.putSync(inodeKey(1, 2), fileInodeRecord(2, commitManifest(store, [commitChunk(store)])));
  const noMemory: MemoryRoots = { mountedVolumeIds: [], manifestKeys: [], chunkKeys: [] };
  const scanner = new SpaceScanner(dir, {
    feed: store.marks,
    memoryRoots: () => noMemory,
    packs: () => [],
    flushesAnswered: () => Promise.resolve(),
    ...sources(store),
  });
  return { store, scanner };
}

test('only live data: nothing is reclaimable', async () => {
  const { store, scanner } = await scannerOf(() => ({}));
  const report = await scanner.scan();
  assert.equal(report.reclaimableBytes, 0);
  assert.deepEqual(report.live, {
    chunks: 1,
    chunkBytes: CHUNK_BYTES,
    manifests: 1,
    manifestBytes: 48,
    trees: 0,
    treeBytes: 0,
  });
  await store.close();
});

test('a chunk stored after the snapshot is not counted: it is no candidate', async () => {
  let storedDuringScan: Buffer | null = null;
  const { store, scanner } = await scannerOf((store) => ({
    // Called once the scan's thread has its snapshot: a flush stores a chunk, no manifest names it yet.
    flushesAnswered: async () => {
      storedDuringScan = commitChunk(store);
    },
  }));
  const report = await scanner.scan();
  assert.ok(storedDuringScan, 'a chunk was stored while the scan ran');
  assert.equal(report.unreferenced.packedChunks, 0, 'the new chunk is not garbage');
  assert.equal(report.live.chunks, 1);
  await store.close();
});

test('a chunk a flush stored before the snapshot is not garbage: the scan waits for the flush to answer', async () => {
  const { store, scanner } = await scannerOf((store) => {
    let inFlight: Buffer | null = null;
    return {
      memoryRoots: () => {
        // A chunk worker commits its chunks now, before the snapshot; the engine hears of them
        // (and announces them) only when the worker answers, later.
        inFlight = commitChunk(store);
        return { mountedVolumeIds: [], manifestKeys: [], chunkKeys: [] };
      },
      flushesAnswered: () =>
        new Promise<void>((resolve) =>
          setTimeout(() => {
            store.marks.announce(null, [{ key: inFlight!, sizeBytes: CHUNK_BYTES }]);
            resolve();
          }, 100),
        ),
    };
  });
  const report = await scanner.scan();
  assert.equal(report.unreferenced.packedChunks, 0, 'the flush in flight named its chunk');
  assert.equal(report.live.chunks, 2);
  await store.close();
});

test('the snapshot is taken after the memory roots: an inode committed from memory meanwhile is seen', async () => {
  const { store, scanner } = await scannerOf((store) => {
    // Stored earlier by a flush, named only by an inode in memory, not yet committed.
    const chunk = commitChunk(store);
    const manifest = commitManifest(store, [chunk]);
    return {
      memoryRoots: () => {
        // An inode record naming it commits as memory is read, and is not among the roots: the
        // snapshot, taken after, must hold it (taken before, the chunk would look unreferenced).
        store.dbs.inodes.putSync(inodeKey(1, 3), fileInodeRecord(3, manifest));
        return { mountedVolumeIds: [1], manifestKeys: [], chunkKeys: [] };
      },
    };
  });
  const report = await scanner.scan();
  assert.equal(report.unreferenced.packedChunks, 0);
  assert.equal(report.live.chunks, 2);
  await store.close();
});

test('deleting the only inode that names a chunk makes it and its manifest unreferenced', async () => {
  const { store, scanner } = await scannerOf(() => ({}));
  store.dbs.inodes.removeSync(inodeKey(1, 2));
  const report = await scanner.scan();
  assert.equal(report.unreferenced.packedChunks, 1);
  assert.equal(report.unreferenced.packedBytes, CHUNK_BYTES);
  assert.equal(report.unreferenced.manifests, 1);
  assert.equal(report.reclaimableBytes, CHUNK_BYTES + 48);
  await store.close();
});

test('stopping the scanner fails the scan that runs, and its thread ends', async () => {
  const { store, scanner } = await scannerOf(() => ({
    flushesAnswered: () => new Promise<void>((resolve) => setTimeout(resolve, 200)),
  }));
  const scan = scanner.scan();
  await new Promise((resolve) => setTimeout(resolve, 50));
  await scanner.stop();
  await assert.rejects(scan, /space scan: cancelled/);
  await assert.rejects(scanner.scan(), /the engine is stopping/);
  await store.close();
});
