/**
 * A pool of chunk worker threads. Flush jobs go to the least busy worker; the caller serialises
 * jobs for one file (a file has at most one flush in flight).
 */
import { Worker } from 'node:worker_threads';
import type { ChunkRef } from '../store/format.js';
import type { RechunkInput } from './rechunk.js';

export interface FlushRequest {
  id: number;
  input: RechunkInput & {
    /** Store the manifest too (a flush for close or fsync; an early flush stores chunks only). */
    storeManifest: boolean;
  };
}

export interface FlushReply {
  id: number;
  chunks: ChunkRef[];
  manifestKey: Uint8Array | null;
  newChunkCount: number;
  newChunkBytes: number;
}

interface FlushFailure {
  id: number;
  error: string;
}

interface PoolWorker {
  worker: Worker;
  busy: number;
}

export class ChunkPool {
  private readonly workers: PoolWorker[] = [];
  private readonly waiting = new Map<number, { resolve: (r: FlushReply) => void; reject: (e: Error) => void }>();
  private nextId = 1;
  private closed = false;

  constructor(dataDir: string, size: number) {
    for (let i = 0; i < size; i++) {
      const worker = new Worker(new URL('./chunk-worker.js', import.meta.url), { workerData: { dataDir } });
      const entry: PoolWorker = { worker, busy: 0 };
      worker.on('message', (reply: FlushReply | FlushFailure) => {
        entry.busy--;
        const waiter = this.waiting.get(reply.id);
        if (!waiter) return;
        this.waiting.delete(reply.id);
        if ('error' in reply) waiter.reject(new Error(reply.error));
        else waiter.resolve(reply);
      });
      worker.on('error', (error) => {
        // A worker that dies fails every job in flight; the files keep their dirty pages.
        for (const waiter of this.waiting.values()) waiter.reject(error);
        this.waiting.clear();
      });
      worker.unref();
      this.workers.push(entry);
    }
  }

  flush(input: FlushRequest['input']): Promise<FlushReply> {
    if (this.closed) return Promise.reject(new Error('the chunk workers are stopped'));
    const entry = this.workers.reduce((best, w) => (w.busy < best.busy ? w : best));
    const id = this.nextId++;
    entry.busy++;
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      entry.worker.postMessage({ id, input } satisfies FlushRequest);
    });
  }

  /** Asks every worker to collect garbage (it frees the page slabs it saw; see collect-garbage). */
  collectGarbage(): void {
    for (const { worker } of this.workers) worker.postMessage({ gc: true });
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(this.workers.map((w) => w.worker.terminate()));
  }
}
