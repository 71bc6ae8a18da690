/**
 * The control socket's wire format: newline-delimited JSON, both ways. A client sends
 * {"id", "method", "args"} to call, or {"id", "subscribe": true} to hear the engine's events on
 * that connection. The engine answers a call with {"id", "result"} or {"id", "error"}, after any
 * number of {"id", "progress"} lines while long work runs; a subscription with {"id", "result":
 * null}, then {"event"} lines until the connection closes. An answer with id 0 is about a line the
 * engine could not read (too long, not JSON).
 *
 * Pure code: runs anywhere.
 */
import type { ApiError, EngineEvent, JobProgress } from './api.js';

export type ControlRequest = { id: number; method: string; args?: unknown } | { id: number; subscribe: true };

export type ControlResponse =
  | { id: number; result: unknown }
  | { id: number; error: ApiError }
  | { id: number; progress: JobProgress }
  | { event: EngineEvent };

/** JSON with bigints as decimal strings (JSON has no bigint): how every transport sends values. */
export function toJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));
}
