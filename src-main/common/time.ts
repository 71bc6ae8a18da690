/** Time in the units the file system keeps: nanoseconds since the epoch. Pure code: runs anywhere. */

/** The wall clock in ns, with sub-millisecond precision. */
export function nowNs(): bigint {
  return BigInt(Math.round((performance.timeOrigin + performance.now()) * 1000)) * 1000n;
}

/** A time in ns as an ISO 8601 string in UTC, to the millisecond (what JSON carries). */
export function formatNs(ns: bigint): string {
  return new Date(Number(ns / 1_000_000n)).toISOString();
}
