/**
 * Waiting on a condition instead of sleeping and hoping: `waitFor` checks a condition until it
 * holds, and fails the test with what it waited for when it does not hold in time. It never hangs:
 * a check that itself never answers counts against the same time limit.
 */

// Taken when this module loads, so a test that mocks timers (node:test `mock.timers`) cannot stop
// the wait from running out.
const realSetTimeout = globalThis.setTimeout;
const realClearTimeout = globalThis.clearTimeout;
const monotonicMs = () => performance.now();

export interface WaitForOptions {
  /** How long the condition may take to hold. */
  timeoutMs: number;
  /** What is waited for, in the words of the failure message: "the holder to open the file". */
  what: string;
  /** The pause between two checks. */
  intervalMs?: number;
}

/**
 * Resolves with the condition's first truthy result. Rejects when the condition throws (at once),
 * or when `timeoutMs` passes first: "timed out after 5000 ms waiting for WHAT".
 */
export async function waitFor<T>(
  condition: () => T | Promise<T>,
  { timeoutMs, what, intervalMs = 20 }: WaitForOptions,
): Promise<NonNullable<T>> {
  const start = monotonicMs();
  const timedOut = () => new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
  for (;;) {
    const left = timeoutMs - (monotonicMs() - start);
    if (left <= 0) throw timedOut();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = realSetTimeout(() => reject(timedOut()), left);
    });
    try {
      const result = await Promise.race([Promise.resolve().then(condition), deadline]);
      if (result) return result as NonNullable<T>;
    } finally {
      realClearTimeout(timer);
    }
    await new Promise((resolve) => realSetTimeout(resolve, Math.min(intervalMs, Math.max(0, left))));
  }
}
