/**
 * Bazil as a normal user runs it, and as other users meet it: a user mounts their own volume
 * through fusermount3, with the `bazil` command; with --allow-other, other users enter a mount and
 * the kernel holds them to Linux's rules of modes and ownership, and what they create is theirs.
 * (The tests run as root and create the user they need.)
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, test } from 'node:test';
import { EngineHarness, ok, sh } from '../helpers/engine-harness.js';
import { needsRoot, q } from '../helpers/fs-tools.js';

const USER = 'bazil-test-user';
/** Every test here creates a user and acts as it. */
const root = needsRoot('create a user and act as it');
const PROJECT = fileURLToPath(new URL('../../..', import.meta.url));

let h: EngineHarness;
/** /dev/fuse's mode before the tests (distributions make it 0666; some machines keep it 0600). */
let fuseMode = '';
/** The project as the test user can reach it (a copy when the checkout is private). */
let project: string;
let home: string;

/** Runs a shell command as the test user; never throws. */
function asUser(command: string, cwd = home) {
  return sh(`runuser -u ${USER} -- sh -c ${q(`cd ${q(cwd)} && ${command}`)}`);
}

/** `bazil ARGS` as the test user, with their own data directory. */
function bazilAsUser(args: string) {
  return asUser(
    `${q(process.execPath)} ${q(join(project, 'bin/bazil.js'))} --data-dir ${q(join(home, 'data'))} ${args}`,
  );
}

before(async () => {
  if (root.skip) return;
  fuseMode = (await ok('stat -c %a /dev/fuse')).trim();
  await ok('chmod 666 /dev/fuse');
  if ((await sh(`id -u ${USER}`)).code !== 0) await ok(`useradd --create-home --shell /bin/sh ${USER}`);
  home = (await ok(`getent passwd ${USER} | cut -d: -f6`)).trim();
  // A fresh start: what an earlier run left in the user's home goes.
  await sh(
    `pkill -u ${USER} -f bazil.js; fusermount3 -uz ${q(join(home, 'mnt'))} 2>/dev/null; rm -rf ${q(join(home, 'data'))} ${q(join(home, 'mnt'))}`,
  );
  h = await EngineHarness.create();
  // The user must read the built project: a checkout under a private home is copied for them.
  const readable = await sh(`runuser -u ${USER} -- test -r ${q(join(PROJECT, 'bin/bazil.js'))}`);
  project = PROJECT;
  if (readable.code !== 0) {
    project = join(h.root, 'project');
    await ok(
      `mkdir -p ${q(project)} && cp -a ${['bin', 'dist', 'native', 'node_modules', 'package.json'].map((p) => q(join(PROJECT, p))).join(' ')} ${q(project)}`,
    );
    await ok(`chmod -R a+rX ${q(h.root)}`);
  }
  await h.start();
});

after(async () => {
  if (root.skip) return;
  // Whatever a failed test left: the user's engine and mount.
  await bazilAsUser('daemon stop --force');
  await sh(`pkill -u ${USER} -f bazil.js; fusermount3 -uz ${q(join(home, 'mnt'))} 2>/dev/null; true`);
  await h?.stop();
  if (fuseMode) await sh(`chmod ${fuseMode} /dev/fuse`);
});

test('a normal user mounts a volume of their own through fusermount3, and only they can enter it', root, async () => {
  await asUser('mkdir -p mnt');
  const created = await bazilAsUser('volume create mine');
  assert.equal(created.code, 0, created.stderr);
  const mounted = await bazilAsUser(`mount mine ${q(join(home, 'mnt'))}`);
  assert.equal(mounted.code, 0, mounted.stderr);
  const used = await asUser('echo hello > mnt/f && cat mnt/f && stat -c %U:%a mnt/f && ls -ld mnt | cut -c1-10');
  assert.equal(used.code, 0, used.stderr);
  assert.equal(used.stdout, `hello\n${USER}:644\ndrwxr-xr-x\n`);
  // Without --allow-other, no other user enters, root included.
  const rootLooks = await sh(`ls ${q(join(home, 'mnt'))}`);
  assert.notEqual(rootLooks.code, 0);
  assert.match(rootLooks.stderr, /Permission denied/);
  assert.equal((await bazilAsUser('unmount mine')).code, 0);
  assert.equal((await bazilAsUser('daemon stop')).code, 0);
  assert.ok(!(await ok('cat /proc/mounts')).includes(join(home, 'mnt')), 'nothing stays mounted');
});

test(
  'with --allow-other, another user enters, owns what they create, and meets Linux rules of modes and ownership',
  root,
  async () => {
    await h.client!.call('volumeCreate', { name: 'shared' });
    const mnt = await h.dir('shared');
    await h.mount('shared', mnt, { allowOther: true });
    await ok(
      `chmod 755 ${q(h.root)} && mkdir -m 1777 ${q(join(mnt, 'pub'))} && echo root > ${q(join(mnt, 'pub/roots'))}`,
    );
    const mine = await asUser(`echo mine > pub/mine && stat -c %U pub/mine`, mnt);
    assert.equal(mine.code, 0, mine.stderr);
    assert.equal(mine.stdout, `${USER}\n`, 'a file another user creates is theirs');
    const id = (await ok(`id -u ${USER}`)).trim();
    assert.equal((await ok(`stat -c %u ${q(join(mnt, 'pub/mine'))}`)).trim(), id);
    // The sticky directory: another's file cannot be removed or renamed; one's own can.
    assert.match((await asUser('rm -f pub/roots', mnt)).stderr, /Operation not permitted/);
    assert.match((await asUser('chmod 777 pub/roots', mnt)).stderr, /Operation not permitted/);
    assert.match((await asUser('chown root pub/mine', mnt)).stderr, /Operation not permitted/);
    assert.match((await asUser('echo more >> pub/roots', mnt)).stderr, /Permission denied/);
    assert.equal((await asUser('mv pub/mine pub/moved && rm pub/moved', mnt)).code, 0);
    await ok(`chown ${USER} ${q(join(mnt, 'pub/roots'))}`);
    assert.equal(
      (await asUser('echo more >> pub/roots && cat pub/roots', mnt)).stdout,
      'root\nmore\n',
      'root may chown',
    );
    await h.client!.call('unmount', { name: 'shared' });
  },
);
