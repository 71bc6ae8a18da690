/**
 * A temporary folder for one test, with the small file systems the test mounts in it and the
 * engines it starts there in the background. After the test, passed or failed: the engines are
 * stopped (killed if they do not stop), every mount under the folder is undone, and it is removed.
 */
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { TestContext } from 'node:test';
import { readMountTable } from '../../src-main/engine/fs/mount-table.js';
import { BAZIL_BIN, bazil, ok, sh } from './engine-harness.js';
import { waitFor } from './wait-for.js';

export interface Scratch {
  root: string;
  /** Runs `bazil --data-dir DIR ARGS` through sh, after `prelude` (a umask, say); throws if it fails. */
  bazilSh(dataDir: string, args: string, prelude?: string): Promise<string>;
  /** Mounts a tmpfs at `dir` with `options`. */
  tmpfs(dir: string, options: string): Promise<void>;
}

export async function scratch(t: TestContext): Promise<Scratch> {
  const root = await mkdtemp(join(tmpdir(), 'bazil-test-'));
  const mounts: string[] = [];
  t.after(async () => {
    // Not into the mounts: a dead one fails, a live one may be large.
    const pidFiles = (
      await sh(
        `find '${root}' \\( -fstype fuse -o -fstype fuse.bazil \\) -prune -o -name engine.pid -print 2>/dev/null`,
      )
    ).stdout;
    for (const pidFile of pidFiles.split('\n').filter(Boolean)) await stopEngine(dirname(pidFile), pidFile);
    for (const { mountpoint, fsType } of await readMountTable()) {
      if (fsType.startsWith('fuse') && mountpoint.startsWith(`${root}/`)) await sh(`fusermount -uz '${mountpoint}'`);
    }
    for (const dir of mounts.reverse()) await sh(`umount '${dir}' || umount -l '${dir}'`);
    await rm(root, { recursive: true, force: true });
  });
  return {
    root,
    bazilSh: (dataDir, args, prelude = ':') =>
      ok(`${prelude}; '${process.execPath}' '${BAZIL_BIN}' --data-dir '${dataDir}' ${args}`),
    async tmpfs(dir, options) {
      await mkdir(dir, { recursive: true });
      await ok(`mount -t tmpfs -o ${options} bazil-test '${dir}'`);
      mounts.push(dir);
    },
  };
}

async function stopEngine(dataDir: string, pidFile: string): Promise<void> {
  const pid = Number((await readFile(pidFile, 'utf8').catch(() => '')).trim());
  await bazil(dataDir, 'daemon', 'stop', '--force');
  if (!(pid > 0)) return;
  const gone = async () => (await sh(`kill -0 ${pid}`)).code !== 0;
  await waitFor(gone, { timeoutMs: 10_000, what: `engine ${pid} to exit` }).catch(() =>
    sh(`ps -p ${pid} -o args= | grep -q bazil && kill -9 ${pid}`),
  );
}
