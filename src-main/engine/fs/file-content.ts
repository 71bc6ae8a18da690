/**
 * The content of one open file: its stored chunks (the base) overlaid by dirty pages.
 *
 * Written data stays in memory pages until fsync, close or the dirty cap, as Bazil does; then a
 * flush hands the pages to a chunk worker, which cuts, hashes and stores them. While a flush runs
 * its pages are frozen (the worker reads them through shared memory); a write to a frozen page
 * copies it first. Reads see live pages, then frozen pages, then the base.
 *
 * Terms: see ../chunking/rechunk.ts (base, base limit, page).
 */
import type { ChunkPool } from '../chunking/chunk-pool.js';
import { ChunkReader } from '../chunking/chunk-reader.js';
import type { ChunkRef } from '../store/format.js';
import type { DirtyBudget, DirtyFile } from './dirty-budget.js';

/** One page per 128 KiB FUSE write (what the kernel sends with big_writes). */
export const PAGE_BYTES = 128 * 1024;
/** A file whose live dirty pages pass this is stored early even under the engine's cap. */
const EARLY_FLUSH_FILE_BYTES = 64 * 1024 * 1024;

export interface StoredContent {
  manifestKey: Uint8Array | null;
  chunks: ChunkRef[];
  sizeBytes: number;
}

export interface ContentDeps {
  pool: ChunkPool;
  budget: DirtyBudget;
  readChunk(ref: ChunkRef): Buffer;
  /** Called when a flush has stored the content (chunks and manifest committed). */
  onStored(content: StoredContent): Promise<void>;
}

function newPage(): Buffer {
  // Shared memory: the chunk worker reads frozen pages without a copy.
  return Buffer.from(new SharedArrayBuffer(PAGE_BYTES));
}

export class FileContent implements DirtyFile {
  private base: ChunkReader;
  /** Bytes of the base still valid (truncation lowers it until the next flush). */
  private baseLimit: number;
  private size: number;
  private pages = new Map<number, Buffer>();
  private frozen = new Map<number, Buffer>();
  private flushing: Promise<void> | null = null;
  private lowestSizeDuringFlush = Infinity;
  private changeSeq = 0;
  private storedSeq = 0;
  private lastError: Error | null = null;

  constructor(
    readonly volumeName: string,
    public displayPath: string,
    stored: StoredContent,
    private readonly deps: ContentDeps,
  ) {
    this.base = new ChunkReader(stored.chunks, deps.readChunk);
    this.baseLimit = this.base.sizeBytes;
    this.size = stored.sizeBytes;
    deps.budget.track(this);
  }

  get sizeBytes(): number {
    return this.size;
  }

  get dirtyBytes(): number {
    return (this.pages.size + this.frozen.size) * PAGE_BYTES;
  }

  get isDirty(): boolean {
    return this.changeSeq !== this.storedSeq;
  }

  /** Copies up to `length` bytes at `offset` into `out`; returns the count (0 at the end). */
  read(offset: number, length: number, out: Uint8Array): number {
    const end = Math.min(offset + length, this.size);
    let at = offset;
    while (at < end) {
      const pageIndex = Math.floor(at / PAGE_BYTES);
      const pageStart = pageIndex * PAGE_BYTES;
      const pieceEnd = Math.min(end, pageStart + PAGE_BYTES);
      const page = this.pages.get(pageIndex) ?? this.frozen.get(pageIndex);
      if (page) {
        out.set(page.subarray(at - pageStart, pieceEnd - pageStart), at - offset);
        at = pieceEnd;
      } else {
        at = this.readBase(at, pieceEnd, out, offset);
      }
    }
    return Math.max(0, end - offset);
  }

  write(offset: number, data: Uint8Array): void {
    const end = offset + data.length;
    let at = offset;
    while (at < end) {
      const pageIndex = Math.floor(at / PAGE_BYTES);
      const pageStart = pageIndex * PAGE_BYTES;
      const pieceEnd = Math.min(end, pageStart + PAGE_BYTES);
      const page = this.livePage(pageIndex, at === pageStart && pieceEnd === pageStart + PAGE_BYTES);
      page.set(data.subarray(at - offset, pieceEnd - offset), at - pageStart);
      at = pieceEnd;
    }
    if (end > this.size) this.size = end;
    this.changeSeq++;
    if (this.pages.size * PAGE_BYTES >= EARLY_FLUSH_FILE_BYTES) this.startEarlyFlush();
  }

  truncate(sizeBytes: number): void {
    if (sizeBytes < this.size) {
      // Pages past the new end go; the page holding it keeps only bytes before it.
      const lastIndex = Math.floor(sizeBytes / PAGE_BYTES);
      const tail = sizeBytes - lastIndex * PAGE_BYTES;
      for (const map of [this.pages, this.frozen]) {
        for (const index of [...map.keys()]) {
          if (index > lastIndex || (index === lastIndex && tail === 0)) this.dropPage(map, index);
        }
      }
      if (tail > 0 && (this.pages.has(lastIndex) || this.frozen.has(lastIndex))) {
        this.livePage(lastIndex, false).fill(0, tail);
      }
      this.baseLimit = Math.min(this.baseLimit, sizeBytes);
      if (this.flushing) this.lowestSizeDuringFlush = Math.min(this.lowestSizeDuringFlush, sizeBytes);
    }
    this.size = sizeBytes;
    this.changeSeq++;
  }

  /** Stores every change made before the call; resolves once it is committed. */
  async flush(): Promise<void> {
    const target = this.changeSeq;
    while (this.storedSeq < target) {
      if (this.flushing) await this.flushing;
      else await this.flushOnce();
    }
  }

  startEarlyFlush(): void {
    if (this.flushing || this.pages.size === 0) return;
    this.flushOnce().catch((error: unknown) => {
      // Kept for the next flush: an fsync or close reports it to the program.
      this.lastError = error instanceof Error ? error : new Error(String(error));
    });
  }

  /** Forgets this file's pages (the file is gone); frees their memory from the budget. */
  discard(): void {
    for (const map of [this.pages, this.frozen]) for (const index of [...map.keys()]) this.dropPage(map, index);
    this.deps.budget.untrack(this);
  }

  /** Stops accounting a clean file that is no longer open. */
  close(): void {
    if (!this.isDirty && !this.flushing) this.deps.budget.untrack(this);
  }

  private flushOnce(): Promise<void> {
    if (this.lastError) {
      const error = this.lastError;
      this.lastError = null;
      return Promise.reject(error);
    }
    const seq = this.changeSeq;
    const frozen = this.pages;
    this.frozen = frozen;
    this.pages = new Map();
    this.lowestSizeDuringFlush = Infinity;
    const sizeAtStart = this.size;
    const run = (async () => {
      try {
        const reply = await this.deps.pool.flush({
          base: this.base.chunks,
          baseLimitBytes: this.baseLimit,
          sizeBytes: sizeAtStart,
          pageBytes: PAGE_BYTES,
          pages: frozen,
        });
        const stored: StoredContent = { manifestKey: reply.manifestKey, chunks: reply.chunks, sizeBytes: sizeAtStart };
        await this.deps.onStored(stored);
        this.base = new ChunkReader(reply.chunks, this.deps.readChunk);
        // Truncation while the flush ran invalidates the stored bytes past the lowest size.
        this.baseLimit = Math.min(this.base.sizeBytes, this.lowestSizeDuringFlush);
        for (const index of [...this.frozen.keys()]) this.dropPage(this.frozen, index);
        this.storedSeq = seq;
      } catch (error) {
        // Nothing was lost: the frozen pages become live again, under any written since.
        for (const [index, page] of this.frozen) {
          if (!this.pages.has(index)) this.pages.set(index, page);
          else this.deps.budget.release(PAGE_BYTES);
        }
        this.frozen = new Map();
        throw error;
      } finally {
        this.flushing = null;
      }
      if (this.pages.size * PAGE_BYTES >= EARLY_FLUSH_FILE_BYTES) this.startEarlyFlush();
    })();
    this.flushing = run;
    return run;
  }

  /** The live page at `index`, made from the frozen one, the base or zeros when missing. */
  private livePage(index: number, wholePageWillBeWritten: boolean): Buffer {
    let page = this.pages.get(index);
    if (page) return page;
    page = newPage();
    const frozen = this.frozen.get(index);
    if (frozen) page.set(frozen);
    else if (!wholePageWillBeWritten) {
      const start = index * PAGE_BYTES;
      const end = Math.min(start + PAGE_BYTES, this.size);
      if (end > start) this.read(start, end - start, page);
    }
    this.pages.set(index, page);
    this.deps.budget.add(PAGE_BYTES);
    return page;
  }

  private dropPage(map: Map<number, Buffer>, index: number): void {
    if (map.delete(index)) this.deps.budget.release(PAGE_BYTES);
  }

  /** Copies base bytes [at, end) (zeros past the base limit); returns where it stopped. */
  private readBase(at: number, end: number, out: Uint8Array, outOffset: number): number {
    if (at >= this.baseLimit) {
      out.fill(0, at - outOffset, end - outOffset);
      return end;
    }
    const { bytes, start: chunkStart } = this.base.chunkAt(at);
    const stop = Math.min(end, chunkStart + bytes.length, this.baseLimit);
    out.set(bytes.subarray(at - chunkStart, stop - chunkStart), at - outOffset);
    return stop;
  }
}
