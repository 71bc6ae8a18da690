/**
 * The control socket: a Unix socket in the data directory (mode 0600) that serves the engine API
 * as newline-delimited JSON. A request is {"id", "method", "args"}; the answer is {"id", "result"}
 * or {"id", "error": {"code", "message"}}, after any number of {"id", "progress"} lines while
 * long work runs (verify, gc, export). Input is checked against the API declaration.
 *
 * This runs on the engine's main thread, which serves FUSE: a request is at most MAX_REQUEST_BYTES
 * (a longer one is refused and its connection closed), so no client can make it hold more than
 * that, and requests are parsed in a worker thread (request-parser.ts).
 */
import { chmod, rm } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import type { Api, JobProgress, ProgressSink } from '../../common/api.js';
import { BazilError } from '../../common/errors.js';
import { LineReader, LineTooLongError } from './line-reader.js';
import { RequestParser } from './request-parser.js';

export interface ControlRequest {
  id: number;
  method: string;
  args?: unknown;
}

/** Requests are a few hundred bytes; anything near this is a client gone wrong. */
export const MAX_REQUEST_BYTES = 1024 * 1024;

/** How long a refused client may go on sending (dropped) before its connection is reset. */
const REFUSED_CLOSE_MS = 1000;

export type ControlResponse =
  | { id: number; result: unknown }
  | { id: number; error: { code: string; message: string } }
  | { id: number; progress: JobProgress };

/** Progress of one call is sent at most this often (and always when it is complete). */
const PROGRESS_EVERY_MS = 250;

/** Fields whose values are bigint are sent as strings (JSON has no bigint). */
function toJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));
}

export async function serveControlSocket(path: string, api: Api, onStop: () => void): Promise<Server> {
  await rm(path, { force: true });
  const parser = new RequestParser();
  const server = createServer((socket) => handleConnection(socket, api, parser, onStop));
  server.on('close', () => void parser.close());
  // Created under the engine's umask 077 (engine.ts), so private from the start.
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, () => resolve());
  });
  await chmod(path, 0o600);
  return server;
}

function handleConnection(socket: Socket, api: Api, parser: RequestParser, onStop: () => void): void {
  const lines = new LineReader(MAX_REQUEST_BYTES);
  socket.on('data', (chunk: Buffer) => {
    let complete: string[];
    try {
      complete = lines.push(chunk);
    } catch (error) {
      if (!(error instanceof LineTooLongError)) throw error;
      refuseOversize(socket);
      return;
    }
    for (const line of complete) if (line.trim() !== '') void answer(socket, line, api, parser, onStop);
  });
  socket.on('error', () => socket.destroy());
}

/**
 * Answers a request past the cap with an error and closes the connection. What the client still
 * sends is read and dropped for a moment, so that it reads the answer rather than a reset.
 */
function refuseOversize(socket: Socket): void {
  socket.removeAllListeners('data');
  socket.on('data', () => undefined);
  const cap = `${MAX_REQUEST_BYTES / 1024 / 1024} MiB`;
  console.error(`bazil: refused a control request longer than ${cap}, and closed its connection`);
  const message = `request longer than ${cap} refused (a request is one line of JSON); connection closed`;
  const response: ControlResponse = { id: 0, error: { code: 'EINVAL', message } };
  socket.end(toJson(response) + '\n');
  setTimeout(() => socket.destroy(), REFUSED_CLOSE_MS).unref();
}

async function answer(
  socket: Socket,
  line: string,
  api: Api,
  parser: RequestParser,
  onStop: () => void,
): Promise<void> {
  let id = 0;
  let response: ControlResponse;
  try {
    const request = await parser.parse(line);
    id = request.id;
    if ('error' in request) {
      response = request;
    } else {
      const call = api[request.method] as (a: unknown, progress: ProgressSink) => Promise<unknown>;
      let lastMs = 0;
      const progress: ProgressSink = (p) => {
        const now = performance.now();
        if (socket.destroyed || (now - lastMs < PROGRESS_EVERY_MS && p.done < p.total)) return;
        lastMs = now;
        socket.write(toJson({ id, progress: p } satisfies ControlResponse) + '\n');
      };
      response = { id, result: (await call.call(api, request.args, progress)) ?? null };
      if (request.method === 'stop') {
        socket.end(toJson(response) + '\n', onStop);
        return;
      }
    }
  } catch (error) {
    if (error instanceof BazilError) response = { id, error: { code: error.code, message: error.message } };
    else {
      console.error('bazil: API call failed:', error);
      response = { id, error: { code: 'EINTERNAL', message: (error as Error).message ?? String(error) } };
    }
  }
  if (!socket.destroyed) socket.write(toJson(response) + '\n');
}
