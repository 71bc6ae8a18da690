/**
 * A control request line, checked against the API: a call (its id, method and arguments), a
 * subscription to events, or the error to answer it with. Runs in the request parser's worker
 * thread (request-parser.ts).
 */
import { parseCall, type ApiError, type MethodName } from '../../common/api.js';
import { BazilError } from '../../common/errors.js';
import { parseJsonObject } from '../../common/json-object.js';

export type ParsedRequest =
  { id: number; method: MethodName; args: unknown } | { id: number; subscribe: true } | { id: number; error: ApiError };

export function parseRequest(line: string): ParsedRequest {
  let id = 0;
  try {
    const fields = parseJsonObject(line, 'the request', '{"id": number, "method": string, "args": object}');
    id = typeof fields.id === 'number' ? fields.id : 0;
    if (fields.subscribe === true) return { id, subscribe: true };
    return { id, ...parseCall(fields.method, fields.args ?? {}) };
  } catch (error) {
    if (error instanceof BazilError) return { id, error: error.toAnswer() };
    throw error;
  }
}
