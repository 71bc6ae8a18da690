/**
 * `bazil gc` as a user runs it: after deleting files and snapshots the data directory takes less
 * disk, while every live file, every snapshot kept and every writer working during the collection
 * keeps its bytes (checked by hash, through the mount, after a restart too, and by `bazil verify`).
 * The engine collects by itself too, once enough is reclaimable. Real engine in a child process,
 * real mounts, writers in python3 processes.
 */
import assert from 'node:assert/strict';
import { statfsSync } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import type { EngineEvent, GcResult, SnapshotInfo } from '../../src-main/common/api.js';
import { ControlClient } from '../../src-main/client/control-client.js';
import { AUTO_GC_MIN_BYTES, LOW_DISK_SHARE } from '../../src-main/engine/auto-gc.js';
import { socketPath } from '../../src-main/engine/data-dir.js';
import { packIdOfFileName } from '../../src-main/engine/store/format.js';
import { EngineHarness, bazil, ok } from '../helpers/engine-harness.js';
import { needsRoot, q } from '../helpers/fs-tools.js';
import { runPython } from '../helpers/python-process.js';
import { waitFor } from '../helpers/wait-for.js';

const MiB = 1024 * 1024;

async function engine(t: TestContext): Promise<EngineHarness> {
  const h = await EngineHarness.create();
  t.after(() => h.stop({ force: true }));
  await h.start();
  return h;
}

/** Disk the pack files take (allocated blocks), read from the data directory. */
async function packDiskBytes(h: EngineHarness): Promise<number> {
  const dir = join(h.dataDir, 'packs');
  let total = 0;
  for (const name of await readdir(dir)) {
    if (packIdOfFileName(name) !== null) total += (await stat(join(dir, name))).blocks * 512;
  }
  return total;
}

/** `sha256sum` of every file under `dir`, relative paths, sorted. */
const hashes = (dir: string) => ok(`find . -type f | LC_ALL=C sort | xargs -d '\\n' sha256sum`, dir);

/** `hashes` of everything but the writer's folder `w/`. */
const hashesBesidesWriter = async (dir: string) =>
  (await hashes(dir))
    .split('\n')
    .filter((line) => !line.includes('./w/'))
    .join('\n');

async function gc(h: EngineHarness): Promise<GcResult> {
  const result = await bazil(h.dataDir, 'gc', '--json');
  assert.equal(result.code, 0, result.stderr);
  return JSON.parse(result.stdout) as GcResult;
}

/**
 * A python3 process writing files into `dir` until told to stop: each is closed, then its hash
 * recorded in `sums` (it stops when `sums`.stop appears). Every other file has the bytes of `copyOf` (content the
 * collection finds garbage: the writer stores it again, deduplicated, while the collection runs).
 */
function startWriter(dir: string, sums: string, copyOf: string) {
  const script = `
import hashlib, os, sys
d, sums, copy_of, stop = sys.argv[1:5]
same = open(copy_of, 'rb').read()
out = open(sums, 'w')
n = 0
while not os.path.exists(stop):
    data = same if n % 2 else os.urandom((n % 5 + 1) * 700_000)
    name = 'w%04d' % n
    with open(os.path.join(d, name), 'wb') as f:
        f.write(data)
    out.write('%s  ./%s\\n' % (hashlib.sha256(data).hexdigest(), name))
    out.flush()
    n += 1
    if n == 3:
        print('started', flush=True)
out.close()
print('stopped', n, flush=True)
`;
  const stopFile = `${sums}.stop`;
  const python = runPython(script, [dir, sums, copyOf, stopFile]);
  return {
    started: () => python.said('started'),
    async stop(): Promise<number> {
      await ok(`touch ${q(stopFile)}`);
      await python.said('stopped');
      await python.exited;
      return Number(/stopped (\d+)/.exec(python.output())![1]);
    },
    kill: () => python.kill(),
  };
}

test('gc after deleting files and snapshots: the disk space comes back, nothing live or kept is lost', async (t) => {
  const h = await engine(t);
  const m = await h.volume('home');
  const local = await h.dir('local');
  // keep/: stays. gone/: deleted later, after the snapshot that keeps it too is deleted.
  await ok(`mkdir keep gone && for i in 1 2 3; do head -c ${6 * MiB} /dev/urandom > keep/big$i; done`, m);
  await ok(`for i in 1 2 3 4; do head -c ${6 * MiB} /dev/urandom > gone/big$i; done`, m);
  await ok(`for i in $(seq 1 150); do echo "small $i" > keep/s$i; echo "gone $i" > gone/s$i; done`, m);
  await ok(`cp gone/big1 ${q(join(local, 'gone-big1'))}`, m);
  assert.equal((await bazil(h.dataDir, 'snapshot', 'create', 'home', 'old')).code, 0);
  // The first keep/big1 lives on only in "old"; "kept" holds the new one and gone/.
  await ok(`head -c ${6 * MiB} /dev/urandom > keep/big1`, m);
  assert.equal((await bazil(h.dataDir, 'snapshot', 'create', 'home', 'kept')).code, 0);
  const keptSums = await hashes(m);
  await ok(`rm -r gone`, m);
  const liveSums = await hashes(m);
  assert.equal((await bazil(h.dataDir, 'snapshot', 'delete', 'home', 'old')).code, 0);

  // Nothing is garbage yet but the old keep/big1: "kept" still holds gone/.
  const first = await gc(h);
  assert.ok(first.deleted.chunkBytes >= 6 * MiB && first.deleted.chunkBytes < 7 * MiB, JSON.stringify(first));
  assert.equal(await hashes(join(m, '.snap', 'kept')), keptSums, 'the snapshot kept reads back whole');

  // Then "kept" goes too, while a writer stores files, half of them the bytes of gone/big1.
  assert.equal((await bazil(h.dataDir, 'snapshot', 'delete', 'home', 'kept')).code, 0);
  const before = await packDiskBytes(h);
  await ok(`mkdir w`, m);
  const writer = startWriter(join(m, 'w'), join(local, 'w.sums'), join(local, 'gone-big1'));
  t.after(() => writer.kill());
  await writer.started();
  const second = await gc(h);
  const written = await writer.stop();
  t.diagnostic(`gc: ${JSON.stringify(second)}; the writer wrote ${written} files`);
  const after = await packDiskBytes(h);
  // gone/big2..4 at least (gone/big1's bytes may be named again by the writer), and the old big1.
  assert.ok(second.deleted.chunkBytes >= 3 * 6 * MiB, JSON.stringify(second));
  assert.ok(second.deleted.chunks > 150, 'the small files of gone/ too');
  assert.ok(second.deleted.trees > 0, 'the snapshot directories');
  assert.ok(second.packs.bytesAfter < second.packs.bytesBefore, JSON.stringify(second.packs));
  assert.ok(
    second.diskBytesAfter < second.diskBytesBefore - 12 * MiB,
    `the data directory: ${second.diskBytesBefore} -> ${second.diskBytesAfter}`,
  );
  // The writer went on storing new bytes (every other file) until told to stop, however long a
  // loaded machine made the collection: those are no garbage the collection left.
  const writerNewBytes = Array.from({ length: written }, (_, n) => (n % 2 ? 0 : ((n % 5) + 1) * 700_000)).reduce(
    (a, b) => a + b,
    0,
  );
  assert.ok(
    after - writerNewBytes < before,
    `pack files: ${before} -> ${after} B on disk, ${writerNewBytes} B of it the writer's new files`,
  );

  // Every byte that is live reads back: the files, the writer's, and all of it as `verify` reads it.
  assert.equal(await hashesBesidesWriter(m), liveSums);
  await ok(`sha256sum -c --quiet ${q(join(local, 'w.sums'))}`, join(m, 'w'));
  const verify = await bazil(h.dataDir, 'verify');
  assert.equal(verify.code, 0, verify.stdout + verify.stderr);

  // And after a restart: the index names the new packs, on the disk.
  await h.stop({ keepFiles: true });
  await h.start();
  await h.mount('home', m);
  await ok(`sha256sum -c --quiet ${q(join(local, 'w.sums'))}`, join(m, 'w'));
  assert.equal(await hashesBesidesWriter(m), liveSums);
  const text = await bazil(h.dataDir, 'gc');
  assert.equal(text.code, 0, text.stderr);
  assert.match(text.stdout, /^deleted: \d+ chunks \(.*\), \d+ manifests, \d+ snapshot directories$/m);
  assert.match(text.stdout, /^freed: +.* on disk \(.* -> .*\) in \d+\.\d s$/m);
});

test('gc while a file is written and held open: what its early flushes stored stays', async (t) => {
  const h = await engine(t);
  const m = await h.volume('open');
  // 100 MiB written (an early flush stores 64 MiB of it), held open across a collection, closed.
  const script = `
import hashlib, os, sys
h = hashlib.sha256()
fd = os.open('growing', os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
for _ in range(100):
    b = os.urandom(1 << 20); h.update(b); os.write(fd, b)
print('written', flush=True)
sys.stdin.readline()
for _ in range(20):
    b = os.urandom(1 << 20); h.update(b); os.write(fd, b)
os.close(fd)
print('closed', h.hexdigest(), flush=True)
`;
  const python = runPython(script, [], m);
  t.after(() => python.kill());
  await python.said('written');
  await waitFor(async () => (await h.client!.call('stats', {})).storeBytes >= 64 * MiB, {
    timeoutMs: 60_000,
    what: 'an early flush to store 64 MiB of the open file',
  });
  const result = await gc(h);
  assert.ok(result.deleted.chunkBytes < MiB, `the open file's chunks are live: ${JSON.stringify(result)}`);
  python.tell('');
  await python.said('closed ');
  await python.exited;
  const sum = /closed (\w+)/.exec(python.output())![1];
  assert.equal((await ok(`sha256sum growing`, m)).split(' ')[0], sum);
  await gc(h);
  assert.equal((await ok(`sha256sum growing`, m)).split(' ')[0], sum, 'and after the next collection');
  assert.equal((await bazil(h.dataDir, 'verify')).code, 0);
});

test('snapshot list says what only each snapshot holds, and gc gives back exactly that once it is deleted', async (t) => {
  const h = await engine(t);
  const m = await h.volume('photos');
  const unique = async () => {
    const result = await bazil(h.dataDir, 'snapshot', 'list', 'photos', '--json');
    assert.equal(result.code, 0, result.stderr);
    return Object.fromEntries((JSON.parse(result.stdout) as SnapshotInfo[]).map((s) => [s.name, s.uniqueBytes]));
  };
  await ok(`head -c ${4 * MiB} /dev/urandom > a && head -c ${3 * MiB} /dev/urandom > b && echo tiny > c`, m);
  // A directory that does not change: one tree object that s1 and s2 share.
  await ok(`mkdir old && head -c ${MiB} /dev/urandom > old/x`, m);
  assert.equal((await bazil(h.dataDir, 'snapshot', 'create', 'photos', 's1')).code, 0);
  await ok(`head -c ${2 * MiB} /dev/urandom > a`, m);
  assert.equal((await bazil(h.dataDir, 'snapshot', 'create', 'photos', 's2')).code, 0);
  await ok(`rm -r b c old`, m);
  assert.equal((await bazil(h.dataDir, 'snapshot', 'create', 'photos', 's3')).code, 0);
  // s1 alone holds the first a; b, c and old/ are in s1 and s2; the new a is live.
  assert.deepEqual(await unique(), { s1: 4 * MiB, s2: 0, s3: 0 });
  // Views that only offer names ask for no unique bytes: the same snapshots, without them.
  const names = await h.client!.call('snapshotList', { volume: 'photos', uniqueBytes: false });
  assert.deepEqual(
    names.map((s) => [s.name, s.uniqueBytes]),
    [
      ['s1', null],
      ['s2', null],
      ['s3', null],
    ],
  );

  assert.equal((await bazil(h.dataDir, 'snapshot', 'delete', 'photos', 's1')).code, 0);
  const onlyS2 = 3 * MiB + 'tiny\n'.length + MiB;
  assert.deepEqual(await unique(), { s2: onlyS2, s3: 0 });
  const text = await bazil(h.dataDir, 'snapshot', 'list', 'photos');
  assert.match(text.stdout, /^NAME +TAKEN +FILES +SIZE +ONLY HERE/m);
  assert.match(text.stdout, /^s2 .* 4\.0 MiB/m);
  const first = await gc(h);
  assert.equal(first.deleted.chunkBytes, 4 * MiB, 'the first a, which only s1 held');

  assert.equal((await bazil(h.dataDir, 'snapshot', 'delete', 'photos', 's2')).code, 0);
  const second = await gc(h);
  assert.equal(second.deleted.chunkBytes, onlyS2, 'what list said only s2 held');
});

test('the engine collects by itself once enough is reclaimable, and not before', async (t) => {
  const h = await EngineHarness.create();
  t.after(() => h.stop({ force: true }));
  await h.start(['--auto-gc-every', '1s']);
  const listener = await ControlClient.connect(socketPath(h.dataDir));
  t.after(() => listener.close());
  const jobs: Extract<EngineEvent, { type: 'job' }>[] = [];
  await listener.onEvent((event) => event.type === 'job' && event.method === 'gc' && jobs.push(event));
  const m = await h.volume('home');
  const local = await h.dir('local');
  const stored = () =>
    waitFor(async () => (await h.client!.call('stats', {})).dirty.totalBytes === 0, {
      timeoutMs: 30_000,
      what: 'the files to be stored',
    });
  await ok(`head -c ${8 * MiB} /dev/urandom > kept && sha256sum kept > ${q(join(local, 'kept.sum'))}`, m);

  // Less garbage than is worth collecting: several checks pass, and none collects.
  await ok(`head -c ${16 * MiB} /dev/urandom > small`, m);
  await stored();
  await ok('rm small', m);
  const fs = statfsSync(h.dataDir);
  if (fs.bavail >= LOW_DISK_SHARE * fs.blocks) {
    await new Promise((resolve) => setTimeout(resolve, 4_000));
    assert.deepEqual(jobs, [], 'no collection for 16 MiB');
  }

  // More: the next check collects it, as a job the window sees, and says so in the engine's log.
  await ok(`head -c ${AUTO_GC_MIN_BYTES + 16 * MiB} /dev/urandom > big`, m);
  await stored();
  const before = await packDiskBytes(h);
  await ok('rm big', m);
  await waitFor(() => jobs.some((job) => job.state === 'done'), { timeoutMs: 60_000, what: 'a collection' });
  assert.equal(jobs[0]!.state, 'running', 'announced as it started');
  assert.match(h.output, /automatic garbage collection: .* was reclaimable; freed .* on disk in \d+\.\d s/);
  const after = await packDiskBytes(h);
  assert.ok(after < before - AUTO_GC_MIN_BYTES, `pack files: ${before} -> ${after} B on disk`);
  await ok(`sha256sum -c --quiet ${q(join(local, 'kept.sum'))}`, m);
  const verify = await bazil(h.dataDir, 'verify');
  assert.equal(verify.code, 0, verify.stdout + verify.stderr);

  // Nothing left worth it: the checks go on without collecting again.
  const done = jobs.length;
  await new Promise((resolve) => setTimeout(resolve, 3_000));
  assert.equal(jobs.length, done, 'one collection only');
});

test('--auto-gc-every takes an interval or off; anything else is one line and exit 2', async () => {
  for (const bad of ['banana', '0s', '10', '']) {
    const result = await bazil('/nonexistent-bazil-dir', 'daemon', '--auto-gc-every', bad);
    assert.equal(result.code, 2, `${bad}: ${result.stdout}${result.stderr}`);
    assert.equal(result.stderr, 'bazil: --auto-gc-every needs an interval like 30m, 1h or 1d, or off\n');
  }
});

test('a collection that fails says why, and the engine goes on serving', needsRoot('chattr'), async (t) => {
  const h = await engine(t);
  const m = await h.volume('home');
  // One pack, mostly garbage once big goes: the collection rewrites it into a new pack.
  await ok(`head -c ${2 * MiB} /dev/urandom > kept && head -c ${24 * MiB} /dev/urandom > big`, m);
  await waitFor(async () => (await h.client!.call('stats', {})).dirty.totalBytes === 0, {
    timeoutMs: 30_000,
    what: 'the files to be stored',
  });
  await gc(h); // nothing to delete yet; the pack the workers wrote is finished
  await ok('rm big && echo still here > after', m);
  // No new file can be made among the packs: the rewrite fails.
  const packsDir = q(join(h.dataDir, 'packs'));
  await ok(`chattr +i ${packsDir}`);
  try {
    const failed = await bazil(h.dataDir, 'gc');
    assert.equal(failed.code, 1, failed.stdout + failed.stderr);
    assert.match(failed.stderr, /^bazil: .*(EPERM|operation not permitted)/im);
  } finally {
    await ok(`chattr -i ${packsDir}`);
  }
  assert.equal(await ok('cat after', m), 'still here\n', 'the engine still serves the mount');
  assert.equal((await bazil(h.dataDir, 'volume', 'list')).code, 0, 'and answers');
  // And collects once it can.
  const again = await gc(h);
  assert.equal(again.packs.rewritten, 1, JSON.stringify(again.packs));
  await ok(`head -c ${2 * MiB} kept > /dev/null`, m);
});
