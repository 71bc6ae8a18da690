/**
 * Restores what is selected in a snapshot: to where it was (the default: what is there now is
 * first kept in an automatic snapshot), beside it as a copy, or to a folder outside Bazil (with
 * progress). Asks first, naming what will happen.
 */
import { useState } from 'react';
import type { SnapshotEntry } from '../../src-main/common/api.js';
import { formatCount } from '../../src-main/common/units.js';
import type { EngineBridge } from './engine-bridge.js';
import { JobProgress, runningJob } from './job-progress.js';
import type { EngineState } from './use-engine.js';

type Mode = 'place' | 'beside' | 'folder';
const FOLDER_KEY = 'bazil.exportFolder';

/** "/docs/report.txt" restored beside itself from snapshot S: "/docs/report (from S).txt". */
export function besideName(path: string, snapshot: string): string {
  const slash = path.lastIndexOf('/');
  const name = path.slice(slash + 1);
  const dot = name.lastIndexOf('.');
  const [stem, ext] = dot > 0 ? [name.slice(0, dot), name.slice(dot)] : [name, ''];
  return `${path.slice(0, slash + 1)}${stem} (from ${snapshot})${ext}`;
}

export function RestoreDialog({
  bridge,
  engine,
  volume,
  snapshot,
  entries,
  onClose,
  onDone,
}: {
  bridge: EngineBridge;
  engine: EngineState;
  volume: string;
  snapshot: string;
  entries: SnapshotEntry[];
  onClose: () => void;
  onDone: (notice: string) => void;
}) {
  const [mode, setMode] = useState<Mode>('place');
  const [folder, setFolder] = useState(() => localStorage.getItem(FOLDER_KEY) ?? '');
  const [running, setRunning] = useState(false);
  const what = entries.length === 1 ? entries[0]!.path : `${formatCount(entries.length)} items`;
  const job = running && mode === 'folder' ? runningJob(engine.jobs, 'snapshotExport') : null;

  const restore = async () => {
    setRunning(true);
    const safety = new Set<string>();
    const where: string[] = [];
    try {
      for (const entry of entries) {
        if (mode === 'folder') {
          localStorage.setItem(FOLDER_KEY, folder.trim());
          const done = await bridge.call('snapshotExport', { volume, snapshot, path: entry.path, to: folder.trim() });
          where.push(done.path);
        } else {
          const as = mode === 'beside' ? { as: besideName(entry.path, snapshot) } : {};
          const done = await bridge.call('snapshotRestore', { volume, snapshot, path: entry.path, ...as });
          where.push(done.path);
          if (done.safetySnapshot) safety.add(done.safetySnapshot);
        }
      }
      const kept = safety.size > 0 ? `; what it replaced is in ${[...safety].join(', ')}` : '';
      onDone(`Restored ${where.join(', ')}${kept}.`);
    } catch (error) {
      engine.report(error);
      if (where.length > 0) onDone(`Restored ${where.join(', ')} before the failure.`);
    } finally {
      setRunning(false);
      onClose();
    }
  };

  return (
    <div className="backdrop">
      <div role="alertdialog" aria-modal="true" aria-labelledby="restore-title" className="dialog">
        <h3 id="restore-title">
          Restore {what} from {snapshot}
        </h3>
        <fieldset disabled={running}>
          <legend className="visually-hidden">Where to</legend>
          <label className="choice">
            <input type="radio" checked={mode === 'place'} onChange={() => setMode('place')} />
            To where it was (what is there now is kept in an automatic snapshot first)
          </label>
          <label className="choice">
            <input type="radio" checked={mode === 'beside'} onChange={() => setMode('beside')} />
            Beside it, as a copy named “… (from {snapshot})”
          </label>
          <label className="choice">
            <input type="radio" checked={mode === 'folder'} onChange={() => setMode('folder')} />
            To a folder outside Bazil
          </label>
          {mode === 'folder' && (
            <label>
              Folder{' '}
              <input value={folder} onChange={(e) => setFolder(e.target.value)} placeholder="/home/me/Restored" />
            </label>
          )}
        </fieldset>
        {job && <JobProgress job={job} label="Restoring to the folder" />}
        <div className="row">
          <button onClick={onClose} disabled={running} autoFocus>
            Cancel
          </button>
          <button
            className="primary"
            disabled={running || (mode === 'folder' && folder.trim() === '')}
            onClick={() => void restore()}
          >
            Restore
          </button>
        </div>
      </div>
    </div>
  );
}
