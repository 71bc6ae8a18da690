/**
 * A chunk worker thread: runs flush jobs (rechunk, hash, store) off the thread that serves FUSE.
 * It opens the engine's LMDB environment itself and appends new chunks to a pack of its own. It
 * answers only when every chunk's bytes are written and its index entry and the manifest are
 * committed, so the inode that the engine then writes never points at data that a crash of the
 * engine could lose. Jobs run one at a time (a pack is appended in order).
 */
import { parentPort, workerData } from 'node:worker_threads';
import {
  chunkKeyOf,
  hasChunk,
  missingFromStore,
  newPackId,
  openStoreDbs,
  packsDirOf,
  putManifest,
  readChunkSync,
  PackReaders,
} from '../store/store.js';
import { encodePackLocation, encodePackRecord, packKey, type ChunkRef, type PackLocation } from '../store/format.js';
import { PackWriter } from '../store/pack-writer.js';
import { rechunk } from './rechunk.js';
import { collectGarbage } from '../collect-garbage.js';
import { installEngineLog } from '../engine-log.js';
import type { FlushRequest, FlushReply, WorkerData } from './chunk-pool.js';

installEngineLog();

const { dataDir, packSlots, slot } = workerData as WorkerData;
const { env, dbs } = openStoreDbs(dataDir);
const readers = new PackReaders(packsDirOf(dataDir), false);
const writer = new PackWriter({
  packsDir: packsDirOf(dataDir),
  newPackId: () => newPackId(env, dbs),
  // Before any chunk of the pack is recorded: from then on, every sync of the engine covers it.
  onPackStarted: (packId) => Atomics.store(packSlots, slot, packId),
  recordSynced: async (packId, syncedBytes) => {
    await dbs.packs.put(packKey(packId), encodePackRecord(syncedBytes));
  },
});

async function runFlush(request: FlushRequest): Promise<FlushReply> {
  // What the index holds now: a read transaction kept from an earlier turn could still show a
  // chunk that a collection deleted since (it must not be reused), or a location that moved.
  env.resetReadTxn();
  const storedThisJob = new Set<string>();
  const newChunks: { key: Buffer; location: PackLocation }[] = [];
  let newChunkBytes = 0;
  let chunks: ChunkRef[];
  try {
    chunks = await rechunk(request.input, {
      readChunk(ref) {
        const bytes = readChunkSync(dbs, readers, ref.key);
        if (bytes === undefined) throw missingFromStore('chunk', ref.key);
        return bytes;
      },
      storeChunk(bytes) {
        const key = chunkKeyOf(bytes);
        const hex = key.toString('hex');
        if (!storedThisJob.has(hex) && !hasChunk(dbs, key)) {
          storedThisJob.add(hex);
          newChunks.push({ key, location: writer.append([bytes], bytes.length) });
          newChunkBytes += bytes.length;
        }
        return key;
      },
      afterChunk: () => writer.roomForNext(),
    });
  } catch (error) {
    // The pack is left whole for the next job; this job's bytes are garbage (nothing records them).
    await writer.seal().catch(() => undefined);
    throw error;
  }
  const sealed = await writer.seal();
  // Every new chunk's bytes are in its pack: record where.
  await Promise.all(newChunks.map(({ key, location }) => dbs.packedChunks.put(key, encodePackLocation(location))));
  // Every blob of the manifest, found stored or put: a long one's children too (a collection
  // must hear of each, as one may be garbage found again).
  const manifestBlobs: Buffer[] = [];
  const manifestKey =
    chunks.length === 0 || !request.input.storeManifest
      ? null
      : await putManifest(dbs, chunks, (key) => manifestBlobs.push(key));
  return {
    id: request.id,
    chunks,
    manifestKey,
    manifestBlobs,
    newChunkCount: newChunks.length,
    newChunkBytes,
    packs: sealed ? [sealed] : [],
  };
}

/** Jobs run one after another: appends to the pack must not interleave. */
let queue: Promise<unknown> = Promise.resolve();

/**
 * Ends the thread, between calls into LMDB and with its writes finished: Worker.terminate() can stop
 * it inside a native call, which aborts the whole process (a napi_throw in a terminating
 * environment), and a thread left to die of an uncaught error never finishes exiting while LMDB
 * has a write in flight.
 */
function exitThread(code: number, { finishPack }: { finishPack: boolean }): void {
  // Closing, the pack is finished (synced and recorded), so the next start need not check it.
  const finished = finishPack ? writer.close() : Promise.resolve();
  finished
    .catch((error: unknown) => console.error('bazil: a chunk worker could not finish its pack:', error))
    .then(() => readers.closeAll())
    .then(() => env.close())
    .finally(() => process.exit(code));
}

// A bug here must not leave the pool waiting: the thread ends, the pool fails its jobs (their
// pages stay in memory) and starts another worker.
process.on('uncaughtException', (error) => {
  // The pool names the cause in its log line and in the error of every flush this fails.
  parentPort!.postMessage({ fatal: error instanceof Error ? (error.stack ?? error.message) : String(error) });
  exitThread(1, { finishPack: false });
});

type Request = FlushRequest | { gc: true } | { close: true } | { retirePacks: number[] } | { finishPack: number };

parentPort!.on('message', (request: Request) => {
  if ('gc' in request) {
    collectGarbage();
    return;
  }
  if ('finishPack' in request) {
    // A collection can rewrite only finished packs: this one is synced and recorded, the next
    // job starts a new one.
    const finished = queue.then(async () => {
      await writer.close();
      Atomics.store(packSlots, slot, 0);
    });
    queue = finished.catch(() => undefined);
    finished.then(
      () => parentPort!.postMessage({ packFinished: request.finishPack }),
      (error: unknown) =>
        parentPort!.postMessage({
          packFinished: request.finishPack,
          error: error instanceof Error ? error.message : String(error),
        }),
    );
    return;
  }
  if ('retirePacks' in request) {
    // A collection rewrote or deleted these packs: their files go once no thread holds them open.
    queue = queue.then(() => readers.close(request.retirePacks)).catch(() => undefined);
    return;
  }
  if ('close' in request) {
    exitThread(0, { finishPack: true });
    return;
  }
  const job = queue.then(() => runFlush(request));
  queue = job.catch(() => undefined);
  job.then(
    (reply) => parentPort!.postMessage(reply),
    (error: unknown) =>
      parentPort!.postMessage({ id: request.id, error: error instanceof Error ? error.message : String(error) }),
  );
});
