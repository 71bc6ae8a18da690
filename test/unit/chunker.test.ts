import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { CHUNK_MAX_BYTES, CHUNK_MIN_BYTES, CutFinder, cutAll } from '../../src-main/common/chunker.js';

const MiB = 1024 * 1024;

test('cuts fall between the minimum and maximum chunk size, the last at the end', () => {
  const data = randomBytes(8 * MiB);
  const cuts = cutAll(data);
  assert.equal(cuts[cuts.length - 1], data.length);
  let previous = 0;
  for (const cut of cuts.slice(0, -1)) {
    assert.ok(cut - previous >= CHUNK_MIN_BYTES, `chunk of ${cut - previous} bytes is under the minimum`);
    assert.ok(cut - previous <= CHUNK_MAX_BYTES, `chunk of ${cut - previous} bytes is over the maximum`);
    previous = cut;
  }
  // ~256 KiB average: 8 MiB of random data makes roughly 20 to 50 chunks.
  assert.ok(cuts.length >= 12 && cuts.length <= 64, `${cuts.length} chunks`);
});

test('feeding the stream in pieces of any size gives the same cuts', () => {
  const data = randomBytes(4 * MiB);
  const whole = cutAll(data);
  for (const pieceBytes of [1000, 4096, 131072, 333333]) {
    const finder = new CutFinder();
    const cuts: number[] = [];
    for (let start = 0; start < data.length; start += pieceBytes) {
      const end = Math.min(start + pieceBytes, data.length);
      let from = start;
      for (;;) {
        const cut = finder.next(data, from, end);
        if (cut === -1) break;
        cuts.push(cut);
        from = cut;
      }
    }
    if (cuts[cuts.length - 1] !== data.length) cuts.push(data.length);
    assert.deepEqual(cuts, whole, `pieces of ${pieceBytes} bytes`);
  }
});

test('an insert in the middle moves only the cuts near it', () => {
  const data = randomBytes(16 * MiB);
  const inserted = Buffer.concat([data.subarray(0, 8 * MiB), Buffer.from('a few new bytes'), data.subarray(8 * MiB)]);
  const before = new Set(cutAll(data));
  const after = cutAll(inserted).map((cut) => (cut > 8 * MiB ? cut - 15 : cut));
  const moved = after.filter((cut) => !before.has(cut));
  assert.ok(moved.length <= 2, `${moved.length} cuts moved`);
});

test('zeros and other repeating data are cut at the maximum size', () => {
  const cuts = cutAll(Buffer.alloc(3 * MiB));
  assert.deepEqual(cuts, [CHUNK_MAX_BYTES, 2 * CHUNK_MAX_BYTES, 3 * CHUNK_MAX_BYTES]);
});
