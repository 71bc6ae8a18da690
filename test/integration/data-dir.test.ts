/**
 * The data directory as a user's machine has it: read-only, full, shared with other users, or
 * left behind by an engine that crashed. Each case gets one clear line and the right exit code,
 * and nothing in it is readable by another user. (Needs root, to mount small file systems.)
 */
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { assertRefused, bazil, ok, sh } from '../helpers/engine-harness.js';

interface Scratch {
  root: string;
  /** Mounts a tmpfs at `dir` with `options`. */
  tmpfs(dir: string, options: string): Promise<void>;
}

/** A temporary folder for one test; after it, passed or failed, its mounts are undone and it is removed. */
async function scratch(t: TestContext): Promise<Scratch> {
  const root = await mkdtemp(join(tmpdir(), 'bazil-test-'));
  const mounts: string[] = [];
  t.after(async () => {
    for (const dir of mounts.reverse()) await sh(`umount '${dir}' || umount -l '${dir}'`);
    await rm(root, { recursive: true, force: true });
  });
  return {
    root,
    async tmpfs(dir, options) {
      await mkdir(dir, { recursive: true });
      await ok(`mount -t tmpfs -o ${options} bazil-test '${dir}'`);
      mounts.push(dir);
    },
  };
}

test('a read-only data directory gets one line and exit 2, whether a command starts the engine or `daemon` runs it', async (t) => {
  const { root, tmpfs } = await scratch(t);
  const readOnly = join(root, 'ro');
  // chmod does not stop root: a read-only file system does.
  await tmpfs(readOnly, 'ro,mode=700');
  for (const dataDir of [readOnly, join(readOnly, 'missing', 'data')]) {
    for (const args of [['volume', 'list'], ['daemon']]) {
      assertRefused(await bazil(dataDir, ...args), /cannot use data directory ".*" \(EROFS\)/);
    }
  }
});
