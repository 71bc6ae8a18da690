/**
 * File-first: find a name across every snapshot of a volume, the versions of one file across
 * them (restore any of them), and what changed between two snapshots or since one.
 */
import { useState, type FormEvent } from 'react';
import type { DiffChange, FoundEntry } from '../../src-main/common/api.js';
import { formatBytes } from '../../src-main/common/units.js';
import { DataTable } from './data-table.js';
import { DiffTable } from './diff-table.js';
import type { EngineBridge } from './engine-bridge.js';
import { FileVersions } from './file-versions.js';
import { formatTime } from './format-time.js';
import type { EngineState } from './use-engine.js';
import { VolumeSelect, useVolumeChoice } from './volume-choice.js';
import { useRun } from './use-run.js';
import { chosenSnapshot, useSnapshots } from './use-snapshots.js';

const LIVE = '';

export function HistoryView({ bridge, engine }: { bridge: EngineBridge; engine: EngineState }) {
  const { names, shown, choose } = useVolumeChoice(engine);
  const snapshots = useSnapshots(bridge, engine, shown, { uniqueBytes: false }) ?? [];
  const [pattern, setPattern] = useState('');
  const [found, setFound] = useState<FoundEntry[] | null>(null);
  const [path, setPath] = useState('');
  const [versionsOf, setVersionsOf] = useState<string | null>(null);
  const [chosenFrom, setFrom] = useState('');
  const from = chosenSnapshot(snapshots, chosenFrom);
  const [to, setTo] = useState(LIVE);
  const [diff, setDiff] = useState<DiffChange[] | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const { busy, run } = useRun(engine.report);

  if (shown === null) return <p>No volumes yet: create one first.</p>;

  const find = (e: FormEvent) => {
    e.preventDefault();
    void run(async () => setFound(await bridge.call('snapshotFind', { volume: shown, pattern: pattern.trim() })));
  };
  const history = (of: string) => {
    setPath(of);
    setVersionsOf(of);
  };
  const compare = (e: FormEvent) => {
    e.preventDefault();
    void run(async () => {
      const changes = await bridge.call('snapshotDiff', { volume: shown, from, ...(to === LIVE ? {} : { to }) });
      setDiff(changes.changes);
    });
  };

  return (
    <div className="view">
      <h2>History</h2>
      <VolumeSelect names={names} shown={shown} onChange={choose} />
      {notice && (
        <p role="status" className="notice">
          {notice}
        </p>
      )}

      <h3>Find in every snapshot</h3>
      <form onSubmit={find} className="row">
        <label>
          Name or pattern <input value={pattern} onChange={(e) => setPattern(e.target.value)} placeholder="*.txt" />
        </label>
        <button type="submit" disabled={busy || pattern.trim() === ''}>
          Find
        </button>
      </form>
      {found !== null &&
        (found.length === 0 ? (
          <p className="muted">Nothing matches in any snapshot.</p>
        ) : (
          <DataTable columns={['Snapshot', 'Path', 'Size', 'Modified', '']} testId="found">
            {found.map((f) => (
              <tr key={`${f.snapshot}:${f.path}`}>
                <td>{f.snapshot}</td>
                <td>{f.path}</td>
                <td data-label="Size">{f.type === 'file' ? formatBytes(f.sizeBytes) : f.type}</td>
                <td data-label="Modified">{formatTime(f.mtime)}</td>
                <td>
                  <button aria-label={`Versions of ${f.path}`} onClick={() => history(f.path)}>
                    Versions
                  </button>
                </td>
              </tr>
            ))}
          </DataTable>
        ))}

      <h3>Versions of a file</h3>
      <form
        className="row"
        onSubmit={(e) => {
          e.preventDefault();
          history(path.trim());
        }}
      >
        <label>
          Path in the volume{' '}
          <input value={path} onChange={(e) => setPath(e.target.value)} placeholder="/docs/report.txt" />
        </label>
        <button type="submit" disabled={busy || path.trim() === ''}>
          Show versions
        </button>
      </form>
      {versionsOf !== null && (
        <FileVersions bridge={bridge} engine={engine} volume={shown} path={versionsOf} onDone={setNotice} />
      )}

      <h3>What changed</h3>
      {snapshots.length === 0 ? (
        <p className="muted">No snapshots of {shown} yet.</p>
      ) : (
        <form onSubmit={compare} className="row">
          <label>
            From{' '}
            <select value={from} onChange={(e) => setFrom(e.target.value)}>
              {snapshots.map((s) => (
                <option key={s.name}>{s.name}</option>
              ))}
            </select>
          </label>
          <label>
            to{' '}
            <select value={to} onChange={(e) => setTo(e.target.value)}>
              <option value={LIVE}>now (the live volume)</option>
              {snapshots.map((s) => (
                <option key={s.name}>{s.name}</option>
              ))}
            </select>
          </label>
          <button type="submit" disabled={busy || from === ''}>
            Compare
          </button>
        </form>
      )}
      {diff !== null && <DiffTable changes={diff} />}
    </div>
  );
}
