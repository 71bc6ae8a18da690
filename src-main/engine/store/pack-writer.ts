/**
 * Appends chunks to a pack file: one writer per chunk worker thread, each with a pack of its own.
 *
 * Chunks are copied into aligned stage buffers (STAGE_BYTES each) that are written whole, with
 * direct I/O, while the next ones fill; `seal` writes the last, partial buffer padded to a block
 * and waits for every write. Only then may the caller record the chunks' locations: an index entry
 * never names bytes that are not in the file. The next chunk after a seal starts on a fresh block,
 * so a block that holds recorded chunks is never written again (a torn rewrite could damage them).
 *
 * Terms: see format.ts (pack, pack location).
 */
import { join } from 'node:path';
import { PACK_HEADER_BYTES, packFileName, writePackHeader, type PackLocation } from './format.js';
import { PackFile, alignUp, alignedBuffer } from './pack-file.js';
import { copyBytes } from '../copy-bytes.js';

/** Bytes per stage buffer: one direct write. */
const STAGE_BYTES = 4 * 1024 * 1024;
/** Stage buffers kept; a writer waits (roomForNext) rather than allocate more. */
const STAGE_COUNT = 3;
/**
 * A pack past this size is finished at the next seal and a new one started. Packs are the unit
 * that garbage collection will compact, so they are kept to a size that is quick to rewrite.
 */
export const PACK_TARGET_BYTES = 256 * 1024 * 1024;

export interface PackWriterDeps {
  /** The folder of the pack files. */
  packsDir: string;
  /** A pack id never handed out before (the file may still exist after a crash: then ask again). */
  newPackId(): number;
  /** Called with a new pack's id before any chunk is appended to it. */
  onPackStarted(packId: number): void;
  /** Records that a finished pack's first `syncedBytes` are on the disk. */
  recordSynced(packId: number, syncedBytes: number): Promise<void>;
}

interface Stage {
  buffer: Buffer;
  /** The write of this buffer, while it runs. */
  writing: Promise<void> | null;
}

export interface SealResult {
  packId: number;
  /** The pack's length: every byte before it is written. */
  endBytes: number;
}

export class PackWriter {
  private pack: PackFile | null = null;
  private packId = 0;
  private readonly stages: Stage[] = [];
  private current: Stage | null = null;
  /** Pack offset of the current stage buffer's first byte (a block boundary). */
  private currentStart = 0;
  /** Bytes in the current stage buffer. */
  private fill = 0;
  private readonly writes = new Set<Promise<void>>();
  private failure: Error | null = null;

  constructor(private readonly deps: PackWriterDeps) {}

  /** Copies a chunk's bytes (given in parts) into the pack; returns where they will be. */
  append(parts: readonly Uint8Array[], sizeBytes: number): PackLocation {
    if (this.failure) throw this.failure;
    if (!this.pack) this.startPack();
    const location = { packId: this.packId, offset: this.currentStart + this.fill, sizeBytes };
    for (const part of parts) {
      let from = 0;
      while (from < part.length) {
        const stage = (this.current ??= this.takeStage());
        const n = Math.min(part.length - from, STAGE_BYTES - this.fill);
        copyBytes(stage.buffer, this.fill, part.subarray(from, from + n));
        this.fill += n;
        from += n;
        if (this.fill === STAGE_BYTES) this.submit(STAGE_BYTES);
      }
    }
    return location;
  }

  /**
   * Undefined when a free stage buffer is at hand; otherwise resolves when a write frees one.
   * Awaited between chunks, it bounds the writer's memory to STAGE_COUNT buffers.
   */
  roomForNext(): Promise<void> | undefined {
    if (this.stages.length < STAGE_COUNT || this.stages.some((s) => !s.writing && s !== this.current)) {
      return undefined;
    }
    return Promise.race(this.stages.map((s) => s.writing).filter((w) => w !== null)).then(
      () => undefined,
      () => undefined,
    );
  }

  /**
   * Writes every appended byte and waits for the writes: after it, the locations `append` returned
   * can be recorded. Null when nothing was ever appended. A failed write fails the seal; the pack is
   * then given up (its unrecorded bytes are garbage) and the next append starts a new one.
   */
  async seal(): Promise<SealResult | null> {
    if (!this.pack) return null;
    if (this.current && this.fill > 0) this.submit(alignUp(this.fill));
    await Promise.all([...this.writes].map((w) => w.catch(() => undefined)));
    if (this.failure) {
      const failure = this.failure;
      await this.dropPack();
      throw failure;
    }
    const result = { packId: this.packId, endBytes: this.currentStart };
    if (this.currentStart >= PACK_TARGET_BYTES) await this.finishPack();
    return result;
  }

  /** Finishes the pack (synced, recorded) and closes it; call after the last seal. */
  async close(): Promise<void> {
    if (this.pack) await this.finishPack();
  }

  private startPack(): void {
    for (;;) {
      const packId = this.deps.newPackId();
      try {
        this.pack = PackFile.create(join(this.deps.packsDir, packFileName(packId)));
      } catch (error) {
        // Left by a crash that lost the id counter's last commit: take the next id.
        if ((error as NodeJS.ErrnoException).code === 'EEXIST') continue;
        throw error;
      }
      this.packId = packId;
      break;
    }
    this.deps.onPackStarted(this.packId);
    this.current = this.takeStage();
    writePackHeader(this.packId, this.current.buffer);
    this.currentStart = 0;
    this.fill = PACK_HEADER_BYTES;
  }

  /** Writes the current stage buffer's first `length` bytes (a block multiple; padding zeroed). */
  private submit(length: number): void {
    const stage = this.current!;
    const pack = this.pack!;
    if (length > this.fill) stage.buffer.fill(0, this.fill, length);
    const write = pack.write(stage.buffer, 0, length, this.currentStart).then(
      () => undefined,
      (error: unknown) => {
        this.failure ??= error instanceof Error ? error : new Error(String(error));
      },
    );
    const tracked = write.finally(() => {
      stage.writing = null;
      this.writes.delete(tracked);
    });
    stage.writing = tracked;
    this.writes.add(tracked);
    this.current = null;
    this.currentStart += length;
    this.fill = 0;
  }

  private takeStage(): Stage {
    const free = this.stages.find((s) => !s.writing);
    if (free) return free;
    // Only when a caller appends without waiting for roomForNext: never blocks, costs memory.
    const stage = { buffer: alignedBuffer(STAGE_BYTES), writing: null };
    this.stages.push(stage);
    return stage;
  }

  private async finishPack(): Promise<void> {
    // Writes still running (a job cut short by the engine stopping) end before the sync.
    await Promise.all([...this.writes].map((w) => w.catch(() => undefined)));
    const pack = this.pack!;
    const packId = this.packId;
    const endBytes = this.currentStart;
    this.pack = null;
    this.current = null;
    await pack.datasync();
    await pack.close();
    await this.deps.recordSynced(packId, endBytes);
  }

  private async dropPack(): Promise<void> {
    const pack = this.pack;
    this.pack = null;
    this.current = null;
    this.fill = 0;
    this.failure = null;
    await pack?.close();
  }
}
