/**
 * The thread of a space scan (space-scan.ts). It opens the store read-only and takes the mark's
 * snapshot (mark.ts, step 3) as it starts; told what was announced meanwhile, it marks the live
 * keys and accounts for every candidate and pack byte (space-report.ts), answers, and ends.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { openStoreDbs, packsDirOf } from './store.js';
import { markLive, type MemoryRoots, type NamedKeys } from './mark.js';
import { planCollection } from './collect-plan.js';
import { accountSpace } from './space-report.js';
import { unpackKeys } from './key-set.js';
import { installEngineLog } from '../engine-log.js';
import {
  Cancelled,
  snapshotView,
  type PackedKeys,
  type ScanWorkerData,
  type ScanRequest,
  type ScanAnswer,
} from './space-scan.js';

installEngineLog();

const { dataDir, collect, memory, mountedVolumeIds, packs, cancel } = workerData as ScanWorkerData;
const { env, dbs } = openStoreDbs(dataDir, { readOnly: true });
const snapshot = env.useReadTransaction();
parentPort!.postMessage({ snapshot: true } satisfies ScanAnswer);
const view = snapshotView(dbs, snapshot, packsDirOf(dataDir), cancel);

function scan(request: Exclude<ScanRequest, { cancel: true }>): ScanAnswer {
  const roots: MemoryRoots = { mountedVolumeIds, ...unpacked(memory) };
  const announced = unpacked(request.announced);
  // Plain reads (manifests) from the latest commit on; the snapshot, held, stays as it was.
  env.resetReadTxn();
  const entries = (db: typeof dbs.chunks) => (db.getStats() as { entryCount?: number }).entryCount ?? 0;
  const live = markLive(view, roots, announced, entries(dbs.packedChunks) + entries(dbs.chunks));
  return { report: accountSpace(view, live, packs), plan: collect ? planCollection(view, live, packs) : null };
}

function unpacked(keys: PackedKeys): NamedKeys {
  return {
    manifestKeys: [...unpackKeys(keys.manifestKeys)],
    chunkKeys: [...unpackKeys(keys.chunkKeys)],
    treeKeys: [...unpackKeys(keys.treeKeys)],
  };
}

parentPort!.once('message', (request: ScanRequest) => {
  let answer: ScanAnswer;
  try {
    if ('cancel' in request) throw new Cancelled();
    answer = scan(request);
  } catch (error) {
    answer = {
      error: error instanceof Cancelled ? 'cancelled' : error instanceof Error ? error.message : String(error),
    };
  }
  snapshot.done();
  parentPort!.postMessage(answer);
  env
    .close()
    .catch(() => undefined)
    .finally(() => process.exit(0));
});
