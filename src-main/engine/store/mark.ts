/**
 * The mark: which stored chunks, manifests and snapshot trees are live. The space report
 * (space-report.ts) counts everything else as reclaimable; garbage collection (collect-plan.ts,
 * sweep.ts) deletes it, so the mark must never call garbage what a file needs, now or in a moment.
 *
 * Terms (the rest: format.ts):
 * - name: an inode names its manifest; a manifest names its chunks, and a tree node its child
 *   manifests; a hole names nothing. In a mounted volume's memory, an inode names the manifest it
 *   will commit; a file's content names its base (the chunks an early flush stored that no
 *   manifest lists yet, see ../chunking/rechunk.ts); queued metadata names the small-file chunk
 *   and manifest it will commit.
 * - snapshot: its tree objects name inode records as a volume's inodes do; what they name is live
 *   while the snapshot exists (snapshots are taken and deleted in single transactions).
 * - live inode: an inode record of a volume, except an orphan (`orphans`) of a volume that is not
 *   mounted: a crash left it, unlinked while open, and the next mount deletes it unread. An orphan
 *   of a mounted volume is a file still open.
 * - live key: a key named, directly or through manifests, by a live inode or by the memory of a
 *   mounted volume (a memory root).
 * - candidate: an entry of `packed-chunks`, `chunks` or `manifests` in the snapshot.
 * - garbage: a candidate that is not live.
 * - announcement: a key the engine names while a mark runs, reported to it through the MarkFeed
 *   by the places where stored keys get named: a chunk worker's answer (ChunkPool.onAnswer), a
 *   manifest put by the engine's thread (Store.putManifest), new content recorded in an inode
 *   (VolumeFs, onStored).
 *
 * The mark, in order:
 * 1. open a feed session (S), then let one turn of the event loop pass, so that answers that came
 *    before S have been applied to memory;
 * 2. collect the memory roots of every volume mounted or being mounted, in one synchronous step
 *    (M), and which packs chunk workers are writing, up to where;
 * 3. snapshot the store: a read transaction (T), begun after M (in the thread that reads it);
 * 4. wait until the flushes in flight at T (chunk worker jobs, manifest puts) have answered, then
 *    close the session;
 * 5. live = what the live inodes of T, the memory roots of M and the announced keys name
 *    (`markLive`); the candidates are read from T.
 *
 * Invariant: a key stored while the mark runs is never garbage, nor is any key named at some
 * moment between T and the end of the mark. Why:
 * - a key stored after T is not in the snapshot, so it is no candidate;
 * - a key that a committed inode names at T is reached from the inodes of T;
 * - a key named in memory at M is a memory root; one named in memory after M is announced (the
 *   session is open from before M to the end);
 * - an inode record committed after T was encoded from memory when it was committed (metadata is
 *   written behind, never older than memory), so what it names was named in memory after M: a
 *   memory root, or announced;
 * - a key stored before T but not yet named at T belongs to a flush in flight at T (a chunk worker
 *   commits its chunks and manifest before it answers; the engine names them when the answer
 *   arrives; a manifest put resolves before the inode names it): the mark waits for that answer,
 *   which announces them.
 * What the rest of the engine must keep for this to hold: stored keys are named in the turn their
 * flush answers (as FileContent does), or announced where they are named.
 *
 * Deduplication: a flush may name a chunk that was garbage at T (a chunk worker finds it in the
 * index instead of storing it again), after the mark ended; a space report then counted as
 * reclaimable what was garbage a moment before. A collection (sweep.ts) keeps the session open
 * until its deletions commit, deletes nothing announced, and deletes while no chunk worker runs.
 * Trees: what snapshots and the tree cache (`tree-cache`) name is live; a tree written or found
 * by a snapshot or a diff while a mark runs is announced (writeVolumeTree).
 */
import {
  decodeCachedTree,
  decodeInodeManifestKey,
  decodeManifestBlob,
  decodeSnapshot,
  decodeTree,
  isHole,
  type ChunkRef,
} from './format.js';
import { KeySet } from './key-set.js';

/** Content keys named in memory (memory roots), or announced. */
export interface ContentKeys {
  manifestKeys: Uint8Array[];
  chunkKeys: Uint8Array[];
}

/** Keys announced while a mark runs. */
export interface NamedKeys extends ContentKeys {
  /** Tree objects a snapshot or a diff wrote or found (memory names none). */
  treeKeys: Uint8Array[];
}

export interface MemoryRoots extends ContentKeys {
  /** Volumes mounted or being mounted at M: their orphans are open files. */
  mountedVolumeIds: number[];
}

/**
 * A pack as the mark found it at M: finished (`endBytes` null: all of the file counts), or being
 * written by a chunk worker (only its first `endBytes` count, the length the engine has heard of:
 * bytes past it belong to a flush in flight).
 */
export interface PackAtMark {
  packId: number;
  endBytes: number | null;
}

/** What the engine gives a mark. */
export interface MarkSources {
  feed: MarkFeed;
  /** The memory roots now: one synchronous step. */
  memoryRoots(): MemoryRoots;
  /** The packs the engine knows of now, and which of them chunk workers are writing. */
  packs(): PackAtMark[];
  /** Resolves when the flushes in flight now (chunk worker jobs, manifest puts) have answered. */
  flushesAnswered(): Promise<void>;
}

/** The engine's announcements to the marks running (none, mostly: then an announcement is one check). */
export class MarkFeed {
  private readonly sessions = new Set<NamedKeys>();

  /** The engine names these now: a manifest (with what it names), and chunks. */
  announce(manifestKey: Uint8Array | null, chunks: readonly ChunkRef[] = []): void {
    for (const session of this.sessions) {
      if (manifestKey) session.manifestKeys.push(manifestKey);
      for (const chunk of chunks) if (!isHole(chunk)) session.chunkKeys.push(chunk.key);
    }
  }

  /** The engine names this tree object now (a snapshot or a diff wrote it, or found it stored). */
  announceTree(treeKey: Uint8Array): void {
    for (const session of this.sessions) session.treeKeys.push(treeKey);
  }

  /**
   * Records announcements from now until `close`, which returns them; `keys` are the ones so far
   * (the arrays grow while the session is open).
   */
  open(): { keys: NamedKeys; close(): NamedKeys } {
    const keys: NamedKeys = { manifestKeys: [], chunkKeys: [], treeKeys: [] };
    this.sessions.add(keys);
    return {
      keys,
      close: () => {
        this.sessions.delete(keys);
        return keys;
      },
    };
  }
}

const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

/**
 * Steps 1, 2 and 4 of the mark, on the engine's thread. The caller takes the snapshot (step 3)
 * after `begin` and before `settle`, and runs `markLive` (step 5) where the snapshot is.
 */
export class Mark {
  private constructor(
    private readonly session: { keys: NamedKeys; close(): NamedKeys },
    private readonly sources: MarkSources,
    readonly memory: MemoryRoots,
    readonly packs: PackAtMark[],
  ) {}

  static async begin(sources: MarkSources): Promise<Mark> {
    const session = sources.feed.open();
    await nextTurn();
    return new Mark(session, sources, sources.memoryRoots(), sources.packs());
  }

  /**
   * Call once the snapshot is taken: waits for the flushes in flight and returns what was
   * announced. The session ends, unless `keepOpen` (a collection: it goes on recording until its
   * deletions are committed, `announced` then has the rest, and `abandon` ends it).
   */
  async settle({ keepOpen = false } = {}): Promise<NamedKeys> {
    try {
      await this.sources.flushesAnswered();
      // What an answer's continuation names in its turn is announced by then.
      await nextTurn();
    } catch (error) {
      this.session.close();
      throw error;
    }
    if (!keepOpen) return this.session.close();
    const { manifestKeys, chunkKeys, treeKeys } = this.session.keys;
    return { manifestKeys: [...manifestKeys], chunkKeys: [...chunkKeys], treeKeys: [...treeKeys] };
  }

  /** Everything announced since the mark began (growing while the session is open). */
  get announced(): NamedKeys {
    return this.session.keys;
  }

  /** Ends the session without waiting (the mark was given up, or its collection is committed). */
  abandon(): void {
    this.session.close();
  }
}

/** What `markLive` reads: the inodes and orphans of the snapshot, and manifests. */
export interface MarkView {
  /** Every inode record of the snapshot, with its key (volume id, inode number). */
  inodes(): Iterable<{ key: Uint8Array; value: Uint8Array }>;
  /** The keys of `orphans` in the snapshot. */
  orphans(): Iterable<Uint8Array>;
  /** A manifest blob, or undefined: one committed by now (in the snapshot or later; they never change). */
  manifest(key: Uint8Array): Uint8Array | undefined;
  /** Every snapshot record of the snapshot (their trees name content as inodes do). */
  snapshots(): Iterable<Uint8Array>;
  /** A tree object (committed with its snapshot, never changed). */
  tree(key: Uint8Array): Uint8Array | undefined;
  /** Every `tree-cache` value of the snapshot: the next snapshot reuses the trees they name. */
  cachedTrees(): Iterable<Uint8Array>;
}

export interface LiveSet {
  chunks: KeySet;
  manifests: KeySet;
  /** Tree objects that a snapshot or the tree cache names, and those under them. */
  trees: KeySet;
  /** Orphans of volumes not mounted: files a crash left unlinked, not live. */
  orphanFiles: number;
}

const volumeIdOfInodeKey = (key: Uint8Array) => ((key[0]! << 24) | (key[1]! << 16) | (key[2]! << 8) | key[3]!) >>> 0;
const hexOf = (key: Uint8Array) => Buffer.from(key.buffer, key.byteOffset, key.byteLength).toString('hex');

/** Step 5: the live set, from the live inodes of the snapshot, the memory roots and the announced keys. */
export function markLive(view: MarkView, memory: MemoryRoots, announced: NamedKeys, expectedChunks = 1024): LiveSet {
  const live: LiveSet = {
    chunks: new KeySet(expectedChunks),
    manifests: new KeySet(),
    trees: new KeySet(),
    orphanFiles: 0,
  };
  const visit = (manifestKey: Uint8Array): void => {
    if (!live.manifests.add(manifestKey)) return;
    // Missing: a small file's manifest still queued in memory (its chunk is a memory root too).
    const bytes = view.manifest(manifestKey);
    if (bytes === undefined) return;
    const blob = decodeManifestBlob(bytes);
    if (blob.kind === 'tree') {
      for (const child of blob.children) visit(child.key);
    } else {
      for (const chunk of blob.chunks) if (!isHole(chunk)) live.chunks.add(chunk.key);
    }
  };
  const mounted = new Set(memory.mountedVolumeIds);
  const deadOrphans = new Set<string>();
  for (const key of view.orphans()) if (!mounted.has(volumeIdOfInodeKey(key))) deadOrphans.add(hexOf(key));
  for (const { key, value } of view.inodes()) {
    if (deadOrphans.size > 0 && deadOrphans.has(hexOf(key))) {
      live.orphanFiles++;
      continue;
    }
    const manifestKey = decodeInodeManifestKey(value);
    if (manifestKey) visit(manifestKey);
  }
  // What snapshots hold is live as long as they are: each tree once (unchanged subtrees are shared).
  // So are the trees the tree cache names (a snapshot reuses them without looking inside).
  const visitTree = (treeKey: Uint8Array): void => {
    if (!live.trees.add(treeKey)) return;
    const bytes = view.tree(treeKey);
    if (bytes === undefined) throw new Error(`tree object ${hexOf(treeKey)} is missing`);
    for (const entry of decodeTree(bytes)) {
      if (entry.treeKey) visitTree(entry.treeKey);
      const manifestKey = decodeInodeManifestKey(entry.record);
      if (manifestKey) visit(manifestKey);
    }
  };
  for (const record of view.snapshots()) visitTree(decodeSnapshot('', record).rootTreeKey);
  for (const cached of view.cachedTrees()) visitTree(decodeCachedTree(cached).treeKey);
  for (const roots of [memory, announced]) {
    for (const key of roots.manifestKeys) visit(key);
    for (const key of roots.chunkKeys) live.chunks.add(key);
  }
  for (const key of announced.treeKeys) visitTree(key);
  return live;
}
