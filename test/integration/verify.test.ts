/**
 * `bazil verify` as a user runs it: a whole store reports every file whole; a damaged byte in a
 * pack file is found and named by volume, snapshot and path, with exit code 1.
 */
import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { VerifyResult } from '../../src-main/common/api.js';
import { EngineHarness, bazil, ok } from '../helpers/engine-harness.js';
import { q } from '../helpers/fs-tools.js';

let h: EngineHarness;
let mnt: string;

before(async () => {
  h = await EngineHarness.create();
  await h.start();
  mnt = await h.volume('checked');
});

after(async () => {
  await h.stop({ force: true });
});

test('verify reads every chunk a file or snapshot names, and names what a damaged byte breaks', async () => {
  // The first version of big.bin is the first data of the first pack; a snapshot keeps it.
  await ok(`head -c 3000000 /dev/urandom > ${q(join(mnt, 'big.bin'))} && echo small > ${q(join(mnt, 'small.txt'))}`);
  assert.equal((await bazil(h.dataDir, 'snapshot', 'create', 'checked', 'first')).code, 0);
  await ok(`head -c 2000000 /dev/urandom > ${q(join(mnt, 'big.bin'))}`);
  assert.equal((await bazil(h.dataDir, 'snapshot', 'create', 'checked', 'second')).code, 0);

  const whole = await bazil(h.dataDir, 'verify');
  assert.equal(whole.code, 0, whole.stderr);
  assert.match(whole.stdout, /chunks, .* checked in .*: every file is whole/);

  const packs = (await readdir(join(h.dataDir, 'packs'))).filter((name) => name.endsWith('.pack')).sort();
  const first = join(h.dataDir, 'packs', packs[0]!);
  // One byte of the first chunk after the 4 KiB header, inverted.
  await ok(
    `python3 -c "import sys; f=open(sys.argv[1], 'r+b'); f.seek(4096 + 1000); b=f.read(1); f.seek(4096 + 1000); ` +
      `f.write(bytes([b[0] ^ 0xff])); f.close()" ${q(first)}`,
  );
  const broken = await bazil(h.dataDir, 'verify', '--json');
  assert.equal(broken.code, 1, broken.stderr);
  const result = JSON.parse(broken.stdout) as VerifyResult;
  assert.deepEqual(result.damaged, [
    { volume: 'checked', snapshot: 'first', path: '/big.bin', problem: 'damaged chunk' },
  ]);
  assert.ok(result.checkedChunks >= 10, `${result.checkedChunks} chunks checked`);
  const text = await bazil(h.dataDir, 'verify');
  assert.equal(text.code, 1);
  assert.match(text.stdout, /^damaged chunk: checked \(snapshot first\): \/big\.bin$/m);
  assert.match(text.stdout, /1 file\(s\) broken/);
  // The live file and the second snapshot are whole: reading them works.
  assert.equal((await ok(`wc -c < ${q(join(mnt, 'big.bin'))}`)).trim(), '2000000');
});
