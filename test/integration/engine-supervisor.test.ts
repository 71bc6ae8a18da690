/**
 * The desktop app's hold on the engine (EngineSupervisor), run under Node as the app runs it
 * under Electron: it starts an engine in the background, and when that engine is killed it starts
 * it again and mounts again what was mounted, with the files that were stored in it; quitting
 * stops the engine; a new start mounts what was remembered.
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import type { EngineEvent } from '../../src-main/common/api.js';
import { EngineSupervisor, type EngineLinkState } from '../../src-main/client/engine-supervisor.js';
import { quitProgress, quittingFrom, trayInputAfter, type TrayInput } from '../../src-main/common/tray-menu.js';
import { ok, sh } from '../helpers/engine-harness.js';
import { writeAndHold } from '../helpers/python-process.js';
import { waitFor } from '../helpers/wait-for.js';

const root = await mkdtemp(join(tmpdir(), 'bazil-supervisor-'));
const dataDir = join(root, 'data');
const mnt = join(root, 'mnt');
await mkdir(mnt);
const enginePid = async () => Number((await readFile(join(dataDir, 'engine.pid'), 'utf8').catch(() => '0')).trim());

after(async () => {
  // Whatever happened: no engine of this test left running, and no mount.
  const pid = await enginePid();
  if (pid > 0) await sh(`kill -9 ${pid} 2>/dev/null; true`);
  await sh(`fusermount3 -uz '${mnt}' 2>/dev/null; true`);
  await rm(root, { recursive: true, force: true });
});

test('a killed engine is started again, with its volume mounted again and its files there', async () => {
  let remembered = new Map<string, string>();
  const supervisor = new EngineSupervisor(dataDir, {
    onMountsChanged: (mounts) => (remembered = new Map(mounts)),
    restartDelaysMs: [100, 500, 2000],
  });
  const states: EngineLinkState[] = [];
  const events: EngineEvent[] = [];
  supervisor.states.subscribe((s) => states.push(s));
  supervisor.events.subscribe((e) => events.push(e));
  try {
    await supervisor.start();
    assert.equal(supervisor.state, 'running');
    await supervisor.call('volumeCreate', { name: 'home' });
    await supervisor.call('mount', { name: 'home', mountpoint: mnt });
    await waitFor(() => remembered.get('home') === mnt, { timeoutMs: 10_000, what: 'the mount to be remembered' });
    await ok(`echo 'kept through a crash' > '${mnt}/note' && sync '${mnt}/note'`);
    const first = await enginePid();

    await ok(`kill -9 ${first}`);
    await waitFor(() => states.includes('down'), { timeoutMs: 10_000, what: 'the death to be seen' });
    await assert.rejects(supervisor.call('volumeList', {}), /not running/);
    await waitFor(() => supervisor.state === 'running', { timeoutMs: 30_000, what: 'the engine to be started again' });
    assert.notEqual(await enginePid(), first, 'a new engine');
    assert.equal(await ok(`cat '${mnt}/note'`), 'kept through a crash\n');
    const [home] = await supervisor.call('volumeList', {});
    assert.equal(home!.mountpoint, mnt);
    assert.ok(
      events.some((e) => e.type === 'volumes'),
      'events go on after the restart',
    );

    const stopped = await supervisor.stop();
    assert.deepEqual(
      stopped!.volumes.map((v) => [v.name, v.stored]),
      [['home', true]],
    );
    assert.equal((await sh(`grep -c ' ${mnt} ' /proc/mounts`)).stdout.trim(), '0', 'quitting unmounts');
  } finally {
    supervisor.close();
  }

  // The app's next start: the engine is started and what was mounted is mounted again.
  const again = new EngineSupervisor(dataDir, { mounts: remembered });
  try {
    await again.start();
    assert.equal(await ok(`cat '${mnt}/note'`), 'kept through a crash\n');
    await again.stop();
  } finally {
    again.close();
  }
});

test('quitting with dirty data: the dirty events take the tray from what was dirty to all stored', async () => {
  const MiB = 1024 * 1024;
  const supervisor = new EngineSupervisor(dataDir, { mounts: new Map([['home', mnt]]) });
  // The app's tray model, fed the supervisor's events as the app feeds it.
  let tray: TrayInput = { engine: 'running', volumes: null, dirtyBytes: 0, error: null };
  const shares: number[] = [];
  supervisor.events.subscribe((event) => {
    tray = trayInputAfter(tray, event);
    const share = quitProgress(tray);
    if (share !== null) shares.push(share);
  });
  const writer = await (async () => {
    await supervisor.start();
    return writeAndHold(mnt, 'unstored', 16 * MiB);
  })().catch((error: unknown) => {
    supervisor.close();
    throw error;
  });
  try {
    await waitFor(() => tray.dirtyBytes >= 16 * MiB, { timeoutMs: 20_000, what: '16 MiB dirty in the tray model' });
    tray = quittingFrom(tray, Date.now());
    // A program still has the file open: the app asks, and the engine runs on meanwhile...
    await assert.rejects(supervisor.stop(), /in use/);
    assert.equal(quitProgress(tray), 1, 'the refused stop stored the data first, and said so');
    assert.equal((await supervisor.call('volumeList', {}))[0]!.mountpoint, mnt, 'still held and mounted');
    // ...then the person quits anyway.
    tray = quittingFrom(tray, Date.now());
    assert.ok(await supervisor.stop({ force: true }), 'the engine stopped');
    assert.equal(tray.dirtyBytes, 0);
    assert.ok(shares.length > 0 && shares.at(-1) === 1, `progress heard: ${shares.join(', ')}`);
    assert.equal((await sh(`grep -c ' ${mnt} ' /proc/mounts`)).stdout.trim(), '0', 'quitting unmounts');
  } finally {
    await writer.kill();
    supervisor.close();
  }
  // What was dirty is stored: the next start has the whole file.
  const again = new EngineSupervisor(dataDir, { mounts: new Map([['home', mnt]]) });
  try {
    await again.start();
    assert.equal(await ok(`stat -c %s '${mnt}/unstored'`), `${16 * MiB}\n`);
    await again.stop();
  } finally {
    again.close();
  }
});
