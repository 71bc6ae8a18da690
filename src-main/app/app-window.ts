/**
 * The window: the built renderer (dist/renderer) with Electron's recommended security: context
 * isolation, the sandbox, no Node in the page, only the preload's API, and no navigation away or
 * new windows. Its content security policy is in the page itself (src-renderer/index.html).
 */
import { BrowserWindow, app, shell } from 'electron';
import { fileURLToPath, pathToFileURL } from 'node:url';

export const RENDERER_DIR = fileURLToPath(new URL('../../renderer/', import.meta.url));
const PRELOAD = fileURLToPath(new URL('./preload.cjs', import.meta.url));
const ICON = fileURLToPath(new URL('../../../assets/tray-stored.png', import.meta.url));

/** Whether an IPC message comes from the app's own page (not another frame or a page navigated to). */
export function isOwnPage(url: string | undefined): boolean {
  return url !== undefined && url.startsWith(pathToFileURL(RENDERER_DIR).href);
}

export function openWindow(): BrowserWindow {
  const window = new BrowserWindow({
    width: 1000,
    height: 720,
    minWidth: 360,
    minHeight: 400,
    title: 'Bazil',
    icon: ICON,
    show: false,
    webPreferences: {
      preload: PRELOAD,
      contextIsolation: true,
      sandbox: true,
      nodeIntegration: false,
      webSecurity: true,
    },
  });
  window.once('ready-to-show', () => window.show());
  void window.loadFile(`${RENDERER_DIR}index.html`);
  return window;
}

/** Every page the app makes: no navigation, no new windows (a link opens the browser). */
export function lockDownContents(): void {
  app.on('web-contents-created', (_, contents) => {
    contents.on('will-navigate', (event) => event.preventDefault());
    contents.setWindowOpenHandler(({ url }) => {
      if (url.startsWith('https://')) void shell.openExternal(url);
      return { action: 'deny' };
    });
  });
}
