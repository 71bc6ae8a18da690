/**
 * The engine's log: what it prints on stdout and stderr (engine.log, when it runs in the
 * background). Writing the log never stops the engine: the disk under engine.log may be full
 * (ENOSPC) or failing (EIO), or a pipe's reader gone (EPIPE: the app that started the engine quit,
 * and the mounts outlive it). A line that cannot be written is dropped and counted, and the next
 * line that can be is preceded by one saying how many were lost.
 *
 * Node's own streams crash the process instead: a failed write becomes an 'error' event nobody
 * handles (measured: a worker thread's console.error with engine.log on a full disk, and the main
 * thread's with its stderr a closed pipe, each ended the process).
 */
import { writeSync } from 'node:fs';
import { format } from 'node:util';
import { isMainThread } from 'node:worker_threads';

/** Waits of 1 ms for a full pipe (Node makes stdio pipes non-blocking) before a line is dropped. */
const FULL_PIPE_WAITS = 20;

let lostLines = 0;
let lostBecause = '';
/** A line was cut short: the next text starts on a new line. */
let midLine = false;

/** Writes one line to a descriptor (1: stdout, 2: stderr); never throws. */
export function writeLogLine(fd: number, line: string): void {
  if (lostLines > 0) {
    const count = lostLines === 1 ? '1 log line' : `${lostLines} log lines`;
    if (!writeAll(fd, `bazil: ${count} could not be written (${lostBecause}) and are lost\n`)) {
      lostLines++;
      return;
    }
    lostLines = 0;
  }
  if (!writeAll(fd, `${line}\n`)) lostLines++;
}

function writeAll(fd: number, text: string): boolean {
  const bytes = Buffer.from(midLine ? `\n${text}` : text);
  let written = 0;
  let waits = 0;
  while (written < bytes.length) {
    try {
      written += writeSync(fd, bytes, written);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code ?? 'error';
      if (code === 'EAGAIN' && waits++ < FULL_PIPE_WAITS) {
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1);
        continue;
      }
      lostBecause = code;
      midLine ||= written > 0;
      return false;
    }
  }
  midLine = false;
  return true;
}

/**
 * Routes this thread's console (what the engine and its libraries print) through writeLogLine; in
 * the main thread, what still writes to process.stdout or stderr (Node's warnings, the output of
 * worker threads) may fail without ending the process.
 */
export function installEngineLog(): void {
  const to =
    (fd: number) =>
    (...parts: unknown[]) =>
      writeLogLine(fd, format(...parts));
  console.log = console.info = console.debug = to(1);
  console.error = console.warn = to(2);
  if (isMainThread) for (const stream of [process.stdout, process.stderr]) stream.on('error', () => undefined);
}
