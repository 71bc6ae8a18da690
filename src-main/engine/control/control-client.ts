/**
 * A client of the control socket: one connection, calls answered in any order by id.
 */
import { createConnection, type Socket } from 'node:net';
import type { Api, MethodName, ProgressSink } from '../../common/api.js';
import { BazilError, type BazilErrorCode } from '../../common/errors.js';
import type { ControlResponse } from './control-server.js';
import { LineReader } from './line-reader.js';

export class ControlClient {
  private nextId = 1;
  private readonly lines = new LineReader();
  private readonly waiting = new Map<
    number,
    { resolve: (v: unknown) => void; reject: (e: Error) => void; onProgress?: ProgressSink }
  >();

  private constructor(private readonly socket: Socket) {
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    const fail = () => this.failAll(new BazilError('ENOENGINE', 'the engine closed the connection'));
    socket.on('close', fail);
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
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve: resolve as (v: unknown) => void, reject, onProgress });
      this.socket.write(JSON.stringify({ id, method, args }) + '\n');
    });
  }

  close(): void {
    this.socket.end();
  }

  private onData(chunk: Buffer): void {
    for (const line of this.lines.push(chunk)) {
      const response = JSON.parse(line) as ControlResponse;
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
