/** An engine whose data directory is a small disk (a tmpfs: needs root), to fill it on purpose. */
import { statfsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { EngineHarness, ok, sh } from './engine-harness.js';

/** An engine whose data directory is a tmpfs of `sizeMib`, cleaned up after the test. */
export async function engineOnSmallDisk(t: TestContext, sizeMib: number, args: string[] = []): Promise<EngineHarness> {
  const h = await EngineHarness.create();
  await ok(`mkdir -p '${h.dataDir}' && mount -t tmpfs -o size=${sizeMib}m bazil-test '${h.dataDir}'`);
  t.after(async () => {
    await h.stop({ keepFiles: true, force: true });
    await sh(`umount '${h.dataDir}'`);
    await rm(h.root, { recursive: true, force: true });
  });
  await h.start(args);
  return h;
}

/** Fills the disk of `dir` with a file, leaving about `leaveBytes` free; returns the file. */
export async function fillDisk(dir: string, leaveBytes: number): Promise<string> {
  const filler = join(dir, 'filler');
  const { bavail, bsize } = statfsSync(dir);
  await ok(`fallocate -l ${Math.max(0, bavail * bsize - leaveBytes)} '${filler}'`);
  return filler;
}
