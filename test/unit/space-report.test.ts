import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { PACK_HEADER_BYTES, encodePackLocation } from '../../src-main/engine/store/format.js';
import { KeySet } from '../../src-main/engine/store/key-set.js';
import type { LiveSet, PackAtMark } from '../../src-main/engine/store/mark.js';
import { accountSpace, type SpaceView } from '../../src-main/engine/store/space-report.js';

const BLOCK = 4096;

interface Entry {
  packId: number;
  offset: number;
  sizeBytes: number;
  live: boolean;
}

/** A view over packed chunks at the given places, pack files of the given lengths, nothing else. */
function accountPacks(entries: Entry[], fileBytes: Map<number, number>, packs: PackAtMark[]) {
  const live: LiveSet = { chunks: new KeySet(), manifests: new KeySet(), trees: new KeySet(), orphanFiles: 0 };
  const index = entries.map((entry) => {
    const key = randomBytes(32);
    if (entry.live) live.chunks.add(key);
    return { key, value: encodePackLocation(entry) };
  });
  const view: SpaceView = {
    packedChunks: () => index,
    lmdbChunks: () => [],
    manifests: () => [],
    trees: () => [],
    packFileBytes: (packId) => fileBytes.get(packId) ?? null,
  };
  return accountSpace(view, live, packs);
}

test('a pack of live chunks has padding (header, the block after a flush) and nothing reclaimable', () => {
  // Two flushes: 3 chunks ending mid-block, then 1 chunk, each padded to the block.
  const first = [10_000, 20_000, 5_000];
  const entries: Entry[] = [];
  let at = PACK_HEADER_BYTES;
  for (const sizeBytes of first) {
    entries.push({ packId: 1, offset: at, sizeBytes, live: true });
    at += sizeBytes;
  }
  const firstPadding = Math.ceil(at / BLOCK) * BLOCK - at;
  at += firstPadding;
  entries.push({ packId: 1, offset: at, sizeBytes: 70_000, live: true });
  at += 70_000;
  const lastPadding = Math.ceil(at / BLOCK) * BLOCK - at;
  const fileBytes = at + lastPadding;
  const report = accountPacks(entries, new Map([[1, fileBytes]]), [{ packId: 1, endBytes: null }]);
  assert.equal(report.packs.paddingBytes, PACK_HEADER_BYTES + firstPadding + lastPadding);
  assert.equal(report.packs.unnamedBytes, 0);
  assert.equal(report.reclaimableBytes, 0);
  assert.equal(report.live.chunkBytes, 105_000);
  assert.equal(report.packs.fileBytes, fileBytes);
});

test('unreferenced chunks, their padding and bytes a crash wrote past the last entry are reclaimable', () => {
  const entries: Entry[] = [
    { packId: 1, offset: BLOCK, sizeBytes: 5_000, live: true }, // padded to 3 blocks
    { packId: 1, offset: 3 * BLOCK, sizeBytes: 6_000, live: false }, // padded to 5 blocks
  ];
  // A crash: 2 blocks written past the last recorded flush, no entry names them.
  const fileBytes = 7 * BLOCK;
  const report = accountPacks(entries, new Map([[1, fileBytes]]), [{ packId: 1, endBytes: null }]);
  assert.equal(report.packs.paddingBytes, BLOCK + (3 * BLOCK - (BLOCK + 5_000)));
  assert.equal(report.packs.unnamedBytes, 5 * BLOCK - (3 * BLOCK + 6_000) + 2 * BLOCK);
  assert.equal(report.unreferenced.packedBytes, 6_000);
  assert.equal(report.reclaimableBytes, 6_000 + report.packs.unnamedBytes);
  assert.equal(report.packs.paddingBytes + report.packs.unnamedBytes + 5_000 + 6_000, fileBytes);
});

test('a pack no live chunk is in is reclaimable whole, a pack file no entry names too', () => {
  const entries: Entry[] = [{ packId: 1, offset: BLOCK, sizeBytes: 9_000, live: false }];
  const report = accountPacks(
    entries,
    new Map([
      [1, 4 * BLOCK],
      [2, 10 * BLOCK], // created and written by a crashed flush, never recorded
    ]),
    [
      { packId: 1, endBytes: null },
      { packId: 2, endBytes: null },
    ],
  );
  assert.equal(report.packs.paddingBytes, 0);
  assert.equal(report.reclaimableBytes, 4 * BLOCK + 10 * BLOCK);
});

test('a pack being written counts only up to what the engine has heard of; a pack it never heard of not at all', () => {
  const entries: Entry[] = [
    { packId: 1, offset: BLOCK, sizeBytes: BLOCK, live: true },
    // Committed by a flush in flight at the mark (announced later, so live): past the known end.
    { packId: 1, offset: 2 * BLOCK, sizeBytes: 3 * BLOCK, live: true },
    { packId: 3, offset: BLOCK, sizeBytes: BLOCK, live: true },
  ];
  const report = accountPacks(
    entries,
    new Map([
      [1, 8 * BLOCK], // bytes past 5 blocks: the flush in flight, still writing
      [3, 2 * BLOCK],
    ]),
    [{ packId: 1, endBytes: 2 * BLOCK }],
  );
  assert.equal(report.packs.count, 1);
  assert.equal(report.packs.fileBytes, 2 * BLOCK);
  assert.equal(report.packs.unnamedBytes, 0);
  assert.equal(report.reclaimableBytes, 0);
  assert.equal(report.live.chunks, 3, 'chunks are counted whatever pack they are in');
});

test('chunks, manifests and snapshot trees kept in LMDB are live or unreferenced by key', () => {
  const [liveChunk, deadChunk, liveManifest, deadManifest, liveTree, deadTree] = Array.from({ length: 6 }, () =>
    randomBytes(32),
  );
  const live: LiveSet = { chunks: new KeySet(), manifests: new KeySet(), trees: new KeySet(), orphanFiles: 2 };
  live.chunks.add(liveChunk!);
  live.manifests.add(liveManifest!);
  live.trees.add(liveTree!);
  const view: SpaceView = {
    packedChunks: () => [],
    lmdbChunks: () => [
      { key: liveChunk!, sizeBytes: 100 },
      { key: deadChunk!, sizeBytes: 30 },
    ],
    manifests: () => [
      { key: liveManifest!, sizeBytes: 48 },
      { key: deadManifest!, sizeBytes: 84 },
    ],
    trees: () => [
      { key: liveTree!, sizeBytes: 500 },
      { key: deadTree!, sizeBytes: 7 },
    ],
    packFileBytes: () => null,
  };
  const report = accountSpace(view, live, []);
  assert.deepEqual(report.live, {
    chunks: 1,
    chunkBytes: 100,
    manifests: 1,
    manifestBytes: 48,
    trees: 1,
    treeBytes: 500,
  });
  assert.deepEqual(report.unreferenced, {
    packedChunks: 0,
    packedBytes: 0,
    lmdbChunks: 1,
    lmdbBytes: 30,
    manifests: 1,
    manifestBytes: 84,
    trees: 1,
    treeBytes: 7,
  });
  assert.equal(report.reclaimableBytes, 30 + 84 + 7);
  assert.equal(report.orphanFiles, 2);
});
