/**
 * Closed files whose data could not be stored (a full disk): their data stays in memory, in dirty
 * pages under the dirty cap, and they are stored again later, on a timer that backs off (1 s
 * doubling to 30 s), and at once when metadata commits work again. Said in the log when it starts
 * and when every such file is stored.
 */
import { quote } from '../../common/errors.js';
import type { Inode } from './volume-meta.js';

const FIRST_RETRY_MS = 1000;
const LAST_RETRY_MS = 30_000;

export interface UnstoredDeps {
  /** Still closed, still ours and still holding unstored data (else it needs nothing more). */
  isStillClosedAndDirty(inode: Inode): boolean;
  /** Stores a closed file's data and record. */
  store(inode: Inode): Promise<void>;
  /** The error as a program should see it (ENOSPC for a full disk). */
  explain(error: unknown): Error;
  /** Tells the person (the engine's error event) when closed files begin to go unstored. */
  reportFailure(message: string): void;
}

export class UnstoredFiles {
  private readonly files = new Set<Inode>();
  private timer: NodeJS.Timeout | null = null;
  private delayMs = FIRST_RETRY_MS;
  /** When closed files first could not be stored (0: all are). */
  private sinceMs = 0;

  constructor(
    private readonly volumeName: string,
    private readonly deps: UnstoredDeps,
  ) {}

  /** A closed file could not be stored: keep trying. */
  add(inode: Inode, cause: unknown): void {
    if (this.files.size === 0 && !this.sinceMs) {
      this.sinceMs = Date.now();
      const message =
        `volume ${quote(this.volumeName)}: a closed file could not be stored ` +
        `(${this.deps.explain(cause).message}); its data stays in memory and is stored again when it can be`;
      console.error(`bazil: ${message}`);
      this.deps.reportFailure(message);
    }
    this.files.add(inode);
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.retry();
    }, this.delayMs);
    this.timer.unref();
    this.delayMs = Math.min(this.delayMs * 2, LAST_RETRY_MS);
  }

  /** Tries them all now (commits work again). */
  retryNow(): void {
    if (this.files.size === 0) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    void this.retry();
  }

  /** Stops the timer (the volume is unmounted; flushAll stores what is left). */
  close(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  private async retry(): Promise<void> {
    let failure: unknown = null;
    for (const inode of [...this.files]) {
      this.files.delete(inode);
      // Open again (its next close stores it), gone, or stored by a flush since.
      if (!this.deps.isStillClosedAndDirty(inode)) continue;
      try {
        await this.deps.store(inode);
      } catch (error) {
        failure = error;
        this.files.add(inode);
      }
    }
    if (failure !== null) {
      this.add([...this.files][0]!, failure);
    } else if (this.files.size === 0 && this.sinceMs) {
      const seconds = Math.round((Date.now() - this.sinceMs) / 1000);
      console.error(
        `bazil: volume ${quote(this.volumeName)}: the closed files that could not be stored are, after ${seconds} s`,
      );
      this.sinceMs = 0;
      this.delayMs = FIRST_RETRY_MS;
    }
  }
}
