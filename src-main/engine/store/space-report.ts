/**
 * The accounting of a mark (mark.ts): every candidate of the snapshot is live or unreferenced,
 * and every byte of a pack is a chunk, padding or unnamed.
 *
 * Terms (with mark.ts and format.ts):
 * - extent: the bytes of a pack that an index entry names, [offset, offset + length).
 * - padding: a pack's header block, and the zeros from the end of a flush's last chunk to the
 *   next block boundary (packs are written in whole blocks, FORMAT.md). Counted as padding only
 *   in a pack that holds a live chunk, and after a live chunk: the price of the format while the
 *   live chunks stay where they are.
 * - unnamed: every other byte of a pack that no extent covers: chunks a crash (or a failed
 *   flush) wrote but never recorded, entries dropped after a power loss, and the header and
 *   padding of what is unreferenced.
 * - reclaimable: unreferenced chunk and manifest bytes plus unnamed pack bytes: what garbage
 *   collection, compacting packs, could give back.
 *
 * A pack a chunk worker is writing counts only up to the length the engine had heard of at the
 * mark (PackAtMark): bytes past it belong to a flush in flight. A pack the engine had not heard of
 * then is not counted at all: a chunk worker began it after the mark looked.
 */
import type { SpaceReport } from '../../common/api.js';
import { PACK_BLOCK_BYTES, PACK_HEADER_BYTES, decodePackLocation } from './format.js';
import type { LiveSet, PackAtMark } from './mark.js';

/** What the accounting reads from the snapshot, and the pack files' lengths. */
export interface SpaceView {
  /** Every `packed-chunks` entry of the snapshot. */
  packedChunks(): Iterable<{ key: Uint8Array; value: Uint8Array }>;
  /** Every `chunks` entry of the snapshot, with the length of its bytes. */
  lmdbChunks(): Iterable<{ key: Uint8Array; sizeBytes: number }>;
  /** Every `manifests` entry of the snapshot, with the length of its blob. */
  manifests(): Iterable<{ key: Uint8Array; sizeBytes: number }>;
  /** Every `trees` entry of the snapshot, with the length of its object. */
  trees(): Iterable<{ key: Uint8Array; sizeBytes: number }>;
  /** A pack file's length on the disk; null when it is gone. */
  packFileBytes(packId: number): number | null;
}

interface Extents {
  offsets: number[];
  ends: number[];
  live: boolean[];
  anyLive: boolean;
}

export function accountSpace(
  view: SpaceView,
  live: LiveSet,
  packs: readonly PackAtMark[],
): Omit<SpaceReport, 'scanMs'> {
  const report: Omit<SpaceReport, 'scanMs'> = {
    live: { chunks: 0, chunkBytes: 0, manifests: 0, manifestBytes: 0, trees: 0, treeBytes: 0 },
    unreferenced: {
      packedChunks: 0,
      packedBytes: 0,
      lmdbChunks: 0,
      lmdbBytes: 0,
      manifests: 0,
      manifestBytes: 0,
      trees: 0,
      treeBytes: 0,
    },
    packs: { count: 0, fileBytes: 0, paddingBytes: 0, unnamedBytes: 0 },
    orphanFiles: live.orphanFiles,
    reclaimableBytes: 0,
  };
  const extents = new Map<number, Extents>();
  for (const { packId } of packs) extents.set(packId, { offsets: [], ends: [], live: [], anyLive: false });

  for (const { key, value } of view.packedChunks()) {
    const { packId, offset, sizeBytes } = decodePackLocation(value);
    const isLive = live.chunks.has(key);
    if (isLive) {
      report.live.chunks++;
      report.live.chunkBytes += sizeBytes;
    } else {
      report.unreferenced.packedChunks++;
      report.unreferenced.packedBytes += sizeBytes;
    }
    const pack = extents.get(packId);
    if (!pack) continue;
    pack.offsets.push(offset);
    pack.ends.push(offset + sizeBytes);
    pack.live.push(isLive);
    pack.anyLive ||= isLive;
  }
  for (const { key, sizeBytes } of view.lmdbChunks()) {
    if (live.chunks.has(key)) {
      report.live.chunks++;
      report.live.chunkBytes += sizeBytes;
    } else {
      report.unreferenced.lmdbChunks++;
      report.unreferenced.lmdbBytes += sizeBytes;
    }
  }
  for (const { key, sizeBytes } of view.manifests()) {
    if (live.manifests.has(key)) {
      report.live.manifests++;
      report.live.manifestBytes += sizeBytes;
    } else {
      report.unreferenced.manifests++;
      report.unreferenced.manifestBytes += sizeBytes;
    }
  }

  for (const { key, sizeBytes } of view.trees()) {
    if (live.trees.has(key)) {
      report.live.trees++;
      report.live.treeBytes += sizeBytes;
    } else {
      report.unreferenced.trees++;
      report.unreferenced.treeBytes += sizeBytes;
    }
  }

  for (const { packId, endBytes } of packs) {
    const fileBytes = view.packFileBytes(packId);
    if (fileBytes === null) continue;
    const sizeBytes = endBytes === null ? fileBytes : Math.min(endBytes, fileBytes);
    const { paddingBytes, unnamedBytes } = packBytesNamedByNothing(extents.get(packId)!, sizeBytes);
    report.packs.count++;
    report.packs.fileBytes += sizeBytes;
    report.packs.paddingBytes += paddingBytes;
    report.packs.unnamedBytes += unnamedBytes;
  }

  const { unreferenced } = report;
  report.reclaimableBytes =
    unreferenced.packedBytes +
    unreferenced.lmdbBytes +
    unreferenced.manifestBytes +
    unreferenced.treeBytes +
    report.packs.unnamedBytes;
  return report;
}

/** The bytes of a pack's first `sizeBytes` that no extent covers: padding, and unnamed. */
function packBytesNamedByNothing(pack: Extents, sizeBytes: number): { paddingBytes: number; unnamedBytes: number } {
  const order = pack.offsets.map((_, i) => i).sort((a, b) => pack.offsets[a]! - pack.offsets[b]!);
  let paddingBytes = 0;
  let unnamedBytes = 0;
  // A gap after a live chunk is padding up to the next block boundary; the rest is unnamed.
  const gap = (from: number, to: number, afterLive: boolean) => {
    if (to <= from) return;
    const padding = afterLive ? Math.min(to, Math.ceil(from / PACK_BLOCK_BYTES) * PACK_BLOCK_BYTES) - from : 0;
    paddingBytes += padding;
    unnamedBytes += to - from - padding;
  };
  const header = Math.min(PACK_HEADER_BYTES, sizeBytes);
  if (pack.anyLive) paddingBytes += header;
  else unnamedBytes += header;
  let at = header;
  let afterLive = false;
  for (const i of order) {
    const start = Math.min(pack.offsets[i]!, sizeBytes);
    const end = Math.min(pack.ends[i]!, sizeBytes);
    gap(at, start, afterLive);
    if (end > at) {
      at = end;
      afterLive = pack.live[i]!;
    }
  }
  gap(at, sizeBytes, afterLive);
  return { paddingBytes, unnamedBytes };
}
