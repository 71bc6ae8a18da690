/**
 * A control request line, checked against the API: its id, method and arguments, or the error to
 * answer it with. Runs in the request parser's worker thread (request-parser.ts).
 */
import { isMethodName, validateArgs, type MethodName } from '../../common/api.js';
import { BazilError, quote } from '../../common/errors.js';
import type { ControlRequest } from './control-server.js';

export type ParsedRequest =
  { id: number; method: MethodName; args: unknown } | { id: number; error: { code: string; message: string } };

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
    const { id: requestId, method, args } = request as Partial<Record<keyof ControlRequest, unknown>>;
    id = typeof requestId === 'number' ? requestId : 0;
    if (typeof method !== 'string') throw new BazilError('EINVAL', 'a request needs a "method" string');
    if (!isMethodName(method)) throw new BazilError('EINVAL', `unknown method ${quote(method)}`);
    return { id, method, args: validateArgs(method, args ?? {}) };
  } catch (error) {
    if (error instanceof BazilError) return { id, error: { code: error.code, message: error.message } };
    if (error instanceof SyntaxError)
      return { id, error: { code: 'EINVAL', message: `request is not JSON: ${error.message}` } };
    throw error;
  }
}
