/**
 * The control socket as a misbehaving client meets it: a request that is not a JSON object with a
 * method gets EINVAL like any malformed request, and a request past the size cap is refused with a
 * clear error and its connection closed, while the mount keeps being served.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { after, before, test } from 'node:test';
import { connectRaw } from '../helpers/control-connection.js';
import { EngineHarness, ok, sh } from '../helpers/engine-harness.js';
import { waitFor } from '../helpers/wait-for.js';

let h: EngineHarness;
let mnt: string;

before(async () => {
  h = await EngineHarness.create();
  await h.start();
  mnt = await h.volume('served');
});

after(async () => {
  await h.stop();
});

/**
 * From another process, as a user's tools: 40 files created, written, read and checked on the
 * mount, and the file "kept" checked against "kept.sum". Returns how long it took.
 */
async function workOnMount(): Promise<number> {
  const started = Date.now();
  const work = await sh(
    `for i in $(seq 40); do echo "$i" > "f$i" && cat "f$i" > /dev/null && stat --cached=never "f$i" > /dev/null || exit 1; done; sha256sum -c kept.sum`,
    mnt,
  );
  assert.equal(work.code, 0, work.stderr);
  return Date.now() - started;
}

test('a request that is not an object with a string method gets EINVAL, and the connection stays usable', async () => {
  const { socket, answers } = await connectRaw(h.dataDir);
  const malformed = ['null', '42', '[1,2]', '"volumeList"', 'true', '{"id":7}', '{"id":8,"method":5}', '{oops'];
  for (const line of malformed) socket.write(`${line}\n`);
  socket.write(`${JSON.stringify({ id: 9, method: 'volumeList', args: {} })}\n`);
  await waitFor(() => answers.length === malformed.length + 1, { timeoutMs: 10_000, what: 'every answer' });
  const errors = answers.filter((a) => a.id !== 9);
  for (const [i, answer] of errors.entries()) {
    assert.equal(answer.error?.code, 'EINVAL', `${malformed[i]}: ${JSON.stringify(answer)}`);
    assert.match(answer.error!.message, /request|method/, malformed[i]);
    assert.doesNotMatch(answer.error!.message, /Cannot read|undefined|null \(/, malformed[i]);
  }
  assert.deepEqual(
    (answers.find((a) => a.id === 9)?.result as { name: string }[]).map((v) => v.name),
    ['served'],
    'a good request after the bad ones is answered',
  );
  socket.end();
});

test('an oversize request is refused and its connection closed, while the mount keeps being served', async (t) => {
  await ok(`dd if=/dev/urandom of=kept bs=1M count=4 2>/dev/null && sha256sum kept > kept.sum`, mnt);
  const rssBytes = async () =>
    Number(/VmRSS:\s+(\d+) kB/.exec(await readFile(`/proc/${h.pid}/status`, 'utf8'))![1]) * 1024;
  const rssBefore = await rssBytes();

  const { socket, answers, closed } = await connectRaw(h.dataDir);
  let closedByEngine = false;
  void closed.then(() => (closedByEngine = true));
  // 64 MiB without a newline, written as fast as the engine takes it, until it closes the connection.
  const piece = Buffer.alloc(1024 * 1024, 'x');
  const sending = (async () => {
    for (let i = 0; i < 64 && !closedByEngine && !socket.destroyed; i++) {
      if (!socket.write(piece)) await Promise.race([new Promise((r) => socket.once('drain', r)), closed]);
    }
  })();

  await new Promise((r) => setTimeout(r, 100));
  const elapsedMs = await workOnMount();
  t.diagnostic(`40 files on the mount: ${elapsedMs} ms`);
  assert.ok(elapsedMs < 3000, `40 files on the mount took ${elapsedMs} ms while a client sent 64 MiB`);

  await sending;
  await waitFor(() => closedByEngine, { timeoutMs: 10_000, what: 'the engine to close the connection' });
  assert.equal(answers.length, 1, JSON.stringify(answers));
  assert.equal(answers[0]!.error?.code, 'EINVAL');
  assert.match(answers[0]!.error!.message, /request .*longer than 1 MiB/);
  const grownBytes = (await rssBytes()) - rssBefore;
  assert.ok(grownBytes < 32 * 1024 * 1024, `the engine grew by ${grownBytes >> 20} MiB`);

  // The engine still answers.
  assert.deepEqual(
    (await h.client!.call('volumeList', {})).map((v) => v.name),
    ['served'],
  );
});

test('requests under the cap that are slow to parse do not hold up the mount', async (t) => {
  // An object of 60,000 arguments: ~650 KB, and ~60 ms of JSON.parse on the build machine.
  const args = Array.from({ length: 60_000 }, (_, i) => `"k${i}":1`).join(',');
  const heavy = `{"id":1,"method":"stats","args":{${args}}}\n`;
  const count = 100;
  const { socket, answers } = await connectRaw(h.dataDir);
  const sending = (async () => {
    for (let i = 0; i < count; i++) if (!socket.write(heavy)) await new Promise((r) => socket.once('drain', r));
  })();
  await new Promise((r) => setTimeout(r, 100));
  const elapsedMs = await workOnMount();
  t.diagnostic(`40 files on the mount: ${elapsedMs} ms`);
  assert.ok(elapsedMs < 3000, `40 files on the mount took ${elapsedMs} ms while a client sent slow requests`);
  await sending;
  await waitFor(() => answers.length === count, { timeoutMs: 60_000, what: 'every answer' });
  for (const answer of answers) assert.match(answer.error?.message ?? '', /stats: unknown argument "k0"/);
  socket.end();
});
