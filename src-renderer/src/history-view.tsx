/**
 * File-first: find a name across every snapshot of a volume, the versions of one file across
 * them (restore any of them), and what changed between two snapshots or since one.
 */
import { useEffect, useState, type FormEvent } from 'react';
import type { DiffChange, FileVersion, FoundEntry, SnapshotEntry, SnapshotInfo } from '../../src-main/common/api.js';
import { formatBytes, formatCount } from '../../src-main/common/units.js';
import { DataTable } from './data-table.js';
import type { EngineBridge } from './engine-bridge.js';
import { formatTime } from './format-time.js';
import { RestoreDialog } from './restore-dialog.js';
import type { EngineState } from './use-engine.js';
import { VolumeSelect, useVolumeChoice } from './volume-choice.js';
import { useRun } from './use-run.js';

const LIVE = '';

export function HistoryView({ bridge, engine }: { bridge: EngineBridge; engine: EngineState }) {
  const { names, shown, choose } = useVolumeChoice(engine);
  const [snapshots, setSnapshots] = useState<SnapshotInfo[]>([]);
  const [pattern, setPattern] = useState('');
  const [found, setFound] = useState<FoundEntry[] | null>(null);
  const [path, setPath] = useState('');
  const [versions, setVersions] = useState<{ path: string; list: FileVersion[] } | null>(null);
  const [from, setFrom] = useState('');
  const [to, setTo] = useState(LIVE);
  const [diff, setDiff] = useState<DiffChange[] | null>(null);
  const [restoring, setRestoring] = useState<{ snapshot: string; entry: SnapshotEntry } | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const { busy, run } = useRun(engine.report);

  useEffect(() => {
    if (shown === null) return;
    let current = true;
    bridge.call('snapshotList', { volume: shown }).then((list) => {
      if (!current) return;
      setSnapshots(list);
      setFrom((f) => (list.some((s) => s.name === f) ? f : (list.at(-1)?.name ?? '')));
    }, engine.report);
    return () => {
      current = false;
    };
  }, [bridge, engine.report, shown, engine.snapshotsVersion]);

  if (shown === null) return <p>No volumes yet: create one first.</p>;

  const find = (e: FormEvent) => {
    e.preventDefault();
    void run(async () => setFound(await bridge.call('snapshotFind', { volume: shown, pattern: pattern.trim() })));
  };
  const history = (of: string) =>
    void run(async () => {
      setPath(of);
      setVersions({ path: of, list: await bridge.call('fileHistory', { volume: shown, path: of }) });
    });
  const compare = (e: FormEvent) => {
    e.preventDefault();
    void run(async () => {
      const changes = await bridge.call('snapshotDiff', { volume: shown, from, ...(to === LIVE ? {} : { to }) });
      setDiff(changes.changes);
    });
  };
  const restoreVersion = (of: string, version: FileVersion) =>
    void run(async () => {
      const snapshot = version.snapshots.at(-1)!;
      const listing = await bridge.call('snapshotLs', { volume: shown, snapshot, path: of });
      setRestoring({ snapshot, entry: listing.entry });
    });

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
      {versions &&
        (versions.list.length === 0 ? (
          <p className="muted">No snapshot holds {versions.path}.</p>
        ) : (
          <DataTable columns={['Version', 'In snapshots', 'Size', 'Modified', '']} testId="versions">
            {versions.list.map((v, i) => (
              <tr key={v.snapshots[0]}>
                <td>
                  {i + 1}, first seen {formatTime(v.firstSeen)}
                </td>
                <td data-label="In snapshots">
                  {v.snapshots.length === 1
                    ? v.snapshots[0]
                    : `${v.snapshots[0]} … ${v.snapshots.at(-1)} (${formatCount(v.snapshots.length)})`}
                </td>
                <td data-label="Size">{v.type === 'file' ? formatBytes(v.sizeBytes) : v.type}</td>
                <td data-label="Modified">{formatTime(v.mtime)}</td>
                <td>
                  <button
                    aria-label={`Restore version ${i + 1} of ${versions.path}`}
                    onClick={() => restoreVersion(versions.path, v)}
                  >
                    Restore
                  </button>
                </td>
              </tr>
            ))}
          </DataTable>
        ))}

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
      {diff !== null &&
        (diff.length === 0 ? (
          <p className="muted">Nothing changed.</p>
        ) : (
          <DataTable columns={['Path', 'Change', 'What']} testId="diff">
            {diff.map((c) => (
              <tr key={c.path}>
                <td>{c.path}</td>
                <td data-label="Change">
                  {c.change === 'modified' ? (c.content ? 'content changed' : 'attributes changed') : c.change}
                  {c.was && ` (was a ${c.was})`}
                </td>
                <td data-label="What">{c.type}</td>
              </tr>
            ))}
          </DataTable>
        ))}

      {restoring && (
        <RestoreDialog
          bridge={bridge}
          engine={engine}
          volume={shown}
          snapshot={restoring.snapshot}
          entries={[restoring.entry]}
          onClose={() => setRestoring(null)}
          onDone={setNotice}
        />
      )}
    </div>
  );
}
