/**
 * The dirty-memory cap: a file far larger than the cap is written whole, while the memory held by
 * dirty pages stays under the cap (the engine stores data early, then makes writers wait).
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { StatsResult } from '../../src-main/common/api.js';
import { EngineHarness, ok } from '../helpers/engine-harness.js';

const MiB = 1024 * 1024;
const CAP_MIB = 16;
const PAGE_BYTES = 128 * 1024;

let h: EngineHarness;
let mnt: string;

before(async () => {
  h = await EngineHarness.create();
  await h.start(['--dirty-cap-mib', String(CAP_MIB)]);
  mnt = await h.volume('capped');
});

after(async () => {
  await h?.stop();
});

/** The engine's stats every 20 ms while `work` runs. */
async function statsWhile(work: () => Promise<unknown>): Promise<StatsResult[]> {
  const samples: StatsResult[] = [];
  let working = true;
  const poll = (async () => {
    while (working) {
      samples.push(await h.client!.call('stats', {}));
      await new Promise((r) => setTimeout(r, 20));
    }
  })();
  try {
    await work();
  } finally {
    working = false;
    await poll;
  }
  return samples;
}

async function peakDirtyWhile(work: () => Promise<unknown>): Promise<number> {
  return Math.max(...(await statsWhile(work)).map((s) => s.dirty.totalBytes));
}

test('a file 12 times the dirty cap is written whole while dirty memory stays under the cap', async () => {
  const local = await h.dir('local');
  const source = join(local, 'big');
  const hash = createHash('sha256');
  await new Promise<void>((resolve, reject) => {
    const out = createWriteStream(source);
    out.on('error', reject);
    out.on('finish', resolve);
    for (let i = 0; i < 12 * CAP_MIB; i++) {
      const block = randomBytes(MiB);
      hash.update(block);
      out.write(block);
    }
    out.end();
  });

  const samples = await statsWhile(() => ok(`dd if=${source} of=big bs=1M status=none`, mnt));
  const cap = samples[0]!.dirty.capBytes;
  assert.equal(cap, CAP_MIB * MiB);
  const peak = Math.max(...samples.map((s) => s.dirty.totalBytes));
  assert.ok(peak > 0, 'dirty pages were seen while writing');
  // A write that finds room may take one page past the cap before the next one waits.
  assert.ok(peak <= cap + PAGE_BYTES, `dirty memory peaked at ${peak} bytes, over the ${cap}-byte cap`);
  const withFile = samples.find((s) => s.dirty.files.some((f) => f.path === '/big' && f.volume === 'capped'));
  assert.ok(withFile, 'the file being written is listed with its dirty bytes');
  assert.equal((await ok(`sha256sum big`, mnt)).split(' ')[0], hash.digest('hex'));
  const idle = await h.client!.call('stats', {});
  assert.equal(idle.dirty.totalBytes, 0, 'nothing is dirty once the file is closed');
});

test('twelve writers at once, waiting for room under the cap, each keep their own bytes', async () => {
  // Each 1 MiB write's bytes come in memory the addon reuses once JS has taken them: a write that
  // waits for room keeps a copy, and past eight writes taken at once a write brings its own. Twelve
  // files of distinct bytes, written at once under a cap smaller than what they write, exercise both.
  const local = await h.dir('local-twelve');
  const writers = Array.from({ length: 12 }, (_, i) => i);
  const hashes = await Promise.all(
    writers.map(async (i) => {
      const bytes = randomBytes(CAP_MIB * MiB);
      await writeFile(join(local, `source-${i}`), bytes);
      return createHash('sha256').update(bytes).digest('hex');
    }),
  );
  const peak = await peakDirtyWhile(() =>
    Promise.all(writers.map((i) => ok(`dd if=${join(local, `source-${i}`)} of=w-${i} bs=1M status=none`, mnt))),
  );
  // Writers woken together each ask again before writing: one 1 MiB write may pass the cap, not twelve.
  assert.ok(peak <= (CAP_MIB + 1) * MiB, `dirty memory peaked at ${peak} bytes with a ${CAP_MIB} MiB cap`);
  for (const i of writers) {
    assert.equal(
      (await ok(`sha256sum w-${i}`, mnt)).split(' ')[0],
      hashes[i],
      `file w-${i} holds another writer's bytes`,
    );
  }
});

test('six processes writing at random under the cap, some pages filled from the store first, keep every byte', async () => {
  // Writes of 4 KiB to 256 KiB into a file already stored: a page partly overwritten is filled
  // from the store first (the write waits for the disk) while other writers fill the cap and
  // flushes start mid-write. fio checks every block it reads against what it wrote.
  const job =
    '--name=capped --filename=capped --size=32M --offset_increment=32M --numjobs=6 --rw=randrw ' +
    '--bsrange=4k-256k --io_size=64M --refill_buffers --group_reporting --verify=crc32c --verify_fatal=1';
  const result = await h.shWithin(`fio --output-format=normal ${job}`, mnt, 120_000);
  assert.equal(result.code, 0, `fio failed:\n${result.stdout}${result.stderr}`);
  assert.match(result.stdout, /err= 0/, `fio reported an error:\n${result.stdout}`);
});
