/**
 * An engine whose log cannot be written keeps serving: the disk under engine.log is full, or the
 * process that read its output is gone. Lines lost are counted once the log can be written again.
 * (Needs root, to mount a small file system.)
 */
import assert from 'node:assert/strict';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { needsRoot } from '../helpers/fs-tools.js';
import { sendOversizeRequest } from '../helpers/control-connection.js';
import { EngineHarness, bazil, ok, sh } from '../helpers/engine-harness.js';
import { scratch } from '../helpers/scratch.js';

const REFUSED = /^bazil: refused a control request longer than 1 MiB/;

test(
  'with engine.log on a full disk the engine keeps serving; once there is space, the log says how many lines were lost',
  needsRoot('mount a small disk'),
  async (t) => {
    const { root, bazilSh, tmpfs } = await scratch(t);
    const dataDir = join(root, 'data');
    const mnt = join(root, 'mnt');
    await tmpfs(dataDir, 'size=8m,mode=700');
    await ok(`mkdir '${mnt}'`);
    await bazilSh(dataDir, 'volume create logged');
    await bazilSh(dataDir, `mount logged '${mnt}'`);
    await ok('echo kept > kept && sync kept', mnt);

    // Fill the disk, then the last page of engine.log (tmpfs gives a file whole pages).
    await sh(`dd if=/dev/zero of='${dataDir}/filler' bs=64k`);
    await sh(`yes '' | head -c 8192 >> '${dataDir}/engine.log'`);
    const logged = await readFile(join(dataDir, 'engine.log'), 'utf8');

    // The engine logs each refused request: two lines it cannot write.
    for (let i = 0; i < 2; i++) assert.equal((await sendOversizeRequest(dataDir))[0]?.error?.code, 'EINVAL');
    assert.equal(await readFile(join(dataDir, 'engine.log'), 'utf8'), logged, 'nothing could be written');
    assert.equal(await ok('cat kept', mnt), 'kept\n', 'the mount is served');
    const listed = await bazil(dataDir, 'volume', 'list');
    assert.equal(listed.code, 0, listed.stderr);

    await rm(join(dataDir, 'filler'));
    await sendOversizeRequest(dataDir);
    const added = (await readFile(join(dataDir, 'engine.log'), 'utf8')).slice(logged.length).trimEnd().split('\n');
    assert.equal(added.length, 2, added.join('\n'));
    assert.equal(added[0], 'bazil: 2 log lines could not be written (ENOSPC) and are lost');
    assert.match(added[1]!, REFUSED);
  },
);

test('an engine keeps serving after the process that read its output is gone (a closed pipe)', async (t) => {
  const h = await EngineHarness.create();
  t.after(() => h.stop());
  await h.start();
  const mnt = await h.volume('orphaned');
  await ok('echo kept > kept', mnt);
  h.closeOutput();
  // Log lines to stdout and stderr, which now have no reader.
  for (let i = 0; i < 3; i++) await sendOversizeRequest(h.dataDir);
  await h.client!.call('unmount', { name: 'orphaned' });
  await h.mount('orphaned', mnt);
  assert.equal(await ok('cat kept', mnt), 'kept\n');
  assert.deepEqual(
    (await h.client!.call('volumeList', {})).map((v) => v.name),
    ['orphaned'],
  );
});
