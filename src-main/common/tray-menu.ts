/**
 * The tray icon's menu and state, as a pure function of what the app knows of the engine: the
 * desktop app (src-main/app) turns it into Electron's menu, and tests check it without Electron.
 *
 * The icon says whether everything is stored (safe to shut down), dirty data is pending, or
 * something failed (an error not yet seen, or an engine that is not running).
 *
 * Pure code: runs anywhere.
 */
import type { EngineEvent, VolumeInfo } from './api.js';
import { failedJob } from './notifications.js';
import { formatSeconds, secondsLeft } from './progress-eta.js';
import { formatBytes } from './units.js';

export type TrayIcon = 'stored' | 'dirty' | 'error';

export interface TrayInput {
  /** How the engine is: reached, being started (or restarted after it died), or not running. */
  engine: 'running' | 'starting' | 'down';
  /** null until the engine has said. */
  volumes: VolumeInfo[] | null;
  dirtyBytes: number;
  /** The newest error not yet seen in the window, if any. */
  error: string | null;
  /** Quitting: what is dirty is being stored first (see `quittingFrom`). */
  quitting?: Quitting | null;
}

export interface Quitting {
  /** The most there was to store since quitting began. */
  fromBytes: number;
  startedMs: number;
  /** From the rate of storing so far; null until it is known. */
  secondsLeft: number | null;
}

/** The input once quitting begins, at `nowMs`. */
export function quittingFrom(input: TrayInput, nowMs: number): TrayInput {
  return { ...input, quitting: { fromBytes: input.dirtyBytes, startedMs: nowMs, secondsLeft: null } };
}

/**
 * What the tray knows after an engine event: the volumes, the dirty bytes, and the newest failure
 * (an error event or failed long work), shown until the window is opened.
 */
export function trayInputAfter(input: TrayInput, event: EngineEvent, nowMs = Date.now()): TrayInput {
  switch (event.type) {
    case 'volumes':
      return { ...input, volumes: event.volumes };
    case 'dirty': {
      const dirtyBytes = event.dirty.totalBytes;
      if (!input.quitting) return { ...input, dirtyBytes };
      const fromBytes = Math.max(input.quitting.fromBytes, dirtyBytes);
      const left = secondsLeft(fromBytes - dirtyBytes, dirtyBytes, nowMs - input.quitting.startedMs);
      return { ...input, dirtyBytes, quitting: { ...input.quitting, fromBytes, secondsLeft: left } };
    }
    case 'error':
      return { ...input, error: event.message };
    case 'job':
      return event.state === 'failed' ? { ...input, error: failedJob(event.method, event.message) } : input;
    default:
      return input;
  }
}

export type TrayItem =
  | { kind: 'info'; label: string }
  | { kind: 'separator' }
  /** A checkbox: ticked when mounted; clicking mounts (asking for a folder the first time) or unmounts. */
  | { kind: 'mount'; label: string; volume: string; mounted: boolean; enabled: boolean }
  | { kind: 'snapshot'; label: string; volume: string; enabled: boolean }
  | { kind: 'open'; label: string }
  | { kind: 'quit'; label: string };

export interface TrayMenu {
  icon: TrayIcon;
  tooltip: string;
  items: TrayItem[];
}

/** How long a label may be before it is cut (menus do not wrap). */
const LABEL_MAX = 60;

function shorten(text: string): string {
  return text.length <= LABEL_MAX ? text : `${text.slice(0, LABEL_MAX - 1)}…`;
}

/** How much of what was dirty when quitting began is stored (0 to 1); null when not quitting. */
export function quitProgress(input: TrayInput): number | null {
  if (!input.quitting) return null;
  const { fromBytes } = input.quitting;
  return fromBytes === 0 ? 1 : Math.min(1, Math.max(0, (fromBytes - input.dirtyBytes) / fromBytes));
}

export function trayMenu(input: TrayInput): TrayMenu {
  const running = input.engine === 'running' && !input.quitting;
  const icon: TrayIcon =
    input.error !== null || input.engine === 'down' ? 'error' : input.dirtyBytes > 0 ? 'dirty' : 'stored';
  const state = input.quitting
    ? input.dirtyBytes > 0
      ? `Quitting: storing ${formatBytes(input.dirtyBytes)} of ${formatBytes(input.quitting.fromBytes)}` +
        (input.quitting.secondsLeft === null ? '…' : `, ${formatSeconds(input.quitting.secondsLeft)} left…`)
      : 'Quitting: everything is stored; unmounting…'
    : input.engine === 'down'
      ? 'Bazil’s engine is not running'
      : input.engine === 'starting'
        ? 'Starting Bazil’s engine…'
        : input.dirtyBytes > 0
          ? `${formatBytes(input.dirtyBytes)} not yet stored`
          : 'Everything is stored';
  const items: TrayItem[] = [{ kind: 'info', label: state }];
  if (input.error !== null) items.push({ kind: 'info', label: shorten(`Failed: ${input.error}`) });
  const volumes = input.volumes ?? [];
  if (volumes.length > 0) {
    items.push({ kind: 'separator' });
    for (const v of volumes) {
      const where = v.mountpoint === null ? 'not mounted' : `mounted at ${v.mountpoint}`;
      items.push({
        kind: 'mount',
        label: shorten(`${v.name} (${where})`),
        volume: v.name,
        mounted: v.mountpoint !== null,
        enabled: running,
      });
    }
    const mounted = volumes.filter((v) => v.mountpoint !== null);
    if (mounted.length > 0) items.push({ kind: 'separator' });
    for (const v of mounted) {
      items.push({ kind: 'snapshot', label: shorten(`Take snapshot of ${v.name}`), volume: v.name, enabled: running });
    }
  }
  items.push({ kind: 'separator' }, { kind: 'open', label: 'Open Bazil' }, { kind: 'quit', label: 'Quit' });
  return { icon, tooltip: `Bazil: ${state}`, items };
}
