/**
 * The metadata of one volume in memory, backed by LMDB: inodes and directory entries are loaded on
 * first use and every change is written behind, in order, in batched transactions.
 *
 * Why write-behind: an LMDB write is visible to readers only once committed, and a commit per
 * file-system call would serialise every call behind a disk write. Memory is the truth for what
 * is loaded; the batch that a change joins commits all of its changes atomically (a rename's
 * removal and addition land together), in order. `committed()` resolves when every change made so
 * far is in LMDB: close and fsync wait for it, and bring the batch forward to the end of the
 * event loop's turn. Changes nobody waits for (create, chmod, utimes, rename...) commit within
 * COMMIT_DELAY_MS: copying a small file took ~5 commits (create, write, chmod, utimes, close),
 * and now takes the one its close waits for.
 *
 * Each batch also keeps `parents` and the snapshot tree cache in step with what it changes (see
 * ../snapshots/tree-cache.ts), in the same transaction.
 *
 * A batch that fails (a full disk) loses nothing: its changes go back in the queue and the engine
 * serves from memory. While commits fail, changes are not tried at every turn but on one timer
 * that backs off (0.5 s doubling to 30 s), the failure is logged when it starts and when it ends,
 * and waiting callers get the error at once.
 */
import {
  EMPTY_VALUE,
  ROOT_INO,
  decodeDirentValue,
  decodeInode,
  direntKey,
  direntNameFromKey,
  direntPrefix,
  encodeDirentValue,
  encodeInode,
  encodeVolume,
  inodeKey,
  volumeKey,
  type InodeRecord,
  type VolumeRecord,
} from '../store/format.js';
import type { Store } from '../store/store.js';
import { entryChanging, inodeChanged } from '../snapshots/tree-cache.js';
import { nowNs } from '../../common/time.js';
import { quote } from '../../common/errors.js';
import type { FileContent } from './file-content.js';

export interface Inode extends InodeRecord {
  /** Open handles on this inode. */
  openCount: number;
  /** Content of an open or dirty file. */
  content: FileContent | null;
  /** References the kernel holds (lookups it has not forgotten). */
  nlookup: number;
  /** A directory's parent, learned when it was last seen by name (not stored: a directory has one). */
  parent?: number;
  /** The name it was last seen by, in which directory (to show it by; not stored). */
  seenAs?: { parent: number; name: string };
}

/** How long a change that nobody waits for may stay uncommitted (ext4 commits every 5 s). */
const COMMIT_DELAY_MS = 20;

/** After a failed batch, the next try waits this long, doubling up to LAST_RETRY_MS. */
const FIRST_RETRY_MS = 500;
const LAST_RETRY_MS = 30_000;

/** Commits failing since `sinceMs`, the latest with `error`. */
interface Failing {
  error: Error;
  sinceMs: number;
  retries: number;
}

/** A file's size as programs see it: what is written, stored or not. */
export function currentSizeBytes(inode: Inode): number {
  return inode.content ? inode.content.sizeBytes : inode.sizeBytes;
}

/** A new inode owned by the user running the engine, all its times now. */
export function newInode(ino: number, mode: number, nlink: number): Inode {
  const now = nowNs();
  return {
    ino,
    mode,
    uid: process.getuid?.() ?? 0,
    gid: process.getgid?.() ?? 0,
    nlink,
    sizeBytes: 0,
    atimeNs: now,
    mtimeNs: now,
    ctimeNs: now,
    manifestKey: null,
    symlinkTarget: null,
    rdev: 0,
    xattrs: new Map(),
    openCount: 0,
    content: null,
    nlookup: 0,
  };
}

export class VolumeMeta {
  private readonly inodes = new Map<number, Inode>();
  private readonly dirs = new Map<number, Map<string, number>>();
  private readonly pendingInodes = new Set<number>();
  private readonly pendingDirents = new Map<string, { dir: number; name: string; child: number | null }>();
  private readonly pendingOrphans = new Map<number, boolean>();
  /** By key: the same blob queued again (a retried close) is kept once. */
  private pendingBlobs = new Map<string, { db: 'chunks' | 'manifests'; key: Buffer; value: Buffer }>();
  /** Inodes deleted in memory whose deletion may not be committed yet: never reloaded. */
  private readonly dropped = new Set<number>();
  private volumeDirty = false;
  private batch: Promise<void> | null = null;
  /** Brings the scheduled batch forward to the end of this turn (while one waits for its delay). */
  private commitSoon: (() => void) | null = null;
  private lastCommit: Promise<void> = Promise.resolve();
  private failing: Failing | null = null;
  /** Changes made (of names, inodes, orphans and data queued with them): see `changes`. */
  private changeCount = 0;
  private retryTimer: NodeJS.Timeout | null = null;
  private retryDelayMs = FIRST_RETRY_MS;

  /** Called when commits succeed again after failing (files that could not be stored meanwhile can be). */
  onRecovered: () => void = () => undefined;
  /** Called when commits begin to fail (not at each retry). */
  onFailing: (error: Error) => void = () => undefined;

  constructor(
    private readonly store: Store,
    readonly volume: VolumeRecord,
  ) {}

  /** Why commits fail now, or null when they do not. */
  /** A count that goes up with every change to the volume's files, for showing them live. */
  get changes(): number {
    return this.changeCount;
  }

  get failure(): Error | null {
    return this.failing?.error ?? null;
  }

  // ---- reads ----

  inode(ino: number): Inode | undefined {
    let inode = this.inodes.get(ino);
    if (inode) return inode;
    if (this.dropped.has(ino)) return undefined;
    const bytes = this.store.dbs.inodes.getBinary(inodeKey(this.volume.id, ino));
    if (bytes === undefined) return undefined;
    inode = { ...decodeInode(ino, bytes), openCount: 0, content: null, nlookup: 0 };
    this.inodes.set(ino, inode);
    return inode;
  }

  /** The inode if it is in memory now (never loaded from LMDB). */
  loadedInode(ino: number): Inode | undefined {
    return this.inodes.get(ino);
  }

  /**
   * Lets go of a clean inode in memory (the kernel forgot it): it is loaded again from LMDB when
   * asked for. One with changes not yet committed stays.
   */
  evict(ino: number): void {
    if (this.pendingInodes.has(ino) || this.pendingOrphans.has(ino)) return;
    if (this.dirs.has(ino)) {
      for (const { dir } of this.pendingDirents.values()) if (dir === ino) return;
      this.dirs.delete(ino);
    }
    this.inodes.delete(ino);
  }

  /** The inodes in memory (among them every open or dirty file). */
  loaded(): IterableIterator<Inode> {
    return this.inodes.values();
  }

  /** Chunks and manifests queued for the next batch (read-only: for the mark). */
  queuedBlobs(): Iterable<{ db: 'chunks' | 'manifests'; key: Buffer }> {
    return this.pendingBlobs.values();
  }

  /** The entries of a directory, name to inode number (loaded once, then kept in memory). */
  entries(dirIno: number): Map<string, number> {
    let entries = this.dirs.get(dirIno);
    if (entries) return entries;
    entries = new Map();
    const prefix = direntPrefix(this.volume.id, dirIno);
    const end = Buffer.from(prefix);
    end.writeBigUInt64BE(BigInt(dirIno) + 1n, 4);
    for (const { key, value } of this.store.dbs.dirents.getRange({ start: prefix, end })) {
      entries.set(direntNameFromKey(key), decodeDirentValue(value));
    }
    this.dirs.set(dirIno, entries);
    return entries;
  }

  // ---- changes (memory now, LMDB in the next batch) ----

  /** Changes the volume's settings; the record is written with the next batch. */
  setShowSnap(showSnap: boolean): void {
    this.volume.showSnap = showSnap;
    this.volumeDirty = true;
    this.schedule();
  }

  allocateIno(): number {
    const ino = this.volume.nextIno++;
    this.volumeDirty = true;
    this.schedule();
    return ino;
  }

  /** Adds a new inode (kept in memory and written in the next batch). */
  addInode(inode: Inode): void {
    this.inodes.set(inode.ino, inode);
    if (inode.mode & 0o040000) this.dirs.set(inode.ino, new Map());
    this.touchInode(inode.ino);
  }

  /** Marks an inode's record as changed. */
  touchInode(ino: number): void {
    this.pendingInodes.add(ino);
    this.schedule();
  }

  setEntry(dirIno: number, name: string, childIno: number): void {
    this.entries(dirIno).set(name, childIno);
    this.pendingDirents.set(`${dirIno}/${name}`, { dir: dirIno, name, child: childIno });
    this.schedule();
  }

  removeEntry(dirIno: number, name: string): void {
    this.entries(dirIno).delete(name);
    this.pendingDirents.set(`${dirIno}/${name}`, { dir: dirIno, name, child: null });
    this.schedule();
  }

  /**
   * Stores a chunk or manifest in the next batch, in the same transaction as the inode that will
   * name it (small files: one commit for data and metadata, see FileContent).
   */
  queueBlob(db: 'chunks' | 'manifests', key: Buffer, value: Buffer): void {
    this.pendingBlobs.set(`${db}/${key.toString('hex')}`, { db, key, value });
    this.schedule();
  }

  /** Forgets an inode whose last link and handle are gone (its record is deleted). */
  dropInode(ino: number): void {
    const inode = this.inodes.get(ino);
    inode?.content?.discard();
    this.inodes.delete(ino);
    this.dirs.delete(ino);
    this.dropped.add(ino);
    this.pendingInodes.add(ino);
    this.setOrphan(ino, false);
  }

  /** An orphan has no name but is still open; a restart deletes the orphans left by a crash. */
  setOrphan(ino: number, orphan: boolean): void {
    this.pendingOrphans.set(ino, orphan);
    this.schedule();
  }

  /**
   * Resolves when every change made so far is committed to LMDB; while commits fail, rejects at
   * once with the reason.
   */
  async committed(): Promise<void> {
    if (this.commitSoon) setImmediate(this.commitSoon);
    this.commitSoon = null;
    await (this.batch ?? this.lastCommit);
    if (this.failing) throw this.failing.error;
  }

  /**
   * As `committed`, for the changes of one inode: resolves at once when none is waiting, so a
   * file that changed nothing (one only read) never reports another file's failure.
   */
  async committedFor(ino: number): Promise<void> {
    if (this.pendingInodes.has(ino) || this.pendingOrphans.has(ino)) await this.committed();
  }

  /**
   * The volume is unmounted: a batch waiting for its delay commits now (before the store can
   * close), and the retry timer stops.
   */
  close(): void {
    this.commitSoon?.();
    this.commitSoon = null;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
  }

  /** Deletes the inodes that a crash left without a name (unlinked while open). */
  async sweepOrphans(): Promise<number> {
    const prefix = inodeKey(this.volume.id, 0).subarray(0, 4);
    const end = Buffer.from(prefix);
    end.writeUInt32BE(this.volume.id + 1, 0);
    const orphans: number[] = [];
    for (const key of this.store.dbs.orphans.getKeys({ start: prefix, end })) {
      orphans.push(Number((key as Buffer).readBigUInt64BE(4)));
    }
    for (const ino of orphans) this.dropInode(ino);
    await this.committed();
    return orphans.length;
  }

  private schedule(): void {
    this.changeCount++;
    // While commits fail, only the retry timer writes: a change does not bring the next try forward.
    if (this.batch || this.failing) return;
    this.batch = new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, COMMIT_DELAY_MS);
      this.commitSoon = () => {
        clearTimeout(timer);
        resolve();
      };
    }).then(() => {
      this.commitSoon = null;
      return this.writeBatch();
    });
  }

  private retryLater(): void {
    if (this.retryTimer) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      if (this.batch) return;
      this.batch = Promise.resolve().then(() => this.writeBatch());
    }, this.retryDelayMs);
    this.retryTimer.unref();
    this.retryDelayMs = Math.min(this.retryDelayMs * 2, LAST_RETRY_MS);
  }

  private writeBatch(): Promise<void> {
    this.batch = null;
    const { dbs } = this.store;
    const volumeId = this.volume.id;
    const inodes = [...this.pendingInodes];
    const dirents = [...this.pendingDirents.values()];
    const orphans = [...this.pendingOrphans];
    const blobs = this.pendingBlobs;
    this.pendingBlobs = new Map();
    const volume = this.volumeDirty ? encodeVolume(this.volume) : null;
    this.pendingInodes.clear();
    this.pendingDirents.clear();
    this.pendingOrphans.clear();
    this.volumeDirty = false;
    // Records are encoded now, in this turn, so the batch holds one consistent state.
    const inodeWrites = inodes.map((ino) => {
      const inode = this.inodes.get(ino);
      return { ino, key: inodeKey(volumeId, ino), value: inode ? encodeInode(inode) : null };
    });
    const commit = commitNow(this.store.env, () => {
      for (const { db, key, value } of blobs.values()) if (!dbs[db].doesExist(key)) dbs[db].putSync(key, value);
      if (volume) dbs.volumes.putSync(volumeKey(this.volume.name), volume);
      // Entries first: a new inode's names are in `parents` when its record drops their cached trees.
      for (const { dir, name, child } of dirents) {
        entryChanging(dbs, volumeId, dir, name, child);
        const key = direntKey(volumeId, dir, name);
        if (child === null) dbs.dirents.removeSync(key);
        else dbs.dirents.putSync(key, encodeDirentValue(child));
      }
      for (const { ino, key, value } of inodeWrites) {
        if (value) dbs.inodes.putSync(key, value);
        else dbs.inodes.removeSync(key);
        inodeChanged(dbs, volumeId, ino);
      }
      for (const [ino, orphan] of orphans) {
        const key = inodeKey(volumeId, ino);
        if (orphan) dbs.orphans.putSync(key, EMPTY_VALUE);
        else dbs.orphans.removeSync(key);
      }
    }).then(
      () => {
        for (const { ino, value } of inodeWrites) if (!value) this.dropped.delete(ino);
        this.retryDelayMs = FIRST_RETRY_MS;
        const failing = this.failing;
        if (!failing) return;
        this.failing = null;
        const seconds = Math.round((Date.now() - failing.sinceMs) / 1000);
        console.error(
          `bazil: volume ${quote(this.volume.name)}: metadata written again, after ${seconds} s and ${failing.retries} retries`,
        );
        // Changes made while failing waited for this commit; anything newer goes in the next batch.
        this.schedule();
        this.onRecovered();
      },
      (cause: unknown) => {
        // Nothing is lost: the batch's changes go back in the queue (under any newer ones) and
        // are written again later, while the engine serves from memory. Until a batch commits,
        // every close and fsync that waits for a change reports the error (a full disk, say).
        const error = this.store.explainWriteFailure(cause);
        if (this.failing) {
          this.failing.error = error;
          this.failing.retries++;
        } else {
          this.failing = { error, sinceMs: Date.now(), retries: 0 };
          console.error(
            `bazil: volume ${quote(this.volume.name)}: metadata cannot be written (${error.message}); ` +
              `changes stay in memory and are written again, retried every ${FIRST_RETRY_MS / 1000} s ` +
              `to ${LAST_RETRY_MS / 1000} s until it works`,
          );
          this.onFailing(error);
        }
        for (const ino of inodes) this.pendingInodes.add(ino);
        for (const entry of dirents) {
          const key = `${entry.dir}/${entry.name}`;
          if (!this.pendingDirents.has(key)) this.pendingDirents.set(key, entry);
        }
        for (const [ino, orphan] of orphans) if (!this.pendingOrphans.has(ino)) this.pendingOrphans.set(ino, orphan);
        for (const [key, blob] of blobs) if (!this.pendingBlobs.has(key)) this.pendingBlobs.set(key, blob);
        if (volume) this.volumeDirty = true;
        this.retryLater();
      },
    );
    this.lastCommit = commit;
    return commit;
  }
}

/**
 * Runs a write transaction and commits it now, on this thread; the promise says how it went.
 * Synchronous: a batch is small, and with `noSync` its commit writes a few pages to the OS (no disk
 * wait). An asynchronous transaction commits on another thread and answers through the event
 * loop, which made a small file's close wait ~2 ms longer.
 */
function commitNow(env: Store['env'], writes: () => void): Promise<void> {
  try {
    env.transactionSync(writes);
    return Promise.resolve();
  } catch (error) {
    return Promise.reject(error instanceof Error ? error : new Error(String(error)));
  }
}

export { ROOT_INO };
