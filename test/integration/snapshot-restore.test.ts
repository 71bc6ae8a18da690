/**
 * Restoring from snapshots as a user does it, with `bazil snapshot restore`, on a mounted volume
 * that programs keep using, and on one that is not mounted.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { SnapshotInfo, StatsResult } from '../../src-main/common/api.js';
import { EngineHarness, assertRefused, bazil, bazilOk, ok } from '../helpers/engine-harness.js';
import { holdOpen, py, q, uniqueName } from '../helpers/fs-tools.js';

let h: EngineHarness;
let mnt: string;
const VOLUME = 'restores';

before(async () => {
  h = await EngineHarness.create();
  await h.start();
  mnt = await h.volume(VOLUME);
});

after(async () => {
  await h.stop({ force: true });
});

const cli = (...args: string[]) => bazilOk(h.dataDir, ...args);

const chunkCount = async () => (JSON.parse(await cli('stats', '--json')) as StatsResult).chunkCount;
const snapshots = async (volume = VOLUME) =>
  JSON.parse(await cli('snapshot', 'list', volume, '--json')) as SnapshotInfo[];

/** Every entry under `dir` with type, mode, links, size, mtime (ns), link target and content hash. */
async function describeTree(dir: string): Promise<string> {
  return ok(
    `cd ${q(dir)} && find . -mindepth 1 -printf '%p|%y|%m|%n|%s|%T@|%l\\n' | sort && ` +
      `find . -type f -print0 | sort -z | xargs -0 -r sha256sum`,
  );
}

test('a file restored in place reads as it was at once, no data is copied, and what it replaced is kept', async () => {
  const name = uniqueName('doc');
  const path = join(mnt, name);
  await ok(`head -c 3000000 /dev/urandom > ${q(path)}`);
  const original = await ok(`sha256sum < ${q(path)}`);
  await cli('snapshot', 'create', VOLUME, `${name}-v1`);
  await ok(`printf 'overwritten by mistake\\n' > ${q(path)} && cat ${q(path)} > /dev/null`);
  const chunksBefore = await chunkCount();

  const said = await cli('snapshot', 'restore', VOLUME, `${name}-v1`, `/${name}`);
  assert.match(said, new RegExp(`restored /${name} from snapshot "${name}-v1" \\(1 entry, no data copied\\)`));
  assert.equal(await ok(`sha256sum < ${q(path)}`), original, 'readers see the restored content at once');
  assert.equal(await chunkCount(), chunksBefore, 'no chunk was written');

  const safety = (await snapshots()).find((s) => s.automatic && said.includes(`"${s.name}"`));
  assert.ok(safety, `the automatic snapshot is named in: ${said}`);
  assert.match(safety.name, /^before-restore-/);
  assert.equal(
    await ok(`cat ${q(join(mnt, '.snap', safety.name, name))}`),
    'overwritten by mistake\n',
    'what the restore replaced is in the automatic snapshot',
  );
});

test('a directory restored beside itself (--as) and in place: links, symlinks, modes, times, xattrs as they were', async () => {
  const dir = uniqueName('project');
  await ok(
    [
      `cd ${q(mnt)} && mkdir -p ${dir}/src/deep ${dir}/empty && cd ${dir}`,
      `printf 'main\\n' > src/main.c && ln src/main.c src/main-link.c && ln -s deep/x src/sym`,
      `head -c 700000 /dev/urandom > src/deep/x && chmod 600 src/deep/x && chmod 2750 src/deep`,
      `touch -d '2003-04-05 06:07:08.9' src/main.c`,
      `python3 -c "import os; os.setxattr('src/main.c', 'user.tag', b'v1')"`,
    ].join(' && '),
  );
  const before = await describeTree(join(mnt, dir));
  await cli('snapshot', 'create', VOLUME, `${dir}-snap`);
  await ok(
    `cd ${q(join(mnt, dir))} && rm -r src/deep && printf 'changed\\n' > src/main.c && mkdir added && rmdir empty`,
  );
  const changed = await describeTree(join(mnt, dir));

  // Listed twice before the restore, the root's listing is the kernel's own copy (cacheDir): the
  // restore must make it show the new name.
  for (let i = 0; i < 2; i++) assert.doesNotMatch(await ok(`ls -a ${q(mnt)}`), new RegExp(`^${dir}-restored$`, 'm'));
  const beside = await cli('snapshot', 'restore', VOLUME, `${dir}-snap`, `/${dir}`, '--as', `/${dir}-restored`);
  assert.match(beside, /\(8 entries, no data copied\)/);
  assert.match(await ok(`ls -a ${q(mnt)}`), new RegExp(`^${dir}-restored$`, 'm'), 'a listing shows the restored name');
  assert.doesNotMatch(beside, /kept in snapshot/, 'nothing was replaced');
  assert.equal(await describeTree(join(mnt, `${dir}-restored`)), before);
  assert.equal(await describeTree(join(mnt, dir)), changed, 'the original is untouched');
  const [a, b] = (
    await ok(
      `stat -c %i ${q(join(mnt, `${dir}-restored/src/main.c`))} ${q(join(mnt, `${dir}-restored/src/main-link.c`))}`,
    )
  )
    .trim()
    .split('\n');
  assert.equal(a, b, 'the two names of main.c are one file again');
  assert.equal(
    await py<string>(
      `import os, json; print(json.dumps(os.getxattr('src/main.c', 'user.tag').decode()))`,
      join(mnt, `${dir}-restored`),
    ),
    'v1',
  );

  await cli('snapshot', 'restore', VOLUME, `${dir}-snap`, `/${dir}`);
  assert.equal(await describeTree(join(mnt, dir)), before);
});

test('a file open in a directory that a restore replaces stays readable through its handle', async () => {
  const dir = uniqueName('busy');
  await ok(`mkdir ${q(join(mnt, dir))} && echo old > ${q(join(mnt, dir, 'f'))}`);
  await cli('snapshot', 'create', VOLUME, `${dir}-snap`);
  await ok(`echo newer > ${q(join(mnt, dir, 'f'))}`);
  const holder = await holdOpen('f', join(mnt, dir));
  try {
    await cli('snapshot', 'restore', VOLUME, `${dir}-snap`, `/${dir}`);
    assert.equal(await ok(`cat ${q(join(mnt, dir, 'f'))}`), 'old\n');
  } finally {
    await holder.release();
  }
});

test('a volume that is not mounted is restored too, and mounts with the restored tree', async () => {
  const other = await h.volume('offline');
  await ok(`echo first > ${q(join(other, 'note'))}`);
  await cli('snapshot', 'create', 'offline', 'one');
  await ok(`echo second > ${q(join(other, 'note'))}`);
  await cli('unmount', 'offline');
  assert.match(await cli('snapshot', 'restore', 'offline', 'one', '/note'), /kept in snapshot "before-restore-/);
  await cli('mount', 'offline', other);
  assert.equal(await ok(`cat ${q(join(other, 'note'))}`), 'first\n');
});

test('bad restores are refused with one clear line, and nothing changes', async () => {
  const dir = uniqueName('kinds');
  await ok(`cd ${q(mnt)} && mkdir ${dir} && echo f > ${dir}/file && mkdir ${dir}/sub`);
  await cli('snapshot', 'create', VOLUME, `${dir}-snap`);
  await ok(`cd ${q(join(mnt, dir))} && rm file && mkdir file && rmdir sub && echo now-a-file > sub`);
  const count = (await snapshots()).length;
  const tree = await describeTree(join(mnt, dir));
  const refuse = async (args: string[], words: RegExp) =>
    assertRefused(await bazil(h.dataDir, 'snapshot', 'restore', ...args), words);
  await refuse([VOLUME, `${dir}-snap`, `/${dir}/file`], /is a directory in volume "restores" and a file in snapshot/);
  await refuse([VOLUME, `${dir}-snap`, `/${dir}/sub`], /is a file in volume "restores" and a directory in snapshot/);
  await refuse(
    [VOLUME, `${dir}-snap`, `/${dir}/file`, '--as', '/no/such/dir/file'],
    /"\/no\/such\/dir" is not a directory in volume/,
  );
  await refuse([VOLUME, `${dir}-snap`, '/'], /root cannot be replaced in place/);
  await refuse([VOLUME, 'nosuch', '/x'], /has no snapshot named "nosuch"/);
  await refuse([VOLUME, `${dir}-snap`, `/${dir}/missing`], /no such file or directory/);
  await refuse([VOLUME, `${dir}-snap`], /usage: bazil snapshot restore VOLUME SNAPSHOT PATH/);
  assert.equal((await snapshots()).length, count, 'no automatic snapshot for a refused restore');
  assert.equal(await describeTree(join(mnt, dir)), tree);
});
