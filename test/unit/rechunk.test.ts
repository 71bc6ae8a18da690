import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { cutAll } from '../../src-main/common/chunker.js';
import { rechunk, type ChunkIo, type RechunkInput } from '../../src-main/engine/chunking/rechunk.js';
import { isHole, type ChunkRef } from '../../src-main/engine/store/format.js';

const MiB = 1024 * 1024;
const PAGE = 128 * 1024;

/** An in-memory chunk store that counts what it stores. */
class MemoryChunks implements ChunkIo {
  readonly chunks = new Map<string, Buffer>();
  stored = 0;
  readChunk(ref: ChunkRef): Uint8Array {
    return this.chunks.get(Buffer.from(ref.key).toString('hex'))!;
  }
  storeChunk(view: Uint8Array): Uint8Array {
    const bytes = Buffer.from(view);
    const key = createHash('sha256').update(bytes).digest();
    this.chunks.set(key.toString('hex'), bytes);
    this.stored++;
    return key;
  }
  /** Stores a whole file the way a first flush does. */
  storeFile(data: Buffer): ChunkRef[] {
    let start = 0;
    return cutAll(data).map((cut) => {
      const ref = { key: this.storeChunk(data.subarray(start, cut)), sizeBytes: cut - start };
      start = cut;
      return ref;
    });
  }
  content(refs: ChunkRef[]): Buffer {
    return Buffer.concat(
      refs.map((ref) => (isHole(ref) ? Buffer.alloc(ref.sizeBytes) : Buffer.from(this.readChunk(ref)))),
    );
  }
  /** `length` bytes at `offset` of the content (for files too large to hold whole). */
  contentAt(refs: ChunkRef[], offset: number, length: number): Buffer {
    const out = Buffer.alloc(length);
    let start = 0;
    for (const ref of refs) {
      const from = Math.max(offset, start);
      const to = Math.min(offset + length, start + ref.sizeBytes);
      if (from < to && !isHole(ref))
        Buffer.from(this.readChunk(ref)).copy(out, from - offset, from - start, to - start);
      start += ref.sizeBytes;
    }
    return out;
  }
}

function pagesOf(data: Buffer, indexes: number[]): Map<number, Uint8Array> {
  const pages = new Map<number, Uint8Array>();
  for (const index of indexes) {
    const page = Buffer.alloc(PAGE);
    data.copy(page, 0, index * PAGE, Math.min((index + 1) * PAGE, data.length));
    pages.set(index, page);
  }
  return pages;
}

function input(base: ChunkRef[], data: Buffer, pages: Map<number, Uint8Array>, baseLimit = Infinity): RechunkInput {
  const baseSize = base.reduce((n, c) => n + c.sizeBytes, 0);
  return { base, baseLimitBytes: Math.min(baseLimit, baseSize), sizeBytes: data.length, pageBytes: PAGE, pages };
}

test('a file written from nothing is chunked as a whole', async () => {
  const store = new MemoryChunks();
  const data = randomBytes(3 * MiB + 12345);
  const indexes = Array.from({ length: Math.ceil(data.length / PAGE) }, (_, i) => i);
  const refs = await rechunk(input([], data, pagesOf(data, indexes)), store);
  assert.deepEqual(store.content(refs), data);
  assert.deepEqual(
    refs.map((r) => r.sizeBytes),
    cutAll(data).map((cut, i, all) => cut - (i === 0 ? 0 : all[i - 1]!)),
  );
});

test('an overwrite in the middle stores only a few new chunks and reuses the rest', async () => {
  const store = new MemoryChunks();
  const old = randomBytes(20 * MiB);
  const base = store.storeFile(old);
  const edited = Buffer.from(old);
  randomBytes(1000).copy(edited, 10 * MiB + 5);
  const storedBefore = store.stored;
  const refs = await rechunk(input(base, edited, pagesOf(edited, [Math.floor((10 * MiB + 5) / PAGE)])), store);
  assert.deepEqual(store.content(refs), edited);
  assert.ok(store.stored - storedBefore <= 3, `${store.stored - storedBefore} chunks stored again`);
  const reused = refs.filter((r) => base.some((b) => Buffer.compare(b.key, r.key) === 0)).length;
  assert.ok(reused >= base.length - 3, `${reused} of ${base.length} chunks reused`);
});

test('appending in several flushes gives the same chunks as writing at once', async () => {
  const data = randomBytes(6 * MiB + 777);
  const once = new MemoryChunks();
  const whole = once.storeFile(data);
  const store = new MemoryChunks();
  let refs: ChunkRef[] = [];
  for (const end of [1 * MiB + 3, 2 * MiB + 100000, 5 * MiB, data.length]) {
    const prefix = data.subarray(0, end);
    const baseSize = refs.reduce((n, c) => n + c.sizeBytes, 0);
    const indexes: number[] = [];
    for (let i = Math.floor(baseSize / PAGE); i * PAGE < end; i++) indexes.push(i);
    refs = await rechunk(input(refs, prefix, pagesOf(prefix, indexes)), store);
    assert.deepEqual(store.content(refs), prefix);
  }
  assert.deepEqual(
    refs.map((r) => Buffer.from(r.key).toString('hex')),
    whole.map((r) => Buffer.from(r.key).toString('hex')),
  );
});

test('truncated bytes read as zeros when the file grows again', async () => {
  const store = new MemoryChunks();
  const old = randomBytes(2 * MiB);
  const base = store.storeFile(old);
  // truncate to 1 MiB + 10, then grow to 3 MiB without writing: the gap is zeros
  const expected = Buffer.alloc(3 * MiB);
  old.copy(expected, 0, 0, MiB + 10);
  const refs = await rechunk(input(base, expected, new Map(), MiB + 10), store);
  assert.deepEqual(store.content(refs), expected);
});

test('a file cut short inside a chunk keeps only the bytes before the cut', async () => {
  const store = new MemoryChunks();
  const old = randomBytes(2 * MiB);
  const base = store.storeFile(old);
  const shorter = old.subarray(0, MiB + 4321);
  const refs = await rechunk(input(base, Buffer.from(shorter), new Map(), shorter.length), store);
  assert.deepEqual(store.content(refs), shorter);
});

test('a file truncated to nothing has no chunks', async () => {
  const store = new MemoryChunks();
  const base = store.storeFile(randomBytes(MiB));
  assert.deepEqual(await rechunk(input(base, Buffer.alloc(0), new Map(), 0), store), []);
});

test('a hole is one entry however long: nothing scanned or stored, zeros when read, the cuts a scan would make', async () => {
  const store = new MemoryChunks();
  // 1 byte at 5 MiB + 3: everything before it is a hole
  const data = Buffer.alloc(5 * MiB + 4);
  data[5 * MiB + 3] = 0x58;
  const refs = await rechunk(input([], data, pagesOf(data, [Math.floor((5 * MiB + 3) / PAGE)])), store);
  assert.deepEqual(store.content(refs), data);
  assert.equal(refs.filter(isHole).length, 1, 'one hole entry');
  assert.ok(store.stored <= 2, `${store.stored} chunks stored`);
  // The same cuts as chunking the whole buffer: zeros cut only at the maximum size, so the hole
  // ends where the scan's last all-zero chunk would.
  const cuts = cutAll(data);
  assert.equal(refs[0]!.sizeBytes, cuts[Math.floor(refs[0]!.sizeBytes / MiB) - 1]);
  assert.deepEqual(
    refs.slice(1).map((r) => r.sizeBytes),
    cuts.slice(refs[0]!.sizeBytes / MiB).map((cut, i, rest) => cut - (i === 0 ? refs[0]!.sizeBytes : rest[i - 1]!)),
  );
});

test('a file grown to 1 PB by truncate costs one hole entry; a write inside it later keeps the rest a hole', async () => {
  const store = new MemoryChunks();
  const PB = 10 ** 15;
  const head = randomBytes(300_000);
  const base = store.storeFile(head);
  // truncate(2) to 1 PB: the base stays valid, the rest is new zeros.
  const grown = await rechunk(
    { base, baseLimitBytes: head.length, sizeBytes: PB, pageBytes: PAGE, pages: new Map() },
    store,
  );
  assert.equal(
    grown.reduce((n, r) => n + r.sizeBytes, 0),
    PB,
  );
  assert.ok(grown.length <= 6, `${grown.length} entries`);
  assert.deepEqual(store.contentAt(grown, 0, head.length), head);
  assert.deepEqual(store.contentAt(grown, PB - 1000, 1000), Buffer.alloc(1000));

  // Then one page written in the middle of the hole.
  const at = Math.floor(PB / 2 / PAGE) * PAGE;
  const page = randomBytes(PAGE);
  const written = await rechunk(
    { base: grown, baseLimitBytes: PB, sizeBytes: PB, pageBytes: PAGE, pages: new Map([[at / PAGE, page]]) },
    store,
  );
  assert.equal(
    written.reduce((n, r) => n + r.sizeBytes, 0),
    PB,
  );
  assert.ok(written.length <= 16, `${written.length} entries`);
  assert.ok(written.filter(isHole).length >= 2, 'zeros on both sides of the write stay holes');
  assert.deepEqual(store.contentAt(written, 0, head.length), head);
  assert.deepEqual(
    store.contentAt(written, at - 10, PAGE + 20),
    Buffer.concat([Buffer.alloc(10), page, Buffer.alloc(10)]),
  );
  assert.deepEqual(store.contentAt(written, PB - 1000, 1000), Buffer.alloc(1000));
});
