/**
 * The requests of one mount that are waiting for an answer (a read waiting for the disk, a close
 * waiting for its data to be stored, a write waiting for room under the dirty cap). A program
 * waits in the kernel for as long as its request does, unkillable, so a request that waits
 * unusually long is named in the log, once, and again when it is answered: a hang is never silent.
 *
 * Only requests answered later are tracked; most are answered at once and cost nothing here.
 */

/** A request still waiting after this long is named in the log. */
const STUCK_AFTER_MS = 30_000;

interface Pending {
  op: string;
  path: string | null;
  startMs: number;
  reported: boolean;
}

export class PendingRequests {
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly volumeName: string,
    private readonly log: (line: string) => void = (line) => console.error(line),
    private readonly stuckAfterMs = STUCK_AFTER_MS,
    private readonly now: () => number = Date.now,
  ) {}

  /** How many requests are waiting. */
  get size(): number {
    return this.pending.size;
  }

  /** Notes a request that will be answered later; returns what `end` takes. */
  start(op: string, path: string | null): number {
    const id = this.nextId++;
    this.pending.set(id, { op, path, startMs: this.now(), reported: false });
    if (!this.timer) {
      // Looks a few times per threshold, so a stuck request is named within ~1.25x of it.
      this.timer = setInterval(() => this.lookForStuck(), Math.max(10, this.stuckAfterMs / 4));
      this.timer.unref();
    }
    return id;
  }

  /** The request was answered. */
  end(id: number): void {
    const request = this.pending.get(id);
    if (!request) return;
    this.pending.delete(id);
    if (request.reported) {
      this.log(
        `bazil: volume "${this.volumeName}": ${describe(request)} was answered after ${this.secondsSince(request)} s`,
      );
    }
    if (this.pending.size === 0) this.stopTimer();
  }

  /** Stops watching (the mount is gone). */
  close(): void {
    this.pending.clear();
    this.stopTimer();
  }

  private lookForStuck(): void {
    const stuck = [...this.pending.values()].filter(
      (request) => !request.reported && this.now() - request.startMs >= this.stuckAfterMs,
    );
    for (const request of stuck) {
      request.reported = true;
      this.log(
        `bazil: volume "${this.volumeName}": ${describe(request)} has waited ${this.secondsSince(request)} s ` +
          `for an answer (${this.pending.size} request(s) waiting); the program that made it waits too`,
      );
    }
  }

  private secondsSince(request: Pending): number {
    return Math.round((this.now() - request.startMs) / 1000);
  }

  private stopTimer(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }
}

function describe(request: Pending): string {
  return request.path === null ? `a ${request.op}` : `a ${request.op} of ${JSON.stringify(request.path)}`;
}
