/**
 * Which engine events a person is notified of (a desktop notification from the app's main
 * process, or from the window through the browser's Notification API; never both): a snapshot
 * someone took, a restore done, and failures. A scheduled snapshot is not news, only its failure.
 *
 * Pure code: runs anywhere.
 */
import type { EngineEvent } from './api.js';

/** The notification's text for an event, or null when it is not one to notify. */
export function notificationFor(event: EngineEvent): string | null {
  switch (event.type) {
    case 'snapshot':
      if (event.scheduled || event.action === 'deleted') return null;
      return event.action === 'created'
        ? `Snapshot ${event.snapshot} of ${event.volume} taken`
        : `Restored from snapshot ${event.snapshot} of ${event.volume}`;
    case 'job':
      return event.state === 'failed' ? failedJob(event.method, event.message) : null;
    case 'error':
      return event.message;
    default:
      return null;
  }
}

/** A long call's failure in words ("gc failed: ..."). */
export function failedJob(method: string, message = 'no reason given'): string {
  return `${method} failed: ${message}`;
}
