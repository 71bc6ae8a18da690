/** What every `bazil` command prints with: sizes, counts, and the error for bad usage. */
import type { JobProgress, ProgressSink } from '../common/api.js';
import { formatBytes, formatCount } from '../common/units.js';
import { ProgressEta, formatSeconds } from '../common/progress-eta.js';

/** Bad usage of the command: one line, exit code 2. */
export class UsageError extends Error {}

export { formatBytes, formatCount };

/**
 * Shows long work's progress on one line of stderr, rewritten in place, with an ETA once the rate
 * is known; only on a terminal (a script reading stderr gets nothing). `end` clears the line.
 */
export function progressLine(stream: NodeJS.WriteStream = process.stderr): {
  onProgress: ProgressSink;
  end(): void;
} {
  if (!stream.isTTY) return { onProgress: () => undefined, end: () => undefined };
  let shown = false;
  const eta = new ProgressEta();
  const amount = (n: number, unit: JobProgress['unit']) => (unit === 'bytes' ? formatBytes(n) : formatCount(n));
  return {
    onProgress(p) {
      const left = eta.update(p, Date.now());
      let text = `${p.phase}: ${amount(p.done, p.unit)}`;
      if (p.total > 0) {
        text += ` of ${amount(p.total, p.unit)} (${Math.min(100, Math.floor((p.done / p.total) * 100))}%)`;
        if (left !== null) text += `, about ${formatSeconds(left)} left`;
      }
      stream.write(`\r\x1b[K${text}`);
      shown = true;
    },
    end() {
      if (shown) stream.write('\r\x1b[K');
    },
  };
}
