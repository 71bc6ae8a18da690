import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ChunkReader, type ChunkSource } from '../../src-main/engine/chunking/chunk-reader.js';
import type { ChunkRef } from '../../src-main/engine/store/format.js';

const CHUNK = 256 * 1024;

/** A reader over `count` chunks of CHUNK bytes whose source records what it is asked to prefetch. */
function readerWithSpy(count: number) {
  const chunks: ChunkRef[] = Array.from({ length: count }, (_, i) => ({ key: new Uint8Array([i]), sizeBytes: CHUNK }));
  const index = new Map(chunks.map((chunk, i) => [chunk, i]));
  const asked: number[][] = [];
  const source: ChunkSource = {
    get: () => new Uint8Array(CHUNK),
    load: (_ref, then) => Promise.resolve().then(then),
    prefetch: (refs) => asked.push(refs.map((ref) => index.get(ref)!)),
  };
  return { reader: new ChunkReader(chunks, source), asked };
}

const span = (refs: number[]) => [refs[0], refs[refs.length - 1]! + 1];

test('prefetch starts small, grows as a reader goes on, and starts small again after a jump', () => {
  const { reader, asked } = readerWithSpy(1000);
  reader.chunkAt(100);
  assert.deepEqual(asked.map(span), [[0, 5]], 'a first read asks for ~1 MiB ahead');

  for (let i = 1; i < 200; i++) reader.chunkAt(i * CHUNK);
  const sizes = asked.map((refs) => refs.length);
  assert.deepEqual(sizes.slice(0, 5), [5, 5, 9, 17, 33], 'the span doubles while the reader goes on');
  assert.ok(Math.max(...sizes) <= 65, 'up to 64 chunks ahead');
  const ahead = Math.max(...asked.flat()) - 199;
  assert.ok(ahead >= 32 && ahead <= 64, `a sequential reader is kept 32 to 64 chunks ahead (${ahead})`);

  asked.length = 0;
  reader.chunkAt(700 * CHUNK);
  assert.deepEqual(asked.map(span), [[700, 705]], 'a jump ahead asks for ~1 MiB again');
  asked.length = 0;
  reader.chunkAt(10 * CHUNK);
  assert.deepEqual(asked.map(span), [[10, 15]], 'so does a jump far back');
});
