/**
 * The tray icon: its image and menu come from trayMenu (src-main/common/tray-menu.ts, a pure
 * function of the app's state); this only turns them into Electron's and wires the clicks.
 */
import { Menu, Tray, nativeImage, type MenuItemConstructorOptions } from 'electron';
import { fileURLToPath } from 'node:url';
import { trayMenu, type TrayIcon, type TrayInput, type TrayItem } from '../common/tray-menu.js';

const image = (icon: TrayIcon) =>
  nativeImage.createFromPath(fileURLToPath(new URL(`../../../assets/tray-${icon}.png`, import.meta.url)));

export interface TrayActions {
  toggleMount(volume: string, mounted: boolean): void;
  snapshot(volume: string): void;
  open(): void;
  quit(): void;
}

export class AppTray {
  private readonly tray: Tray;
  private icon: TrayIcon = 'stored';
  /** The menu shown, as JSON: an event that changes nothing (dirty bytes sampled again) rebuilds nothing. */
  private shown = '';

  constructor(private readonly actions: TrayActions) {
    this.tray = new Tray(image(this.icon));
    this.tray.on('click', () => actions.open());
  }

  show(input: TrayInput): void {
    const menu = trayMenu(input);
    const seen = JSON.stringify(menu);
    if (seen === this.shown) return;
    this.shown = seen;
    if (menu.icon !== this.icon) this.tray.setImage(image((this.icon = menu.icon)));
    this.tray.setToolTip(menu.tooltip);
    this.tray.setContextMenu(Menu.buildFromTemplate(menu.items.map((item) => this.menuItem(item))));
  }

  private menuItem(item: TrayItem): MenuItemConstructorOptions {
    const { actions } = this;
    switch (item.kind) {
      case 'info':
        return { label: item.label, enabled: false };
      case 'separator':
        return { type: 'separator' };
      case 'mount':
        return {
          label: item.label,
          type: 'checkbox',
          checked: item.mounted,
          enabled: item.enabled,
          click: () => actions.toggleMount(item.volume, item.mounted),
        };
      case 'snapshot':
        return { label: item.label, enabled: item.enabled, click: () => actions.snapshot(item.volume) };
      case 'open':
        return { label: item.label, click: () => actions.open() };
      case 'quit':
        return { label: item.label, click: () => actions.quit() };
    }
  }
}
