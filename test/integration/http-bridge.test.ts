/**
 * `bazil serve` as a browser and a hostile page meet it: the printed URL lets a browser in (its
 * token moves into a cookie), API calls and events pass through to the engine, and a request
 * without the token, from another site, for another host name, or to any address but loopback is
 * refused.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { request } from 'node:http';
import { connect } from 'node:net';
import { networkInterfaces } from 'node:os';
import { after, before, test } from 'node:test';
import { BAZIL_BIN, EngineHarness, assertRefused, bazil } from '../helpers/engine-harness.js';
import { waitFor } from '../helpers/wait-for.js';

let h: EngineHarness;
let serve: ChildProcess;
let serveOutput = '';
let port = 0;
let token = '';

before(async () => {
  h = await EngineHarness.create();
  await h.start();
  serve = spawn(process.execPath, [BAZIL_BIN, '--data-dir', h.dataDir, 'serve'], { stdio: ['ignore', 'pipe', 'pipe'] });
  serve.stdout!.on('data', (d: Buffer) => (serveOutput += d.toString()));
  serve.stderr!.on('data', (d: Buffer) => (serveOutput += d.toString()));
  const url = await waitFor(
    () => {
      if (serve.exitCode !== null) throw new Error(`bazil serve exited: ${serveOutput}`);
      return /serving on (http:\S+)/.exec(serveOutput)?.[1] ?? null;
    },
    { timeoutMs: 20_000, what: 'bazil serve to print its URL' },
  );
  const parsed = new URL(url);
  assert.equal(parsed.hostname, '127.0.0.1');
  port = Number(parsed.port);
  token = parsed.searchParams.get('token')!;
  assert.ok(token.length >= 32, 'a token long enough not to guess');
});

after(async () => {
  if (serve.exitCode === null) {
    const exited = new Promise((resolve) => serve.once('exit', resolve));
    serve.kill('SIGTERM');
    await exited;
  }
  await h.stop();
});

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

function http(
  method: string,
  path: string,
  { headers = {}, body }: { headers?: Record<string, string>; body?: unknown } = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method, path, headers: { host: `127.0.0.1:${port}`, ...headers } });
    req.on('response', (res) => {
      let text = '';
      res.on('data', (d: Buffer) => (text += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: text }));
    });
    req.on('error', reject);
    req.end(body === undefined ? undefined : JSON.stringify(body));
  });
}

const bearer = () => ({ authorization: `Bearer ${token}` });
const callApi = (method: string, args: unknown, headers: Record<string, string> = bearer()) =>
  http('POST', `/api/call/${method}`, { headers: { 'content-type': 'application/json', ...headers }, body: { args } });

test('the printed URL sets a cookie that lets a browser in; calls and events pass through to the engine', async () => {
  const opened = await http('GET', `/?token=${token}`);
  assert.equal(opened.status, 303);
  assert.equal(opened.headers.location, '/', 'the token leaves the address bar');
  const cookie = (opened.headers['set-cookie'] as string[])[0]!;
  assert.match(cookie, /HttpOnly/);
  assert.match(cookie, /SameSite=Strict/);
  const withCookie = { cookie: cookie.split(';')[0]! };

  const events: string[] = [];
  const stream = request({
    host: '127.0.0.1',
    port,
    path: '/api/events',
    headers: { host: `127.0.0.1:${port}`, ...withCookie },
  });
  stream.on('response', (res) => {
    assert.equal(res.headers['content-type'], 'text/event-stream');
    res.on('data', (d: Buffer) =>
      events.push(
        ...d
          .toString()
          .split('\n')
          .filter((l) => l.startsWith('data: ')),
      ),
    );
  });
  stream.end();
  try {
    const created = await callApi('volumeCreate', { name: 'web' }, withCookie);
    assert.equal(created.status, 200, created.body);
    assert.equal((JSON.parse(created.body) as { result: { name: string } }).result.name, 'web');
    const mnt = await h.dir('mnt-web');
    const mounted = await callApi('mount', { name: 'web', mountpoint: mnt }, withCookie);
    assert.equal(mounted.status, 200, mounted.body);
    await waitFor(() => events.some((e) => e.includes('"type":"volumes"') && e.includes(mnt)), {
      timeoutMs: 10_000,
      what: 'the mount to reach the event stream',
    });
    assert.ok(
      events.some((e) => e.includes('"type":"dirty"')),
      'and the dirty state, at once',
    );
    const unmounted = await callApi('unmount', { name: 'web' }, withCookie);
    assert.equal(unmounted.status, 200, unmounted.body);
    assert.deepEqual(JSON.parse(unmounted.body), { result: null });
  } finally {
    stream.destroy();
  }
});

test('the window itself is served only with the token, under a content security policy', async () => {
  const page = await http('GET', '/', { headers: bearer() });
  if (page.status === 404) {
    assert.match(page.body, /API only/);
  } else {
    assert.equal(page.status, 200);
    assert.match(String(page.headers['content-security-policy']), /script-src 'self'/);
  }
  assert.equal((await http('GET', '/')).status, 401);
  assert.equal((await http('GET', '/../../etc/passwd', { headers: bearer() })).status, 404);
  assert.equal((await http('GET', '/%E0%A4%A', { headers: bearer() })).status, 400, 'bad percent-encoding');
  assert.equal((await http('POST', '/api/call/%ZZ', { headers: bearer() })).status, 400);
});

test('a request without the token, or with a wrong one, is refused', async () => {
  const wrong: Record<string, string>[] = [{}, { authorization: 'Bearer wrong' }, { cookie: 'bazil-token=wrong' }];
  for (const headers of wrong) {
    const listed = await callApi('volumeList', {}, headers);
    assert.equal(listed.status, 401, JSON.stringify(headers));
    assert.match(listed.body, /token/);
    assert.equal((await http('GET', '/api/events', { headers })).status, 401);
  }
  const guessed = await http('GET', '/?token=wrong');
  assert.equal(guessed.status, 401, 'a wrong token in the URL sets no cookie');
  assert.equal(guessed.headers['set-cookie'], undefined);
  assert.equal((await callApi('volumeList', {})).status, 200, 'and the right one passes');
});

test('another host name or another site is refused, even with the token', async () => {
  const rebound = await http('POST', '/api/call/volumeList', {
    headers: { ...bearer(), host: `evil.example:${port}` },
    body: { args: {} },
  });
  assert.equal(rebound.status, 403);
  const foreign = await callApi('volumeList', {}, { ...bearer(), origin: 'http://evil.example' });
  assert.equal(foreign.status, 403);
  const otherPort = await callApi('volumeList', {}, { ...bearer(), origin: `http://127.0.0.1:${port + 1}` });
  assert.equal(otherPort.status, 403);
  const own = await callApi('volumeList', {}, { ...bearer(), origin: `http://localhost:${port}` });
  assert.equal(own.status, 200);
});

test('bad arguments are refused naming the field, and the engine’s errors keep their code', async () => {
  const missing = await callApi('mount', { name: 'web' });
  assert.equal(missing.status, 400);
  assert.match(missing.body, /mount: \\"mountpoint\\" is missing/);
  const unknown = await callApi('frobnicate', {});
  assert.equal(unknown.status, 400);
  assert.match(unknown.body, /unknown method/);
  const notJson = await http('POST', '/api/call/volumeList', { headers: bearer(), body: undefined });
  assert.equal(notJson.status, 200, 'an empty body is no arguments');
  const twice = await callApi('volumeCreate', { name: 'web' });
  assert.equal(twice.status, 409);
  assert.equal((JSON.parse(twice.body) as { error: { code: string } }).error.code, 'EEXIST');
});

test('only the loopback address listens', async (t) => {
  const outside = Object.values(networkInterfaces())
    .flat()
    .find((a) => a && a.family === 'IPv4' && !a.internal)?.address;
  if (!outside) return t.skip('this machine has no address but loopback');
  const refused = await new Promise<string>((resolve) => {
    const socket = connect({ host: outside, port });
    socket.once('connect', () => {
      socket.destroy();
      resolve('connected');
    });
    socket.once('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? 'error'));
  });
  assert.equal(refused, 'ECONNREFUSED', `port ${port} on ${outside}`);
});

test('a port in use is refused with one line', async () => {
  assertRefused(await bazil(h.dataDir, 'serve', '--port', String(port)), /port \d+ is in use; choose another/);
  assertRefused(await bazil(h.dataDir, 'serve', '--port', 'x'), /--port needs a port number/);
});
