/**
 * A request's JSON as every transport reads it: one JSON object, or a BazilError (EINVAL) that
 * says what was wrong with it in words (the control socket's request lines, the HTTP bridge's
 * bodies).
 *
 * Pure code: runs anywhere.
 */
import { BazilError } from './errors.js';

/**
 * `text` as a JSON object. `what` names it in the error ("the request", "the body") and `shape`
 * shows what it should look like.
 */
export function parseJsonObject(text: string, what: string, shape: string): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new BazilError('EINVAL', `${what} is not JSON: ${(error as Error).message}`);
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new BazilError('EINVAL', `${what} must be a JSON object: ${shape}`);
  }
  return parsed as Record<string, unknown>;
}
