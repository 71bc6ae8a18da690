/**
 * Desktop notifications from the window when it runs in a browser (`bazil serve`): a snapshot
 * someone took, a restore done, failures (../../src-main/common/notifications.ts decides). The
 * browser asks the person once, from a click on the offer in the header; the answer is kept. In
 * the desktop app the main process notifies (the window has `window.bazil`), so the window never
 * does: one notification per event.
 */
import { useCallback, useRef, useState } from 'react';
import type { EngineEvent } from '../../src-main/common/api.js';
import { notificationFor } from '../../src-main/common/notifications.js';

const ASKED_KEY = 'bazil.notificationsAsked';

export interface Notifications {
  /** Offer to turn them on: in a browser that can, not asked yet. */
  offered: boolean;
  /** Asks the browser (call from a click: browsers ask only on a person's gesture). */
  ask(): void;
  /** Hears an engine event, and notifies of it when it is news and allowed. */
  hear(event: EngineEvent): void;
}

export function useNotifications(): Notifications {
  const supported = window.bazil === undefined && typeof Notification !== 'undefined';
  const [permission, setPermission] = useState(() => (supported ? Notification.permission : 'denied'));
  const [asked, setAsked] = useState(() => localStorage.getItem(ASKED_KEY) !== null);
  const allowed = useRef(permission === 'granted');
  allowed.current = permission === 'granted';

  const ask = useCallback(() => {
    if (!supported) return;
    localStorage.setItem(ASKED_KEY, '1');
    setAsked(true);
    void Notification.requestPermission().then(setPermission);
  }, [supported]);

  // Stable: the engine's event stream is not opened again when the permission changes.
  const hear = useCallback((event: EngineEvent) => {
    if (!allowed.current) return;
    const body = notificationFor(event);
    if (body !== null) new Notification('Bazil', { body, icon: './bazil.svg' });
  }, []);

  return { offered: supported && permission === 'default' && !asked, ask, hear };
}
