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
import { Mark, type MarkSources, type MarkView, type NamedKeys, type PackAtMark } from './mark.js';
import type { SpaceView } from './space-report.js';
import type { StoreDbs } from './store.js';
import { packKeys } from './key-set.js';

/** Keys of a NamedKeys, packed to cross to the thread in one piece each. */
interface PackedKeys {
  manifestKeys: Uint8Array;
  chunkKeys: Uint8Array;
}

export interface ScanWorkerData {
  dataDir: string;
  memory: PackedKeys;
  mountedVolumeIds: number[];
  packs: PackAtMark[];
  /** Set to 1 to stop the scan (the engine stops). */
  cancel: Int32Array;
}

export type ScanRequest = { announced: PackedKeys } | { cancel: true };
export type ScanAnswer = { snapshot: true } | { report: Omit<SpaceReport, 'scanMs'> } | { error: string };

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

const packed = (keys: NamedKeys): PackedKeys => ({
  manifestKeys: packKeys(keys.manifestKeys),
  chunkKeys: packKeys(keys.chunkKeys),
});

export class SpaceScanner {
  private running: Promise<SpaceReport> | null = null;
  private worker: Worker | null = null;
  private readonly cancel = new Int32Array(new SharedArrayBuffer(4));

  constructor(
    private readonly dataDir: string,
    private readonly sources: MarkSources,
  ) {}

  /** The space report, from a scan that starts now or runs already. */
  scan(): Promise<SpaceReport> {
    if (Atomics.load(this.cancel, 0) !== 0) return Promise.reject(new Error('the engine is stopping'));
    this.running ??= this.run().finally(() => {
      this.running = null;
    });
    return this.running;
  }

  /** Stops the scan that runs, if one does (the engine stops); its report fails. */
  async stop(): Promise<void> {
    Atomics.store(this.cancel, 0, 1);
    this.worker?.postMessage({ cancel: true } satisfies ScanRequest);
    await this.running?.catch(() => undefined);
  }

  private async run(): Promise<SpaceReport> {
    const startMs = performance.now();
    const mark = await Mark.begin(this.sources);
    let worker: Worker | null = null;
    let asked = false;
    try {
      const workerData: ScanWorkerData = {
        dataDir: this.dataDir,
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
      const announced = await mark.settle();
      worker.postMessage({ announced: packed(announced) } satisfies ScanRequest);
      asked = true;
      const done = await nextAnswer();
      if (!('report' in done)) throw new Error(`space scan: ${'error' in done ? done.error : 'no report'}`);
      return { ...done.report, scanMs: Math.round(performance.now() - startMs) };
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
