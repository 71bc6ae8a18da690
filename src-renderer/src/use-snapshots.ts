/**
 * A volume's snapshots (oldest first), loaded again whenever one is taken, deleted or restored;
 * null while they load. Views that list or offer snapshots share it; those that only offer names
 * ask for no unique bytes (see snapshotList).
 */
import { useEffect, useState } from 'react';
import type { SnapshotInfo } from '../../src-main/common/api.js';
import type { EngineBridge } from './engine-bridge.js';
import type { EngineState } from './use-engine.js';

export function useSnapshots(
  bridge: EngineBridge,
  engine: EngineState,
  volume: string | null,
  { uniqueBytes = true }: { uniqueBytes?: boolean } = {},
): SnapshotInfo[] | null {
  const [loaded, setLoaded] = useState<{ volume: string; list: SnapshotInfo[] } | null>(null);
  useEffect(() => {
    if (volume === null) return;
    let current = true;
    bridge
      .call('snapshotList', { volume, uniqueBytes })
      .then((list) => current && setLoaded({ volume, list }), engine.report);
    return () => {
      current = false;
    };
  }, [bridge, engine.report, volume, uniqueBytes, engine.snapshotsVersion]);
  return loaded?.volume === volume ? loaded.list : null;
}

/** The snapshot chosen in a select while it exists, else the newest ("" when there is none). */
export function chosenSnapshot(snapshots: SnapshotInfo[] | null, chosen: string): string {
  return snapshots?.some((s) => s.name === chosen) ? chosen : (snapshots?.at(-1)?.name ?? '');
}
