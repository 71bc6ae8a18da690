/**
 * The data directory of one engine: the store (store.mdb, store.mdb-lock, packs/) and, beside it,
 * engine.pid (one engine per directory), engine.sock (the control socket) and engine.log (the
 * output of an engine started in the background).
 *
 * Everything the engine keeps here is private to the user (files 0600, folders 0700): the store
 * holds small files' content as it is.
 *
 * The CLI loads this module to find and prepare the directory: it imports nothing heavy (no LMDB).
 */
import { constants as fsConstants } from 'node:fs';
import { access, chmod, lstat, mkdir, open, readFile, readdir, rm } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { BazilError, quote } from '../common/errors.js';

/** Where Bazil keeps its data unless told otherwise. */
export function defaultDataDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.BAZIL_DATA_DIR) return resolve(env.BAZIL_DATA_DIR);
  const dataHome = env.XDG_DATA_HOME || join(env.HOME ?? '/', '.local', 'share');
  return join(dataHome, 'bazil');
}

export const socketPath = (dataDir: string) => join(dataDir, 'engine.sock');
export const pidPath = (dataDir: string) => join(dataDir, 'engine.pid');
export const logPath = (dataDir: string) => join(dataDir, 'engine.log');

/** The one line a user gets when the data directory cannot be used, naming the errno. */
export function dataDirError(dataDir: string, error: unknown): BazilError {
  const code = (error as NodeJS.ErrnoException).code ?? 'error';
  return new BazilError(
    'EACCES',
    `cannot use data directory ${quote(dataDir)} (${code}); make it writable or choose another with --data-dir or BAZIL_DATA_DIR`,
  );
}

/** Creates the data directory (0700) if missing, and checks that it can be used. */
export async function prepareDataDir(dataDir: string): Promise<void> {
  try {
    await makeDirectory(dataDir);
    await access(dataDir, fsConstants.W_OK | fsConstants.R_OK | fsConstants.X_OK);
  } catch (error) {
    throw dataDirError(dataDir, error);
  }
}

/**
 * `mkdir -p` that fails with the real cause: Node's recursive mkdir says ENOENT when a parent
 * cannot be created, whatever the reason (a read-only file system, a missing permission).
 */
async function makeDirectory(dir: string): Promise<void> {
  try {
    await mkdir(dir, { recursive: true, mode: 0o700 });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT' || dirname(dir) === dir) throw error;
    await makeDirectory(dirname(dir));
    await mkdir(dir, { mode: 0o700 });
  }
}

/** The engine's own files in the data directory (the packs' folder's files are added to these). */
const ENGINE_FILES = ['store.mdb', 'store.mdb-lock', 'packs', 'engine.pid', 'engine.sock', 'engine.log'];

/**
 * Takes every access of group and other users away from the engine's files (an older Bazil wrote
 * store.mdb 0644 under umask 022), and warns when the data directory itself can be listed by
 * them: its mode is the user's choice, so it is not changed, only reported.
 */
export async function makeDataDirPrivate(dataDir: string): Promise<void> {
  const packs = join(dataDir, 'packs');
  const packFiles = await readdir(packs).catch(() => []);
  const paths = [...ENGINE_FILES.map((name) => join(dataDir, name)), ...packFiles.map((name) => join(packs, name))];
  try {
    for (const path of paths) {
      const info = await lstat(path).catch(() => null);
      // chmod follows symbolic links: the engine makes none, and one here is not the engine's to change.
      if (info && !info.isSymbolicLink() && (info.mode & 0o077) !== 0) await chmod(path, info.mode & 0o7700);
    }
  } catch (error) {
    throw dataDirError(dataDir, error);
  }
  const { mode } = await lstat(dataDir);
  if ((mode & 0o044) !== 0) {
    console.error(
      `bazil: data directory ${quote(dataDir)} is readable by other users (mode ${(mode & 0o777).toString(8)}); ` +
        `the engine's files in it are private, but make the directory private too: chmod 700 ${quote(dataDir)}`,
    );
  }
}

/** One engine per data directory: a pid file, taken over only when its process is gone. */
export async function acquireLock(dataDir: string): Promise<void> {
  const path = pidPath(dataDir);
  for (let attempt = 0; attempt < 2; attempt++) {
    let handle;
    try {
      handle = await open(path, 'wx', 0o600);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw pidFileError(path, error);
    }
    if (handle) {
      try {
        await handle.writeFile(`${process.pid}\n`);
        await handle.close();
        return;
      } catch (error) {
        // An empty pid file would look stale to the next engine: none is left.
        await handle.close().catch(() => undefined);
        await rm(path, { force: true });
        throw pidFileError(path, error);
      }
    }
    const pid = Number.parseInt(await readFile(path, 'utf8').catch(() => ''), 10);
    if (Number.isInteger(pid) && pid > 0 && (await isEngine(pid))) {
      throw new BazilError(
        'ELOCKED',
        `an engine (pid ${pid}) already runs for ${quote(dataDir)}; stop it with: bazil daemon stop`,
      );
    }
    await rm(path, { force: true });
  }
  throw new BazilError('ELOCKED', `could not take the engine lock ${quote(path)}`);
}

function pidFileError(path: string, error: unknown): BazilError {
  const code = (error as NodeJS.ErrnoException).code ?? 'error';
  const what = `cannot write ${quote(path)} (${code})`;
  if (code === 'ENOSPC') return new BazilError('ENOSPC', `${what}: the disk is full; free space on it and try again`);
  return new BazilError('EACCES', `${what}; make the data directory writable or choose another with --data-dir`);
}

/**
 * Whether an engine runs as `pid`. A crash leaves engine.pid behind, and after a reboot its number
 * may belong to another program: only a live process whose command line names bazil counts.
 */
async function isEngine(pid: number): Promise<boolean> {
  try {
    process.kill(pid, 0);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  // A killed engine not yet reaped by its parent is a zombie: it answers kill(0) but is gone.
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
  const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
  if (state === 'Z' || state === 'X') return false;
  const commandLine = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => null);
  // Unreadable (a /proc mounted with hidepid): assume the worst, an engine.
  return commandLine === null || /bazil/i.test(commandLine);
}
