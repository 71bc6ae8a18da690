/**
 * How the window reaches the engine: one typed API and its events, over the loopback HTTP bridge
 * in a browser (`bazil serve`), or through the preload script in Electron (window.bazil, which
 * offers the same two functions). Nothing else in the window talks to the engine.
 */
import { EngineEvent, type Api, type MethodName } from '../../src-main/common/api.js';

export interface EngineBridge {
  call<M extends MethodName>(method: M, args: Parameters<Api[M]>[0]): ReturnType<Api[M]>;
  /** Hears the engine's events; the function returned stops. */
  onEvent(listener: (event: EngineEvent) => void): () => void;
}

/** What the engine answered instead of a result: its words are for the person. */
export class EngineError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

declare global {
  interface Window {
    /** Set by Electron's preload script. */
    bazil?: EngineBridge;
  }
}

export function httpBridge(): EngineBridge {
  return {
    call: (async (method: MethodName, args: unknown) => {
      let response: Response;
      try {
        response = await fetch(`/api/call/${method}`, {
          method: 'POST',
          headers: { 'Content-Type': 'application/json' },
          credentials: 'same-origin',
          body: JSON.stringify({ args }),
        });
      } catch {
        throw new EngineError('ENOENGINE', 'cannot reach `bazil serve`: is it still running?');
      }
      const body = (await response.json().catch(() => ({}))) as {
        result?: unknown;
        error?: { code: string; message: string };
      };
      if (body.error) throw new EngineError(body.error.code, body.error.message);
      if (!response.ok) throw new EngineError('EINTERNAL', `the bridge answered ${response.status}`);
      return body.result;
    }) as EngineBridge['call'],
    onEvent(listener) {
      const source = new EventSource('/api/events', { withCredentials: true });
      source.onmessage = (message: MessageEvent<string>) => {
        const parsed = EngineEvent.safeParse(JSON.parse(message.data));
        if (parsed.success) listener(parsed.data);
      };
      return () => source.close();
    },
  };
}

export const engineBridge = (): EngineBridge => window.bazil ?? httpBridge();
