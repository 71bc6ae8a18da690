/**
 * A store that runs out of space: a writer gets an error instead of hanging, nothing already
 * closed is lost, and the engine keeps serving. (The data directory is a small tmpfs: needs root,
 * as the integration tests do.)
 */
import assert from 'node:assert/strict';
import { statfsSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import { test } from 'node:test';
import { ok, sh } from '../helpers/engine-harness.js';
import { needsRoot, py } from '../helpers/fs-tools.js';
import { engineOnSmallDisk, fillDisk } from '../helpers/small-disk.js';
import { waitFor } from '../helpers/wait-for.js';

const MiB = 1024 * 1024;

/** CPU time (user + system, in clock ticks of 10 ms) a process has used. */
async function cpuTicks(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(fields[11]) + Number(fields[12]);
}

test(
  'a write to a full store fails with an error instead of hanging, and closed files stay',
  needsRoot('mount a small disk'),
  async (t) => {
    const h = await engineOnSmallDisk(t, 48, ['--dirty-cap-mib', '16']);
    const mnt = await h.volume('full');
    await ok(`echo kept > kept`, mnt);

    // 100 MiB of incompressible data into a 48 MiB store: the store fills while dd writes.
    const writing = sh(`dd if=/dev/urandom of=big bs=1M count=100`, mnt);
    const timeout = new Promise<'hung'>((resolve) => setTimeout(() => resolve('hung'), 90_000).unref());
    const result = await Promise.race([writing, timeout]);
    assert.notEqual(result, 'hung', 'dd was still blocked after 90 s');
    if (result === 'hung') return;
    assert.notEqual(result.code, 0, 'dd reports the failure');
    assert.match(result.stderr, /No space left on device|Input\/output error/);

    assert.equal(await ok(`cat kept`, mnt), 'kept\n', 'a file closed before is intact and served');
    assert.match(await ok(`ls`, mnt), /kept/);

    // Stopping would lose the data that could not be stored: refused, with what to do.
    await assert.rejects(h.client!.call('stop', {}), /could not be stored .*free space and try again, or use --force/);
    await assert.rejects(h.client!.call('unmount', { name: 'full' }), /could not be stored .*or use --force/);
    assert.equal(await ok(`cat kept`, mnt), 'kept\n', 'still mounted and served');
  },
);

test(
  'small files onto a full disk: ENOSPC, the engine stays up and quiet, and they are stored once there is room',
  needsRoot('mount a small disk'),
  async (t) => {
    const h = await engineOnSmallDisk(t, 32);
    const mnt = await h.volume('full');
    const local = await h.dir('local');
    await ok(`echo kept > kept`, mnt);
    await ok(`for i in $(seq 1 300); do head -c 20000 /dev/urandom > src$i; done`, local);
    const filler = await fillDisk(h.dataDir, 1024 * 1024);

    // Every file written and closed: each write or close that fails says ENOSPC, nothing else.
    const copy = await sh(`for i in $(seq 1 300); do cat '${local}'/src$i > f$i || echo "f$i failed" >&2; done`, mnt);
    const failures = copy.stderr.split('\n').filter((line) => line.includes('failed'));
    assert.ok(failures.length > 0, 'the disk did fill');
    for (const line of copy.stderr.split('\n').filter((l) => l.includes('cat:'))) {
      assert.match(line, /No space left on device/, 'a program is told the disk is full');
    }

    // The engine serves on, and a file that was only read closes without an error.
    assert.equal(await ok(`cat kept`, mnt), 'kept\n');
    const readOnly = await py<string>(
      `fd = os.open('kept', os.O_RDONLY); os.read(fd, 10); out(err(os.close, fd))`,
      mnt,
    );
    assert.equal(readOnly, 'ok', 'closing a file that was only read reports no failure of other files');

    // Quiet while it waits: the failure is said once, and retrying costs next to no CPU.
    const before = await cpuTicks(h.pid);
    await new Promise((resolve) => setTimeout(resolve, 3000));
    const usedTicks = (await cpuTicks(h.pid)) - before;
    assert.ok(usedTicks < 30, `the engine used ${usedTicks * 10} ms of CPU in 3 s while the disk was full`);
    assert.equal(h.output.match(/metadata cannot be written/g)?.length, 1, h.output);
    assert.ok(h.output.length < 20_000, `the log stays short (${h.output.length} bytes)`);

    // Room again: what was closed is stored without an unmount, and survives kill -9.
    await rm(filler);
    await waitFor(async () => (await h.client!.call('stats', {})).dirty.totalBytes === 0, {
      timeoutMs: 60_000,
      what: 'the closed files to be stored once the disk had room',
    });
    assert.match(h.output, /metadata written again/);
    await h.crash();
    await h.start();
    await h.mount('full', mnt);
    const listed = (await ok(`ls`, mnt)).split('\n').filter((name) => /^f\d+$/.test(name));
    assert.equal(listed.length, 300, 'every file has its name');
    const sums = (root: string, prefix: string) => ok(`for i in $(seq 1 300); do sha256sum < ${prefix}$i; done`, root);
    assert.equal(await sums(mnt, 'f'), await sums(local, 'src'), 'and its bytes, including those whose close failed');
  },
);

test(
  'LMDB says a full disk in one clean message (its write-error text overran a 100-byte buffer)',
  needsRoot('mount a small disk'),
  async (t) => {
    // Unpatched, LMDB formatted a failed page write into 100 bytes with sizes read past the ones it
    // wrote ("buffer sizes 4096 4096 -1723249792"): once the text passed 100 bytes (a store past
    // 10 MB), it wrote over the heap, and the engine died on a full disk (native/lmdb).
    const h = await engineOnSmallDisk(t, 32);
    const mnt = await h.volume('meta');
    await ok(
      `for d in $(seq 1 40); do mkdir d$d && (cd d$d && for f in $(seq 1 250); do : > name-long-enough-to-fill-pages-$f; done); done`,
      mnt,
    );
    await fillDisk(h.dataDir, 0);
    await sh(
      `for d in $(seq 41 60); do mkdir d$d && (cd d$d && for f in $(seq 1 250); do : > another-long-name-$f; done); done`,
      mnt,
    );
    await waitFor(() => /metadata cannot be written/.test(h.output), { timeoutMs: 30_000, what: 'a commit to fail' });
    const line = h.output.split('\n').find((l) => l.includes('metadata cannot be written'))!;
    assert.match(line, /no space left on the disk of the store/);
    assert.doesNotMatch(line, /buffer sizes/, 'the patched LMDB: no sizes read past the buffers it wrote');
    assert.doesNotMatch(h.output, /Write error:/, 'nor a line without its newline on stderr');
    assert.equal((await h.client!.call('volumeList', {})).length, 1, 'the engine still answers');
  },
);

test(
  'a full disk: files deleted in the volume give their space back by themselves, and writes work again',
  needsRoot('mount a small disk'),
  async (t) => {
    const h = await engineOnSmallDisk(t, 160, ['--auto-gc-every', '1s']);
    const mnt = await h.volume('full');
    const local = await h.dir('local');
    // One pack holds them all: the deleted files leave it mostly garbage, to be rewritten.
    // kept lies between deleted files in the pack: the holes stop short of its chunks.
    await ok(`head -c ${40 * MiB} /dev/urandom > big1`, mnt);
    await ok(`head -c ${8 * MiB} /dev/urandom > kept && sha256sum kept > '${local}/kept.sum'`, mnt);
    await ok(`for i in 2 3; do head -c ${40 * MiB} /dev/urandom > big$i; done`, mnt);
    await waitFor(async () => (await h.client!.call('stats', {})).dirty.totalBytes === 0, {
      timeoutMs: 30_000,
      what: 'the files to be stored',
    });
    await fillDisk(h.dataDir, 0);
    const refused = await sh(`head -c ${4 * MiB} /dev/urandom > more && sync more`, mnt);
    assert.notEqual(refused.code, 0, 'the disk is full');
    await sh('rm -f more', mnt);

    await ok('rm big1 big2 big3', mnt);
    // No room to rewrite the pack: its dead bytes are given back in place, and the log says so.
    const collected = /automatic garbage collection: .* was reclaimable; freed [1-9][\d.]* MiB on disk/;
    await waitFor(() => collected.test(h.output), {
      timeoutMs: 60_000,
      what: `a collection (engine log: ${h.output.slice(-2000)})`,
    });
    const free = statfsSync(h.dataDir).bavail * statfsSync(h.dataDir).bsize;
    assert.ok(free > 100 * MiB, `${free} bytes free`);
    await ok(`head -c ${4 * MiB} /dev/urandom > more && sync more`, mnt);
    // Read from the pack, not from memory: its chunks next to the holes are whole.
    await ok('sync && echo 3 > /proc/sys/vm/drop_caches');
    await ok(`sha256sum -c --quiet '${local}/kept.sum'`, mnt);
  },
);
