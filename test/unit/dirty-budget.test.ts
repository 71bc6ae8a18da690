import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DirtyBudget, PAGE_BYTES, type DirtyFile } from '../../src-main/engine/fs/dirty-budget.js';

/** A file whose pages are all live until `startEarlyFlush`, which stores them all (storable 0). */
function file(
  volumeName: string,
  displayPath: string,
  dirtyBytes: number,
): DirtyFile & { flushes: number; storableBytes: number } {
  return {
    volumeName,
    displayPath,
    dirtyBytes,
    storableBytes: dirtyBytes,
    flushes: 0,
    startEarlyFlush() {
      if (this.storableBytes === 0) return;
      this.flushes++;
      this.storableBytes = 0;
    },
  };
}

test('past half the cap the largest dirty file is stored early', () => {
  const budget = new DirtyBudget(4 * PAGE_BYTES);
  const small = file('v', '/small', PAGE_BYTES);
  const large = file('v', '/large', 2 * PAGE_BYTES);
  budget.track(small);
  budget.track(large);
  budget.takePage();
  budget.takePage();
  assert.equal(large.flushes, 0, 'at half the cap: not yet');
  budget.takePage();
  assert.equal(large.flushes, 1);
  assert.equal(small.flushes, 0);
});

test('at the cap a writer waits until a stored page is given back', async () => {
  const budget = new DirtyBudget(2 * PAGE_BYTES);
  assert.equal(budget.waitForRoom(), null);
  const page = budget.takePage();
  budget.takePage();
  const waiting = budget.waitForRoom();
  assert.ok(waiting);
  let woke = false;
  void waiting.then(() => (woke = true));
  await new Promise((r) => setImmediate(r));
  assert.equal(woke, false);
  budget.givePage(page);
  await new Promise((r) => setImmediate(r));
  assert.equal(woke, true);
  assert.equal(budget.totalBytes, PAGE_BYTES);
});

test('at the cap the file with the most live pages stores, not one already storing', () => {
  const budget = new DirtyBudget(4 * PAGE_BYTES);
  const storing = file('v', '/storing', 3 * PAGE_BYTES);
  storing.startEarlyFlush();
  const live = file('v', '/live', PAGE_BYTES);
  budget.track(storing);
  budget.track(live);
  for (let i = 0; i < 4; i++) budget.takePage();
  assert.ok(budget.waitForRoom());
  assert.equal(live.flushes, 1, 'the file whose pages are all live stores');
  assert.equal(storing.flushes, 1, 'the one storing is not asked again');
});

test('writers still at the cap when a file finished storing: the next file stores', () => {
  // Twelve writers under a 16 MiB cap hung so: a store freed too little, and no other began.
  const budget = new DirtyBudget(4 * PAGE_BYTES);
  const a = file('v', '/a', 2 * PAGE_BYTES);
  const b = file('v', '/b', 3 * PAGE_BYTES);
  budget.track(a);
  budget.track(b);
  const pages = [budget.takePage(), budget.takePage(), budget.takePage()];
  assert.equal(b.flushes, 1, 'past half the cap the largest stores');
  budget.takePage();
  budget.takePage();
  assert.ok(budget.waitForRoom());
  assert.equal(a.flushes, 1, 'at the cap the other one stores too');
  // b's store ends having freed one page; both wrote more meanwhile (writes woken before).
  b.storableBytes = PAGE_BYTES;
  a.storableBytes = 2 * PAGE_BYTES;
  budget.givePage(pages[0]!);
  budget.flushEnded();
  assert.equal(a.flushes, 2, 'still at the cap with a writer waiting: the largest live file stores');
  budget.flushEnded();
  assert.equal(a.flushes, 2, 'a file storing already is not asked again');
});

test('given-back pages are reused; a retired page only once reclaimed', () => {
  const budget = new DirtyBudget(4 * PAGE_BYTES);
  const pages = [budget.takePage(), budget.takePage()];
  for (const page of pages) budget.givePage(page);
  assert.equal(budget.totalBytes, 0);
  const again = [budget.takePage(), budget.takePage()];
  assert.deepEqual(
    again.map((p) => p.byteOffset).sort(),
    pages.map((p) => p.byteOffset).sort(),
    'the same memory is handed out again',
  );
  const held = again[0]!;
  budget.retirePage();
  assert.equal(budget.totalBytes, PAGE_BYTES, 'a retired page no longer counts');
  const next = budget.takePage();
  assert.notEqual(next.byteOffset, held.byteOffset, 'a page a worker may still read is not handed out');
  budget.reclaimPage(held);
  budget.givePage(next);
  budget.givePage(again[1]!);
  assert.equal(budget.totalBytes, 0);
});

test('page memory is held in slabs and given back to the system when idle', async () => {
  const { PagePool } = await import('../../src-main/engine/fs/page-pool.js');
  const pool = new PagePool(PAGE_BYTES, 4 * PAGE_BYTES);
  const pages = Array.from({ length: 5 }, () => pool.take());
  assert.equal(pool.allocatedBytes, 8 * PAGE_BYTES, 'two slabs of four pages');
  pages[0]!.fill(1);
  assert.equal(pages[1]![0], 0, 'pages do not overlap');
  for (const page of pages.slice(0, 4)) pool.give(page);
  assert.equal(pool.trim(), 1, 'the slab with a page in use stays');
  pool.give(pages[4]!);
  assert.equal(pool.trim(), 1);
  assert.equal(pool.allocatedBytes, 0);
});

test('stats sum dirty memory per volume and list dirty files, largest first', () => {
  const budget = new DirtyBudget(1000 * PAGE_BYTES);
  budget.track(file('photos', '/a.jpg', 30));
  budget.track(file('photos', '/b.jpg', 50));
  budget.track(file('docs', '/c.txt', 20));
  budget.track(file('docs', '/clean.txt', 0));
  budget.takePage();
  const stats = budget.stats();
  assert.equal(stats.totalBytes, PAGE_BYTES);
  assert.deepEqual(
    stats.volumes.sort((a, b) => a.name.localeCompare(b.name)),
    [
      { name: 'docs', dirtyBytes: 20 },
      { name: 'photos', dirtyBytes: 80 },
    ],
  );
  assert.deepEqual(
    stats.files.map((f) => f.path),
    ['/b.jpg', '/a.jpg', '/c.txt'],
  );
});

test('page memory goes back to the system only after pages have been idle for the whole wait', (t) => {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  const budget = new DirtyBudget(4 * PAGE_BYTES, 30_000);
  let trimmed = 0;
  budget.onTrimmed = () => trimmed++;
  budget.givePage(budget.takePage());
  assert.ok(budget.poolBytes > 0);
  t.mock.timers.tick(20_000);
  budget.givePage(budget.takePage()); // used again: the wait starts over
  t.mock.timers.tick(20_000);
  assert.equal(trimmed, 0, '20 s after the last use, the memory is kept');
  assert.ok(budget.poolBytes > 0);
  const page = budget.takePage();
  t.mock.timers.tick(60_000);
  assert.equal(trimmed, 0, 'nor while a page is in use');
  budget.givePage(page);
  t.mock.timers.tick(30_000);
  assert.equal(trimmed, 1, '30 s idle: given back');
  assert.equal(budget.poolBytes, 0);
});
