/**
 * A garbage collection's sweep (src-main/engine/store/sweep.ts) on a real LMDB store with real
 * pack files and the scan's own thread: what it deletes, what it keeps because it was named again
 * while it ran, and packs rewritten with every byte still there.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import {
  encodeCachedTree,
  encodeManifest,
  encodePackLocation,
  encodePackRecord,
  encodeTree,
  inodeKey,
  packFileName,
  packKey,
} from '../../src-main/engine/store/format.js';
import { Store, chunkKeyOf, newPackId } from '../../src-main/engine/store/store.js';
import { PackWriter } from '../../src-main/engine/store/pack-writer.js';
import { SpaceScanner } from '../../src-main/engine/store/space-scan.js';
import { sweep, type SweepDeps } from '../../src-main/engine/store/sweep.js';
import { fileInodeRecord } from '../helpers/store-records.js';

const dirs: string[] = [];
after(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

const CHUNK_BYTES = 200_000;

async function storeOf(): Promise<Store> {
  const dir = await mkdtemp(join(tmpdir(), 'bazil-sweep-'));
  dirs.push(dir);
  return new Store(dir);
}

/** Writes chunks of random bytes to one new pack, as a chunk worker does, and records them. */
async function packOf(store: Store, count: number): Promise<{ packId: number; chunks: Buffer[]; keys: Buffer[] }> {
  let packId = 0;
  const writer = new PackWriter({
    packsDir: store.packsDir,
    newPackId: () => newPackId(store.env, store.dbs),
    onPackStarted: (id) => (packId = id),
    recordSynced: async (id, syncedBytes) => {
      await store.dbs.packs.put(packKey(id), encodePackRecord(syncedBytes));
    },
  });
  const chunks = Array.from({ length: count }, () => randomBytes(CHUNK_BYTES));
  const locations = chunks.map((bytes) => writer.append([bytes], bytes.length));
  const sealed = (await writer.seal())!;
  await writer.close();
  const keys = chunks.map((bytes) => chunkKeyOf(bytes));
  keys.forEach((key, i) => store.dbs.packedChunks.putSync(key, encodePackLocation(locations[i]!)));
  store.notePacksWritten([sealed], CHUNK_BYTES * count);
  return { packId, chunks, keys };
}

function fileOf(store: Store, ino: number, keys: Buffer[]): Buffer {
  const manifest = encodeManifest(keys.map((key) => ({ key, sizeBytes: CHUNK_BYTES })));
  const manifestKey = chunkKeyOf(manifest);
  store.dbs.manifests.putSync(manifestKey, manifest);
  store.dbs.inodes.putSync(inodeKey(1, ino), fileInodeRecord(ino, manifestKey));
  return manifestKey;
}

function scannerOf(store: Store): SpaceScanner {
  return new SpaceScanner(store.dir, {
    feed: store.marks,
    memoryRoots: () => ({ mountedVolumeIds: [], manifestKeys: [], chunkKeys: [] }),
    packs: () => store.packsAtMark([]),
    flushesAnswered: () => Promise.resolve(),
  });
}

const deps = (store: Store, retired: number[][] = []): SweepDeps => ({
  store,
  holdWorkers: async () => () => undefined,
  retirePacks: (packIds) => retired.push(packIds),
});

test('garbage goes, a mostly-garbage pack is rewritten, and every live chunk reads back the same', async () => {
  const store = await storeOf();
  const { packId, chunks, keys } = await packOf(store, 10);
  // Two chunks live (a file), eight garbage: the pack is rewritten.
  fileOf(store, 2, [keys[3]!, keys[7]!]);
  const deadManifest = chunkKeyOf(encodeManifest([{ key: keys[0]!, sizeBytes: CHUNK_BYTES }]));
  store.dbs.manifests.putSync(deadManifest, encodeManifest([{ key: keys[0]!, sizeBytes: CHUNK_BYTES }]));
  const retired: number[][] = [];
  const { result } = await scannerOf(store).collect((plan, announced) => sweep(deps(store, retired), plan, announced));

  assert.equal(result.deleted.chunks, 8);
  assert.equal(result.deleted.chunkBytes, 8 * CHUNK_BYTES);
  assert.equal(result.deleted.manifests, 1, 'the manifest no inode names');
  assert.equal(store.dbs.manifests.get(deadManifest), undefined);
  assert.deepEqual(result.packs, {
    deleted: 0,
    rewritten: 1,
    punched: 0,
    written: 1,
    copiedBytes: 2 * CHUNK_BYTES,
    bytesBefore: result.packs.bytesBefore,
    bytesAfter: result.packs.bytesAfter,
  });
  assert.ok(result.packs.bytesAfter < result.packs.bytesBefore / 3, 'the new pack holds the two live chunks only');
  assert.ok(result.diskBytesAfter < result.diskBytesBefore, 'the data directory takes less disk');
  assert.deepEqual(retired, [[packId]], 'the chunk workers are told to close the old pack');
  assert.ok(!(await readdir(store.packsDir)).includes(packFileName(packId)), 'the old pack file is deleted');
  for (const i of [3, 7]) assert.ok(store.readChunk(keys[i]!)!.equals(chunks[i]!), `live chunk ${i} reads back`);
  for (const i of [0, 1, 2, 4, 5, 6, 8, 9]) assert.equal(store.readChunk(keys[i]!), undefined, `chunk ${i} is gone`);
  assert.equal(store.dbs.packs.get(packKey(packId)), undefined, 'the old pack has no record');
  await store.close();

  // Opened again, the store finds the new pack recorded and synced: nothing to check, all readable.
  const reopened = new Store(store.dir);
  assert.equal(reopened.openCheck.checkedChunks, 0);
  for (const i of [3, 7]) assert.ok(reopened.readChunk(keys[i]!)!.equals(chunks[i]!));
  const again = await scannerOf(reopened).scan();
  assert.equal(again.reclaimableBytes, 0, 'nothing is left to collect');
  await reopened.close();
});

test('garbage named again while the sweep runs is kept, with what it names, and moved with its pack', async () => {
  const store = await storeOf();
  const { keys, chunks } = await packOf(store, 6);
  fileOf(store, 2, [keys[0]!]);
  // Garbage at the mark: a manifest of chunks 1 and 2, and chunk 3 alone.
  const manifest = encodeManifest([1, 2].map((i) => ({ key: keys[i]!, sizeBytes: CHUNK_BYTES })));
  const manifestKey = chunkKeyOf(manifest);
  store.dbs.manifests.putSync(manifestKey, manifest);
  const { result } = await scannerOf(store).collect((plan, announced) => {
    // As a flush that found them stored (deduplication) would, after the mark and before the sweep.
    store.marks.announce(manifestKey);
    store.marks.announce(null, [{ key: keys[3]!, sizeBytes: CHUNK_BYTES }]);
    return sweep(deps(store), plan, announced);
  });
  assert.equal(result.keptNamedAgain, 4, 'the manifest, the two chunks it names, and chunk 3');
  assert.equal(result.deleted.chunks, 2, 'chunks 4 and 5');
  assert.ok(store.dbs.manifests.get(manifestKey));
  for (const i of [0, 1, 2, 3]) assert.ok(store.readChunk(keys[i]!)!.equals(chunks[i]!), `chunk ${i} reads back`);
  for (const i of [4, 5]) assert.equal(store.readChunk(keys[i]!), undefined);
  await store.close();
});

test('snapshot trees: a deleted snapshot’s go, those the tree cache names stay', async () => {
  const store = await storeOf();
  const { keys } = await packOf(store, 2);
  const manifestKey = fileOf(store, 2, [keys[0]!]);
  const tree = (name: string) => encodeTree([{ name, ino: 2, record: fileInodeRecord(2, manifestKey), treeKey: null }]);
  const cached = tree('cached');
  const orphaned = tree('orphaned');
  store.dbs.trees.putSync(chunkKeyOf(cached), cached);
  store.dbs.trees.putSync(chunkKeyOf(orphaned), orphaned);
  store.dbs.treeCache.putSync(
    inodeKey(1, 1),
    encodeCachedTree({ treeKey: chunkKeyOf(cached), files: 1, logicalBytes: CHUNK_BYTES }),
  );
  const { result } = await scannerOf(store).collect((plan, announced) => sweep(deps(store), plan, announced));
  assert.equal(result.deleted.trees, 1);
  assert.ok(store.dbs.trees.get(chunkKeyOf(cached)), 'the next snapshot reuses it');
  assert.equal(store.dbs.trees.get(chunkKeyOf(orphaned)), undefined);
  assert.equal(result.deleted.chunks, 1, 'chunk 1; chunk 0 is the file');
  await store.close();
});
