/**
 * A control request line, checked against the API: a call (its id, method and arguments), a
 * subscription to events, or the error to answer it with. Runs in the request parser's worker
 * thread (request-parser.ts).
 */
import { parseCall, type ApiError, type MethodName } from '../../common/api.js';
import { BazilError } from '../../common/errors.js';

export type ParsedRequest =
  { id: number; method: MethodName; args: unknown } | { id: number; subscribe: true } | { id: number; error: ApiError };

export function parseRequest(line: string): ParsedRequest {
  let id = 0;
  try {
    const request: unknown = JSON.parse(line);
    if (request === null || typeof request !== 'object' || Array.isArray(request)) {
      throw new BazilError(
        'EINVAL',
        'a request must be a JSON object: {"id": number, "method": string, "args": object}',
      );
    }
    const fields = request as Record<string, unknown>;
    id = typeof fields.id === 'number' ? fields.id : 0;
    if (fields.subscribe === true) return { id, subscribe: true };
    return { id, ...parseCall(fields.method, fields.args ?? {}) };
  } catch (error) {
    if (error instanceof BazilError) return { id, error: error.toAnswer() };
    if (error instanceof SyntaxError)
      return { id, error: { code: 'EINVAL', message: `request is not JSON: ${error.message}` } };
    throw error;
  }
}
