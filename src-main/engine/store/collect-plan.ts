/**
 * What a garbage collection will do, decided from its mark (mark.ts) in the scan's thread: the
 * candidates that are not live, and the packs to give back: deleted when no live chunk is left in
 * one, rewritten (its live chunks copied to a new pack) when at most half of it is live.
 *
 * Only packs finished at the mark (PackAtMark.endBytes null) are deleted or rewritten: nothing
 * will be appended to them, so the chunks they hold are exactly the index entries naming them.
 * A pack a chunk worker is writing keeps its bytes until a collection after it is finished.
 *
 * The plan is what was garbage at the mark. The engine's thread carries it out (sweep.ts), leaving
 * out what was named again meanwhile.
 */
import { PACK_HEADER_BYTES, decodePackLocation } from './format.js';
import type { LiveSet, PackAtMark } from './mark.js';
import type { SpaceView } from './space-report.js';
import { KEY_BYTES } from './format.js';
import { packKeys } from './key-set.js';

/** Keys back to back (packKeys), with per key the numbers the sweep needs. */
export interface PackedChunkList {
  keys: Uint8Array;
  packIds: Uint32Array;
  offsets: Float64Array;
  sizes: Float64Array;
}

export interface PackPlan {
  packId: number;
  /** The pack file's length at the mark. */
  fileBytes: number;
  /** Live chunk bytes in it: copied to a new pack when it is rewritten. */
  liveBytes: number;
  /** Its live chunks (none when it is deleted). */
  live: PackedChunkList;
}

export interface CollectPlan {
  /** Garbage: `packed-chunks` entries (with where their bytes are). */
  packedChunks: PackedChunkList;
  /** Garbage: `chunks` keys, `manifests` keys, `trees` keys (back to back), and their bytes. */
  lmdbChunks: Uint8Array;
  lmdbChunkBytes: number;
  manifests: Uint8Array;
  manifestBytes: number;
  trees: Uint8Array;
  treeBytes: number;
  /** Finished packs to delete (no live chunk) or rewrite (at most half of the file live). */
  packs: PackPlan[];
}

/** A pack is rewritten when its live chunks are at most this part of the file. */
export const REWRITE_AT_MOST_LIVE = 0.5;

class ChunkListBuilder {
  private keys: Uint8Array[] = [];
  private packIds: number[] = [];
  private offsets: number[] = [];
  private sizes: number[] = [];

  add(key: Uint8Array, packId: number, offset: number, sizeBytes: number): void {
    this.keys.push(key.slice(0, KEY_BYTES));
    this.packIds.push(packId);
    this.offsets.push(offset);
    this.sizes.push(sizeBytes);
  }

  build(): PackedChunkList {
    return {
      keys: packKeys(this.keys),
      packIds: Uint32Array.from(this.packIds),
      offsets: Float64Array.from(this.offsets),
      sizes: Float64Array.from(this.sizes),
    };
  }
}

function keysOf(entries: Iterable<{ key: Uint8Array; sizeBytes: number }>, isLive: (key: Uint8Array) => boolean) {
  const garbage: Uint8Array[] = [];
  let bytes = 0;
  for (const { key, sizeBytes } of entries) {
    if (isLive(key)) continue;
    garbage.push(key.slice(0, KEY_BYTES));
    bytes += sizeBytes;
  }
  return { packed: packKeys(garbage), bytes };
}

export function planCollection(view: SpaceView, live: LiveSet, packs: readonly PackAtMark[]): CollectPlan {
  const finished = new Map<number, { live: ChunkListBuilder; liveBytes: number }>();
  for (const { packId, endBytes } of packs) {
    if (endBytes === null) finished.set(packId, { live: new ChunkListBuilder(), liveBytes: 0 });
  }
  const garbage = new ChunkListBuilder();
  for (const { key, value } of view.packedChunks()) {
    const { packId, offset, sizeBytes } = decodePackLocation(value);
    if (!live.chunks.has(key)) {
      garbage.add(key, packId, offset, sizeBytes);
      continue;
    }
    const pack = finished.get(packId);
    if (!pack) continue;
    pack.live.add(key, packId, offset, sizeBytes);
    pack.liveBytes += sizeBytes;
  }
  const planned: PackPlan[] = [];
  for (const [packId, pack] of finished) {
    const fileBytes = view.packFileBytes(packId);
    if (fileBytes === null) continue;
    // A pack holding only its header and live chunks back to back has nothing to give.
    if (pack.liveBytes > 0 && pack.liveBytes > (fileBytes - PACK_HEADER_BYTES) * REWRITE_AT_MOST_LIVE) continue;
    planned.push({ packId, fileBytes, liveBytes: pack.liveBytes, live: pack.live.build() });
  }
  const lmdbChunks = keysOf(view.lmdbChunks(), (key) => live.chunks.has(key));
  const manifests = keysOf(view.manifests(), (key) => live.manifests.has(key));
  const trees = keysOf(view.trees(), (key) => live.trees.has(key));
  return {
    packedChunks: garbage.build(),
    lmdbChunks: lmdbChunks.packed,
    lmdbChunkBytes: lmdbChunks.bytes,
    manifests: manifests.packed,
    manifestBytes: manifests.bytes,
    trees: trees.packed,
    treeBytes: trees.bytes,
    packs: planned,
  };
}
