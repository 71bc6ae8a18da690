/**
 * The engine's events, as the desktop app and the browser UI hear them over the control socket:
 * mounts, dirty memory rising while a file is written and falling once it is closed, files
 * changed in a mount, snapshots, and long work's progress, each published to every subscriber
 * without being asked for.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { EngineEvent } from '../../src-main/common/api.js';
import { ControlClient } from '../../src-main/client/control-client.js';
import { socketPath } from '../../src-main/engine/data-dir.js';
import { EngineHarness, ok } from '../helpers/engine-harness.js';
import { q } from '../helpers/fs-tools.js';
import { writeAndHold } from '../helpers/python-process.js';
import { waitFor } from '../helpers/wait-for.js';

let h: EngineHarness;
let listener: ControlClient;
const heard: EngineEvent[] = [];

before(async () => {
  h = await EngineHarness.create();
  await h.start();
  listener = await ControlClient.connect(socketPath(h.dataDir));
  await listener.onEvent((event) => heard.push(event));
});

after(async () => {
  listener.close();
  await h.stop();
});

/** The first event heard (from `since` on) that `match` accepts. */
async function hear<T extends EngineEvent['type']>(
  type: T,
  match: (event: Extract<EngineEvent, { type: T }>) => boolean,
  since = 0,
): Promise<Extract<EngineEvent, { type: T }>> {
  return waitFor(
    () => (heard.slice(since) as Extract<EngineEvent, { type: T }>[]).find((e) => e.type === type && match(e)) ?? null,
    { timeoutMs: 20_000, what: `a "${type}" event`, intervalMs: 20 },
  );
}

test('a subscriber hears the dirty state at once, and a mount as it happens', async () => {
  const first = await hear('dirty', () => true);
  assert.ok(first.dirty.capBytes > 0);
  const mnt = await h.volume('watched');
  const mounted = await hear('volumes', (e) => e.volumes.some((v) => v.name === 'watched' && v.mountpoint !== null));
  assert.equal(mounted.volumes.find((v) => v.name === 'watched')!.mountpoint, mnt);
  const since = heard.length;
  await h.client!.call('unmount', { name: 'watched' });
  await hear('volumes', (e) => e.volumes.some((v) => v.name === 'watched' && v.mountpoint === null), since);
  await h.mount('watched', mnt);
});

test('dirty bytes of a file being written appear, per volume and per file, and fall once it is closed', async () => {
  const mnt = (await h.client!.call('volumeList', {})).find((v) => v.name === 'watched')!.mountpoint!;
  const since = heard.length;
  const writer = await writeAndHold(mnt, 'held', 3 * 1024 * 1024);
  try {
    const rising = await hear('dirty', (e) => e.dirty.files.some((f) => f.path === '/held'), since);
    const file = rising.dirty.files.find((f) => f.path === '/held')!;
    assert.equal(file.volume, 'watched');
    assert.ok(file.dirtyBytes > 0 && file.dirtyBytes <= 3 * 1024 * 1024, JSON.stringify(file));
    assert.ok(rising.dirty.volumes.find((v) => v.name === 'watched')!.dirtyBytes >= file.dirtyBytes);
    const afterRise = heard.length;
    await writer.close();
    const fallen = await hear('dirty', (e) => !e.dirty.files.some((f) => f.path === '/held'), afterRise);
    assert.ok(fallen.dirty.totalBytes < rising.dirty.totalBytes);
  } finally {
    await writer.kill();
  }
});

test('files created, written, renamed and deleted in a mount are published, and reading them is not', async () => {
  const mnt = (await h.client!.call('volumeList', {})).find((v) => v.name === 'watched')!.mountpoint!;
  const filesOf = (since: number) => heard.slice(since).filter((e) => e.type === 'files');
  for (const change of [
    `echo one > ${q(join(mnt, 'listed'))}`,
    `echo more >> ${q(join(mnt, 'listed'))}`,
    `mv ${q(join(mnt, 'listed'))} ${q(join(mnt, 'renamed'))}`,
    `rm ${q(join(mnt, 'renamed'))}`,
  ]) {
    const since = heard.length;
    await ok(change);
    assert.deepEqual(await hear('files', () => true, since), { type: 'files', volume: 'watched' }, change);
  }
  await ok(`echo kept > ${q(join(mnt, 'kept'))}`);
  await hear('files', () => true, heard.length);
  // Two samples pass (500 ms each) for a change to be heard; then reads alone, for as long.
  await new Promise((resolve) => setTimeout(resolve, 1_200));
  const since = heard.length;
  const kept = q(join(mnt, 'kept'));
  await ok(`for i in 1 2 3 4 5; do cat ${kept} > /dev/null; ls -l ${q(mnt)} > /dev/null; sleep 0.3; done`);
  assert.deepEqual(filesOf(since), [], 'reading and listing change nothing');
});

test('snapshots taken and deleted, and long work with its progress, are published', async () => {
  const since = heard.length;
  const taken = await h.client!.call('snapshotCreate', { volume: 'watched', name: 'before' });
  assert.deepEqual(await hear('snapshot', (e) => e.snapshot === 'before', since), {
    type: 'snapshot',
    volume: 'watched',
    snapshot: taken.name,
    action: 'created',
  });
  await h.client!.call('verify', {});
  const done = await hear('job', (e) => e.method === 'verify' && e.state === 'done', since);
  const ofJob = heard.slice(since).filter((e) => e.type === 'job' && e.jobId === done.jobId);
  assert.equal(ofJob[0]!.type === 'job' && ofJob[0]!.state, 'running', 'it was announced before it ended');
  await h.client!.call('snapshotDelete', { volume: 'watched', snapshot: 'before' });
  await hear('snapshot', (e) => e.snapshot === 'before' && e.action === 'deleted', since);
  // One taken through the mount is published the same way.
  const mnt = (await h.client!.call('volumeList', {})).find((v) => v.name === 'watched')!.mountpoint!;
  await ok(`mkdir ${q(join(mnt, '.snap', 'by-mkdir'))}`);
  assert.deepEqual(await hear('snapshot', (e) => e.snapshot === 'by-mkdir', since), {
    type: 'snapshot',
    volume: 'watched',
    snapshot: 'by-mkdir',
    action: 'created',
  });
});

test('a failed call is answered to its caller; a job that fails says so to every subscriber', async () => {
  const since = heard.length;
  await assert.rejects(
    h.client!.call('snapshotExport', { volume: 'watched', snapshot: 'nosuch', path: '/', to: '/tmp/x' }),
    /nosuch/,
  );
  const failed = await hear('job', (e) => e.method === 'snapshotExport' && e.state === 'failed', since);
  assert.match(failed.message!, /nosuch/);
});

test('a volume unmounted from outside is published as unmounted, keeps its data, and mounts again', async () => {
  const mnt = await h.volume('outside');
  await ok(`head -c 300000 /dev/urandom > '${mnt}/kept' && sha256sum '${mnt}/kept' > '${h.root}/kept.sum'`);
  const since = heard.length;
  await ok(`fusermount3 -u '${mnt}'`);
  await hear('volumes', (e) => e.volumes.some((v) => v.name === 'outside' && v.mountpoint === null), since);
  const [listed] = (await h.client!.call('volumeList', {})).filter((v) => v.name === 'outside');
  assert.equal(listed!.mountpoint, null, 'the engine knows it is not mounted');
  await h.mount('outside', mnt);
  await ok(`sha256sum -c --quiet '${h.root}/kept.sum'`);
});
