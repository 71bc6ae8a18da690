/**
 * `bazil ls` (the API's volumeLs): a directory of a volume's live tree as the engine holds it,
 * mounted or not, and what a shell sees in the mount: names, kinds, sizes (a file still being
 * written counts with what is written), times, symlink targets; errors in words.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { SnapshotListing } from '../../src-main/common/api.js';
import { EngineHarness, assertRefused, bazil, bazilOk, ok } from '../helpers/engine-harness.js';
import { q } from '../helpers/fs-tools.js';
import { writeAndHold } from '../helpers/python-process.js';

let h: EngineHarness;
let mnt: string;
const VOLUME = 'listed';

before(async () => {
  h = await EngineHarness.create();
  await h.start();
  mnt = await h.volume(VOLUME);
});

after(async () => {
  await h.stop({ force: true });
});

const ls = async (...args: string[]) =>
  JSON.parse(await bazilOk(h.dataDir, 'ls', VOLUME, ...args, '--json')) as SnapshotListing;

/** What the shell sees in a directory of the mount: name type size mtime(s), sorted by name. */
async function shellView(dir: string): Promise<string[]> {
  const out = await ok(`cd ${q(dir)} && LC_ALL=C stat -c '%n %F %s %Y' -- * | LC_ALL=C sort`);
  return out.trim().split('\n');
}

const TYPE_WORDS: Record<string, string> = { file: 'regular file', dir: 'directory', symlink: 'symbolic link' };

test('a directory of the live tree lists what the mount shows, mounted and not', async () => {
  await ok(
    `cd ${q(mnt)} && mkdir -p docs/deep && printf 'hello\\n' > docs/a.txt && head -c 300000 /dev/urandom > docs/b.bin` +
      ` && ln -s a.txt docs/link && touch -d '2020-01-02 03:04:05' docs/a.txt`,
  );
  const listing = await ls('/docs');
  assert.equal(listing.entry.path, '/docs');
  assert.equal(listing.entry.type, 'dir');
  const ours = listing.entries.map(
    (e) =>
      `${e.name} ${TYPE_WORDS[e.type]} ${e.type === 'dir' ? 4096 : e.sizeBytes} ${Number(BigInt(e.mtimeNs) / 10n ** 9n)}`,
  );
  assert.deepEqual(ours, await shellView(join(mnt, 'docs')));
  assert.equal(listing.entries.find((e) => e.name === 'link')!.target, 'a.txt');
  assert.deepEqual(
    listing.entries.map((e) => e.path),
    ['/docs/a.txt', '/docs/b.bin', '/docs/deep', '/docs/link'],
  );

  // The command's own lines: ls -ln's columns (the owner is whoever runs the tests: CI runs them
  // as root and as a normal user), a symlink with its target.
  const text = (await bazil(h.dataDir, 'ls', VOLUME, 'docs')).stdout;
  const owner = `${process.getuid!()} +${process.getgid!()}`;
  assert.match(text, new RegExp(`^-rw-r--r-- +1 +${owner} +300000 .* b\\.bin$`, 'm'));
  assert.match(text, /^l.* link -> a\.txt$/m);
  // The root lists the volume's names, never .snap.
  assert.deepEqual(
    (await ls()).entries.map((e) => e.name),
    ['docs'],
  );

  // Not mounted: the same, read from the store.
  await h.client!.call('unmount', { name: VOLUME });
  try {
    const stored = await ls('/docs');
    assert.deepEqual(stored.entries, listing.entries);
  } finally {
    await h.mount(VOLUME, mnt);
  }
});

test('a file being written is listed with the size written so far, before it is stored', async () => {
  const writer = await writeAndHold(mnt, 'growing', 2 * 1024 * 1024 + 5);
  try {
    const entry = (await ls('/growing')).entry;
    assert.equal(entry.type, 'file');
    assert.equal(entry.sizeBytes, 2 * 1024 * 1024 + 5);
    assert.equal((await ls()).entries.find((e) => e.name === 'growing')!.sizeBytes, 2 * 1024 * 1024 + 5);
    await writer.close();
  } finally {
    await writer.kill();
  }
});

test('a path that is missing, under a file, or with ".." is refused in words', async () => {
  assertRefused(await bazil(h.dataDir, 'ls', VOLUME, '/nope'), /\/nope in volume "listed": no such file or directory/);
  assertRefused(
    await bazil(h.dataDir, 'ls', VOLUME, '/docs/a.txt/x'),
    /\/docs\/a\.txt\/x in volume "listed": not a directory/,
  );
  assertRefused(await bazil(h.dataDir, 'ls', VOLUME, '/docs/../x'), /without "\." or "\.\."/);
  assertRefused(await bazil(h.dataDir, 'ls', 'nosuch'), /no volume named "nosuch"/);
  assertRefused(await bazil(h.dataDir, 'ls'), /usage: bazil ls VOLUME \[PATH\]/);
});
