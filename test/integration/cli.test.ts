/**
 * The `bazil` command as a user runs it: each call a separate process, the engine started in the
 * background on first use, one clear line and a non-zero exit for bad input.
 */
import assert from 'node:assert/strict';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { BAZIL_BIN, EngineHarness, assertRefused, bazil, ok, sh } from '../helpers/engine-harness.js';
import { holdOpen } from '../helpers/fs-tools.js';
import { ControlClient } from '../../src-main/client/control-client.js';
import { socketPath } from '../../src-main/engine/data-dir.js';

let h: EngineHarness;

before(async () => {
  h = await EngineHarness.create();
});

after(async () => {
  // Forced: after a failed test a volume may still be in use, or hold data the engine refuses to
  // drop, and a plain stop would leave the background engine running.
  await bazil(h.dataDir, 'daemon', 'stop', '--force');
  const pid = Number((await readFile(join(h.dataDir, 'engine.pid'), 'utf8').catch(() => '')).trim());
  if (pid > 0) await sh(`ps -p ${pid} -o args= | grep -q bazil && kill -9 ${pid} || true`);
  // The background engine's mounts are cleared by stop; anything left is cleared here.
  await sh(`grep -o '${h.root}[^ ]*' /proc/mounts | xargs -r -n1 fusermount -uz`);
  await h.stop();
});

test('the first command starts an engine in the background; volumes are created, listed and mounted', async () => {
  const created = await bazil(h.dataDir, 'volume', 'create', 'photos');
  assert.equal(created.code, 0, created.stderr);
  const mnt = await h.dir('photos');
  const mounted = await bazil(h.dataDir, 'mount', 'photos', mnt);
  assert.equal(mounted.code, 0, mounted.stderr);
  assert.match(mounted.stdout, new RegExp(`mounted volume "photos" at ${mnt}`));
  await ok(`echo hello > '${mnt}/greeting'`);
  assert.equal(await ok(`cat '${mnt}/greeting'`), 'hello\n');
  const list = JSON.parse((await bazil(h.dataDir, 'volume', 'list', '--json')).stdout) as {
    name: string;
    mountpoint: string;
  }[];
  assert.deepEqual(
    list.map((v) => [v.name, v.mountpoint]),
    [['photos', mnt]],
  );
});

test('a command that talks to a running engine loads no LMDB, no FUSE binding and no engine module', async () => {
  const record = join(h.root, 'loaded-modules');
  const hook = new URL('../helpers/record-loads.js', import.meta.url).href;
  const run = await sh(
    `BAZIL_RECORD_LOADS='${record}' '${process.execPath}' --import '${hook}' '${BAZIL_BIN}' --data-dir '${h.dataDir}' volume list`,
  );
  assert.equal(run.code, 0, run.stderr);
  const loaded = (await readFile(record, 'utf8')).trim().split('\n');
  assert.ok(
    loaded.some((url) => url.endsWith('/src-main/client/control-client.js')),
    'the recording sees the client load',
  );
  // The data directory's paths and the log's line format are all it takes from the engine's folder.
  const light = /\/src-main\/engine\/(data-dir|engine-log)\.js$/;
  const heavy = loaded.filter((url) => /\/node_modules\/lmdb\/|\/src-main\/engine\//.test(url) && !light.test(url));
  assert.deepEqual(heavy, []);
});

test('bad names and unknown volumes are refused with one clear line', async () => {
  assertRefused(await bazil(h.dataDir, 'volume', 'create', 'bad/name'), /invalid volume name "bad\/name"/);
  assertRefused(await bazil(h.dataDir, 'volume', 'create', 'photos'), /volume "photos" already exists/);
  assertRefused(await bazil(h.dataDir, 'mount', 'nosuch', await h.dir('x')), /no volume named "nosuch"/);
  assertRefused(await bazil(h.dataDir, 'unmount', 'nosuch'), /no volume named "nosuch"/);
  assertRefused(await bazil(h.dataDir, 'frobnicate'), /unknown command "frobnicate"/);
  assertRefused(await bazil(h.dataDir, 'mount', 'photos'), /usage: bazil mount NAME DIR/);
});

test('mountpoints that are missing, files, not empty or in use are refused and left untouched', async () => {
  await bazil(h.dataDir, 'volume', 'create', 'docs');
  assertRefused(await bazil(h.dataDir, 'mount', 'docs', join(h.root, 'missing')), /does not exist; create it first/);
  const file = join(h.root, 'a-file');
  await writeFile(file, 'keep me');
  assertRefused(await bazil(h.dataDir, 'mount', 'docs', file), /is not a directory/);
  const full = await h.dir('full');
  await writeFile(join(full, 'precious'), 'keep me too');
  assertRefused(await bazil(h.dataDir, 'mount', 'docs', full), /is not empty/);
  assert.equal(await ok(`cat '${join(full, 'precious')}' '${file}'`), 'keep me tookeep me');
  const photos = join(h.root, 'photos');
  assertRefused(await bazil(h.dataDir, 'mount', 'docs', photos), /already holds volume "photos"/);
  assertRefused(await bazil(h.dataDir, 'mount', 'photos', await h.dir('again')), /already mounted at/);
});

test('names and paths with control characters are quoted: every error stays one line, nothing changes', async () => {
  const before = (await bazil(h.dataDir, 'volume', 'list', '--json')).stdout;
  assertRefused(await bazil(h.dataDir, 'volume', 'create', 'two\nlines'), /invalid volume name "two\\nlines"/);
  assertRefused(await bazil(h.dataDir, 'volume', 'delete', 'no\nsuch'), /no volume named "no\\nsuch"/);
  assertRefused(await bazil(h.dataDir, 'mount', 'no\r\nsuch', await h.dir('y')), /no volume named "no\\r\\nsuch"/);
  assertRefused(await bazil(h.dataDir, 'unmount', 'tab\tand\nnewline'), /no volume named "tab\\tand\\nnewline"/);
  const missing = join(h.root, 'missing\ndir');
  assertRefused(await bazil(h.dataDir, 'mount', 'docs', missing), /mountpoint ".*missing\\ndir" does not exist/);
  assertRefused(await bazil(h.dataDir, 'frob\nnicate'), /unknown command "frob\\nnicate"/);
  assertRefused(await bazil(h.dataDir, '--bad\noption'), /unknown option "--bad\\noption"/);
  assertRefused(await bazil(join(h.root, 'a-file', 'da\nta'), 'volume', 'list'), /data directory ".*da\\nta"/);
  assert.equal((await bazil(h.dataDir, 'volume', 'list', '--json')).stdout, before, 'no volume was created or changed');
  assert.equal((await sh(`ls -d '${missing}'`)).code, 2, 'no directory was created');
});

test('a volume in use is not unmounted, and stays usable', async () => {
  const mnt = join(h.root, 'photos');
  const holder = await holdOpen('greeting', mnt);
  try {
    assertRefused(await bazil(h.dataDir, 'unmount', 'photos'), /volume "photos" is in use at .*close it and try again/);
    assert.equal(await ok(`cat '${mnt}/greeting'`), 'hello\n');
  } finally {
    await holder.release();
  }
});

test('a mounted volume cannot be deleted; unmounted, it can', async () => {
  assertRefused(await bazil(h.dataDir, 'volume', 'delete', 'photos'), /is mounted at .*; unmount it first/);
  assert.equal((await bazil(h.dataDir, 'unmount', 'photos')).code, 0);
  assert.equal((await sh(`ls '${join(h.root, 'photos')}'`)).stdout, '', 'the mountpoint is an empty directory again');
  assert.equal((await bazil(h.dataDir, 'volume', 'delete', 'docs')).code, 0);
  const list = (await bazil(h.dataDir, 'volume', 'list')).stdout;
  assert.match(list, /photos\t\(not mounted\)/);
  assert.doesNotMatch(list, /docs/);
});

test('stats reports the store and the dirty memory cap', async () => {
  const stats = JSON.parse((await bazil(h.dataDir, 'stats', '--json')).stdout) as {
    storeBytes: number;
    chunkCount: number;
    dirty: { capBytes: number; totalBytes: number };
  };
  assert.ok(stats.storeBytes > 0);
  assert.ok(stats.chunkCount >= 1, 'the greeting is stored');
  assert.equal(stats.dirty.capBytes, 256 * 1024 * 1024);
  assert.equal(stats.dirty.totalBytes, 0);
});

test('a second engine for the same data directory is refused', async () => {
  const second = await bazil(h.dataDir, 'daemon');
  assert.equal(second.code, 2);
  assert.match(second.stderr, /an engine \(pid \d+\) already runs for .*; stop it with: bazil daemon stop/);
});

test('a data directory that cannot be written gets a clear error', async () => {
  const locked = join(h.root, 'locked');
  await mkdir(locked);
  await chmod(locked, 0o500);
  // root ignores permission bits: make the directory unusable another way when running as root
  const target = process.getuid?.() === 0 ? join(h.root, 'a-file', 'data') : join(locked, 'data');
  assertRefused(await bazil(target, 'volume', 'list'), /cannot use data directory .*(--data-dir|BAZIL_DATA_DIR)/);
});

test('daemon stop leaves a volume in use mounted and says so; --force stops anyway', async () => {
  const mnt = join(h.root, 'photos');
  await bazil(h.dataDir, 'mount', 'photos', mnt);
  const holder = await holdOpen('greeting', mnt);
  try {
    assertRefused(
      await bazil(h.dataDir, 'daemon', 'stop'),
      /volume "photos" at .* is in use .*bazil daemon stop --force/,
    );
    assert.equal(await ok(`cat '${mnt}/greeting'`), 'hello\n', 'still mounted and served');
    const forced = await bazil(h.dataDir, 'daemon', 'stop', '--force');
    assert.equal(forced.code, 0, forced.stderr);
  } finally {
    await holder.release();
  }
  assert.ok(!(await ok('cat /proc/mounts')).includes(mnt), 'no mount left');
  // The next command starts a new engine; the data is there.
  assert.equal((await bazil(h.dataDir, 'mount', 'photos', mnt)).code, 0);
  assert.equal(await ok(`cat '${mnt}/greeting'`), 'hello\n');
  assert.equal((await bazil(h.dataDir, 'unmount', 'photos')).code, 0);
});

test('daemon stop unmounts every volume and stops the engine', async () => {
  const mnt = join(h.root, 'photos');
  await bazil(h.dataDir, 'mount', 'photos', mnt);
  assert.equal(await ok(`cat '${mnt}/greeting'`), 'hello\n');
  const stopped = await bazil(h.dataDir, 'daemon', 'stop');
  assert.equal(stopped.code, 0, stopped.stderr);
  const mounts = await ok('cat /proc/mounts');
  assert.ok(!mounts.includes(mnt), 'no mount left');
  const none = await bazil(h.dataDir, 'daemon', 'stop');
  assert.notEqual(none.code, 0);
  assert.match(none.stderr, /no engine runs/);
});

test('a client that heard stop answered does not reach the stopping engine: its next call starts a new one', async () => {
  assert.equal((await bazil(h.dataDir, 'volume', 'list')).code, 0, 'an engine runs');
  const first = await readFile(join(h.dataDir, 'engine.pid'), 'utf8');
  const client = await ControlClient.connect(socketPath(h.dataDir));
  try {
    await client.call('stop', {});
  } finally {
    client.close();
  }
  // At once, as the desktop app does when it starts again: before, this reached the old engine
  // as it exited, and the call failed with "the engine closed the connection".
  await assert.rejects(ControlClient.connect(socketPath(h.dataDir)), /ENOENT|ECONNREFUSED/);
  const again = await bazil(h.dataDir, 'volume', 'list');
  assert.equal(again.code, 0, again.stderr);
  assert.match(again.stdout, /photos/);
  assert.notEqual(await readFile(join(h.dataDir, 'engine.pid'), 'utf8'), first, 'a new engine');
});
