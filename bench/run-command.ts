/**
 * The bench's child programs: each runs with its output collected and its wall time measured, and
 * every one still running can be killed at once when the bench stops (`stopRuns`). Each runs in
 * a process group of its own, so that killing a shell command line kills what it started too: a
 * `cp` left running in a mount would keep that mount busy, and its engine from stopping.
 */
import { spawn, type ChildProcess } from 'node:child_process';

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
  ms: number;
}

/** A measured step here takes seconds to minutes; a hung one is killed after this. */
const DEFAULT_TIMEOUT_MS = 20 * 60_000;

const running = new Set<ChildProcess>();
let aborted = false;

/** Runs a program (no shell unless asked for); never throws for a non-zero exit. */
export function run(
  command: string,
  args: string[],
  timeoutMs = DEFAULT_TIMEOUT_MS,
  duringCleanup = false,
): Promise<RunResult> {
  if (aborted && !duringCleanup) return Promise.reject(new Error('interrupted'));
  return new Promise((resolve, reject) => {
    const start = process.hrtime.bigint();
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    running.add(child);
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      stderr += `\n(killed after ${timeoutMs / 1000} s)`;
      killGroup(child);
    }, timeoutMs);
    child.on('error', (error) => {
      clearTimeout(timer);
      running.delete(child);
      reject(error);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      running.delete(child);
      const ms = Number(process.hrtime.bigint() - start) / 1e6;
      resolve({ code: code ?? (signal ? 128 : 1), stdout, stderr, ms });
    });
  });
}

/** Runs a shell command line. */
export const sh = (command: string, timeoutMs?: number) => run('sh', ['-c', command], timeoutMs);

/** Runs a shell command line that must succeed. */
export async function ok(command: string, timeoutMs?: number): Promise<RunResult> {
  const result = await sh(command, timeoutMs);
  if (result.code !== 0) throw new Error(`\`${command}\` exited ${result.code}: ${result.stderr.trim()}`);
  return result;
}

/** Quotes a path for the shell. */
export const q = (path: string) => `'${path.replace(/'/g, `'\\''`)}'`;

function killGroup(child: ChildProcess): void {
  try {
    process.kill(-child.pid!, 'SIGKILL');
  } catch {
    child.kill('SIGKILL'); // the group is gone, or the child never started
  }
}

/** Kills every program still running; from then on only cleanup may start programs. */
export function stopRuns(): void {
  aborted = true;
  for (const child of running) killGroup(child);
}
