/**
 * Test harness: a real engine in a child process (`bazil daemon`) with its own data directory,
 * and real FUSE mounts in temporary directories. Tests drive the mount from child processes (sh,
 * cp, dd, ...) the way a user's tools do. `stop()` always leaves no mount and no process behind.
 */
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, mkdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { ControlClient } from '../../src-main/client/control-client.js';
import { socketPath } from '../../src-main/engine/data-dir.js';
import { engineEnv } from '../../src-main/client/engine-connection.js';
import { abortConnections, shWithin, type ShResult } from './fuse-connections.js';
import { waitFor } from './wait-for.js';

const execFileAsync = promisify(execFile);
export const BAZIL_BIN = fileURLToPath(new URL('../../../bin/bazil.js', import.meta.url));

export type { ShResult };

/** Runs a shell command (in `cwd`); never throws for a non-zero exit. */
export async function sh(command: string, cwd?: string, timeoutMs = 120_000): Promise<ShResult> {
  try {
    const { stdout, stderr } = await execFileAsync('sh', ['-c', command], {
      cwd,
      timeout: timeoutMs,
      maxBuffer: 64 * 1024 * 1024,
    });
    return { stdout, stderr, code: 0 };
  } catch (error) {
    const e = error as { stdout?: string; stderr?: string; code?: number | string };
    return { stdout: e.stdout ?? '', stderr: e.stderr ?? '', code: typeof e.code === 'number' ? e.code : 1 };
  }
}

/** Runs a shell command and returns its stdout; throws with stderr when it fails. */
export async function ok(command: string, cwd?: string): Promise<string> {
  const result = await sh(command, cwd);
  if (result.code !== 0) throw new Error(`\`${command}\` exited ${result.code}: ${result.stderr}`);
  return result.stdout;
}

/** Runs `bazil --data-dir DIR ...args`. */
export async function bazil(dataDir: string, ...args: string[]): Promise<ShResult> {
  try {
    const { stdout, stderr } = await execFileAsync(process.execPath, [BAZIL_BIN, '--data-dir', dataDir, ...args], {
      timeout: 60_000,
    });
    return { stdout, stderr, code: 0 };
  } catch (error) {
    const e = error as { stdout?: string; stderr?: string; code?: number | string };
    return { stdout: e.stdout ?? '', stderr: e.stderr ?? '', code: typeof e.code === 'number' ? e.code : 1 };
  }
}

/** Runs `bazil --data-dir DIR ...args` and returns its stdout; fails the test unless it exits 0. */
export async function bazilOk(dataDir: string, ...args: string[]): Promise<string> {
  const result = await bazil(dataDir, ...args);
  assert.equal(result.code, 0, `bazil ${args.join(' ')}: ${result.stderr}`);
  return result.stdout;
}

/** A command refused as bad input: one line on stderr, exit code 2, and the words a user needs. */
export function assertRefused(result: ShResult, words: RegExp): void {
  assert.equal(result.code, 2, `expected exit 2, got ${result.code}: ${result.stderr}`);
  assert.equal(result.stderr.trim().split('\n').length, 1, `more than one line: ${result.stderr}`);
  assert.match(result.stderr, words);
}

export class EngineHarness {
  private child: ChildProcess | null = null;
  private readonly mountpoints = new Set<string>();
  /** What the engine printed (its log) since it was last started. */
  output = '';
  client: ControlClient | null = null;

  private constructor(
    readonly root: string,
    readonly dataDir: string,
  ) {}

  /** A fresh data directory under a temporary root (nothing started yet). */
  static async create(): Promise<EngineHarness> {
    const root = await mkdtemp(join(tmpdir(), 'bazil-test-'));
    return new EngineHarness(root, join(root, 'data'));
  }

  /** Starts `bazil daemon` in the foreground of a child process and connects to it. */
  async start(extraArgs: string[] = []): Promise<ControlClient> {
    const child = spawn(process.execPath, [BAZIL_BIN, '--data-dir', this.dataDir, 'daemon', ...extraArgs], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: engineEnv(),
    });
    this.child = child;
    this.output = '';
    child.stdout!.on('data', (d: Buffer) => (this.output += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (this.output += d.toString()));
    try {
      this.client = await waitFor(
        () => {
          if (child.exitCode !== null) throw new Error(`it exited with code ${child.exitCode}`);
          return ControlClient.connect(socketPath(this.dataDir)).catch(() => null);
        },
        { timeoutMs: 15_000, what: 'it to answer on its control socket', intervalMs: 50 },
      );
    } catch (error) {
      throw new Error(`engine did not start (${(error as Error).message}): ${this.output}`);
    }
    return this.client;
  }

  get pid(): number {
    return this.child!.pid!;
  }

  /** A new empty directory under the harness root, to mount on. */
  async dir(name: string): Promise<string> {
    const path = join(this.root, name);
    await mkdir(path, { recursive: true });
    return path;
  }

  /** Creates a volume and mounts it at a new directory; returns the mountpoint. */
  async volume(name: string): Promise<string> {
    const client = this.client!;
    await client.call('volumeCreate', { name });
    const mountpoint = await this.dir(`mnt-${name}`);
    await client.call('mount', { name, mountpoint });
    this.mountpoints.add(mountpoint);
    return mountpoint;
  }

  /** Mounts a volume; `stop` clears the mount whatever happens (at the path given and at its real place). */
  async mount(name: string, mountpoint: string, { allowOther = false } = {}): Promise<void> {
    this.mountpoints.add(mountpoint);
    const info = await this.client!.call('mount', { name, mountpoint, ...(allowOther ? { allowOther } : {}) });
    if (info.mountpoint) this.mountpoints.add(info.mountpoint);
  }

  /**
   * Stops reading the engine's output, as an app that started the engine and then quit: its
   * stdout and stderr become pipes without a reader (EPIPE).
   */
  closeOutput(): void {
    this.child!.stdout!.destroy();
    this.child!.stderr!.destroy();
  }

  /** kill -9 of the engine: leaves its mounts dead, as a crash would. */
  async crash(): Promise<void> {
    const child = this.child!;
    this.client?.close();
    this.client = null;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await exited;
    this.child = null;
  }

  /** Stops the engine cleanly if it runs; then clears any mount left; then removes the files. */
  async stop({ keepFiles = false, force = false } = {}): Promise<void> {
    const child = this.child;
    let hung = false;
    if (child && child.exitCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      // An engine that does not stop within 30 s (hung) is killed, so the test ends either way,
      // and fails once its mounts are cleared.
      const timer = setTimeout(() => {
        hung = true;
        // An engine stuck in the kernel on its own mount dies only once its connections are gone.
        void this.abortConnections().finally(() => child.kill('SIGKILL'));
      }, 30_000);
      try {
        await Promise.race([this.client?.call('stop', force ? { force } : {}), exited]);
      } catch {
        // the engine may close the socket before answering
      }
      await exited;
      clearTimeout(timer);
    }
    this.client?.close();
    this.client = null;
    this.child = null;
    const mounts = await readFile('/proc/self/mountinfo', 'utf8');
    for (const mountpoint of this.mountpoints) {
      if (mounts.includes(` ${mountpoint} `)) await sh(`fusermount -uz '${mountpoint}' || umount -l '${mountpoint}'`);
    }
    if (!keepFiles) await rm(this.root, { recursive: true, force: true });
    if (hung) throw new Error('the engine did not stop within 30 s of `bazil daemon stop`, and was killed');
  }

  /**
   * Aborts the FUSE connections of this harness's mounts: every request waiting on them fails at
   * once, so programs stuck in the kernel on a hung engine (D state, deaf to SIGKILL) can end.
   */
  async abortConnections(): Promise<void> {
    await abortConnections(this.mountpoints);
  }

  /**
   * Runs a shell command that uses the mount and must finish within `timeoutMs`. If it does not,
   * the mounts' FUSE connections are aborted and its processes killed, and the test fails: a hang
   * never holds the suite.
   */
  shWithin(command: string, cwd: string, timeoutMs: number): Promise<ShResult> {
    return shWithin(command, cwd, timeoutMs, () => this.abortConnections());
  }
}
