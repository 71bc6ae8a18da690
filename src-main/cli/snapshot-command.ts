/**
 * `bazil snapshot ...`: take, list and browse a volume's snapshots; `bazil history` and `bazil ls`. Each subcommand is API calls
 * to the engine (see ../common/api.ts); `cat` reads the file in pieces and writes them to stdout.
 */
import {
  SNAPSHOT_READ_MAX_BYTES,
  type ScheduleOptions,
  type SnapshotEntry,
  type SnapshotInfo,
  type SnapshotListing,
  type SnapshotSchedule,
} from '../common/api.js';
import type { ControlClient } from '../client/control-client.js';
import { formatBytes, formatCount, progressLine, UsageError } from './cli-output.js';

export const SNAPSHOT_USAGE = `  snapshot create VOLUME [NAME]
                               freeze the volume's whole tree now (NAME: the time by default)
  snapshot list VOLUME [--json]
                               the volume's snapshots, oldest first, with the bytes only each
                               holds (what deleting it, then bazil gc, gives back)
  snapshot ls VOLUME SNAPSHOT [PATH] [--json]
                               what a directory of a snapshot held (PATH from the volume's root)
  snapshot cat VOLUME SNAPSHOT PATH
                               a file as a snapshot holds it, to stdout
  snapshot restore VOLUME SNAPSHOT PATH [--as NEWPATH | --to DIR]
                               put a file or directory back as the snapshot holds it (copies no
                               data; what it replaces is kept in an automatic snapshot first);
                               --to DIR writes it to DIR/NAME outside Bazil instead (the root:
                               into DIR, new or empty), with modes, times, links and xattrs
  snapshot diff VOLUME FROM [TO] [--path DIR] [--json]
                               what changed from snapshot FROM to TO (the live volume by default),
                               in directory DIR only with --path: + added, - removed, M content
                               modified, m attributes only, T type changed
  snapshot find VOLUME PATTERN [--json]
                               entries named PATTERN (a shell pattern, quoted; with "/" a whole
                               path) in every snapshot, newest first
  snapshot delete VOLUME SNAPSHOT
                               delete a snapshot (its space comes back with garbage collection)
  snapshot schedule VOLUME [--every 1h] [--keep-hourly N] [--keep-daily N] [--keep-weekly N]
                               [--keep-monthly N] [--keep-yearly N] | --off
                               take a snapshot every interval (30m, 1h, 1d), only when something
                               changed, and keep the newest of each of the last N hours, days...;
                               with no option, show the schedule
  history VOLUME PATH [--json]  the versions of a file across the volume's snapshots
  ls VOLUME [PATH] [--json]    what a directory of the volume holds now (mounted or not)`;

export const KEEP_OPTIONS: Record<string, Exclude<keyof ScheduleOptions, 'everyMinutes' | 'off'>> = {
  '--keep-hourly': 'keepHourly',
  '--keep-daily': 'keepDaily',
  '--keep-weekly': 'keepWeekly',
  '--keep-monthly': 'keepMonthly',
  '--keep-yearly': 'keepYearly',
};

/** 30m, 1h, 1d (or a number of minutes) to minutes. */
export function parseInterval(text: string | undefined): number {
  const match = /^(\d+)([mhd]?)$/.exec(text ?? '');
  const minutes = match
    ? Number(match[1]) * ({ '': 1, m: 1, h: 60, d: 1440 } as const)[match[2] as '' | 'm' | 'h' | 'd']
    : 0;
  if (minutes < 1) throw new UsageError('--every needs an interval like 30m, 1h or 1d');
  return minutes;
}

function describeSchedule(volume: string, schedule: SnapshotSchedule | null): string {
  if (!schedule) return `volume "${volume}" has no snapshot schedule (bazil snapshot schedule ${volume} --every 1h)`;
  const every =
    schedule.everyMinutes % 1440 === 0
      ? `${schedule.everyMinutes / 1440}d`
      : schedule.everyMinutes % 60 === 0
        ? `${schedule.everyMinutes / 60}h`
        : `${schedule.everyMinutes}m`;
  const keep = Object.entries(schedule.keep)
    .filter(([, n]) => (n ?? 0) > 0)
    .map(([period, n]) => `${n} ${period}`);
  return `volume "${volume}": a snapshot every ${every} when something changed; keeps ${keep.length > 0 ? keep.join(', ') : 'only the newest'} (manual snapshots are kept)`;
}

const TYPE_LETTERS: Record<SnapshotEntry['type'], string> = {
  file: '-',
  dir: 'd',
  symlink: 'l',
  fifo: 'p',
  socket: 's',
  char: 'c',
  block: 'b',
};

/** rwxr-xr-x, with s/S and t/T for setuid, setgid and sticky, as ls shows them. */
function modeString(entry: SnapshotEntry): string {
  const bits = (mode: number, special: boolean, specialLetter: string) => {
    const x = (mode & 1) !== 0;
    const last = special ? (x ? specialLetter : specialLetter.toUpperCase()) : x ? 'x' : '-';
    return `${mode & 4 ? 'r' : '-'}${mode & 2 ? 'w' : '-'}${last}`;
  };
  const m = entry.mode;
  return (
    TYPE_LETTERS[entry.type] +
    bits(m >> 6, (m & 0o4000) !== 0, 's') +
    bits(m >> 3, (m & 0o2000) !== 0, 's') +
    bits(m, (m & 0o1000) !== 0, 't')
  );
}

function printSnapshots(volume: string, snapshots: SnapshotInfo[]): void {
  if (snapshots.length === 0) {
    console.log(`volume "${volume}" has no snapshots yet (bazil snapshot create ${volume})`);
    return;
  }
  const rows = snapshots.map((s) => [
    s.name,
    new Date(s.createdAt).toLocaleString(),
    `${formatCount(s.files)} files`,
    formatBytes(s.logicalBytes),
    s.uniqueBytes === null ? '' : formatBytes(s.uniqueBytes),
    s.automatic ? 'automatic' : '',
  ]);
  printColumns([['NAME', 'TAKEN', 'FILES', 'SIZE', 'ONLY HERE', ''], ...rows]);
}

function printColumns(rows: string[][]): void {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)));
  for (const row of rows)
    console.log(
      row
        .map((cell, i) => cell.padEnd(widths[i]!))
        .join('  ')
        .trimEnd(),
    );
}

/** A directory's entries as ls -ln shows them, or the entry alone when it is not a directory. */
function printListing(listing: SnapshotListing): void {
  const entries = listing.entry.type === 'dir' ? listing.entries : [listing.entry];
  const rows = entries.map((e) => [
    modeString(e),
    String(e.nlink),
    String(e.uid),
    String(e.gid),
    String(e.sizeBytes),
    new Date(e.mtime).toLocaleString(),
    e.target !== undefined ? `${e.name} -> ${e.target}` : e.name,
  ]);
  if (rows.length > 0) printColumns(rows);
}

export async function runSnapshotCommand(
  client: ControlClient,
  words: string[],
  {
    json,
    as,
    to,
    path: under,
    schedule,
  }: { json: boolean; as: string | null; to: string | null; path: string | null; schedule: ScheduleOptions },
): Promise<void> {
  const [sub, ...args] = words;
  const expect = (min: number, max: number, form: string) => {
    if (args.length < min || args.length > max) throw new UsageError(`usage: bazil snapshot ${form}`);
  };
  switch (sub) {
    case 'create': {
      expect(1, 2, 'create VOLUME [NAME]');
      const [volume, name] = args as [string, string | undefined];
      const s = await client.call('snapshotCreate', name === undefined ? { volume } : { volume, name });
      console.log(
        `took snapshot "${s.name}" of volume "${volume}": ${formatCount(s.files)} files, ${formatBytes(s.logicalBytes)}`,
      );
      return;
    }
    case 'list': {
      expect(1, 1, 'list VOLUME [--json]');
      const snapshots = await client.call('snapshotList', { volume: args[0]! });
      if (json) console.log(JSON.stringify(snapshots, null, 2));
      else printSnapshots(args[0]!, snapshots);
      return;
    }
    case 'ls': {
      expect(2, 3, 'ls VOLUME SNAPSHOT [PATH] [--json]');
      const [volume, snapshot, path] = args as [string, string, string | undefined];
      const listing = await client.call(
        'snapshotLs',
        path === undefined ? { volume, snapshot } : { volume, snapshot, path },
      );
      if (json) console.log(JSON.stringify(listing, null, 2));
      else printListing(listing);
      return;
    }
    case 'cat': {
      expect(3, 3, 'cat VOLUME SNAPSHOT PATH');
      const [volume, snapshot, path] = args as [string, string, string];
      for (let offset = 0; ;) {
        const { data } = await client.call('snapshotRead', {
          volume,
          snapshot,
          path,
          offset,
          length: SNAPSHOT_READ_MAX_BYTES,
        });
        const bytes = Buffer.from(data, 'base64');
        if (bytes.length === 0) return;
        if (!process.stdout.write(bytes)) await new Promise((resolve) => process.stdout.once('drain', resolve));
        offset += bytes.length;
      }
    }
    case 'restore': {
      expect(3, 3, 'restore VOLUME SNAPSHOT PATH [--as NEWPATH | --to DIR]');
      const [volume, snapshot, path] = args as [string, string, string];
      if (to !== null) {
        if (as !== null)
          throw new UsageError('restore puts a copy --as a path in the volume, or --to a directory: not both');
        const shown = progressLine();
        const exported = await client
          .call('snapshotExport', { volume, snapshot, path, to }, shown)
          .finally(() => shown.end());
        if (json) {
          console.log(JSON.stringify(exported, null, 2));
          return;
        }
        const made = [`${formatCount(exported.files)} files`, `${formatCount(exported.dirs)} directories`];
        if (exported.links > 0) made.push(`${formatCount(exported.links)} hard links`);
        if (exported.others > 0) made.push(`${formatCount(exported.others)} symlinks and special files`);
        const seconds = exported.ms / 1000;
        console.log(
          `exported ${path} of snapshot "${snapshot}" to ${exported.path}: ${made.join(', ')}, ` +
            `${formatBytes(exported.bytes)} in ${seconds.toFixed(1)} s`,
        );
        for (const problem of exported.problems) console.log(`not kept: ${problem}`);
        return;
      }
      const result = await client.call(
        'snapshotRestore',
        as === null ? { volume, snapshot, path } : { volume, snapshot, path, as },
      );
      if (json) {
        console.log(JSON.stringify(result, null, 2));
        return;
      }
      const what = `${formatCount(result.entries)} entr${result.entries === 1 ? 'y' : 'ies'}`;
      console.log(`restored ${result.path} from snapshot "${snapshot}" (${what}, no data copied)`);
      if (result.safetySnapshot) {
        console.log(`what it replaced is kept in snapshot "${result.safetySnapshot}"`);
      }
      return;
    }
    case 'diff': {
      expect(2, 3, 'diff VOLUME FROM [TO] [--path DIR] [--json]');
      const [volume, from, to] = args as [string, string, string | undefined];
      const diff = await client.call('snapshotDiff', {
        volume,
        from,
        ...(to === undefined ? {} : { to }),
        ...(under === null ? {} : { path: under }),
      });
      if (json) {
        console.log(JSON.stringify(diff, null, 2));
        return;
      }
      const marks = { added: '+', removed: '-', 'type-changed': 'T', modified: 'M' } as const;
      for (const c of diff.changes) {
        const mark = c.change === 'modified' && !c.content ? 'm' : marks[c.change];
        console.log(`${mark} ${c.path}${c.type === 'dir' ? '/' : ''}`);
      }
      if (diff.changes.length === 0)
        console.log(`no changes from "${from}" to ${to === undefined ? 'the live volume' : `"${to}"`}`);
      return;
    }
    case 'delete': {
      expect(2, 2, 'delete VOLUME SNAPSHOT');
      await client.call('snapshotDelete', { volume: args[0]!, snapshot: args[1]! });
      console.log(`deleted snapshot "${args[1]}" of volume "${args[0]}"`);
      return;
    }
    case 'schedule': {
      expect(1, 1, 'schedule VOLUME [--every 1h] [--keep-hourly N] ... | --off');
      const result = await client.call('snapshotSchedule', { volume: args[0]!, ...schedule });
      if (json) console.log(JSON.stringify(result, null, 2));
      else console.log(describeSchedule(args[0]!, result));
      return;
    }
    case 'find': {
      expect(2, 2, 'find VOLUME PATTERN [--json]');
      const [volume, pattern] = args as [string, string];
      const found = await client.call('snapshotFind', { volume, pattern });
      if (json) console.log(JSON.stringify(found, null, 2));
      else if (found.length === 0)
        console.log(`nothing named ${JSON.stringify(pattern)} in the snapshots of "${volume}"`);
      else printColumns(found.map((f) => [f.snapshot, `${f.path}${f.type === 'dir' ? '/' : ''}`]));
      return;
    }
    default:
      throw new UsageError(
        'usage: bazil snapshot create|list|ls|cat|restore|diff|find|delete|schedule ...; see bazil --help',
      );
  }
}

/** `bazil ls VOLUME [PATH]`: a directory of the volume's live tree. */
export async function runLsCommand(client: ControlClient, words: string[], json: boolean): Promise<void> {
  if (words.length < 1 || words.length > 2) throw new UsageError('usage: bazil ls VOLUME [PATH] [--json]');
  const [volume, path] = words as [string, string | undefined];
  const listing = await client.call('volumeLs', path === undefined ? { volume } : { volume, path });
  if (json) console.log(JSON.stringify(listing, null, 2));
  else printListing(listing);
}

/** `bazil history VOLUME PATH`: the versions of a path across the volume's snapshots. */
export async function runHistoryCommand(client: ControlClient, words: string[], json: boolean): Promise<void> {
  if (words.length !== 2) throw new UsageError('usage: bazil history VOLUME PATH [--json]');
  const [volume, path] = words as [string, string];
  const versions = await client.call('fileHistory', { volume, path });
  if (json) {
    console.log(JSON.stringify(versions, null, 2));
    return;
  }
  const rows = versions.map((v) => [
    new Date(v.firstSeen).toLocaleString(),
    v.type === 'dir' ? 'directory' : formatBytes(v.sizeBytes),
    `modified ${new Date(v.mtime).toLocaleString()}`,
    v.snapshots.length === 1
      ? v.snapshots[0]!
      : `${v.snapshots[0]} .. ${v.snapshots.at(-1)} (${v.snapshots.length} snapshots)`,
  ]);
  printColumns([['FIRST SEEN', 'SIZE', 'MODIFIED', 'IN SNAPSHOTS'], ...rows]);
}
