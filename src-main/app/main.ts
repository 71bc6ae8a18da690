/**
 * The desktop app's main process: one instance per user. It holds the engine of the data
 * directory through the supervisor (which starts it under Electron's own Node.js runtime when none
 * runs, and again if it dies, mounting again what was mounted), shows the tray icon and the
 * window, and relays the API and its events to the window over IPC, each call checked against
 * the API declaration. The engine is its own process (../shared design: a mount served from this
 * process could deadlock it). Quitting stores what is dirty, unmounts and stops the engine.
 */
import { Notification, app, dialog, ipcMain, type BrowserWindow } from 'electron';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { EngineEvent } from '../common/api.js';
import { formatBytes } from '../common/units.js';
import { notificationFor } from '../common/notifications.js';
import { quitProgress, quittingFrom, trayInputAfter, type TrayInput } from '../common/tray-menu.js';
import { EngineSupervisor } from '../client/engine-supervisor.js';
import { relayCall } from '../client/relay-call.js';
import { defaultDataDir } from '../engine/data-dir.js';
import { AppTray } from './app-tray.js';
import { isOwnPage, lockDownContents, openWindow } from './app-window.js';

/** What the app keeps between runs: what was mounted (mounted again at start) and where each volume last was. */
interface Remembered {
  mounted: Record<string, string>;
  lastMountpoint: Record<string, string>;
}

if (!app.requestSingleInstanceLock()) app.quit();
else void main();

async function main(): Promise<void> {
  lockDownContents();
  await app.whenReady();
  const rememberedPath = join(app.getPath('userData'), 'mounts.json');
  const remembered: Remembered = await readFile(rememberedPath, 'utf8')
    .then((text) => JSON.parse(text) as Remembered)
    .catch(() => ({ mounted: {}, lastMountpoint: {} }));
  const keep = () =>
    mkdir(app.getPath('userData'), { recursive: true })
      .then(() => writeFile(rememberedPath, JSON.stringify(remembered, null, 2)))
      .catch((error: unknown) => console.error('bazil: could not keep the mounts for the next start:', error));

  const supervisor = new EngineSupervisor(defaultDataDir(), {
    mounts: new Map(Object.entries(remembered.mounted)),
    onMountsChanged(mounts) {
      remembered.mounted = Object.fromEntries(mounts);
      Object.assign(remembered.lastMountpoint, remembered.mounted);
      void keep();
    },
  });
  let state: TrayInput = { engine: 'starting', volumes: null, dirtyBytes: 0, error: null };
  let window: BrowserWindow | null = null;
  let quitting = false;

  const notify = (body: string) => new Notification({ title: 'Bazil', body }).show();
  const fail = (error: unknown) => {
    const message = error instanceof Error ? error.message : String(error);
    state.error = message;
    tray.show(state);
    notify(message);
  };
  const showWindow = () => {
    if (!window || window.isDestroyed()) {
      window = openWindow();
      window.on('closed', () => (window = null));
    }
    window.show();
    window.focus();
    state.error = null;
    tray.show(state);
  };

  const tray = new AppTray({
    toggleMount: (volume, mounted) => void toggleMount(volume, mounted).catch(fail),
    snapshot: (volume) => void supervisor.call('snapshotCreate', { volume }).catch(fail),
    open: showWindow,
    quit: () => app.quit(),
  });

  /** Mounts at the folder the volume last had, asking for one the first time; or unmounts. */
  async function toggleMount(volume: string, mounted: boolean): Promise<void> {
    if (mounted) {
      await supervisor.call('unmount', { name: volume });
      return;
    }
    let mountpoint = remembered.lastMountpoint[volume];
    if (!mountpoint) {
      const chosen = await dialog.showOpenDialog({
        title: `Mount volume ${volume} at…`,
        buttonLabel: 'Mount here',
        properties: ['openDirectory', 'createDirectory'],
      });
      if (chosen.canceled || !chosen.filePaths[0]) return;
      mountpoint = chosen.filePaths[0];
    }
    await supervisor.call('mount', { name: volume, mountpoint });
  }

  // The window hears every event and notifies of none (the page knows it runs here): the
  // notifications are this process's, a scheduled snapshot's only when it fails.
  const hear = (event: EngineEvent) => {
    if (window && !window.isDestroyed()) window.webContents.send('bazil:event', event);
    state = trayInputAfter(state, event);
    const text = notificationFor(event);
    if (text !== null) notify(text);
    show();
  };
  /** The tray, and while quitting the window's progress bar: how much of the dirty data is stored. */
  const show = () => {
    tray.show(state);
    if (window && !window.isDestroyed()) window.setProgressBar(quitProgress(state) ?? -1);
  };
  supervisor.events.subscribe(hear);
  supervisor.states.subscribe((engine) => {
    state.engine = engine;
    tray.show(state);
  });

  ipcMain.handle('bazil:call', (event, method: unknown, args: unknown) => {
    if (!isOwnPage(event.senderFrame?.url)) {
      return { error: { code: 'EACCES', message: 'only the app’s own window may call the engine' } };
    }
    return relayCall(supervisor, method, args);
  });

  app.on('second-instance', showWindow);
  app.on('window-all-closed', () => undefined); // the tray icon stays
  app.on('before-quit', (event) => {
    if (quitting) return;
    event.preventDefault();
    quitting = true;
    // The dirty events go on while the engine stores: the tray's tooltip and first line, and the
    // window's progress bar, say how much is left until it is all stored.
    state = quittingFrom(state, Date.now());
    show();
    if (state.dirtyBytes > 0) notify(`Storing ${formatBytes(state.dirtyBytes)} before quitting…`);
    void quit();
  });

  /** Stores what is dirty, unmounts and stops the engine; a volume in use is asked about. */
  async function quit(): Promise<void> {
    try {
      await supervisor.stop();
    } catch (error) {
      const { response } = await dialog.showMessageBox({
        type: 'warning',
        message: error instanceof Error ? error.message : String(error),
        detail: 'Quit anyway? A program using a volume then gets errors from it.',
        buttons: ['Keep Bazil running', 'Quit anyway'],
        defaultId: 0,
        cancelId: 0,
      });
      if (response === 0) {
        quitting = false;
        state = { ...state, quitting: null };
        show();
        return;
      }
      await supervisor.stop({ force: true }).catch(fail);
    }
    app.exit(0);
  }

  tray.show(state);
  try {
    await supervisor.start();
  } catch (error) {
    state.engine = 'down';
    fail(error);
  }
  showWindow();
}
