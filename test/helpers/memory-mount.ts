/**
 * A MemoryFs (the addon's test double) mounted for one test in a temporary folder and served by
 * the test's own process: the test reaches the mount only from child processes (`run`), never
 * with a synchronous call from this process, which serves it. After the test, passed or failed,
 * it is unmounted (its connection aborted first if that hangs) and the folder is removed.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import type { MountOptions } from '../../src-main/engine/fuse/addon.js';
import { loadAddon } from '../../src-main/engine/fuse/load-addon.js';
import { readMountTable } from '../../src-main/engine/fs/mount-table.js';
import { abortConnection, shWithin, type ShResult } from './fuse-connections.js';
import { MemoryFs } from './memory-fs.js';
import { sh } from './engine-harness.js';

export interface MemoryMount {
  fs: MemoryFs;
  /** The mountpoint. */
  mnt: string;
  /** The temporary folder holding it (outside the mount). */
  root: string;
  /** The FUSE connection's number (/sys/fs/fuse/connections/N). */
  connection: string;
  /** Runs a shell command in the mount; aborts the connection and fails if it takes too long. */
  run(command: string, timeoutMs?: number): Promise<ShResult>;
  /** Like `run`, but throws unless the command succeeds; returns its stdout. */
  ok(command: string, timeoutMs?: number): Promise<string>;
  abort(): Promise<void>;
}

/**
 * Mounts a fresh MemoryFs. A watchdog process aborts the connection after `watchdogMs` (unless
 * the test ended first): it ends a hang even when this process's JS thread is the one stuck.
 */
export async function mountMemoryFs(
  t: TestContext,
  options: Partial<MountOptions> = {},
  { watchdogMs = 150_000 } = {},
): Promise<MemoryMount> {
  const root = await mkdtemp(join(tmpdir(), 'bazil-fuse-test-'));
  const mnt = join(root, 'mnt');
  await mkdir(mnt);
  const fs = new MemoryFs(loadAddon());
  let connection = '';
  const abort = async () => {
    if (connection) await abortConnection(connection);
  };
  let watchdog: ChildProcess | null = null;
  t.after(async () => {
    try {
      if (watchdog?.pid) process.kill(-watchdog.pid, 'SIGKILL');
    } catch {
      // it has aborted the connection and ended
    }
    if (fs.session) {
      // An unmount that hangs (a bug) is ended by aborting the connection.
      const unmounted = fs.unmount(true).catch(() => undefined);
      const timer = setTimeout(() => void abort(), 10_000);
      await unmounted;
      clearTimeout(timer);
    }
    // Anything still mounted in the folder (this mount, or others a test made there).
    for (const entry of await readMountTable()) {
      if (entry.mountpoint.startsWith(`${root}/`)) await sh(`umount -l '${entry.mountpoint}'`);
    }
    await rm(root, { recursive: true, force: true });
  });
  await fs.mount(mnt, options);
  connection = (await readMountTable()).find((e) => e.mountpoint === mnt)?.device.split(':')[1] ?? '';
  const abortFile = `/sys/fs/fuse/connections/${connection}/abort`;
  watchdog = spawn('sh', ['-c', `sleep ${watchdogMs / 1000} && echo 1 > ${abortFile}`], {
    detached: true,
    stdio: 'ignore',
  });
  watchdog.unref();
  // `cd` in the shell, not a cwd for spawn: Node's spawn waits in the parent until the child has
  // exec'd, and a child that enters the mount before exec waits for this process to answer.
  const run = (command: string, timeoutMs = 60_000) => shWithin(`cd '${mnt}' && ${command}`, root, timeoutMs, abort);
  return {
    fs,
    mnt,
    root,
    connection,
    run,
    async ok(command, timeoutMs) {
      const result = await run(command, timeoutMs);
      if (result.code !== 0) throw new Error(`\`${command}\` exited ${result.code}: ${result.stderr}`);
      return result.stdout;
    },
    abort,
  };
}
