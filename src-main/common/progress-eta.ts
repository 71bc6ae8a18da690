/**
 * How long long work has left, from its progress: the rate since its current phase began, once
 * that phase has run a second (before, the rate says little). The command's progress line and the
 * window's progress bars both use it.
 *
 * Pure code: runs anywhere.
 */
import type { JobProgress } from './api.js';

export class ProgressEta {
  private phase = '';
  private phaseStartMs = 0;
  private phaseStartDone = 0;

  /** Seconds left, or null while not known (no total yet, too early, no progress). */
  update(progress: JobProgress, nowMs: number): number | null {
    if (progress.phase !== this.phase) {
      this.phase = progress.phase;
      this.phaseStartMs = nowMs;
      this.phaseStartDone = progress.done;
    }
    if (progress.total <= 0) return null;
    return secondsLeft(progress.done - this.phaseStartDone, progress.total - progress.done, nowMs - this.phaseStartMs);
  }
}

/**
 * Seconds until `remaining` is done at the rate of `doneSince` in `elapsedMs`; null before a
 * second has passed, or while nothing has been done.
 */
export function secondsLeft(doneSince: number, remaining: number, elapsedMs: number): number | null {
  if (elapsedMs < 1000) return null;
  const perMs = doneSince / elapsedMs;
  if (!(perMs > 0)) return null;
  return Math.ceil(remaining / perMs / 1000);
}

/** "3 s", "2 min 5 s", "1 h 4 min". */
export function formatSeconds(seconds: number): string {
  if (seconds < 60) return `${seconds} s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ${seconds % 60} s`;
  return `${Math.floor(seconds / 3600)} h ${Math.floor((seconds % 3600) / 60)} min`;
}
