/** A python3 script run as a process of its own (a writer on a mount), heard through what it prints. */
import { spawn } from 'node:child_process';
import { PYTHON } from './fs-tools.js';
import { waitFor } from './wait-for.js';

export interface PythonProcess {
  /** Resolves once the script has printed `word`; fails if it ends first. */
  said(word: string): Promise<void>;
  /** Everything it printed so far (stdout and stderr). */
  output(): string;
  /** A line to its stdin. */
  tell(line: string): void;
  /** Resolves when it has ended. */
  exited: Promise<void>;
  kill(): Promise<void>;
}

export function runPython(script: string, args: string[], cwd?: string): PythonProcess {
  const child = spawn(PYTHON, ['-c', script, ...args], { cwd, stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<void>((resolve) => child.once('close', () => resolve()));
  return {
    said: async (word) => {
      await waitFor(
        () => {
          if (out.includes(word)) return true;
          if (child.exitCode !== null) throw new Error(`the writer ended: ${out}`);
          return false;
        },
        { timeoutMs: 120_000, what: `the writer to say "${word}"`, intervalMs: 50 },
      );
    },
    output: () => out,
    tell: (line) => void child.stdin.write(`${line}\n`),
    exited,
    async kill() {
      child.kill('SIGKILL');
      await exited;
    },
  };
}

/**
 * A process that writes `bytes` random bytes to `name` in `dir` and keeps the file open (dirty
 * data the engine holds) until `close()`; `kill()` ends it whatever happened.
 */
export async function writeAndHold(
  dir: string,
  name: string,
  bytes: number,
): Promise<{ close(): Promise<void>; kill(): Promise<void> }> {
  const writer = runPython(
    `
import os, sys
f = open(sys.argv[1], 'wb')
f.write(os.urandom(int(sys.argv[2])))
f.flush()
print('written', flush=True)
sys.stdin.readline()
f.close()
print('closed', flush=True)
`,
    [name, String(bytes)],
    dir,
  );
  try {
    await writer.said('written');
  } catch (error) {
    await writer.kill();
    throw error;
  }
  return {
    async close() {
      writer.tell('close');
      await writer.said('closed');
    },
    kill: () => writer.kill(),
  };
}
