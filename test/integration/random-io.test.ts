/**
 * Random I/O on a real mount, the way databases, VM images and download managers do it: several
 * processes reading and writing at random offsets with mixed sizes, through read/write and through
 * shared memory mappings. Every byte is checked: fio verifies what it reads back as it runs, and
 * the same workload (fio's random streams are seeded, so it writes the same bytes) is run on the
 * local disk, whose file must come out identical to the one Bazil stored once the volume was
 * unmounted and mounted again.
 *
 * The files are larger than the chunk cache (48 MiB), so reads evict each other's chunks. Each run
 * must finish in time: a hang aborts the mount's FUSE connection and fails the test.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { EngineHarness, ok } from '../helpers/engine-harness.js';

/** A run takes a few seconds here; a hang is cut off at this. */
const RUN_TIMEOUT_MS = 120_000;

let harness: EngineHarness;
let mnt: string;
let local: string;

before(async () => {
  harness = await EngineHarness.create();
  await harness.start();
  mnt = await harness.volume('random');
  local = await harness.dir('local');
});

after(async () => {
  await harness?.stop();
});

/** Runs fio in `dir`; fails the test with fio's output unless every job ended without an error. */
async function fio(args: string, dir: string): Promise<void> {
  const result = await harness.shWithin(`fio --output-format=normal ${args}`, dir, RUN_TIMEOUT_MS);
  assert.equal(result.code, 0, `fio ${args} failed in ${dir}:\n${result.stdout}${result.stderr}`);
  assert.match(result.stdout, /err= 0/, `fio reported an error:\n${result.stdout}`);
}

/**
 * The same workload (`job`, whose files' names start with `name`) on the local disk and on Bazil;
 * after a remount, the files Bazil stored are identical.
 */
async function sameAsLocalDisk(job: string, name: string): Promise<void> {
  await fio(job, local);
  await fio(job, mnt);
  await harness.client!.call('unmount', { name: 'random' });
  await harness.mount('random', mnt);
  const [expected, stored] = await Promise.all([
    ok(`sha256sum ${name}*`, local),
    harness.shWithin(`sha256sum ${name}*`, mnt, RUN_TIMEOUT_MS),
  ]);
  assert.equal(stored.stdout, expected, 'the files stored differ from the same workload on the local disk');
}

test('four processes reading and writing at random, 4 KiB to 256 KiB at a time, read back what they wrote', async () => {
  // Four disjoint 32 MiB regions of one 128 MiB file, laid out first (so it is stored), then read
  // and written at random; fio checks each block it reads against the checksum it wrote.
  const job =
    '--size=32M --offset_increment=32M --numjobs=4 --rw=randrw --bsrange=4k-256k ' +
    '--io_size=48M --refill_buffers --group_reporting';
  await fio(`--name=verified --filename=verified ${job} --verify=crc32c --verify_fatal=1`, mnt);
  await sameAsLocalDisk(`--name=random --filename=random ${job}`, 'random');
});

test('three processes writing through shared mappings with msync, and reading them, keep every byte', async () => {
  // A file per process (fio's checks of mapped I/O at offsets in one shared file go wrong on any
  // file system); 72 MiB in all.
  const job =
    '--ioengine=mmap --size=24M --numjobs=3 --rw=randrw --bsrange=4k-64k --io_size=48M --fsync=16 ' +
    '--refill_buffers --group_reporting';
  await fio(`--name=mapped-verified ${job} --verify=crc32c --verify_fatal=1`, mnt);
  await sameAsLocalDisk(`--name=mapped ${job}`, 'mapped.');
});
