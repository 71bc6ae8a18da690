/**
 * A chunk worker thread: runs flush jobs (rechunk, hash, store) off the thread that serves FUSE.
 * It opens the engine's LMDB environment itself, reads old chunks from it and writes new ones, and
 * answers only when every chunk and the manifest are committed, so the inode that the engine then
 * writes never points at data that a crash could lose.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { openStoreDbs, chunkKeyOf, putManifest } from '../store/store.js';
import { rechunk } from './rechunk.js';
import { collectGarbage } from '../collect-garbage.js';
import type { FlushRequest, FlushReply } from './chunk-pool.js';

const { dataDir } = workerData as { dataDir: string };
const { env, dbs } = openStoreDbs(dataDir);

/**
 * Chunk bytes handed to LMDB but not yet committed stay in memory; past this many, the worker
 * waits for the previous batch's commit before cutting more, which bounds its memory (two
 * batches) whatever the job's size. Measured writing 2 GiB: 4 MiB batches kept peak anonymous
 * memory ~60 MiB lower than 16 MiB batches (and LMDB's resident map half as large), at the same
 * throughput.
 */
const IN_FLIGHT_BYTES = 4 * 1024 * 1024;

async function runFlush(request: FlushRequest): Promise<FlushReply> {
  let pending: Promise<unknown>[] = [];
  let pendingBytes = 0;
  let committing: Promise<void> = Promise.resolve();
  const storedThisJob = new Set<string>();
  let newChunkCount = 0;
  let newChunkBytes = 0;
  const chunks = await rechunk(request.input, {
    readChunk(ref) {
      const bytes = dbs.chunks.getBinary(Buffer.from(ref.key));
      if (bytes === undefined)
        throw new Error(`chunk ${Buffer.from(ref.key).toString('hex')} is missing from the store`);
      return bytes;
    },
    storeChunk(bytes) {
      const key = chunkKeyOf(bytes);
      const hex = key.toString('hex');
      if (!storedThisJob.has(hex) && !dbs.chunks.doesExist(key)) {
        storedThisJob.add(hex);
        newChunkCount++;
        newChunkBytes += bytes.length;
        const put = dbs.chunks.put(key, bytes);
        // Awaited later (afterChunk, or at the end); marked handled now, so a failed commit (a
        // full disk) fails this job instead of killing the thread as an unhandled rejection.
        put.catch(() => undefined);
        pending.push(put);
        pendingBytes += bytes.length;
      }
      return key;
    },
    afterChunk() {
      if (pendingBytes < IN_FLIGHT_BYTES) return undefined;
      // Double-buffered: cutting and hashing go on while this batch commits; the worker waits
      // only for the batch before it.
      const previous = committing;
      committing = Promise.all(pending).then(() => undefined);
      committing.catch(() => undefined);
      pending = [];
      pendingBytes = 0;
      return previous;
    },
  });
  await Promise.all([committing, ...pending]);
  const manifestKey = chunks.length === 0 || !request.input.storeManifest ? null : await putManifest(dbs, chunks);
  return { id: request.id, chunks, manifestKey, newChunkCount, newChunkBytes };
}

/**
 * Ends the thread, between calls into LMDB and with its writes finished: Worker.terminate() can stop
 * it inside a native call, which aborts the whole process (a napi_throw in a terminating
 * environment), and a thread left to die of an uncaught error never finishes exiting while LMDB
 * has a write in flight.
 */
function exitThread(code: number): void {
  env.close().finally(() => process.exit(code));
}

// A bug here must not leave the pool waiting: the thread ends, the pool fails its jobs (their
// pages stay in memory) and starts another worker.
process.on('uncaughtException', (error) => {
  console.error('bazil: a chunk worker failed:', error);
  exitThread(1);
});

parentPort!.on('message', (request: FlushRequest | { gc: true } | { close: true }) => {
  if ('gc' in request) {
    collectGarbage();
    return;
  }
  if ('close' in request) {
    exitThread(0);
    return;
  }
  runFlush(request).then(
    (reply) => parentPort!.postMessage(reply),
    (error: unknown) =>
      parentPort!.postMessage({ id: request.id, error: error instanceof Error ? error.message : String(error) }),
  );
});
