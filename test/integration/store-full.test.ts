/**
 * A store that runs out of space: a writer gets an error instead of hanging, nothing already
 * closed is lost, and the engine keeps serving. (The data directory is a small tmpfs: needs root,
 * as the integration tests do.)
 */
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { test } from 'node:test';
import { EngineHarness, ok, sh } from '../helpers/engine-harness.js';

test('a write to a full store fails with an error instead of hanging, and closed files stay', async (t) => {
  const h = await EngineHarness.create();
  await ok(`mkdir -p '${h.dataDir}' && mount -t tmpfs -o size=48m bazil-test '${h.dataDir}'`);
  t.after(async () => {
    await h.stop({ keepFiles: true, force: true });
    await sh(`umount '${h.dataDir}'`);
    await rm(h.root, { recursive: true, force: true });
  });
  await h.start(['--dirty-cap-mib', '16']);
  const mnt = await h.volume('full');
  await ok(`echo kept > kept`, mnt);

  // 100 MiB of incompressible data into a 48 MiB store: the store fills while dd writes.
  const writing = sh(`dd if=/dev/urandom of=big bs=1M count=100`, mnt);
  const timeout = new Promise<'hung'>((resolve) => setTimeout(() => resolve('hung'), 90_000).unref());
  const result = await Promise.race([writing, timeout]);
  assert.notEqual(result, 'hung', 'dd was still blocked after 90 s');
  if (result === 'hung') return;
  assert.notEqual(result.code, 0, 'dd reports the failure');
  assert.match(result.stderr, /No space left on device|Input\/output error/);

  assert.equal(await ok(`cat kept`, mnt), 'kept\n', 'a file closed before is intact and served');
  assert.match(await ok(`ls`, mnt), /kept/);

  // Stopping would lose the data that could not be stored: refused, with what to do.
  await assert.rejects(h.client!.call('stop', {}), /could not be stored .*free space and try again, or use --force/);
  await assert.rejects(h.client!.call('unmount', { name: 'full' }), /could not be stored .*or use --force/);
  assert.equal(await ok(`cat kept`, mnt), 'kept\n', 'still mounted and served');
});
