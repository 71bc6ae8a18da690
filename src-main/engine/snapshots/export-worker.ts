/**
 * The thread of an export (export-snapshot.ts): writes a snapshot's file or directory to an
 * ordinary directory, reading the store read-only (chunks straight from the packs), with modes,
 * owners (as root), times to the nanosecond, symlinks, FIFOs and device nodes, extended
 * attributes, holes, and hard links as links. Directories get their mode and times after what is
 * in them. Nothing that exists is overwritten: every name is created new (O_EXCL, mkdir).
 *
 * Answers progress now and then, then the result or the error, and ends.
 */
import {
  chmodSync,
  closeSync,
  constants,
  fchmodSync,
  fchownSync,
  ftruncateSync,
  lchownSync,
  linkSync,
  mkdirSync,
  openSync,
  symlinkSync,
  write,
} from 'node:fs';
import { join } from 'node:path';
import { parentPort, workerData } from 'node:worker_threads';
import type { Transaction } from 'lmdb';
import {
  cutShortInPack,
  locateChunk,
  missingFromStore,
  openStoreDbs,
  packsDirOf,
  readChunkSync,
  PackReaders,
} from '../store/store.js';
import {
  PACK_BLOCK_BYTES,
  S_IFMT,
  S_IFDIR,
  S_IFREG,
  S_IFLNK,
  asBuffer,
  decodeInode,
  decodeManifestBlob,
  decodeTree,
  isHole,
  type ChunkRef,
  type InodeRecord,
  type TreeEntry,
} from '../store/format.js';
import { loadAddon } from '../fuse/load-addon.js';
import { alignDown, alignUp, alignedBuffer } from '../store/pack-file.js';
import { installEngineLog } from '../engine-log.js';
import type { ExportAnswer, ExportWorkerData } from './export-snapshot.js';

installEngineLog();

const PROGRESS_EVERY_MS = 200;
/** Problems listed by name in the result; past this, counted only. */
const PROBLEMS_LISTED = 20;

const { dataDir, entry, target, intoTarget, cancel } = workerData as ExportWorkerData;
const { env, dbs } = openStoreDbs(dataDir, { readOnly: true });
/** Direct reads (as the mount's chunk cache reads): the store's bytes are not cached twice. */
const readers = new PackReaders(packsDirOf(dataDir), true);
/** Buffered, for the few chunks a collection moved during the export. */
let movedReaders: PackReaders | null = null;
const addon = loadAddon();
const asRoot = process.geteuid?.() === 0;
/** Entries whose owner is not this user (kept only as root). */
let othersOwned = 0;

class Cancelled extends Error {}

const result = { files: 0, dirs: 0, links: 0, others: 0, bytes: 0, problems: [] as string[], moreProblems: 0 };
let totalBytes = 0;
let lastProgressMs = 0;

function problem(message: string): void {
  if (result.problems.length < PROBLEMS_LISTED) result.problems.push(message);
  else result.moreProblems++;
}

function progress(force = false): void {
  const now = performance.now();
  if (!force && now - lastProgressMs < PROGRESS_EVERY_MS) return;
  lastProgressMs = now;
  if (Atomics.load(cancel, 0) !== 0) throw new Cancelled('cancelled');
  parentPort!.postMessage({ progress: { done: result.bytes, total: totalBytes } } satisfies ExportAnswer);
}

function treeOf(txn: Transaction, key: Uint8Array): TreeEntry[] {
  const bytes = dbs.trees.get(asBuffer(key), { transaction: txn });
  if (bytes === undefined) throw new Error(`tree object ${asBuffer(key).toString('hex')} is missing from the store`);
  return decodeTree(bytes);
}

function* chunksOf(txn: Transaction, manifestKey: Uint8Array): Generator<ChunkRef> {
  const bytes = dbs.manifests.get(asBuffer(manifestKey), { transaction: txn });
  if (bytes === undefined) throw missingFromStore('manifest', manifestKey);
  const blob = decodeManifestBlob(bytes);
  if (blob.kind === 'list') yield* blob.chunks;
  else for (const child of blob.children) yield* chunksOf(txn, child.key);
}

/** Bytes read at once: adjacent chunks of a file, as they lie in their pack. */
const RUN_BYTES = 4 * 1024 * 1024;
/**
 * Reads in flight while a run is written: the disk serves several at once. Measured on the build
 * machine (512 MiB, cold): one read at a time spent 0.7-0.9 s reading, about the time of all of
 * cp -a from the mount, whose chunk cache keeps several reads going.
 */
const READS_AHEAD = 4;

/** Adjacent pieces of a file: a hole, bytes kept in LMDB, or a stretch of one pack. */
type Run =
  | { kind: 'hole'; sizeBytes: number }
  | { kind: 'bytes'; bytes: Buffer }
  | { kind: 'pack'; packId: number; offset: number; sizeBytes: number; keys: Uint8Array[] };

function* runsOf(txn: Transaction, manifestKey: Uint8Array): Generator<Run> {
  let run: Extract<Run, { kind: 'pack' }> | null = null;
  for (const chunk of chunksOf(txn, manifestKey)) {
    if (isHole(chunk)) {
      if (run) yield run;
      run = null;
      yield { kind: 'hole', sizeBytes: chunk.sizeBytes };
      continue;
    }
    const found = locateChunk(dbs, chunk.key);
    if (!found) throw missingFromStore('chunk', chunk.key);
    if (found.bytes) {
      if (run) yield run;
      run = null;
      yield { kind: 'bytes', bytes: found.bytes };
      continue;
    }
    const { packId, offset, sizeBytes } = found.location;
    if (
      run &&
      run.packId === packId &&
      run.offset + run.sizeBytes === offset &&
      run.sizeBytes + sizeBytes <= RUN_BYTES
    ) {
      run.sizeBytes += sizeBytes;
      run.keys.push(chunk.key);
      continue;
    }
    if (run) yield run;
    run = { kind: 'pack', packId, offset, sizeBytes, keys: [chunk.key] };
  }
  if (run) yield run;
}

/**
 * Buffers, page-aligned for direct reads, used in turn: one per read in flight and one for the
 * write (memory this machine touches for the first time is slow: they are kept for every file).
 */
const buffers = Array.from({ length: READS_AHEAD + 1 }, () => alignedBuffer(RUN_BYTES + 2 * PACK_BLOCK_BYTES));
let nextBuffer = 0;

/**
 * A run's bytes, read with direct I/O in whole blocks into the next buffer (valid until that
 * buffer comes round again: READS_AHEAD more reads). A collection may have moved its chunks since
 * they were looked up (and deleted the old pack): then each is looked up again, in a fresh read
 * transaction.
 */
async function readRun(run: Extract<Run, { kind: 'pack' }>): Promise<Buffer> {
  const buffer = buffers[nextBuffer]!;
  nextBuffer = (nextBuffer + 1) % buffers.length;
  const start = alignDown(run.offset);
  const end = alignUp(run.offset + run.sizeBytes);
  try {
    const n = await readers.get(run.packId).read(buffer, 0, end - start, start);
    if (n < run.offset + run.sizeBytes - start) throw cutShortInPack(run.keys[0]!, run.packId);
    return buffer.subarray(run.offset - start, run.offset - start + run.sizeBytes);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  env.resetReadTxn();
  movedReaders ??= new PackReaders(packsDirOf(dataDir), false);
  let at = 0;
  for (const key of run.keys) {
    const chunk = readChunkSync(dbs, movedReaders, key);
    if (chunk === undefined) throw missingFromStore('chunk', key);
    at += chunk.copy(buffer, at);
  }
  return buffer.subarray(0, at);
}

/**
 * Bytes per write(2). Measured on the build machine (a 257 MiB pack copied from cold caches with
 * dd): 4 MiB writes ran at 386 MB/s, 128 KiB ones at 1.1 GB/s; a 1 GiB export took 1.2-1.5 s with
 * 128 KiB writes, 1.2-1.7 s with 4 MiB ones. cp uses 128 KiB.
 */
const WRITE_BYTES = 128 * 1024;

function writeAll(fd: number, bytes: Buffer, position: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const next = (done: number) => {
      if (done === bytes.length) return resolve();
      write(fd, bytes, done, Math.min(WRITE_BYTES, bytes.length - done), position + done, (error, n) =>
        error ? reject(error) : next(done + n),
      );
    };
    next(0);
  });
}

/** Bytes of the regular files under `entry` (a file with several names once). */
function measure(txn: Transaction, entry: TreeEntry, seen: Set<number>): number {
  if (entry.treeKey) return treeOf(txn, entry.treeKey).reduce((n, child) => n + measure(txn, child, seen), 0);
  const inode = decodeInode(entry.ino, entry.record);
  if ((inode.mode & S_IFMT) !== S_IFREG || seen.has(entry.ino)) return 0;
  seen.add(entry.ino);
  return inode.sizeBytes;
}

/**
 * Reads `runs` in order, up to READS_AHEAD ahead of the one handed to `use` (a hole's bytes are
 * null). A run's bytes stay valid until `use` of the run after it has returned: READS_AHEAD + 1
 * buffers turn, and the next read into this one is started after that.
 */
async function readInOrder(runs: Run[], use: (bytes: Buffer | null, sizeBytes: number) => Promise<void>) {
  const reading: Promise<Buffer | null>[] = [];
  let next = 0;
  try {
    const readAhead = () => {
      for (; reading.length < READS_AHEAD && next < runs.length; next++) {
        const run = runs[next]!;
        reading.push(
          run.kind === 'hole'
            ? Promise.resolve(null)
            : run.kind === 'bytes'
              ? Promise.resolve(run.bytes)
              : readRun(run),
        );
      }
    };
    for (let i = 0; i < runs.length; i++) {
      readAhead();
      const run = runs[i]!;
      await use(await reading.shift()!, run.kind === 'bytes' ? run.bytes.length : run.sizeBytes);
      result.bytes += run.kind === 'bytes' ? run.bytes.length : run.sizeBytes;
      progress();
    }
  } finally {
    // Not while a read may still fill a buffer.
    await Promise.all(reading.map((p) => p.catch(() => undefined)));
  }
}

/**
 * A file's runs written, one write in flight while the next runs are read. A hole stays a hole:
 * nothing is written there. Returns where the data ends.
 */
async function writeRuns(fd: number, runs: Run[]): Promise<number> {
  let writing: Promise<void> = Promise.resolve();
  let position = 0;
  try {
    await readInOrder(runs, async (bytes, sizeBytes) => {
      // The last run's write ends before this returns: its buffer may be read into next.
      await writing;
      if (bytes) writing = writeAll(fd, bytes, position);
      position += sizeBytes;
    });
    await writing;
  } finally {
    await writing.catch(() => undefined);
  }
  return position;
}

/** A regular file: new (O_EXCL), its content, then its owner (as root) and mode. */
async function writeFile(txn: Transaction, path: string, inode: InodeRecord): Promise<void> {
  const runs = inode.manifestKey ? [...runsOf(txn, inode.manifestKey)] : [];
  const fd = openSync(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600);
  try {
    const end = await writeRuns(fd, runs);
    if (end !== inode.sizeBytes) ftruncateSync(fd, inode.sizeBytes);
    if (asRoot) fchownSync(fd, inode.uid, inode.gid);
    // After chown, which clears the set-user-ID and set-group-ID bits.
    fchmodSync(fd, inode.mode & 0o7777);
  } finally {
    closeSync(fd);
  }
}

/** Owner (as root), mode, extended attributes and times: what every kind of entry gets last. */
function finish(path: string, inode: InodeRecord, { regular }: { regular: boolean }): void {
  const type = inode.mode & S_IFMT;
  if (!asRoot && (inode.uid !== process.getuid?.() || inode.gid !== process.getgid?.())) othersOwned++;
  if (!regular) {
    if (asRoot) lchownSync(path, inode.uid, inode.gid);
    if (type !== S_IFLNK) chmodSync(path, inode.mode & 0o7777);
  }
  for (const [name, value] of inode.xattrs) {
    try {
      addon.setXattr(path, name, value);
    } catch (error) {
      problem(`${path}: extended attribute ${name} not kept (${(error as NodeJS.ErrnoException).code})`);
    }
  }
  addon.setTimesNs(path, inode.atimeNs, inode.mtimeNs);
}

async function exportEntry(
  txn: Transaction,
  entry: TreeEntry,
  path: string,
  names: Map<number, string>,
): Promise<void> {
  const inode = decodeInode(entry.ino, entry.record);
  const type = inode.mode & S_IFMT;
  if (type === S_IFDIR) {
    if (!(path === target && intoTarget)) mkdirSync(path, 0o700);
    result.dirs++;
    for (const child of treeOf(txn, entry.treeKey!)) await exportEntry(txn, child, join(path, child.name), names);
    finish(path, inode, { regular: false });
    return;
  }
  const first = names.get(entry.ino);
  if (first !== undefined) {
    // Another name of a file already written: a hard link to it, as in the snapshot.
    linkSync(first, path);
    result.links++;
    return;
  }
  if (type === S_IFREG) {
    await writeFile(txn, path, inode);
    result.files++;
  } else if (type === S_IFLNK) {
    symlinkSync(inode.symlinkTarget ?? '', path);
    result.others++;
  } else {
    try {
      addon.makeNode(path, (inode.mode & S_IFMT) | 0o600, inode.rdev);
      result.others++;
    } catch (error) {
      // Device nodes need root; a FIFO or socket anyone can make.
      problem(`${path}: not created (${(error as NodeJS.ErrnoException).code})`);
      return;
    }
  }
  finish(path, inode, { regular: type === S_IFREG });
  if (inode.nlink > 1) names.set(entry.ino, path);
}

let answer: ExportAnswer;
const txn = env.useReadTransaction();
try {
  totalBytes = measure(txn, entry, new Set());
  progress(true);
  await exportEntry(txn, entry, target, new Map());
  if (othersOwned > 0) {
    problem(`owners of ${othersOwned} entries not kept: only root gives files to other users (they are yours)`);
  }
  progress(true);
  answer = { result };
} catch (error) {
  answer = {
    error: error instanceof Cancelled ? 'cancelled: the engine is stopping' : (error as Error).message,
    code: (error as NodeJS.ErrnoException).code ?? null,
  };
}
txn.done();
parentPort!.postMessage(answer);
void Promise.all([readers.closeAll(), (movedReaders as PackReaders | null)?.closeAll()])
  .then(() => env.close())
  .finally(() => process.exit(0));
