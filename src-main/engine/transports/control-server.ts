/**
 * The control socket: a Unix socket in the data directory (mode 0600) that serves the engine API
 * as newline-delimited JSON (src-main/common/control-protocol.ts has the format): calls, their
 * progress, and the engine's events to the connections that subscribe. What a call does, its
 * errors and its events are the dispatcher's; this only carries them.
 *
 * This runs on the engine's main thread, which serves FUSE: a request is at most MAX_REQUEST_BYTES
 * (a longer one is refused and its connection closed), so no client can make it hold more than
 * that, and requests are parsed in a worker thread (request-parser.ts).
 */
import { chmod, rm } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { toJson, type ControlResponse } from '../../common/control-protocol.js';
import { LineReader, LineTooLongError } from '../../client/line-reader.js';
import { toApiError, type Dispatcher } from './dispatcher.js';
import { RequestParser } from './request-parser.js';

/** Requests are a few hundred bytes; anything near this is a client gone wrong. */
export const MAX_REQUEST_BYTES = 1024 * 1024;

/** How long a refused client may go on sending (dropped) before its connection is reset. */
const REFUSED_CLOSE_MS = 1000;

/** A subscriber that lets this much of its events pile up unread is disconnected. */
const MAX_UNREAD_EVENT_BYTES = 4 * 1024 * 1024;

export async function serveControlSocket(path: string, dispatcher: Dispatcher, onStop: () => void): Promise<Server> {
  await rm(path, { force: true });
  const parser = new RequestParser();
  const server = createServer((socket) => handleConnection(socket, dispatcher, parser, stopped));
  /**
   * The engine has stopped: no new connection is taken (the socket's path goes with the listener),
   * so a client that heard the answer and connects again starts a new engine rather than reaching
   * this one as it exits. Then the answer is sent, then the process ends (onStop).
   */
  function stopped(socket: Socket, answer: string): void {
    if (server.listening) server.close();
    socket.end(answer, onStop);
  }
  server.on('close', () => void parser.close());
  // Created under the engine's umask 077 (engine.ts), so private from the start.
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, () => resolve());
  });
  await chmod(path, 0o600);
  return server;
}

type Stopped = (socket: Socket, answer: string) => void;

function handleConnection(socket: Socket, dispatcher: Dispatcher, parser: RequestParser, stopped: Stopped): void {
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
    for (const line of complete) if (line.trim() !== '') void answer(socket, line, dispatcher, parser, stopped);
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

function send(socket: Socket, response: ControlResponse): void {
  if (!socket.destroyed) socket.write(toJson(response) + '\n');
}

async function answer(
  socket: Socket,
  line: string,
  dispatcher: Dispatcher,
  parser: RequestParser,
  stopped: Stopped,
): Promise<void> {
  let request;
  try {
    request = await parser.parse(line);
  } catch (error) {
    send(socket, { id: 0, error: toApiError(error) });
    return;
  }
  const { id } = request;
  if ('error' in request) return send(socket, request);
  if ('subscribe' in request) {
    send(socket, { id, result: null });
    const unsubscribe = dispatcher.events.subscribe((event) => {
      if (socket.writableLength > MAX_UNREAD_EVENT_BYTES) socket.destroy();
      else send(socket, { event });
    });
    socket.once('close', unsubscribe);
    return;
  }
  const answer = await dispatcher.call(request.method, request.args, (progress) => send(socket, { id, progress }));
  if (request.method === 'stop' && 'result' in answer) {
    stopped(socket, toJson({ id, ...answer }) + '\n');
    return;
  }
  send(socket, { id, ...answer });
}
