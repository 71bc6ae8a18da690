import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { ROOT_INO, encodeInode, inodeKey, type VolumeRecord } from '../../src-main/engine/store/format.js';
import { Store } from '../../src-main/engine/store/store.js';
import { VolumeMeta, type Inode } from '../../src-main/engine/fs/volume-meta.js';

const dirs: string[] = [];
after(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

function inode(ino: number, mode: number): Inode {
  return {
    ino,
    mode,
    uid: 0,
    gid: 0,
    nlink: mode & 0o040000 ? 2 : 1,
    sizeBytes: 0,
    atimeNs: 1n,
    mtimeNs: 2n,
    ctimeNs: 3n,
    manifestKey: null,
    symlinkTarget: null,
    rdev: 0,
    xattrs: new Map(),
    openCount: 0,
    content: null,
    nlookup: 0,
  };
}

async function openVolume(): Promise<{ dir: string; store: Store; meta: VolumeMeta }> {
  const dir = await mkdtemp(join(tmpdir(), 'bazil-meta-'));
  dirs.push(dir);
  const store = new Store(dir);
  const volume: VolumeRecord = { id: 1, name: 'v', createdNs: 0n, nextIno: ROOT_INO + 1, showSnap: false };
  await store.dbs.inodes.put(inodeKey(1, ROOT_INO), encodeInode(inode(ROOT_INO, 0o040755)));
  return { dir, store, meta: new VolumeMeta(store, volume) };
}

test('changes are visible at once and in LMDB once committed', async () => {
  const { dir, store, meta } = await openVolume();
  const ino = meta.allocateIno();
  meta.addInode(inode(ino, 0o100644));
  meta.setEntry(ROOT_INO, 'file', ino);
  assert.equal(meta.entries(ROOT_INO).get('file'), ino, 'visible before the commit');
  assert.equal(store.dbs.inodes.get(inodeKey(1, ino)), undefined, 'not in LMDB yet');
  await meta.committed();
  await store.close();
  const reopened = new Store(dir);
  const fresh = new VolumeMeta(reopened, { id: 1, name: 'v', createdNs: 0n, nextIno: 0, showSnap: false });
  assert.equal(fresh.entries(ROOT_INO).get('file'), ino);
  assert.equal(fresh.inode(ino)?.mode, 0o100644);
  await reopened.close();
});

test('a rename lands as one change: never both names, never neither', async () => {
  const { store, meta } = await openVolume();
  const ino = meta.allocateIno();
  meta.addInode(inode(ino, 0o100644));
  meta.setEntry(ROOT_INO, 'old', ino);
  await meta.committed();
  meta.removeEntry(ROOT_INO, 'old');
  meta.setEntry(ROOT_INO, 'new', ino);
  const names = () => [...store.dbs.dirents.getKeys({})].map((k) => (k as Buffer).subarray(12).toString());
  assert.deepEqual(names(), ['old']);
  await meta.committed();
  assert.deepEqual(names(), ['new']);
  await store.close();
});

test('a deleted inode is not read back from LMDB before its deletion commits', async () => {
  const { store, meta } = await openVolume();
  const ino = meta.allocateIno();
  meta.addInode(inode(ino, 0o100644));
  await meta.committed();
  meta.dropInode(ino);
  assert.equal(meta.inode(ino), undefined);
  await meta.committed();
  assert.equal(store.dbs.inodes.get(inodeKey(1, ino)), undefined);
  await store.close();
});

test('orphans left by a crash are swept at the next mount', async () => {
  const { store, meta } = await openVolume();
  const ino = meta.allocateIno();
  meta.addInode({ ...inode(ino, 0o100644), nlink: 0 });
  meta.setOrphan(ino, true);
  await meta.committed();
  const next = new VolumeMeta(store, meta.volume);
  assert.equal(await next.sweepOrphans(), 1);
  assert.equal(store.dbs.inodes.get(inodeKey(1, ino)), undefined);
  assert.equal([...store.dbs.orphans.getKeys({})].length, 0);
  await store.close();
});

test('a batch that fails to commit is written again later, and nothing is lost', async (t) => {
  const { store, meta } = await openVolume();
  // The retry waits on a timer: mocked, so the test moves time on instead of sleeping through it.
  t.mock.timers.enable({ apis: ['setTimeout'] });
  const env = store.env as unknown as { transactionSync: (cb: () => void) => unknown };
  const transactionSync = env.transactionSync.bind(env);
  let failures = 1;
  // The first commit fails the way a full map does: the write throws inside the transaction.
  env.transactionSync = (cb) =>
    transactionSync(() => {
      cb();
      if (failures-- > 0) throw new Error('MDB_MAP_FULL (test)');
    });
  const originalError = console.error;
  console.error = () => undefined;
  try {
    const ino = meta.allocateIno();
    meta.addInode(inode(ino, 0o100644));
    meta.setEntry(ROOT_INO, 'kept', ino);
    await assert.rejects(meta.committed(), /MDB_MAP_FULL \(test\)/, 'close and fsync report the failure');
    assert.equal([...store.dbs.dirents.getKeys({})].length, 0);
    // A second later (the first retry waits 500 ms), the retry writes the same changes.
    t.mock.timers.tick(1_000);
    await meta.committed();
    assert.deepEqual(
      [...store.dbs.dirents.getKeys({})].map((k) => (k as Buffer).subarray(12).toString()),
      ['kept'],
    );
    assert.equal(store.dbs.inodes.get(inodeKey(1, ino)) !== undefined, true);
  } finally {
    console.error = originalError;
    t.mock.timers.reset();
    await store.close();
  }
});

test('while commits fail, changes wait for the backing-off retry instead of a try per turn, and an unchanged inode waits for nothing', async (t) => {
  const { store, meta } = await openVolume();
  t.mock.timers.enable({ apis: ['setTimeout'] });
  const turn = () => new Promise((resolve) => setImmediate(resolve));
  const env = store.env as unknown as { transactionSync: (cb: () => void) => unknown };
  const transactionSync = env.transactionSync.bind(env);
  let tries = 0;
  let failing = true;
  env.transactionSync = (cb) =>
    transactionSync(() => {
      tries++;
      cb();
      if (failing) throw new Error('No space left on device (test)');
    });
  const originalError = console.error;
  const logged: string[] = [];
  console.error = (line: string) => logged.push(line);
  try {
    const untouched = meta.allocateIno();
    meta.addInode(inode(untouched, 0o100644));
    await assert.rejects(meta.committed(), /No space left/);
    assert.equal(tries, 1);
    for (let i = 0; i < 50; i++) {
      const ino = meta.allocateIno();
      meta.addInode(inode(ino, 0o100644));
      await turn();
    }
    assert.equal(tries, 1, 'no change brought a try forward');
    const clean = 999_999;
    await meta.committedFor(clean); // nothing of it waits: resolves though commits fail
    await assert.rejects(meta.committedFor(untouched), /No space left/);
    // 0.5 s, then 1, 2, 4 s: four retries in 8 s, not one per change.
    for (let ms = 0; ms < 8_000; ms += 100) {
      t.mock.timers.tick(100);
      await turn();
    }
    assert.ok(tries >= 4 && tries <= 6, `${tries} tries`);
    failing = false;
    for (let ms = 0; ms < 10_000 && meta.failure; ms += 100) {
      t.mock.timers.tick(100);
      await turn();
    }
    await meta.committed();
    assert.equal(store.dbs.inodes.get(inodeKey(1, untouched)) !== undefined, true, 'and nothing was lost');
    assert.equal(logged.length, 2, 'said when it started and when it ended, and only then');
    assert.match(
      logged[0]!,
      /^bazil: volume "v": metadata cannot be written \(no space left on the disk of the store .*\(No space left on device \(test\)\)\)/,
    );
    assert.match(logged[1]!, /^bazil: volume "v": metadata written again, after \d+ s and [3-6] retries$/);
  } finally {
    console.error = originalError;
    meta.close();
    t.mock.timers.reset();
    await store.close();
  }
});
