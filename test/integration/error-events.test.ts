/**
 * Failures no call returns reach the person: with the store's disk full, closed files that cannot
 * be stored and metadata that cannot be written are published as error events (once per kind, not
 * once per failed file), the window's status turns to an error with the words, the tray's model
 * turns to its error icon; once there is room, every byte is stored as a shell reads it.
 */
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { test } from 'node:test';
import type { EngineEvent } from '../../src-main/common/api.js';
import { ControlClient } from '../../src-main/client/control-client.js';
import { socketPath } from '../../src-main/engine/data-dir.js';
import { trayInputAfter, trayMenu, type TrayInput } from '../../src-main/common/tray-menu.js';
import { ok, sh } from '../helpers/engine-harness.js';
import { needsRoot } from '../helpers/fs-tools.js';
import { engineOnSmallDisk, fillDisk } from '../helpers/small-disk.js';
import { waitFor } from '../helpers/wait-for.js';
import { WindowHarness, skipWithoutChromium } from '../helpers/window-harness.js';

const FILES = 200;

test(
  'a full store: error events, once per kind, shown in the window and the tray; stored once there is room',
  { skip: needsRoot('mount a small disk').skip || skipWithoutChromium },
  async (t) => {
    const h = await engineOnSmallDisk(t, 32);
    const listener = await ControlClient.connect(socketPath(h.dataDir));
    t.after(() => listener.close());
    const errors: string[] = [];
    let tray: TrayInput = { engine: 'running', volumes: null, dirtyBytes: 0, error: null };
    await listener.onEvent((event: EngineEvent) => {
      if (event.type === 'error') errors.push(event.message);
      tray = trayInputAfter(tray, event);
    });
    const w = await WindowHarness.open(h, { permissions: ['notifications'] });
    t.after(() => w.close());
    await w.goto();
    const { page } = w;
    await page.getByTestId('status').getByText('Everything is stored').waitFor();

    const mnt = await h.volume('full');
    const local = await h.dir('local');
    await ok(`for i in $(seq 1 ${FILES}); do head -c 20000 /dev/urandom > src$i; done`, local);
    const filler = await fillDisk(h.dataDir, 1024 * 1024);
    const copy = await sh(
      `for i in $(seq 1 ${FILES}); do cat '${local}'/src$i > f$i || echo "f$i failed" >&2; done`,
      mnt,
    );
    const failed = copy.stderr.split('\n').filter((line) => line.endsWith('failed')).length;
    assert.ok(failed > 0, 'the disk did fill');

    // Heard as events, in words, and not once per failed file.
    await waitFor(() => errors.length > 0, { timeoutMs: 30_000, what: 'an error event' });
    assert.ok(
      errors.some((m) =>
        /^volume "full": .*(could not be stored|cannot be written).*no space left on the disk/.test(m),
      ),
      errors.join('\n'),
    );
    assert.ok(errors.length <= 3, `${failed} failures made ${errors.length} error events:\n${errors.join('\n')}`);

    // The window: its status turns to an error, with the words.
    await page.getByTestId('status').getByText('Something failed').waitFor();
    await page
      .getByRole('alert')
      .getByText(/no space left on the disk of the store/)
      .first()
      .waitFor();
    await w.shot('error-event');
    const said = (await WindowHarness.notifications(page)).said;
    assert.ok(
      said.some((body) => /^volume "full": .*no space left on the disk/.test(body)),
      `the failure is a desktop notification too: ${said.join('\n')}`,
    );
    // The tray's model, fed the same events: the error icon, and the words in its menu.
    const menu = trayMenu(tray);
    assert.equal(menu.icon, 'error');
    assert.ok(menu.items.some((i) => i.kind === 'info' && i.label.startsWith('Failed: volume "full"')));

    // Room again: every file is stored, and a shell reads each as it was written.
    await rm(filler);
    await waitFor(async () => (await h.client!.call('stats', {})).dirty.totalBytes === 0, {
      timeoutMs: 60_000,
      what: 'the closed files to be stored once the disk had room',
    });
    const sums = (root: string, prefix: string) =>
      ok(`for i in $(seq 1 ${FILES}); do sha256sum < ${prefix}$i; done`, root);
    assert.equal(await sums(mnt, 'f'), await sums(local, 'src'));
  },
);
