/**
 * Small tools for the file-system tests: run a Python script in a child process (for system calls
 * the shell has no command for: xattrs, open descriptors, exact errnos), quote shell arguments,
 * read stat fields, and keep a file open. Everything here touches the mount only from child processes.
 */
import { execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { ok } from './engine-harness.js';
import { waitFor } from './wait-for.js';

const execFileAsync = promisify(execFile);

/** The distribution's python3 when present: a version manager's shim costs ~200 ms a run. */
export const PYTHON = process.env.PYTHON ?? (existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3');

/**
 * Helpers every script gets: `err(f, *args)` runs a call and returns "ok" or the errno's name,
 * and `out(value)` prints a value as JSON (what `py` returns).
 */
const PRELUDE = `
import errno, json, os, sys
def err(f, *args, **kwargs):
    try:
        f(*args, **kwargs)
        return 'ok'
    except OSError as e:
        return errno.errorcode.get(e.errno, str(e.errno))
def out(value):
    sys.stdout.write(json.dumps(value))
`;

/** Runs a Python script (with the prelude above) in `cwd`; returns what it passed to `out()`. */
export async function py<T = unknown>(script: string, cwd: string, timeoutMs = 120_000): Promise<T> {
  try {
    const { stdout } = await execFileAsync(PYTHON, ['-c', PRELUDE + dedent(script)], {
      cwd,
      timeout: timeoutMs,
      maxBuffer: 16 * 1024 * 1024,
    });
    return (stdout === '' ? undefined : JSON.parse(stdout)) as T;
  } catch (error) {
    const e = error as { stderr?: string; message: string; code?: number | string; signal?: string | null };
    // A script killed by a signal (SIGBUS from a mapping) says nothing on stderr: the signal does.
    const how = e.signal ? `killed by ${e.signal}` : `exit code ${String(e.code)}`;
    throw new Error(`python script failed (${how}): ${e.stderr || e.message}\n${script}`);
  }
}

function dedent(text: string): string {
  const lines = text.replace(/^\n/, '').split('\n');
  const indents = lines.filter((l) => l.trim() !== '').map((l) => /^ */.exec(l)![0].length);
  const cut = Math.min(...indents, Infinity);
  return lines.map((l) => l.slice(cut === Infinity ? 0 : cut)).join('\n');
}

/** Single-quotes a shell argument. */
export function q(arg: string): string {
  return `'${arg.replaceAll("'", `'\\''`)}'`;
}

/**
 * `stat -c FORMAT` of paths, one output line each. `fresh` asks the kernel to fetch the attributes
 * from the file system instead of its attribute cache (statx AT_STATX_FORCE_SYNC), which shows
 * what the engine holds.
 */
export async function stat(
  format: string,
  paths: string[],
  { fresh = false, cwd = undefined as string | undefined } = {},
) {
  const cached = fresh ? '--cached=never ' : '';
  const output = await ok(`stat ${cached}-c ${q(format)} ${paths.map(q).join(' ')}`, cwd);
  return output.trimEnd().split('\n');
}

/** One stat field of one path, as a bigint (times as `%.9Y` etc. are converted to ns). */
export async function statNum(format: string, path: string, options: { fresh?: boolean; cwd?: string } = {}) {
  const [line] = await stat(format, [path], options);
  return toBigInt(line!);
}

/** "1234.567891234" (seconds with 9 decimals) or "1234" to a bigint (ns for the former). */
export function toBigInt(text: string): bigint {
  const m = /^(-?\d+)(?:\.(\d{9}))?$/.exec(text.trim());
  if (!m) throw new Error(`not a number: ${text}`);
  return m[2] === undefined ? BigInt(m[1]!) : BigInt(m[1]!) * 1_000_000_000n + BigInt(m[2]);
}

/**
 * The time a `touch -d` date names, the way `stat -c %.9Y` prints it ("981173106.123456789"). A date
 * without a zone is local time, and TZ differs between machines: so the expected time is computed
 * by `date -d` in the same environment (the same TZ) the tests' commands run in.
 */
export async function epochOf(date: string): Promise<string> {
  return (await ok(`date -d ${q(date)} +%s.%N`)).trim();
}

/**
 * A child process (a shell, working in `cwd`) that holds `name` open on a descriptor until
 * `release()`: resolves once the file is open. Release it in a `finally`, or the child stays.
 */
export async function holdOpen(name: string, cwd: string): Promise<{ release: () => Promise<void> }> {
  // `read` waits for the end of stdin, which `release` closes.
  const child = spawn('sh', ['-c', 'exec 3<"$1" && echo open && read _', 'holder', name], { cwd });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<void>((resolve) => {
    child.once('close', () => resolve());
    child.once('error', (error) => {
      stderr += error.message;
      resolve();
    });
  });
  const release = async () => {
    child.stdin.end();
    await exited;
  };
  try {
    await waitFor(
      () => {
        if (child.exitCode !== null || child.signalCode !== null) {
          throw new Error(`the child process holding ${name} open in ${cwd} exited: ${stderr}`);
        }
        return stdout.includes('open\n');
      },
      { timeoutMs: 10_000, what: `a child process to open ${name} in ${cwd}` },
    );
  } catch (error) {
    child.kill('SIGKILL');
    await exited;
    throw error;
  }
  return { release };
}

/** A fresh directory name for one test inside a mount. */
export function uniqueName(prefix: string): string {
  return `${prefix}-${randomBytes(4).toString('hex')}`;
}

/**
 * A test's `skip` option when it needs root (it mounts a small disk, changes owners, creates
 * device nodes or users): CI runs the integration tests once more as a normal user.
 */
export function needsRoot(why: string): { skip: string | false } {
  return { skip: process.getuid?.() !== 0 && `needs root to ${why}` };
}
