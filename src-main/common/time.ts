/** Time in the units the file system keeps: nanoseconds since the epoch. Pure code: runs anywhere. */

/** The wall clock in ns, with sub-millisecond precision. */
export function nowNs(): bigint {
  return BigInt(Math.round((performance.timeOrigin + performance.now()) * 1000)) * 1000n;
}
