/**
 * `node dist/bench/space-scan.js [CHUNKS]` (after `npm run build`): what a space scan (`bazil
 * stats`) costs on a big store, and what it costs the thread that serves FUSE.
 *
 * Builds a store of CHUNKS chunk index entries (default 200,000: ~49 GiB of 256 KiB chunks) in a
 * temporary directory: files of 40 chunks each naming 90% of them, the rest unreferenced, and
 * sparse pack files of the right lengths. Then, in turns (3 rounds):
 * - ceiling: the same mark and accounting run on this thread, which would hold every mount that
 *   long;
 * - scan: SpaceScanner, as the engine runs it (the work in a thread of its own), while a 1 ms
 *   timer on this thread records the longest it waited (the longest stall a mount would see);
 * - idle: the same timer as long with nothing running: the stalls the machine's load alone causes.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { closeSync, ftruncateSync, openSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  PACK_HEADER_BYTES,
  encodeInode,
  encodeManifest,
  encodePackLocation,
  inodeKey,
  packFileName,
} from '../src-main/engine/store/format.js';
import { Store, chunkKeyOf } from '../src-main/engine/store/store.js';
import { MarkFeed, markLive } from '../src-main/engine/store/mark.js';
import { accountSpace } from '../src-main/engine/store/space-report.js';
import { SpaceScanner, snapshotView } from '../src-main/engine/store/space-scan.js';

const CHUNKS = Number(process.argv[2] ?? 200_000);
const CHUNKS_PER_FILE = 40;
const CHUNK_BYTES = 256 * 1024;
const CHUNKS_PER_PACK = 1000;
const ROUNDS = 3;

/** Index entries, manifests and inodes written directly (no chunk bytes: packs are sparse). */
function build(store: Store): void {
  const keys: Buffer[] = [];
  store.env.transactionSync(() => {
    for (let i = 0; i < CHUNKS; i++) {
      const key = randomBytes(32);
      keys.push(key);
      const packId = 1 + Math.floor(i / CHUNKS_PER_PACK);
      const offset = PACK_HEADER_BYTES + (i % CHUNKS_PER_PACK) * CHUNK_BYTES;
      store.dbs.packedChunks.putSync(key, encodePackLocation({ packId, offset, sizeBytes: CHUNK_BYTES }));
    }
    let ino = 2;
    for (let i = 0; i + CHUNKS_PER_FILE <= CHUNKS * 0.9; i += CHUNKS_PER_FILE, ino++) {
      const manifest = encodeManifest(
        keys.slice(i, i + CHUNKS_PER_FILE).map((key) => ({ key, sizeBytes: CHUNK_BYTES })),
      );
      const manifestKey = chunkKeyOf(manifest);
      store.dbs.manifests.putSync(manifestKey, manifest);
      store.dbs.inodes.putSync(
        inodeKey(1, ino),
        encodeInode({
          ino,
          mode: 0o100644,
          uid: 0,
          gid: 0,
          nlink: 1,
          sizeBytes: CHUNKS_PER_FILE * CHUNK_BYTES,
          atimeNs: 0n,
          mtimeNs: 0n,
          ctimeNs: 0n,
          manifestKey,
          symlinkTarget: null,
          rdev: 0,
          xattrs: new Map(),
        }),
      );
    }
  });
  for (let packId = 1; (packId - 1) * CHUNKS_PER_PACK < CHUNKS; packId++) {
    const fd = openSync(join(store.packsDir, packFileName(packId)), 'w');
    ftruncateSync(fd, PACK_HEADER_BYTES + CHUNKS_PER_PACK * CHUNK_BYTES);
    closeSync(fd);
  }
}

/** The longest this thread waited beyond a 1 ms timer while `work` ran. */
async function longestStallMs<T>(work: () => Promise<T>): Promise<{ result: T; stallMs: number }> {
  let last = performance.now();
  let stallMs = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    stallMs = Math.max(stallMs, now - last - 1);
    last = now;
  }, 1);
  try {
    return { result: await work(), stallMs };
  } finally {
    clearInterval(timer);
  }
}

async function main(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'bazil-bench-space-'));
  const store = new Store(dir);
  try {
    let startMs = performance.now();
    build(store);
    console.log(
      `built a store of ${CHUNKS.toLocaleString('en-US')} chunks in ${Math.round(performance.now() - startMs)} ms`,
    );
    const packs = () => [...Array(Math.ceil(CHUNKS / CHUNKS_PER_PACK)).keys()].map((i) => i + 1);
    const scanner = new SpaceScanner(dir, {
      feed: new MarkFeed(),
      memoryRoots: () => ({ mountedVolumeIds: [], manifestKeys: [], chunkKeys: [] }),
      packs: () => packs().map((packId) => ({ packId, endBytes: null })),
      flushesAnswered: () => Promise.resolve(),
    });
    for (let round = 1; round <= ROUNDS; round++) {
      // The scan first: the ceiling's garbage (this thread's) would be collected during it.
      const { result, stallMs } = await longestStallMs(() => scanner.scan());
      // The same timer with nothing to do, as long: what the shared machine's load alone causes.
      const idle = await longestStallMs(() => new Promise((resolve) => setTimeout(resolve, result.scanMs)));
      startMs = performance.now();
      const snapshot = store.env.useReadTransaction();
      const view = snapshotView(store.dbs, snapshot, store.packsDir);
      const none = { manifestKeys: [], chunkKeys: [], treeKeys: [] };
      const live = markLive(view, { mountedVolumeIds: [], ...none }, none, CHUNKS);
      const ceiling = accountSpace(
        view,
        live,
        packs().map((packId) => ({ packId, endBytes: null })),
      );
      snapshot.done();
      const ceilingMs = performance.now() - startMs;
      console.log(
        `round ${round}: scan ${result.scanMs} ms, longest stall of this thread ${stallMs.toFixed(1)} ms ` +
          `(idle: ${idle.stallMs.toFixed(1)} ms); the same work on this thread ${Math.round(ceilingMs)} ms ` +
          `(${result.unreferenced.packedChunks.toLocaleString('en-US')} unreferenced chunks, ` +
          `same as on this thread: ${result.reclaimableBytes === ceiling.reclaimableBytes})`,
      );
    }
  } finally {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
