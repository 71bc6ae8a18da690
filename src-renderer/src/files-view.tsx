/**
 * File-first: a volume's live tree as it is now (volumeLs, mounted or not, listed again as it
 * changes), browsed with the mouse or the keyboard (arrow keys move between entries, Enter opens, Backspace goes up); from any file
 * its versions across snapshots (restore any), and from any folder what changed in it since a
 * snapshot.
 */
import { useEffect, useRef, useState, type FormEvent, type KeyboardEvent } from 'react';
import type { DiffChange, SnapshotListing } from '../../src-main/common/api.js';
import { formatBytes } from '../../src-main/common/units.js';
import { DataTable } from './data-table.js';
import { DiffTable } from './diff-table.js';
import type { EngineBridge } from './engine-bridge.js';
import { FileVersions } from './file-versions.js';
import { formatTime } from './format-time.js';
import { PathCrumbs, parentOf } from './path-crumbs.js';
import type { EngineState } from './use-engine.js';
import { useRun } from './use-run.js';
import { chosenSnapshot, useSnapshots } from './use-snapshots.js';
import { VolumeSelect, useVolumeChoice } from './volume-choice.js';

export function FilesView({ bridge, engine }: { bridge: EngineBridge; engine: EngineState }) {
  const { names, shown, choose } = useVolumeChoice(engine);
  const [path, setPath] = useState('/');
  const [listing, setListing] = useState<SnapshotListing | null>(null);
  const [reloads, setReloads] = useState(0);
  const [versionsOf, setVersionsOf] = useState<string | null>(null);
  const snapshots = useSnapshots(bridge, engine, shown, { uniqueBytes: false });
  const [chosenSince, setSince] = useState('');
  const since = chosenSnapshot(snapshots, chosenSince);
  const [diff, setDiff] = useState<{ path: string; since: string; changes: DiffChange[] } | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const { busy, run } = useRun(engine.report);
  const list = useRef<HTMLDivElement>(null);
  /** The keyboard was in the list when a folder was opened: the new folder's first entry takes it. */
  const keepFocus = useRef(false);

  // Listed again when the files change: from a shell or another program (a mounted volume's
  // `files` events), or by a restore (a snapshot event, or the versions panel's own).
  const filesVersion = shown === null ? 0 : (engine.filesVersions.get(shown) ?? 0);
  useEffect(() => {
    if (shown === null) return;
    let current = true;
    bridge.call('volumeLs', { volume: shown, path }).then(
      (l) => current && setListing(l),
      (error: unknown) => {
        if (!current) return;
        engine.report(error);
        // The folder went away (deleted, or restored over): back to the root.
        if (path !== '/') setPath('/');
      },
    );
    return () => {
      current = false;
    };
  }, [bridge, engine.report, shown, path, reloads, filesVersion, engine.snapshotsVersion, engine.volumes]);

  useEffect(() => {
    if (!keepFocus.current || listing === null) return;
    keepFocus.current = false;
    (list.current?.querySelector<HTMLElement>('[data-entry]') ?? list.current)?.focus();
  }, [listing]);

  if (shown === null) return <p>No volumes yet: create one first.</p>;

  const open = (to: string) => {
    keepFocus.current = list.current?.contains(document.activeElement) ?? false;
    setListing(null);
    setVersionsOf(null);
    setDiff(null);
    setPath(to);
  };
  const onKeyDown = (e: KeyboardEvent<HTMLDivElement>) => {
    const entries = [...(list.current?.querySelectorAll<HTMLElement>('[data-entry]') ?? [])];
    const at = entries.indexOf(document.activeElement as HTMLElement);
    const move = (to: number) => {
      e.preventDefault();
      entries[Math.max(0, Math.min(entries.length - 1, to))]?.focus();
    };
    if (e.key === 'ArrowDown') move(at + 1);
    else if (e.key === 'ArrowUp' && !e.altKey) move(at < 0 ? 0 : at - 1);
    else if (e.key === 'Home') move(0);
    else if (e.key === 'End') move(entries.length - 1);
    else if ((e.key === 'Backspace' || (e.key === 'ArrowUp' && e.altKey)) && path !== '/') {
      if ((e.target as HTMLElement).tagName === 'INPUT') return;
      e.preventDefault();
      keepFocus.current = true;
      open(parentOf(path));
    }
  };
  const compare = (e: FormEvent) => {
    e.preventDefault();
    void run(async () => {
      const result = await bridge.call('snapshotDiff', { volume: shown, from: since, path });
      setDiff({ path, since, changes: result.changes });
    });
  };

  return (
    <div className="view">
      <h2>Files</h2>
      <div className="row">
        <VolumeSelect
          names={names}
          shown={shown}
          onChange={(name) => {
            choose(name);
            open('/');
          }}
        />
      </div>
      {notice && (
        <p role="status" className="notice">
          {notice}
        </p>
      )}
      <h3>
        {shown}: <PathCrumbs path={path} open={open} />
      </h3>
      <div ref={list} onKeyDown={onKeyDown} tabIndex={-1} aria-label={`Files in ${path}`} role="group">
        {listing === null ? (
          <p>Loading…</p>
        ) : listing.entries.length === 0 ? (
          <p className="muted">This folder is empty.</p>
        ) : (
          <DataTable columns={['Name', 'Size', 'Modified']} testId="live-tree">
            {listing.entries.map((entry) => (
              <tr key={entry.name} aria-selected={versionsOf === entry.path}>
                <td>
                  {entry.type === 'dir' ? (
                    <button className="link" data-entry onClick={() => open(entry.path)}>
                      {entry.name}/
                    </button>
                  ) : entry.type === 'file' ? (
                    <button
                      className="link"
                      data-entry
                      aria-label={`Versions of ${entry.path}`}
                      onClick={() => setVersionsOf(entry.path)}
                    >
                      {entry.name}
                    </button>
                  ) : (
                    <span>{entry.type === 'symlink' ? `${entry.name} → ${entry.target}` : entry.name}</span>
                  )}
                </td>
                <td data-label="Size">
                  {entry.type === 'file' ? formatBytes(entry.sizeBytes) : entry.type === 'dir' ? 'folder' : entry.type}
                </td>
                <td data-label="Modified">{formatTime(entry.mtime)}</td>
              </tr>
            ))}
          </DataTable>
        )}
      </div>
      {versionsOf !== null && (
        <FileVersions
          bridge={bridge}
          engine={engine}
          volume={shown}
          path={versionsOf}
          onDone={(text) => {
            setNotice(text);
            setReloads((n) => n + 1);
          }}
        />
      )}
      <h4>What changed in {path}</h4>
      {snapshots === null ? (
        <p>Loading…</p>
      ) : snapshots.length === 0 ? (
        <p className="muted">No snapshots of {shown} yet.</p>
      ) : (
        <form onSubmit={compare} className="row">
          <label>
            Since snapshot{' '}
            <select value={since} onChange={(e) => setSince(e.target.value)}>
              {snapshots.map((s) => (
                <option key={s.name}>{s.name}</option>
              ))}
            </select>
          </label>
          <button type="submit" disabled={busy || since === ''}>
            Show changes
          </button>
        </form>
      )}
      {diff !== null && diff.path === path && <DiffTable changes={diff.changes} testId="folder-diff" />}
    </div>
  );
}
