/**
 * Deleting a snapshot: its record goes, in one transaction. The tree objects and the data only it
 * held stay in the store until garbage collection (`bazil gc`), which finds them unreferenced.
 */
import { BazilError, quote } from '../../common/errors.js';
import { snapshotKey, type VolumeRecord } from '../store/format.js';
import type { Store } from '../store/store.js';

export function deleteSnapshot(store: Store, volume: VolumeRecord, name: string): void {
  const key = snapshotKey(volume.id, name);
  const removed = store.env.transactionSync(() => store.dbs.snapshots.removeSync(key));
  if (!removed) {
    throw new BazilError(
      'ENOENT',
      `volume ${quote(volume.name)} has no snapshot named ${quote(name)} (bazil snapshot list ${volume.name})`,
    );
  }
}
