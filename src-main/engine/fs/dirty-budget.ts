/**
 * Accounts the memory held by dirty write buffers (pages not yet stored), per file and per volume,
 * against one cap for the engine. Past half the cap the largest dirty files are stored early; at
 * the cap, writes wait until stored pages are freed. So a file larger than memory can be written,
 * and the engine's memory stays near the cap however fast a program writes.
 */

import { PagePool } from './page-pool.js';

export interface DirtyFile {
  readonly volumeName: string;
  /** Where the file was opened (for display; a hard-linked file has several names). */
  readonly displayPath: string;
  /** Bytes held by this file's dirty pages (live and being stored). */
  readonly dirtyBytes: number;
  /** Bytes `startEarlyFlush` would store now: its live pages, none while it is storing. */
  readonly storableBytes: number;
  /** Starts storing this file's dirty pages now, unless it is already doing so. */
  startEarlyFlush(): void;
}

export interface DirtyStats {
  capBytes: number;
  totalBytes: number;
  volumes: { name: string; dirtyBytes: number }[];
  files: { volume: string; path: string; dirtyBytes: number }[];
}

export const DEFAULT_DIRTY_CAP_BYTES = 256 * 1024 * 1024;
/** Dirty data is held in pages of this size: one per 128 KiB FUSE write (big_writes). */
export const PAGE_BYTES = 128 * 1024;

/** Page memory comes in slabs of this size (see PagePool). */
const SLAB_BYTES = 64 * 1024 * 1024;
/**
 * The pages go back to the system once no page has been in use for this long. Fresh page memory
 * is slow to touch here (each page faults in, zeroed): measured writing 1 GiB into fresh slabs,
 * the FUSE thread spent 1.5-2.3 s of CPU, reusing the last write's slabs 1.0-1.5 s. Bursts of
 * writes a few seconds apart (a copy of many files, a build) keep their pages.
 */
const TRIM_AFTER_IDLE_MS = 30_000;

export class DirtyBudget {
  private total = 0;
  private readonly files = new Set<DirtyFile>();
  private waiters: { resolve: () => void; reject: (error: Error) => void }[] = [];
  /** Set while storing fails (a full disk): writers at the cap get this error instead of waiting. */
  private failure: Error | null = null;
  private readonly pool: PagePool;
  private trimTimer: NodeJS.Timeout | null = null;

  /** Called after idle page memory was dropped (the engine collects garbage in every thread). */
  onTrimmed: () => void = () => undefined;

  constructor(
    readonly capBytes: number = DEFAULT_DIRTY_CAP_BYTES,
    private readonly trimAfterIdleMs = TRIM_AFTER_IDLE_MS,
  ) {
    this.pool = new PagePool(PAGE_BYTES, Math.min(SLAB_BYTES, capBytes));
  }

  /** Bytes of page memory the engine holds (in use or kept for reuse). */
  get poolBytes(): number {
    return this.pool.allocatedBytes;
  }

  get totalBytes(): number {
    return this.total;
  }

  track(file: DirtyFile): void {
    this.files.add(file);
  }

  untrack(file: DirtyFile): void {
    this.files.delete(file);
  }

  /** A page for dirty data, counted against the cap. Its bytes are not zeroed. */
  takePage(): Buffer {
    const page = this.pool.take();
    this.add(PAGE_BYTES);
    return page;
  }

  /** Gives a page back for reuse (no chunk worker may still be reading it). */
  givePage(page: Buffer): void {
    this.release(PAGE_BYTES);
    this.pool.give(page);
  }

  /**
   * Stops counting a page a chunk worker may still be reading (its file was truncated or deleted
   * during a flush); `reclaimPage` returns it to the pool once the worker has answered.
   */
  retirePage(): void {
    this.release(PAGE_BYTES);
  }

  reclaimPage(page: Buffer): void {
    this.pool.give(page);
  }

  private add(bytes: number): void {
    this.total += bytes;
    if (this.total > this.capBytes / 2) this.flushLargest();
  }

  private release(bytes: number): void {
    this.total -= bytes;
    if (this.total === 0) {
      // Idle: give the page memory back to the system later, unless pages are used again first.
      if (this.trimTimer) clearTimeout(this.trimTimer);
      this.trimTimer = setTimeout(() => {
        this.trimTimer = null;
        if (this.total === 0 && this.pool.trim() > 0) this.onTrimmed();
      }, this.trimAfterIdleMs);
      this.trimTimer.unref();
    }
    if (this.total < this.capBytes && this.waiters.length > 0) {
      const waiters = this.waiters;
      this.waiters = [];
      for (const waiter of waiters) waiter.resolve();
    }
  }

  /**
   * Null while under the cap; otherwise a promise that resolves when stored pages free room, or
   * rejects when storing fails: a writer then gets the error (ENOSPC, say) rather than waiting
   * for room that will not come. Its earlier data stays in memory, and every store retries.
   * Every waiter wakes at once: each asks again before it writes (another may have taken the room).
   */
  waitForRoom(): Promise<void> | null {
    if (this.total < this.capBytes) return null;
    this.flushLargest();
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
  }

  /** A store of dirty pages failed: writers waiting for room are told, not left waiting. */
  storeFailed(error: Error): void {
    this.failure = error;
    const waiters = this.waiters;
    this.waiters = [];
    for (const waiter of waiters) waiter.reject(error);
  }

  storeSucceeded(): void {
    this.failure = null;
  }

  /**
   * A file finished storing. If writers still wait at the cap, the next file stores: the pages
   * this one freed may not have been enough, and without this the writers waited for ever once
   * every other file's pages were live (twelve writers under a 16 MiB cap hung so).
   */
  flushEnded(): void {
    if (this.waiters.length > 0 && this.total >= this.capBytes) this.flushLargest();
  }

  stats(): DirtyStats {
    const volumes = new Map<string, number>();
    const files: DirtyStats['files'] = [];
    for (const file of this.files) {
      if (file.dirtyBytes === 0) continue;
      volumes.set(file.volumeName, (volumes.get(file.volumeName) ?? 0) + file.dirtyBytes);
      files.push({ volume: file.volumeName, path: file.displayPath, dirtyBytes: file.dirtyBytes });
    }
    files.sort((a, b) => b.dirtyBytes - a.dirtyBytes);
    return {
      capBytes: this.capBytes,
      totalBytes: this.total,
      volumes: [...volumes].map(([name, dirtyBytes]) => ({ name, dirtyBytes })),
      files,
    };
  }

  /** Starts storing the file with the most live pages (one already storing has none to add). */
  private flushLargest(): void {
    let largest: DirtyFile | null = null;
    for (const file of this.files) {
      if (file.storableBytes > (largest?.storableBytes ?? 0)) largest = file;
    }
    largest?.startEarlyFlush();
  }
}
