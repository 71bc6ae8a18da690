/**
 * The bench's snapshot workload: a volume of 100,000 small files (in directories of 100, ten to a
 * parent, as a photo or source tree is), written through the mount by a child process; then the
 * time of `snapshotCreate` as the API answers it (the engine's work, without starting a `bazil`
 * process): the first snapshot, one with nothing changed, and one after appending to one file.
 * Targets (issue 10): the first under 5 s, the one-change snapshot under 50 ms. Each is the median
 * of ROUNDS snapshots (a change before each one-change snapshot).
 */
import type { ControlClient } from '../src-main/engine/control/control-client.js';
import { fmtInt, median } from './figures.js';
import type { Row } from './results-table.js';
import { ok, q } from './run-command.js';

export interface SnapshotHost {
  /** A fresh engine and data directory, with one volume ("snap") mounted. */
  startBazil(): Promise<{ client: ControlClient; mountpoint: string }>;
  stopBazil(): Promise<void>;
}

const FULL_FILES = 100_000;
const QUICK_FILES = 5_000;
const ROUNDS = 5;
const TARGET_FIRST_MS = 5_000;
const TARGET_ONE_CHANGE_MS = 50;

/** Writes `count` files of 0-5,000 bytes under `root`: d000/s0/f0 ... (100 per directory). */
async function generate(root: string, count: number): Promise<void> {
  const script = [
    'import os, sys',
    'root, n = sys.argv[1], int(sys.argv[2])',
    'for i in range(n):',
    '    d = os.path.join(root, "d%03d" % (i // 1000), "s%d" % ((i // 100) % 10))',
    '    if i % 100 == 0: os.makedirs(d, exist_ok=True)',
    '    with open(os.path.join(d, "f%d" % i), "wb") as f: f.write(bytes([i % 251]) * (i % 5000))',
  ].join('\n');
  await ok(`python3 -c ${q(script)} ${q(root)} ${count}`);
}

async function timeSnapshot(client: ControlClient, name: string): Promise<{ ms: number; files: number }> {
  const start = process.hrtime.bigint();
  const info = await client.call('snapshotCreate', { volume: 'snap', name });
  return { ms: Number(process.hrtime.bigint() - start) / 1e6, files: info.files };
}

const fmtMs = (ms: number) => (ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${ms.toFixed(1)} ms`);

export async function runSnapshotWorkload(host: SnapshotHost, { quick }: { quick: boolean }): Promise<Row[]> {
  const count = quick ? QUICK_FILES : FULL_FILES;
  console.log(`\nSnapshots of a volume of ${fmtInt(count)} small files`);
  const { client, mountpoint } = await host.startBazil();
  try {
    const started = Date.now();
    await generate(mountpoint, count);
    console.log(`  wrote ${fmtInt(count)} files in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    const first = await timeSnapshot(client, 'first');
    if (first.files !== count) throw new Error(`the first snapshot counted ${first.files} files, not ${count}`);
    const unchanged: number[] = [];
    const oneChange: number[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      unchanged.push((await timeSnapshot(client, `unchanged-${round}`)).ms);
      // One file deep in the tree grows by a line (from a child process, as a user's program would).
      const file = `${mountpoint}/d042/s7/f${42_700 + round}`;
      await ok(`echo change ${round} >> ${q(file)}`);
      oneChange.push((await timeSnapshot(client, `one-change-${round}`)).ms);
    }
    console.log(
      `  first ${fmtMs(first.ms)}; unchanged ${unchanged.map(fmtMs).join(', ')}; ` +
        `one change ${oneChange.map(fmtMs).join(', ')}`,
    );
    const row = (figure: string, ms: number, targetMs: number): Row => ({
      figure,
      bazil: fmtMs(ms),
      reference: '',
      ratio: '',
      target: `< ${fmtMs(targetMs)}`,
      verdict: quick ? 'INFO' : ms < targetMs ? 'PASS' : 'FAIL',
    });
    return [
      row(`first snapshot of ${fmtInt(count)} files`, first.ms, TARGET_FIRST_MS),
      row(`snapshot after appending to one file (median of ${ROUNDS})`, median(oneChange), TARGET_ONE_CHANGE_MS),
      {
        ...row(`snapshot with nothing changed (median of ${ROUNDS})`, median(unchanged), 0),
        target: '',
        verdict: 'INFO',
      },
    ];
  } finally {
    await host.stopBazil();
  }
}
