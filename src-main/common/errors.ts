/**
 * Errors that carry a code, shared by the engine, the CLI and (later) the app.
 *
 * - FsError: a file-system call failed with a Linux errno (what a program on the mount sees).
 * - BazilError: an API call failed; `code` is stable for scripts, `message` says what to do.
 *
 * A message names what a user typed (a volume name, a path) through `quote`, so it stays one line.
 */

/** Linux errno values (asm-generic/errno-base.h, errno.h). */
export const ERRNO = {
  EPERM: 1,
  ENOENT: 2,
  EIO: 5,
  ENXIO: 6,
  E2BIG: 7,
  EBADF: 9,
  EAGAIN: 11,
  EACCES: 13,
  EBUSY: 16,
  EEXIST: 17,
  EXDEV: 18,
  ENOTDIR: 20,
  EISDIR: 21,
  EINVAL: 22,
  EFBIG: 27,
  ENOSPC: 28,
  EROFS: 30,
  EMLINK: 31,
  ERANGE: 34,
  ENAMETOOLONG: 36,
  ENOSYS: 38,
  ENOTEMPTY: 39,
  ELOOP: 40,
  ENODATA: 61,
  EOPNOTSUPP: 95,
  ESTALE: 116,
} as const;

export type ErrnoName = keyof typeof ERRNO;

/**
 * An errno answer to a file-system call (ENOENT for a lookup of a new name, ENODATA for an
 * attribute a file lacks): expected, frequent, and never printed, so it carries no stack trace.
 * Capturing one cost ~11 us per error here, several per file created by cp.
 */
export class FsError extends Error {
  constructor(
    readonly code: ErrnoName,
    message: string = code,
  ) {
    const stackTraceLimit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    super(message);
    Error.stackTraceLimit = stackTraceLimit;
  }

  get errno(): number {
    return ERRNO[this.code];
  }
}

export type BazilErrorCode =
  | 'EINVAL'
  | 'ENOENT'
  | 'EEXIST'
  | 'EBUSY'
  | 'ENOTDIR'
  | 'EISDIR'
  | 'ENOTEMPTY'
  | 'EACCES'
  | 'EIO'
  | 'ENOSPC'
  | 'ELOCKED'
  | 'ENOENGINE'
  | 'EINTERNAL';

export class BazilError extends Error {
  constructor(
    readonly code: BazilErrorCode,
    message: string,
  ) {
    super(message);
  }

  /** As every transport carries it (the API's ApiError). */
  toAnswer(): { code: BazilErrorCode; message: string } {
    return { code: this.code, message: this.message };
  }
}

/**
 * A name or path as a message shows it: in double quotes, with quotes, backslashes and control
 * characters escaped as in JSON (a newline as \n), so the message stays one line whatever was typed.
 */
export function quote(text: string): string {
  // JSON leaves DEL, the C1 controls (U+0085 is a newline to some terminals) and U+2028/2029 as they are.
  return JSON.stringify(text).replace(
    /[\u007f-\u009f\u2028\u2029]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}
