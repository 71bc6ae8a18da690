/**
 * The store: its size, checking every stored chunk (verify), giving back the space of deleted
 * files and snapshots (garbage collection), both with progress; and each volume's snapshot
 * schedule with how many snapshots it keeps.
 */
import { useEffect, useState, type FormEvent } from 'react';
import type { GcResult, SnapshotSchedule, VerifyResult } from '../../src-main/common/api.js';
import { formatBytes, formatCount } from '../../src-main/common/units.js';
import type { EngineBridge } from './engine-bridge.js';
import { JobProgress, runningJob } from './job-progress.js';
import type { EngineState } from './use-engine.js';
import { useRun } from './use-run.js';

const KEEP = [
  ['keepHourly', 'hourly'],
  ['keepDaily', 'daily'],
  ['keepWeekly', 'weekly'],
  ['keepMonthly', 'monthly'],
] as const;

export function StoreView({ bridge, engine }: { bridge: EngineBridge; engine: EngineState }) {
  const { busy, run } = useRun(engine.report);
  const [verified, setVerified] = useState<VerifyResult | null>(null);
  const [collected, setCollected] = useState<GcResult | null>(null);
  const verifying = runningJob(engine.jobs, 'verify');
  const collecting = runningJob(engine.jobs, 'gc');
  return (
    <div className="view">
      <h2>Store</h2>
      <p data-testid="store-size">{engine.storeBytes === null ? '…' : formatBytes(engine.storeBytes)} on disk</p>
      <div className="row">
        <button disabled={busy} onClick={() => void run(async () => setVerified(await bridge.call('verify', {})))}>
          Check every stored chunk
        </button>
        <button disabled={busy} onClick={() => void run(async () => setCollected(await bridge.call('gc', {})))}>
          Give back unused space
        </button>
      </div>
      {verifying && <JobProgress job={verifying} label="Checking" />}
      {collecting && <JobProgress job={collecting} label="Collecting" />}
      {verified && (
        <p role="status" className="notice" data-testid="verified">
          Checked {formatCount(verified.checkedChunks)} chunks ({formatBytes(verified.checkedBytes)}):{' '}
          {verified.damaged.length === 0
            ? 'all intact.'
            : `${formatCount(verified.damaged.length)} files are damaged: ` +
              verified.damaged.map((d) => `${d.volume}${d.snapshot ? `@${d.snapshot}` : ''}:${d.path}`).join(', ')}
        </p>
      )}
      {collected && (
        <p role="status" className="notice" data-testid="collected">
          Gave back {formatBytes(Math.max(0, collected.diskBytesBefore - collected.diskBytesAfter))} (
          {formatCount(collected.deleted.chunks)} chunks no file or snapshot used).
        </p>
      )}
      <h3>Snapshot schedules</h3>
      {(engine.volumes ?? []).map((v) => (
        <ScheduleForm key={v.name} bridge={bridge} volume={v.name} run={run} busy={busy} />
      ))}
    </div>
  );
}

function ScheduleForm({
  bridge,
  volume,
  run,
  busy,
}: {
  bridge: EngineBridge;
  volume: string;
  run: (work: () => Promise<unknown>) => Promise<void>;
  busy: boolean;
}) {
  const [schedule, setSchedule] = useState<SnapshotSchedule | null | undefined>(undefined);
  const [every, setEvery] = useState('60');
  const [keep, setKeep] = useState<Record<string, string>>({
    keepHourly: '24',
    keepDaily: '7',
    keepWeekly: '4',
    keepMonthly: '12',
  });
  useEffect(() => {
    void run(async () => {
      const now = await bridge.call('snapshotSchedule', { volume });
      setSchedule(now);
      if (now) {
        setEvery(String(now.everyMinutes));
        setKeep({
          keepHourly: String(now.keep.hourly ?? 0),
          keepDaily: String(now.keep.daily ?? 0),
          keepWeekly: String(now.keep.weekly ?? 0),
          keepMonthly: String(now.keep.monthly ?? 0),
        });
      }
    });
  }, [bridge, volume, run]);
  const save = (e: FormEvent) => {
    e.preventDefault();
    const counts = Object.fromEntries(KEEP.map(([field]) => [field, Number(keep[field])]));
    void run(async () =>
      setSchedule(await bridge.call('snapshotSchedule', { volume, everyMinutes: Number(every), ...counts })),
    );
  };
  return (
    <form onSubmit={save} className="schedule" aria-label={`Schedule of ${volume}`}>
      <p>
        <strong>{volume}</strong>:{' '}
        {schedule === undefined
          ? '…'
          : schedule === null
            ? 'no schedule'
            : `a snapshot every ${schedule.everyMinutes} minutes when something changed`}
      </p>
      <div className="row">
        <label>
          Every <input type="number" min={1} value={every} onChange={(e) => setEvery(e.target.value)} /> minutes
        </label>
        {KEEP.map(([field, label]) => (
          <label key={field}>
            keep {label}{' '}
            <input
              type="number"
              min={0}
              value={keep[field]}
              onChange={(e) => setKeep({ ...keep, [field]: e.target.value })}
            />
          </label>
        ))}
        <button type="submit" disabled={busy}>
          Save schedule
        </button>
        {schedule && (
          <button
            type="button"
            disabled={busy}
            onClick={() =>
              void run(async () => setSchedule(await bridge.call('snapshotSchedule', { volume, off: true })))
            }
          >
            Turn off
          </button>
        )}
      </div>
    </form>
  );
}
