import assert from 'node:assert/strict';
import { createCipheriv, createHash, randomBytes } from 'node:crypto';
import { test } from 'node:test';
import {
  CHUNK_AVG_BYTES,
  CHUNK_MAX_BYTES,
  CHUNK_MIN_BYTES,
  CutFinder,
  GEAR,
  cutAll,
} from '../../src-main/common/chunker.js';

const MiB = 1024 * 1024;

/** The chunking rule written plainly, byte by byte: what the WebAssembly scan must agree with. */
function referenceCuts(data: Uint8Array): number[] {
  const cuts: number[] = [];
  let start = 0;
  while (start < data.length) {
    let h = 0;
    let cut = Math.min(data.length, start + CHUNK_MAX_BYTES);
    for (let i = start; i < cut; i++) {
      h = ((h << 1) + GEAR[data[i]!]!) | 0;
      const n = i + 1 - start;
      if (n < CHUNK_MIN_BYTES) continue;
      const mask = n <= CHUNK_AVG_BYTES ? 0xfffff000 | 0 : 0xffff0000 | 0;
      if ((h & mask) === 0) {
        cut = i + 1;
        break;
      }
    }
    cuts.push(cut);
    start = cut;
  }
  return cuts;
}

test('cut points are part of the format: a fixed stream cuts where it always has', () => {
  // 32 MiB of AES-CTR keystream under a fixed key: the same bytes on every machine.
  const data = createCipheriv('aes-128-ctr', Buffer.alloc(16, 7), Buffer.alloc(16, 0)).update(Buffer.alloc(32 * MiB));
  const cuts = cutAll(data);
  assert.deepEqual(cuts.slice(0, 5), [126333, 389617, 658649, 929984, 1211353]);
  assert.equal(cuts.length, 115);
  assert.equal(
    createHash('sha256').update(cuts.join(',')).digest('hex'),
    'e7c80b6b82e15062f81b134ec30567fc19491f313c854a4009fb29c714af6bf0',
  );
});

test('the chunker cuts where the plain byte-by-byte rule does', () => {
  for (const data of [randomBytes(6 * MiB), Buffer.alloc(3 * MiB + 5, 0x5a)]) {
    assert.deepEqual(cutAll(data), referenceCuts(data));
  }
});

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
