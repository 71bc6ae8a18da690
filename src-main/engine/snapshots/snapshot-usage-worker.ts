/** The thread of a snapshot usage count (snapshot-usage.ts): opens the store read-only, answers, ends. */
import { parentPort, workerData } from 'node:worker_threads';
import { openStoreDbs } from '../store/store.js';
import { asBuffer } from '../store/format.js';
import { installEngineLog } from '../engine-log.js';
import { uniqueBytesOf, type UsageWorkerData } from './snapshot-usage.js';

installEngineLog();

const { dataDir, volumeId } = workerData as UsageWorkerData;
const { env, dbs } = openStoreDbs(dataDir, { readOnly: true });
const snapshot = env.useReadTransaction();
let answer: { unique: [string, number][] } | { error: string };
try {
  const inSnapshot = () => ({ transaction: snapshot });
  const unique = uniqueBytesOf(
    {
      *inodes() {
        for (const { value } of dbs.inodes.getRange(inSnapshot())) yield value;
      },
      snapshots: () => dbs.snapshots.getRange(inSnapshot()),
      manifest: (key) => dbs.manifests.get(asBuffer(key), inSnapshot()),
      tree: (key) => dbs.trees.get(asBuffer(key), inSnapshot()),
    },
    volumeId,
  );
  answer = { unique: [...unique] };
} catch (error) {
  answer = { error: error instanceof Error ? error.message : String(error) };
}
snapshot.done();
parentPort!.postMessage(answer);
void env.close().finally(() => process.exit(0));
