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
import { ChunkReader, type ChunkSource } from '../chunking/chunk-reader.js';
import { CHUNK_MIN_BYTES } from '../../common/chunker.js';
import { FsError } from '../../common/errors.js';
import { isHole, type ChunkRef } from '../store/format.js';
import { copyBytes } from '../copy-bytes.js';
import { PAGE_BYTES, type DirtyBudget, type DirtyFile } from './dirty-budget.js';

/** A file whose live dirty pages pass this is stored early even under the engine's cap. */
const EARLY_FLUSH_FILE_BYTES = 64 * 1024 * 1024;
/**
 * A file no larger than the minimum chunk is one chunk, whatever its bytes: it is hashed on the
 * engine's thread and committed with its inode in one transaction, without a trip to a worker.
 * (Measured before: 642 small files/s, each close waiting on three commits in a row.)
 */
const SMALL_FILE_BYTES = CHUNK_MIN_BYTES;
/**
 * A read of stored bytes waits for this many chunks at most to hand them over as they lie in
 * the chunk cache; past that it copies them. A 1 MiB read spans 2–5 chunks, most of them
 * prefetched together.
 */
const MAX_LOADS_BEFORE_COPY = 4;

export interface StoredContent {
  manifestKey: Uint8Array | null;
  chunks: ChunkRef[];
  sizeBytes: number;
}

export interface ContentDeps {
  pool: ChunkPool;
  budget: DirtyBudget;
  /** Stored chunks, for reads (the store's cache: a chunk may have to be loaded first). */
  chunks: ChunkSource;
  /** Stores a manifest; resolves with its key once committed. */
  storeManifest(chunks: ChunkRef[]): Promise<Uint8Array>;
  /** Stores a small file's one chunk and its manifest with the inode's next commit; returns the keys. */
  queueSmallContent(bytes: Buffer): { chunkKey: Uint8Array; manifestKey: Uint8Array };
  /** Records stored content (chunks and manifest committed) in the inode; resolves once committed. */
  onStored(content: StoredContent): Promise<void>;
  /** A flush wrote new chunks: `bytes` of them, in these packs (the store syncs them). */
  onChunksStored(packs: readonly { packId: number; endBytes: number }[], bytes: number): void;
  /** Why the file's record cannot be written now (commits failing), or null. */
  storeBlocked(): Error | null;
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
  /** Changes up to this one are in stored chunks. */
  private storedSeq = 0;
  /** Changes up to this one are recorded: manifest and inode committed. */
  private recordedSeq = 0;
  private lastError: Error | null = null;
  /** Pages dropped while a chunk worker may still read them; back to the pool when it answers. */
  private retired: Buffer[] = [];

  constructor(
    readonly volumeName: string,
    private readonly showAs: () => string,
    stored: StoredContent,
    private readonly deps: ContentDeps,
  ) {
    this.base = this.readerOf(stored.chunks);
    this.baseLimit = this.base.sizeBytes;
    this.size = stored.sizeBytes;
    deps.budget.track(this);
  }

  get sizeBytes(): number {
    return this.size;
  }

  /** Where the file is (for display: a hard-linked file has several names). */
  get displayPath(): string {
    return this.showAs();
  }

  /** The stored chunks under the dirty pages: the manifest's, or an early flush's not in one yet (read-only: for the mark). */
  get storedChunks(): readonly ChunkRef[] {
    return this.base.chunks;
  }

  get dirtyBytes(): number {
    return (this.pages.size + this.frozen.size) * PAGE_BYTES;
  }

  get storableBytes(): number {
    return this.flushing ? 0 : this.pages.size * PAGE_BYTES;
  }

  /** Changes not yet recorded (a crash would lose them). */
  get isDirty(): boolean {
    return this.changeSeq !== this.recordedSeq;
  }

  /**
   * Reads up to `length` bytes at `offset` (none at the end) and hands them to `deliver` in the
   * same call they are ready in, as pieces valid only during it: stored bytes that are all in the
   * chunk cache are passed as they lie there (a piece per run of chunks read together), anything
   * else is copied into a new buffer first. A promise when a stored chunk has to be read from the
   * disk first.
   */
  read(offset: number, length: number, deliver: (pieces: Uint8Array[]) => void, loads = 0): void | Promise<void> {
    const end = Math.min(offset + length, this.size);
    if (end <= offset) return deliver([]);
    // Only a file without dirty pages: its bytes are all in the base.
    if (end <= this.baseLimit && this.pages.size === 0 && this.frozen.size === 0) {
      const pieces = this.base.pieces(offset, end);
      if (Array.isArray(pieces)) return deliver(pieces);
      // A chunk to wait for (most often one prefetched and still on its way). The wait is
      // bounded: other readers' loads may reuse the slots of chunks already in, and the copy
      // below needs only one chunk in memory at a time.
      if (pieces && loads < MAX_LOADS_BEFORE_COPY) {
        return this.base.load(pieces, () => this.read(offset, length, deliver, loads + 1));
      }
    }
    const out = Buffer.allocUnsafe(end - offset);
    const filling = this.fill(offset, end, out, offset);
    if (!filling) return deliver([out]);
    return filling.then(() => deliver([out]));
  }

  /** Copies `length` bytes at `offset` into `out`; a promise when the disk must be read first. */
  private readInto(offset: number, length: number, out: Uint8Array): void | Promise<void> {
    return this.fill(offset, Math.min(offset + length, this.size), out, offset);
  }

  /** Where data starts at or after `offset` (< size): a hole ends there, or the file does. */
  nextData(offset: number): number {
    for (let at = offset; at < this.size;) {
      const { hole, end } = this.extentAt(at);
      if (!hole) return at;
      at = end;
    }
    throw new FsError('ENXIO');
  }

  /** Where a hole starts at or after `offset` (< size); the end of the file counts as one. */
  nextHole(offset: number): number {
    for (let at = offset; at < this.size;) {
      const { hole, end } = this.extentAt(at);
      if (hole) return at;
      at = end;
    }
    return this.size;
  }

  /**
   * Whether the byte at `at` lies in a hole (zeros no chunk or page holds), and where that run
   * ends: a dirty page is data; past the base, up to the next page, is a hole; in the base, a
   * hole entry is, as far as it goes.
   */
  private extentAt(at: number): { hole: boolean; end: number } {
    const pageIndex = Math.floor(at / PAGE_BYTES);
    if (this.pages.has(pageIndex) || this.frozen.has(pageIndex))
      return { hole: false, end: (pageIndex + 1) * PAGE_BYTES };
    const nextPage = this.nextPageStart(pageIndex);
    if (at >= this.baseLimit) return { hole: true, end: Math.min(nextPage, this.size) };
    const { ref, start } = this.base.refAt(at);
    const end = Math.min(start + ref.sizeBytes, this.baseLimit, nextPage, this.size);
    return { hole: isHole(ref), end };
  }

  /** Where the first dirty page after page `index` starts (Infinity when none). */
  private nextPageStart(index: number): number {
    let next = Infinity;
    for (const map of [this.pages, this.frozen]) for (const i of map.keys()) if (i > index && i < next) next = i;
    return next * PAGE_BYTES;
  }

  /**
   * Copies the file's bytes [at, end) into `out` (at `at - outOffset`). When a stored chunk must
   * be read from the disk first, goes on from there once it is in: each load adds to what was
   * copied, so a read across several chunks never needs them all in memory at once.
   */
  private fill(at: number, end: number, out: Uint8Array, outOffset: number): void | Promise<void> {
    const stop = this.copyOut(at, end, out, outOffset);
    if (stop) return this.base.load(stop.ref, () => this.fill(stop.at, end, out, outOffset));
  }

  /**
   * Copies `data` into dirty pages at `offset`. A promise when a page must first be filled with
   * stored bytes that have to be read from the disk. (The kernel sends one write or truncation of
   * a file at a time.) `data` is read during the call only: a write that waits keeps a copy.
   */
  write(offset: number, data: Uint8Array): void | Promise<void> {
    return this.writeFrom(offset, offset, data);
  }

  /** Writes `data` (meant for `offset`) from `at` on. */
  private writeFrom(at: number, offset: number, data: Uint8Array): void | Promise<void> {
    const end = offset + data.length;
    while (at < end) {
      const pageIndex = Math.floor(at / PAGE_BYTES);
      const pageStart = pageIndex * PAGE_BYTES;
      const pieceEnd = Math.min(end, pageStart + PAGE_BYTES);
      const page = this.livePage(pageIndex, at === pageStart && pieceEnd === pageStart + PAGE_BYTES);
      if (page instanceof Promise) {
        const kept = data.slice();
        return page.then(() => this.writeFrom(at, offset, kept));
      }
      copyBytes(page, at - pageStart, data.subarray(at - offset, pieceEnd - offset));
      // The size covers each piece as it lands: taking the next page may start a flush of this
      // file (the dirty cap), which stores its pages up to the size it sees and then drops them.
      // (Grown once at the end, a flush begun mid-write dropped the pages written so far.)
      if (pieceEnd > this.size) this.grow(offset, pieceEnd);
      at = pieceEnd;
    }
    this.changeSeq++;
    if (this.pages.size * PAGE_BYTES >= EARLY_FLUSH_FILE_BYTES) this.startEarlyFlush();
  }

  /**
   * Copies the file's bytes [at, end) into `out` (at `at - outOffset`): pages, then stored chunks,
   * zeros past the base and in holes. Stops at a stored chunk that is not in memory: returns it
   * and the offset it is needed from.
   */
  private copyOut(at: number, end: number, out: Uint8Array, outOffset: number): { at: number; ref: ChunkRef } | null {
    while (at < end) {
      const pageIndex = Math.floor(at / PAGE_BYTES);
      const pageStart = pageIndex * PAGE_BYTES;
      const pieceEnd = Math.min(end, pageStart + PAGE_BYTES);
      const page = this.pages.get(pageIndex) ?? this.frozen.get(pageIndex);
      if (page) {
        copyBytes(out, at - outOffset, page.subarray(at - pageStart, pieceEnd - pageStart));
        at = pieceEnd;
      } else if (at >= this.baseLimit) {
        out.fill(0, at - outOffset, pieceEnd - outOffset);
        at = pieceEnd;
      } else {
        const { bytes, start: chunkStart, ref } = this.base.chunkAt(at);
        const stop = Math.min(pieceEnd, chunkStart + ref.sizeBytes, this.baseLimit);
        if (isHole(ref)) out.fill(0, at - outOffset, stop - outOffset);
        else if (!bytes) return { at, ref };
        else copyBytes(out, at - outOffset, bytes.subarray(at - chunkStart, stop - chunkStart));
        at = stop;
      }
    }
    return null;
  }

  truncate(sizeBytes: number): void {
    if (sizeBytes < this.size) {
      // Pages past the new end go; the page holding it keeps only bytes before it.
      const lastIndex = Math.floor(sizeBytes / PAGE_BYTES);
      const tail = sizeBytes - lastIndex * PAGE_BYTES;
      for (const map of [this.pages, this.frozen]) {
        for (const index of [...map.keys()]) {
          if (index > lastIndex || (index === lastIndex && tail === 0)) this.dropPage(map, index, map !== this.frozen);
        }
      }
      // The bytes past the new end left in its page are zeroed if the file grows over them again.
      this.baseLimit = Math.min(this.baseLimit, sizeBytes);
      if (this.flushing) this.lowestSizeDuringFlush = Math.min(this.lowestSizeDuringFlush, sizeBytes);
      this.size = sizeBytes;
    } else {
      this.grow(sizeBytes, sizeBytes);
    }
    this.changeSeq++;
  }

  /**
   * The file grows to `end`, its bytes from the old end to `gapEnd` reading as zeros. Bytes of a
   * page past the end of the file are left as they were (a new page is not cleared: a small file
   * used 4 KiB of its 128 KiB page, and clearing the rest cost more than the copy); they are
   * zeroed here, when the file grows over them. Reads, flushes and `lseek` never look past the end.
   */
  private grow(gapEnd: number, end: number): void {
    const from = this.size;
    this.size = end;
    if (gapEnd <= from) return; // an append: no gap
    const first = Math.floor(from / PAGE_BYTES);
    const inGap = new Set(
      [...this.pages.keys(), ...this.frozen.keys()].filter((i) => i >= first && i * PAGE_BYTES < gapEnd),
    );
    for (const index of inGap) {
      const pageStart = index * PAGE_BYTES;
      // Never in a frozen page (a chunk worker may be reading it): made live from it, in memory.
      const page = this.livePage(index, false) as Buffer;
      page.fill(0, Math.max(from, pageStart) - pageStart, Math.min(gapEnd, pageStart + PAGE_BYTES) - pageStart);
    }
  }

  /**
   * Stores every change made before the call and records it (manifest and inode); resolves once
   * that is committed, so the file survives a crash of the engine.
   */
  async flush(): Promise<void> {
    const target = this.changeSeq;
    while (this.recordedSeq < target) {
      // While metadata cannot be written (a full disk), nothing more is queued for it: the data
      // stays in its pages, counted against the dirty cap, so memory stays bounded.
      const blocked = this.deps.storeBlocked();
      if (blocked) throw blocked;
      // A failed early flush keeps its error for flushOnce, which reports it to this caller.
      if (this.flushing) await this.flushing.catch(() => undefined);
      else if (this.storedSeq >= target) await this.track(this.record(this.storedSeq));
      else if (this.size <= SMALL_FILE_BYTES) await this.track(this.storeSmall());
      else await this.flushOnce(true);
    }
  }

  private async storeSmall(): Promise<void> {
    const seq = this.changeSeq;
    const sizeBytes = this.size;
    this.lowestSizeDuringFlush = Infinity;
    const bytes = Buffer.allocUnsafe(sizeBytes);
    await this.readInto(0, sizeBytes, bytes);
    let content: StoredContent = { manifestKey: null, chunks: [], sizeBytes: 0 };
    if (sizeBytes > 0) {
      const { chunkKey, manifestKey } = this.deps.queueSmallContent(bytes);
      content = { manifestKey, chunks: [{ key: chunkKey, sizeBytes }], sizeBytes };
    }
    await this.deps.onStored(content);
    // Pages written while the commit ran are newer than what was stored: they stay.
    if (this.changeSeq === seq) {
      for (const index of [...this.pages.keys()]) this.dropPage(this.pages, index, true);
    }
    this.base = this.readerOf(content.chunks);
    // Truncation while the commit ran invalidates the stored bytes past the lowest size.
    this.baseLimit = Math.min(sizeBytes, this.lowestSizeDuringFlush);
    this.storedSeq = Math.max(this.storedSeq, seq);
    this.recordedSeq = Math.max(this.recordedSeq, seq);
  }

  /**
   * Stores the dirty pages now to free their memory (the dirty cap). Only the chunks: the
   * manifest and the inode wait for close or fsync, which is all a crash promise needs.
   */
  startEarlyFlush(): void {
    if (this.flushing || this.pages.size === 0) return;
    this.flushOnce(false).catch((error: unknown) => {
      // Kept for the next flush: an fsync or close reports it to the program.
      this.lastError = error instanceof Error ? error : new Error(String(error));
    });
  }

  /** Forgets this file's pages (the file is gone); frees their memory from the budget. */
  discard(): void {
    for (const map of [this.pages, this.frozen]) {
      for (const index of [...map.keys()]) this.dropPage(map, index, map !== this.frozen);
    }
    this.deps.budget.untrack(this);
  }

  /** Stops accounting a clean file that is no longer open. */
  close(): void {
    if (!this.isDirty && !this.flushing) this.deps.budget.untrack(this);
  }

  private track(run: Promise<void>): Promise<void> {
    const tracked = run.finally(() => {
      if (this.flushing === tracked) this.flushing = null;
      this.deps.budget.flushEnded();
    });
    this.flushing = tracked;
    return tracked;
  }

  /** Records content stored by early flushes: its manifest and the inode. */
  private async record(seq: number): Promise<void> {
    const chunks = this.base.chunks as ChunkRef[];
    const manifestKey = chunks.length === 0 ? null : await this.deps.storeManifest(chunks);
    await this.deps.onStored({ manifestKey, chunks, sizeBytes: this.base.sizeBytes });
    this.recordedSeq = Math.max(this.recordedSeq, seq);
  }

  private flushOnce(record: boolean): Promise<void> {
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
          storeManifest: record,
        });
        this.deps.onChunksStored(reply.packs, reply.newChunkBytes);
        if (record) {
          await this.deps.onStored({ manifestKey: reply.manifestKey, chunks: reply.chunks, sizeBytes: sizeAtStart });
          this.recordedSeq = seq;
        }
        this.base = this.readerOf(reply.chunks);
        // Truncation while the flush ran invalidates the stored bytes past the lowest size.
        this.baseLimit = Math.min(this.base.sizeBytes, this.lowestSizeDuringFlush);
        // The worker has answered: it reads these pages no more.
        for (const index of [...this.frozen.keys()]) this.dropPage(this.frozen, index, true);
        this.storedSeq = seq;
        this.deps.budget.storeSucceeded();
      } catch (error) {
        this.deps.budget.storeFailed(error instanceof Error ? error : new Error(String(error)));
        // Nothing was lost: the frozen pages become live again, under any written since.
        for (const [index, page] of this.frozen) {
          if (!this.pages.has(index)) this.pages.set(index, page);
          else this.deps.budget.givePage(page);
        }
        this.frozen = new Map();
        throw error;
      } finally {
        // The worker has answered (or failed): pages dropped meanwhile can be reused.
        for (const page of this.retired) this.deps.budget.reclaimPage(page);
        this.retired = [];
      }
    })();
    return this.track(run).then(() => {
      if (this.pages.size * PAGE_BYTES >= EARLY_FLUSH_FILE_BYTES) this.startEarlyFlush();
    });
  }

  private readerOf(chunks: readonly ChunkRef[]): ChunkReader {
    return new ChunkReader(chunks, this.deps.chunks);
  }

  /**
   * The live page at `index`, made from the frozen one, the base or zeros when missing; a promise
   * when stored bytes for it must be read from the disk first (the page is filled as they come).
   */
  private livePage(index: number, wholePageWillBeWritten: boolean): Buffer | Promise<Buffer> {
    const live = this.pages.get(index);
    if (live) return live;
    const page = this.deps.budget.takePage();
    const frozen = this.frozen.get(index);
    const install = () => {
      // Nothing else makes this page while it fills (the kernel sends one write of a file at a
      // time), but a page made meanwhile would hold newer bytes: keep that one.
      const made = this.pages.get(index);
      if (made) {
        this.deps.budget.givePage(page);
        return made;
      }
      this.pages.set(index, page);
      return page;
    };
    if (frozen) copyBytes(page, 0, frozen);
    if (frozen || wholePageWillBeWritten) return install();
    // Bytes before the end of the file come from the file; the rest is cleared if the file grows
    // over it (see grow).
    const start = index * PAGE_BYTES;
    const end = Math.max(start, Math.min(start + PAGE_BYTES, this.size));
    const filling = this.fill(start, end, page, start);
    if (!filling) return install();
    return filling.then(install, (error: unknown) => {
      this.deps.budget.givePage(page);
      throw error;
    });
  }

  private dropPage(map: Map<number, Buffer>, index: number, reusable: boolean): void {
    const page = map.get(index);
    if (!page || !map.delete(index)) return;
    if (reusable) {
      this.deps.budget.givePage(page);
    } else {
      this.deps.budget.retirePage();
      this.retired.push(page);
    }
  }
}
