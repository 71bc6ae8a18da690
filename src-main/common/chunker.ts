/**
 * Content-defined chunking (FastCDC-style gear hash with normalised chunking).
 *
 * Terms: a *cut* is the end offset of a chunk. Cuts depend only on the bytes since the previous
 * cut, so an edit inside a large file moves only the cuts near it, and identical runs of bytes
 * cut identically wherever they appear (across files and volumes).
 *
 * The gear table, masks and sizes are part of the on-disk format: changing them changes every
 * chunk key written from then on (old data stays readable, but deduplication against it stops).
 *
 * Pure code: runs anywhere (engine, worker threads, tests).
 */

export const CHUNK_MIN_BYTES = 64 * 1024;
export const CHUNK_AVG_BYTES = 256 * 1024;
export const CHUNK_MAX_BYTES = 1024 * 1024;

// Normalised chunking (FastCDC level 2): a stricter mask before the average size, a looser one
// after it, so chunk sizes cluster around the average. The hash is 32-bit and shifts left, so
// its high bits depend on the most bytes: the masks select high bits.
const MASK_STRICT = 0xfffff000 | 0; // 20 bits
const MASK_LOOSE = 0xffff0000 | 0; // 16 bits
// A 32-bit hash that shifts left one bit per byte depends on the last 32 bytes only, so hashing
// may start this many bytes before the first allowed cut and give the same cuts.
const HASH_WINDOW_BYTES = 32;

/** 256 pseudo-random 32-bit values from a fixed xorshift seed (format constant). */
export const GEAR: Int32Array = (() => {
  const table = new Int32Array(256);
  let x = 0x9e3779b9 | 0;
  for (let i = 0; i < 256; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    table[i] = x;
  }
  return table;
})();

/**
 * Finds cuts in a stream fed piece by piece. State carries across calls, so the pieces may be
 * any size; the cuts are the same as for the whole stream at once.
 */
export class CutFinder {
  /** Bytes of the current (unfinished) chunk consumed so far. */
  private chunkBytes = 0;
  private hash = 0;

  /**
   * Consumes `data[from, to)` up to the next cut. Returns the offset in `data` just after the cut,
   * or -1 when the whole range was consumed without one (the chunk continues).
   */
  next(data: Uint8Array, from: number, to: number): number {
    // The loops advance `i` only; `n` (bytes of this chunk) is derived from it: n = i - base.
    const base = from - this.chunkBytes;
    let i = from;
    let h = this.hash;
    const gear = GEAR;
    // Bytes before the hash window of the minimum size are skipped: no cut can fall there.
    const hashFrom = base + CHUNK_MIN_BYTES - HASH_WINDOW_BYTES;
    if (i < hashFrom) {
      i = Math.min(hashFrom, to);
      h = 0;
    }
    const minEnd = Math.min(to, base + CHUNK_MIN_BYTES);
    for (; i < minEnd; i++) h = ((h << 1) + gear[data[i]!]!) | 0;
    // First check at exactly the minimum size (a chunk may end there), once.
    if (i === base + CHUNK_MIN_BYTES && from < i && (h & MASK_STRICT) === 0) return this.cut(i);
    const strictEnd = Math.min(to, base + CHUNK_AVG_BYTES);
    for (; i < strictEnd;) {
      h = ((h << 1) + gear[data[i++]!]!) | 0;
      if ((h & MASK_STRICT) === 0) return this.cut(i);
    }
    const looseEnd = Math.min(to, base + CHUNK_MAX_BYTES);
    for (; i < looseEnd;) {
      h = ((h << 1) + gear[data[i++]!]!) | 0;
      if ((h & MASK_LOOSE) === 0) return this.cut(i);
    }
    if (i - base >= CHUNK_MAX_BYTES) return this.cut(i);
    this.chunkBytes = i - base;
    this.hash = h;
    return -1;
  }

  /** Bytes consumed into the chunk that has not been cut yet. */
  get pendingBytes(): number {
    return this.chunkBytes;
  }

  reset(): void {
    this.chunkBytes = 0;
    this.hash = 0;
  }

  private cut(at: number): number {
    this.reset();
    return at;
  }
}

/** Every cut of a whole buffer, the last one at `data.length`. */
export function cutAll(data: Uint8Array): number[] {
  const cuts: number[] = [];
  const finder = new CutFinder();
  let from = 0;
  while (from < data.length) {
    const cut = finder.next(data, from, data.length);
    if (cut === -1) break;
    cuts.push(cut);
    from = cut;
  }
  if (cuts.length === 0 || cuts[cuts.length - 1] !== data.length) {
    if (data.length > 0) cuts.push(data.length);
  }
  return cuts;
}
