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
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { parentPort, workerData } from 'node:worker_threads';
import type { Transaction } from 'lmdb';
import { openStoreDbs, packsDirOf, readChunkSync, PackReaders, missingFromStore } from '../store/store.js';
import {
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
import { installEngineLog } from '../engine-log.js';
import type { ExportAnswer, ExportWorkerData } from './export-snapshot.js';

installEngineLog();

const PROGRESS_EVERY_MS = 200;
/** Problems listed by name in the result; past this, counted only. */
const PROBLEMS_LISTED = 20;

const { dataDir, entry, target, intoTarget, cancel } = workerData as ExportWorkerData;
const { env, dbs } = openStoreDbs(dataDir, { readOnly: true });
const readers = new PackReaders(packsDirOf(dataDir), false);
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

/** A chunk's bytes; a collection that moved it meanwhile is followed (the index is read again). */
function readChunk(key: Uint8Array): Buffer {
  for (let attempt = 0; ; attempt++) {
    try {
      const bytes = readChunkSync(dbs, readers, key);
      if (bytes === undefined) throw missingFromStore('chunk', key);
      return bytes;
    } catch (error) {
      if (attempt > 0 || (error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      env.resetReadTxn();
    }
  }
}

/** Bytes of the regular files under `entry` (a file with several names once). */
function measure(txn: Transaction, entry: TreeEntry, seen: Set<number>): number {
  if (entry.treeKey) return treeOf(txn, entry.treeKey).reduce((n, child) => n + measure(txn, child, seen), 0);
  const inode = decodeInode(entry.ino, entry.record);
  if ((inode.mode & S_IFMT) !== S_IFREG || seen.has(entry.ino)) return 0;
  seen.add(entry.ino);
  return inode.sizeBytes;
}

function writeFile(txn: Transaction, path: string, inode: InodeRecord): void {
  const fd = openSync(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600);
  try {
    let position = 0;
    if (inode.manifestKey) {
      for (const chunk of chunksOf(txn, inode.manifestKey)) {
        // A hole stays a hole: nothing is written there.
        if (!isHole(chunk)) {
          const bytes = readChunk(chunk.key);
          for (let done = 0; done < bytes.length;)
            done += writeSync(fd, bytes, done, bytes.length - done, position + done);
        }
        position += chunk.sizeBytes;
        result.bytes += chunk.sizeBytes;
        progress();
      }
    }
    if (position !== inode.sizeBytes) ftruncateSync(fd, inode.sizeBytes);
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

function exportEntry(txn: Transaction, entry: TreeEntry, path: string, names: Map<number, string>): void {
  const inode = decodeInode(entry.ino, entry.record);
  const type = inode.mode & S_IFMT;
  if (type === S_IFDIR) {
    if (!(path === target && intoTarget)) mkdirSync(path, 0o700);
    result.dirs++;
    for (const child of treeOf(txn, entry.treeKey!)) exportEntry(txn, child, join(path, child.name), names);
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
    writeFile(txn, path, inode);
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
  exportEntry(txn, entry, target, new Map());
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
void readers
  .closeAll()
  .then(() => env.close())
  .finally(() => process.exit(0));
