/**
 * A client of the engine's control socket: one connection, calls answered in any order by id,
 * and the engine's events for whoever listens. The CLI, the tests, the bench, the HTTP bridge and
 * Electron's main process share it; it loads nothing of the engine (no LMDB, no FUSE binding).
 */
import { createConnection, type Socket } from 'node:net';
import type { Api, EngineEvent, MethodName, ProgressSink } from '../common/api.js';
import type { ControlResponse } from '../common/control-protocol.js';
import { BazilError, type BazilErrorCode } from '../common/errors.js';
import { EventHub } from '../common/event-hub.js';
import { LineReader } from './line-reader.js';

interface Waiter {
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
  onProgress?: ProgressSink;
}

export class ControlClient {
  private nextId = 1;
  private readonly lines = new LineReader();
  private readonly waiting = new Map<number, Waiter>();
  private readonly events = new EventHub<EngineEvent>();
  private subscribed: Promise<unknown> | null = null;
  /** Called once, when the connection ends (the engine stopped or went away). */
  onClose: () => void = () => undefined;

  private constructor(private readonly socket: Socket) {
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    const fail = () => this.failAll(new BazilError('ENOENGINE', 'the engine closed the connection'));
    socket.on('close', () => {
      fail();
      this.onClose();
    });
    socket.on('error', fail);
  }

  static connect(path: string): Promise<ControlClient> {
    return new Promise((resolve, reject) => {
      const socket = createConnection(path);
      socket.once('connect', () => resolve(new ControlClient(socket)));
      socket.once('error', reject);
    });
  }

  /** Calls a method; `onProgress` hears how far long work has come (verify, gc, export). */
  call<M extends MethodName>(
    method: M,
    args: Parameters<Api[M]>[0],
    { onProgress }: { onProgress?: ProgressSink } = {},
  ): Promise<Awaited<ReturnType<Api[M]>>> {
    return this.send({ method, args }, onProgress) as Promise<Awaited<ReturnType<Api[M]>>>;
  }

  /**
   * Hears the engine's events from now on (the first listener subscribes the connection; the
   * promise resolves once the engine has taken the subscription). The function returned stops.
   */
  async onEvent(listener: (event: EngineEvent) => void): Promise<() => void> {
    const unsubscribe = this.events.subscribe(listener);
    await (this.subscribed ??= this.send({ subscribe: true }));
    return unsubscribe;
  }

  close(): void {
    this.socket.end();
  }

  private send(request: Record<string, unknown>, onProgress?: ProgressSink): Promise<unknown> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve, reject, onProgress });
      this.socket.write(JSON.stringify({ id, ...request }) + '\n');
    });
  }

  private onData(chunk: Buffer): void {
    for (const line of this.lines.push(chunk)) {
      const response = JSON.parse(line) as ControlResponse;
      if ('event' in response) {
        this.events.publish(response.event);
        continue;
      }
      if (response.id === 0 && 'error' in response) {
        // The engine could not tell which request failed (too long, not JSON): every one did.
        this.failAll(new BazilError(response.error.code as BazilErrorCode, response.error.message));
        continue;
      }
      const waiter = this.waiting.get(response.id);
      if (!waiter) continue;
      if ('progress' in response) {
        waiter.onProgress?.(response.progress);
        continue;
      }
      this.waiting.delete(response.id);
      if ('error' in response)
        waiter.reject(new BazilError(response.error.code as BazilErrorCode, response.error.message));
      else waiter.resolve(response.result);
    }
  }

  private failAll(error: BazilError): void {
    for (const waiter of this.waiting.values()) waiter.reject(error);
    this.waiting.clear();
  }
}
