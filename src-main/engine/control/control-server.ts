/**
 * The control socket: a Unix socket in the data directory (mode 0600) that serves the engine API
 * as newline-delimited JSON. A request is {"id", "method", "args"}; the answer is {"id", "result"}
 * or {"id", "error": {"code", "message"}}. Input is checked against the API declaration.
 */
import { chmod, rm } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { isMethodName, validateArgs, type Api } from '../../common/api.js';
import { BazilError, quote } from '../../common/errors.js';

export interface ControlRequest {
  id: number;
  method: string;
  args?: unknown;
}

export type ControlResponse =
  { id: number; result: unknown } | { id: number; error: { code: string; message: string } };

/** Fields whose values are bigint are sent as strings (JSON has no bigint). */
function toJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));
}

export async function serveControlSocket(path: string, api: Api, onStop: () => void): Promise<Server> {
  await rm(path, { force: true });
  const server = createServer((socket) => handleConnection(socket, api, onStop));
  const oldMask = process.umask(0o177);
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(path, () => resolve());
    });
  } finally {
    process.umask(oldMask);
  }
  await chmod(path, 0o600);
  return server;
}

function handleConnection(socket: Socket, api: Api, onStop: () => void): void {
  let buffered = '';
  socket.setEncoding('utf8');
  socket.on('data', (text: string) => {
    buffered += text;
    let newline;
    while ((newline = buffered.indexOf('\n')) >= 0) {
      const line = buffered.slice(0, newline);
      buffered = buffered.slice(newline + 1);
      if (line.trim() !== '') void answer(socket, line, api, onStop);
    }
  });
  socket.on('error', () => socket.destroy());
}

async function answer(socket: Socket, line: string, api: Api, onStop: () => void): Promise<void> {
  let id = 0;
  let response: ControlResponse;
  try {
    const request = JSON.parse(line) as ControlRequest;
    id = typeof request.id === 'number' ? request.id : 0;
    if (!isMethodName(request.method))
      throw new BazilError('EINVAL', `unknown method ${quote(String(request.method))}`);
    const args = validateArgs(request.method, request.args ?? {});
    const call = api[request.method] as (a: unknown) => Promise<unknown>;
    const result = await call.call(api, args);
    response = { id, result: result ?? null };
    if (request.method === 'stop') {
      socket.end(toJson(response) + '\n', onStop);
      return;
    }
  } catch (error) {
    if (error instanceof BazilError) response = { id, error: { code: error.code, message: error.message } };
    else if (error instanceof SyntaxError)
      response = { id, error: { code: 'EINVAL', message: `request is not JSON: ${error.message}` } };
    else {
      console.error('bazil: API call failed:', error);
      response = { id, error: { code: 'EINTERNAL', message: (error as Error).message ?? String(error) } };
    }
  }
  if (!socket.destroyed) socket.write(toJson(response) + '\n');
}
