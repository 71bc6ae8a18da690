/**
 * The versions of one file across a volume's snapshots (fileHistory), oldest first, each with the
 * snapshots that hold it; any of them is restored through the restore dialog. Shown by the
 * History view and the Files view.
 */
import { useEffect, useState } from 'react';
import type { FileVersion, SnapshotEntry } from '../../src-main/common/api.js';
import { formatBytes, formatCount } from '../../src-main/common/units.js';
import { DataTable } from './data-table.js';
import { EngineError, type EngineBridge } from './engine-bridge.js';
import { formatTime } from './format-time.js';
import { RestoreDialog } from './restore-dialog.js';
import type { EngineState } from './use-engine.js';

export function FileVersions({
  bridge,
  engine,
  volume,
  path,
  onDone,
}: {
  bridge: EngineBridge;
  engine: EngineState;
  volume: string;
  path: string;
  onDone: (notice: string) => void;
}) {
  const [versions, setVersions] = useState<FileVersion[] | null>(null);
  const [restoring, setRestoring] = useState<{ snapshot: string; entry: SnapshotEntry } | null>(null);
  useEffect(() => {
    let current = true;
    setVersions(null);
    bridge.call('fileHistory', { volume, path }).then(
      (list) => current && setVersions(list),
      (error: unknown) => {
        if (!current) return;
        // No snapshot holds it (yet): an answer, not a failure.
        if (error instanceof EngineError && error.code === 'ENOENT') setVersions([]);
        else engine.report(error);
      },
    );
    return () => {
      current = false;
    };
  }, [bridge, engine.report, volume, path, engine.snapshotsVersion]);

  const restore = (version: FileVersion) => {
    const snapshot = version.snapshots.at(-1)!;
    bridge
      .call('snapshotLs', { volume, snapshot, path })
      .then((listing) => setRestoring({ snapshot, entry: listing.entry }), engine.report);
  };

  return (
    <section aria-label={`Versions of ${path}`}>
      <h4>Versions of {path}</h4>
      {versions === null ? (
        <p>Loading…</p>
      ) : versions.length === 0 ? (
        <p className="muted">No snapshot holds {path}.</p>
      ) : (
        <DataTable columns={['Version', 'In snapshots', 'Size', 'Modified', '']} testId="versions">
          {versions.map((v, i) => (
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
                <button aria-label={`Restore version ${i + 1} of ${path}`} onClick={() => restore(v)}>
                  Restore
                </button>
              </td>
            </tr>
          ))}
        </DataTable>
      )}
      {restoring && (
        <RestoreDialog
          bridge={bridge}
          engine={engine}
          volume={volume}
          snapshot={restoring.snapshot}
          entries={[restoring.entry]}
          onClose={() => setRestoring(null)}
          onDone={onDone}
        />
      )}
    </section>
  );
}
