/**
 * The API's side that no transport owns: runs a checked call on the engine, maps what it throws
 * to an API error, and publishes what changed to every transport the same way: the volumes after
 * a call that changes them or their mounts, snapshots taken, deleted or restored, and long work as
 * job events (its progress, then its end). The control socket carries its answers and events; the
 * HTTP bridge and Electron's IPC relay the socket's.
 */
import {
  API,
  type Api,
  type ApiError,
  type EngineEvent,
  type MethodName,
  type ProgressSink,
} from '../../common/api.js';
import { BazilError } from '../../common/errors.js';
import { EventHub } from '../../common/event-hub.js';

/** What a call comes to, as it travels. */
export type Answer = { result: unknown } | { error: ApiError };

/** Progress of one call is passed on at most this often (and always when it is complete). */
const PROGRESS_EVERY_MS = 250;

const CHANGES_VOLUMES: ReadonlySet<MethodName> = new Set([
  'volumeCreate',
  'volumeDelete',
  'volumeSet',
  'mount',
  'unmount',
]);
const SNAPSHOT_ACTIONS: Partial<Record<MethodName, 'created' | 'deleted' | 'restored'>> = {
  snapshotCreate: 'created',
  snapshotDelete: 'deleted',
  snapshotRestore: 'restored',
};

export class Dispatcher {
  private nextJobId = 1;

  constructor(
    private readonly api: Api,
    readonly events: EventHub<EngineEvent>,
  ) {}

  /** Runs one call whose arguments `parseCall` checked; `onProgress` hears its progress (throttled). */
  async call(method: MethodName, args: unknown, onProgress?: ProgressSink): Promise<Answer> {
    const job = 'progress' in API[method] ? { jobId: this.nextJobId++, method } : null;
    let lastMs = -Infinity; // the first progress always goes
    const progress: ProgressSink = (p) => {
      const now = performance.now();
      if (now - lastMs < PROGRESS_EVERY_MS && p.done < p.total) return;
      lastMs = now;
      onProgress?.(p);
      if (job) this.events.publish({ type: 'job', ...job, state: 'running', progress: p });
    };
    if (job) this.events.publish({ type: 'job', ...job, state: 'running', progress: null });
    let result: unknown;
    try {
      const run = this.api[method] as (args: unknown, progress: ProgressSink) => Promise<unknown>;
      result = (await run.call(this.api, args, progress)) ?? null;
    } catch (caught) {
      const error = toApiError(caught);
      if (job) this.events.publish({ type: 'job', ...job, state: 'failed', progress: null, message: error.message });
      return { error };
    }
    if (job) this.events.publish({ type: 'job', ...job, state: 'done', progress: null });
    await this.publishChanges(method, args, result);
    return { result };
  }

  private async publishChanges(method: MethodName, args: unknown, result: unknown): Promise<void> {
    if (CHANGES_VOLUMES.has(method)) this.events.publish({ type: 'volumes', volumes: await this.api.volumeList({}) });
    const action = SNAPSHOT_ACTIONS[method];
    if (action) {
      const { volume, snapshot } = args as { volume: string; snapshot?: string };
      const name = snapshot ?? (result as { name: string }).name;
      this.events.publish({ type: 'snapshot', volume, snapshot: name, action });
    }
  }
}

/** An API error from what a call threw: a BazilError as it is, anything else as EINTERNAL (and logged). */
export function toApiError(error: unknown): ApiError {
  if (error instanceof BazilError) return error.toAnswer();
  console.error('bazil: API call failed:', error);
  return { code: 'EINTERNAL', message: (error as Error).message ?? String(error) };
}
