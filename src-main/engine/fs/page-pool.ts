/**
 * Memory for dirty pages, carved out of a few large shared slabs.
 *
 * Why slabs: pages allocated one by one and left to the garbage collector let the engine's memory
 * grow far past the dirty cap under a steady write (measured: 1.7 GiB of anonymous memory writing
 * 4 GiB under a 256 MiB cap), and small allocations freed to glibc stay in its heap. A 64 MiB
 * slab is larger than glibc's largest mmap threshold (32 MiB), so it is its own mapping, returned
 * to the system whole when the pool drops it after an idle time.
 *
 * Slabs are SharedArrayBuffers: a chunk worker reads the pages being stored without a copy.
 */

interface Slab {
  sab: SharedArrayBuffer;
  /** Offsets of free pages. */
  free: number[];
}

export class PagePool {
  private readonly slabs: Slab[] = [];
  private readonly bySab = new Map<SharedArrayBuffer, Slab>();
  private readonly pagesPerSlab: number;

  constructor(
    readonly pageBytes: number,
    slabBytes: number,
  ) {
    this.pagesPerSlab = Math.max(1, Math.floor(slabBytes / pageBytes));
  }

  /** Bytes of slabs held, in use or free. */
  get allocatedBytes(): number {
    return this.slabs.length * this.pagesPerSlab * this.pageBytes;
  }

  /** A page; its bytes are not zeroed. */
  take(): Buffer {
    // The fullest slab with room first, so the others empty out and can be dropped.
    let slab: Slab | undefined;
    for (const s of this.slabs) if (s.free.length > 0 && (!slab || s.free.length < slab.free.length)) slab = s;
    if (!slab) slab = this.addSlab();
    return Buffer.from(slab.sab, slab.free.pop()!, this.pageBytes);
  }

  /** Returns a page; no one may use it afterwards (a chunk worker included). */
  give(page: Buffer): void {
    const slab = this.bySab.get(page.buffer as SharedArrayBuffer);
    if (slab) slab.free.push(page.byteOffset);
  }

  /** Drops the slabs none of whose pages is in use; returns how many. */
  trim(): number {
    let dropped = 0;
    for (let i = this.slabs.length - 1; i >= 0; i--) {
      const slab = this.slabs[i]!;
      if (slab.free.length !== this.pagesPerSlab) continue;
      this.slabs.splice(i, 1);
      this.bySab.delete(slab.sab);
      dropped++;
    }
    return dropped;
  }

  private addSlab(): Slab {
    const sab = new SharedArrayBuffer(this.pagesPerSlab * this.pageBytes);
    const free: number[] = [];
    for (let i = this.pagesPerSlab - 1; i >= 0; i--) free.push(i * this.pageBytes);
    const slab = { sab, free };
    this.slabs.push(slab);
    this.bySab.set(sab, slab);
    return slab;
  }
}
