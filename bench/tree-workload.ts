/**
 * The bench's tree workload: ordinary tools over a tree of many small files (./tree-generator.ts),
 * timed on ext4 directly, on bindfs (a C passthrough over libfuse, the reference for what a FUSE
 * file system can do) and on Bazil, taking turns.
 *
 * Each round copies the tree into an empty directory of each file system, then runs each step on
 * ext4, bindfs and Bazil in turn, so the three figures of a step are measured close together on
 * this shared machine: `cp -a` in, `ls -lR`, `find`, an unchanged `rsync -a`, and a cold
 * `tar -cf - . | wc -c`. Bazil gets a fresh engine and store each round (a second copy of the same
 * bytes into one store would be deduplicated, which ext4 and bindfs cannot do). Figures are the
 * median of the rounds with their range; a ratio is the median of the rounds' Bazil/bindfs ratios.
 *
 * Every mount is driven from child processes (cp, ls, find, rsync, tar), never from this process.
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { describeCpu, withCpu, type CpuReport } from './cpu-usage.js';
import { fmtInt, fmtMiB, median } from './figures.js';
import { mountInfo } from './mount-info.js';
import type { Row } from './results-table.js';
import { ok, q, sh, type RunResult } from './run-command.js';
import { FULL_TREE, generateTree, QUICK_TREE, type GeneratedTree } from './tree-generator.js';

/** What the bench gives the workload: its temporary directory, and the servers it starts and stops. */
export interface TreeHost {
  root: string;
  dropCaches(): Promise<void>;
  /** Mounts bindfs over `backing` at `mountpoint`; the command line run. */
  startBindfs(backing: string, mountpoint: string): Promise<{ pid: number; command: string }>;
  stopBindfs(): Promise<void>;
  /** A fresh engine and data directory named `name`, with one volume mounted. */
  startBazil(name: string): Promise<{ pid: number; mountpoint: string; dirtyBytes(): Promise<number> }>;
  /** Stores what is dirty, unmounts and stops the engine, and deletes its data directory. */
  stopBazil(): Promise<void>;
}

type FsName = 'ext4' | 'bindfs' | 'Bazil';
const FS_NAMES: FsName[] = ['ext4', 'bindfs', 'Bazil'];

/** One file system in a round: where the copy goes, and the process serving it (none for ext4). */
interface Target {
  name: FsName;
  copy: string;
  pid: number | null;
}

type StepName = 'cp' | 'ls' | 'find' | 'rsync' | 'tar';

interface StepDefinition {
  name: StepName;
  /** The command line as the table and the log name it. */
  title: string;
  command: (source: string, copy: string) => string;
  /** Bazil's time at most this many times bindfs's (issue 9's targets). */
  targetRatio: number;
}

const STEPS: StepDefinition[] = [
  { name: 'cp', title: 'cp -a of the tree in', command: (src, copy) => `cp -a ${q(src)} ${q(copy)}`, targetRatio: 1 },
  { name: 'ls', title: 'ls -lR', command: (_, copy) => `ls -lR ${q(copy)} > /dev/null`, targetRatio: 1.2 },
  { name: 'find', title: 'find', command: (_, copy) => `find ${q(copy)} > /dev/null`, targetRatio: 1.2 },
  {
    name: 'rsync',
    title: 'unchanged rsync -a',
    // -i lists what rsync changed: nothing, when the copy is unchanged (checked below).
    command: (src, copy) => `rsync -a -i ${q(src)}/ ${q(copy)}/`,
    targetRatio: 1.2,
  },
  {
    name: 'tar',
    title: 'cold tar -cf - . | wc -c',
    command: (_, copy) => `cd ${q(copy)} && tar -cf - . | wc -c`,
    targetRatio: 1.2,
  },
];

/** How long Bazil may take to store what a copy left dirty before the bench gives up waiting. */
const SETTLE_TIMEOUT_MS = 5 * 60_000;

/** Figures of one step: per file system, one a round. */
type StepTimes = Record<FsName, number[]>;

const emptyTimes = (): StepTimes => ({ ext4: [], bindfs: [], Bazil: [] });

const seconds = (ms: number) => (ms / 1000).toFixed(ms < 10_000 ? 2 : 1);
const milliseconds = (ms: number) => ms.toFixed(ms < 1 ? 3 : 2);
const fmtSeconds = (ms: number) => `${seconds(ms)} s`;
const fmtMs = (ms: number) => `${milliseconds(ms)} ms`;
const fmtRatio = (ratio: number) => `${ratio.toFixed(2)}x`;
/** The median and, with more than one value, the range: `1.23 s (1.10–1.40)`. */
function fmtSpread(values: number[], number: (v: number) => string, unit: string): string {
  const figure = `${number(median(values))} ${unit}`;
  if (values.length < 2) return figure;
  return `${figure} (${number(Math.min(...values))}–${number(Math.max(...values))})`;
}

export interface TreeOptions {
  quick: boolean;
}

/** The tree's size on disk, files once each, rounded up: for the bench's free-space check. */
export function treeBytesNeeded({ quick }: TreeOptions): number {
  // 12.5 KiB per file on average (see tree-generator.ts), block rounding, four copies at once
  // (the source, ext4's, bindfs's and Bazil's store), and room for the stores' metadata.
  const shape = quick ? QUICK_TREE : FULL_TREE;
  return shape.files * 16 * 1024 * 4 + 512 * 1024 * 1024;
}

/** What the workload will do, in a line. */
export function treeSummary({ quick }: TreeOptions): string {
  const shape = quick ? QUICK_TREE : FULL_TREE;
  return (
    `${fmtInt(shape.files)} files in ${fmtInt(shape.directories)} directories, ${fmtInt(shape.symlinks)} symlinks, ` +
    `${fmtInt(shape.hardLinks)} hard links; ext4, bindfs and Bazil in turns, ${ROUNDS} rounds`
  );
}

/** Three rounds, so that the median is a round's figure; --quick only makes the tree smaller. */
const ROUNDS = 3;

/** Runs the workload and returns its rows for the bench's table. */
export async function runTreeWorkload(host: TreeHost, { quick }: TreeOptions): Promise<Row[]> {
  const shape = quick ? QUICK_TREE : FULL_TREE;
  const source = join(host.root, 'tree-source');

  console.log(`\nTree workload: ext4, bindfs and Bazil in turns, ${ROUNDS} rounds`);
  const made = await timed(() => generateTree(source, shape));
  const tree = made.value;
  await ok('sync');
  printTree(tree, made.ms, source);

  const ext4Dir = join(host.root, 'tree-ext4');
  const bindfsBacking = join(host.root, 'tree-bindfs-backing');
  const bindfsMnt = join(host.root, 'mnt-tree-bindfs');
  await mkdir(ext4Dir);

  const times: Record<StepName, StepTimes> = {
    cp: emptyTimes(),
    ls: emptyTimes(),
    find: emptyTimes(),
    rsync: emptyTimes(),
    tar: emptyTimes(),
  };
  /** CPU per entry during cp -a: Bazil's engine (during, and until stored) and bindfs. */
  const cpuPerEntry = { Bazil: [] as number[], BazilStored: [] as number[], bindfs: [] as number[] };
  /** What each file system's cold tar wrote, round by round. */
  const tarBytes: Record<FsName, number[]> = emptyTimes();
  let bazilCopyMatches = true;

  for (let round = 1; round <= ROUNDS; round++) {
    console.log(`  -- round ${round} of ${ROUNDS}`);
    // bindfs, like Bazil, serves each round from a new process: both start each round the same
    // way. (Its later rounds are still slower than its first, and so are ext4's: see RESULTS.md.)
    const bindfs = await host.startBindfs(bindfsBacking, bindfsMnt);
    if (round === 1) {
      console.log(`  bindfs (pid ${bindfs.pid}): ${bindfs.command}`);
      await printMount('bindfs', bindfsMnt);
    }
    const bazil = await host.startBazil(`bazil-tree-${round}`);
    if (round === 1) await printMount('Bazil', bazil.mountpoint);
    // A new name each round: the kernel may still hold the last round's for a second.
    const copy = `copy-${round}`;
    const targets: Target[] = [
      { name: 'ext4', copy: join(ext4Dir, copy), pid: null },
      { name: 'bindfs', copy: join(bindfsMnt, copy), pid: bindfs.pid },
      { name: 'Bazil', copy: join(bazil.mountpoint, copy), pid: bazil.pid },
    ];

    for (const step of STEPS) {
      const said: string[] = [];
      const details: string[] = [];
      for (const target of targets) {
        const command = step.command(source, target.copy);
        if (step.name === 'cp' || step.name === 'rsync') await warmSource(source);
        if (step.name === 'rsync') {
          // The first rsync after cp -a puts right whatever cp -a left different; the second,
          // timed, should find nothing to do.
          const first = await ok(command);
          details.push(`${target.name}: the untimed first rsync changed ${fmtInt(lines(first))} entries`);
        }
        if (step.name === 'tar') await host.dropCaches();
        const measured = await measure(target, command);
        times[step.name][target.name].push(measured.result.ms);
        let note = `${target.name} ${fmtSeconds(measured.result.ms)}`;
        if (step.name === 'rsync' && lines(measured.result) > 0) {
          note += ` (CHANGED ${fmtInt(lines(measured.result))} entries: not unchanged)`;
        }
        if (step.name === 'tar') tarBytes[target.name].push(Number(measured.result.stdout.trim()));
        if (step.name === 'cp') {
          details.push(...(await afterCopy(target, measured.cpu, tree, bazil, cpuPerEntry)));
        } else if (measured.cpu) {
          note += ` (${target.name === 'Bazil' ? 'engine' : 'bindfs'} CPU ${fmtSeconds(measured.cpu.cpuMs)})`;
        }
        said.push(note);
      }
      console.log(`  ${step.title}: ${said.join(', ')}`);
      for (const line of details) console.log(`    ${line}`);
    }
    if (round === ROUNDS) bazilCopyMatches = await compareCopies(source, targets);
    await host.stopBazil();
    await host.stopBindfs();
    if (round < ROUNDS) {
      // The next round copies into file systems as empty as this one's were.
      await ok(`rm -rf ${q(targets[0]!.copy)} ${q(join(bindfsBacking, copy))} && sync`);
    }
  }

  // A hard link's first name in readdir order carries the bytes and the others name it, and a name
  // of over 100 bytes takes a header of its own: file systems that list a directory in different
  // orders make archives of different sizes from the same tree.
  console.log(
    `  bytes tar wrote, round by round: ${FS_NAMES.map((name) => `${name} ${tarBytes[name].map(fmtInt).join(', ')}`).join('; ')}`,
  );
  return rowsOf(tree, times, cpuPerEntry, bazilCopyMatches);
}

async function timed<T>(work: () => Promise<T>): Promise<{ value: T; ms: number }> {
  const start = process.hrtime.bigint();
  const value = await work();
  return { value, ms: Number(process.hrtime.bigint() - start) / 1e6 };
}

function printTree(tree: GeneratedTree, ms: number, source: string): void {
  const { shape } = tree;
  console.log(
    `  generated in ${fmtSeconds(ms)} at ${source} (seed ${shape.seed}): ${fmtInt(shape.files)} files ` +
      `(${fmtMiB(tree.fileBytes)}; median ${fmtInt(tree.medianFileBytes)} B; ` +
      `${((tree.filesUnder16KiB / shape.files) * 100).toFixed(0)}% under 16 KiB), ` +
      `${fmtInt(shape.directories)} directories (up to ${tree.deepestLevel} levels deep, up to ` +
      `${fmtInt(tree.mostFilesInOneDirectory)} files in one), ${fmtInt(shape.symlinks)} symlinks, ` +
      `${fmtInt(shape.hardLinks)} hard links: ${fmtInt(tree.entries)} entries`,
  );
  console.log(
    `  commands, each file system in turn: ${STEPS.map((s) => `\`${s.command('SOURCE', 'COPY')}\``).join(', ')}; ` +
      `rsync runs once untimed before the timed one; caches are dropped before tar`,
  );
}

async function printMount(name: FsName, mountpoint: string): Promise<void> {
  const info = await mountInfo(mountpoint);
  if (!info) throw new Error(`${name} is not mounted at ${mountpoint}`);
  console.log(`  ${name} mount as the kernel has it: type ${info.fsType}, ${info.options}, ${info.superOptions}`);
}

/**
 * Reads the source tree (names, attributes and bytes) just before a step that reads it, so every
 * file system gets it from the page cache: the cold tar of the round before dropped it.
 */
async function warmSource(source: string): Promise<void> {
  await ok(`cd ${q(source)} && tar -cf - . | cat > /dev/null`);
}

/** Runs one timed command, with the CPU of the process serving the file system. */
async function measure(target: Target, command: string): Promise<{ result: RunResult; cpu: CpuReport | null }> {
  const check = (result: RunResult) => {
    if (result.code !== 0) throw new Error(`${target.name}: \`${command}\` exited ${result.code}: ${result.stderr}`);
    return result;
  };
  if (target.pid === null) return { result: check(await sh(command)), cpu: null };
  const run = await withCpu(`${target.name} process`, target.pid, () => sh(command));
  return { result: check(run.value), cpu: run.cpu };
}

/**
 * After cp -a: each file system writes back what the copy left behind before the next step
 * (ext4 and bindfs through `sync`, Bazil until no dirty bytes are left and the engine is idle),
 * and the CPU per entry of the process serving it. Returns lines for the log.
 */
async function afterCopy(
  target: Target,
  cpu: CpuReport | null,
  tree: GeneratedTree,
  bazil: { pid: number; dirtyBytes(): Promise<number> },
  cpuPerEntry: { Bazil: number[]; BazilStored: number[]; bindfs: number[] },
): Promise<string[]> {
  const perEntry = (ms: number) => ms / tree.entries;
  if (target.name !== 'Bazil') {
    const synced = await ok('sync');
    let line = `${target.name}: then sync ${fmtSeconds(synced.ms)}`;
    if (cpu) {
      cpuPerEntry.bindfs.push(perEntry(cpu.cpuMs));
      line += `; bindfs CPU during cp -a ${fmtSeconds(cpu.cpuMs)} = ${fmtMs(perEntry(cpu.cpuMs))} per entry`;
    }
    return [line];
  }
  const stored = await withCpu('engine until stored', bazil.pid, () => settle(bazil));
  cpuPerEntry.Bazil.push(perEntry(cpu!.cpuMs));
  cpuPerEntry.BazilStored.push(perEntry(cpu!.cpuMs + stored.cpu.cpuMs));
  return [
    `Bazil: engine CPU during cp -a ${fmtSeconds(cpu!.cpuMs)} = ${fmtMs(perEntry(cpu!.cpuMs))} per entry; ` +
      `all stored ${fmtSeconds(stored.value)} after cp -a ended, with ${fmtSeconds(stored.cpu.cpuMs)} more CPU`,
    describeCpu({ ...cpu!, label: 'engine during cp -a' }),
  ];
}

/**
 * Waits until the engine holds no dirty bytes and has been idle (under 5% of a core) for half a
 * second: it writes metadata behind, and a release the kernel sends after close() arrives late.
 */
async function settle(bazil: { pid: number; dirtyBytes(): Promise<number> }): Promise<number> {
  const start = Date.now();
  while (Date.now() - start < SETTLE_TIMEOUT_MS) {
    if ((await bazil.dirtyBytes()) === 0) {
      const idle = await withCpu('idle', bazil.pid, () => new Promise((r) => setTimeout(r, 500)));
      if (idle.cpu.processPct < 5) return Date.now() - start - idle.cpu.wallMs;
    } else {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  throw new Error(`Bazil still had dirty data ${SETTLE_TIMEOUT_MS / 1000} s after cp -a`);
}

/**
 * Checks each copy against the source, untimed: names, types, modes, owners, mtimes, link targets,
 * hard links and bytes, as an archive of the tree in name order. Says whether Bazil's matches.
 */
async function compareCopies(source: string, targets: Target[]): Promise<boolean> {
  const digest = async (dir: string) =>
    (await ok(`cd ${q(dir)} && tar --sort=name -cf - . | sha256sum`)).stdout.split(' ')[0];
  const expected = await digest(source);
  const said: string[] = [];
  let bazilMatches = false;
  for (const target of targets) {
    const matches = (await digest(target.copy)) === expected;
    if (target.name === 'Bazil') bazilMatches = matches;
    said.push(`${target.name} ${matches ? 'matches' : 'DIFFERS'}`);
  }
  console.log(
    `  the last round's copies against the source (\`tar --sort=name -cf - . | sha256sum\`): ${said.join(', ')}`,
  );
  return bazilMatches;
}

function lines(result: RunResult): number {
  return result.stdout.split('\n').filter((line) => line.length > 0).length;
}

function rowsOf(
  tree: GeneratedTree,
  times: Record<StepName, StepTimes>,
  cpuPerEntry: { Bazil: number[]; BazilStored: number[]; bindfs: number[] },
  bazilCopyMatches: boolean,
): Row[] {
  const rows: Row[] = [];
  const ratios = (bazil: number[], reference: number[]) => median(bazil.map((b, i) => b / reference[i]!));
  const treeName = `tree of ${fmtInt(tree.shape.files)} files`;
  for (const step of STEPS) {
    const { ext4, bindfs, Bazil } = times[step.name];
    const ratio = ratios(Bazil, bindfs);
    rows.push({
      figure: `${treeName}: ${step.title} (median of ${ROUNDS})`,
      bazil: fmtSpread(Bazil, seconds, 's'),
      reference: `bindfs ${fmtSpread(bindfs, seconds, 's')}`,
      ratio: fmtRatio(ratio),
      target: `<= ${step.targetRatio.toFixed(1)}x bindfs`,
      // A copy that differs from the source fails whatever its speed.
      verdict: ratio <= step.targetRatio && bazilCopyMatches ? 'PASS' : 'FAIL',
    });
    rows.push({
      figure: `  (same, ext4 directly)`,
      bazil: '',
      reference: `ext4 ${fmtSpread(ext4, seconds, 's')}`,
      ratio: fmtRatio(ratios(Bazil, ext4)),
      target: '',
      verdict: 'INFO',
    });
  }
  rows.push({
    figure: `${treeName}: engine CPU per entry during cp -a (${fmtInt(tree.entries)} entries)`,
    bazil: fmtSpread(cpuPerEntry.Bazil, milliseconds, 'ms'),
    reference: `bindfs ${fmtSpread(cpuPerEntry.bindfs, milliseconds, 'ms')}`,
    ratio: fmtRatio(ratios(cpuPerEntry.Bazil, cpuPerEntry.bindfs)),
    target: 'none set',
    verdict: 'INFO',
  });
  rows.push({
    figure: `  (same, until every entry is stored)`,
    bazil: fmtSpread(cpuPerEntry.BazilStored, milliseconds, 'ms'),
    reference: '',
    ratio: '',
    target: '',
    verdict: 'INFO',
  });
  return rows;
}
