/**
 * CPU time from /proc: a process' own (utime + stime, per thread and in all), and the host's, over
 * the time a piece of work runs. Ticks are 1/100 s (CLK_TCK on Linux). A process' total comes from
 * /proc/PID/stat, which keeps the time of threads that ended meanwhile; the per-thread figures
 * only see the threads alive at the end.
 */
import { readFile, readdir } from 'node:fs/promises';
import { cpus } from 'node:os';

const CLK_TCK = 100;

/** CPU ticks of the host: busy (not idle or iowait) and total. */
export async function hostTicks(): Promise<{ busy: number; total: number }> {
  const line = (await readFile('/proc/stat', 'utf8')).split('\n')[0]!;
  const fields = line.trim().split(/\s+/).slice(1).map(Number);
  const total = fields.slice(0, 8).reduce((a, b) => a + b, 0);
  const idle = (fields[3] ?? 0) + (fields[4] ?? 0);
  return { busy: total - idle, total };
}

/** utime + stime ticks in a /proc stat line (fields 14 and 15; the name may hold spaces). */
function ticksOf(stat: string): number {
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(rest[11]) + Number(rest[12]);
}

/** utime + stime ticks of a process, all its threads, those that ended too (null if it is gone). */
async function processTicks(pid: number): Promise<number | null> {
  try {
    return ticksOf(await readFile(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return null;
  }
}

/** utime + stime ticks of each thread of a process. */
async function threadTicks(pid: number): Promise<Map<number, number>> {
  const ticks = new Map<number, number>();
  let tids: string[];
  try {
    tids = await readdir(`/proc/${pid}/task`);
  } catch {
    return ticks;
  }
  for (const tid of tids) {
    try {
      ticks.set(Number(tid), ticksOf(await readFile(`/proc/${pid}/task/${tid}/stat`, 'utf8')));
    } catch {
      // the thread ended
    }
  }
  return ticks;
}

export interface CpuReport {
  label: string;
  wallMs: number;
  /** The process' CPU time (user + system, all threads) while the work ran. */
  cpuMs: number;
  hostBusyPct: number;
  processPct: number;
  mainPct: number;
  otherPcts: number[];
  threads: number;
}

/** Measures a process' CPU per thread and the host's CPU while `work` runs. */
export async function withCpu<T>(
  label: string,
  pid: number,
  work: () => Promise<T>,
): Promise<{ value: T; cpu: CpuReport }> {
  const host0 = await hostTicks();
  const process0 = await processTicks(pid);
  const threads0 = await threadTicks(pid);
  const start = Date.now();
  const value = await work();
  const wallMs = Date.now() - start;
  const threads1 = await threadTicks(pid);
  const process1 = await processTicks(pid);
  const host1 = await hostTicks();
  const pct = (ticks: number) => ((ticks / CLK_TCK) * 1000 * 100) / wallMs;
  const deltas: { tid: number; ticks: number }[] = [];
  for (const [tid, t1] of threads1) deltas.push({ tid, ticks: t1 - (threads0.get(tid) ?? 0) });
  const main = deltas.find((d) => d.tid === pid)?.ticks ?? 0;
  const others = deltas
    .filter((d) => d.tid !== pid && d.ticks > 0)
    .map((d) => d.ticks)
    .sort((a, b) => b - a);
  const threadsTotal = deltas.reduce((a, d) => a + d.ticks, 0);
  const total = process0 !== null && process1 !== null ? process1 - process0 : threadsTotal;
  const hostTotal = host1.total - host0.total;
  return {
    value,
    cpu: {
      label,
      wallMs,
      cpuMs: (total / CLK_TCK) * 1000,
      hostBusyPct: hostTotal > 0 ? ((host1.busy - host0.busy) / hostTotal) * 100 * cpus().length : 0,
      processPct: pct(total),
      mainPct: pct(main),
      otherPcts: others.map(pct),
      threads: threads1.size,
    },
  };
}

/** The process' CPU (its main thread, its busiest other threads) and the host's, in one line. */
export function describeCpu(cpu: CpuReport): string {
  const others = cpu.otherPcts.slice(0, 6).map((p) => `${p.toFixed(0)}%`);
  const rest = cpu.otherPcts.slice(6).reduce((a, b) => a + b, 0);
  return (
    `${cpu.label}: ${(cpu.wallMs / 1000).toFixed(1)} s; process ${cpu.processPct.toFixed(0)}% ` +
    `(main JS thread ${cpu.mainPct.toFixed(0)}%; other threads ${others.join(', ') || 'idle'}` +
    `${rest > 0 ? `, ${cpu.otherPcts.length - 6} more ${rest.toFixed(0)}%` : ''}); ` +
    `host ${cpu.hostBusyPct.toFixed(0)}% of ${cpus().length * 100}%`
  );
}

export function printCpu(cpu: CpuReport): void {
  console.log(`  ${describeCpu(cpu)}`);
}
