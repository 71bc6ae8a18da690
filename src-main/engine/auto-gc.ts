/**
 * Automatic garbage collection: the space of deleted files and snapshots (a schedule's pruned ones
 * too) comes back without anyone asking. Every interval (an hour unless `bazil daemon
 * --auto-gc-every` says otherwise), the store's space is scanned as `bazil stats` does, and when
 * enough of it is reclaimable (`worthCollecting`), a collection runs as `bazil gc` would: through
 * the dispatcher, so the window shows it as a job like one asked for. Volumes stay mounted and in
 * use meanwhile, as with `bazil gc`.
 *
 * A check does nothing while programs hold dirty data (they are writing: the next check will do)
 * unless the disk runs low, and a collection already running (asked for) is left to finish. While
 * the disk runs low, the checks come every LOW_DISK_EVERY_MS at least.
 */
import { statfsSync } from 'node:fs';
import type { GcResult, StatsResult } from '../common/api.js';
import { formatBytes } from '../common/units.js';
import type { Dispatcher } from './transports/dispatcher.js';

export const AUTO_GC_EVERY_MS = 60 * 60_000;
/** Less garbage than this is not worth rewriting packs for (unless the disk runs low). */
export const AUTO_GC_MIN_BYTES = 64 * 1024 * 1024;
/** Nor less than this share of the store: a large store is not rewritten for a small part of it. */
export const AUTO_GC_MIN_SHARE = 0.05;
/** The disk runs low below this share free: then any garbage is worth collecting. */
export const LOW_DISK_SHARE = 0.1;
/**
 * How often the checks come while the disk runs low (when the interval is longer): someone who
 * deletes files to make room gets it within minutes, for a scan of the index each time.
 */
export const LOW_DISK_EVERY_MS = 5 * 60_000;

/** Whether a collection is worth running, from a scan's figures and the store's disk. */
export function worthCollecting(
  reclaimableBytes: number,
  storeBytes: number,
  disk: { freeBytes: number; sizeBytes: number },
): boolean {
  if (reclaimableBytes <= 0) return false;
  if (diskRunsLow(disk)) return true;
  return reclaimableBytes >= Math.max(AUTO_GC_MIN_BYTES, AUTO_GC_MIN_SHARE * storeBytes);
}

export function diskRunsLow(disk: { freeBytes: number; sizeBytes: number }): boolean {
  return disk.freeBytes < LOW_DISK_SHARE * disk.sizeBytes;
}

/** How long until the next check, after one that found the disk as `disk`. */
export function nextCheckMs(everyMs: number, disk: { freeBytes: number; sizeBytes: number }): number {
  return diskRunsLow(disk) ? Math.min(everyMs, LOW_DISK_EVERY_MS) : everyMs;
}

function diskOf(dir: string): { freeBytes: number; sizeBytes: number } {
  const fs = statfsSync(dir);
  return { freeBytes: fs.bavail * fs.bsize, sizeBytes: fs.blocks * fs.bsize };
}

export class AutoGc {
  private timer: NodeJS.Timeout | null = null;
  private checking: Promise<void> | null = null;
  private stopped = false;

  constructor(
    private readonly dispatcher: Dispatcher,
    private readonly dataDir: string,
    private readonly everyMs: number,
    private readonly log: (line: string) => void = (line) => console.log(line),
  ) {
    this.checkLater();
  }

  private checkLater(): void {
    if (this.stopped) return;
    let delayMs = this.everyMs;
    try {
      delayMs = nextCheckMs(this.everyMs, diskOf(this.dataDir));
    } catch {
      // The disk cannot be asked: the usual interval.
    }
    this.timer = setTimeout(() => void this.check().finally(() => this.checkLater()), delayMs);
    this.timer.unref();
  }

  /** Scans, and collects if worth it; one check at a time. */
  private check(): Promise<void> {
    this.checking ??= this.run()
      .catch((error: unknown) => this.log(`bazil: automatic garbage collection failed: ${String(error)}`))
      .finally(() => (this.checking = null));
    return this.checking;
  }

  /** No check starts from now on; resolves when the one running (if any) has ended. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.checking;
  }

  private async run(): Promise<void> {
    const disk = diskOf(this.dataDir);
    // Programs writing: the next check will do, unless the disk cannot wait.
    const quick = await this.call<StatsResult>('stats', {});
    if (!quick || (quick.dirty.totalBytes > 0 && !diskRunsLow(disk))) return;
    const stats = await this.call<StatsResult>('stats', { space: true });
    if (!stats?.space) return;
    if (!worthCollecting(stats.space.reclaimableBytes, stats.storeBytes, disk)) return;
    const result = await this.call<GcResult>('gc', {});
    if (!result) return;
    const freed = Math.max(0, result.diskBytesBefore - result.diskBytesAfter);
    this.log(
      `bazil: automatic garbage collection: ${formatBytes(stats.space.reclaimableBytes)} was reclaimable; ` +
        `freed ${formatBytes(freed)} on disk in ${(result.ms / 1000).toFixed(1)} s`,
    );
  }

  /** A call through the dispatcher; null once stopped, or when it failed (said in the log). */
  private async call<T>(method: 'stats' | 'gc', args: object): Promise<T | null> {
    if (this.stopped) return null;
    const answer = await this.dispatcher.call(method, args);
    if ('result' in answer) return answer.result as T;
    // The engine stopping, or a collection someone asked for running already: not worth a line.
    if (!this.stopped && answer.error.code !== 'EBUSY') {
      this.log(`bazil: automatic garbage collection: ${method} failed: ${answer.error.message}`);
    }
    return null;
  }
}
