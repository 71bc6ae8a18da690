/**
 * The `bazil` command: everything the window does, for scripts and power users. Each command is
 * one API call to the engine of the data directory (started in the background when none runs);
 * `daemon` runs the engine itself in the foreground.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { homedir } from 'node:os';
import { mkdir } from 'node:fs/promises';
import type {
  GcResult,
  ScheduleOptions,
  SpaceReport,
  StatsResult,
  StopResult,
  VerifyResult,
  VolumeInfo,
} from '../common/api.js';
import { BazilError, quote } from '../common/errors.js';
import { defaultDataDir, socketPath } from '../engine/data-dir.js';
import type { Engine } from '../engine/engine.js';
import { connectToEngine } from '../client/engine-connection.js';
import { startHttpBridge } from '../client/http-bridge.js';
import { reportStartFailure, reportStarted, takeStartPipe } from '../client/start-status.js';
import { formatBytes, formatCount, progressLine, UsageError } from './cli-output.js';
import {
  KEEP_OPTIONS,
  parseInterval,
  runHistoryCommand,
  runLsCommand,
  runSnapshotCommand,
  SNAPSHOT_USAGE,
} from './snapshot-command.js';

const USAGE = `usage: bazil [--data-dir DIR] COMMAND

  daemon [--dirty-cap-mib N] [--auto-gc-every 1h|off]
                               run the engine in the foreground; it checks every hour (or as
                               said) whether garbage is worth collecting, and collects it
  daemon stop [--force]        store dirty data, unmount every volume, stop the engine
                               (--force: even when a program uses a volume)
  start                        run the engine with volume "home" mounted at ~/Bazil, and serve
                               the window (npm start, where Electron is not installed)
  volume create NAME           create a volume
  volume list [--json]         list volumes and where they are mounted
  volume set NAME --show-snap yes|no
                               list .snap in the volume's root directory, or hide it (the
                               default: find, rsync and backups then skip it)
  volume delete NAME [--with-snapshots]
                               delete a volume (refused while mounted, and while it has
                               snapshots unless --with-snapshots)
  mount NAME DIR [--allow-other]
                               mount a volume at an empty directory (--allow-other: other
                               users may enter; needs root or user_allow_other in /etc/fuse.conf)
  unmount NAME [--force]       unmount a volume (--force: even when a program uses it)
  verify [--json]              read every stored chunk that a file or snapshot names and check it;
                               name each broken file (exit 1 if any)
  gc [--json]                  delete what no file and no snapshot uses, rewrite packs that
                               are mostly garbage, and say what it freed (volumes stay mounted)
  stats [--json]               store size, live and reclaimable space (a scan of the store),
                               dirty memory per volume and file
  serve [--port N] [--open]    the window in a browser, and the API, on 127.0.0.1 only: prints a
                               URL with a token (any free port unless --port); --open opens it
                               in the browser when there is a display
${SNAPSHOT_USAGE}

The data directory is $BAZIL_DATA_DIR, else $XDG_DATA_HOME/bazil (~/.local/share/bazil).`;

interface Parsed {
  dataDir: string;
  json: boolean;
  force: boolean;
  allowOther: boolean;
  withSnapshots: boolean;
  as: string | null;
  /** snapshot diff --path: a directory of the volume. */
  path: string | null;
  /** snapshot restore --to: a directory outside Bazil (absolute: resolved here). */
  to: string | null;
  /** volume set --show-snap yes|no. */
  showSnap: boolean | null;
  /** snapshot schedule's options, as the API takes them. */
  schedule: ScheduleOptions;
  dirtyCapMib: number | null;
  /** How often the engine checks whether garbage is worth collecting; 0: never; null: its default. */
  autoGcEveryMs: number | null;
  /** serve --port. */
  port: number | null;
  /** serve --open. */
  open: boolean;
  words: string[];
}

function parse(argv: string[]): Parsed {
  const parsed: Parsed = {
    dataDir: defaultDataDir(),
    json: false,
    force: false,
    allowOther: false,
    withSnapshots: false,
    as: null,
    path: null,
    to: null,
    showSnap: null,
    schedule: {},
    dirtyCapMib: null,
    autoGcEveryMs: null,
    port: null,
    open: false,
    words: [],
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--data-dir') {
      const dir = argv[++i];
      if (!dir) throw new UsageError('--data-dir needs a directory');
      parsed.dataDir = resolve(dir);
    } else if (arg.startsWith('--data-dir=')) {
      parsed.dataDir = resolve(arg.slice('--data-dir='.length));
    } else if (arg === '--json') {
      parsed.json = true;
    } else if (arg === '--force') {
      parsed.force = true;
    } else if (arg === '--allow-other') {
      parsed.allowOther = true;
    } else if (arg === '--with-snapshots') {
      parsed.withSnapshots = true;
    } else if (arg === '--every') {
      parsed.schedule.everyMinutes = parseInterval(argv[++i]);
    } else if (KEEP_OPTIONS[arg]) {
      const n = Number(argv[++i]);
      if (!Number.isInteger(n) || n < 0) throw new UsageError(`${arg} needs a whole number, 0 or more`);
      parsed.schedule[KEEP_OPTIONS[arg]] = n;
    } else if (arg === '--off') {
      parsed.schedule.off = true;
    } else if (arg === '--as') {
      const path = argv[++i];
      if (!path) throw new UsageError('--as needs a path in the volume');
      parsed.as = path;
    } else if (arg === '--path') {
      const path = argv[++i];
      if (!path) throw new UsageError('--path needs a directory of the volume');
      parsed.path = path;
    } else if (arg === '--show-snap') {
      const value = argv[++i];
      if (value !== 'yes' && value !== 'no') throw new UsageError('--show-snap takes yes or no');
      parsed.showSnap = value === 'yes';
    } else if (arg === '--to') {
      const path = argv[++i];
      if (!path) throw new UsageError('--to needs a directory outside Bazil');
      parsed.to = resolve(path);
    } else if (arg === '--dirty-cap-mib') {
      const n = Number(argv[++i]);
      if (!Number.isInteger(n) || n < 8)
        throw new UsageError('--dirty-cap-mib needs a whole number of MiB, at least 8');
      parsed.dirtyCapMib = n;
    } else if (arg === '--auto-gc-every') {
      parsed.autoGcEveryMs = parseAutoGcEvery(argv[++i]);
    } else if (arg === '--open') {
      parsed.open = true;
    } else if (arg === '--port') {
      const n = Number(argv[++i]);
      if (!Number.isInteger(n) || n < 1 || n > 65535) throw new UsageError('--port needs a port number, 1 to 65535');
      parsed.port = n;
    } else if (arg === '-h' || arg === '--help') {
      parsed.words = ['help'];
      return parsed;
    } else if (arg.startsWith('-')) {
      throw new UsageError(`unknown option ${quote(arg)}`);
    } else {
      parsed.words.push(arg);
    }
  }
  return parsed;
}

function expectWords(words: string[], count: number, form: string): void {
  if (words.length !== count) throw new UsageError(`usage: bazil ${form}`);
}

const MiB = 1024 * 1024;

function printVolumes(volumes: VolumeInfo[]): void {
  if (volumes.length === 0) {
    console.log('no volumes yet (bazil volume create NAME)');
    return;
  }
  for (const v of volumes) console.log(`${v.name}\t${v.mountpoint ?? '(not mounted)'}`);
}

/** Where the store's space goes: what files use, and what garbage collection could give back. */
function describeSpace(space: SpaceReport): string[] {
  const { live, unreferenced, packs } = space;
  const lines = [
    `live:   ${formatBytes(live.chunkBytes)} in ${formatCount(live.chunks)} chunks that files and snapshots use` +
      `; packs ${formatBytes(packs.fileBytes)}, ${formatBytes(packs.paddingBytes)} of it headers and block padding`,
  ];
  if (space.reclaimableBytes === 0) return [...lines, 'reclaimable: 0 B'];
  const what = [`${formatCount(unreferenced.packedChunks + unreferenced.lmdbChunks)} unreferenced chunks`];
  if (packs.unnamedBytes > 0) what.push(`${formatBytes(packs.unnamedBytes)} in packs no chunk names`);
  if (unreferenced.manifests > 0) what.push(`${formatCount(unreferenced.manifests)} manifests`);
  if (unreferenced.trees > 0) what.push(`${formatCount(unreferenced.trees)} snapshot directories`);
  if (space.orphanFiles > 0) what.push(`${formatCount(space.orphanFiles)} files deleted while open before a crash`);
  return [...lines, `reclaimable: ${formatBytes(space.reclaimableBytes)} (${what.join(', ')}); bazil gc gives it back`];
}

function printStats(stats: StatsResult): void {
  console.log(`store:  ${formatBytes(stats.storeBytes)} on disk, ${formatCount(stats.chunkCount)} chunks`);
  if (stats.space) for (const line of describeSpace(stats.space)) console.log(line);
  console.log(`dirty:  ${formatBytes(stats.dirty.totalBytes)} of ${formatBytes(stats.dirty.capBytes)} cap`);
  for (const v of stats.dirty.volumes) console.log(`  volume ${v.name}: ${formatBytes(v.dirtyBytes)}`);
  for (const f of stats.dirty.files) console.log(`    ${f.volume}:${f.path}: ${formatBytes(f.dirtyBytes)}`);
}

/** What a garbage collection deleted and gave back. */
function describeGc(result: GcResult): string[] {
  const { deleted, packs } = result;
  const lines = [
    `deleted: ${formatCount(deleted.chunks)} chunks (${formatBytes(deleted.chunkBytes)}), ` +
      `${formatCount(deleted.manifests)} manifests, ${formatCount(deleted.trees)} snapshot directories`,
    `packs:   ${formatCount(packs.deleted)} deleted, ${formatCount(packs.rewritten)} rewritten into ` +
      `${formatCount(packs.written)} (${formatBytes(packs.copiedBytes)} copied); ` +
      `${formatBytes(packs.bytesBefore)} -> ${formatBytes(packs.bytesAfter)}`,
  ];
  if (packs.punched > 0) {
    lines.push(
      `         ${formatCount(packs.punched)} given back in place: no room on the disk to rewrite them (gc again once there is)`,
    );
  }
  if (result.keptNamedAgain > 0) {
    lines.push(`kept:    ${formatCount(result.keptNamedAgain)} that a writer used again while the collection ran`);
  }
  const freed = Math.max(0, result.diskBytesBefore - result.diskBytesAfter);
  lines.push(
    `freed:   ${formatBytes(freed)} on disk (${formatBytes(result.diskBytesBefore)} -> ` +
      `${formatBytes(result.diskBytesAfter)}) in ${(result.ms / 1000).toFixed(1)} s`,
  );
  return lines;
}

/** What verify found: a line per broken file, and a summary. */
function describeVerify(result: VerifyResult): string[] {
  const lines = result.damaged.map(
    ({ volume, snapshot, path, problem }) =>
      `${problem}: ${volume}${snapshot === null ? '' : ` (snapshot ${snapshot})`}: ${path}`,
  );
  const checked = `${formatCount(result.checkedChunks)} chunks, ${formatBytes(result.checkedBytes)}, checked in ${(result.ms / 1000).toFixed(1)} s`;
  if (result.damaged.length === 0) return [`${checked}: every file is whole`];
  return [...lines, `${checked}: ${formatCount(result.damaged.length)} file(s) broken`];
}

/** What a stop did, a line per volume, and a last line once the engine has stopped. */
function describeStop(result: StopResult): string[] {
  const lines = result.volumes.map(({ name, mountpoint, dirtyBytes, stored }) => {
    const what = !stored
      ? `${formatBytes(dirtyBytes)} could not be stored and is lost (see engine.log)`
      : dirtyBytes > 0
        ? `stored ${formatBytes(dirtyBytes)}`
        : 'nothing to store';
    return `bazil: volume ${quote(name)}: ${what}, unmounted from ${quote(mountpoint)}`;
  });
  if (lines.length === 0) lines.push('bazil: no volume was mounted');
  return [...lines, 'bazil: engine stopped'];
}

/** `--auto-gc-every`: an interval like 30m, 1h or 1d (90s for a test), or off (0). */
function parseAutoGcEvery(text: string | undefined): number {
  if (text === 'off') return 0;
  const match = /^(\d+)([smhd])$/.exec(text ?? '');
  const unitMs = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;
  const ms = match ? Number(match[1]) * unitMs[match[2] as keyof typeof unitMs] : 0;
  if (ms < 1000) throw new UsageError('--auto-gc-every needs an interval like 30m, 1h or 1d, or off');
  return ms;
}

/** Runs the engine in this process until stopped (SIGINT, SIGTERM or `bazil daemon stop`). */
async function runDaemon(
  parsed: Parsed,
  /** What to do once the engine runs; what it returns is called when the engine begins to stop. */
  afterStart?: (engine: Engine) => Promise<(() => void) | void>,
): Promise<void> {
  // Loaded here only: a command that talks to a running engine needs no LMDB or FUSE binding.
  const [{ Engine }, { serveControlSocket }, { Dispatcher }, { installEngineLog }, { AutoGc, AUTO_GC_EVERY_MS }] =
    await Promise.all([
      import('../engine/engine.js'),
      import('../engine/transports/control-server.js'),
      import('../engine/transports/dispatcher.js'),
      import('../engine/engine-log.js'),
      import('../engine/auto-gc.js'),
    ]);
  installEngineLog();
  takeStartPipe();
  const engine = await Engine.start({
    dataDir: parsed.dataDir,
    ...(parsed.dirtyCapMib ? { dirtyCapBytes: parsed.dirtyCapMib * MiB } : {}),
  });
  let stopping = false;
  let onStopping: (() => void) | void = undefined;
  /** Signals (logout, shutdown, Ctrl-C) stop the engine even with a volume in use. */
  const stop = (signal?: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    onStopping?.();
    void autoGc?.stop();
    if (signal) console.log(`bazil: ${signal}: storing what is dirty and unmounting every volume`);
    if (server.listening) server.close();
    engine.stop({ force: true }).then(
      (result) => {
        for (const line of describeStop(result)) console.log(line);
        process.exit(0);
      },
      (error: unknown) => {
        console.error('bazil: engine stopped with an error:', error);
        process.exit(1);
      },
    );
  };
  const dispatcher = new Dispatcher(engine, engine.events);
  const autoGcEveryMs = parsed.autoGcEveryMs ?? AUTO_GC_EVERY_MS;
  const autoGc = autoGcEveryMs === 0 ? null : new AutoGc(dispatcher, parsed.dataDir, autoGcEveryMs);
  const server = await serveControlSocket(socketPath(parsed.dataDir), dispatcher, stop);
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  console.log(`bazil: engine running for ${parsed.dataDir} (pid ${process.pid})`);
  reportStarted();
  if (afterStart) onStopping = await afterStart(engine);
}

/** This command, to start another of it. */
const BIN = fileURLToPath(new URL('../../../bin/bazil.js', import.meta.url));

/** The built window, beside the compiled code (dist/renderer). */
const RENDERER_DIR = fileURLToPath(new URL('../../renderer', import.meta.url));

/** `bazil serve`: the HTTP bridge, until Ctrl-C (or the engine stops). */
async function serve(parsed: Parsed): Promise<void> {
  const client = await connectToEngine(parsed.dataDir, { start: true });
  const built = existsSync(join(RENDERER_DIR, 'index.html'));
  const bridge = await startHttpBridge({
    relay: client,
    port: parsed.port ?? 0,
    rendererDir: built ? RENDERER_DIR : null,
  }).catch((error: unknown) => {
    client.close();
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE') throw new UsageError(`port ${parsed.port} is in use; choose another with --port`);
    if (code === 'EACCES') throw new UsageError(`port ${parsed.port} needs root; choose one above 1023`);
    throw error;
  });
  console.log(`bazil: serving on ${bridge.url}`);
  if (!built) console.log('bazil: the window is not built (npm run build); the API alone is served');
  console.log('bazil: open that URL in a browser on this machine; press Ctrl-C to stop');
  if (parsed.open && (process.env.DISPLAY || process.env.WAYLAND_DISPLAY)) {
    const opener = spawn('xdg-open', [bridge.url], { stdio: 'ignore', detached: true });
    opener.on('error', (error) =>
      console.error(`bazil: could not open a browser (${error.message}); open the URL yourself`),
    );
    opener.unref();
  }
  let stopping = false;
  const stop = () => {
    stopping = true;
    void bridge.close().then(() => (client.close(), process.exit(0)));
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  client.onClose = () => {
    if (stopping) return;
    console.error('bazil: the engine stopped; serve stops too');
    void bridge.close().then(() => process.exit(1));
  };
}

async function main(argv: string[]): Promise<void> {
  const parsed = parse(argv);
  const [command, ...rest] = parsed.words;
  if (!command || command === 'help') {
    console.log(USAGE);
    return;
  }
  if (command === 'daemon' && rest.length === 0) return runDaemon(parsed);
  if (command === 'start') {
    expectWords(rest, 0, 'start');
    return runDaemon(parsed, async (engine) => {
      const volumes = await engine.volumeList();
      if (!volumes.some((v) => v.name === 'home')) await engine.volumeCreate({ name: 'home' });
      const mountpoint = resolve(homedir(), 'Bazil');
      await mkdir(mountpoint, { recursive: true });
      await engine.mount({ name: 'home', mountpoint });
      console.log(`bazil: volume "home" is mounted at ${mountpoint}; press Ctrl-C to unmount and stop`);
      // The window, from a process of its own (HTTP stays off the thread that serves the mounts);
      // it ends when the engine does.
      const window = spawn(process.execPath, [BIN, '--data-dir', parsed.dataDir, 'serve', '--open'], {
        stdio: 'inherit',
      });
      return () => window.kill('SIGTERM');
    });
  }

  if (command === 'serve') {
    expectWords(rest, 0, 'serve [--port N] [--open]');
    return serve(parsed);
  }

  const needsEngine = !(command === 'daemon' && rest[0] === 'stop');
  const client = await connectToEngine(parsed.dataDir, { start: needsEngine });
  try {
    switch (command) {
      case 'daemon':
        expectWords(rest, 1, 'daemon stop [--force]');
        for (const line of describeStop(await client.call('stop', parsed.force ? { force: true } : {}))) {
          console.log(line);
        }
        return;
      case 'volume': {
        const [sub, ...names] = rest;
        if (sub === 'create') {
          expectWords(names, 1, 'volume create NAME');
          const v = await client.call('volumeCreate', { name: names[0]! });
          console.log(`created volume "${v.name}"`);
        } else if (sub === 'list') {
          expectWords(names, 0, 'volume list [--json]');
          const volumes = await client.call('volumeList', {});
          if (parsed.json) console.log(JSON.stringify(volumes, null, 2));
          else printVolumes(volumes);
        } else if (sub === 'delete') {
          expectWords(names, 1, 'volume delete NAME [--with-snapshots]');
          await client.call('volumeDelete', {
            name: names[0]!,
            ...(parsed.withSnapshots ? { withSnapshots: true } : {}),
          });
          console.log(`deleted volume "${names[0]}"`);
        } else if (sub === 'set') {
          expectWords(names, 1, 'volume set NAME --show-snap yes|no');
          if (parsed.showSnap === null) throw new UsageError('usage: bazil volume set NAME --show-snap yes|no');
          const v = await client.call('volumeSet', { name: names[0]!, showSnap: parsed.showSnap });
          console.log(
            `volume "${v.name}": .snap is ${v.showSnap ? 'listed in' : 'hidden from'} its root directory ` +
              `(reached by its path either way)`,
          );
        } else {
          throw new UsageError('usage: bazil volume create|list|set|delete ...');
        }
        return;
      }
      case 'mount': {
        expectWords(rest, 2, 'mount NAME DIR [--allow-other]');
        const v = await client.call('mount', {
          name: rest[0]!,
          mountpoint: resolve(rest[1]!),
          ...(parsed.allowOther ? { allowOther: true } : {}),
        });
        console.log(`mounted volume "${v.name}" at ${v.mountpoint}`);
        return;
      }
      case 'unmount': {
        expectWords(rest, 1, 'unmount NAME [--force]');
        await client.call('unmount', parsed.force ? { name: rest[0]!, force: true } : { name: rest[0]! });
        console.log(`unmounted volume "${rest[0]}"`);
        return;
      }
      case 'stats': {
        expectWords(rest, 0, 'stats [--json]');
        const stats = await client.call('stats', { space: true });
        if (parsed.json) console.log(JSON.stringify(stats, null, 2));
        else printStats(stats);
        return;
      }
      case 'snapshot':
        return await runSnapshotCommand(client, rest, {
          json: parsed.json,
          as: parsed.as,
          to: parsed.to,
          path: parsed.path,
          schedule: parsed.schedule,
        });
      case 'history':
        return await runHistoryCommand(client, rest, parsed.json);
      case 'ls':
        return await runLsCommand(client, rest, parsed.json);
      case 'verify': {
        expectWords(rest, 0, 'verify [--json]');
        const shown = progressLine();
        const result = await client.call('verify', {}, shown).finally(() => shown.end());
        if (parsed.json) console.log(JSON.stringify(result, null, 2));
        else for (const line of describeVerify(result)) console.log(line);
        // Damage found is not bad input: exit 1, as fsck reports errors left.
        if (result.damaged.length > 0) process.exitCode = 1;
        return;
      }
      case 'gc': {
        expectWords(rest, 0, 'gc [--json]');
        const shown = progressLine();
        const result = await client.call('gc', {}, shown).finally(() => shown.end());
        if (parsed.json) console.log(JSON.stringify(result, null, 2));
        else for (const line of describeGc(result)) console.log(line);
        return;
      }
      default:
        throw new UsageError(`unknown command ${quote(command)}; see bazil --help`);
    }
  } finally {
    client.close();
  }
}

main(process.argv.slice(2)).catch((error: unknown) => {
  // Bad input or the user's environment: one line, exit 2. Anything else is a bug: its stack too.
  const refused = error instanceof UsageError || (error instanceof BazilError && error.code !== 'EINTERNAL');
  const line = `bazil: ${error instanceof Error ? error.message : String(error)}`;
  if (refused || error instanceof BazilError) console.error(line);
  else console.error('bazil:', error);
  reportStartFailure(line);
  process.exit(refused ? 2 : 1);
});
