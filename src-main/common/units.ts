/**
 * Sizes and counts as people read them, the same in the command and in the window.
 *
 * Pure code: runs anywhere.
 */
const MiB = 1024 * 1024;

export const formatBytes = (n: number): string =>
  n >= 1024 * MiB
    ? `${(n / 1024 / MiB).toFixed(2)} GiB`
    : n >= MiB
      ? `${(n / MiB).toFixed(1)} MiB`
      : n >= 1024
        ? `${(n / 1024).toFixed(1)} KiB`
        : `${n} B`;

export const formatCount = (n: number): string => n.toLocaleString('en-US');
