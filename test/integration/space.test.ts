/**
 * Where the store's space goes (`bazil stats`, `stats({ space: true })`): what live files use, and
 * what garbage collection could give back, including what a crash leaves. Real engines in child
 * processes, real mounts driven from child processes (cp, rm, python3); pack files are read from
 * the data directory, never through the mount.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { appendFile, readdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import type { GcResult, SpaceReport, StatsResult } from '../../src-main/common/api.js';
import { packFileName, packIdOfFileName } from '../../src-main/engine/store/format.js';
import { EngineHarness, bazil, ok } from '../helpers/engine-harness.js';
import { q } from '../helpers/fs-tools.js';
import { runPython } from '../helpers/python-process.js';
import { waitFor } from '../helpers/wait-for.js';

const MiB = 1024 * 1024;
/** What a file's early flush stores (FileContent: 64 MiB of dirty pages). */
const EARLY_FLUSH_BYTES = 64 * MiB;

type Writer = ReturnType<typeof startWriter>;

/**
 * An engine for one test, and a way to start writers on its mounts. After the test, the writers
 * are killed first (a file held open keeps a volume busy), then the engine is stopped.
 */
async function engine(t: TestContext) {
  const h = await EngineHarness.create();
  const writers: Writer[] = [];
  t.after(async () => {
    for (const w of writers) await w.kill();
    await h.stop();
  });
  await h.start();
  const writer = (...args: Parameters<typeof startWriter>) => {
    const w = startWriter(...args);
    writers.push(w);
    return w;
  };
  return { h, writer };
}

const stats = (h: EngineHarness): Promise<StatsResult> => h.client!.call('stats', {});

async function space(h: EngineHarness): Promise<SpaceReport> {
  const { space } = await h.client!.call('stats', { space: true });
  assert.ok(space, 'stats with space: true has a space report');
  return space;
}

/** The bytes of every pack file, read from the data directory. */
async function packBytes(h: EngineHarness): Promise<number> {
  const dir = join(h.dataDir, 'packs');
  let total = 0;
  for (const name of await readdir(dir))
    if (packIdOfFileName(name) !== null) total += (await stat(join(dir, name))).size;
  return total;
}

/** A file of random bytes on the local disk (not the mount), to copy in. */
async function localFile(h: EngineHarness, name: string, sizeBytes: number): Promise<string> {
  const path = join(await h.dir('local'), name);
  await writeFile(path, randomBytes(sizeBytes));
  return path;
}

/**
 * A python3 process that writes `firstMiB` MiB of random bytes (no two blocks alike) to `name` in
 * `cwd`, says so, and holds the file open until told to go on: then it writes `restMiB` more and
 * closes it.
 */
function startWriter(name: string, cwd: string, firstMiB: number, restMiB = 0) {
  const script = `
import os, sys
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
for _ in range(${firstMiB}): os.write(fd, os.urandom(1 << 20))
print('written', flush=True)
sys.stdin.readline()
for _ in range(${restMiB}): os.write(fd, os.urandom(1 << 20))
os.close(fd)
print('closed', flush=True)
`;
  const python = runPython(script, [name], cwd);
  return {
    written: () => python.said('written'),
    isWritten: () => python.output().includes('written'),
    /** Writes the rest and closes the file; resolves once closed. */
    async finish() {
      python.tell('');
      await python.said('closed');
    },
    kill: () => python.kill(),
  };
}

test('a store holding only live data has nothing reclaimable: only headers and block padding', async (t) => {
  const { h } = await engine(t);
  const m = await h.volume('live');
  // Not a whole number of blocks: the pack is padded after its last chunk.
  const big = await localFile(h, 'big', 20 * MiB + 1234);
  await ok(`cp ${q(big)} big && cp ${q(big)} same && echo small > small && ln small hardlink`, m);
  await ok(`ln -s big link && truncate -s 1G sparse && dd if=/dev/urandom of=mid bs=1M count=3 status=none`, m);
  const report = await space(h);
  assert.equal(report.reclaimableBytes, 0, JSON.stringify(report));
  assert.deepEqual(report.unreferenced, {
    packedChunks: 0,
    packedBytes: 0,
    lmdbChunks: 0,
    lmdbBytes: 0,
    manifests: 0,
    manifestBytes: 0,
    trees: 0,
    treeBytes: 0,
  });
  assert.equal(report.packs.unnamedBytes, 0);
  assert.equal(
    report.live.chunkBytes,
    23 * MiB + 1234 + 'small\n'.length,
    'each byte once: the copy shares its chunks',
  );
  assert.ok(report.packs.paddingBytes >= 4096 + (4096 - 1234), `${report.packs.paddingBytes}`);
  assert.ok(report.packs.paddingBytes < 64 * 1024, `${report.packs.paddingBytes}`);
  assert.equal(report.live.chunkBytes - 6 + report.packs.paddingBytes, report.packs.fileBytes);
});

test('deleting files makes their chunks reclaimable, except content another file still uses; the CLI says so', async (t) => {
  const { h } = await engine(t);
  const m = await h.volume('del');
  const shared = await localFile(h, 'shared', 10 * MiB);
  const own = await localFile(h, 'own', 10 * MiB);
  await ok(`cp ${q(shared)} a && cp ${q(shared)} copy-of-a && cp ${q(own)} b && echo small > s`, m);
  const before = await space(h);
  assert.equal(before.reclaimableBytes, 0);

  await ok(`rm a b s`, m);
  const after = await space(h);
  assert.equal(after.unreferenced.packedBytes, 10 * MiB, "b's chunks, not a's (its copy uses them)");
  assert.equal(after.unreferenced.lmdbChunks, 1, 'the small file');
  assert.equal(after.unreferenced.lmdbBytes, 'small\n'.length);
  assert.equal(after.unreferenced.manifests, 2, "b's and s's manifests; a's is its copy's");
  assert.equal(after.live.chunkBytes, 10 * MiB);
  const reclaimable = 10 * MiB + 6 + after.unreferenced.manifestBytes + after.packs.unnamedBytes;
  assert.equal(after.reclaimableBytes, reclaimable);
  assert.ok(after.packs.unnamedBytes < 4096, "only b's block padding is unnamed");

  const cli = await bazil(h.dataDir, 'stats');
  assert.equal(cli.code, 0, cli.stderr);
  const chunks = after.unreferenced.packedChunks + after.unreferenced.lmdbChunks;
  const unnamed = after.packs.unnamedBytes > 0 ? `, ${after.packs.unnamedBytes} B in packs no chunk names` : '';
  assert.ok(
    cli.stdout.includes(
      `\nreclaimable: 10.0 MiB (${chunks} unreferenced chunks${unnamed}, 2 manifests); bazil gc gives it back\n`,
    ),
    cli.stdout,
  );
  assert.match(cli.stdout, /^live: +10\.0 MiB in \d+ chunks that files and snapshots use; packs /m);
  const json = JSON.parse((await bazil(h.dataDir, 'stats', '--json')).stdout) as StatsResult;
  assert.equal(json.space?.reclaimableBytes, reclaimable);
});

test('kill -9 in the middle of a large write: what it left is reclaimable after the restart', async (t) => {
  const { h, writer } = await engine(t);
  const m = await h.volume('crash');
  const kept = await localFile(h, 'kept', 3 * MiB);
  await ok(`cp ${q(kept)} kept`, m);
  const packsBefore = await packBytes(h);
  const storeBefore = (await stats(h)).storeBytes;

  // 300 MiB in all; the engine dies after 150 MiB went in, once an early flush has stored some.
  const dd = writer('big', m, 150, 150);
  await dd.written();
  await waitFor(async () => (await stats(h)).storeBytes - storeBefore >= EARLY_FLUSH_BYTES, {
    timeoutMs: 60_000,
    what: 'an early flush to store 64 MiB of the file',
  });
  await h.crash();
  await dd.kill();

  // Also as a crash can leave them (asserted here whatever the timing was): bytes a flush wrote
  // past its pack's last entry, and a pack file it created and never recorded.
  const packsDir = join(h.dataDir, 'packs');
  const names = (await readdir(packsDir)).filter((name) => packIdOfFileName(name) !== null).sort();
  await appendFile(join(packsDir, names.at(-1)!), randomBytes(MiB));
  const unrecordedId = packIdOfFileName(names.at(-1)!)! + 7;
  await writeFile(join(packsDir, packFileName(unrecordedId)), randomBytes(2 * MiB));
  const grown = (await packBytes(h)) - packsBefore;
  assert.ok(grown >= EARLY_FLUSH_BYTES + 3 * MiB, `the packs grew ${grown} bytes`);

  await h.start();
  const report = await space(h);
  t.diagnostic(
    `packs grew ${grown} B; reclaimable ${report.reclaimableBytes} B: ${report.unreferenced.packedChunks} ` +
      `unreferenced chunks (${report.unreferenced.packedBytes} B), ${report.packs.unnamedBytes} B unnamed`,
  );
  // Nothing live was written since `kept`: every byte the packs grew by is garbage.
  assert.ok(report.reclaimableBytes >= grown, `reclaimable ${report.reclaimableBytes} < grown ${grown}`);
  assert.ok(report.reclaimableBytes <= grown + 64 * 1024, `reclaimable ${report.reclaimableBytes}, grown ${grown}`);
  assert.ok(report.unreferenced.packedBytes >= EARLY_FLUSH_BYTES, 'the chunks of the early flush');
  assert.ok(report.packs.unnamedBytes >= 3 * MiB, 'the bytes no entry names');
  assert.ok(report.live.chunkBytes >= 3 * MiB, 'kept is live');
  await h.mount('crash', m);
  assert.equal((await ok(`stat -c %s big kept`, m)).trim(), `0\n${3 * MiB}`);

  // Garbage collection gives all of it back: the pack never recorded goes, and so do the packs
  // whose chunks the crash left unreferenced; what is kept reads back the same.
  const gc = await bazil(h.dataDir, 'gc', '--json');
  assert.equal(gc.code, 0, gc.stderr);
  const result = JSON.parse(gc.stdout) as GcResult;
  t.diagnostic(`gc: ${JSON.stringify(result)}`);
  assert.ok(result.deleted.chunkBytes >= EARLY_FLUSH_BYTES, 'the early flush chunks are deleted');
  assert.ok(!(await readdir(packsDir)).includes(packFileName(unrecordedId)), 'the unrecorded pack is deleted');
  assert.ok((await packBytes(h)) - packsBefore < MiB, `the packs are back to ${await packBytes(h)} B`);
  assert.ok(result.diskBytesBefore - result.diskBytesAfter >= grown - MiB, 'the data directory shrank on disk');
  const afterGc = await space(h);
  assert.equal(afterGc.reclaimableBytes, 0, JSON.stringify(afterGc));
  assert.ok((await ok(`cmp ${q(kept)} kept && echo same`, m)).includes('same'));
});

test('chunks an early flush stored for a file still open are live, while it is written and scanned', async (t) => {
  const { h, writer } = await engine(t);
  const m = await h.volume('open');
  const storeBefore = (await stats(h)).storeBytes;
  const file = writer('growing', m, 100);
  // Scans while the writer writes and early flushes store: none may call what they store garbage.
  const reports: SpaceReport[] = [];
  while (!file.isWritten()) reports.push(await space(h));
  await file.written();
  await waitFor(async () => (await stats(h)).storeBytes - storeBefore >= EARLY_FLUSH_BYTES, {
    timeoutMs: 60_000,
    what: 'an early flush to store 64 MiB of the open file',
  });
  const open = await space(h);
  reports.push(open);
  t.diagnostic(`${reports.length} scans, ${reports.length - 1} of them while the file was written`);
  for (const report of reports) assert.equal(report.reclaimableBytes, 0, JSON.stringify(report));
  assert.ok(open.live.chunkBytes >= EARLY_FLUSH_BYTES, `the early flush's chunks are live: ${open.live.chunkBytes}`);
  assert.equal(open.unreferenced.packedChunks, 0);

  // Closed: the flush cuts the early flush's last chunk again (its end was the end of the data
  // then, not a cut of the content; see rechunk.ts), which leaves that one chunk unreferenced.
  await file.finish();
  const closed = await space(h);
  assert.equal(closed.live.chunkBytes, 100 * MiB);
  assert.ok(closed.unreferenced.packedChunks <= 1, JSON.stringify(closed));
  assert.ok(closed.reclaimableBytes <= MiB + 4096, JSON.stringify(closed));
});
