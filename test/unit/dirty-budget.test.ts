import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DirtyBudget, PAGE_BYTES, type DirtyFile } from '../../src-main/engine/fs/dirty-budget.js';

function file(volumeName: string, displayPath: string, dirtyBytes: number): DirtyFile & { flushes: number } {
  return {
    volumeName,
    displayPath,
    dirtyBytes,
    flushes: 0,
    startEarlyFlush() {
      this.flushes++;
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
  budget.givePage(page, true);
  await new Promise((r) => setImmediate(r));
  assert.equal(woke, true);
  assert.equal(budget.totalBytes, PAGE_BYTES);
});

test('given-back pages are reused, never more than the cap of them kept', () => {
  const budget = new DirtyBudget(2 * PAGE_BYTES);
  const pages = [budget.takePage(), budget.takePage(), budget.takePage()];
  for (const page of pages) budget.givePage(page, true);
  assert.equal(budget.totalBytes, 0);
  const again = [budget.takePage(), budget.takePage(), budget.takePage()];
  assert.equal(again.filter((p) => pages.includes(p)).length, 2, 'two reused, one new');
  const held = budget.takePage();
  budget.givePage(held, false);
  assert.ok(!([budget.takePage()] as Buffer[]).includes(held), 'a page a worker may still read is not reused');
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
