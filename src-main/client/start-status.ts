/**
 * How an engine started in the background tells the command that started it why it could not
 * start. Its output goes to engine.log, which may sit on a full disk; so the command also gives it
 * a pipe (the descriptor named in BAZIL_START_FD), on which the engine writes the one line that
 * says why it stopped, or which it closes once it serves.
 */
import { closeSync } from 'node:fs';
import { writeLogLine } from '../engine/engine-log.js';

export const START_FD_ENV = 'BAZIL_START_FD';
/** The descriptor the command passes the pipe as (after stdin, stdout, stderr). */
export const START_FD = 3;

let startFd: number | null = null;

/** In the engine, first: takes the pipe the command gave, if any (not passed on to other programs). */
export function takeStartPipe(): void {
  if (process.env[START_FD_ENV] === String(START_FD)) startFd = START_FD;
  delete process.env[START_FD_ENV];
}

/** The engine could not start: says why, in one line, to the command waiting for it. */
export function reportStartFailure(line: string): void {
  if (startFd !== null) writeLogLine(startFd, line);
}

/** The engine serves: the command stops waiting for a reason. */
export function reportStarted(): void {
  if (startFd === null) return;
  closeSync(startFd);
  startFd = null;
}

/**
 * The line that says why a start failed, from what the engine wrote: the last line of its own
 * ("bazil: ...") or the last error line of a crash (whose last line is "Node.js v20...").
 */
export function startFailureReason(output: string): string | null {
  const lines = output.split('\n').map((line) => line.trim());
  const meaningful = lines.findLast((line) => line.startsWith('bazil: ') || /^\[?\w*Error\b/.test(line));
  return meaningful?.replace(/^bazil: /, '').replace(/^\[(.*)\]$/, '$1') ?? null;
}
