/**
 * Read windows at the level of VolumeFs: what the FUSE adapter may keep lent, and when VolumeFs
 * takes it back. (The mount-level behaviour is in the integration tests; the race between a loan
 * and its answer cannot be provoked from outside.)
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { ChunkPool } from '../../src-main/engine/chunking/chunk-pool.js';
import { giveBack } from '../../src-main/engine/chunking/chunk-reader.js';
import { DirtyBudget } from '../../src-main/engine/fs/dirty-budget.js';
import { S_IFDIR, S_IFREG, VolumeFs } from '../../src-main/engine/fs/volume-fs.js';
import { newInode } from '../../src-main/engine/fs/volume-meta.js';
import { ROOT_INO, encodeInode, inodeKey, type VolumeRecord } from '../../src-main/engine/store/format.js';
import { Store } from '../../src-main/engine/store/store.js';

const MiB = 1024 * 1024;

test('a read window is kept only while the file is unchanged, and revoked when it changes', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'bazil-volume-fs-'));
  const store = new Store(dir);
  const pool = new ChunkPool(dir, 1);
  try {
    const volume: VolumeRecord = { id: 1, name: 'v', createdNs: 0n, nextIno: ROOT_INO + 1 };
    await store.dbs.inodes.put(inodeKey(1, ROOT_INO), encodeInode(newInode(ROOT_INO, S_IFDIR | 0o755, 2)));
    const fs = new VolumeFs(volume, { store, pool, budget: new DirtyBudget(64 * MiB), dataDir: dir });
    const revoked: (number | undefined)[] = [];
    const stop = fs.lendWindows((ino) => revoked.push(ino));

    const fh = fs.create('/f', S_IFREG | 0o644, 0);
    await fs.write('/f', fh, randomBytes(8 * MiB), 0);
    await fs.flush('/f', fh); // stored: reads now come from the chunk cache
    const out = Buffer.alloc(131072);
    /**
     * The first read from `offset` on whose loan runs on past it: a read across two cache slots
     * is copied instead, and one at the end of a slot has nothing more to lend.
     */
    const lentRead = async (offset: number) => {
      for (let at = offset; at < offset + 2 * MiB; at += out.length) {
        const answer = await fs.read('/f', fh, out, out.length, at);
        if (typeof answer === 'number') continue;
        if (answer.loan.bytes.length > answer.count) return answer;
        giveBack(answer.loan);
      }
      assert.fail(`no read from ${offset} on was lent with bytes past it`);
    };

    const first = await lentRead(0);
    assert.equal(fs.keepWindow(first), true, 'an unchanged file keeps its window');
    assert.deepEqual(revoked, []);

    // A change between a loan and its answer: the window is turned down, not kept.
    const second = await lentRead(1 * MiB);
    await fs.write('/f', fh, Buffer.from('changed'), 4 * MiB);
    assert.equal(fs.keepWindow(second), false, 'a window lent before a change is turned down');
    assert.deepEqual(revoked, [first.ino], 'and the write took back the window kept before it');

    await fs.flush('/f', fh);
    const third = await lentRead(0);
    stop();
    assert.deepEqual(revoked, [first.ino, undefined], 'stopping takes back every window');
    assert.equal(fs.keepWindow(third), false, 'and no window is kept after it');
    for (const answer of [first, second, third]) giveBack(answer.loan);
    await fs.release('/f', fh);
  } finally {
    await pool.close();
    await store.close();
    await rm(dir, { recursive: true, force: true });
  }
});
