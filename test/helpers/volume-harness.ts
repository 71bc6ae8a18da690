/** A volume's file system (VolumeFs) over a real store and chunk worker, without FUSE, for unit tests. */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ChunkPool } from '../../src-main/engine/chunking/chunk-pool.js';
import { DirtyBudget } from '../../src-main/engine/fs/dirty-budget.js';
import { S_IFDIR, VolumeFs, type Caller } from '../../src-main/engine/fs/volume-fs.js';
import { newInode, type Inode } from '../../src-main/engine/fs/volume-meta.js';
import { ROOT_INO, encodeInode, inodeKey, type VolumeRecord } from '../../src-main/engine/store/format.js';
import { Store } from '../../src-main/engine/store/store.js';

const MiB = 1024 * 1024;

/** A store with one empty volume (id 1), its file system and chunk workers, for `use`; then all closed. */
export async function withVolume(
  use: (fs: VolumeFs, store: Store, volume: VolumeRecord) => Promise<void>,
): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'bazil-volume-fs-'));
  const store = new Store(dir);
  const pool = new ChunkPool(dir, 1);
  try {
    const volume: VolumeRecord = { id: 1, name: 'v', createdNs: 0n, nextIno: ROOT_INO + 1, showSnap: false };
    await store.dbs.inodes.put(inodeKey(1, ROOT_INO), encodeInode(newInode(ROOT_INO, S_IFDIR | 0o755, 2)));
    await use(
      new VolumeFs(volume, {
        store,
        pool,
        budget: new DirtyBudget(64 * MiB),
        dataDir: dir,
        reportFailure: () => undefined,
        snapshotTaken: () => undefined,
      }),
      store,
      volume,
    );
  } finally {
    await pool.close();
    await store.close();
    await rm(dir, { recursive: true, force: true });
  }
}

/** mkdir in the live tree, which answers at once (only `mkdir .snap/NAME` answers later). */
export function mkdirNow(fs: VolumeFs, parent: number, name: string, mode: number, caller: Caller): Inode {
  const made = fs.mkdir(parent, name, mode, caller);
  if (made instanceof Promise) throw new Error(`mkdir ${name} did not answer at once`);
  return made;
}
