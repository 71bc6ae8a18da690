/**
 * Taking snapshots on a volume's file system (VolumeFs over a real store, no FUSE): the cost
 * follows the change, and reusing unchanged directories never leaves a stale one in a snapshot.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { VolumeFs } from '../../src-main/engine/fs/volume-fs.js';
import { ROOT_INO, inodeKey, type VolumeRecord } from '../../src-main/engine/store/format.js';
import type { Store } from '../../src-main/engine/store/store.js';
import { entryAt, readSnapshotFile } from '../../src-main/engine/snapshots/browse-snapshot.js';
import { takeSnapshot } from '../../src-main/engine/snapshots/take-snapshot.js';
import { mkdirNow, withVolume } from '../helpers/volume-harness.js';

const me = { uid: 1000, gid: 1000 };
const O_RDWR = 2;
const RENAME_EXCHANGE = 2;

const mkdir = (fs: VolumeFs, parent: number, name: string, mode = 0o755) => mkdirNow(fs, parent, name, mode, me).ino;

async function writeFile(fs: VolumeFs, parent: number, name: string, text: string): Promise<number> {
  const { inode, fh } = fs.createFile(parent, name, 0o644, O_RDWR, me);
  await fs.write(fh, Buffer.from(text), 0);
  await fs.release(fh);
  return inode.ino;
}

async function rewrite(fs: VolumeFs, ino: number, text: string): Promise<void> {
  const fh = fs.open(ino, O_RDWR);
  await fs.setattr(ino, fh, { size: 0 });
  await fs.write(fh, Buffer.from(text), 0);
  await fs.release(fh);
}

let taken = 0;
async function snapshot(fs: VolumeFs, store: Store, volume: VolumeRecord) {
  await fs.settled();
  const name = `s${++taken}`;
  return takeSnapshot(store.env, store.dbs, {
    volumeId: volume.id,
    volumeName: volume.name,
    name,
    createdNs: BigInt(taken),
    automatic: false,
    scheduled: false,
  });
}

/** The same snapshot with every cached tree dropped first: built from every directory. */
async function fullSnapshot(fs: VolumeFs, store: Store, volume: VolumeRecord) {
  await store.env.transaction(() => {
    for (const key of store.dbs.treeCache.getKeys({ start: inodeKey(volume.id, 0), end: inodeKey(volume.id + 1, 0) })) {
      store.dbs.treeCache.removeSync(key as Buffer);
    }
  });
  return snapshot(fs, store, volume);
}

const treeCount = (store: Store) => store.dbs.trees.getCount();

test('a snapshot after one change writes the changed directory and its ancestors only', async () => {
  await withVolume(async (fs, store, volume) => {
    let deep = 0;
    let deepFile = 0;
    for (let i = 0; i < 10; i++) {
      const top = mkdir(fs, ROOT_INO, `top${i}`);
      for (let j = 0; j < 5; j++) {
        const sub = mkdir(fs, top, `sub${j}`);
        for (let k = 0; k < 3; k++) {
          const ino = await writeFile(fs, sub, `f${k}`, `file ${i}/${j}/${k}`);
          if (i === 7 && j === 3 && k === 1) [deep, deepFile] = [sub, ino];
        }
      }
    }
    assert.ok(deep > 0);
    const first = await snapshot(fs, store, volume);
    const before = treeCount(store);
    assert.equal(before, 1 + 10 + 50, 'the root, 10 directories and the 50 under them');
    await rewrite(fs, deepFile, 'changed');
    const second = await snapshot(fs, store, volume);
    assert.equal(treeCount(store) - before, 3, 'sub3, top7 and the root');
    assert.equal(readSnapshotFile(store, entryAt(store, second, '/top7/sub3/f1').entry, 0, 100).toString(), 'changed');
    assert.equal(
      readSnapshotFile(store, entryAt(store, first, '/top7/sub3/f1').entry, 0, 100).toString(),
      'file 7/3/1',
    );
    assert.equal(second.files, 150);
  });
});

test('whatever changes, reusing cached directories gives the tree a full walk gives', async () => {
  await withVolume(async (fs, store, volume) => {
    const a = mkdir(fs, ROOT_INO, 'a');
    const b = mkdir(fs, ROOT_INO, 'b');
    const deep = mkdir(fs, mkdir(fs, a, 'x'), 'y');
    const linked = await writeFile(fs, deep, 'linked', 'one');
    fs.link(linked, b, 'other-name');
    const plain = await writeFile(fs, a, 'plain', 'plain');
    await writeFile(fs, b, 'gone', 'soon gone');
    const steps: [string, () => unknown][] = [
      ['rewrite a file through one of its two names', () => rewrite(fs, linked, 'two, longer')],
      ['chmod a file', () => fs.setattr(plain, null, { mode: 0o600 })],
      ['set mtime of a directory', () => fs.setattr(deep, null, { mtimeNs: 123n })],
      ['set an xattr', () => fs.setxattr(linked, 'user.k', Buffer.from('v'), 0, me)],
      ['rename a file to another directory', () => fs.rename(a, 'plain', b, 'moved', 0)],
      ['rename a directory into another', () => fs.rename(a, 'x', b, 'x', 0)],
      ['exchange two names', () => fs.rename(b, 'moved', b, 'other-name', RENAME_EXCHANGE)],
      ['unlink', () => fs.unlink(b, 'gone')],
      ['mkdir and symlink deep', () => fs.symlink(mkdir(fs, deep, 'new', 0o700), 'l', '../t', me)],
      ['rmdir', () => fs.rmdir(deep, 'new') /* not empty: refused */],
      ['chmod the root', () => fs.setattr(ROOT_INO, null, { mode: 0o700 })],
    ];
    await snapshot(fs, store, volume);
    for (const [what, change] of steps) {
      try {
        await change();
      } catch (error) {
        if (what !== 'rmdir') throw error;
        fs.unlink(fs.lookup(deep, 'new').ino, 'l');
        fs.rmdir(deep, 'new');
      }
      const cached = await snapshot(fs, store, volume);
      const full = await fullSnapshot(fs, store, volume);
      assert.equal(
        Buffer.from(cached.rootTreeKey).toString('hex'),
        Buffer.from(full.rootTreeKey).toString('hex'),
        `after "${what}", the snapshot reused a stale directory`,
      );
      assert.equal(cached.files, full.files);
      assert.equal(cached.logicalBytes, full.logicalBytes);
    }
    const last = await snapshot(fs, store, volume);
    assert.equal(entryAt(store, last, '/b/x/y/linked').entry.ino, entryAt(store, last, '/b/moved').entry.ino);
    assert.equal(readSnapshotFile(store, entryAt(store, last, '/b/moved').entry, 0, 100).toString(), 'two, longer');
  });
});
