/**
 * `bazil verify`: reads every chunk that a live file or a snapshot names and checks it against
 * its key (its SHA-256), and names every file that a missing or damaged chunk or manifest breaks,
 * by volume, snapshot (null: the live volume) and path.
 *
 * Each chunk is read and hashed once however many files and snapshots name it, and a directory
 * that snapshots share (one tree key) is checked once. What a mounted volume holds in memory and
 * has not stored yet is not checked (it is not on the disk). Reads go through the page cache, so
 * a change to a pack file on the disk is seen. The engine's thread yields between chunks: the
 * mounts stay served while it runs.
 */
import type { ProgressSink, VerifyProblem, VerifyResult } from '../common/api.js';
import {
  S_IFMT,
  S_IFDIR,
  ROOT_INO,
  decodeDirentValue,
  decodeInodeManifestKey,
  decodeInodeMode,
  decodeVolume,
  direntNameFromKey,
  direntPrefix,
  inodeKey,
  isHole,
  type VolumeRecord,
} from './store/format.js';
import { chunkKeyOf, type Store } from './store/store.js';
import { listSnapshots, readTree } from './snapshots/browse-snapshot.js';

type Problem = VerifyProblem['problem'];

const hex = (key: Uint8Array) => Buffer.from(key).toString('hex');
/** Chunks checked between two turns of the event loop. */
const CHUNKS_PER_TURN = 16;

export async function verifyStore(store: Store, progress?: ProgressSink): Promise<VerifyResult> {
  const started = Date.now();
  // At most every chunk stored is read: the total an ETA can go by.
  const { chunkCount } = store.stats();
  const chunks = new Map<string, Problem | null>();
  const manifests = new Map<string, Problem | null>();
  let checkedChunks = 0;
  let checkedBytes = 0;
  let sinceTurn = 0;

  const checkChunk = async (key: Uint8Array): Promise<Problem | null> => {
    const id = hex(key);
    const known = chunks.get(id);
    if (known !== undefined) return known;
    let problem: Problem | null = null;
    let bytes: Buffer | undefined;
    try {
      bytes = store.readChunk(key);
    } catch {
      bytes = undefined; // a pack cut short
    }
    if (!bytes) problem = 'missing chunk';
    else if (!chunkKeyOf(bytes).equals(Buffer.from(key))) problem = 'damaged chunk';
    checkedChunks++;
    checkedBytes += bytes?.length ?? 0;
    chunks.set(id, problem);
    if (++sinceTurn >= CHUNKS_PER_TURN) {
      sinceTurn = 0;
      progress?.({ phase: 'checking chunks', done: checkedChunks, total: chunkCount, unit: 'items' });
      await new Promise((resolve) => setImmediate(resolve));
    }
    return problem;
  };

  /** A file's content: its manifest, then every chunk it lists (the first problem found). */
  const checkContent = async (manifestKey: Uint8Array): Promise<Problem | null> => {
    const id = hex(manifestKey);
    const known = manifests.get(id);
    if (known !== undefined) return known;
    let problem: Problem | null = null;
    let refs;
    try {
      refs = store.getManifest(manifestKey);
    } catch {
      refs = null;
    }
    if (!refs) problem = 'missing manifest';
    else {
      // Every chunk is read, past a broken one: the count says what was checked.
      for (const ref of refs) {
        if (isHole(ref)) continue;
        const found = await checkChunk(ref.key);
        problem ??= found;
      }
    }
    manifests.set(id, problem);
    return problem;
  };

  const damaged: VerifyProblem[] = [];
  const volumes: VolumeRecord[] = [...store.dbs.volumes.getRange({})].map(({ value }) => decodeVolume(value));
  for (const volume of volumes) {
    // The live tree, as committed.
    const walk = async (dirIno: number, path: string): Promise<void> => {
      const range = store.dbs.dirents.getRange({
        start: direntPrefix(volume.id, dirIno),
        end: direntPrefix(volume.id, dirIno + 1),
      });
      for (const { key, value } of [...range]) {
        const ino = decodeDirentValue(value);
        const at = `${path}/${direntNameFromKey(key)}`;
        const record = store.dbs.inodes.get(inodeKey(volume.id, ino));
        if (!record) continue;
        if ((decodeInodeMode(record) & S_IFMT) === S_IFDIR) {
          await walk(ino, at);
          continue;
        }
        const manifestKey = decodeInodeManifestKey(record);
        const problem = manifestKey && (await checkContent(manifestKey));
        if (problem) damaged.push({ volume: volume.name, snapshot: null, path: at, problem });
      }
    };
    await walk(ROOT_INO, '');
    // Each snapshot; a tree's broken paths are found once and shared by every snapshot holding it.
    const trees = new Map<string, { path: string; problem: Problem }[]>();
    const brokenUnder = async (treeKey: Uint8Array): Promise<{ path: string; problem: Problem }[]> => {
      const known = trees.get(hex(treeKey));
      if (known) return known;
      const found: { path: string; problem: Problem }[] = [];
      for (const entry of readTree(store, treeKey)) {
        const at = `/${entry.name}`;
        if (entry.treeKey) {
          for (const below of await brokenUnder(entry.treeKey)) found.push({ ...below, path: at + below.path });
          continue;
        }
        const manifestKey = decodeInodeManifestKey(entry.record);
        const problem = manifestKey && (await checkContent(manifestKey));
        if (problem) found.push({ path: at, problem });
      }
      trees.set(hex(treeKey), found);
      return found;
    };
    for (const snapshot of listSnapshots(store, volume.id)) {
      for (const broken of await brokenUnder(snapshot.rootTreeKey)) {
        damaged.push({ volume: volume.name, snapshot: snapshot.name, ...broken });
      }
    }
  }
  return { checkedChunks, checkedBytes, damaged, ms: Date.now() - started };
}
