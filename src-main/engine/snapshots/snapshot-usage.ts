/**
 * The bytes only one snapshot holds: chunk bytes that no other snapshot (of any volume) and no
 * live file names, so deleting that snapshot and collecting garbage gives them back. For
 * `snapshot list`, computed in a thread of its own over the committed store (a read transaction):
 * the engine's thread, serving the mounts, does not wait.
 *
 * How: every tree, manifest and chunk gets a holder: the one snapshot that reaches it, or "many"
 * (two snapshots, a live file, another volume's snapshot). A holder spreads down from each
 * snapshot's root and from every live inode; a node is visited again only when its holder
 * changes, which happens at most twice (none, one snapshot, many), so shared subtrees cost little
 * more than once however many snapshots share them.
 */
import { Worker } from 'node:worker_threads';
import {
  decodeInodeManifestKey,
  decodeManifestBlob,
  decodeSnapshot,
  decodeTree,
  isHole,
  snapshotNameFromKey,
  volumePrefix,
} from '../store/format.js';

/** Holder: a snapshot's index (0, 1, ...), or MANY. */
const MANY = -1;
const merge = (held: number | undefined, by: number) => (held === undefined || held === by ? by : MANY);

export interface UsageView {
  /** Every inode record of every volume. */
  inodes(): Iterable<Uint8Array>;
  /** Every snapshot record with its key (volume id and name). */
  snapshots(): Iterable<{ key: Uint8Array; value: Uint8Array }>;
  manifest(key: Uint8Array): Uint8Array | undefined;
  tree(key: Uint8Array): Uint8Array | undefined;
}

const hexOf = (key: Uint8Array) => Buffer.from(key.buffer, key.byteOffset, key.byteLength).toString('hex');

/** Per snapshot of `volumeId`, by name: the chunk bytes it alone holds. */
export function uniqueBytesOf(view: UsageView, volumeId: number): Map<string, number> {
  const trees = new Map<string, number>();
  const manifests = new Map<string, number>();
  const chunks = new Map<string, { holder: number; sizeBytes: number }>();

  const holdManifest = (key: Uint8Array, by: number): void => {
    const hex = hexOf(key);
    const held = manifests.get(hex);
    const next = merge(held, by);
    if (next === held) return;
    manifests.set(hex, next);
    const bytes = view.manifest(key);
    if (bytes === undefined) return;
    const blob = decodeManifestBlob(bytes);
    if (blob.kind === 'tree') {
      for (const child of blob.children) holdManifest(child.key, next);
      return;
    }
    for (const chunk of blob.chunks) {
      if (isHole(chunk)) continue;
      const chunkHex = hexOf(chunk.key);
      const found = chunks.get(chunkHex);
      if (found) found.holder = merge(found.holder, next);
      else chunks.set(chunkHex, { holder: next, sizeBytes: chunk.sizeBytes });
    }
  };
  const holdTree = (key: Uint8Array, by: number): void => {
    const hex = hexOf(key);
    const held = trees.get(hex);
    const next = merge(held, by);
    if (next === held) return;
    trees.set(hex, next);
    const bytes = view.tree(key);
    if (bytes === undefined) return;
    for (const entry of decodeTree(bytes)) {
      if (entry.treeKey) holdTree(entry.treeKey, next);
      const manifestKey = decodeInodeManifestKey(entry.record);
      if (manifestKey) holdManifest(manifestKey, next);
    }
  };

  for (const record of view.inodes()) {
    const manifestKey = decodeInodeManifestKey(record);
    if (manifestKey) holdManifest(manifestKey, MANY);
  }
  const prefix = Buffer.from(volumePrefix(volumeId));
  const names: string[] = [];
  for (const { key, value } of view.snapshots()) {
    const ours = Buffer.from(key.buffer, key.byteOffset, prefix.length).equals(prefix);
    const root = decodeSnapshot('', value).rootTreeKey;
    if (!ours) {
      holdTree(root, MANY);
      continue;
    }
    names.push(snapshotNameFromKey(key));
    holdTree(root, names.length - 1);
  }
  const unique = new Map(names.map((name) => [name, 0]));
  for (const { holder, sizeBytes } of chunks.values()) {
    if (holder !== MANY) unique.set(names[holder]!, unique.get(names[holder]!)! + sizeBytes);
  }
  return unique;
}

export interface UsageWorkerData {
  dataDir: string;
  volumeId: number;
}

/** `uniqueBytesOf` in a thread of its own (snapshot-usage-worker.ts). */
export function uniqueBytesInThread(data: UsageWorkerData): Promise<Map<string, number>> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(new URL('./snapshot-usage-worker.js', import.meta.url), { workerData: data });
    let answered = false;
    worker.once('message', (answer: { unique: [string, number][] } | { error: string }) => {
      answered = true;
      if ('error' in answer) reject(new Error(`snapshot usage: ${answer.error}`));
      else resolve(new Map(answer.unique));
    });
    worker.once('error', reject);
    worker.once('exit', (code) => {
      if (!answered) reject(new Error(`snapshot usage: its thread ended (exit code ${code})`));
    });
  });
}
