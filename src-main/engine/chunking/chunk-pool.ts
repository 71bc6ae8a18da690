/**
 * A pool of chunk worker threads. Flush jobs go to the least busy worker; the caller serialises
 * jobs for one file (a file has at most one flush in flight).
 */
import { Worker } from 'node:worker_threads';
import type { ChunkRef } from '../store/format.js';
import type { RechunkInput } from './rechunk.js';

/** How long a worker may take to end itself when the pool closes. */
const CLOSE_TIMEOUT_MS = 10_000;

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
  /** Every blob of the manifest (its key, and a long one's children), found stored or put. */
  manifestBlobs: Uint8Array[];
  newChunkCount: number;
  newChunkBytes: number;
  /** The packs the job appended to, with their length after it. */
  packs: { packId: number; endBytes: number }[];
}

export interface WorkerData {
  dataDir: string;
  /** Per worker, the pack it is appending to (0: none); shared memory, read by `packsInProgress`. */
  packSlots: Int32Array;
  slot: number;
}

interface PackFinished {
  packFinished: number;
  error?: string;
}

interface FlushFailure {
  id: number;
  error: string;
}

interface PoolWorker {
  worker: Worker;
  /** Jobs sent to this worker and not answered yet. */
  jobs: Set<number>;
  /** `finishPacks` requests not answered yet, each told of the error, if any. */
  finishing: Map<number, (error: string | null) => void>;
}

interface Waiter {
  resolve: (reply: FlushReply) => void;
  reject: (error: Error) => void;
}

export class ChunkPool {
  private readonly workers: PoolWorker[] = [];
  private readonly waiting = new Map<number, Waiter>();
  private nextId = 1;
  private closed = false;
  private readonly packSlots: Int32Array;
  /** Each job in flight, settling when it has answered or failed. */
  private readonly inFlight = new Map<number, Promise<void>>();
  /** Set while `hold` keeps new jobs back. */
  private held: { released: Promise<void> } | null = null;
  /**
   * Called with every answer before the flush that asked gets it: the chunks and manifest a chunk
   * worker stored and committed, which a mark must learn of (see ../store/mark.ts).
   */
  onAnswer: (reply: FlushReply) => void = () => undefined;
  /** Called when a worker died writing a pack: nothing will be appended to it. */
  onPackAbandoned: (packId: number) => void = () => undefined;

  constructor(
    private readonly dataDir: string,
    size: number,
  ) {
    this.packSlots = new Int32Array(new SharedArrayBuffer(4 * size));
    for (let i = 0; i < size; i++) this.workers.push(this.startWorker(i));
  }

  /**
   * The packs the workers are appending to now. A worker names its pack here before it records any
   * chunk in it, so a sync that covers these covers every recorded chunk not yet reported.
   */
  packsInProgress(): number[] {
    return [...this.packSlots].filter((packId) => packId !== 0);
  }

  flush(input: FlushRequest['input']): Promise<FlushReply> {
    if (this.closed) return Promise.reject(new Error('the chunk workers are stopped'));
    if (this.held) {
      const { released } = this.held;
      return released.then(() => this.flush(input));
    }
    const entry = this.workers.reduce((best, w) => (w.jobs.size < best.jobs.size ? w : best));
    const id = this.nextId++;
    entry.jobs.add(id);
    // A job in flight keeps the process alive; an idle worker does not.
    entry.worker.ref();
    const answer = new Promise<FlushReply>((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      entry.worker.postMessage({ id, input } satisfies FlushRequest);
    });
    const settled = answer.then(
      () => undefined,
      () => undefined,
    );
    this.inFlight.set(id, settled);
    void settled.then(() => this.inFlight.delete(id));
    return answer;
  }

  /** Resolves when every job in flight now has answered or failed. */
  answered(): Promise<void> {
    return Promise.all([...this.inFlight.values()]).then(() => undefined);
  }

  /**
   * Holds new jobs back (they wait, in order) and resolves, with the release, once the jobs in
   * flight have answered: until the release, no worker looks chunks up in the index. A collection
   * deletes keys in that window, so no worker can find one there just before it goes.
   */
  async hold(): Promise<() => void> {
    while (this.held) await this.held.released;
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    const held = { released };
    this.held = held;
    await this.answered();
    return () => {
      if (this.held === held) this.held = null;
      release();
    };
  }

  /**
   * Has every worker finish the pack it appends to (synced and recorded; its next job starts a
   * new one), after the jobs sent before: a collection rewrites finished packs only.
   */
  async finishPacks(): Promise<void> {
    await Promise.all(
      this.workers.map(({ worker, finishing }) => {
        const seq = this.nextId++;
        worker.ref();
        return new Promise<void>((resolve, reject) => {
          finishing.set(seq, (error) => (error ? reject(new Error(error)) : resolve()));
          worker.postMessage({ finishPack: seq });
        });
      }),
    );
  }

  /** Has every worker close these packs (a collection deletes them); in order with their jobs. */
  retirePacks(packIds: number[]): void {
    for (const { worker } of this.workers) worker.postMessage({ retirePacks: packIds });
  }

  private startWorker(slot: number): PoolWorker {
    const workerData: WorkerData = { dataDir: this.dataDir, packSlots: this.packSlots, slot };
    const worker = new Worker(new URL('./chunk-worker.js', import.meta.url), { workerData });
    const entry: PoolWorker = { worker, jobs: new Set(), finishing: new Map() };
    // Why a worker ended (out of memory, or a bug it reported before ending), for the log and
    // for the flushes it fails.
    let cause: Error | null = null;
    worker.on('message', (reply: FlushReply | FlushFailure | { fatal: string } | PackFinished) => {
      if ('packFinished' in reply) {
        entry.finishing.get(reply.packFinished)?.(reply.error ?? null);
        entry.finishing.delete(reply.packFinished);
        if (entry.jobs.size === 0 && entry.finishing.size === 0) worker.unref();
        return;
      }
      if ('fatal' in reply) {
        cause = new Error(reply.fatal.split('\n')[0]);
        console.error(`bazil: a chunk worker failed: ${reply.fatal}`);
        return;
      }
      entry.jobs.delete(reply.id);
      if (entry.jobs.size === 0 && entry.finishing.size === 0) worker.unref();
      const waiter = this.waiting.get(reply.id);
      if (!waiter) return;
      this.waiting.delete(reply.id);
      if ('error' in reply) {
        waiter.reject(new Error(reply.error));
      } else {
        this.onAnswer(reply);
        waiter.resolve(reply);
      }
    });
    worker.on('error', (error) => {
      cause = error;
    });
    worker.on('exit', (code) => {
      // Its jobs fail (their files keep their dirty pages, and the next flush tries again), and a
      // new worker takes its place, unless the pool is closing.
      const index = this.workers.indexOf(entry);
      const replaced = !this.closed && index >= 0;
      const reason = cause
        ? `${cause.message}${'code' in cause ? ` (${String(cause.code)})` : ''}`
        : `exit code ${code}`;
      if (cause || code !== 0 || replaced) {
        console.error(
          `bazil: a chunk worker stopped: ${reason}; ${entry.jobs.size} flush(es) failed and keep their data ` +
            `in memory${replaced ? '; a new worker takes its place' : ''}`,
        );
      }
      const failure = new Error(`a chunk worker stopped (${reason}); the data stays in memory, try again`);
      for (const id of entry.jobs) {
        this.waiting.get(id)?.reject(failure);
        this.waiting.delete(id);
      }
      entry.jobs.clear();
      for (const told of entry.finishing.values()) told(null);
      entry.finishing.clear();
      if (cause || code !== 0) {
        // Its pack is finished as it is: the store counts and syncs all of it from now on.
        const packId = Atomics.exchange(this.packSlots, slot, 0);
        if (packId !== 0) this.onPackAbandoned(packId);
      }
      if (replaced) this.workers[index] = this.startWorker(slot);
    });
    worker.unref();
    return entry;
  }

  /** Asks every worker to collect garbage (it frees the page slabs it saw; see collect-garbage). */
  collectGarbage(): void {
    for (const { worker } of this.workers) worker.postMessage({ gc: true });
  }

  /** Ends every worker; jobs still in flight fail. */
  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(
      this.workers.map(async ({ worker }) => {
        const exited = new Promise((resolve) => worker.once('exit', resolve));
        worker.postMessage({ close: true });
        // A worker stuck in a long call is stopped by force, as a last resort.
        const timer = setTimeout(() => void worker.terminate(), CLOSE_TIMEOUT_MS);
        await exited;
        clearTimeout(timer);
      }),
    );
  }
}
