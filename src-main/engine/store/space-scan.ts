/**
 * A space report on request (`bazil stats`): the mark (mark.ts) and its accounting
 * (space-report.ts), with the snapshot, the reads and the counting in a thread of its own that
 * opens the store read-only. The thread serving FUSE only collects the memory roots (one
 * synchronous step) and waits for the flushes in flight. Why: on the build machine, marking and
 * accounting a store of 200k chunks took 0.5-0.8 s on one thread (bench/space-scan.ts; ~150 ms of
 * it iterating the index alone), and every mount would have stood still that long. Run here, the
 * longest wait of the engine's thread during a scan was 8-9 ms, against 5-7 ms with nothing running.
 *
 * One scan at a time: a request while one runs gets the same report.
 */
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import type { Transaction } from 'lmdb';
import type { SpaceReport } from '../../common/api.js';
import { asBuffer, packFileName } from './format.js';
import { BazilError } from '../../common/errors.js';
import type { CollectPlan } from './collect-plan.js';
import { Mark, type ContentKeys, type MarkSources, type MarkView, type NamedKeys, type PackAtMark } from './mark.js';
import type { SpaceView } from './space-report.js';
import type { StoreDbs } from './store.js';
import { packKeys } from './key-set.js';

/** Keys of a NamedKeys, packed to cross to the thread in one piece each. */
export interface PackedKeys {
  manifestKeys: Uint8Array;
  chunkKeys: Uint8Array;
  treeKeys: Uint8Array;
}

export interface ScanWorkerData {
  dataDir: string;
  /** A garbage collection's scan: the answer has its plan too. */
  collect: boolean;
  memory: PackedKeys;
  mountedVolumeIds: number[];
  packs: PackAtMark[];
  /** Set to 1 to stop the scan (the engine stops). */
  cancel: Int32Array;
}

export type ScanRequest = { announced: PackedKeys } | { cancel: true };
export type ScanAnswer =
  { snapshot: true } | { report: Omit<SpaceReport, 'scanMs'>; plan: CollectPlan | null } | { error: string };

/** Entries read between two looks at the cancel flag. */
const CANCEL_CHECK_ENTRIES = 4096;

export class Cancelled extends Error {
  constructor() {
    super('cancelled');
  }
}

/**
 * What a scan reads: the candidates, inodes and orphans from `snapshot` (a read transaction),
 * manifests as they are now (plain reads see the latest commit; the snapshot stays as it was),
 * pack lengths from the disk. Every range stops with Cancelled once `cancel` is set.
 */
export function snapshotView(
  dbs: StoreDbs,
  snapshot: Transaction,
  packsDir: string,
  cancel: Int32Array<ArrayBufferLike> = new Int32Array(1),
): MarkView & SpaceView {
  function* cancellable<T>(entries: Iterable<T>): Generator<T> {
    let n = 0;
    for (const entry of entries) {
      if (++n % CANCEL_CHECK_ENTRIES === 0 && Atomics.load(cancel, 0) !== 0) throw new Cancelled();
      yield entry;
    }
  }
  function* withSizes(entries: Iterable<{ key: Buffer; value: Buffer }>) {
    for (const { key, value } of cancellable(entries)) yield { key, sizeBytes: value.length };
  }
  // A new object per range: lmdb-js writes into the options it is given (getKeys sets `values: false`).
  const inSnapshot = () => ({ transaction: snapshot });
  return {
    inodes: () => cancellable(dbs.inodes.getRange(inSnapshot())),
    orphans: () => cancellable(dbs.orphans.getKeys(inSnapshot())) as Iterable<Buffer>,
    manifest: (key) => dbs.manifests.getBinaryFast(asBuffer(key)),
    *snapshots() {
      for (const { value } of cancellable(dbs.snapshots.getRange(inSnapshot()))) yield value;
    },
    tree: (key) => dbs.trees.get(asBuffer(key)),
    *cachedTrees() {
      for (const { value } of cancellable(dbs.treeCache.getRange(inSnapshot()))) yield value;
    },
    trees: () => withSizes(dbs.trees.getRange(inSnapshot())),
    packedChunks: () => cancellable(dbs.packedChunks.getRange(inSnapshot())),
    lmdbChunks: () => withSizes(dbs.chunks.getRange(inSnapshot())),
    manifests: () => withSizes(dbs.manifests.getRange(inSnapshot())),
    packFileBytes(packId) {
      try {
        return statSync(join(packsDir, packFileName(packId))).size;
      } catch {
        return null;
      }
    },
  };
}

const packed = (keys: ContentKeys & Partial<NamedKeys>): PackedKeys => ({
  manifestKeys: packKeys(keys.manifestKeys),
  chunkKeys: packKeys(keys.chunkKeys),
  treeKeys: packKeys(keys.treeKeys ?? []),
});

/** What a collection's sweep is given: the plan, and the keys announced since the mark began (growing). */
export type Sweep<R> = (plan: CollectPlan, announced: NamedKeys) => Promise<R>;

export class SpaceScanner {
  /** The space report being made, if one is. */
  private scanning: Promise<SpaceReport> | null = null;
  /** The scan or collection running: one at a time. */
  private running: Promise<unknown> = Promise.resolve();
  private collecting: Promise<unknown> | null = null;
  private worker: Worker | null = null;
  private readonly cancel = new Int32Array(new SharedArrayBuffer(4));

  constructor(
    private readonly dataDir: string,
    private readonly sources: MarkSources,
  ) {}

  /** The space report, from a scan that starts now (after a collection running) or runs already. */
  scan(): Promise<SpaceReport> {
    if (Atomics.load(this.cancel, 0) !== 0) return Promise.reject(new Error('the engine is stopping'));
    this.scanning ??= this.after(async () => (await this.run(null)).report).finally(() => {
      this.scanning = null;
    });
    return this.scanning;
  }

  /**
   * A garbage collection: a scan that also plans what to delete, then `sweep`, with the mark's
   * session open until it ends. Refused while one runs.
   */
  collect<R>(sweep: Sweep<R>): Promise<{ report: SpaceReport; result: R }> {
    if (Atomics.load(this.cancel, 0) !== 0) return Promise.reject(new Error('the engine is stopping'));
    if (this.collecting) return Promise.reject(new BazilError('EBUSY', 'a garbage collection is running already'));
    const collecting = this.after(() => this.run(sweep) as Promise<{ report: SpaceReport; result: R }>);
    // The caller hears how it ended; this copy only marks the end (a failure here was unhandled,
    // and ended the engine's process).
    const ended = () => {
      this.collecting = null;
    };
    this.collecting = collecting.then(ended, ended);
    return collecting;
  }

  /** Stops the scan that runs, if one does (the engine stops); its report fails. */
  async stop(): Promise<void> {
    Atomics.store(this.cancel, 0, 1);
    this.worker?.postMessage({ cancel: true } satisfies ScanRequest);
    await this.running.catch(() => undefined);
  }

  private after<T>(task: () => Promise<T>): Promise<T> {
    const next = this.running.then(task, task);
    this.running = next.catch(() => undefined);
    return next;
  }

  private async run<R>(sweep: Sweep<R> | null): Promise<{ report: SpaceReport; result: R | null }> {
    if (Atomics.load(this.cancel, 0) !== 0) throw new Error('the engine is stopping');
    const startMs = performance.now();
    const mark = await Mark.begin(this.sources);
    let worker: Worker | null = null;
    let asked = false;
    try {
      const workerData: ScanWorkerData = {
        dataDir: this.dataDir,
        collect: sweep !== null,
        memory: packed(mark.memory),
        mountedVolumeIds: mark.memory.mountedVolumeIds,
        packs: mark.packs,
        cancel: this.cancel,
      };
      worker = new Worker(new URL('./space-scan-worker.js', import.meta.url), { workerData });
      this.worker = worker;
      const nextAnswer = answersOf(worker);
      const snapshot = await nextAnswer();
      if ('error' in snapshot) throw new Error(`space scan: ${snapshot.error}`);
      const announced = await mark.settle({ keepOpen: sweep !== null });
      worker.postMessage({ announced: packed(announced) } satisfies ScanRequest);
      asked = true;
      const done = await nextAnswer();
      if (!('report' in done)) throw new Error(`space scan: ${'error' in done ? done.error : 'no report'}`);
      const report = { ...done.report, scanMs: Math.round(performance.now() - startMs) };
      if (!sweep || !done.plan) return { report, result: null };
      return { report, result: await sweep(done.plan, mark.announced) };
    } finally {
      mark.abandon();
      // A thread still waiting for its request ends now.
      if (worker && !asked) worker.postMessage({ cancel: true } satisfies ScanRequest);
      this.worker = null;
    }
  }
}

/** The worker's answers, one by one; the next fails if the thread ends first. */
function answersOf(worker: Worker): () => Promise<ScanAnswer> {
  const answers: ScanAnswer[] = [];
  let waiter: { resolve(answer: ScanAnswer): void; reject(error: Error): void } | null = null;
  let cause: Error | null = null;
  let ended: Error | null = null;
  worker.on('message', (answer: ScanAnswer) => {
    if (waiter) waiter.resolve(answer);
    else answers.push(answer);
    waiter = null;
  });
  worker.on('error', (error) => (cause = error));
  worker.once('exit', (code) => {
    ended = new Error(`space scan: its thread ended (${cause ? cause.message : `exit code ${code}`})`);
    waiter?.reject(ended);
    waiter = null;
  });
  return () => {
    if (answers.length > 0) return Promise.resolve(answers.shift()!);
    if (ended) return Promise.reject(ended);
    return new Promise((resolve, reject) => (waiter = { resolve, reject }));
  };
}
