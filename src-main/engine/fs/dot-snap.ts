/**
 * `.snap`: the read-only directory at the root of a mounted volume that holds every snapshot's
 * tree, `.snap/NAME/...`, as the original Bazil has. It is reachable by path and left out of the
 * root's listing; it is not part of the volume (no directory entry), so no snapshot holds it.
 *
 * Its nodes are data: Inode objects made from the snapshots' tree objects, with node ids of their
 * own (from SNAP_INO_BASE, far above any inode number a volume hands out), so VolumeFs serves them
 * with the code that serves live inodes, and refuses every change to them (EROFS), but
 * `mkdir .snap/NAME`, which takes a snapshot named NAME. Within a snapshot, names of one file (hard
 * links) are one node. A node lives while the kernel holds it (lookups not forgotten) or a program
 * has it open; a tree is decoded once and kept among the last few used.
 */
import {
  ROOT_INO,
  decodeInode,
  decodeSnapshot,
  snapshotKey,
  type SnapshotRecord,
  type TreeEntry,
  type VolumeRecord,
} from '../store/format.js';
import type { Store } from '../store/store.js';
import { listSnapshots, readTree } from '../snapshots/browse-snapshot.js';
import { BazilError, FsError } from '../../common/errors.js';
import type { Inode } from './volume-meta.js';

export const SNAP_DIR_NAME = '.snap';
/** The node id of `.snap`; its nodes have the ids above it. */
export const SNAP_INO_BASE = 2 ** 50;
export const isSnapIno = (ino: number): boolean => ino >= SNAP_INO_BASE;

/** Decoded trees kept for lookups (`ls` of a large directory asks a name at a time). */
const TREES_KEPT = 64;

interface SnapNode {
  inode: Inode;
  key: string;
  /** A directory's tree object. */
  treeKey: Uint8Array | null;
  snapshot: string;
}

export interface DotSnapDeps {
  store: Store;
  volume: VolumeRecord;
  /** The volume's root as it is now (`.snap` shows its owner). */
  root: () => Inode;
  /** Takes a snapshot of the volume named `name` (mkdir .snap/NAME). */
  createSnapshot: (name: string) => Promise<SnapshotRecord>;
}

export class DotSnap {
  private readonly nodes = new Map<number, SnapNode>();
  private readonly idsByKey = new Map<string, number>();
  private nextId = SNAP_INO_BASE + 1;
  private readonly trees = new Map<string, Map<string, TreeEntry>>();
  private readonly dir: Inode;

  constructor(private readonly deps: DotSnapDeps) {
    // Owner, permissions, link count and times are the root's and the snapshots' (dirInode).
    this.dir = {
      ...deps.root(),
      ino: SNAP_INO_BASE,
      xattrs: new Map(),
      manifestKey: null,
      openCount: 0,
      content: null,
      nlookup: 0,
      parent: ROOT_INO,
    };
  }

  /**
   * `.snap` itself, its link count and times brought up to date. It has the root's owner and
   * permissions: where the kernel checks them (a normal user's mount), the owner may `mkdir` in it
   * (a snapshot) and be told EROFS for the rest, as root is.
   */
  dirInode(): Inode {
    const snapshots = listSnapshots(this.deps.store, this.deps.volume.id);
    const root = this.deps.root();
    this.dir.uid = root.uid;
    this.dir.gid = root.gid;
    this.dir.mode = 0o040000 | (root.mode & 0o7777);
    this.dir.nlink = 2 + snapshots.length;
    const latest = snapshots.at(-1)?.createdNs ?? this.deps.volume.createdNs;
    this.dir.mtimeNs = this.dir.ctimeNs = latest;
    return this.dir;
  }

  /** A node the kernel knows (undefined: forgotten, or never handed out). */
  inode(ino: number): Inode | undefined {
    if (ino === SNAP_INO_BASE) return this.dirInode();
    return this.nodes.get(ino)?.inode;
  }

  lookup(parent: number, name: string): Inode {
    if (parent === SNAP_INO_BASE) {
      const bytes = this.deps.store.dbs.snapshots.get(snapshotKey(this.deps.volume.id, name));
      if (bytes === undefined) throw new FsError('ENOENT');
      return this.inode(this.rootOf(decodeSnapshot(name, bytes)))!;
    }
    const node = this.dirNode(parent);
    const entry = this.tree(node.treeKey!).get(name);
    if (!entry) throw new FsError('ENOENT');
    return this.inode(this.nodeOf(node.snapshot, entry.ino, entry.record, entry.treeKey, parent))!;
  }

  /** A directory's names and node ids. */
  entries(dirIno: number): Map<string, number> {
    const out = new Map<string, number>();
    if (dirIno === SNAP_INO_BASE) {
      for (const snapshot of listSnapshots(this.deps.store, this.deps.volume.id)) {
        out.set(snapshot.name, this.rootOf(snapshot));
      }
      return out;
    }
    const node = this.dirNode(dirIno);
    for (const [name, entry] of this.tree(node.treeKey!)) {
      out.set(name, this.nodeOf(node.snapshot, entry.ino, entry.record, entry.treeKey, dirIno));
    }
    return out;
  }

  /** The kernel forgets `count` references to a node: gone once it holds none and none is open. */
  forget(ino: number, count: number): void {
    const node = this.nodes.get(ino);
    if (!node) return;
    node.inode.nlookup = Math.max(0, node.inode.nlookup - count);
    this.dropIfUnused(node);
  }

  /** A handle on a node was closed. */
  released(inode: Inode): void {
    const node = this.nodes.get(inode.ino);
    if (node) this.dropIfUnused(node);
  }

  /** mkdir .snap/NAME: takes the snapshot; its root is the new directory. */
  async mkdir(name: string): Promise<Inode> {
    let record: SnapshotRecord;
    try {
      record = await this.deps.createSnapshot(name);
    } catch (error) {
      if (error instanceof BazilError && (error.code === 'EEXIST' || error.code === 'EINVAL')) {
        throw new FsError(error.code);
      }
      throw error;
    }
    return this.inode(this.rootOf(record))!;
  }

  /** A directory node the kernel knows. */
  private dirNode(ino: number): SnapNode {
    const node = this.nodes.get(ino);
    if (!node) throw new FsError('ESTALE');
    if (!node.treeKey) throw new FsError('ENOTDIR');
    return node;
  }

  private rootOf(snapshot: SnapshotRecord): number {
    return this.nodeOf(snapshot.name, ROOT_INO, snapshot.rootRecord, snapshot.rootTreeKey, SNAP_INO_BASE);
  }

  private nodeOf(
    snapshot: string,
    entryIno: number,
    record: Uint8Array,
    treeKey: Uint8Array | null,
    parent: number,
  ): number {
    const key = `${snapshot}/${entryIno}`;
    const known = this.idsByKey.get(key);
    if (known !== undefined) return known;
    const id = this.nextId++;
    const inode: Inode = { ...decodeInode(id, record), openCount: 0, content: null, nlookup: 0 };
    if (treeKey) inode.parent = parent;
    this.nodes.set(id, { inode, key, treeKey: treeKey && Uint8Array.prototype.slice.call(treeKey), snapshot });
    this.idsByKey.set(key, id);
    return id;
  }

  private tree(treeKey: Uint8Array): Map<string, TreeEntry> {
    const hex = Buffer.from(treeKey).toString('hex');
    let entries = this.trees.get(hex);
    if (entries) {
      this.trees.delete(hex);
    } else {
      entries = new Map(readTree(this.deps.store, treeKey).map((entry) => [entry.name, entry]));
      if (this.trees.size >= TREES_KEPT) this.trees.delete(this.trees.keys().next().value!);
    }
    this.trees.set(hex, entries);
    return entries;
  }

  private dropIfUnused(node: SnapNode): void {
    if (node.inode.nlookup > 0 || node.inode.openCount > 0) return;
    this.nodes.delete(node.inode.ino);
    this.idsByKey.delete(node.key);
  }
}
