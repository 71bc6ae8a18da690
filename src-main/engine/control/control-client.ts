/**
 * A client of the control socket: one connection, calls answered in any order by id.
 */
import { createConnection, type Socket } from 'node:net';
import type { Api, MethodName } from '../../common/api.js';
import { BazilError, type BazilErrorCode } from '../../common/errors.js';
import type { ControlResponse } from './control-server.js';

export class ControlClient {
  private nextId = 1;
  private buffered = '';
  private readonly waiting = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();

  private constructor(private readonly socket: Socket) {
    socket.setEncoding('utf8');
    socket.on('data', (text: string) => this.onData(text));
    const fail = () => {
      for (const waiter of this.waiting.values()) {
        waiter.reject(new BazilError('ENOENGINE', 'the engine closed the connection'));
      }
      this.waiting.clear();
    };
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

  call<M extends MethodName>(method: M, args: Parameters<Api[M]>[0]): Promise<Awaited<ReturnType<Api[M]>>> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.socket.write(JSON.stringify({ id, method, args }) + '\n');
    });
  }

  close(): void {
    this.socket.end();
  }

  private onData(text: string): void {
    this.buffered += text;
    let newline;
    while ((newline = this.buffered.indexOf('\n')) >= 0) {
      const response = JSON.parse(this.buffered.slice(0, newline)) as ControlResponse;
      this.buffered = this.buffered.slice(newline + 1);
      const waiter = this.waiting.get(response.id);
      if (!waiter) continue;
      this.waiting.delete(response.id);
      if ('error' in response)
        waiter.reject(new BazilError(response.error.code as BazilErrorCode, response.error.message));
      else waiter.resolve(response.result);
    }
  }
}
