/**
 * Reads a file's stored content by offset: where each chunk of its manifest starts, which chunk
 * holds an offset, and that chunk's bytes (the last one read is kept, as reads go in order).
 */
import type { ChunkRef } from '../store/format.js';

/** How far ahead a forward read brings chunks into memory (~2 MiB at the average chunk size). */
const PREFETCH_CHUNKS = 8;

/**
 * A buffer that several readers take turns to read chunks into, so a read does not allocate (and
 * fault in) fresh memory for every chunk. The last reader to use it owns what it holds.
 */
export interface ReadScratch {
  buffer: Buffer;
  owner: ChunkReader | null;
}

/** Reads a chunk's bytes; with `into`, it may copy them there and return a view of it. */
export type ReadChunk = (ref: ChunkRef, into?: Buffer) => Uint8Array;

export interface ChunkReaderOptions {
  /**
   * Asked to bring the next chunks into memory in the background as a read moves forward, so a
   * sequential read of cold data does not wait on the disk chunk by chunk on the thread that
   * serves the mount.
   */
  prefetch?: (refs: ChunkRef[]) => void;
  /** Only for readers whose callers copy the bytes out at once (never keep views of them). */
  scratch?: ReadScratch;
}

export class ChunkReader {
  /** Offset in the file where each chunk starts. */
  readonly starts: number[];
  readonly sizeBytes: number;
  private cachedIndex = -1;
  private cachedBytes: Uint8Array | null = null;
  private prefetchedTo = 0;

  constructor(
    readonly chunks: readonly ChunkRef[],
    private readonly readChunk: ReadChunk,
    private readonly options: ChunkReaderOptions = {},
  ) {
    this.starts = new Array(chunks.length);
    let at = 0;
    for (let i = 0; i < chunks.length; i++) {
      this.starts[i] = at;
      at += chunks[i]!.sizeBytes;
    }
    this.sizeBytes = at;
  }

  /** End offset of chunk `index`. */
  endOf(index: number): number {
    return this.starts[index]! + this.chunks[index]!.sizeBytes;
  }

  /** The chunk holding `offset` (< sizeBytes): its bytes and its start in the file. */
  chunkAt(offset: number): { bytes: Uint8Array; start: number } {
    const index = this.indexAt(offset);
    const { prefetch, scratch } = this.options;
    if (index !== this.cachedIndex || !this.cachedBytes || (scratch && scratch.owner !== this)) {
      if (prefetch && index + 1 >= this.prefetchedTo - PREFETCH_CHUNKS / 2) {
        const from = Math.max(index + 1, this.prefetchedTo);
        const to = Math.min(this.chunks.length, index + 1 + PREFETCH_CHUNKS);
        if (to > from) prefetch(this.chunks.slice(from, to) as ChunkRef[]);
        this.prefetchedTo = Math.max(this.prefetchedTo, to);
      }
      if (scratch) scratch.owner = this;
      this.cachedBytes = this.readChunk(this.chunks[index]!, scratch?.buffer);
      this.cachedIndex = index;
    }
    return { bytes: this.cachedBytes, start: this.starts[index]! };
  }

  private indexAt(offset: number): number {
    const cached = this.cachedIndex;
    if (cached >= 0 && offset >= this.starts[cached]! && offset < this.endOf(cached)) return cached;
    let lo = 0;
    let hi = this.starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.starts[mid]! <= offset) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }
}
