/**
 * Dirty memory, live: what written data not yet stored holds, against the engine's cap, in all,
 * per volume and per file, with the last minutes of the total as a graph.
 */
import { formatBytes } from '../../src-main/common/units.js';
import { DataTable } from './data-table.js';
import { DIRTY_HISTORY_MS, type DirtySample, type EngineState } from './use-engine.js';

export function DirtyView({ engine }: { engine: EngineState }) {
  const dirty = engine.dirty;
  if (!dirty) return <p>Loading…</p>;
  const share = dirty.capBytes > 0 ? dirty.totalBytes / dirty.capBytes : 0;
  return (
    <div className="view">
      <h2>Dirty memory</h2>
      <p data-testid="dirty-total">
        {formatBytes(dirty.totalBytes)} of {formatBytes(dirty.capBytes)} cap ({Math.round(share * 100)}%)
      </p>
      <meter min={0} max={dirty.capBytes} value={dirty.totalBytes} aria-label="Dirty memory against the cap" />
      <DirtyGraph history={engine.dirtyHistory} capBytes={dirty.capBytes} />
      <h3>Per volume</h3>
      {dirty.volumes.length === 0 ? (
        <p className="muted">No volume holds dirty data.</p>
      ) : (
        <ul>
          {dirty.volumes.map((v) => (
            <li key={v.name}>
              {v.name}: {formatBytes(v.dirtyBytes)}
            </li>
          ))}
        </ul>
      )}
      <h3>Per file</h3>
      {dirty.files.length === 0 ? (
        <p className="muted" data-testid="no-dirty-files">
          No file holds dirty data: everything written is stored.
        </p>
      ) : (
        <DataTable columns={['Volume', 'File', 'Dirty']} testId="dirty-files">
          {dirty.files.map((f) => (
            <tr key={`${f.volume}:${f.path}`}>
              <td data-label="Volume">{f.volume}</td>
              <td data-label="File">{f.path}</td>
              <td data-label="Dirty">{formatBytes(f.dirtyBytes)}</td>
            </tr>
          ))}
        </DataTable>
      )}
    </div>
  );
}

const WIDTH = 600;
const HEIGHT = 120;

function DirtyGraph({ history, capBytes }: { history: DirtySample[]; capBytes: number }) {
  const now = history.at(-1)?.atMs ?? 0;
  const x = (atMs: number) => WIDTH - ((now - atMs) / DIRTY_HISTORY_MS) * WIDTH;
  const y = (bytes: number) => HEIGHT - (Math.min(bytes, capBytes) / Math.max(capBytes, 1)) * (HEIGHT - 4);
  const points = history.map((s) => `${x(s.atMs).toFixed(1)},${y(s.totalBytes).toFixed(1)}`).join(' ');
  return (
    <figure>
      <svg
        viewBox={`0 0 ${WIDTH} ${HEIGHT}`}
        className="graph"
        preserveAspectRatio="none"
        role="img"
        aria-label="Dirty memory over the last five minutes"
      >
        <line x1="0" x2={WIDTH} y1={y(capBytes)} y2={y(capBytes)} className="cap" />
        <polyline points={points} className="total" />
      </svg>
      <figcaption className="muted">The last five minutes; the top line is the cap.</figcaption>
    </figure>
  );
}
