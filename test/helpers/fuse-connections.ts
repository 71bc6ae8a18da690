/**
 * Hung FUSE mounts in tests: aborting a mount's connection (/sys/fs/fuse/connections/N/abort),
 * which fails every request waiting on it so that programs stuck in the kernel (D state, deaf to
 * SIGKILL) end; and running a command that must finish in time or has the connections it may be
 * stuck on aborted. Neither touches the mounts themselves.
 */
import { execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { readMountTable } from '../../src-main/engine/fs/mount-table.js';

const CONNECTIONS = '/sys/fs/fuse/connections';

export interface ShResult {
  stdout: string;
  stderr: string;
  code: number;
}

/** Aborts the FUSE connection of every mount at one of `mountpoints`. */
export async function abortConnections(mountpoints: Iterable<string>): Promise<void> {
  const wanted = new Set(mountpoints);
  for (const { mountpoint, device } of await readMountTable()) {
    if (wanted.has(mountpoint)) await abortConnection(device.split(':')[1]!);
  }
}

/** Aborts FUSE connection N (the minor of the mount's device). */
export async function abortConnection(minor: string): Promise<void> {
  if (!existsSync(join(CONNECTIONS, minor))) {
    await promisify(execFile)('mount', ['-t', 'fusectl', 'fusectl', CONNECTIONS]).catch(() => undefined);
  }
  await writeFile(join(CONNECTIONS, minor, 'abort'), '1').catch(() => undefined);
}

/**
 * Runs a shell command (its own process group) that must finish within `timeoutMs`. If it does
 * not, `onTimeout` runs (abort the connections it may be stuck on), its processes are killed, and
 * this throws: a hang never holds the suite.
 */
export async function shWithin(
  command: string,
  cwd: string,
  timeoutMs: number,
  onTimeout: () => Promise<void>,
): Promise<ShResult> {
  const child = spawn('sh', ['-c', command], { cwd, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number>((resolve) => {
    child.once('close', (code) => resolve(code ?? 1));
    child.once('error', (error) => {
      stderr += error.message;
      resolve(1);
    });
  });
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), timeoutMs);
  });
  const first = await Promise.race([exited, timedOut]);
  clearTimeout(timer);
  if (first === 'timeout') {
    await onTimeout();
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      // already gone
    }
    await exited;
    throw new Error(
      `\`${command}\` did not finish within ${timeoutMs / 1000} s; its FUSE connection was aborted. ${stdout}${stderr}`,
    );
  }
  return { stdout, stderr, code: first };
}
