/**
 * Failures a person must hear of that no call returns (data that could not be stored, a file-system
 * call answered EIO, a scheduled snapshot that failed, a sync to the disk that failed), published
 * as the API's `error` event to every transport: the window shows it, the tray turns to its error
 * icon. A failure that repeats does not flood them: each kind is published at most once a minute,
 * with how many more came meanwhile (RepeatLimiter). The log says what it says on its own.
 */
import type { EngineEvent } from '../common/api.js';
import type { EventHub } from '../common/event-hub.js';
import { RepeatLimiter } from './repeat-limiter.js';

/** `kind` groups repeats of one failure ("unstored:photos"); `message` is for the person. */
export type FailureReporter = (kind: string, message: string) => void;

export class FailureFeed {
  constructor(
    private readonly events: EventHub<EngineEvent>,
    private readonly limiter = new RepeatLimiter(),
  ) {}

  readonly report: FailureReporter = (kind, message) => {
    const said = this.limiter.take(kind);
    if (!said) return;
    const repeats = said.repeats > 0 ? ` (${said.repeats} more since it was last said)` : '';
    this.events.publish({ type: 'error', message: `${message}${repeats}` });
  };
}
