/**
 * The store: one LMDB environment holding metadata and the chunk index in named databases, and
 * pack files (`packs/` beside it) holding the bytes of the chunks that chunk workers store. A
 * small file's one chunk (at most the minimum chunk size) is kept in LMDB itself, committed with
 * its inode.
 *
 * Durability: the environment is opened with `noSync`, so a commit reaches the OS (and survives a
 * crash of the engine process) but not necessarily the disk. Pack bytes are written with direct
 * I/O before their index entries are committed. `syncToDisk` is called where the file system
 * promises durability (fsync, unmount, engine stop) and on a timer, the way ext4 commits its
 * journal every few seconds: it syncs the packs written since the last time, records how much of
 * each is on the disk, then syncs the environment. After a crash that lost the page cache (power),
 * index entries may name pack bytes that never reached the disk: opening the store checks every
 * chunk past a pack's recorded synced length against its key and drops the entries that fail.
 * Measured on the build machine: 1 GiB of 256 KiB LMDB puts ran at ~230 MB/s with a sync per
 * commit, ~940 MB/s with noSync.
 */
import { open, type Database, type RootDatabase } from 'lmdb';
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, statSync, statfsSync } from 'node:fs';
import type { PackReads } from '../../common/api.js';
import { FsError, quote } from '../../common/errors.js';
import { open as openDir } from 'node:fs/promises';
import { join } from 'node:path';
import {
  FORMAT_VERSION,
  UPGRADABLE_FORMAT_VERSIONS,
  asBuffer,
  META_FORMAT_KEY,
  META_NEXT_PACK_ID_KEY,
  decodeManifestBlob,
  decodePackLocation,
  decodePackRecord,
  decodeU32,
  encodeManifest,
  encodeManifestTree,
  encodePackRecord,
  packFileName,
  packIdOfFileName,
  packIdOfKey,
  packKey,
  EMPTY_VALUE,
  parentsKeyOfDirent,
  splitManifest,
  MANIFEST_LIST_MAX_ENTRIES,
  type ManifestChild,
  type PackLocation,
  encodeU32,
  type ChunkRef,
} from './format.js';
import { PackFile } from './pack-file.js';
import { ChunkCache } from './chunk-cache.js';
import { MarkFeed, type PackAtMark } from './mark.js';

const BACKGROUND_SYNC_BYTES = 64 * 1024 * 1024;
/** A write that fails with less free space than this on the store's disk failed for want of space. */
const DISK_FULL_BELOW_BYTES = 16 * 1024 * 1024;
/** Pack files a thread keeps open for reading. */
const OPEN_PACKS_MAX = 64;

export type BinaryDb = Database<Buffer, Buffer>;

export interface StoreDbs {
  /** Chunks kept in LMDB: key to bytes (small files; every chunk of a format 1 store). */
  chunks: BinaryDb;
  /** Chunks kept in packs: key to pack location. */
  packedChunks: BinaryDb;
  /** Pack id to how much of the pack is known to be on the disk. */
  packs: BinaryDb;
  manifests: BinaryDb;
  volumes: BinaryDb;
  inodes: BinaryDb;
  dirents: BinaryDb;
  orphans: BinaryDb;
  /** Snapshot tree objects (format 4): key to one directory's entries. */
  trees: BinaryDb;
  /** Snapshot records (format 4): volume id and name to the snapshot. */
  snapshots: BinaryDb;
  /** The names of each inode (format 4): `dirents` by child, to find a changed inode's directories. */
  parents: BinaryDb;
  /** Per directory, its tree object while nothing under it changed (format 4). */
  treeCache: BinaryDb;
  /** Per volume, its snapshot schedule and keep policy (format 4). */
  schedules: BinaryDb;
  meta: BinaryDb;
}

const DB_NAMES: Record<keyof StoreDbs, string> = {
  chunks: 'chunks',
  packedChunks: 'packed-chunks',
  packs: 'packs',
  manifests: 'manifests',
  volumes: 'volumes',
  inodes: 'inodes',
  dirents: 'dirents',
  orphans: 'orphans',
  trees: 'trees',
  snapshots: 'snapshots',
  parents: 'parents',
  treeCache: 'tree-cache',
  schedules: 'schedules',
  meta: 'meta',
};

export const packsDirOf = (dataDir: string) => join(dataDir, 'packs');

/**
 * Opens the environment's databases; used by the engine and by each chunk worker thread, and
 * read-only by a space scan's thread (the engine has created every database by then).
 */
export function openStoreDbs(dir: string, { readOnly = false } = {}): { env: RootDatabase; dbs: StoreDbs } {
  // Private to the user: the store holds file content as it is.
  if (!readOnly) mkdirSync(packsDirOf(dir), { recursive: true, mode: 0o700 });
  // The mode of store.mdb and store.mdb-lock: lmdb-js passes it to mdb_env_open, but its type
  // definitions lack it.
  const permissions = { permissionsMode: 0o600 } as object;
  const env = open({
    path: join(dir, 'store.mdb'),
    ...permissions,
    noSync: true,
    readOnly,
    // Up to 1 TiB of address space; the file grows as needed.
    mapSize: 2 ** 40,
    maxDbs: 16,
    encoding: 'binary',
    keyEncoding: 'binary',
    compression: false,
  });
  const dbs = {} as StoreDbs;
  for (const [field, name] of Object.entries(DB_NAMES) as [keyof StoreDbs, string][]) {
    dbs[field] = env.openDB({
      name,
      encoding: 'binary',
      keyEncoding: 'binary',
      compression: false,
    }) as unknown as BinaryDb;
  }
  return { env, dbs };
}

/** Whether the store has a chunk (in a pack or in LMDB). */
export function hasChunk(dbs: StoreDbs, key: Uint8Array): boolean {
  const k = asBuffer(key);
  return dbs.packedChunks.doesExist(k) || dbs.chunks.doesExist(k);
}

/** Where a chunk is: its bytes (a copy) when kept in LMDB, its pack location, or undefined. */
export function locateChunk(
  dbs: StoreDbs,
  key: Uint8Array,
): { bytes: Buffer; location?: undefined } | { location: PackLocation; bytes?: undefined } | undefined {
  const k = asBuffer(key);
  const packed = dbs.packedChunks.getBinary(k);
  if (packed !== undefined) return { location: decodePackLocation(packed) };
  const bytes = dbs.chunks.getBinary(k);
  return bytes === undefined ? undefined : { bytes: bytes as Buffer };
}

/** A new pack id, from the counter in `meta` (one transaction, whichever thread asks). */
export function newPackId(env: RootDatabase, dbs: StoreDbs): number {
  return env.transactionSync(() => {
    const stored = dbs.meta.get(META_NEXT_PACK_ID_KEY);
    const packId = stored === undefined ? 1 : decodeU32(stored);
    dbs.meta.putSync(META_NEXT_PACK_ID_KEY, encodeU32(packId + 1));
    return packId;
  });
}

/** Pack files open for reading in one thread, the most recently used kept. */
export class PackReaders {
  private readonly open = new Map<number, PackFile>();

  constructor(
    private readonly packsDir: string,
    private readonly direct: boolean,
  ) {}

  get(packId: number): PackFile {
    let pack = this.open.get(packId);
    if (pack) {
      // Most recently used last.
      this.open.delete(packId);
    } else {
      pack = PackFile.openForReading(join(this.packsDir, packFileName(packId)), { direct: this.direct });
      if (this.open.size >= OPEN_PACKS_MAX) {
        const [oldestId, oldest] = this.open.entries().next().value as [number, PackFile];
        this.open.delete(oldestId);
        void oldest.close();
      }
    }
    this.open.set(packId, pack);
    return pack;
  }

  /** Closes these packs, if open (a collection deletes their files). */
  async close(packIds: readonly number[]): Promise<void> {
    const packs: PackFile[] = [];
    for (const packId of packIds) {
      const pack = this.open.get(packId);
      if (!pack) continue;
      this.open.delete(packId);
      packs.push(pack);
    }
    await Promise.all(packs.map((pack) => pack.close()));
  }

  async closeAll(): Promise<void> {
    const packs = [...this.open.values()];
    this.open.clear();
    await Promise.all(packs.map((pack) => pack.close()));
  }
}

/** Makes the names in a directory durable (a new file's, a deleted one's). */
export async function syncDir(path: string): Promise<void> {
  const dir = await openDir(path, 'r');
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
}

/** Whether an error says the disk (or LMDB's map) is full, in any of the ways LMDB and Node say it. */
export function isNoSpace(error: unknown): boolean {
  const message = error instanceof Error ? error.message : String(error);
  return (error as NodeJS.ErrnoException)?.code === 'ENOSPC' || /ENOSPC|No space left|MDB_MAP_FULL/i.test(message);
}

/** The error for data the store should hold and does not (the store has lost it). */
export function missingFromStore(what: 'chunk' | 'manifest', key: Uint8Array): Error {
  return new Error(`${what} ${asBuffer(key).toString('hex')} is missing from the store`);
}

/** The error for a chunk whose pack file ends before the chunk does. */
export function cutShortInPack(key: Uint8Array | string, packId: number): Error {
  const hex = typeof key === 'string' ? key : asBuffer(key).toString('hex');
  return new Error(`chunk ${hex} is cut short in pack ${packFileName(packId)}`);
}

/**
 * A chunk's bytes, read synchronously (a copy), or undefined when the store has no such chunk.
 * `readers` must be buffered (any range). For rechunking and checks; the mount reads through
 * ChunkCache.
 */
export function readChunkSync(dbs: StoreDbs, readers: PackReaders, key: Uint8Array): Buffer | undefined {
  const found = locateChunk(dbs, key);
  if (!found) return undefined;
  if (found.bytes) return found.bytes;
  const { packId, offset, sizeBytes } = found.location;
  const bytes = Buffer.allocUnsafe(sizeBytes);
  const n = readers.get(packId).readSync(bytes, 0, sizeBytes, offset);
  if (n !== sizeBytes) {
    throw cutShortInPack(key, packId);
  }
  return bytes;
}

/** The key of a chunk: the SHA-256 of its bytes. */
export function chunkKeyOf(bytes: Uint8Array): Buffer {
  return createHash('sha256').update(bytes).digest();
}

function getCopy(db: BinaryDb, key: Uint8Array): Buffer | undefined {
  const found = db.getBinary(asBuffer(key));
  return found === undefined ? undefined : (found as Buffer);
}

/**
 * Stores a file's manifest, once, under the SHA-256 of its encoding; resolves with its key when
 * committed. A long one is stored as a tree (see format.ts), whose unchanged children are shared
 * with the file's earlier versions. `named` hears of each blob's key as it is found stored or
 * put, in the same turn as the look-up (a collection must not delete one found a moment ago).
 */
export async function putManifest(
  dbs: StoreDbs,
  chunks: readonly ChunkRef[],
  named: (key: Buffer) => void = () => undefined,
): Promise<Buffer> {
  const putBlob = async (bytes: Buffer): Promise<Buffer> => {
    const key = chunkKeyOf(bytes);
    const stored = dbs.manifests.doesExist(key);
    named(key);
    if (!stored) await dbs.manifests.put(key, bytes);
    return key;
  };
  if (chunks.length <= MANIFEST_LIST_MAX_ENTRIES) return putBlob(encodeManifest(chunks));
  const bytesOf = (entries: readonly { sizeBytes: number }[]) => entries.reduce((n, e) => n + e.sizeBytes, 0);
  let level: ManifestChild[] = await Promise.all(
    splitManifest(chunks).map(async (group) => ({
      key: await putBlob(encodeManifest(group)),
      sizeBytes: bytesOf(group),
    })),
  );
  while (level.length > MANIFEST_LIST_MAX_ENTRIES) {
    level = await Promise.all(
      splitManifest(level).map(async (group) => ({
        key: await putBlob(encodeManifestTree(group)),
        sizeBytes: bytesOf(group),
      })),
    );
  }
  return putBlob(encodeManifestTree(level));
}

export class Store {
  readonly env: RootDatabase;
  readonly dbs: StoreDbs;
  readonly path: string;
  readonly packsDir: string;
  /** Reads of packed chunks for the mount. */
  readonly cache: ChunkCache;
  /**
   * Set by the engine: the packs the chunk workers are writing now. Their bytes may be named by
   * committed index entries before the worker's answer arrives (another file's flush can find a
   * chunk there), so every sync covers them.
   */
  packsInProgress: () => readonly number[] = () => [];
  /** What opening found: chunks checked past their pack's synced length, and those dropped. */
  readonly openCheck = { checkedChunks: 0, droppedChunks: 0 };
  /** Keys named while a mark runs (see mark.ts). */
  readonly marks = new MarkFeed();
  /** Manifest puts not yet committed. */
  private readonly manifestPuts = new Set<Promise<void>>();
  private syncing: Promise<void> | null = null;
  private unsyncedBytes = 0;
  /** Direct readers: for the cache, and for syncing packs (any descriptor syncs the file). */
  private readonly readers: PackReaders;
  private bufferedReaders: PackReaders | null = null;
  /** Bytes of each pack file, for stats. */
  private readonly packBytes = new Map<number, number>();
  /** Packs written to since the last sync. */
  private readonly unsyncedPacks = new Set<number>();
  /** Packs whose name in the packs folder is on the disk. */
  private readonly packsNamedOnDisk = new Set<number>();

  constructor(readonly dir: string) {
    this.path = join(dir, 'store.mdb');
    this.packsDir = packsDirOf(dir);
    const { env, dbs } = openStoreDbs(dir);
    this.env = env;
    this.dbs = dbs;
    const format = dbs.meta.get(META_FORMAT_KEY);
    const version = format === undefined ? null : decodeU32(format);
    if (version === null || UPGRADABLE_FORMAT_VERSIONS.includes(version)) {
      env.transactionSync(() => {
        // Format 4 finds the directories of a changed inode through `parents`: built once here.
        if (version !== null && version < 4) {
          for (const { key, value } of dbs.dirents.getRange({})) {
            dbs.parents.putSync(parentsKeyOfDirent(key, value), EMPTY_VALUE);
          }
        }
        dbs.meta.putSync(META_FORMAT_KEY, encodeU32(FORMAT_VERSION));
      });
    } else if (version !== FORMAT_VERSION) {
      throw new Error(
        `the store at ${this.path} has format ${version}; this Bazil reads format ${FORMAT_VERSION}: upgrade Bazil`,
      );
    }
    this.readers = new PackReaders(this.packsDir, true);
    this.cache = new ChunkCache(dbs, this.readers);
    this.openPacks();
  }

  /**
   * Finds the pack files, makes sure no pack id is handed out twice, and checks the chunks of each
   * pack past its recorded synced length (a crash can leave index entries naming bytes that never
   * reached the disk): entries whose bytes do not hash to their key are dropped.
   */
  private openPacks(): void {
    let maxId = 0;
    for (const name of readdirSync(this.packsDir)) {
      const packId = packIdOfFileName(name);
      if (packId === null) continue;
      this.packBytes.set(packId, statSync(join(this.packsDir, name)).size);
      this.packsNamedOnDisk.add(packId);
      maxId = Math.max(maxId, packId);
    }
    const stored = this.dbs.meta.get(META_NEXT_PACK_ID_KEY);
    if (stored === undefined || decodeU32(stored) <= maxId) {
      this.dbs.meta.putSync(META_NEXT_PACK_ID_KEY, encodeU32(maxId + 1));
    }
    const syncedBytes = new Map<number, number>();
    for (const { key, value } of this.dbs.packs.getRange({})) {
      syncedBytes.set(packIdOfKey(key), decodePackRecord(value).syncedBytes);
    }
    const suspect = new Map<number, number>();
    for (const [packId, sizeBytes] of this.packBytes) {
      const synced = syncedBytes.get(packId) ?? 0;
      if (sizeBytes > synced) suspect.set(packId, synced);
    }
    if (suspect.size === 0) return;
    const readers = new PackReaders(this.packsDir, false);
    const bad: Buffer[] = [];
    let checked = 0;
    for (const { key, value } of this.dbs.packedChunks.getRange({})) {
      const location = decodePackLocation(value);
      const synced = suspect.get(location.packId);
      if (synced === undefined || location.offset + location.sizeBytes <= synced) continue;
      checked++;
      let bytes: Buffer | undefined;
      try {
        bytes = readChunkSync(this.dbs, readers, key);
      } catch {
        bytes = undefined; // cut short: the pack ends before it
      }
      if (!bytes || !chunkKeyOf(bytes).equals(key)) bad.push(Buffer.from(key));
    }
    void readers.closeAll();
    this.openCheck.checkedChunks = checked;
    this.openCheck.droppedChunks = bad.length;
    this.env.transactionSync(() => {
      for (const key of bad) this.dbs.packedChunks.removeSync(key);
      for (const packId of suspect.keys()) {
        this.dbs.packs.putSync(packKey(packId), encodePackRecord(this.packBytes.get(packId)!));
      }
    });
    for (const packId of suspect.keys()) this.unsyncedPacks.add(packId);
    if (bad.length > 0) {
      console.error(
        `bazil: ${bad.length} of ${checked} chunks written just before a crash were not on the disk ` +
          "(power loss?) and were dropped; files written then and not fsync'd may read with errors (EIO)",
      );
    }
  }

  /** A chunk's bytes (a copy), read synchronously; undefined when the store has no such chunk. */
  readChunk(key: Uint8Array): Buffer | undefined {
    this.bufferedReaders ??= new PackReaders(this.packsDir, false);
    return readChunkSync(this.dbs, this.bufferedReaders, key);
  }

  /**
   * Stores a file's manifest (see putManifest) for the engine's thread; resolves with its key once
   * committed. A mark learns each key as the put looks it up, and waits for the puts in flight
   * when it takes its snapshot (one begun before the mark did announced to no one).
   */
  putManifest(chunks: readonly ChunkRef[]): Promise<Buffer> {
    const put = putManifest(this.dbs, chunks, (key) => this.marks.announce(key));
    const settled = put.then(
      () => undefined,
      () => undefined,
    );
    this.manifestPuts.add(settled);
    void settled.then(() => this.manifestPuts.delete(settled));
    return put;
  }

  /** Resolves when the manifest puts in flight now have settled. */
  manifestPutsSettled(): Promise<void> {
    return Promise.all([...this.manifestPuts]).then(() => undefined);
  }

  /**
   * The packs this engine knows of, for a mark: every one is finished but those in `inProgress`
   * (packs chunk workers are writing), which count up to the length the engine has heard of.
   */
  packsAtMark(inProgress: readonly number[]): PackAtMark[] {
    const writing = new Set(inProgress);
    return [...this.packBytes].map(([packId, endBytes]) => ({
      packId,
      endBytes: writing.has(packId) ? endBytes : null,
    }));
  }

  /**
   * A chunk worker ended (it failed) while writing this pack: nothing will be appended to it, and
   * every byte of it now counts (index entries it committed are synced with the others).
   */
  notePackAbandoned(packId: number): void {
    try {
      this.packBytes.set(packId, statSync(join(this.packsDir, packFileName(packId))).size);
    } catch {
      return; // never created
    }
    this.unsyncedPacks.add(packId);
  }

  /** Bytes of every pack file the engine knows of. */
  packFileBytes(): number {
    let total = 0;
    for (const sizeBytes of this.packBytes.values()) total += sizeBytes;
    return total;
  }

  /**
   * A collection moved the chunks of `retired` packs into `written` ones (id to length, synced and
   * named on the disk) and committed the index: this thread's readers close the old packs,
   * waiting for reads in flight, before their files are deleted.
   */
  async replacePacks(retired: readonly number[], written: ReadonlyMap<number, number>): Promise<void> {
    for (const packId of retired) {
      this.packBytes.delete(packId);
      this.unsyncedPacks.delete(packId);
      this.packsNamedOnDisk.delete(packId);
    }
    for (const [packId, sizeBytes] of written) {
      this.packBytes.set(packId, sizeBytes);
      this.packsNamedOnDisk.add(packId);
    }
    await this.readers.close(retired);
    await this.bufferedReaders?.close(retired);
  }

  /** A file's chunks, from its manifest (a list, or a tree of lists). */
  getManifest(key: Uint8Array): ChunkRef[] {
    const bytes = getCopy(this.dbs.manifests, key);
    if (bytes === undefined) throw missingFromStore('manifest', key);
    const blob = decodeManifestBlob(bytes);
    if (blob.kind === 'list') return blob.chunks;
    return blob.children.flatMap((child) => this.getManifest(child.key));
  }

  /**
   * A chunk worker stored new chunks: `newBytes` of them, in these packs (each written up to
   * `endBytes`). Past BACKGROUND_SYNC_BYTES since the last sync, a sync starts in the background,
   * which keeps the part of the store that a crash could leave unchecked small.
   */
  notePacksWritten(packs: readonly { packId: number; endBytes: number }[], newBytes: number): void {
    for (const { packId, endBytes } of packs) {
      this.packBytes.set(packId, Math.max(this.packBytes.get(packId) ?? 0, endBytes));
      this.unsyncedPacks.add(packId);
    }
    this.unsyncedBytes += newBytes;
    if (this.unsyncedBytes >= BACKGROUND_SYNC_BYTES && !this.syncing) {
      this.syncToDisk().catch((error: unknown) => console.error('bazil: background sync failed:', error));
    }
  }

  /**
   * Makes every commit so far durable: the packs written since the last sync (their bytes, their
   * size and, for new ones, their name), then how much of each is on the disk, then the
   * environment.
   */
  async syncToDisk(): Promise<void> {
    // Commits queued before this call must be in the file before it is synced.
    await this.dbs.meta.committed;
    this.unsyncedBytes = 0;
    const packIds = new Set([...this.unsyncedPacks, ...this.packsInProgress()]);
    this.unsyncedPacks.clear();
    const run = (async () => {
      const synced = await Promise.all(
        [...packIds].map(async (packId) => {
          const pack = this.readers.get(packId);
          // Writes that completed before this are in the size, and the datasync covers them.
          const sizeBytes = pack.sizeBytes;
          await pack.datasync();
          return { packId, sizeBytes };
        }),
      );
      if (synced.some(({ packId }) => !this.packsNamedOnDisk.has(packId))) {
        await syncDir(this.packsDir);
        for (const { packId } of synced) this.packsNamedOnDisk.add(packId);
      }
      await Promise.all(
        synced.map(({ packId, sizeBytes }) => this.dbs.packs.put(packKey(packId), encodePackRecord(sizeBytes))),
      );
      await new Promise<void>((resolve, reject) => {
        // `sync` is in lmdb-js (open.js) but missing from its type definitions.
        (this.env as unknown as { sync(cb: (error: unknown) => void): void }).sync((error) =>
          error ? reject(error as Error) : resolve(),
        );
      });
    })();
    this.syncing = run;
    try {
      await run;
    } catch (error) {
      // Synced again next time.
      for (const packId of packIds) this.unsyncedPacks.add(packId);
      throw error;
    } finally {
      if (this.syncing === run) this.syncing = null;
    }
  }

  /**
   * A failed write's error as a program should see it: ENOSPC when the store's disk is full,
   * whatever LMDB said. (LMDB turns a short write, which is what a nearly full disk gives, into
   * EIO.)
   */
  explainWriteFailure(cause: unknown): Error {
    const error = cause instanceof Error ? cause : new Error(String(cause));
    if (error instanceof FsError) return error;
    if (isNoSpace(error) || this.freeBytes() < DISK_FULL_BELOW_BYTES) {
      return new FsError('ENOSPC', `no space left on the disk of the store ${quote(this.dir)} (${error.message})`);
    }
    return error;
  }

  /** Bytes the engine can still write on the store's disk (root may use the blocks kept for it). */
  private freeBytes(): number {
    try {
      const disk = statfsSync(this.dir);
      return (process.geteuid?.() === 0 ? disk.bfree : disk.bavail) * disk.bsize;
    } catch {
      return Infinity;
    }
  }

  stats(): { storeBytes: number; chunkCount: number; packReads: PackReads } {
    let storeBytes = 0;
    try {
      storeBytes = statSync(this.path).size;
    } catch {
      // not created yet
    }
    storeBytes += this.packFileBytes();
    const entries = (db: BinaryDb) => (db.getStats() as { entryCount?: number }).entryCount ?? 0;
    return {
      storeBytes,
      chunkCount: entries(this.dbs.chunks) + entries(this.dbs.packedChunks),
      packReads: this.cache.packReads(),
    };
  }

  async close(): Promise<void> {
    this.cache.close();
    await this.syncToDisk();
    await this.readers.closeAll();
    await this.bufferedReaders?.closeAll();
    await this.env.close();
  }
}
