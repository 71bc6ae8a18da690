/**
 * One snapshot's tree: folders to open, files with their sizes and times, a preview of a file,
 * and restore of one item or of several selected at once (restore-dialog.tsx).
 */
import { useEffect, useState } from 'react';
import type { SnapshotEntry, SnapshotListing } from '../../src-main/common/api.js';
import { formatBytes, formatCount } from '../../src-main/common/units.js';
import { DataTable } from './data-table.js';
import type { EngineBridge } from './engine-bridge.js';
import { FilePreview } from './file-preview.js';
import { PathCrumbs } from './path-crumbs.js';
import { formatTime } from './format-time.js';
import { RestoreDialog } from './restore-dialog.js';
import type { EngineState } from './use-engine.js';

export function SnapshotTree({
  bridge,
  engine,
  volume,
  snapshot,
  path,
  open,
  notice,
}: {
  bridge: EngineBridge;
  engine: EngineState;
  volume: string;
  snapshot: string;
  path: string;
  open: (path: string) => void;
  notice: (text: string) => void;
}) {
  const [listing, setListing] = useState<SnapshotListing | null>(null);
  const [selected, setSelected] = useState<ReadonlySet<string>>(new Set());
  const [previewed, setPreviewed] = useState<SnapshotEntry | null>(null);
  const [restoring, setRestoring] = useState<SnapshotEntry[] | null>(null);
  useEffect(() => {
    let current = true;
    setListing(null);
    setSelected(new Set());
    setPreviewed(null);
    bridge.call('snapshotLs', { volume, snapshot, path }).then((l) => current && setListing(l), engine.report);
    return () => {
      current = false;
    };
  }, [bridge, engine.report, volume, snapshot, path]);
  const toggle = (entryPath: string) =>
    setSelected((now) => {
      const next = new Set(now);
      if (!next.delete(entryPath)) next.add(entryPath);
      return next;
    });
  const chosen = listing?.entries.filter((e) => selected.has(e.path)) ?? [];
  return (
    <section aria-label={`Snapshot ${snapshot}`} className="tree">
      <h3>
        {snapshot}: <PathCrumbs path={path} open={open} />
      </h3>
      {listing === null ? (
        <p>Loading…</p>
      ) : listing.entries.length === 0 ? (
        <p className="muted">This folder was empty.</p>
      ) : (
        <>
          <div className="row">
            <button disabled={chosen.length === 0} onClick={() => setRestoring(chosen)}>
              Restore selected ({formatCount(chosen.length)})
            </button>
          </div>
          <DataTable columns={[{ hidden: 'Select' }, 'Name', 'Size', 'Modified', '']} testId="snapshot-tree">
            {listing.entries.map((entry) => (
              <tr key={entry.name}>
                <td>
                  <input
                    type="checkbox"
                    aria-label={`Select ${entry.path}`}
                    checked={selected.has(entry.path)}
                    onChange={() => toggle(entry.path)}
                  />
                </td>
                <td>
                  {entry.type === 'dir' ? (
                    <button className="link" onClick={() => open(entry.path)}>
                      {entry.name}/
                    </button>
                  ) : entry.type === 'file' ? (
                    <button className="link" aria-label={`Preview ${entry.path}`} onClick={() => setPreviewed(entry)}>
                      {entry.name}
                    </button>
                  ) : (
                    <span>{entry.type === 'symlink' ? `${entry.name} → ${entry.target}` : entry.name}</span>
                  )}
                </td>
                <td data-label="Size">{entry.type === 'file' ? formatBytes(entry.sizeBytes) : ''}</td>
                <td data-label="Modified">{formatTime(entry.mtime)}</td>
                <td>
                  <button aria-label={`Restore ${entry.path}`} onClick={() => setRestoring([entry])}>
                    Restore
                  </button>
                </td>
              </tr>
            ))}
          </DataTable>
        </>
      )}
      {previewed && (
        <FilePreview bridge={bridge} volume={volume} snapshot={snapshot} entry={previewed} report={engine.report} />
      )}
      {restoring && (
        <RestoreDialog
          bridge={bridge}
          engine={engine}
          volume={volume}
          snapshot={snapshot}
          entries={restoring}
          onClose={() => setRestoring(null)}
          onDone={(text) => {
            setSelected(new Set());
            notice(text);
          }}
        />
      )}
    </section>
  );
}
