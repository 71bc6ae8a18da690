/**
 * The data directory as a user's machine has it: read-only, full, shared with other users, or
 * left behind by an engine that crashed. Each case gets one clear line and the right exit code,
 * and nothing in it is readable by another user. (Needs root, to mount small file systems.)
 */
import assert from 'node:assert/strict';
import { chmod, mkdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { needsRoot } from '../helpers/fs-tools.js';
import { assertRefused, bazil, ok, sh } from '../helpers/engine-harness.js';
import { scratch } from '../helpers/scratch.js';

test(
  'a read-only data directory gets one line and exit 2, whether a command starts the engine or `daemon` runs it',
  needsRoot('mount a read-only disk'),
  async (t) => {
    const { root, tmpfs } = await scratch(t);
    const readOnly = join(root, 'ro');
    // chmod does not stop root: a read-only file system does.
    await tmpfs(readOnly, 'ro,mode=700');
    for (const dataDir of [readOnly, join(readOnly, 'missing', 'data')]) {
      for (const args of [['volume', 'list'], ['daemon']]) {
        assertRefused(await bazil(dataDir, ...args), /cannot use data directory ".*" \(EROFS\)/);
      }
    }
  },
);

/** Paths under `dir` (itself included) that give their group or other users any access. */
async function openToOthers(dir: string): Promise<string[]> {
  return (await ok(`find '${dir}' -perm /077 -printf '%m %p\\n'`)).split('\n').filter(Boolean);
}

/** Runs a shell command as user nobody: another local user. */
const asNobody = (command: string) => sh(`setpriv --reuid=nobody --regid=nogroup --clear-groups sh -c '${command}'`);

test(
  'what the engine keeps in a data directory is private to its user, whatever the umask; files on the mount keep their modes',
  needsRoot('act as another user'),
  async (t) => {
    const { root, bazilSh } = await scratch(t);
    // As in the report: a data directory that already existed, readable by everyone.
    await chmod(root, 0o755);
    const dataDir = join(root, 'data');
    const mnt = join(root, 'mnt');
    await mkdir(dataDir, { mode: 0o755 });
    await chmod(dataDir, 0o755);
    await mkdir(mnt);
    // The engine is started with umask 000: nothing may depend on the user's umask.
    await bazilSh(dataDir, 'volume create private', 'umask 000');
    await bazilSh(dataDir, `mount private '${mnt}'`, 'umask 000');

    // Programs on the mount get the modes they ask for, through their own umask (not the engine's).
    await ok(
      'umask 022 && echo small-secret-7f3a9c > small && umask 077 && echo x > own && umask 000 && mkdir open && touch wide && head -c 2M /dev/urandom > big && sync small big',
      mnt,
    );
    assert.deepEqual((await ok(`stat -c '%a %n' small own open wide`, mnt)).trim().split('\n'), [
      '644 small',
      '600 own',
      '777 open',
      '666 wide',
    ]);

    const names = (await ok(`cd '${dataDir}' && find . -mindepth 1 | sort`)).trim().split('\n');
    for (const name of [
      './engine.log',
      './engine.pid',
      './engine.sock',
      './packs',
      './store.mdb',
      './store.mdb-lock',
    ]) {
      assert.ok(names.includes(name), `${name} is in the data directory: ${names.join(' ')}`);
    }
    assert.ok(
      names.some((n) => n.startsWith('./packs/')),
      'a pack file was written',
    );
    assert.deepEqual(await openToOthers(dataDir), [`755 ${dataDir}`], 'only the data directory itself, as it was');
    // The small file's content is in the store, and another user cannot read it there.
    assert.equal(
      (await sh(`grep -c small-secret-7f3a9c '${dataDir}/store.mdb'`)).code,
      0,
      'the content is in store.mdb',
    );
    const peek = await asNobody(`cat ${dataDir}/store.mdb ${dataDir}/packs/* ${dataDir}/engine.log > /dev/null`);
    assert.notEqual(peek.code, 0, 'another user read the store');
    assert.match(peek.stderr, /Permission denied/);

    // The data directory's own mode is the user's to change: left as it was, with one line that says how.
    const warnings = (await readFile(join(dataDir, 'engine.log'), 'utf8'))
      .split('\n')
      .filter((l) => /readable/.test(l));
    assert.equal(warnings.length, 1, warnings.join('\n'));
    assert.match(
      warnings[0]!,
      new RegExp(`data directory "${dataDir}" is readable by other users.*chmod 700 "${dataDir}"`),
    );
  },
);

test('a data directory an older Bazil left readable by others is made private when the engine opens it', async (t) => {
  const { root, bazilSh } = await scratch(t);
  const dataDir = join(root, 'data');
  const mnt = join(root, 'mnt');
  await mkdir(mnt);
  await bazilSh(dataDir, 'volume create old');
  await bazilSh(dataDir, `mount old '${mnt}'`);
  await ok('head -c 2M /dev/urandom > big && sync big', mnt);
  await bazilSh(dataDir, 'daemon stop');
  // The modes an older version created, under umask 022.
  await ok(
    `chmod 755 '${dataDir}/packs' && chmod 644 '${dataDir}'/engine.log '${dataDir}'/store.mdb* '${dataDir}'/packs/*`,
  );
  assert.equal((await openToOthers(dataDir)).length, 5);

  await bazilSh(dataDir, 'volume list');
  assert.deepEqual(await openToOthers(dataDir), []);
});

test(
  'an engine killed with kill -9 leaves engine.pid and engine.sock behind; they never block the next start, on a full disk either',
  needsRoot('mount a small disk'),
  async (t) => {
    const { root, bazilSh, tmpfs } = await scratch(t);
    const dataDir = join(root, 'data');
    const mnt = join(root, 'mnt');
    await tmpfs(dataDir, 'size=8m,mode=700');
    await mkdir(mnt);
    await bazilSh(dataDir, 'volume create crashed');
    await bazilSh(dataDir, `mount crashed '${mnt}'`);
    await ok('echo kept > kept && sync kept', mnt);
    const pid = (await readFile(join(dataDir, 'engine.pid'), 'utf8')).trim();
    await ok(`kill -9 ${pid}; while kill -0 ${pid} 2>/dev/null; do sleep 0.05; done`);
    assert.equal((await sh(`ls '${dataDir}/engine.pid' '${dataDir}/engine.sock'`)).code, 0, 'both left behind');
    await sh(`dd if=/dev/zero of='${dataDir}/filler' bs=64k`);

    const listed = await bazil(dataDir, 'volume', 'list');
    assert.equal(listed.code, 0, listed.stderr);
    assert.equal(listed.stdout, 'crashed\t(not mounted)\n');
    assert.notEqual((await readFile(join(dataDir, 'engine.pid'), 'utf8')).trim(), pid);
    // Space again: the crash's dead mount is cleared on mounting again, and the file is there.
    await rm(join(dataDir, 'filler'));
    await bazilSh(dataDir, `mount crashed '${mnt}'`);
    assert.equal(await ok('cat kept', mnt), 'kept\n');
  },
);

test('an engine.pid naming another program (its number reused after a reboot) does not block the start', async (t) => {
  const { root, bazilSh } = await scratch(t);
  const dataDir = join(root, 'data');
  await bazilSh(dataDir, 'volume create reused');
  await bazilSh(dataDir, 'daemon stop');
  // pid 1 (init) always runs, and is no engine.
  await ok(`echo 1 > '${dataDir}/engine.pid'`);
  const listed = await bazil(dataDir, 'volume', 'list');
  assert.equal(listed.code, 0, listed.stderr);
  assert.equal(listed.stdout, 'reused\t(not mounted)\n');
});

test(
  'on a full disk a command that starts the engine says why in one line, and works again once there is space',
  needsRoot('mount a small disk'),
  async (t) => {
    const { root, bazilSh, tmpfs } = await scratch(t);
    const dataDir = join(root, 'data');
    await tmpfs(dataDir, 'size=8m,mode=700');
    await bazilSh(dataDir, 'volume create full');
    await bazilSh(dataDir, 'daemon stop');
    // Every page of the disk taken, engine.log's last one included (tmpfs gives a file whole pages).
    await sh(`dd if=/dev/zero of='${dataDir}/filler' bs=64k`);
    await sh(`yes '' | head -c 8192 >> '${dataDir}/engine.log'`);

    assertRefused(
      await bazil(dataDir, 'volume', 'list'),
      /the engine did not start: cannot write ".*engine.pid" \(ENOSPC\).*free space/,
    );
    await rm(join(dataDir, 'filler'));
    const listed = await bazil(dataDir, 'volume', 'list');
    assert.equal(listed.code, 0, listed.stderr);
    assert.match(listed.stdout, /^full\t/);
  },
);

test('a store that cannot be opened: the command says why in one line, not the last line of a stack trace', async (t) => {
  const { root, bazilSh } = await scratch(t);
  const dataDir = join(root, 'data');
  await bazilSh(dataDir, 'volume create broken');
  await bazilSh(dataDir, 'daemon stop');
  // LMDB cannot open a folder as its file: an error the engine does not expect.
  await ok(`rm '${dataDir}/store.mdb' && mkdir '${dataDir}/store.mdb'`);
  const result = await bazil(dataDir, 'volume', 'list');
  assert.equal(result.code, 1, "not the user's doing: exit 1");
  assert.equal(result.stderr.trim().split('\n').length, 1, result.stderr);
  assert.match(
    result.stderr,
    /^bazil: the engine did not start: Is a directory: Attempting to open main database file$/m,
  );
});
