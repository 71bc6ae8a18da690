/**
 * Long work's progress (export, verify, garbage collection), from the engine's job events: what
 * it is doing, how far it is, and about how long it has left.
 */
import { useRef } from 'react';
import { ProgressEta, formatSeconds } from '../../src-main/common/progress-eta.js';
import { formatBytes, formatCount } from '../../src-main/common/units.js';
import type { Job } from './use-engine.js';

export function JobProgress({ job, label }: { job: Job; label: string }) {
  const eta = useRef(new ProgressEta());
  const p = job.progress;
  const amount = (n: number) => (p?.unit === 'bytes' ? formatBytes(n) : formatCount(n));
  const left = p ? eta.current.update(p, Date.now()) : null;
  return (
    <div className="job" role="status" aria-label={label}>
      <div>
        {label}: {p ? p.phase : 'starting'}
        {p && p.total > 0 && ` — ${amount(p.done)} of ${amount(p.total)}`}
        {left !== null && `, about ${formatSeconds(left)} left`}
      </div>
      <progress max={p && p.total > 0 ? p.total : undefined} value={p && p.total > 0 ? p.done : undefined} />
    </div>
  );
}

/** The newest job of a method still running, if any. */
export function runningJob(jobs: Job[], method: string): Job | null {
  return [...jobs].reverse().find((j) => j.method === method && j.state === 'running') ?? null;
}
