import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import {
  MANIFEST_LIST_MAX_ENTRIES,
  encodeManifest,
  encodeManifestTree,
  encodeSnapshot,
  encodeTree,
  hole,
  inodeKey,
  splitManifest,
  type ChunkRef,
  type TreeEntry,
} from '../../src-main/engine/store/format.js';
import { chunkKeyOf } from '../../src-main/engine/store/store.js';
import { MarkFeed, markLive, type MarkView, type MemoryRoots } from '../../src-main/engine/store/mark.js';
import { dirInodeRecord, fileInodeRecord } from '../helpers/store-records.js';

const hex = (key: Uint8Array) => Buffer.from(key).toString('hex');
const chunk = (sizeBytes = 70_000): ChunkRef => ({ key: randomBytes(32), sizeBytes });
const none = () => ({ manifestKeys: [], chunkKeys: [], treeKeys: [] });
const noMemory = (): MemoryRoots => ({ mountedVolumeIds: [], ...none() });

/** A store in memory: manifests by key, inodes and orphans. */
class FakeStore implements MarkView {
  readonly blobs = new Map<string, Buffer>();
  readonly inodeRecords: { key: Uint8Array; value: Uint8Array }[] = [];
  readonly orphanKeys: Uint8Array[] = [];

  manifestOf(chunks: ChunkRef[]): Buffer {
    const bytes = encodeManifest(chunks);
    const key = chunkKeyOf(bytes);
    this.blobs.set(hex(key), bytes);
    return key;
  }

  file(volumeId: number, ino: number, manifestKey: Uint8Array | null, { orphan = false } = {}): void {
    this.inodeRecords.push({ key: inodeKey(volumeId, ino), value: fileInodeRecord(ino, manifestKey) });
    if (orphan) this.orphanKeys.push(inodeKey(volumeId, ino));
  }

  inodes() {
    return this.inodeRecords;
  }
  orphans() {
    return this.orphanKeys;
  }
  manifest(key: Uint8Array) {
    return this.blobs.get(hex(key));
  }
  readonly snapshotRecords: Uint8Array[] = [];
  snapshots() {
    return this.snapshotRecords;
  }
  tree(key: Uint8Array) {
    return this.blobs.get(hex(key));
  }
  readonly cachedTreeValues: Uint8Array[] = [];
  cachedTrees() {
    return this.cachedTreeValues;
  }

  /** A tree object of these entries (files and directories); returns its key. */
  treeOf(entries: TreeEntry[]): Buffer {
    const bytes = encodeTree(entries);
    const key = chunkKeyOf(bytes);
    this.blobs.set(hex(key), bytes);
    return key;
  }
}

test('the chunks and manifests of every inode are live, through manifest trees, holes skipped', () => {
  const store = new FakeStore();
  const small = [chunk(), hole(1 << 30), chunk()];
  store.file(1, 2, store.manifestOf(small));
  // A tree: more entries than one list holds.
  const many = Array.from({ length: MANIFEST_LIST_MAX_ENTRIES + 10 }, () => chunk(65_536));
  const children = splitManifest(many).map((group) => ({ key: store.manifestOf(group), sizeBytes: 1 }));
  const root = encodeManifestTree(children);
  const rootKey = chunkKeyOf(root);
  store.blobs.set(hex(rootKey), root);
  store.file(2, 7, rootKey);
  store.file(2, 8, null);
  const unnamed = chunk();

  const live = markLive(store, noMemory(), none());
  for (const c of [...small.filter((c) => c.sizeBytes !== 1 << 30), ...many]) assert.ok(live.chunks.has(c.key));
  assert.equal(live.chunks.has(hole(1).key), false, 'a hole is no chunk');
  assert.equal(live.chunks.has(unnamed.key), false);
  assert.equal(live.chunks.size, 2 + many.length);
  assert.equal(live.manifests.size, 1 + children.length + 1, 'every node of the tree is live');
});

test('an orphan is live while its volume is mounted (a file still open), and garbage a crash left otherwise', () => {
  const store = new FakeStore();
  const open = chunk();
  store.file(1, 5, store.manifestOf([open]), { orphan: true });
  const kept = chunk();
  store.file(1, 6, store.manifestOf([kept]));

  const notMounted = markLive(store, noMemory(), none());
  assert.equal(notMounted.chunks.has(open.key), false);
  assert.equal(notMounted.chunks.has(kept.key), true);
  assert.equal(notMounted.orphanFiles, 1);

  const mounted = markLive(store, { mountedVolumeIds: [1], ...none() }, none());
  assert.equal(mounted.chunks.has(open.key), true);
  assert.equal(mounted.orphanFiles, 0);
  // Another volume's orphan of the same inode number is not this one.
  const elsewhere = markLive(store, { mountedVolumeIds: [2], ...none() }, none());
  assert.equal(elsewhere.chunks.has(open.key), false);
});

test('memory roots and announced keys are live; a manifest not committed yet names what memory names', () => {
  const store = new FakeStore();
  const early = chunk(); // stored by an early flush: only the open file's base names it
  const newContent = chunk();
  const committedLater = store.manifestOf([newContent]); // an inode in memory names it, not committed
  const queuedSmall = chunk(100);
  const queuedManifest = randomBytes(32); // queued with its inode: not in the store yet
  const announcedChunk = chunk();
  const announcedList = chunk();
  const announcedManifest = store.manifestOf([announcedList]);
  const memory: MemoryRoots = {
    mountedVolumeIds: [1],
    manifestKeys: [committedLater, queuedManifest],
    chunkKeys: [early.key, queuedSmall.key],
  };
  const live = markLive(store, memory, {
    manifestKeys: [announcedManifest],
    chunkKeys: [announcedChunk.key],
    treeKeys: [],
  });
  for (const c of [early, newContent, queuedSmall, announcedChunk, announcedList]) assert.ok(live.chunks.has(c.key));
  assert.ok(live.manifests.has(queuedManifest));
});

test('the feed records announcements only while a session is open, holes left out', () => {
  const feed = new MarkFeed();
  feed.announce(randomBytes(32), [chunk()]);
  const session = feed.open();
  const manifestKey = randomBytes(32);
  const c = chunk();
  feed.announce(manifestKey, [c, hole(10)]);
  feed.announce(null, [c]);
  const keys = session.close();
  feed.announce(randomBytes(32));
  assert.deepEqual(keys.manifestKeys.map(hex), [hex(manifestKey)]);
  assert.deepEqual(keys.chunkKeys.map(hex), [hex(c.key), hex(c.key)]);
});

test('what a snapshot holds stays live after the live files are gone, shared subtrees visited once', () => {
  const store = new FakeStore();
  const kept = [chunk(), chunk()];
  const deep = [chunk()];
  const sub = store.treeOf([
    { name: 'deep.bin', ino: 5, record: fileInodeRecord(5, store.manifestOf(deep)), treeKey: null },
  ]);
  const root = store.treeOf([
    { name: 'a.txt', ino: 2, record: fileInodeRecord(2, store.manifestOf(kept)), treeKey: null },
    { name: 'empty', ino: 3, record: fileInodeRecord(3, null), treeKey: null },
    { name: 'dir', ino: 4, record: dirInodeRecord(4), treeKey: sub },
    { name: 'same-dir-again', ino: 6, record: dirInodeRecord(6), treeKey: sub },
  ]);
  const snapshot = (name: string) =>
    encodeSnapshot({
      name,
      createdNs: 1n,
      automatic: false,
      scheduled: false,
      rootTreeKey: root,
      files: 3,
      logicalBytes: 0,
      rootRecord: dirInodeRecord(1),
    });
  store.snapshotRecords.push(snapshot('one'), snapshot('two'));
  // No live inode names any of it.
  const live = markLive(store, noMemory(), none());
  for (const c of [...kept, ...deep]) assert.ok(live.chunks.has(c.key));
  assert.equal(live.chunks.size, 3);
  assert.equal(live.manifests.size, 2);

  // Without the snapshots, it is all garbage.
  store.snapshotRecords.length = 0;
  assert.equal(markLive(store, noMemory(), none()).chunks.size, 0);
});
