import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { ChunkPool } from '../../src-main/engine/chunking/chunk-pool.js';
import { Store } from '../../src-main/engine/store/store.js';
import { waitFor } from '../helpers/wait-for.js';

const PAGE = 128 * 1024;
const dirs: string[] = [];
after(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

function job(sizeBytes: number) {
  const pages = new Map<number, Uint8Array>();
  for (let i = 0; i * PAGE < sizeBytes; i++) {
    const page = new Uint8Array(new SharedArrayBuffer(PAGE));
    page.set(randomBytes(PAGE));
    pages.set(i, page);
  }
  return { base: [], baseLimitBytes: 0, sizeBytes, pageBytes: PAGE, pages, storeManifest: true };
}

test('a flush stores its chunks and manifest in the store before it answers', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'bazil-pool-'));
  dirs.push(dir);
  const store = new Store(dir);
  const pool = new ChunkPool(dir, 1);
  const reply = await pool.flush(job(3 * 1024 * 1024));
  assert.ok(reply.manifestKey);
  assert.equal(
    reply.chunks.reduce((n, c) => n + c.sizeBytes, 0),
    3 * 1024 * 1024,
  );
  for (const chunk of reply.chunks) assert.equal(store.readChunk(chunk.key)?.length, chunk.sizeBytes);
  assert.equal(store.getManifest(reply.manifestKey).length, reply.chunks.length);
  await pool.close();
  await store.close();
});

test('a worker that dies fails its jobs, and a new worker takes the next ones', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'bazil-pool-'));
  dirs.push(dir);
  const pool = new ChunkPool(dir, 1);
  const inFlight = pool.flush(job(64 * 1024 * 1024));
  // A message the worker cannot handle throws in it, uncaught: the thread dies, as it would of a
  // bug. (Worker.terminate() would be no test: it can abort the whole process when it lands
  // inside a call into LMDB.)
  const worker = (pool as unknown as { workers: { worker: { postMessage(message: unknown): void } }[] }).workers[0]!;
  const logged: string[] = [];
  const consoleError = console.error;
  console.error = (...parts: unknown[]) => logged.push(parts.join(' '));
  try {
    worker.worker.postMessage(null);
    // The error names the cause (a TypeError, reading 'in' of null), not only an exit code.
    await assert.rejects(inFlight, /a chunk worker stopped \(TypeError: .*\); the data stays in memory/);
  } finally {
    console.error = consoleError;
  }
  assert.ok(
    logged.some((line) => /^bazil: a chunk worker stopped: TypeError: .*; 1 flush\(es\) failed/.test(line)),
    logged.join('\n'),
  );
  const reply = await pool.flush(job(1024 * 1024));
  assert.equal(
    reply.chunks.reduce((n, c) => n + c.sizeBytes, 0),
    1024 * 1024,
  );
  await pool.close();
});

test('every answer is seen before its flush resolves; answered() waits for the jobs in flight; a dead worker hands back its pack', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'bazil-pool-'));
  dirs.push(dir);
  const pool = new ChunkPool(dir, 1);
  const seen: string[] = [];
  pool.onAnswer = (reply) => seen.push(`answer ${reply.chunks.length}`);
  const abandoned: number[] = [];
  pool.onPackAbandoned = (packId) => abandoned.push(packId);

  const flushing = pool.flush(job(2 * 1024 * 1024)).then((reply) => {
    seen.push('resolved');
    return reply;
  });
  await pool.answered();
  assert.equal(seen.length, 2, 'answered() resolved after the job answered');
  const reply = await flushing;
  assert.deepEqual(seen, [`answer ${reply.chunks.length}`, 'resolved']);
  const packId = reply.packs[0]!.packId;
  assert.deepEqual(pool.packsInProgress(), [packId]);

  // The worker dies (see above) while its pack is open for appending.
  const worker = (pool as unknown as { workers: { worker: { postMessage(message: unknown): void } }[] }).workers[0]!;
  worker.worker.postMessage(null);
  await waitFor(() => abandoned.length > 0, { timeoutMs: 10_000, what: 'the dead worker to hand back its pack' });
  assert.deepEqual(abandoned, [packId]);
  assert.deepEqual(pool.packsInProgress(), [], 'no worker writes it any more');
  await pool.close();
});
