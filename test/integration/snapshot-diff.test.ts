/**
 * `bazil snapshot diff`, `bazil history` and `bazil snapshot find` as a user reads them: what
 * changed between two snapshots or since one, the versions of one file across snapshots, and
 * where a name is in all of them.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { FileVersion, FoundEntry, SnapshotDiff } from '../../src-main/common/api.js';
import { EngineHarness, assertRefused, bazil, bazilOk, ok } from '../helpers/engine-harness.js';
import { q, uniqueName } from '../helpers/fs-tools.js';

let h: EngineHarness;
let mnt: string;
const VOLUME = 'diffs';

before(async () => {
  h = await EngineHarness.create();
  await h.start();
  mnt = await h.volume(VOLUME);
});

after(async () => {
  await h.stop({ force: true });
});

const cli = (...args: string[]) => bazilOk(h.dataDir, ...args);

const diff = async (...args: string[]) =>
  (JSON.parse(await cli('snapshot', 'diff', VOLUME, ...args, '--json')) as SnapshotDiff).changes.map((c) =>
    [c.change, c.path, c.type, c.content ?? c.was ?? ''].join(' '),
  );

test('diff lists what was added, removed, modified (content or attributes) and changed in type', async () => {
  const d = uniqueName('tree');
  await ok(
    [
      `cd ${q(mnt)} && mkdir -p ${d}/same/deep ${d}/gone-dir/x ${d}/changes && cd ${d}`,
      `for i in 1 2 3 4 5; do echo $i > same/deep/f$i; done`,
      `echo a > changes/edited && echo b > changes/chmodded && echo c > changes/removed && echo d > changes/retyped`,
      `echo e > gone-dir/x/f`,
    ].join(' && '),
  );
  await cli('snapshot', 'create', VOLUME, 'a');
  await ok(
    [
      `cd ${q(join(mnt, d))}`,
      `echo edited > changes/edited && chmod 600 changes/chmodded && rm changes/removed`,
      `rm changes/retyped && mkdir changes/retyped`,
      `mkdir -p new-dir/y && echo f > new-dir/y/f && echo g > changes/added`,
      `rm -r gone-dir`,
    ].join(' && '),
  );
  await cli('snapshot', 'create', VOLUME, 'b');
  const expected = [
    `added /${d}/changes/added file `,
    `modified /${d}/changes/chmodded file false`,
    `modified /${d}/changes/edited file true`,
    `removed /${d}/changes/removed file `,
    `type-changed /${d}/changes/retyped dir file`,
    `removed /${d}/gone-dir dir `,
    `added /${d}/new-dir dir `,
  ];
  assert.deepEqual(await diff('a', 'b'), expected);
  // Against the live volume: the same, and what changed since b.
  await ok(`echo later > ${q(join(mnt, d, 'same', 'later'))}`);
  assert.deepEqual(await diff('a'), [
    ...expected.slice(0, 5),
    `removed /${d}/gone-dir dir `,
    `added /${d}/new-dir dir `,
    `added /${d}/same/later file `,
  ]);
  assert.deepEqual(await diff('b', 'b'), []);
  assert.match(await cli('snapshot', 'diff', VOLUME, 'b', 'b'), /no changes from "b" to "b"/);
  const text = await cli('snapshot', 'diff', VOLUME, 'a', 'b');
  assert.match(text, new RegExp(`^M /${d}/changes/edited$`, 'm'));
  assert.match(text, new RegExp(`^m /${d}/changes/chmodded$`, 'm'));
  assert.match(text, new RegExp(`^- /${d}/gone-dir/$`, 'm'));
  assert.match(text, new RegExp(`^T /${d}/changes/retyped/$`, 'm'));
  assertRefused(await bazil(h.dataDir, 'snapshot', 'diff', VOLUME, 'nosuch'), /has no snapshot named "nosuch"/);

  // One folder only: what changed under it, paths still from the volume's root.
  assert.deepEqual(await diff('a', 'b', '--path', `/${d}/changes`), expected.slice(0, 5));
  assert.deepEqual(await diff('a', '--path', `${d}/same/`), [`added /${d}/same/later file `]);
  assertRefused(
    await bazil(h.dataDir, 'snapshot', 'diff', VOLUME, 'a', '--path', `/${d}/new-dir`),
    new RegExp(`/${d}/new-dir in snapshot "a": no such file or directory`),
  );
  assertRefused(
    await bazil(h.dataDir, 'snapshot', 'diff', VOLUME, 'a', 'b', '--path', `/${d}/changes/edited`),
    /is not a directory: a diff compares directories/,
  );
});

test('history: the distinct versions of a file, with the snapshots that hold each', async () => {
  const name = uniqueName('notes');
  const path = join(mnt, name);
  const snap = (n: string) => cli('snapshot', 'create', VOLUME, `${name}-${n}`);
  await ok(`echo one > ${q(path)}`);
  await snap('1');
  await snap('2');
  await ok(`echo two, longer > ${q(path)}`);
  await snap('3');
  await ok(`rm ${q(path)}`);
  await snap('4');
  await ok(`echo one > ${q(path)}`);
  await snap('5');
  const versions = JSON.parse(await cli('history', VOLUME, `/${name}`, '--json')) as FileVersion[];
  assert.deepEqual(
    versions.map((v) => [v.snapshots, v.sizeBytes]),
    [
      [[`${name}-1`, `${name}-2`], 4],
      [[`${name}-3`], 12],
      [[`${name}-5`], 4],
    ],
  );
  assert.match(await cli('history', VOLUME, `/${name}`), new RegExp(`${name}-1 \\.\\. ${name}-2 \\(2 snapshots\\)`));
  assertRefused(
    await bazil(h.dataDir, 'history', VOLUME, '/never-there'),
    /no snapshot of volume "diffs" holds "\/never-there"/,
  );
  assertRefused(await bazil(h.dataDir, 'history', VOLUME), /usage: bazil history VOLUME PATH/);
});

test('find: every snapshot and path whose name matches, newest snapshot first', async () => {
  const d = uniqueName('pics');
  const snap = (n: string) => cli('snapshot', 'create', VOLUME, `${d}-${n}`);
  await ok(`cd ${q(mnt)} && mkdir -p ${d}/p ${d}/q && echo x > ${d}/p/cat.jpg && echo y > ${d}/p/dog.png`);
  await snap('1');
  await ok(`echo z > ${q(join(mnt, d, 'q', 'cat.jpg'))}`);
  await snap('2');
  await ok(`rm ${q(join(mnt, d, 'p', 'cat.jpg'))}`);
  await snap('3');
  const find = async (pattern: string) =>
    (JSON.parse(await cli('snapshot', 'find', VOLUME, pattern, '--json')) as FoundEntry[])
      .filter((f) => f.snapshot.startsWith(d))
      .map((f) => `${f.snapshot.slice(d.length + 1)}:${f.path}`);
  assert.deepEqual(await find('cat.jpg'), [
    `3:/${d}/q/cat.jpg`,
    `2:/${d}/p/cat.jpg`,
    `2:/${d}/q/cat.jpg`,
    `1:/${d}/p/cat.jpg`,
  ]);
  assert.deepEqual(await find('*.png'), [`3:/${d}/p/dog.png`, `2:/${d}/p/dog.png`, `1:/${d}/p/dog.png`]);
  assert.deepEqual(await find(`/${d}/q/*`), [`3:/${d}/q/cat.jpg`, `2:/${d}/q/cat.jpg`]);
  assert.deepEqual(await find('q'), [`3:/${d}/q`, `2:/${d}/q`, `1:/${d}/q`]);
  assert.match(await cli('snapshot', 'find', VOLUME, 'nothing-like-this*'), /nothing named "nothing-like-this\*"/);
});
