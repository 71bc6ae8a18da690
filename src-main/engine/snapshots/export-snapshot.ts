/**
 * Exporting a snapshot's file or directory to an ordinary directory outside Bazil
 * (`bazil snapshot restore VOLUME SNAPSHOT PATH --to DIR`): the writing runs in a thread of its
 * own (export-worker.ts), which reads the store read-only, so the mounts stay served; this side
 * checks the target, relays progress and can stop it.
 *
 * Where it goes: the snapshot's PATH becomes DIR/NAME (DIR is made if missing; NAME must not
 * exist there); the root's content goes into DIR itself, which must be new or empty. Nothing that
 * exists is overwritten.
 */
import { mkdir, readdir, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { Worker } from 'node:worker_threads';
import type { ExportResult, ProgressSink } from '../../common/api.js';
import { BazilError, quote } from '../../common/errors.js';
import type { TreeEntry } from '../store/format.js';

export interface ExportWorkerData {
  dataDir: string;
  entry: TreeEntry;
  /** The path the entry is written as. */
  target: string;
  /** The target is a directory that exists (empty): the root's content goes into it. */
  intoTarget: boolean;
  /** Set to 1 to stop (the engine stops). */
  cancel: Int32Array;
}

export type ExportAnswer =
  | { progress: { done: number; total: number } }
  | { result: Omit<ExportResult, 'path' | 'ms' | 'problems'> & { problems: string[]; moreProblems: number } }
  | { error: string; code: string | null };

const exists = (path: string) =>
  stat(path).then(
    () => true,
    () => false,
  );

/** Where the entry goes under `to` (absolute), checked and prepared; see the file's comment. */
async function targetOf(to: string, entry: TreeEntry): Promise<{ target: string; intoTarget: boolean }> {
  if (!(await exists(dirname(to)))) {
    throw new BazilError('ENOENT', `${quote(dirname(to))} does not exist; create it first, or choose another --to`);
  }
  const dirExists = await exists(to);
  if (dirExists && !(await stat(to)).isDirectory()) {
    throw new BazilError('ENOTDIR', `--to ${quote(to)} is not a directory`);
  }
  if (entry.name === '') {
    if (dirExists && (await readdir(to)).length > 0) {
      throw new BazilError(
        'ENOTEMPTY',
        `--to ${quote(to)} is not empty; the whole volume goes into a new or empty directory (nothing was written)`,
      );
    }
    return { target: to, intoTarget: dirExists };
  }
  const target = join(to, basename(entry.name));
  if (await exists(target)) {
    throw new BazilError(
      'EEXIST',
      `${quote(target)} exists; move it away or choose another --to (nothing was written)`,
    );
  }
  if (!dirExists) await mkdir(to, { mode: 0o700 });
  return { target, intoTarget: false };
}

export class Exports {
  private readonly running = new Set<{ worker: Worker; done: Promise<unknown> }>();
  private readonly cancel = new Int32Array(new SharedArrayBuffer(4));

  constructor(private readonly dataDir: string) {}

  async run(entry: TreeEntry, to: string, progress: ProgressSink | undefined): Promise<ExportResult> {
    if (Atomics.load(this.cancel, 0) !== 0) throw new BazilError('EBUSY', 'the engine is stopping');
    const startMs = performance.now();
    const { target, intoTarget } = await targetOf(to, entry);
    const workerData: ExportWorkerData = { dataDir: this.dataDir, entry, target, intoTarget, cancel: this.cancel };
    const worker = new Worker(new URL('./export-worker.js', import.meta.url), { workerData });
    const done = new Promise<ExportResult>((resolve, reject) => {
      let answered = false;
      worker.on('message', (answer: ExportAnswer) => {
        if ('progress' in answer) {
          progress?.({ phase: 'writing files', unit: 'bytes', ...answer.progress });
          return;
        }
        answered = true;
        if ('error' in answer) {
          const code =
            answer.code === 'ENOSPC' ? 'ENOSPC' : /^(EACCES|EPERM|EROFS)$/.test(answer.code ?? '') ? 'EACCES' : 'EIO';
          reject(new BazilError(code, `export to ${quote(target)}: ${answer.error}`));
          return;
        }
        const { moreProblems, ...result } = answer.result;
        if (moreProblems > 0) result.problems.push(`... and ${moreProblems} more like them`);
        resolve({ ...result, path: target, ms: Math.round(performance.now() - startMs) });
      });
      worker.once('error', (error) => {
        answered = true;
        reject(error);
      });
      worker.once('exit', (code) => {
        if (!answered) reject(new Error(`export: its thread ended (exit code ${code})`));
      });
    });
    const entryOfRun = { worker, done: done.catch(() => undefined) };
    this.running.add(entryOfRun);
    try {
      return await done;
    } finally {
      this.running.delete(entryOfRun);
    }
  }

  /** Stops the exports running (the engine stops); they fail, leaving what they wrote. */
  async stop(): Promise<void> {
    Atomics.store(this.cancel, 0, 1);
    await Promise.all([...this.running].map(({ done }) => done));
  }
}
