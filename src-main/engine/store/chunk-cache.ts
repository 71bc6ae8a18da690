/**
 * Chunks in memory for the mount's reads. Packed chunks are read from the packs with direct I/O on
 * libuv's threads, so the thread that serves FUSE never waits on the disk: a reader that finds a
 * chunk missing asks for it (`load`) and answers FUSE when it is in, and a reader moving forward
 * asks for the chunks ahead (`prefetch`). Chunks that lie one after another in a pack (a file
 * written in one go) are read together, up to a slot's size, so a sequential read makes a few
 * large disk reads rather than one per chunk.
 *
 * Chunks kept in LMDB (small files) are read at once, on the caller's thread.
 *
 * Bytes that `get` returns are valid until the next call into the cache: hand them over or copy
 * them out at once. A reader that needs several chunks never needs them in memory at once:
 * `load` calls it back while the chunk it asked for is certainly there (its slot is held for the
 * call), it copies what it needs and moves on, so every load adds to what it has, however many
 * other readers compete for the slots (before, a read across two chunks could evict the one to
 * load the other, for ever). Chunks prefetched and not read yet are kept for their reader, but
 * never at the cost of a read that is waiting, and prefetch leaves slots for such reads.
 */
import type { PackReads } from '../../common/api.js';
import { CHUNK_MAX_BYTES } from '../../common/chunker.js';
import { FsError } from '../../common/errors.js';
import { PACK_BLOCK_BYTES, asBuffer, type ChunkRef, type PackLocation } from './format.js';
import { alignDown, alignUp, alignedBuffer } from './pack-file.js';
import { type PackReaders, type StoreDbs, cutShortInPack, locateChunk, missingFromStore } from './store.js';

/** A slot holds one disk read: a run of chunks adjacent in a pack, aligned at both ends. */
const SLOT_BYTES = 2 * 1024 * 1024 + 2 * PACK_BLOCK_BYTES;
/** 24 slots: 48 MiB, a few files read at once with 8 MiB each ahead (ChunkReader's prefetch). */
const SLOT_COUNT = 24;
/** The slots' memory goes back to the system after this long without a read. */
const TRIM_AFTER_IDLE_MS = 10_000;
/** Prefetch never takes these last slots: a read waiting for a chunk always finds one to reuse. */
const SLOTS_KEPT_FOR_READS = 4;
/**
 * A prefetched chunk not read after this many later loads is taken as abandoned (a reader that
 * stopped, or random reads), so it stops holding its slot against other readers' prefetch.
 */
const UNREAD_KEPT_FOR_LOADS = 2 * SLOT_COUNT;

interface Slot {
  buffer: Buffer;
  /** The chunks (hex keys) this slot holds or is loading. */
  keys: string[];
  loading: Promise<void> | null;
  /** For choosing the least recently used slot. */
  lastUse: number;
  /** Prefetched and not read yet: reused only when no slot that was read is free. */
  unread: boolean;
  /** `loads` when this slot's load started. */
  loadedAt: number;
  /** Readers being called back with this slot's chunks (see `load`): it is not reused meanwhile. */
  holds: number;
}

interface Entry {
  slot: Slot;
  /** The chunk's bytes in the slot, once loaded. */
  bytes: Uint8Array | null;
}

/** Chunks to read in one go: adjacent in one pack. */
interface Run {
  packId: number;
  /** Aligned start and end of the read in the pack. */
  start: number;
  end: number;
  members: { hex: string; location: PackLocation }[];
}

export class ChunkCache {
  private readonly slots: Slot[] = [];
  /** The slots' memory, one piece. */
  private memory: Buffer | null = null;
  private readonly byKey = new Map<string, Entry>();
  private clock = 0;
  /** Loads started, for telling prefetched chunks still awaited from abandoned ones. */
  private loads = 0;
  private closed = false;
  /** A chunk kept in LMDB is copied here (its callers copy it out at once). */
  private inlineScratch: Buffer | null = null;
  private trimTimer: NodeJS.Timeout | null = null;
  /** `clock` when the trim timer last looked. */
  private clockAtLastLook = 0;
  /** Disk reads started and not ended (waiting for a thread of libuv's pool, or at the disk). */
  private readsUnderWay = 0;
  /** performance.now() when readsUnderWay last rose from 0. */
  private busySince = 0;
  private readonly done: PackReads = { count: 0, bytes: 0, busyMs: 0 };

  /** Called after the slots' memory was dropped (the engine then collects garbage). */
  onTrimmed: () => void = () => undefined;

  constructor(
    private readonly dbs: StoreDbs,
    private readonly readers: PackReaders,
    private readonly trimAfterIdleMs = TRIM_AFTER_IDLE_MS,
  ) {}

  /**
   * The chunk's bytes when they are in memory (chunks kept in LMDB always are), else null: then
   * `load` it. Throws when the store has no such chunk.
   */
  get(ref: ChunkRef): Uint8Array | null {
    if (this.closed) throw storeClosed();
    const entry = this.byKey.get(hexOf(ref));
    if (entry) {
      if (entry.bytes) {
        entry.slot.lastUse = ++this.clock;
        entry.slot.unread = false;
      }
      return entry.bytes;
    }
    const fast = this.dbs.chunks.getBinaryFast(asBuffer(ref.key));
    if (fast !== undefined) {
      // A view of LMDB's shared read buffer, valid only until its next read (and only its first
      // `length` bytes are the value, whatever its byteLength says): copied at once.
      const found = fast.subarray(0, fast.length);
      this.inlineScratch ??= Buffer.allocUnsafe(CHUNK_MAX_BYTES);
      if (found.length > this.inlineScratch.length) return Buffer.from(found);
      this.inlineScratch.set(found);
      return this.inlineScratch.subarray(0, found.length);
    }
    if (!this.dbs.packedChunks.doesExist(asBuffer(ref.key))) throw missingFromStore('chunk', ref.key);
    return null;
  }

  /** Whether bytes `get` returned lie in a slot: they stay valid until a later load reuses it. */
  stays(bytes: Uint8Array): boolean {
    return this.memory !== null && bytes.buffer === this.memory.buffer;
  }

  /**
   * Brings a chunk into memory, then calls `then` (when given): during that call `get` returns the
   * chunk, whatever other loads did while this one waited. Resolves with what `then` returns.
   * Without `then`, a later `get` finds the chunk unless other loads have reused its slot since.
   */
  load(ref: ChunkRef): Promise<void>;
  load<T>(ref: ChunkRef, then: () => T | Promise<T>): Promise<T>;
  load<T>(ref: ChunkRef, then?: () => T | Promise<T>): Promise<T | void> {
    if (this.closed) return Promise.reject(storeClosed());
    const entry = this.byKey.get(hexOf(ref));
    if (entry) return this.whenLoaded(entry.slot, then);
    const [run] = this.runsOf([ref]);
    // Kept in LMDB (or gone: `get` says which).
    if (!run) return Promise.resolve().then(then);
    const slot = this.freeSlot();
    if (!slot) {
      // Every slot is loading or held: wait for a load, or a moment for a hold to end.
      const loads = this.slots.map((s) => s.loading).filter((l) => l !== null);
      const wait = loads.length > 0 ? Promise.race(loads) : new Promise((resolve) => setImmediate(resolve));
      const again = () => this.load(ref, then ?? (() => undefined));
      return wait.then(again, again);
    }
    void this.startLoad(slot, run, false).catch(() => undefined);
    return this.whenLoaded(slot, then);
  }

  /** Holds `slot` until its load is done and `then` has run, so nothing reuses it in between. */
  private whenLoaded<T>(slot: Slot, then?: () => T | Promise<T>): Promise<T | void> {
    slot.holds++;
    return (slot.loading ?? Promise.resolve()).then(
      () => {
        try {
          if (this.closed) throw storeClosed();
          return then?.();
        } finally {
          slot.holds--;
        }
      },
      (error: unknown) => {
        slot.holds--;
        throw error;
      },
    );
  }

  /**
   * Starts loading chunks a reader will want next (in file order), as far as free slots allow:
   * never in place of chunks prefetched and not read yet (this reader's or another's).
   */
  prefetch(refs: readonly ChunkRef[]): void {
    if (this.closed) return;
    for (const run of this.runsOf(refs.filter((ref) => !this.byKey.has(hexOf(ref))))) {
      if (this.slots.filter((slot) => this.isBusy(slot)).length >= SLOT_COUNT - SLOTS_KEPT_FOR_READS) return;
      const slot = this.freeSlot({ evictUnread: false });
      if (!slot) return;
      this.startLoad(slot, run, true).catch(() => undefined);
    }
  }

  /** Groups the packed chunks among `refs` into runs that one read each can bring in. */
  private runsOf(refs: readonly ChunkRef[]): Run[] {
    const runs: Run[] = [];
    let run: Run | null = null;
    const seen = new Set<string>();
    for (const ref of refs) {
      const hex = hexOf(ref);
      if (seen.has(hex)) continue;
      seen.add(hex);
      const found = locateChunk(this.dbs, ref.key);
      if (!found?.location) continue;
      const { location } = found;
      const start = alignDown(location.offset);
      const end = alignUp(location.offset + location.sizeBytes);
      if (
        run &&
        run.packId === location.packId &&
        start >= run.start &&
        start <= run.end &&
        end - run.start <= SLOT_BYTES
      ) {
        run.end = Math.max(run.end, end);
        run.members.push({ hex, location });
      } else {
        run = { packId: location.packId, start, end, members: [{ hex, location }] };
        runs.push(run);
      }
    }
    return runs;
  }

  private startLoad(slot: Slot, run: Run, unread: boolean): Promise<void> {
    const entries = run.members.map(({ hex }) => {
      const entry: Entry = { slot, bytes: null };
      this.byKey.set(hex, entry);
      return entry;
    });
    slot.keys = run.members.map(({ hex }) => hex);
    slot.lastUse = ++this.clock;
    slot.unread = unread;
    slot.loadedAt = ++this.loads;
    if (this.readsUnderWay++ === 0) this.busySince = performance.now();
    const loading = (async () => {
      let n: number;
      try {
        n = await this.readers.get(run.packId).read(slot.buffer, 0, run.end - run.start, run.start);
      } finally {
        if (--this.readsUnderWay === 0) this.done.busyMs += performance.now() - this.busySince;
      }
      this.done.count++;
      this.done.bytes += n;
      run.members.forEach(({ hex, location }, i) => {
        const from = location.offset - run.start;
        if (n < from + location.sizeBytes) throw cutShortInPack(hex, run.packId);
        entries[i]!.bytes = slot.buffer.subarray(from, from + location.sizeBytes);
      });
    })().then(
      () => {
        slot.loading = null;
      },
      (error: unknown) => {
        slot.loading = null;
        this.empty(slot);
        throw error;
      },
    );
    slot.loading = loading;
    return loading;
  }

  /** Forgets what a slot holds. */
  private empty(slot: Slot): void {
    for (const hex of slot.keys) if (this.byKey.get(hex)?.slot === slot) this.byKey.delete(hex);
    slot.keys = [];
  }

  /**
   * An empty slot, or the least recently used loaded one (emptied), preferring slots that were
   * read to prefetched ones, which a reader is coming to; null if all are loading or lent.
   */
  private freeSlot({ evictUnread = true } = {}): Slot | null {
    if (this.slots.length === 0) {
      this.startTrimTimer();
      const memory = alignedBuffer(SLOT_COUNT * SLOT_BYTES);
      this.memory = memory;
      for (let i = 0; i < SLOT_COUNT; i++) {
        this.slots.push({
          buffer: memory.subarray(i * SLOT_BYTES, (i + 1) * SLOT_BYTES),
          keys: [],
          loading: null,
          lastUse: 0,
          unread: false,
          loadedAt: 0,
          holds: 0,
        });
      }
    }
    let best: Slot | null = null;
    let bestAwaited = false;
    for (const slot of this.slots) {
      if (this.isBusy(slot)) continue;
      if (slot.keys.length === 0) return slot;
      const awaited = this.isAwaited(slot);
      if (!best || (awaited === bestAwaited ? slot.lastUse < best.lastUse : bestAwaited)) {
        best = slot;
        bestAwaited = awaited;
      }
    }
    if (!best || (bestAwaited && !evictUnread)) return null;
    this.empty(best);
    return best;
  }

  /** Whether a slot's memory is in use: being loaded, or held for a reader. */
  private isBusy(slot: Slot): boolean {
    return slot.loading !== null || slot.holds > 0;
  }

  /** Whether a slot holds prefetched chunks that their reader has not come to yet. */
  private isAwaited(slot: Slot): boolean {
    return slot.unread && this.loads - slot.loadedAt < UNREAD_KEPT_FOR_LOADS;
  }

  /** Drops the slots (and their memory) once reads have stopped for trimAfterIdleMs. */
  private startTrimTimer(): void {
    this.clockAtLastLook = this.clock;
    this.trimTimer = setInterval(() => {
      const quiet = this.clock === this.clockAtLastLook;
      this.clockAtLastLook = this.clock;
      if (!quiet) return;
      if (this.slots.some((slot) => this.isBusy(slot))) return;
      clearInterval(this.trimTimer!);
      this.trimTimer = null;
      this.slots.length = 0;
      this.memory = null;
      this.byKey.clear();
      this.inlineScratch = null;
      this.onTrimmed();
    }, this.trimAfterIdleMs);
    this.trimTimer.unref();
  }

  /**
   * The disk reads made for the mounts since the engine started: how many, their bytes, and how
   * long at least one was under way (queued for a thread or at the disk). A read that spends all
   * its time with reads under way waited on the disk; bytes / busyMs is the pace the disk gave.
   */
  packReads(): PackReads {
    const busyMs = this.done.busyMs + (this.readsUnderWay > 0 ? performance.now() - this.busySince : 0);
    return { ...this.done, busyMs };
  }

  /** Stops the trim timer; from now on every call fails (the store is closing). */
  close(): void {
    this.closed = true;
    if (this.trimTimer) clearInterval(this.trimTimer);
    this.trimTimer = null;
  }
}

/** What a read gets once the store is closed (the engine stopped under a detached mount). */
function storeClosed(): Error {
  return new FsError('EIO', 'the store is closed');
}

function hexOf(ref: ChunkRef): string {
  return asBuffer(ref.key).toString('hex');
}
