/**
 * What the window shows live, as events. While anyone listens, the engine is sampled every
 * LIVE_SAMPLE_MS and what changed is published:
 * - the dirty-write buffers' totals (engine-wide, per volume and per file), also at once to a new
 *   listener's benefit;
 * - which mounted volumes had files created, deleted, renamed, written or changed (a `files`
 *   event each), so a folder shown is listed again without asking.
 * Nobody listening costs nothing.
 */
import type { DirtyState, EngineEvent } from '../common/api.js';
import type { EventHub } from '../common/event-hub.js';

/** Twice a second: a window showing dirty memory or a folder "live" sees every change within half a second. */
export const LIVE_SAMPLE_MS = 500;

export interface LiveSources {
  dirty: () => DirtyState;
  /** Per mounted volume, a count that goes up with every change to its files. */
  fileChanges: () => ReadonlyMap<string, number>;
}

/**
 * Starts the feed; the function returned publishes the dirty state now if it changed (a stop has
 * stored everything: whoever shows its progress hears so before the stop answers).
 */
export function feedLiveEvents(events: EventHub<EngineEvent>, sources: LiveSources): () => void {
  let timer: NodeJS.Timeout | null = null;
  let lastDirty = '';
  /** The counts last sampled: a volume first seen (just mounted) has nothing to report yet. */
  let lastChanges: ReadonlyMap<string, number> = new Map();
  let listeners = 0;
  const publishDirty = (always: boolean) => {
    const dirty = sources.dirty();
    const seen = JSON.stringify(dirty);
    if (!always && seen === lastDirty) return;
    lastDirty = seen;
    events.publish({ type: 'dirty', dirty });
  };
  const publishFiles = () => {
    const changes = sources.fileChanges();
    for (const [volume, count] of changes) {
      const before = lastChanges.get(volume);
      if (before !== undefined && before !== count) events.publish({ type: 'files', volume });
    }
    lastChanges = changes;
  };
  events.onListenerCount = (count) => {
    const joined = count > listeners;
    listeners = count;
    if (count === 0) {
      if (timer) clearInterval(timer);
      timer = null;
      return;
    }
    if (!timer) {
      lastChanges = sources.fileChanges();
      timer = setInterval(() => {
        publishDirty(false);
        publishFiles();
      }, LIVE_SAMPLE_MS).unref();
    }
    // A new listener hears the state now (the others hear it again: harmless).
    if (joined) setImmediate(() => publishDirty(true));
  };
  return () => {
    if (listeners > 0) publishDirty(false);
  };
}
