/**
 * The bare bindings side by side: today's sink on the patched fuse-native (sink-fs.ts) against
 * the sink on Bazil's own addon (addon-sink-fs.ts), without and with the writeback cache. Each
 * round runs every sink in turn (the order rotates), as the machine's speed drifts within a run:
 * - small files: 20,000 files of 4 KiB written by one node process (as bench.ts does);
 * - a 1 GiB `dd bs=1M conv=fsync` write, then a cold read (caches dropped first: needs root).
 * It prints each round, then per sink the range and median, and the CPU each sink's threads used.
 *
 * Usage: node dist/bench/addon-sink-bench.js [ROUNDS]   (default 3; needs root for drop_caches)
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROUNDS = Number(process.argv[2] ?? 3);
const SMALL_FILES = 20_000;
const SMALL_FILE_BYTES = 4096;
const MiB = 1 << 20;
const FILE_MIB = 1024;
const CLK_TCK = 100;

interface Sink {
  label: string;
  script: string;
  options: object | null;
  child?: ChildProcess;
  mnt?: string;
  small: number[];
  write: number[];
  read: number[];
  cpu: Map<string, number[]>;
}

const here = (file: string) => fileURLToPath(new URL(file, import.meta.url));
const sinks: Sink[] = [
  { label: 'fuse-native (today)', script: here('./sink-fs.js'), options: null },
  { label: 'bazil-fuse', script: here('./addon-sink-fs.js'), options: {} },
  { label: 'bazil-fuse + writeback', script: here('./addon-sink-fs.js'), options: { writebackCache: true } },
].map((s) => ({ ...s, small: [], write: [], read: [], cpu: new Map() }));

function run(command: string): Promise<{ code: number; stdout: string; stderr: string; ms: number }> {
  return new Promise((resolve) => {
    const start = performance.now();
    const child = spawn('sh', ['-c', command], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (code) => resolve({ code: code ?? 1, stdout, stderr, ms: performance.now() - start }));
  });
}

async function must(command: string) {
  const result = await run(command);
  if (result.code !== 0) throw new Error(`\`${command}\` exited ${result.code}: ${result.stderr}`);
  return result;
}

/** CPU ticks of each thread of a process, by thread name (summed over threads of one name). */
async function threadTicks(pid: number): Promise<Map<string, number>> {
  const ticks = new Map<string, number>();
  for (const tid of await readdir(`/proc/${pid}/task`).catch(() => [])) {
    const stat = await readFile(`/proc/${pid}/task/${tid}/stat`, 'utf8').catch(() => '');
    const close = stat.lastIndexOf(')');
    const name = tid === String(pid) ? 'js' : stat.slice(stat.indexOf('(') + 1, close);
    const fields = stat.slice(close + 2).split(' ');
    ticks.set(name, (ticks.get(name) ?? 0) + Number(fields[11]) + Number(fields[12]));
  }
  return ticks;
}

async function withCpu<T>(sink: Sink, phase: string, work: () => Promise<T>): Promise<T> {
  const pid = sink.child!.pid!;
  const before = await threadTicks(pid);
  const start = performance.now();
  const value = await work();
  const ms = performance.now() - start;
  for (const [name, t] of await threadTicks(pid)) {
    const pct = (((t - (before.get(name) ?? 0)) / CLK_TCK) * 1000 * 100) / ms;
    if (pct < 1) continue;
    const key = `${phase}: ${name}`;
    sink.cpu.set(key, [...(sink.cpu.get(key) ?? []), pct]);
  }
  return value;
}

async function start(sink: Sink, root: string, i: number): Promise<void> {
  sink.mnt = join(root, `mnt-${i}`);
  await mkdir(sink.mnt);
  const args = [sink.script, sink.mnt, ...(sink.options ? [JSON.stringify(sink.options)] : [])];
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe', 'ipc'] });
  sink.child = child;
  let output = '';
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (d: Buffer) => {
      output += d.toString();
      if (output.includes('ready')) resolve();
    });
    child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
    child.once('exit', (code) => reject(new Error(`${sink.label} exited (${code}): ${output}`)));
  });
  console.log(`  ${sink.label}: ${output.trim()}`);
}

async function stop(sink: Sink): Promise<void> {
  const child = sink.child;
  if (!child || child.exitCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
  await exited;
  clearTimeout(timer);
  if (sink.mnt) await run(`grep -q ' ${sink.mnt} ' /proc/self/mountinfo && umount -l '${sink.mnt}'`);
}

async function smallFiles(sink: Sink, dir: string): Promise<number> {
  const script = [
    `const fs=require('fs'),crypto=require('crypto');`,
    `const [dir,n,size]=[process.argv[1],Number(process.argv[2]),Number(process.argv[3])];`,
    `const data=crypto.randomBytes(n*size);fs.mkdirSync(dir);`,
    `const t=process.hrtime.bigint();`,
    `for(let i=0;i<n;i++)fs.writeFileSync(dir+'/f'+String(i).padStart(6,'0'),data.subarray(i*size,(i+1)*size));`,
    `console.log(Number(process.hrtime.bigint()-t)/1e6);`,
  ].join('');
  const q = (s: string) => `'${s.replaceAll("'", `'\\''`)}'`;
  const result = await withCpu(sink, 'small files', () =>
    must(`${q(process.execPath)} -e ${q(script)} ${q(dir)} ${SMALL_FILES} ${SMALL_FILE_BYTES}`),
  );
  return SMALL_FILES / (Number(result.stdout.trim()) / 1000);
}

const mbps = (ms: number) => (FILE_MIB * MiB) / 1e6 / (ms / 1000);

async function round(sink: Sink, n: number): Promise<string> {
  const small = await smallFiles(sink, join(sink.mnt!, `small-${n}`));
  const file = join(sink.mnt!, `big-${n}`);
  const write = await withCpu(sink, 'write', () =>
    must(`dd if=/dev/zero of='${file}' bs=1M count=${FILE_MIB} conv=fsync status=none`),
  );
  await must('sync; echo 3 > /proc/sys/vm/drop_caches');
  const read = await withCpu(sink, 'read', () => must(`dd if='${file}' of=/dev/null bs=1M status=none`));
  sink.small.push(small);
  sink.write.push(mbps(write.ms));
  sink.read.push(mbps(read.ms));
  return `${sink.label}: ${small.toFixed(0)} files/s, write ${mbps(write.ms).toFixed(0)} MB/s, read ${mbps(read.ms).toFixed(0)} MB/s`;
}

const median = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor((v.length - 1) / 2)]!;
const range = (v: number[], digits = 0) =>
  `${Math.min(...v).toFixed(digits)}–${Math.max(...v).toFixed(digits)} (median ${median(v).toFixed(digits)})`;

async function main(): Promise<void> {
  const root = await mkdtemp(join(tmpdir(), 'bazil-addon-bench-'));
  try {
    console.log(`bare bindings, ${ROUNDS} rounds; ${SMALL_FILES} files of 4 KiB, ${FILE_MIB} MiB dd bs=1M`);
    for (const [i, sink] of sinks.entries()) await start(sink, root, i);
    for (let n = 0; n < ROUNDS; n++) {
      const order = sinks.map((_, i) => sinks[(i + n) % sinks.length]!);
      for (const sink of order) console.log(`  round ${n + 1}: ${await round(sink, n)}`);
    }
    console.log('\n| sink | small files/s | write MB/s | cold read MB/s |\n| --- | --- | --- | --- |');
    for (const s of sinks) console.log(`| ${s.label} | ${range(s.small)} | ${range(s.write)} | ${range(s.read)} |`);
    console.log('\nCPU of the sink process, % of one core (range over rounds):');
    for (const s of sinks) {
      for (const [key, values] of s.cpu) console.log(`  ${s.label}: ${key} ${range(values)}`);
    }
  } finally {
    for (const sink of sinks) await stop(sink);
    await rm(root, { recursive: true, force: true });
  }
}

await main();
