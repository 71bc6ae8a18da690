/**
 * Reaches the engine of a data directory: connects to its control socket, or starts an engine in
 * the background (its output goes to engine.log in the data directory) and waits for it. The
 * engine outlives whoever started it (the command, the desktop app): mounts stay when they end.
 */
import { spawn } from 'node:child_process';
import { open, readFile } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { BazilError, quote } from '../common/errors.js';
import { ControlClient } from './control-client.js';
import { dataDirError, logPath, prepareDataDir, socketPath } from '../engine/data-dir.js';
import { START_FD, START_FD_ENV, startFailureReason } from './start-status.js';

const START_TIMEOUT_MS = 15_000;
const BIN = fileURLToPath(new URL('../../../bin/bazil.js', import.meta.url));

export async function connectToEngine(dataDir: string, { start }: { start: boolean }): Promise<ControlClient> {
  try {
    return await ControlClient.connect(socketPath(dataDir));
  } catch {
    if (!start) throw new BazilError('ENOENGINE', `no engine runs for ${quote(dataDir)}`);
  }
  const engine = await startEngineInBackground(dataDir);
  const deadline = Date.now() + START_TIMEOUT_MS;
  try {
    for (;;) {
      try {
        return await ControlClient.connect(socketPath(dataDir));
      } catch {
        if (engine.exitCode !== null) throw await startFailure(dataDir, engine);
        if (Date.now() > deadline) {
          throw new BazilError(
            'ENOENGINE',
            `the engine did not start within ${START_TIMEOUT_MS / 1000} s; see ${quote(logPath(dataDir))}`,
          );
        }
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    }
  } finally {
    engine.startPipe.destroy();
  }
}

/**
 * Why the engine exited: the line it sent on the start pipe, else the meaningful line of what it
 * added to engine.log. Exit code 2 is the engine's refusal (the user's environment: a full disk,
 * a data directory it cannot use); anything else is a crash (EINTERNAL).
 */
async function startFailure(dataDir: string, engine: BackgroundEngine): Promise<BazilError> {
  const log = await readFile(logPath(dataDir)).catch(() => Buffer.alloc(0));
  const reason =
    startFailureReason(engine.startPipeText) ?? startFailureReason(log.subarray(engine.logBytes).toString('utf8'));
  const code = engine.exitCode === 2 ? 'ENOENGINE' : 'EINTERNAL';
  if (reason === null) {
    return new BazilError(code, `the engine did not start (exit ${engine.exitCode}); see ${quote(logPath(dataDir))}`);
  }
  return new BazilError(code, `the engine did not start: ${reason}`);
}

/**
 * The environment an engine runs best in. The engine allocates from several threads (FUSE, chunk
 * workers, LMDB): glibc's default of an arena per thread kept ~40 MiB more memory under a steady
 * write (measured writing 2 GiB); glibc reads this at process start only.
 */
export function engineEnv(env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  // Under Electron (the desktop app) process.execPath is Electron's binary: this makes it the
  // Node.js runtime it carries, so the installed app needs no other Node.js.
  const runAsNode = process.versions.electron ? { ELECTRON_RUN_AS_NODE: '1' } : {};
  return { MALLOC_ARENA_MAX: '2', ...env, ...runAsNode };
}

interface BackgroundEngine {
  /** null while it runs (or has not yet closed its output). */
  exitCode: number | null;
  startPipe: Readable;
  startPipeText: string;
  /** engine.log's size when it started: what the engine adds comes after. */
  logBytes: number;
}

async function startEngineInBackground(dataDir: string): Promise<BackgroundEngine> {
  await prepareDataDir(dataDir);
  const log = await open(logPath(dataDir), 'a', 0o600).catch((error: unknown) => {
    throw dataDirError(dataDir, error);
  });
  const logBytes = (await log.stat()).size;
  const child = spawn(process.execPath, [BIN, '--data-dir', dataDir, 'daemon'], {
    detached: true,
    stdio: ['ignore', log.fd, log.fd, 'pipe'],
    env: { ...engineEnv(), [START_FD_ENV]: String(START_FD) },
  });
  await log.close();
  const engine: BackgroundEngine = {
    exitCode: null,
    startPipe: child.stdio[START_FD] as Readable,
    startPipeText: '',
    logBytes,
  };
  engine.startPipe.on('data', (chunk: Buffer) => (engine.startPipeText += chunk.toString()));
  engine.startPipe.on('error', () => undefined);
  // 'close' comes after the start pipe's last data.
  child.on('close', (code, signal) => (engine.exitCode = code ?? (signal ? 128 : 1)));
  child.unref();
  return engine;
}
