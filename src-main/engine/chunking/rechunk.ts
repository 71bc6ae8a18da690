/**
 * Rechunking: turns a file's stored content plus its dirty pages into the new list of chunks,
 * cutting again only around what changed.
 *
 * Terms:
 * - base: the file's stored chunks (its manifest) when the flush began.
 * - base limit: bytes of the base still valid; bytes at or past it were truncated away and read
 *   as zeros unless a page covers them.
 * - page: a fixed-size window of dirty bytes that overlays the base.
 * - resync: a new cut that falls on an old chunk boundary past the changed bytes; from there the
 *   old chunks are reused as they are, because cuts depend only on the bytes since the last cut.
 *
 * The logic is plain code over two callbacks (read an old chunk, store a new one), so it runs in a
 * worker thread against LMDB and in unit tests against a Map.
 */
import { CHUNK_MAX_BYTES, CutFinder } from '../../common/chunker.js';
import { ChunkReader, syncChunkSource } from './chunk-reader.js';
import { copyBytes } from '../copy-bytes.js';
import { hole, isHole, type ChunkRef } from '../store/format.js';

export interface RechunkInput {
  base: readonly ChunkRef[];
  baseLimitBytes: number;
  /** The file's size when the flush began; the new content is exactly this long. */
  sizeBytes: number;
  pageBytes: number;
  /** Dirty pages by index; a page covers [index * pageBytes, (index + 1) * pageBytes). */
  pages: ReadonlyMap<number, Uint8Array>;
}

export interface ChunkIo {
  /** The bytes of an old chunk (called in file order; caching the last one is enough). */
  readChunk(ref: ChunkRef): Uint8Array;
  /** Stores a new chunk; `bytes` are valid only during the call (copy what is kept). Returns its key. */
  storeChunk(bytes: Uint8Array): Uint8Array;
  /** Called after each new chunk; may wait (for stored chunks to be committed, to bound memory). */
  afterChunk?(): Promise<void> | undefined;
}

interface Range {
  start: number;
  end: number;
}

/** The new chunk list of the file. */
export async function rechunk(input: RechunkInput, io: ChunkIo): Promise<ChunkRef[]> {
  const { base, sizeBytes } = input;
  const stored = new ChunkReader(
    base,
    syncChunkSource((ref) => io.readChunk(ref)),
  );
  const baseStarts = stored.starts;
  const baseSize = stored.sizeBytes;
  const validBaseBytes = Math.min(input.baseLimitBytes, baseSize, sizeBytes);
  const changed = changedRanges(input, baseSize, validBaseBytes);
  const reader = new ContentReader(input, stored, validBaseBytes);

  const out: ChunkRef[] = [];
  let pos = 0; // bytes before pos are emitted; pos is always on an old boundary or at the end
  let k = 0; // index of the old chunk that starts at pos (when pos < validBaseBytes)
  let r = 0;
  while (r < changed.length) {
    const range = changed[r]!;
    if (range.end <= pos) {
      r++;
      continue;
    }
    // Old chunks wholly before the change are reused as they are.
    while (k < base.length && stored.endOf(k) <= range.start) {
      out.push(base[k]!);
      pos = stored.endOf(k);
      k++;
    }
    // Cut again from pos until a cut lands on an old boundary past every change it overlapped.
    const finder = new CutFinder(copyBytes);
    let chunkStart = pos;
    let changeEnd = range.end;
    let resynced = false;
    /** After a cut at pos: takes in changes that begin by it; true when it is a resync point. */
    const resyncsAt = (): boolean => {
      while (r + 1 < changed.length && changed[r + 1]!.start <= pos) {
        changeEnd = Math.max(changeEnd, changed[++r]!.end);
      }
      if (pos < changeEnd || pos > validBaseBytes) return false;
      while (k < base.length && baseStarts[k]! < pos) k++;
      return k < base.length && baseStarts[k] === pos;
    };
    while (pos < sizeBytes && !resynced) {
      const zeros = finder.pendingBytes === 0 ? reader.zerosAt(pos) : 0;
      if (zeros >= CHUNK_MAX_BYTES) {
        // A hole (or a file grown by truncate): zeros never cut before the maximum size (the
        // chunker's unit tests check it), so the chunks a scan would cut here are all-zero chunks
        // of maximum size. One hole entry stands for them all, however many: nothing is scanned,
        // hashed or stored, and the cuts stay where a scan would put them.
        const holeBytes = Math.floor(zeros / CHUNK_MAX_BYTES) * CHUNK_MAX_BYTES;
        out.push(hole(holeBytes));
        pos += holeBytes;
        chunkStart = pos;
        resynced = resyncsAt();
        continue;
      }
      // Each read starts at pos, and so at each new chunk's first byte: a run of zeros that begins
      // inside a piece takes the hole path above instead of being scanned to its end.
      const piece = reader.read(pos);
      const cut = finder.next(piece, 0, piece.length);
      if (cut === -1) {
        pos += piece.length;
        continue;
      }
      pos += cut;
      // The finder gathered the chunk's bytes whole: they are stored from there.
      out.push(emit(finder.chunk(), io));
      chunkStart = pos;
      await io.afterChunk?.();
      resynced = resyncsAt();
    }
    if (!resynced) {
      if (pos - chunkStart > 0) out.push(emit(finder.pending(), io));
      return out; // streamed to the end of the file
    }
    r++;
  }
  // No change after pos: the remaining old chunks are valid as they are (changedRanges makes sure
  // a truncated tail is a change).
  while (k < base.length && stored.endOf(k) <= sizeBytes) {
    out.push(base[k]!);
    k++;
  }
  return out;
}

function emit(bytes: Uint8Array, io: ChunkIo): ChunkRef {
  return { key: io.storeChunk(bytes), sizeBytes: bytes.length };
}

/** Sorted, merged ranges of bytes that differ from the base. */
function changedRanges(input: RechunkInput, baseSize: number, validBaseBytes: number): Range[] {
  const { sizeBytes, pageBytes } = input;
  const ranges: Range[] = [];
  const indexes = [...input.pages.keys()].sort((a, b) => a - b);
  for (const index of indexes) {
    const start = index * pageBytes;
    if (start >= sizeBytes) continue;
    ranges.push({ start, end: Math.min(start + pageBytes, sizeBytes) });
  }
  // Bytes past the valid base (truncated, then grown again, or appended) are new. The chunk that
  // ends at the valid base is cut again too: its end was forced by the end of the file, not by
  // content, and cutting it again keeps the chunks of a file written in several flushes the same
  // as those of the file written at once (so a second copy deduplicates).
  if (validBaseBytes < sizeBytes) ranges.push({ start: Math.max(0, validBaseBytes - 1), end: sizeBytes });
  // A file cut short inside an old chunk: that chunk's surviving part must be cut again.
  if (sizeBytes < baseSize && sizeBytes > 0) ranges.push({ start: sizeBytes - 1, end: sizeBytes });
  ranges.sort((a, b) => a.start - b.start);
  const merged: Range[] = [];
  for (const range of ranges) {
    const last = merged[merged.length - 1];
    if (last && range.start <= last.end) last.end = Math.max(last.end, range.end);
    else merged.push({ ...range });
  }
  return merged;
}

/** Reads the file's new content: pages over the valid base, zeros elsewhere. */
class ContentReader {
  private zeros: Uint8Array;
  private readonly pageIndexes: number[];

  constructor(
    private readonly input: RechunkInput,
    private readonly stored: ChunkReader,
    private readonly validBaseBytes: number,
  ) {
    this.zeros = new Uint8Array(input.pageBytes);
    this.pageIndexes = [...input.pages.keys()].sort((a, b) => a - b);
  }

  /**
   * How many bytes from `offset` are known to be zeros without reading: holes of the valid base
   * and what lies past it, up to the next dirty page.
   */
  zerosAt(offset: number): number {
    const { pageBytes, sizeBytes } = this.input;
    const pageIndex = Math.floor(offset / pageBytes);
    if (this.input.pages.has(pageIndex)) return 0;
    // The first dirty page after this one ends the run.
    let lo = 0;
    let hi = this.pageIndexes.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.pageIndexes[mid]! <= pageIndex) lo = mid + 1;
      else hi = mid;
    }
    const runEnd = Math.min(lo < this.pageIndexes.length ? this.pageIndexes[lo]! * pageBytes : sizeBytes, sizeBytes);
    let at = offset;
    while (at < this.validBaseBytes && at < runEnd) {
      const { ref, start } = this.stored.refAt(at);
      if (!isHole(ref)) return at - offset;
      at = start + ref.sizeBytes;
    }
    return Math.max(0, runEnd - offset);
  }

  /** A run of bytes starting at `offset` (never empty before the end of the file). */
  read(offset: number): Uint8Array {
    const { pageBytes, sizeBytes } = this.input;
    const pageIndex = Math.floor(offset / pageBytes);
    const pageStart = pageIndex * pageBytes;
    const pageEnd = Math.min(pageStart + pageBytes, sizeBytes);
    const page = this.input.pages.get(pageIndex);
    if (page) return page.subarray(offset - pageStart, pageEnd - pageStart);
    if (offset >= this.validBaseBytes) return this.zeros.subarray(0, pageEnd - offset);
    const { bytes, start, ref } = this.stored.chunkAt(offset);
    const end = Math.min(start + ref.sizeBytes, pageEnd, this.validBaseBytes);
    if (isHole(ref)) return this.zeros.subarray(0, end - offset);
    if (!bytes) throw new Error(`chunk ${Buffer.from(ref.key).toString('hex')} could not be read`);
    return bytes.subarray(offset - start, end - start);
  }
}
