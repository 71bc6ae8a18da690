/**
 * Accounts the memory held by dirty write buffers (pages not yet stored), per file and per volume,
 * against one cap for the engine. Past half the cap the largest dirty files are stored early; at
 * the cap, writes wait until stored pages are freed. So a file larger than memory can be written,
 * and the engine's memory stays near the cap however fast a program writes.
 */

export interface DirtyFile {
  readonly volumeName: string;
  /** Where the file was opened (for display; a hard-linked file has several names). */
  readonly displayPath: string;
  /** Bytes held by this file's dirty pages (live and being stored). */
  readonly dirtyBytes: number;
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

export class DirtyBudget {
  private total = 0;
  private readonly files = new Set<DirtyFile>();
  private waiters: (() => void)[] = [];
  /**
   * Pages given back, for reuse. Freed pages are not left to the garbage collector: under a steady
   * write the engine's memory would then grow far past the cap before a collection (measured: 1.7
   * GiB of anonymous memory writing 4 GiB under a 256 MiB cap).
   */
  private readonly freePages: Buffer[] = [];

  constructor(readonly capBytes: number = DEFAULT_DIRTY_CAP_BYTES) {}

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
    // Shared memory: a chunk worker reads a page being stored without a copy.
    const page = this.freePages.pop() ?? Buffer.from(new SharedArrayBuffer(PAGE_BYTES));
    this.add(PAGE_BYTES);
    return page;
  }

  /** Gives a page back; `reusable` only when no chunk worker can still be reading it. */
  givePage(page: Buffer, reusable: boolean): void {
    this.release(PAGE_BYTES);
    if (reusable && (this.freePages.length + 1) * PAGE_BYTES <= this.capBytes) this.freePages.push(page);
  }

  private add(bytes: number): void {
    this.total += bytes;
    if (this.total > this.capBytes / 2) this.flushLargest();
  }

  private release(bytes: number): void {
    this.total -= bytes;
    if (this.total < this.capBytes && this.waiters.length > 0) {
      const waiters = this.waiters;
      this.waiters = [];
      for (const wake of waiters) wake();
    }
  }

  /** Resolves at once while under the cap; otherwise when stored pages free room. */
  waitForRoom(): Promise<void> | null {
    if (this.total < this.capBytes) return null;
    this.flushLargest();
    return new Promise((resolve) => this.waiters.push(resolve));
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

  private flushLargest(): void {
    let largest: DirtyFile | null = null;
    for (const file of this.files) if (!largest || file.dirtyBytes > largest.dirtyBytes) largest = file;
    largest?.startEarlyFlush();
  }
}
