/**
 * The HTTP bridge (`bazil serve`): the engine's API and events, and the built window, on loopback
 * for an ordinary browser (a headless machine, the UI tests). It relays to the engine's control
 * socket through a client, and checks every call against the API declaration first.
 *
 * - POST /api/call/METHOD with {"args": {...}} answers {"result"} or {"error": {code, message}}.
 * - GET /api/events streams the engine's events (server-sent events, one JSON object each).
 * - Anything else is a file of the built window (index.html for /).
 *
 * Only 127.0.0.1 listens. Every request needs the token the bridge printed: in a cookie (set by
 * opening the printed URL, which carries it as ?token=), or as `Authorization: Bearer TOKEN`. The
 * Host header must name the bridge (against DNS rebinding) and an Origin, when sent, must be the
 * bridge's own (against other sites' pages).
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { extname, join, normalize, sep } from 'node:path';
import type { EngineEvent } from '../common/api.js';
import { toJson } from '../common/control-protocol.js';
import { BazilError } from '../common/errors.js';
import { parseJsonObject } from '../common/json-object.js';
import { relayCall, type ApiRelay } from './relay-call.js';

/** What the bridge relays to: the control socket's client. */
export interface EventRelay extends ApiRelay {
  onEvent(listener: (event: EngineEvent) => void): Promise<() => void>;
}

export interface HttpBridgeOptions {
  relay: EventRelay;
  /** 0: any free port. */
  port: number;
  /** The built window (index.html and its assets); null: the API only. */
  rendererDir: string | null;
}

export interface HttpBridge {
  /** The URL to open: it carries the token. */
  url: string;
  port: number;
  token: string;
  close(): Promise<void>;
}

const COOKIE = 'bazil-token';
const MAX_BODY_BYTES = 1024 * 1024;
/** A comment line on the event stream this often keeps proxies and the browser from giving up. */
const KEEPALIVE_MS = 15_000;

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json',
  '.woff2': 'font/woff2',
};

/** The window loads only its own scripts and styles, and talks only to the bridge. */
export const CONTENT_SECURITY_POLICY =
  "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; " +
  "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'none'";

const STATUS_OF: Record<string, number> = {
  EINVAL: 400,
  EACCES: 403,
  ENOENT: 404,
  EEXIST: 409,
  EBUSY: 409,
  ENOTEMPTY: 409,
  ELOCKED: 409,
  ENOENGINE: 503,
};

export async function startHttpBridge({ relay, port, rendererDir }: HttpBridgeOptions): Promise<HttpBridge> {
  const token = randomBytes(24).toString('base64url');
  const listeners = new Set<(event: EngineEvent) => void>();
  /** The engine sends the dirty state when it changes: a window that opens later starts from this. */
  let lastDirty: EngineEvent | null = null;
  const stopRelaying = await relay.onEvent((event) => {
    if (event.type === 'dirty') lastDirty = event;
    for (const listener of listeners) listener(event);
  });
  let bound = 0;
  const server: Server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      console.error('bazil: the HTTP bridge failed a request:', error);
      if (!res.headersSent) sendJson(res, 500, { error: { code: 'EINTERNAL', message: String(error) } });
      else res.destroy();
    });
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    res.setHeader('X-Content-Type-Options', 'nosniff');
    res.setHeader('Referrer-Policy', 'no-referrer');
    res.setHeader('Cache-Control', 'no-store');
    const own = [`127.0.0.1:${bound}`, `localhost:${bound}`];
    if (!own.includes(req.headers.host ?? '')) return refuse(res, 403, 'this bridge answers only to its own address');
    const origin = req.headers.origin;
    if (origin !== undefined && !own.some((host) => origin === `http://${host}`)) {
      return refuse(res, 403, 'requests from other sites are refused');
    }
    const url = new URL(req.url ?? '/', `http://${own[0]}`);
    const fromQuery = url.searchParams.get('token');
    if (req.method === 'GET' && fromQuery !== null && sameToken(fromQuery, token)) {
      // The token moves into a cookie, and out of the address bar and the history.
      url.searchParams.delete('token');
      res.writeHead(303, {
        'Set-Cookie': `${COOKIE}=${token}; HttpOnly; SameSite=Strict; Path=/`,
        Location: url.pathname + url.search,
      });
      res.end();
      return;
    }
    if (!sameToken(presentedToken(req), token)) {
      return refuse(res, 401, 'a token is needed: open the URL `bazil serve` printed');
    }
    if (url.pathname.startsWith('/api/call/') && req.method === 'POST') return call(url.pathname.slice(10), req, res);
    if (url.pathname === '/api/events' && req.method === 'GET') return streamEvents(req, res);
    if (url.pathname.startsWith('/api/')) return refuse(res, 404, `no such API path: ${req.method} ${url.pathname}`);
    if (req.method !== 'GET' && req.method !== 'HEAD') return refuse(res, 405, 'only GET for files');
    return serveFile(url.pathname, res);
  }

  async function call(method: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
    let args: unknown;
    try {
      const body = await readBody(req);
      const parsed = body.length === 0 ? {} : parseJsonObject(body.toString('utf8'), 'the body', '{"args": {...}}');
      args = parsed.args ?? {};
    } catch (error) {
      if (error instanceof BazilError) return sendJson(res, 400, { error: error.toAnswer() });
      throw error;
    }
    const name = safeDecode(method);
    if (name === null) return refuse(res, 400, 'the method name is not valid percent-encoding');
    const answer = await relayCall(relay, name, args);
    sendJson(res, 'error' in answer ? (STATUS_OF[answer.error.code] ?? 500) : 200, answer);
  }

  function streamEvents(req: IncomingMessage, res: ServerResponse): void {
    res.writeHead(200, { 'Content-Type': 'text/event-stream', Connection: 'keep-alive' });
    res.write(': bazil events\n\n');
    const send = (event: EngineEvent) => res.write(`data: ${toJson(event)}\n\n`);
    if (lastDirty) send(lastDirty);
    listeners.add(send);
    const keepalive = setInterval(() => res.write(': keepalive\n\n'), KEEPALIVE_MS);
    req.socket.once('close', () => {
      listeners.delete(send);
      clearInterval(keepalive);
    });
  }

  async function serveFile(pathname: string, res: ServerResponse): Promise<void> {
    if (rendererDir === null) return refuse(res, 404, 'this bridge serves the API only');
    const decoded = safeDecode(pathname === '/' ? '/index.html' : pathname);
    if (decoded === null) return refuse(res, 400, 'the path is not valid percent-encoding');
    const relative = normalize(decoded);
    const path = join(rendererDir, relative);
    if (!path.startsWith(rendererDir + sep)) return refuse(res, 404, 'no such file');
    const info = await stat(path).catch(() => null);
    if (!info?.isFile()) return refuse(res, 404, 'no such file');
    res.writeHead(200, {
      'Content-Type': CONTENT_TYPES[extname(path)] ?? 'application/octet-stream',
      'Content-Length': info.size,
      'Content-Security-Policy': CONTENT_SECURITY_POLICY,
    });
    createReadStream(path).pipe(res);
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  bound = (server.address() as { port: number }).port;
  return {
    url: `http://127.0.0.1:${bound}/?token=${token}`,
    port: bound,
    token,
    close: async () => {
      stopRelaying();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function safeDecode(text: string): string | null {
  try {
    return decodeURIComponent(text);
  } catch {
    return null;
  }
}

function presentedToken(req: IncomingMessage): string {
  const auth = req.headers.authorization;
  if (auth?.startsWith('Bearer ')) return auth.slice(7);
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const [name, ...value] = part.trim().split('=');
    if (name === COOKIE) return value.join('=');
  }
  return '';
}

function sameToken(given: string, token: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const pieces: Buffer[] = [];
    let bytes = 0;
    req.on('data', (piece: Buffer) => {
      bytes += piece.length;
      if (bytes > MAX_BODY_BYTES) {
        reject(new BazilError('EINVAL', `a request body is at most ${MAX_BODY_BYTES / 1024 / 1024} MiB`));
        req.destroy();
      } else pieces.push(piece);
    });
    req.on('end', () => resolve(Buffer.concat(pieces)));
    req.on('error', reject);
  });
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = toJson(body);
  res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8' });
  res.end(text);
}

function refuse(res: ServerResponse, status: number, message: string): void {
  sendJson(res, status, { error: { code: status === 401 || status === 403 ? 'EACCES' : 'EINVAL', message } });
}
