/**
 * The sweep of a garbage collection, on the engine's thread: carries out a plan (collect-plan.ts)
 * while volumes stay mounted and written to.
 *
 * 1. Deletes the garbage index entries, in batches. Each batch is one synchronous transaction,
 *    run while the chunk workers are held (ChunkPool.hold: no job in flight, none starting), and
 *    leaves out every key announced since the mark began (the mark's session stays open until
 *    the sweep ends), with what an announced manifest or tree names in turn. Why that is enough:
 *    a garbage key can be named again only by a flush that finds it stored (deduplication), a
 *    snapshot or diff that finds a tree stored, or a restore; the engine's thread announces in the
 *    same turn as it looks (Store.putManifest, writeVolumeTree, VolumeFs), so it has announced by
 *    the time a batch runs; a chunk worker announces when it answers, and none is running during a
 *    batch, and each job starts with a fresh read transaction, so a deleted key is not found.
 * 2. Packs: a finished pack with nothing left in it is deleted; one mostly garbage is rewritten:
 *    what is left in it (its live chunks, and garbage kept in step 1) is copied to new packs,
 *    which are synced and named on the disk before the index moves to them, in one transaction.
 *    The index is synced before an old pack file is deleted: a crash at any point leaves every
 *    chunk readable, and at worst a pack that no entry names, which the next collection deletes.
 *
 * A reader that looked a chunk up before the move reads the old pack: each thread closes its
 * descriptor of an old pack (waiting for reads in flight) before the file is deleted.
 */
import { readdir, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { GcResult, ProgressSink } from '../../common/api.js';
import {
  KEY_BYTES,
  PACK_HEADER_BYTES,
  asBuffer,
  decodeInodeManifestKey,
  decodeManifestBlob,
  decodePackLocation,
  decodeTree,
  encodePackLocation,
  encodePackRecord,
  isHole,
  packFileName,
  packIdOfFileName,
  packKey,
  type PackLocation,
} from './format.js';
import { KeySet, unpackKeys } from './key-set.js';
import type { NamedKeys } from './mark.js';
import type { CollectPlan, PackedChunkList } from './collect-plan.js';
import { PackFile, alignDown, alignUp } from './pack-file.js';
import { PackWriter } from './pack-writer.js';
import { isNoSpace, newPackId, syncDir, type BinaryDb, type Store } from './store.js';
import { loadAddon } from '../fuse/load-addon.js';

/** Index entries deleted per transaction (the chunk workers wait that long). */
const DELETE_BATCH = 4096;

export interface SweepDeps {
  store: Store;
  /** Holds the chunk workers' jobs back; resolves with the release once none is in flight. */
  holdWorkers(): Promise<() => void>;
  /** Has the chunk workers close these packs (in order with their jobs). */
  retirePacks(packIds: number[]): void;
  progress?: ProgressSink;
}

/** An entry still in a pack after the deletions, to copy when the pack is rewritten. */
interface Entry {
  key: Uint8Array;
  location: PackLocation;
}

/** What was announced since the mark began, and what it names that was garbage at the mark. */
class NamedAgain {
  readonly chunks = new KeySet();
  private readonly manifests = new KeySet();
  private readonly trees = new KeySet();
  private seen = { chunks: 0, manifests: 0, trees: 0 };

  constructor(
    private readonly store: Store,
    private readonly announced: NamedKeys,
    private readonly garbage: { manifests: KeySet; trees: KeySet },
  ) {}

  /** Takes in what was announced since the last call. */
  update(): void {
    const { chunkKeys, manifestKeys, treeKeys } = this.announced;
    while (this.seen.chunks < chunkKeys.length) this.chunks.add(chunkKeys[this.seen.chunks++]!);
    while (this.seen.manifests < manifestKeys.length) this.keepManifest(manifestKeys[this.seen.manifests++]!);
    while (this.seen.trees < treeKeys.length) this.keepTree(treeKeys[this.seen.trees++]!);
  }

  has(kind: 'chunks' | 'manifests' | 'trees', key: Uint8Array): boolean {
    return this[kind].has(key);
  }

  // Only what was garbage at the mark is looked into: what a live one names was live too, and a
  // manifest or tree new since the mark names blobs and trees that were announced themselves
  // (every blob of a manifest put, every tree a snapshot wrote or found) or that were live.
  // Chunks: each flush announces every chunk of its file.
  private keepManifest(key: Uint8Array): void {
    if (!this.garbage.manifests.has(key) || !this.manifests.add(key)) return;
    const bytes = this.store.dbs.manifests.get(asBuffer(key));
    if (bytes === undefined) return;
    const blob = decodeManifestBlob(bytes);
    if (blob.kind === 'tree') for (const child of blob.children) this.keepManifest(child.key);
    else for (const chunk of blob.chunks) if (!isHole(chunk)) this.chunks.add(chunk.key);
  }

  private keepTree(key: Uint8Array): void {
    if (!this.garbage.trees.has(key) || !this.trees.add(key)) return;
    const bytes = this.store.dbs.trees.get(asBuffer(key));
    if (bytes === undefined) return;
    for (const entry of decodeTree(bytes)) {
      if (entry.treeKey) this.keepTree(entry.treeKey);
      const manifestKey = decodeInodeManifestKey(entry.record);
      if (manifestKey) this.keepManifest(manifestKey);
    }
  }
}

function keySetOf(packed: Uint8Array): KeySet {
  const set = new KeySet(packed.length / KEY_BYTES);
  for (const key of unpackKeys(packed)) set.add(key);
  return set;
}

function* entriesOf(list: PackedChunkList): Generator<Entry> {
  for (let i = 0; i < list.packIds.length; i++) {
    yield {
      key: list.keys.subarray(i * KEY_BYTES, (i + 1) * KEY_BYTES),
      location: { packId: list.packIds[i]!, offset: list.offsets[i]!, sizeBytes: list.sizes[i]! },
    };
  }
}

const sameLocation = (a: PackLocation, b: PackLocation) =>
  a.packId === b.packId && a.offset === b.offset && a.sizeBytes === b.sizeBytes;

/** Disk space the data directory's store files take: store.mdb and the pack files (allocated blocks). */
export async function storeDiskBytes(store: Store): Promise<number> {
  const blocksOf = async (path: string) => {
    try {
      return (await stat(path)).blocks * 512;
    } catch {
      return 0;
    }
  };
  let total = await blocksOf(store.path);
  for (const name of await readdir(store.packsDir)) {
    if (packIdOfFileName(name) !== null) total += await blocksOf(join(store.packsDir, name));
  }
  return total;
}

export async function sweep(deps: SweepDeps, plan: CollectPlan, announced: NamedKeys): Promise<Omit<GcResult, 'ms'>> {
  const { store } = deps;
  const { dbs, env } = store;
  const diskBytesBefore = await storeDiskBytes(store);
  const namedAgain = new NamedAgain(store, announced, {
    manifests: keySetOf(plan.manifests),
    trees: keySetOf(plan.trees),
  });
  const deleted: GcResult['deleted'] = {
    chunks: 0,
    chunkBytes: 0,
    manifests: 0,
    manifestBytes: 0,
    trees: 0,
    treeBytes: 0,
  };
  let keptNamedAgain = 0;
  const garbageCount =
    plan.packedChunks.packIds.length + (plan.lmdbChunks.length + plan.manifests.length + plan.trees.length) / KEY_BYTES;
  let looked = 0;

  /** Deletes `keys` (a generator of one kind) in batches; calls `kept` for each left out. */
  const deleteInBatches = async (
    kind: 'chunks' | 'manifests' | 'trees',
    db: BinaryDb,
    keys: Iterable<{ key: Uint8Array; entry?: Entry }>,
    onDeleted: (sizeBytes: number) => void,
    onKept: (entry: Entry | undefined) => void = () => undefined,
  ) => {
    const all = [...keys];
    for (let at = 0; at < all.length; at += DELETE_BATCH) {
      const release = await deps.holdWorkers();
      try {
        namedAgain.update();
        env.transactionSync(() => {
          for (const { key, entry } of all.slice(at, at + DELETE_BATCH)) {
            if (namedAgain.has(kind, key)) {
              keptNamedAgain++;
              onKept(entry);
              continue;
            }
            const value = db.getBinaryFast(asBuffer(key));
            if (value === undefined) continue;
            // A packed chunk is deleted only while it is where the plan saw it.
            if (entry && !sameLocation(decodePackLocation(value), entry.location)) continue;
            const sizeBytes = entry ? entry.location.sizeBytes : value.length;
            db.removeSync(asBuffer(key));
            onDeleted(sizeBytes);
          }
        });
      } finally {
        release();
      }
      // The flushes held back start before the next batch holds the workers again (it waits for
      // them to answer): writers go on while a long collection deletes.
      await new Promise((resolve) => setImmediate(resolve));
      looked += Math.min(DELETE_BATCH, all.length - at);
      deps.progress?.({ phase: 'deleting', done: looked, total: garbageCount, unit: 'items' });
    }
  };

  // 1. The index entries.
  const keptInPacks = new Map<number, Entry[]>();
  await deleteInBatches(
    'chunks',
    dbs.packedChunks,
    [...entriesOf(plan.packedChunks)].map((entry) => ({ key: entry.key, entry })),
    (sizeBytes) => {
      deleted.chunks++;
      deleted.chunkBytes += sizeBytes;
    },
    (entry) => {
      const list = keptInPacks.get(entry!.location.packId) ?? [];
      list.push(entry!);
      keptInPacks.set(entry!.location.packId, list);
    },
  );
  const plain = (packed: Uint8Array) => [...unpackKeys(packed)].map((key) => ({ key }));
  await deleteInBatches('chunks', dbs.chunks, plain(plan.lmdbChunks), (sizeBytes) => {
    deleted.chunks++;
    deleted.chunkBytes += sizeBytes;
  });
  await deleteInBatches('manifests', dbs.manifests, plain(plan.manifests), (sizeBytes) => {
    deleted.manifests++;
    deleted.manifestBytes += sizeBytes;
  });
  await deleteInBatches('trees', dbs.trees, plain(plan.trees), (sizeBytes) => {
    deleted.trees++;
    deleted.treeBytes += sizeBytes;
  });

  // 2. The packs: what is left in each is its live chunks and what step 1 kept.
  const packs = plan.packs.map((pack) => ({
    ...pack,
    left: [...entriesOf(pack.live), ...(keptInPacks.get(pack.packId) ?? [])],
  }));
  const bytesBefore = store.packFileBytes();
  const moves: { key: Uint8Array; from: PackLocation; to: PackLocation }[] = [];
  const written = new Map<number, number>();
  const started: number[] = [];
  const writer = new PackWriter({
    packsDir: store.packsDir,
    newPackId: () => newPackId(env, dbs),
    onPackStarted: (packId) => started.push(packId),
    recordSynced: async (packId, syncedBytes) => {
      written.set(packId, syncedBytes);
    },
  });
  let copiedBytes = 0;
  const toCopy = packs.reduce((n, pack) => n + pack.left.reduce((m, { location }) => m + location.sizeBytes, 0), 0);
  /** Packs given back in place instead of rewritten: the disk was too full for the copies. */
  let punched: typeof packs = [];
  try {
    for (const pack of packs) {
      if (pack.left.length === 0) continue;
      const source = PackFile.openForReading(join(store.packsDir, packFileName(pack.packId)), { direct: false });
      try {
        // In file order: one pass over the old pack.
        pack.left.sort((a, b) => a.location.offset - b.location.offset);
        for (const { key, location } of pack.left) {
          const bytes = Buffer.allocUnsafe(location.sizeBytes);
          const n = await source.read(bytes, 0, location.sizeBytes, location.offset);
          if (n !== location.sizeBytes) {
            throw new Error(
              `pack ${packFileName(pack.packId)} ends inside a chunk it holds; nothing was deleted from it`,
            );
          }
          moves.push({ key, from: location, to: writer.append([bytes], bytes.length) });
          copiedBytes += bytes.length;
          deps.progress?.({ phase: 'rewriting packs', done: copiedBytes, total: toCopy, unit: 'bytes' });
          await writer.roomForNext();
        }
      } finally {
        await source.close();
      }
      await writer.seal();
    }
    await writer.close();
  } catch (error) {
    // The new packs are named by nothing: the next collection deletes them.
    await writer.close().catch(() => undefined);
    if (!isNoSpace(error)) throw error;
    // The disk is full, and rewriting needs room for the copies: the dead bytes of the packs to
    // rewrite are given back in place instead (holes), and their live chunks stay where they are.
    // The copies made so far go at once; a collection with room rewrites these packs later.
    for (const packId of started) await unlink(join(store.packsDir, packFileName(packId))).catch(() => undefined);
    written.clear();
    moves.length = 0;
    copiedBytes = 0;
    punched = packs.filter((pack) => pack.left.length > 0);
    for (const pack of punched) punchDead(join(store.packsDir, packFileName(pack.packId)), pack.fileBytes, pack.left);
  }
  if (written.size > 0) await syncDir(store.packsDir);

  const retired = packs.filter((pack) => !punched.includes(pack)).map((pack) => pack.packId);
  if (retired.length > 0) {
    const release = await deps.holdWorkers();
    try {
      env.transactionSync(() => {
        for (const { key, from, to } of moves) {
          const value = dbs.packedChunks.getBinaryFast(asBuffer(key));
          if (value !== undefined && sameLocation(decodePackLocation(value), from)) {
            dbs.packedChunks.putSync(asBuffer(key), encodePackLocation(to));
          }
        }
        for (const [packId, syncedBytes] of written) dbs.packs.putSync(packKey(packId), encodePackRecord(syncedBytes));
        for (const packId of retired) dbs.packs.removeSync(packKey(packId));
      });
      env.resetReadTxn();
      deps.retirePacks(retired);
      await store.replacePacks(retired, written);
    } finally {
      release();
    }
    // The index names the new packs on the disk before an old pack file goes.
    await store.syncToDisk();
    for (const packId of retired) await unlink(join(store.packsDir, packFileName(packId))).catch(() => undefined);
    await syncDir(store.packsDir);
  }
  return {
    deleted,
    keptNamedAgain,
    packs: {
      deleted: packs.filter((pack) => pack.left.length === 0).length,
      rewritten: packs.filter((pack) => pack.left.length > 0).length - punched.length,
      punched: punched.length,
      written: written.size,
      copiedBytes,
      bytesBefore,
      bytesAfter: store.packFileBytes(),
    },
    diskBytesBefore,
    diskBytesAfter: await storeDiskBytes(store),
  };
}

/**
 * Gives back the disk blocks of a pack that hold no live chunk: every whole block outside the
 * header and the live chunks' bytes (a block a live chunk touches stays).
 */
function punchDead(path: string, fileBytes: number, live: readonly { location: PackLocation }[]): void {
  const extents = live.map(({ location }) => location).sort((a, b) => a.offset - b.offset);
  const ranges: number[] = [];
  let from = PACK_HEADER_BYTES;
  const hole = (to: number) => {
    const start = alignUp(from);
    const end = alignDown(to);
    if (end > start) ranges.push(start, end - start);
  };
  for (const { offset, sizeBytes } of extents) {
    hole(offset);
    from = Math.max(from, offset + sizeBytes);
  }
  hole(alignUp(fileBytes));
  loadAddon().punchHoles(path, Float64Array.from(ranges));
}
