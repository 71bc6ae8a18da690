/**
 * Keeps a failure that repeats from flooding the log: each kind is said once per period, and the
 * next time it is said, with how many times it came meanwhile. (A full disk failed every call on a
 * mount, and the log, on that same disk, grew by thousands of identical stack traces a minute.)
 */

/** How often one kind of failure is said at most. */
const PERIOD_MS = 60_000;

export class RepeatLimiter {
  private readonly kinds = new Map<string, { saidMs: number; since: number }>();

  constructor(
    private readonly periodMs = PERIOD_MS,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * Whether to say a failure of this kind now, and how many of its kind were not said since the
   * last time (null: say nothing).
   */
  take(kind: string): { repeats: number } | null {
    const now = this.now();
    const known = this.kinds.get(kind);
    if (known && now - known.saidMs < this.periodMs) {
      known.since++;
      return null;
    }
    if (this.kinds.size > 1000) this.kinds.clear(); // kinds are few; a flood of distinct ones is not kept
    this.kinds.set(kind, { saidMs: now, since: 0 });
    return { repeats: known?.since ?? 0 };
  }
}
