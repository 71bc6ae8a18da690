import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DirtyBudget, type DirtyFile } from '../../src-main/engine/fs/dirty-budget.js';

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
  const budget = new DirtyBudget(100);
  const small = file('v', '/small', 10);
  const large = file('v', '/large', 40);
  budget.track(small);
  budget.track(large);
  budget.add(50);
  assert.equal(large.flushes, 0);
  budget.add(1);
  assert.equal(large.flushes, 1);
  assert.equal(small.flushes, 0);
});

test('at the cap a writer waits until stored pages free room', async () => {
  const budget = new DirtyBudget(100);
  assert.equal(budget.waitForRoom(), null);
  budget.add(100);
  const waiting = budget.waitForRoom();
  assert.ok(waiting);
  let woke = false;
  void waiting.then(() => (woke = true));
  await new Promise((r) => setImmediate(r));
  assert.equal(woke, false);
  budget.release(1);
  await new Promise((r) => setImmediate(r));
  assert.equal(woke, true);
});

test('stats sum dirty memory per volume and list dirty files, largest first', () => {
  const budget = new DirtyBudget(1000);
  budget.track(file('photos', '/a.jpg', 30));
  budget.track(file('photos', '/b.jpg', 50));
  budget.track(file('docs', '/c.txt', 20));
  budget.track(file('docs', '/clean.txt', 0));
  budget.add(100);
  const stats = budget.stats();
  assert.equal(stats.totalBytes, 100);
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
