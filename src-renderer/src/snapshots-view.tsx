/**
 * Snapshots of a volume: take one with a click, see them on a line of time (snapshot-timeline.tsx)
 * and in a list (newest first, with what each holds and what deleting it would give back), browse
 * one (snapshot-tree.tsx), delete one (confirmed first).
 */
import { useState } from 'react';
import { formatBytes, formatCount } from '../../src-main/common/units.js';
import type { EngineBridge } from './engine-bridge.js';
import type { EngineState } from './use-engine.js';
import { VolumeSelect, useVolumeChoice } from './volume-choice.js';
import { formatTime } from './format-time.js';
import { DataTable } from './data-table.js';
import { useRun } from './use-run.js';
import { SnapshotTree } from './snapshot-tree.js';
import { useSnapshots } from './use-snapshots.js';
import { SnapshotTimeline } from './snapshot-timeline.js';

interface Confirming {
  question: string;
  action: string;
  run: () => Promise<unknown>;
}

export function SnapshotsView({ bridge, engine }: { bridge: EngineBridge; engine: EngineState }) {
  const { names, shown, choose } = useVolumeChoice(engine);
  const snapshots = useSnapshots(bridge, engine, shown);
  const [browsing, setBrowsing] = useState<{ snapshot: string; path: string } | null>(null);
  const [confirming, setConfirming] = useState<Confirming | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const { busy, run } = useRun(engine.report);

  if (shown === null) return <p>No volumes yet: create one first.</p>;
  return (
    <div className="view">
      <h2>Snapshots</h2>
      <div className="row">
        <VolumeSelect
          names={names}
          shown={shown}
          onChange={(name) => {
            choose(name);
            setBrowsing(null);
          }}
        />
        <button
          disabled={busy}
          onClick={() =>
            void run(async () => {
              const taken = await bridge.call('snapshotCreate', { volume: shown });
              setNotice(`Snapshot ${taken.name} taken: ${formatCount(taken.files)} files.`);
            })
          }
        >
          Take snapshot
        </button>
      </div>
      {notice && (
        <p role="status" className="notice">
          {notice}
        </p>
      )}
      {snapshots === null ? (
        <p>Loading…</p>
      ) : snapshots.length === 0 ? (
        <p className="muted">No snapshots of {shown} yet.</p>
      ) : (
        <>
          <SnapshotTimeline
            key={shown}
            snapshots={snapshots}
            selected={browsing?.snapshot ?? null}
            onSelect={(name) => setBrowsing({ snapshot: name, path: '/' })}
          />
          <DataTable columns={['Snapshot', 'Taken', 'Files', 'Size', 'Only here', '']} testId="snapshot-list">
            {[...snapshots].reverse().map((s) => (
              <tr key={s.name} aria-selected={browsing?.snapshot === s.name}>
                <th scope="row">
                  {s.name}
                  {s.automatic && <span className="tag">automatic</span>}
                </th>
                <td data-label="Taken">{formatTime(s.createdAt)}</td>
                <td data-label="Files">{formatCount(s.files)}</td>
                <td data-label="Size">{formatBytes(s.logicalBytes)}</td>
                <td data-label="Only here">{s.uniqueBytes === null ? '' : formatBytes(s.uniqueBytes)}</td>
                <td className="row">
                  <button onClick={() => setBrowsing({ snapshot: s.name, path: '/' })}>Browse</button>
                  <button
                    disabled={busy}
                    onClick={() =>
                      setConfirming({
                        question: `Delete snapshot ${s.name} of ${shown}? Its space comes back with the next garbage collection.`,
                        action: 'Delete',
                        run: async () => {
                          await bridge.call('snapshotDelete', { volume: shown, snapshot: s.name });
                          if (browsing?.snapshot === s.name) setBrowsing(null);
                          setNotice(`Snapshot ${s.name} deleted.`);
                        },
                      })
                    }
                  >
                    Delete
                  </button>
                </td>
              </tr>
            ))}
          </DataTable>
        </>
      )}
      {browsing && (
        <SnapshotTree
          bridge={bridge}
          engine={engine}
          volume={shown}
          snapshot={browsing.snapshot}
          path={browsing.path}
          open={(path) => setBrowsing({ ...browsing, path })}
          notice={setNotice}
        />
      )}
      {confirming && (
        <div className="backdrop">
          <div role="alertdialog" aria-modal="true" aria-labelledby="confirm-question" className="dialog">
            <p id="confirm-question">{confirming.question}</p>
            <div className="row">
              <button onClick={() => setConfirming(null)} autoFocus>
                Cancel
              </button>
              <button
                className="primary"
                onClick={() => {
                  const { run: work } = confirming;
                  setConfirming(null);
                  void run(work);
                }}
              >
                {confirming.action}
              </button>
            </div>
          </div>
        </div>
      )}
    </div>
  );
}
