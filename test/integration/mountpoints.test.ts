/**
 * Where a volume may be mounted. The engine serves its own mounts, so a mountpoint inside one of
 * them would make it wait on itself (mount(2) looks the path up through the engine's own mount)
 * and hang with every volume: such a mountpoint is refused, however it is reached, and the engine
 * keeps serving. A hang here is cut off by the harness, which aborts the FUSE connections.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { needsRoot } from '../helpers/fs-tools.js';
import { EngineHarness, bazil, ok, sh } from '../helpers/engine-harness.js';

let h: EngineHarness;
let mntA: string;

before(async () => {
  h = await EngineHarness.create();
  await h.start();
  mntA = await h.volume('a');
  await h.client!.call('volumeCreate', { name: 'b' });
});

after(async () => {
  await h?.stop();
});

/** `bazil mount b DIR` is refused with one line naming volume a, and the engine still serves a. */
async function refusedInsideA(
  dir: string,
  words = /lies inside volume "a" \(mounted at .*\); choose a directory outside Bazil's volumes/,
): Promise<void> {
  const result = await bazil(h.dataDir, 'mount', 'b', dir);
  assert.equal(result.code, 2, `expected a refusal, got exit ${result.code}: ${result.stdout}${result.stderr}`);
  assert.equal(result.stderr.trim().split('\n').length, 1, result.stderr);
  assert.match(result.stderr, words);
  const list = await bazil(h.dataDir, 'volume', 'list', '--json');
  assert.equal(list.code, 0, 'the engine still answers');
  await ok(`echo still > ${join(mntA, 'alive')} && cat ${join(mntA, 'alive')}`);
}

test('a mountpoint inside another volume of the same engine is refused, and the engine keeps serving', async () => {
  // Empty, as a mountpoint must be (a non-empty one is refused before anything is mounted).
  await ok(`mkdir -p ${join(mntA, 'inside/deeper')}`);
  await refusedInsideA(join(mntA, 'inside/deeper'));
  await refusedInsideA(join(mntA, 'inside'));
  await refusedInsideA(mntA, /already holds volume "a"; choose another directory/);
});

test(
  'a mountpoint that leads into a volume through a symlink or a bind mount is refused too',
  needsRoot('bind-mount'),
  async () => {
    await ok(`mkdir -p ${join(mntA, 'target')}`);
    const link = join(h.root, 'link-into-a');
    await ok(`ln -s ${join(mntA, 'target')} ${link}`);
    await refusedInsideA(link);
    const chain = join(h.root, 'link-to-link');
    await ok(`ln -s link-into-a ${chain}`);
    await refusedInsideA(chain);

    const bound = await h.dir('bound');
    await ok(`mount --bind ${join(mntA, 'target')} ${bound}`);
    try {
      await refusedInsideA(bound);
    } finally {
      await sh(`umount ${bound}`);
    }
  },
);

test('a mountpoint outside the volumes, reached through a symlink, is mounted at its real place', async () => {
  const real = await h.dir('real-b');
  const link = join(h.root, 'link-to-real');
  await ok(`ln -s real-b ${link}`);
  await h.mount('b', link);
  try {
    const [b] = (await h.client!.call('volumeList', {})).filter((v) => v.name === 'b');
    assert.equal(b?.mountpoint, real);
    await ok(`echo b > ${join(real, 'file')}`);
  } finally {
    await h.client!.call('unmount', { name: 'b' });
  }
});
