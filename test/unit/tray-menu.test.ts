import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { EngineEvent, VolumeInfo } from '../../src-main/common/api.js';
import {
  quitProgress,
  quittingFrom,
  trayInputAfter,
  trayMenu,
  type TrayInput,
} from '../../src-main/common/tray-menu.js';

const volume = (name: string, mountpoint: string | null): VolumeInfo => ({
  name,
  createdAt: '2026-12-01T03:00:00.000Z',
  mountpoint,
  showSnap: false,
});
const dirty = (totalBytes: number): EngineEvent => ({
  type: 'dirty',
  dirty: { capBytes: 256 * 1024 * 1024, totalBytes, volumes: [], files: [] },
});
const base: TrayInput = { engine: 'running', volumes: [], dirtyBytes: 0, error: null };
const labels = (input: TrayInput) => trayMenu(input).items.map((i) => ('label' in i ? i.label : '---'));

test('with nothing dirty the icon says everything is stored; the menu opens the window and quits', () => {
  const menu = trayMenu(base);
  assert.equal(menu.icon, 'stored');
  assert.equal(menu.tooltip, 'Bazil: Everything is stored');
  assert.deepEqual(labels(base), ['Everything is stored', '---', 'Open Bazil', 'Quit']);
});

test('each volume is a mount toggle, and each mounted one can be snapshotted', () => {
  const input = { ...base, volumes: [volume('photos', '/home/me/Photos'), volume('work', null)] };
  const menu = trayMenu(input);
  const toggles = menu.items.filter((i) => i.kind === 'mount');
  assert.deepEqual(
    toggles.map((t) => [t.volume, t.mounted, t.label]),
    [
      ['photos', true, 'photos (mounted at /home/me/Photos)'],
      ['work', false, 'work (not mounted)'],
    ],
  );
  const snapshots = menu.items.filter((i) => i.kind === 'snapshot');
  assert.deepEqual(
    snapshots.map((s) => s.volume),
    ['photos'],
    'only a mounted volume offers a snapshot',
  );
  assert.ok(menu.items.every((i) => !('enabled' in i) || i.enabled));
});

test('dirty data pending and errors show in the icon and the first lines', () => {
  const dirty = trayMenu({ ...base, dirtyBytes: 3 * 1024 * 1024 });
  assert.equal(dirty.icon, 'dirty');
  assert.equal(dirty.tooltip, 'Bazil: 3.0 MiB not yet stored');
  const failed = trayMenu({ ...base, dirtyBytes: 10, error: 'the scheduled snapshot of volume "photos" failed' });
  assert.equal(failed.icon, 'error', 'an error outranks dirty data');
  assert.equal(labels({ ...base, error: 'x'.repeat(200) })[1]!.length, 60, 'a long error is cut to fit a menu');
});

test('while the engine is down or starting, the volumes cannot be toggled and the icon says so', () => {
  const input: TrayInput = { ...base, engine: 'down', volumes: [volume('photos', null)] };
  const menu = trayMenu(input);
  assert.equal(menu.icon, 'error');
  assert.equal(menu.items[0]!.kind === 'info' && menu.items[0]!.label, 'Bazil’s engine is not running');
  assert.ok(menu.items.filter((i) => i.kind === 'mount').every((i) => !i.enabled));
  assert.equal(trayMenu({ ...input, engine: 'starting' }).icon, 'stored');
  assert.equal(trayMenu({ ...base, volumes: null }).items.length, 4, 'no volumes known yet: no volume lines');
});

test('engine events move the tray: volumes, dirty bytes, and an error event or failed work to the error icon', () => {
  let input: TrayInput = { ...base, volumes: null };
  input = trayInputAfter(input, { type: 'volumes', volumes: [volume('photos', '/p')] });
  input = trayInputAfter(input, dirty(7));
  assert.equal(trayMenu(input).icon, 'dirty');
  assert.deepEqual(
    input.volumes?.map((v) => v.name),
    ['photos'],
  );
  const unchanged = trayInputAfter(input, { type: 'snapshot', volume: 'photos', snapshot: 's', action: 'created' });
  assert.equal(unchanged, input, 'a snapshot changes nothing the tray shows');
  const failed = trayInputAfter(input, {
    type: 'error',
    message: 'volume "photos": a closed file could not be stored',
  });
  assert.equal(trayMenu(failed).icon, 'error');
  assert.match(labels(failed)[1]!, /^Failed: volume "photos": a closed file/);
  const job = trayInputAfter(input, {
    type: 'job',
    jobId: 1,
    method: 'gc',
    state: 'failed',
    progress: null,
    message: 'no space',
  });
  assert.equal(job.error, 'gc failed: no space');
  assert.equal(
    trayInputAfter(input, { ...job, type: 'job', jobId: 1, method: 'gc', state: 'done', progress: null }),
    input,
  );
});

test('quitting with dirty data: the tray says how much is left and for how long as the dirty events come, and nothing can be toggled', () => {
  let input: TrayInput = { ...base, volumes: [volume('photos', '/p')], dirtyBytes: 8 * 1024 * 1024 };
  assert.equal(quitProgress(input), null, 'not quitting');
  input = quittingFrom(input, 10_000);
  assert.equal(quitProgress(input), 0);
  assert.equal(trayMenu(input).tooltip, 'Bazil: Quitting: storing 8.0 MiB of 8.0 MiB…');
  assert.ok(trayMenu(input).items.every((i) => !('enabled' in i) || !i.enabled));
  input = trayInputAfter(input, dirty(6 * 1024 * 1024), 10_500);
  assert.equal(labels(input)[0], 'Quitting: storing 6.0 MiB of 8.0 MiB…', 'no time left before a second of storing');
  // 6 MiB stored in 2 s: the 2 MiB left take about 1 s more.
  input = trayInputAfter(input, dirty(2 * 1024 * 1024), 12_000);
  assert.equal(quitProgress(input), 0.75);
  assert.equal(labels(input)[0], 'Quitting: storing 2.0 MiB of 8.0 MiB, 1 s left…');
  // A program writing meanwhile: what there is to store grows, and the share stays true.
  input = trayInputAfter(input, dirty(12 * 1024 * 1024), 13_000);
  assert.equal(input.quitting?.fromBytes, 12 * 1024 * 1024);
  input = trayInputAfter(input, dirty(0), 14_000);
  assert.equal(quitProgress(input), 1);
  assert.equal(labels(input)[0], 'Quitting: everything is stored; unmounting…');
  assert.equal(quitProgress(quittingFrom({ ...base, dirtyBytes: 0 }, 0)), 1, 'nothing was dirty');
});
