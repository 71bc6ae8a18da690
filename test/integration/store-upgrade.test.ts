/**
 * A store written by an older Bazil opens with this one and is upgraded in place, nothing lost.
 * test/fixtures/format-3-store.tar.gz is the data directory of a format 3 engine (main at
 * df822e7): volume "old" with a small file (kept in LMDB) with an xattr, a time in ns and a hard
 * link, a file in a pack, an empty file, a symlink, a FIFO, a sparse file and an empty directory;
 * expected.tree and expected.sha256 are what `find` and `sha256sum` said in its mount.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, test } from 'node:test';
import { EngineHarness, ok } from '../helpers/engine-harness.js';
import { needsRoot, py, q } from '../helpers/fs-tools.js';

const FIXTURE = fileURLToPath(new URL('../../../test/fixtures/format-3-store.tar.gz', import.meta.url));

let h: EngineHarness;
let fixture: string;

before(async () => {
  h = await EngineHarness.create();
  fixture = await h.dir('fixture');
  await ok(`tar -C ${q(fixture)} -xzf ${q(FIXTURE)}`);
  await ok(`cp -a ${q(join(fixture, 'data'))} ${q(h.dataDir)}`);
});

after(async () => {
  await h.stop({ force: true });
});

/** Every entry as `find` shows it, but the root's times (`rootTimes: false`: a file was added and removed since). */
async function checkEveryFile(mnt: string, { rootTimes = true } = {}): Promise<void> {
  const lines = (text: string) => text.split('\n').filter((line) => rootTimes || !line.startsWith('.|'));
  const tree = await ok(`cd ${q(mnt)} && find . -printf '%p|%y|%m|%n|%s|%T@|%l\\n' | sort`);
  assert.deepEqual(lines(tree), lines(await readFile(join(fixture, 'expected.tree'), 'utf8')));
  await ok(`cd ${q(mnt)} && sha256sum --quiet -c ${q(join(fixture, 'expected.sha256'))}`);
  const color = await py<string>(
    `import os, json; print(json.dumps(os.getxattr('docs/hello.txt', 'user.color').decode()))`,
    mnt,
  );
  assert.equal(color, 'green');
}

test(
  'a format 3 store opens as the current format: every file, time, link and xattr as it was; snapshots work on it',
  // The fixture's files belong to root (a 0640 one among them), as root wrote the store.
  needsRoot('read files root wrote'),
  async () => {
    const client = await h.start();
    const mnt = await h.dir('mnt');
    await h.mount('old', mnt);
    await checkEveryFile(mnt);
    await client.call('snapshotCreate', { volume: 'old', name: 'after-upgrade' });
    await ok(`echo new > ${q(join(mnt, 'written-after'))}`);
    await client.call('unmount', { name: 'old' });
    await h.stop({ keepFiles: true });

    // Opened again, in the current format now: the old files, the new one, and the snapshot of the old tree.
    const again = await h.start();
    await h.mount('old', mnt);
    assert.equal(await ok(`cat ${q(join(mnt, 'written-after'))}`), 'new\n');
    await ok(`rm ${q(join(mnt, 'written-after'))}`);
    await checkEveryFile(mnt, { rootTimes: false });
    const listing = await again.call('snapshotLs', { volume: 'old', snapshot: 'after-upgrade', path: '/docs' });
    assert.deepEqual(
      listing.entries.map((e) => e.name),
      ['deep', 'empty', 'hello-link.txt', 'hello.txt', 'pipe', 'shortcut', 'sparse'],
    );
    // A file the old engine wrote changes: the next snapshot sees it (the upgrade indexed where
    // every old file has its names, so its directories' cached trees are dropped).
    await ok(
      `printf more >> ${q(join(mnt, 'docs/deep/random.bin'))} && printf again >> ${q(join(mnt, 'docs/hello-link.txt'))}`,
    );
    await again.call('snapshotCreate', { volume: 'old', name: 'after-change' });
    const deep = await again.call('snapshotLs', {
      volume: 'old',
      snapshot: 'after-change',
      path: '/docs/deep/random.bin',
    });
    assert.equal(deep.entry.sizeBytes, 200_004);
    const docs = await again.call('snapshotLs', { volume: 'old', snapshot: 'after-change', path: '/docs' });
    assert.deepEqual(
      docs.entries.filter((e) => e.name.startsWith('hello')).map((e) => [e.name, e.sizeBytes]),
      [
        ['hello-link.txt', 25],
        ['hello.txt', 25],
      ],
    );
  },
);
