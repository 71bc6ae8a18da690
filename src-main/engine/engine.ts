/**
 * The engine: owns one data directory's store, its chunk workers, its dirty-memory budget and the
 * FUSE mounts of its volumes, and implements the API (../../common/api.ts) that the control socket,
 * the CLI and the app use.
 *
 * Never call the mounts with synchronous file calls from here: this process serves them.
 */
import { readdir, readlink, stat, unlink } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import {
  SNAPSHOT_READ_MAX_BYTES,
  checkVolumeName,
  type Api,
  type FileVersion,
  type FoundEntry,
  type KeepPolicy,
  type ScheduleOptions,
  type SnapshotSchedule,
  type RestoreResult,
  type SnapshotDiff,
  type SnapshotInfo,
  type SnapshotListing,
  type StatsResult,
  type StopResult,
  type VerifyResult,
  type GcResult,
  type ExportResult,
  type ProgressSink,
  type VolumeInfo,
  type EngineEvent,
} from '../common/api.js';
import { BazilError, quote } from '../common/errors.js';
import { EventHub } from '../common/event-hub.js';
import { feedLiveEvents } from './live-feed.js';
import { FailureFeed } from './failure-feed.js';
import { ChunkPool } from './chunking/chunk-pool.js';
import { DEFAULT_DIRTY_CAP_BYTES, DirtyBudget } from './fs/dirty-budget.js';
import { FuseMount, UnstoredDataError, clearDeadMount } from './fuse/fuse-mount.js';
import { mountOf, readMountTable } from './fs/mount-table.js';
import { VolumeFs, S_IFDIR } from './fs/volume-fs.js';
import { VolumeMeta, newInode } from './fs/volume-meta.js';
import { listLive } from './fs/list-live.js';
import { formatNs, nowNs } from '../common/time.js';
import {
  META_NEXT_VOLUME_ID_KEY,
  ROOT_INO,
  decodeU32,
  decodeVolume,
  encodeInode,
  encodeU32,
  encodeVolume,
  inodeKey,
  volumeKey,
  volumePrefix,
  type VolumeRecord,
} from './store/format.js';
import { Store } from './store/store.js';
import { SpaceScanner } from './store/space-scan.js';
import { sweep } from './store/sweep.js';
import { uniqueBytesInThread } from './snapshots/snapshot-usage.js';
import { Exports } from './snapshots/export-snapshot.js';
import { collectMemoryRoots } from './fs/memory-roots.js';
import { collectGarbage } from './collect-garbage.js';
import { acquireLock, makeDataDirPrivate, pidPath, prepareDataDir } from './data-dir.js';
import { createSnapshot } from './snapshots/create-snapshot.js';
import { restoreSnapshot } from './snapshots/restore-snapshot.js';
import { diffTrees } from './snapshots/diff-snapshots.js';
import { fileHistory } from './snapshots/file-history.js';
import { findInSnapshots } from './snapshots/find-in-snapshots.js';
import { writeVolumeTree } from './snapshots/take-snapshot.js';
import { deleteSnapshot } from './snapshots/delete-snapshot.js';
import { verifyStore } from './verify-store.js';
import { SnapshotScheduler, getSchedule, setSchedule } from './snapshots/snapshot-schedule.js';
import {
  describeEntry,
  entryAt,
  entryInTree,
  getSnapshot,
  treeRoot,
  listSnapshots,
  readSnapshotFile,
  readTree,
  snapshotInfo,
} from './snapshots/browse-snapshot.js';

export interface EngineOptions {
  dataDir: string;
  dirtyCapBytes?: number;
  workerCount?: number;
}

interface Mounted {
  fs: VolumeFs;
  mount: FuseMount;
}

/** How often commits are synced to the disk when nothing asked sooner (ext4 commits every 5 s). */
const SYNC_INTERVAL_MS = 5000;
/** How often scheduled snapshots are checked for being due. */
const SCHEDULE_TICK_MS = 30_000;

export class Engine implements Api {
  private readonly mounts = new Map<string, Mounted>();
  /** Volumes between the start and the end of `mount`: a mark counts their memory too. */
  private readonly mounting = new Set<VolumeFs>();
  /** Volumes not mounted that a restore is writing to: mounting and deleting them wait. */
  private readonly restoring = new Set<string>();
  private readonly syncTimer: NodeJS.Timeout;
  private readonly scheduleTimer: NodeJS.Timeout;
  private readonly scheduler: SnapshotScheduler;
  private readonly spaceScanner: SpaceScanner;
  private readonly exports: Exports;
  private stopping: Promise<StopResult> | null = null;
  /** What the engine publishes to every transport (the dispatcher adds what calls change). */
  readonly events = new EventHub<EngineEvent>();
  /** Failures no call returns, as error events (repeat-limited). */
  private readonly failures = new FailureFeed(this.events);
  private readonly publishDirtyNow: () => void;

  private constructor(
    readonly dataDir: string,
    private readonly store: Store,
    private readonly pool: ChunkPool,
    private readonly budget: DirtyBudget,
  ) {
    this.syncTimer = setInterval(() => {
      this.store.syncToDisk().catch((error: unknown) => {
        console.error('bazil: sync to disk failed:', error);
        const why = this.store.explainWriteFailure(error).message;
        this.failures.report('sync', `the store could not be synced to its disk (${why}); it is tried again`);
      });
    }, SYNC_INTERVAL_MS);
    this.syncTimer.unref();
    this.scheduler = new SnapshotScheduler({
      store,
      volumes: () => [...store.dbs.volumes.getRange({})].map(({ key }) => this.volume(key.toString('utf8'))),
      settled: (volume) => this.mounts.get(volume.name)?.fs.settled() ?? Promise.resolve(),
      changed: (volume, name, action) => {
        this.mounts.get(volume.name)?.fs.snapshotChanged(name);
        this.events.publish({ type: 'snapshot', volume: volume.name, snapshot: name, action, scheduled: true });
      },
      failed: (volume, error) => {
        console.error(`bazil: the scheduled snapshot of volume ${quote(volume.name)} failed:`, error);
        const why = error instanceof Error ? error.message : String(error);
        this.failures.report(
          `schedule:${volume.name}`,
          `the scheduled snapshot of volume ${quote(volume.name)} failed: ${why}`,
        );
      },
      nowMs: Date.now,
    });
    this.scheduleTimer = setInterval(() => void this.scheduler.tick(), SCHEDULE_TICK_MS);
    this.scheduleTimer.unref();
    pool.onAnswer = (reply) => {
      store.marks.announce(reply.manifestKey, reply.chunks);
      for (const key of reply.manifestBlobs) store.marks.announce(key);
    };
    pool.onPackAbandoned = (packId) => store.notePackAbandoned(packId);
    this.publishDirtyNow = feedLiveEvents(this.events, {
      dirty: () => budget.stats(),
      fileChanges: () => new Map([...this.mounts].map(([name, { fs }]) => [name, fs.meta.changes])),
    });
    this.exports = new Exports(dataDir);
    this.spaceScanner = new SpaceScanner(dataDir, {
      feed: store.marks,
      memoryRoots: () => collectMemoryRoots([...[...this.mounts.values()].map((m) => m.fs), ...this.mounting]),
      packs: () => store.packsAtMark(pool.packsInProgress()),
      flushesAnswered: () => Promise.all([pool.answered(), store.manifestPutsSettled()]).then(() => undefined),
    });
  }

  static async start(options: EngineOptions): Promise<Engine> {
    // What the engine creates is private to its user whatever umask it was started with (the
    // files on a mount are not affected: a program creating one through FUSE gives its mode).
    process.umask(0o077);
    const dataDir = resolve(options.dataDir);
    await prepareDataDir(dataDir);
    await makeDataDirPrivate(dataDir);
    await acquireLock(dataDir);
    try {
      const store = new Store(dataDir);
      const workers = options.workerCount ?? Math.min(2, Math.max(1, availableParallelism()));
      const pool = new ChunkPool(dataDir, workers);
      store.packsInProgress = () => pool.packsInProgress();
      const budget = new DirtyBudget(options.dirtyCapBytes ?? DEFAULT_DIRTY_CAP_BYTES);
      budget.onTrimmed = () => {
        collectGarbage();
        pool.collectGarbage();
      };
      store.cache.onTrimmed = collectGarbage;
      return new Engine(dataDir, store, pool, budget);
    } catch (error) {
      await unlink(pidPath(dataDir)).catch(() => undefined);
      throw error;
    }
  }

  // ---- volumes ----

  async volumeCreate({ name }: { name: string }): Promise<VolumeInfo> {
    checkVolumeName(name);
    const { dbs, env } = this.store;
    if (dbs.volumes.doesExist(volumeKey(name))) throw new BazilError('EEXIST', `volume ${quote(name)} already exists`);
    const idBytes = dbs.meta.get(META_NEXT_VOLUME_ID_KEY);
    const id = idBytes === undefined ? 1 : decodeU32(idBytes);
    const volume: VolumeRecord = { id, name, createdNs: nowNs(), nextIno: ROOT_INO + 1, showSnap: false };
    const root = encodeInode(newInode(ROOT_INO, S_IFDIR | 0o755, 2));
    await env.transaction(() => {
      dbs.meta.putSync(META_NEXT_VOLUME_ID_KEY, encodeU32(id + 1));
      dbs.volumes.putSync(volumeKey(name), encodeVolume(volume));
      dbs.inodes.putSync(inodeKey(id, ROOT_INO), root);
    });
    await this.store.syncToDisk();
    return this.info(volume);
  }

  async volumeList(): Promise<VolumeInfo[]> {
    const list: VolumeInfo[] = [];
    for (const { value } of this.store.dbs.volumes.getRange({})) list.push(this.info(decodeVolume(value)));
    return list;
  }

  async volumeDelete({ name, withSnapshots = false }: { name: string; withSnapshots?: boolean }): Promise<void> {
    const volume = this.volume(name);
    this.checkNotRestoring(name);
    const snapshots = listSnapshots(this.store, volume.id).length;
    if (snapshots > 0 && !withSnapshots) {
      throw new BazilError(
        'EBUSY',
        `volume ${quote(name)} has ${snapshots} snapshot${snapshots === 1 ? '' : 's'}, which deleting it would delete too; ` +
          `add --with-snapshots to delete them with it`,
      );
    }
    const mounted = this.mounts.get(name);
    if (mounted) {
      throw new BazilError(
        'EBUSY',
        `volume ${quote(name)} is mounted at ${quote(mounted.mount.mountpoint)}; unmount it first (bazil unmount ${name})`,
      );
    }
    const { dbs, env } = this.store;
    const start = volumePrefix(volume.id);
    const end = volumePrefix(volume.id + 1);
    // File data stays in the chunk store until garbage collection (chunks may be shared).
    await env.transaction(() => {
      // Snapshot records share the volume-id prefix; their trees and data stay until garbage collection.
      for (const db of [
        dbs.inodes,
        dbs.dirents,
        dbs.orphans,
        dbs.snapshots,
        dbs.parents,
        dbs.treeCache,
        dbs.schedules,
      ]) {
        for (const key of db.getKeys({ start, end })) db.removeSync(key as Buffer);
      }
      dbs.volumes.removeSync(volumeKey(name));
    });
    await this.store.syncToDisk();
  }

  // ---- mounts ----

  async volumeSet({ name, showSnap }: { name: string; showSnap?: boolean }): Promise<VolumeInfo> {
    const volume = this.volume(name);
    if (showSnap !== undefined && showSnap !== volume.showSnap) {
      const mounted = this.mounts.get(name);
      if (mounted) {
        // Written with the volume's next metadata batch; the next listing of the root shows it.
        mounted.fs.setShowSnap(showSnap);
        await mounted.fs.settled();
      } else {
        this.checkNotRestoring(name);
        if (this.beingMounted(name)) {
          throw new BazilError('EBUSY', `volume ${quote(name)} is being mounted; try again once it is`);
        }
        const { env, dbs } = this.store;
        env.transactionSync(() => dbs.volumes.putSync(volumeKey(name), encodeVolume({ ...volume, showSnap })));
      }
      await this.store.syncToDisk();
    }
    return this.info(this.volume(name));
  }

  async mount({
    name,
    mountpoint,
    allowOther = false,
  }: {
    name: string;
    mountpoint: string;
    allowOther?: boolean;
  }): Promise<VolumeInfo> {
    const volume = this.volume(name);
    this.checkNotRestoring(name);
    const already = this.mounts.get(name);
    if (already) {
      throw new BazilError('EBUSY', `volume ${quote(name)} is already mounted at ${quote(already.mount.mountpoint)}`);
    }
    const holds = (dir: string) => {
      for (const [other, m] of this.mounts) {
        if (m.mount.mountpoint === dir)
          throw new BazilError('EBUSY', `${quote(dir)} already holds volume ${quote(other)}; choose another directory`);
      }
    };
    holds(resolve(mountpoint));
    const wanted = resolve(mountpoint);
    const dir = await this.resolveOutsideOwnMounts(
      wanted,
      (owner, at) =>
        `cannot mount volume ${quote(name)} at ${quote(wanted)}: it lies inside volume ${quote(owner)} ` +
        `(mounted at ${quote(at)}); choose a directory outside Bazil's volumes`,
    );
    holds(dir);
    await checkMountpoint(dir);
    const fs = this.volumeFs(volume);
    this.mounting.add(fs);
    try {
      await fs.meta.sweepOrphans();
      const mount = new FuseMount(dir, fs, { allowOther });
      try {
        await mount.mount();
      } catch (error) {
        const message = `could not mount volume ${quote(name)} at ${quote(dir)}: ${(error as Error).message}`;
        // Distributions open /dev/fuse to every user (0666); a machine that keeps it 0600 lets
        // only root mount.
        if (/\/dev\/fuse: Permission denied/.test(message)) {
          throw new BazilError(
            'EACCES',
            `${message}; /dev/fuse must be open to your user (distributions make it mode 0666: chmod 666 /dev/fuse, as root)`,
          );
        }
        throw new BazilError('EINTERNAL', message);
      }
      this.mounts.set(name, { fs, mount });
      mount.onEnded = () => {
        if (this.mounts.get(name)?.mount !== mount) return;
        this.mounts.delete(name);
        void this.volumeList().then((volumes) => this.events.publish({ type: 'volumes', volumes }));
      };
    } finally {
      this.mounting.delete(fs);
    }
    return this.info(volume);
  }

  /** `force` detaches a mount a program still uses, and drops data that could not be stored. */
  async unmount({ name, force = false }: { name: string; force?: boolean }): Promise<void> {
    this.volume(name);
    const mounted = this.mounts.get(name);
    if (!mounted) throw new BazilError('EINVAL', `volume ${quote(name)} is not mounted`);
    try {
      await mounted.mount.unmount({ detachIfBusy: force });
    } catch (error) {
      if (error instanceof UnstoredDataError) throw new BazilError('EIO', error.message);
      if (isBusy(error)) {
        throw new BazilError(
          'EBUSY',
          `volume ${quote(name)} is in use at ${quote(mounted.mount.mountpoint)} (a program has a file or directory open there; \`fuser -vm ${quote(mounted.mount.mountpoint)}\` shows which); close it and try again, or use --force`,
        );
      }
      throw error;
    }
    this.mounts.delete(name);
    await this.store.syncToDisk();
  }

  /** Store size and dirty memory (cheap: for polling); with `space`, a scan of the whole store too. */
  async stats({ space = false }: { space?: boolean } = {}): Promise<StatsResult> {
    const stats: StatsResult = { ...this.store.stats(), dirty: this.budget.stats() };
    if (space) stats.space = await this.spaceScanner.scan();
    return stats;
  }

  /**
   * Stores every dirty file, unmounts every volume, closes the store and frees the data dir. A
   * volume a program still uses is not pulled from under it: the engine keeps running and says
   * which, unless `force`, which detaches such a mount (its programs then get errors).
   */
  async stop({ force = false }: { force?: boolean } = {}): Promise<StopResult> {
    if (this.stopping) return this.stopping;
    const dirty = new Map(this.budget.stats().volumes.map((v) => [v.name, v.dirtyBytes]));
    const unmounted: StopResult['volumes'] = [];
    const busy: string[] = [];
    for (const [name, mounted] of [...this.mounts]) {
      try {
        const { stored } = await mounted.mount.unmount({ detachIfBusy: force });
        this.mounts.delete(name);
        unmounted.push({ name, mountpoint: mounted.mount.mountpoint, dirtyBytes: dirty.get(name) ?? 0, stored });
      } catch (error) {
        if (error instanceof UnstoredDataError) throw new BazilError('EIO', error.message);
        if (!isBusy(error)) throw error;
        busy.push(`${quote(name)} at ${quote(mounted.mount.mountpoint)}`);
      }
    }
    // Everything is stored: a quitting app shows so before the answer.
    this.publishDirtyNow();
    if (busy.length > 0) {
      throw new BazilError(
        'EBUSY',
        `volume ${busy.join(', ')} is in use (a program has a file or directory open there); ` +
          'close it, or stop anyway with: bazil daemon stop --force',
      );
    }
    this.stopping = (async () => {
      clearInterval(this.syncTimer);
      clearInterval(this.scheduleTimer);
      await this.scheduler.idle();
      await this.spaceScanner.stop();
      await this.exports.stop();
      await this.pool.close();
      await this.store.close();
      await unlink(pidPath(this.dataDir)).catch(() => undefined);
      return { volumes: unmounted };
    })();
    return this.stopping;
  }

  /**
   * The real path of a mountpoint (symlinks resolved), found without ever touching a path inside
   * one of this engine's own mounts: mounting there makes the kernel look the path up through a
   * mount that this very process must answer while it waits in mount(2), and the engine (with every
   * volume) hangs for good. Such a mountpoint is refused; so is one reached through a symlink or a
   * bind mount into a volume. Each step is judged from the mount table before it is looked at.
   */
  /**
   * `path` with its symlinks resolved; refused (EINVAL, with `refusal`'s words) when it lies
   * inside one of this engine's mounts.
   */
  private async resolveOutsideOwnMounts(
    path: string,
    refusal: (owner: string, ownerMountpoint: string) => string,
  ): Promise<string> {
    const table = await readMountTable();
    const ownDevices = new Map<string, string>();
    for (const [volumeName, { mount }] of this.mounts) {
      const device = table.find((entry) => entry.mountpoint === mount.mountpoint)?.device;
      if (device) ownDevices.set(device, volumeName);
    }
    const refuseIfOwn = (at: string) => {
      const entry = mountOf(at, table);
      const owner = entry && ownDevices.get(entry.device);
      if (!owner) return;
      throw new BazilError('EINVAL', refusal(owner, this.mounts.get(owner)!.mount.mountpoint));
    };
    let resolved = '/';
    const rest = path.split('/').filter((part) => part !== '');
    for (let links = 0; rest.length > 0;) {
      const part = rest.shift()!;
      if (part === '.') continue;
      if (part === '..') {
        resolved = dirname(resolved);
        continue;
      }
      const next = join(resolved, part);
      refuseIfOwn(next);
      const target = await readlink(next).catch(() => null);
      if (target === null) {
        resolved = next;
        continue;
      }
      if (++links > 40) throw new BazilError('EINVAL', `${quote(path)}: too many levels of symbolic links`);
      if (target.startsWith('/')) resolved = '/';
      rest.unshift(...target.split('/').filter((p) => p !== ''));
    }
    refuseIfOwn(resolved);
    return resolved;
  }

  // ---- snapshots ----

  async snapshotCreate({ volume: volumeName, name }: { volume: string; name?: string }): Promise<SnapshotInfo> {
    const volume = this.volume(volumeName);
    const mounted = this.mounts.get(volumeName);
    const record = await createSnapshot(this.store, volume, {
      name: name ?? null,
      kind: 'manual',
      // What was changed before the call is committed first (a rename, a chmod, a file closed).
      settled: () => mounted?.fs.settled() ?? Promise.resolve(),
    });
    mounted?.fs.snapshotChanged(record.name);
    return snapshotInfo(volumeName, record);
  }

  async snapshotList({
    volume: volumeName,
    uniqueBytes = true,
  }: {
    volume: string;
    uniqueBytes?: boolean;
  }): Promise<SnapshotInfo[]> {
    const volume = this.volume(volumeName);
    let unique: Map<string, number> | null = null;
    if (uniqueBytes) {
      // Files closed before the call count as live.
      await this.mounts.get(volumeName)?.fs.settled();
      unique = await uniqueBytesInThread({ dataDir: this.dataDir, volumeId: volume.id });
    }
    return listSnapshots(this.store, volume.id).map((record) =>
      snapshotInfo(volumeName, record, unique && (unique.get(record.name) ?? 0)),
    );
  }

  async snapshotLs({
    volume: volumeName,
    snapshot,
    path = '/',
  }: {
    volume: string;
    snapshot: string;
    path?: string;
  }): Promise<SnapshotListing> {
    const volume = this.volume(volumeName);
    const record = getSnapshot(this.store, volume.id, volumeName, snapshot);
    const found = entryAt(this.store, record, path);
    const parentPath = found.path === '/' ? '/' : found.path.slice(0, found.path.lastIndexOf('/')) || '/';
    const entry = describeEntry(found.entry, parentPath);
    const entries = found.entry.treeKey
      ? readTree(this.store, found.entry.treeKey).map((child) => describeEntry(child, found.path))
      : [];
    return { entry, entries };
  }

  /** A directory of the live tree (mounted or not): names, kinds, sizes, times. */
  async volumeLs({ volume: volumeName, path = '/' }: { volume: string; path?: string }): Promise<SnapshotListing> {
    const volume = this.volume(volumeName);
    // The metadata in memory where the volume is served (its mount, or a restore into it): what
    // programs see now, changes not yet committed too. Otherwise what is committed.
    const served = this.mounts.get(volumeName)?.fs ?? this.beingMounted(volumeName);
    return listLive(served?.meta ?? new VolumeMeta(this.store, volume), path);
  }

  async snapshotRead(args: {
    volume: string;
    snapshot: string;
    path: string;
    offset: number;
    length: number;
  }): Promise<{ data: string; sizeBytes: number }> {
    const volume = this.volume(args.volume);
    if (args.offset < 0 || args.length < 0 || args.length > SNAPSHOT_READ_MAX_BYTES) {
      throw new BazilError('EINVAL', `snapshotRead: offset must be >= 0 and length 0 to ${SNAPSHOT_READ_MAX_BYTES}`);
    }
    const record = getSnapshot(this.store, volume.id, args.volume, args.snapshot);
    const { entry, path } = entryAt(this.store, record, args.path);
    if (entry.treeKey) throw new BazilError('EISDIR', `${path} in snapshot ${quote(args.snapshot)} is a directory`);
    const bytes = readSnapshotFile(this.store, entry, args.offset, args.length);
    return { data: bytes.toString('base64'), sizeBytes: describeEntry(entry, '/').sizeBytes };
  }

  async snapshotRestore(args: { volume: string; snapshot: string; path: string; as?: string }): Promise<RestoreResult> {
    const volume = this.volume(args.volume);
    const mounted = this.mounts.get(args.volume);
    if (mounted) return restoreSnapshot(this.store, volume, mounted.fs, args);
    // Not mounted: a file system of the volume is made for the restore alone.
    this.checkNotRestoring(args.volume);
    if (this.beingMounted(args.volume)) {
      throw new BazilError('EBUSY', `volume ${quote(args.volume)} is being mounted; try again once it is`);
    }
    this.restoring.add(args.volume);
    const fs = this.volumeFs(volume);
    this.mounting.add(fs);
    try {
      return await restoreSnapshot(this.store, volume, fs, args);
    } finally {
      await fs.settled().catch(() => undefined);
      fs.close();
      this.mounting.delete(fs);
      this.restoring.delete(args.volume);
    }
  }

  async snapshotDiff({
    volume: volumeName,
    from,
    to,
    path = '/',
  }: {
    volume: string;
    from: string;
    to?: string;
    path?: string;
  }): Promise<SnapshotDiff> {
    const volume = this.volume(volumeName);
    const fromDir = entryAt(this.store, getSnapshot(this.store, volume.id, volumeName, from), path);
    let toDir;
    if (to !== undefined) {
      toDir = entryAt(this.store, getSnapshot(this.store, volume.id, volumeName, to), path);
    } else {
      // The live tree as a snapshot would take it now (its changed directories written as trees).
      await this.mounts.get(volumeName)?.fs.settled();
      const { env, dbs } = this.store;
      const { root, rootRecord } = env.transactionSync(() =>
        writeVolumeTree(dbs, volume.id, volumeName, this.store.marks),
      );
      toDir = entryInTree(this.store, treeRoot(rootRecord, root.treeKey), path, `volume ${quote(volumeName)}`);
    }
    if (!fromDir.entry.treeKey || !toDir.entry.treeKey) {
      throw new BazilError('ENOTDIR', `${fromDir.path} is not a directory: a diff compares directories`);
    }
    const changes = diffTrees(this.store, fromDir.entry.treeKey, toDir.entry.treeKey, fromDir.path);
    return { from, to: to ?? null, changes };
  }

  async fileHistory({ volume: volumeName, path }: { volume: string; path: string }): Promise<FileVersion[]> {
    return fileHistory(this.store, this.volume(volumeName).id, volumeName, path);
  }

  async snapshotFind({ volume: volumeName, pattern }: { volume: string; pattern: string }): Promise<FoundEntry[]> {
    return findInSnapshots(this.store, this.volume(volumeName).id, pattern);
  }

  async verify(_args: Record<string, never> = {}, progress?: ProgressSink): Promise<VerifyResult> {
    // What was stored before the call is checked (closed files' records committed first).
    await this.mountsSettled();
    return verifyStore(this.store, progress);
  }

  async snapshotExport(
    args: { volume: string; snapshot: string; path: string; to: string },
    progress?: ProgressSink,
  ): Promise<ExportResult> {
    const volume = this.volume(args.volume);
    if (!isAbsolute(args.to)) throw new BazilError('EINVAL', `--to ${quote(args.to)}: give an absolute path`);
    const record = getSnapshot(this.store, volume.id, args.volume, args.snapshot);
    const { entry } = entryAt(this.store, record, args.path);
    const to = await this.resolveOutsideOwnMounts(
      args.to,
      (owner, at) =>
        `cannot export to ${quote(args.to)}: it lies inside volume ${quote(owner)} (mounted at ${quote(at)}); ` +
        `restore with --as to put a copy inside a volume, or choose a directory outside Bazil's volumes`,
    );
    return this.exports.run(entry, to, progress);
  }

  async gc(_args: Record<string, never> = {}, progress?: ProgressSink): Promise<GcResult> {
    const startMs = performance.now();
    // What was deleted or closed before the call is collected (its records committed first).
    await this.mountsSettled();
    // The packs the chunk workers append to are finished first, so they can be rewritten too.
    await this.pool.finishPacks();
    progress?.({ phase: 'marking', done: 0, total: 0, unit: 'items' });
    const { result } = await this.spaceScanner.collect((plan, announced) =>
      sweep(
        {
          store: this.store,
          holdWorkers: () => this.pool.hold(),
          retirePacks: (packIds) => this.pool.retirePacks(packIds),
          progress,
        },
        plan,
        announced,
      ),
    );
    return { ...result, ms: Math.round(performance.now() - startMs) };
  }

  async snapshotDelete({ volume: volumeName, snapshot }: { volume: string; snapshot: string }): Promise<void> {
    deleteSnapshot(this.store, this.volume(volumeName), snapshot);
    await this.store.syncToDisk();
    this.mounts.get(volumeName)?.fs.snapshotChanged(snapshot);
  }

  async snapshotSchedule(args: { volume: string } & ScheduleOptions): Promise<SnapshotSchedule | null> {
    const volume = this.volume(args.volume);
    const keep: KeepPolicy = {};
    const counts = [
      ['hourly', args.keepHourly],
      ['daily', args.keepDaily],
      ['weekly', args.keepWeekly],
      ['monthly', args.keepMonthly],
      ['yearly', args.keepYearly],
    ] as const;
    for (const [field, count] of counts) {
      if (count === undefined) continue;
      if (count < 0) throw new BazilError('EINVAL', `--keep-${field} needs a count of 0 or more`);
      keep[field] = count;
    }
    const current = getSchedule(this.store, volume);
    if (args.off) {
      if (args.everyMinutes !== undefined || Object.keys(keep).length > 0) {
        throw new BazilError('EINVAL', 'a schedule is turned off, or set: not both at once');
      }
      await setSchedule(this.store, volume, null);
      return null;
    }
    if (args.everyMinutes === undefined && Object.keys(keep).length === 0) return current;
    const everyMinutes = args.everyMinutes ?? current?.everyMinutes;
    if (everyMinutes === undefined) {
      throw new BazilError('EINVAL', `volume ${quote(args.volume)} has no schedule yet: give --every (1h, 30m, 1d...)`);
    }
    if (everyMinutes < 1) throw new BazilError('EINVAL', '--every must be at least 1 minute');
    // A new keep policy replaces the old one; changing only the interval keeps it.
    const policy = Object.keys(keep).length > 0 ? keep : (current?.keep ?? {});
    await setSchedule(this.store, volume, { everyMinutes, keep: policy });
    await this.store.syncToDisk();
    void this.scheduler.tick();
    return getSchedule(this.store, volume);
  }

  /** Resolves once every mounted volume's changes so far are committed. */
  private mountsSettled(): Promise<unknown> {
    return Promise.all([...this.mounts.values()].map(({ fs }) => fs.settled()));
  }

  /** The volume's file system between the start and the end of its mount, or of a restore into it. */
  private beingMounted(name: string): VolumeFs | undefined {
    return [...this.mounting].find((fs) => fs.volumeName === name);
  }

  private checkNotRestoring(name: string): void {
    if (this.restoring.has(name)) {
      throw new BazilError('EBUSY', `a restore into volume ${quote(name)} is running; try again when it ends`);
    }
  }

  /** A file system of the volume, for its mount or a restore into it while it is not mounted. */
  private volumeFs(volume: VolumeRecord): VolumeFs {
    const { store, pool, budget, dataDir } = this;
    return new VolumeFs(volume, {
      store,
      pool,
      budget,
      dataDir,
      reportFailure: this.failures.report,
      // The window and the tray hear of it as of one taken through the API.
      snapshotTaken: (volumeName, name) =>
        this.events.publish({ type: 'snapshot', volume: volumeName, snapshot: name, action: 'created' }),
    });
  }

  private volume(name: string): VolumeRecord {
    const bytes = this.store.dbs.volumes.get(volumeKey(name));
    if (bytes === undefined)
      throw new BazilError('ENOENT', `no volume named ${quote(name)} (bazil volume list shows them)`);
    return this.mounts.get(name)?.fs.meta.volume ?? decodeVolume(bytes);
  }

  private info(volume: VolumeRecord): VolumeInfo {
    return {
      name: volume.name,
      createdAt: formatNs(volume.createdNs),
      mountpoint: this.mounts.get(volume.name)?.mount.mountpoint ?? null,
      showSnap: volume.showSnap,
    };
  }
}

function isBusy(error: unknown): boolean {
  return /busy/i.test((error as Error).message ?? '');
}

/** Refuses a mountpoint a user would not want used; clears a dead mount a crash left there. */
async function checkMountpoint(dir: string): Promise<void> {
  let info;
  try {
    info = await stat(dir);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOTCONN') {
      // A mount whose engine died: clear it, then use the directory as usual.
      await clearDeadMount(dir);
      return checkMountpoint(dir);
    }
    if (code === 'ENOENT')
      throw new BazilError(
        'ENOENT',
        `mountpoint ${quote(dir)} does not exist; create it first (mkdir -p ${quote(dir)})`,
      );
    throw new BazilError('EACCES', `cannot use mountpoint ${quote(dir)}: ${code}`);
  }
  if (!info.isDirectory()) throw new BazilError('ENOTDIR', `mountpoint ${quote(dir)} is not a directory`);
  if (await isMountpoint(dir)) {
    throw new BazilError(
      'EBUSY',
      `${quote(dir)} is already a mountpoint; unmount what is there or choose another directory`,
    );
  }
  const entries = await readdir(dir);
  if (entries.length > 0) {
    throw new BazilError(
      'ENOTEMPTY',
      `mountpoint ${quote(dir)} is not empty; choose an empty directory (nothing in it was touched)`,
    );
  }
}

async function isMountpoint(dir: string): Promise<boolean> {
  return (await readMountTable()).some((entry) => entry.mountpoint === dir);
}
