/**
 * Units and figures as the bench prints them. MB/s means 10^6 bytes per second (as dd prints it);
 * sizes are in binary units (KiB, MiB, GiB).
 */

export const KiB = 1024;
export const MiB = 1024 * KiB;
export const GiB = 1024 * MiB;

export function mbps(bytes: number, ms: number): number {
  return bytes / 1e6 / (ms / 1000);
}

/** The middle value (the lower middle of an even count). */
export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor((sorted.length - 1) / 2)]!;
}

export const fmtMBps = (v: number) => `${v.toFixed(0)} MB/s`;
export const fmtInt = (v: number) => Math.round(v).toLocaleString('en-US');
export const fmtMiB = (bytes: number) => `${(bytes / MiB).toFixed(1)} MiB`;
export const fmtPct = (v: number, digits = 0) => `${(v * 100).toFixed(digits)}%`;
export const fmtSize = (bytes: number) => (bytes >= GiB ? `${bytes / GiB} GiB` : `${bytes / MiB} MiB`);
