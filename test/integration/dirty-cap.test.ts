/**
 * The dirty-memory cap: a file far larger than the cap is written whole, while the memory held by
 * dirty pages stays under the cap (the engine stores data early, then makes writers wait).
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
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

  const samples: StatsResult[] = [];
  let writing = true;
  const poll = (async () => {
    while (writing) {
      samples.push(await h.client!.call('stats', {}));
      await new Promise((r) => setTimeout(r, 20));
    }
  })();
  try {
    await ok(`dd if=${source} of=big bs=1M status=none`, mnt);
  } finally {
    writing = false;
    await poll;
  }

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
