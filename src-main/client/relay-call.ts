/**
 * One call as a relay passes it on to the engine (the HTTP bridge, the desktop app's IPC): checked
 * against the API declaration first, and answered as the control socket answers, with the result
 * or the engine's error. Anything else that fails is thrown (a bug, not an answer).
 */
import { parseCall, type ApiError, type MethodName } from '../common/api.js';
import { BazilError } from '../common/errors.js';

/** What a relay calls: the control socket's client, or the app's engine supervisor. */
export interface ApiRelay {
  call(method: MethodName, args: never): Promise<unknown>;
}

export type RelayAnswer = { result: unknown } | { error: ApiError };

export async function relayCall(relay: ApiRelay, method: unknown, args: unknown): Promise<RelayAnswer> {
  try {
    const checked = parseCall(method, args);
    return { result: (await relay.call(checked.method, checked.args as never)) ?? null };
  } catch (error) {
    if (error instanceof BazilError) return { error: error.toAnswer() };
    throw error;
  }
}
