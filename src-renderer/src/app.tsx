/**
 * The window: which view is shown, the state of everything (all stored, dirty data pending, or an
 * error), and the errors the engine gave, in words.
 */
import { useMemo, useState } from 'react';
import { engineBridge } from './engine-bridge.js';
import { useEngine } from './use-engine.js';
import { useNotifications } from './use-notifications.js';
import { VolumesView } from './volumes-view.js';
import { DirtyView } from './dirty-view.js';
import { FilesView } from './files-view.js';
import { SnapshotsView } from './snapshots-view.js';
import { HistoryView } from './history-view.js';
import { StoreView } from './store-view.js';
import { formatBytes } from '../../src-main/common/units.js';

const VIEWS = {
  volumes: 'Volumes',
  files: 'Files',
  dirty: 'Dirty memory',
  snapshots: 'Snapshots',
  history: 'History',
  store: 'Store',
} as const;
type View = keyof typeof VIEWS;

export function App() {
  const bridge = useMemo(engineBridge, []);
  const notifications = useNotifications();
  const engine = useEngine(bridge, notifications.hear);
  const [view, setView] = useState<View>('volumes');
  const dirtyBytes = engine.dirty?.totalBytes ?? 0;
  const status =
    engine.errors.length > 0
      ? { kind: 'error', text: 'Something failed' }
      : dirtyBytes > 0
        ? { kind: 'dirty', text: `${formatBytes(dirtyBytes)} not yet stored` }
        : { kind: 'stored', text: 'Everything is stored' };
  return (
    <div className="app">
      <header>
        <h1>
          <img src="./bazil.svg" alt="" width="24" height="24" /> Bazil
        </h1>
        <nav aria-label="Views">
          {(Object.keys(VIEWS) as View[]).map((v) => (
            <button key={v} aria-pressed={view === v} onClick={() => setView(v)}>
              {VIEWS[v]}
            </button>
          ))}
        </nav>
        {notifications.offered && <button onClick={notifications.ask}>Turn on notifications</button>}
        <p className={`status status-${status.kind}`} role="status" data-testid="status">
          {status.text}
        </p>
      </header>
      <section aria-label="Errors" className="errors">
        {engine.errors.map((e) => (
          <div key={e.id} role="alert" className="error">
            <span>{e.message}</span>
            <button aria-label="Dismiss" onClick={() => engine.dismiss(e.id)}>
              ×
            </button>
          </div>
        ))}
      </section>
      <main>
        {view === 'volumes' && <VolumesView bridge={bridge} engine={engine} />}
        {view === 'files' && <FilesView bridge={bridge} engine={engine} />}
        {view === 'dirty' && <DirtyView engine={engine} />}
        {view === 'snapshots' && <SnapshotsView bridge={bridge} engine={engine} />}
        {view === 'history' && <HistoryView bridge={bridge} engine={engine} />}
        {view === 'store' && <StoreView bridge={bridge} engine={engine} />}
      </main>
    </div>
  );
}
