/**
 * Volumes: create one, mount it at a folder, unmount it; where each is mounted and the dirty
 * bytes it holds; the store's size.
 */
import { useState, type FormEvent } from 'react';
import type { VolumeInfo } from '../../src-main/common/api.js';
import { formatBytes } from '../../src-main/common/units.js';
import type { EngineBridge } from './engine-bridge.js';
import type { EngineState } from './use-engine.js';
import { DataTable } from './data-table.js';
import { useRun } from './use-run.js';

/** The folder a volume was last mounted at, offered again (the first mount asks for one). */
const rememberedKey = (volume: string) => `bazil.mountpoint.${volume}`;

export function VolumesView({ bridge, engine }: { bridge: EngineBridge; engine: EngineState }) {
  const [name, setName] = useState('');
  const { busy, run } = useRun(engine.report);

  const create = (e: FormEvent) => {
    e.preventDefault();
    void run(async () => {
      await bridge.call('volumeCreate', { name: name.trim() });
      setName('');
    });
  };

  const dirtyOf = (volume: string) => engine.dirty?.volumes.find((v) => v.name === volume)?.dirtyBytes ?? 0;

  return (
    <div className="view">
      <h2>Volumes</h2>
      <p className="muted" data-testid="store-size">
        Store: {engine.storeBytes === null ? '…' : formatBytes(engine.storeBytes)} on disk
      </p>
      {engine.volumes === null ? (
        <p>Loading…</p>
      ) : engine.volumes.length === 0 ? (
        <p>No volumes yet. Create one below.</p>
      ) : (
        <DataTable columns={['Volume', 'Mounted at', 'Dirty', '']}>
          {engine.volumes.map((v) => (
            <VolumeRow key={v.name} volume={v} dirtyBytes={dirtyOf(v.name)} busy={busy} run={run} bridge={bridge} />
          ))}
        </DataTable>
      )}
      <form onSubmit={create} className="row">
        <label>
          New volume{' '}
          <input
            value={name}
            onChange={(e) => setName(e.target.value)}
            placeholder="photos"
            aria-describedby="volume-name-help"
          />
        </label>
        <button type="submit" disabled={name.trim() === '' || busy}>
          Create volume
        </button>
        <span id="volume-name-help" className="muted">
          letters, digits, “.”, “_” or “-”
        </span>
      </form>
    </div>
  );
}

function VolumeRow({
  volume,
  dirtyBytes,
  busy,
  run,
  bridge,
}: {
  volume: VolumeInfo;
  dirtyBytes: number;
  busy: boolean;
  run: (work: () => Promise<unknown>) => Promise<void>;
  bridge: EngineBridge;
}) {
  const [folder, setFolder] = useState(() => localStorage.getItem(rememberedKey(volume.name)) ?? '');
  const mount = (e: FormEvent) => {
    e.preventDefault();
    void run(async () => {
      const info = await bridge.call('mount', { name: volume.name, mountpoint: folder.trim() });
      localStorage.setItem(rememberedKey(volume.name), info.mountpoint ?? folder.trim());
    });
  };
  return (
    <tr data-testid={`volume-${volume.name}`}>
      <th scope="row">{volume.name}</th>
      <td>
        {volume.mountpoint ?? (
          <form onSubmit={mount} className="row">
            <label className="visually-hidden" htmlFor={`folder-${volume.name}`}>
              Folder to mount {volume.name} at
            </label>
            <input
              id={`folder-${volume.name}`}
              value={folder}
              onChange={(e) => setFolder(e.target.value)}
              placeholder="/home/me/Photos (an empty folder)"
            />
            <button type="submit" disabled={folder.trim() === '' || busy}>
              Mount
            </button>
          </form>
        )}
      </td>
      <td data-label="Dirty" data-testid={`dirty-${volume.name}`}>
        {formatBytes(dirtyBytes)}
      </td>
      <td>
        {volume.mountpoint && (
          <button disabled={busy} onClick={() => void run(() => bridge.call('unmount', { name: volume.name }))}>
            Unmount
          </button>
        )}
      </td>
    </tr>
  );
}
