/** What every `bazil` command prints with: sizes, counts, and the error for bad usage. */

/** Bad usage of the command: one line, exit code 2. */
export class UsageError extends Error {}

const MiB = 1024 * 1024;

export const formatBytes = (n: number): string =>
  n >= 1024 * MiB ? `${(n / 1024 / MiB).toFixed(2)} GiB` : n >= MiB ? `${(n / MiB).toFixed(1)} MiB` : `${n} B`;

export const formatCount = (n: number): string => n.toLocaleString('en-US');
