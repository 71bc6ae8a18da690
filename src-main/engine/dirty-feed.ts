/**
 * Dirty memory as events: while anyone listens, the dirty-write buffers' totals (engine-wide, per
 * volume and per file) are sampled every DIRTY_SAMPLE_MS and published when they changed, and at
 * once to a new listener's benefit. Nobody listening costs nothing.
 */
import type { DirtyState, EngineEvent } from '../common/api.js';
import type { EventHub } from '../common/event-hub.js';

/** Twice a second: a window showing dirty memory "live" sees every change within half a second. */
export const DIRTY_SAMPLE_MS = 500;

/**
 * Starts the feed; the function returned publishes the state now if it changed (a stop has stored
 * everything: whoever shows its progress hears so before the stop answers).
 */
export function feedDirtyEvents(events: EventHub<EngineEvent>, sample: () => DirtyState): () => void {
  let timer: NodeJS.Timeout | null = null;
  let last = '';
  let listeners = 0;
  const publish = (always: boolean) => {
    const dirty = sample();
    const seen = JSON.stringify(dirty);
    if (!always && seen === last) return;
    last = seen;
    events.publish({ type: 'dirty', dirty });
  };
  events.onListenerCount = (count) => {
    const joined = count > listeners;
    listeners = count;
    if (count === 0) {
      if (timer) clearInterval(timer);
      timer = null;
      return;
    }
    timer ??= setInterval(() => publish(false), DIRTY_SAMPLE_MS).unref();
    // A new listener hears the state now (the others hear it again: harmless).
    if (joined) setImmediate(() => publish(true));
  };
  return () => {
    if (listeners > 0) publish(false);
  };
}
