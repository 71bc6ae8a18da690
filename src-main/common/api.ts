/**
 * The engine's API, declared once: method names, argument and result types, and the validation
 * every transport (control socket now; Electron IPC and the HTTP bridge later) applies to input.
 *
 * Pure code: runs anywhere.
 */
import { BazilError, quote } from './errors.js';

export interface VolumeInfo {
  name: string;
  createdAt: string;
  mountpoint: string | null;
  /** `.snap` is listed in the root directory (it is reached by its path either way). */
  showSnap: boolean;
}

export interface StatsResult {
  storeBytes: number;
  chunkCount: number;
  dirty: {
    capBytes: number;
    totalBytes: number;
    volumes: { name: string; dirtyBytes: number }[];
    files: { volume: string; path: string; dirtyBytes: number }[];
  };
  /** Where the store's space goes: only when asked (`space: true`), as it reads the whole index. */
  space?: SpaceReport;
}

/** Chunks, manifests and snapshot directories (tree objects), and their bytes. */
export interface StoredCounts {
  chunks: number;
  chunkBytes: number;
  manifests: number;
  manifestBytes: number;
  trees: number;
  treeBytes: number;
}

/**
 * Where the store's space goes, from a scan of the whole store (src-main/engine/store/mark.ts has
 * its terms). Bytes are chunk and manifest bytes, and pack file bytes.
 */
export interface SpaceReport {
  /** What live files and snapshots name: committed, or in a mounted volume's memory (written, not closed yet). */
  live: StoredCounts;
  /**
   * Stored but named by no live file and no snapshot: data of deleted or rewritten files, of
   * deleted snapshots, or of a write that a crash cut short. Chunks in packs, and chunks,
   * manifests and tree objects kept in LMDB (freed there for LMDB to reuse: store.mdb does not
   * shrink).
   */
  unreferenced: {
    packedChunks: number;
    packedBytes: number;
    lmdbChunks: number;
    lmdbBytes: number;
    manifests: number;
    manifestBytes: number;
    trees: number;
    treeBytes: number;
  };
  packs: {
    count: number;
    fileBytes: number;
    /** Pack headers and the block padding after live chunks: the format's price while they stay. */
    paddingBytes: number;
    /**
     * Pack bytes that no chunk in the index names: chunks a crash wrote but never recorded, and
     * the headers and padding of what is unreferenced.
     */
    unnamedBytes: number;
  };
  /** Files unlinked while open when an engine ended without closing them: their data is unreferenced. */
  orphanFiles: number;
  /** What garbage collection with compaction could give back: unreferenced bytes and unnamed pack bytes. */
  reclaimableBytes: number;
  /** How long the scan took. */
  scanMs: number;
}

/** What a stop did: each volume it unmounted, with the dirty data it held when the stop began. */
export interface StopResult {
  volumes: {
    name: string;
    mountpoint: string;
    dirtyBytes: number;
    /** False only when a forced stop went on past data that could not be stored (then lost). */
    stored: boolean;
  }[];
}

export interface SnapshotInfo {
  volume: string;
  name: string;
  createdAt: string;
  /** Taken by a schedule, or before a restore replaced something; not by a person. */
  automatic: boolean;
  /** Regular files (a file with several names counts once). */
  files: number;
  /** Their sizes added up: what the snapshot holds before deduplication. */
  logicalBytes: number;
  /**
   * Chunk bytes no other snapshot and no live file names: what deleting this snapshot (then
   * `bazil gc`) gives back. In `snapshotList` only (null elsewhere).
   */
  uniqueBytes: number | null;
}

export interface SnapshotEntry {
  name: string;
  /** From the volume's root: "/" for the root itself. */
  path: string;
  type: 'file' | 'dir' | 'symlink' | 'fifo' | 'socket' | 'char' | 'block';
  /** Permission bits, with setuid, setgid and sticky (mode & 0o7777). */
  mode: number;
  uid: number;
  gid: number;
  /** Its inode number in the volume: names of one file (hard links) share it. */
  ino: number;
  nlink: number;
  sizeBytes: number;
  mtime: string;
  /** The modification time in ns since the epoch, exactly (a decimal string: it exceeds 2^53). */
  mtimeNs: string;
  target?: string;
}

export interface SnapshotListing {
  /** The entry the path names; for a directory, `entries` holds what is in it. */
  entry: SnapshotEntry;
  entries: SnapshotEntry[];
}

export interface RestoreResult {
  /** Where it was restored, from the volume's root. */
  path: string;
  /** Files, directories and links put back. */
  entries: number;
  /** Something had that path, and was replaced. */
  replaced: boolean;
  /** The automatic snapshot that keeps what was replaced (null when nothing was). */
  safetySnapshot: string | null;
}

export interface DiffChange {
  /** From the volume's root. */
  path: string;
  change: 'added' | 'removed' | 'modified' | 'type-changed';
  /** What the path is (in the newer tree; in the older one for a removal). */
  type: SnapshotEntry['type'];
  /** modified: whether the content changed, not only attributes (mode, owner, times, xattrs). */
  content?: boolean;
  /** type-changed: what it was. */
  was?: SnapshotEntry['type'];
}

export interface SnapshotDiff {
  from: string;
  /** A snapshot's name, or null for the live volume. */
  to: string | null;
  changes: DiffChange[];
}

/** One version of a path across a volume's snapshots: the snapshots (oldest first) that hold it. */
export interface FileVersion {
  snapshots: string[];
  /** When the first of them was taken. */
  firstSeen: string;
  type: SnapshotEntry['type'];
  sizeBytes: number;
  mtime: string;
}

/** A match of a search across snapshots. */
export interface FoundEntry {
  snapshot: string;
  path: string;
  type: SnapshotEntry['type'];
  sizeBytes: number;
  mtime: string;
}

/** How many periods of each kind keep their newest scheduled snapshot (restic's forget --keep-*). */
export interface KeepPolicy {
  hourly?: number;
  daily?: number;
  weekly?: number;
  monthly?: number;
  yearly?: number;
}

export interface SnapshotSchedule {
  volume: string;
  everyMinutes: number;
  keep: KeepPolicy;
}

/** A file that a missing or damaged chunk or manifest breaks. */
export interface VerifyProblem {
  volume: string;
  /** Null: the live volume. */
  snapshot: string | null;
  path: string;
  problem: 'missing manifest' | 'missing chunk' | 'damaged chunk';
}

export interface VerifyResult {
  /** Distinct chunks read and hashed. */
  checkedChunks: number;
  checkedBytes: number;
  damaged: VerifyProblem[];
  ms: number;
}

/** How far long work has come (verify, gc, export), sent while it runs. */
export interface JobProgress {
  /** What it is doing now: "checking chunks", "deleting", "copying packs", "writing files". */
  phase: string;
  done: number;
  /** 0 when not known yet. */
  total: number;
  unit: 'bytes' | 'items';
}

/** Hears a method's progress; every transport carries it to the caller that asked. */
export type ProgressSink = (progress: JobProgress) => void;

/** What an export to an ordinary directory wrote (`snapshot restore --to`). */
export interface ExportResult {
  /** Where the exported file or directory is. */
  path: string;
  files: number;
  dirs: number;
  /** Extra names of hard-linked files, made links again. */
  links: number;
  /** Symlinks, FIFOs, sockets and device nodes. */
  others: number;
  bytes: number;
  /** What could not be kept (an owner without root, an extended attribute the disk refuses). */
  problems: string[];
  ms: number;
}

/** What a garbage collection gave back (`bazil gc`). */
export interface GcResult {
  /** Index entries deleted: chunks (in packs and in LMDB), manifests, snapshot directories. */
  deleted: StoredCounts;
  /** Garbage at the mark that a writer named again before it could be deleted: kept. */
  keptNamedAgain: number;
  packs: {
    /** Pack files deleted whole (no live chunk left in them). */
    deleted: number;
    /** Pack files rewritten: their live chunks copied to new packs, then deleted. */
    rewritten: number;
    /** New packs written, and the live bytes copied to them. */
    written: number;
    copiedBytes: number;
    /** Pack file bytes before and after. */
    bytesBefore: number;
    bytesAfter: number;
  };
  /** Disk space the data directory's files take (allocated blocks), before and after. */
  diskBytesBefore: number;
  diskBytesAfter: number;
  ms: number;
}

/** How a schedule is set (`everyMinutes`, keep counts) or turned off (`off`). */
export interface ScheduleOptions {
  everyMinutes?: number;
  keepHourly?: number;
  keepDaily?: number;
  keepWeekly?: number;
  keepMonthly?: number;
  keepYearly?: number;
  off?: boolean;
}

export interface Api {
  volumeCreate(args: { name: string }): Promise<VolumeInfo>;
  volumeList(args: Record<string, never>): Promise<VolumeInfo[]>;
  /** Refused while the volume has snapshots, unless `withSnapshots`. */
  volumeDelete(args: { name: string; withSnapshots?: boolean }): Promise<void>;
  /** Changes a volume's settings: `showSnap` lists `.snap` in its root directory. */
  volumeSet(args: { name: string; showSnap?: boolean }): Promise<VolumeInfo>;
  /** `allowOther`: other users may enter the mount (needs root, or user_allow_other in /etc/fuse.conf). */
  mount(args: { name: string; mountpoint: string; allowOther?: boolean }): Promise<VolumeInfo>;
  unmount(args: { name: string; force?: boolean }): Promise<void>;
  stats(args: { space?: boolean }): Promise<StatsResult>;
  stop(args: { force?: boolean }): Promise<StopResult>;
  /** `name` defaults to the time (local, to the second). */
  snapshotCreate(args: { volume: string; name?: string }): Promise<SnapshotInfo>;
  /** Oldest first. */
  snapshotList(args: { volume: string }): Promise<SnapshotInfo[]>;
  snapshotLs(args: { volume: string; snapshot: string; path?: string }): Promise<SnapshotListing>;
  /** Up to `length` bytes (at most SNAPSHOT_READ_MAX_BYTES) from `offset`, base64; fewer at the end of the file. */
  snapshotRead(args: {
    volume: string;
    snapshot: string;
    path: string;
    offset: number;
    length: number;
  }): Promise<{ data: string; sizeBytes: number }>;
  /** Puts a snapshot's file or directory back at its path, or `as` another; copies no file data. */
  snapshotRestore(args: { volume: string; snapshot: string; path: string; as?: string }): Promise<RestoreResult>;
  /** From snapshot `from` to snapshot `to`, or to the live volume when `to` is left out. */
  snapshotDiff(args: { volume: string; from: string; to?: string }): Promise<SnapshotDiff>;
  /** The distinct versions of a path across the volume's snapshots (by content), oldest first. */
  fileHistory(args: { volume: string; path: string }): Promise<FileVersion[]>;
  /** Entries whose name (or path, with "/") matches a shell pattern, in every snapshot, newest first. */
  snapshotFind(args: { volume: string; pattern: string }): Promise<FoundEntry[]>;
  /** Deletes a snapshot (its space comes back with garbage collection). */
  snapshotDelete(args: { volume: string; snapshot: string }): Promise<void>;
  /**
   * Writes a snapshot's file or directory to an ordinary directory `to` (absolute): as
   * `to`/NAME, or, for the root, into `to` itself (new or empty). Overwrites nothing.
   */
  snapshotExport(
    args: { volume: string; snapshot: string; path: string; to: string },
    progress?: ProgressSink,
  ): Promise<ExportResult>;
  /** Reads every chunk a live file or a snapshot names and checks it; names the files broken. */
  verify(args: Record<string, never>, progress?: ProgressSink): Promise<VerifyResult>;
  /**
   * Deletes what no live file and no snapshot names, and deletes or rewrites the packs that holds
   * mostly; safe while volumes are mounted and written to.
   */
  gc(args: Record<string, never>, progress?: ProgressSink): Promise<GcResult>;
  /**
   * Sets the volume's schedule (`everyMinutes`, with the keep counts), removes it (`off`), or,
   * with neither, returns it (null: none).
   */
  snapshotSchedule(args: { volume: string } & ScheduleOptions): Promise<SnapshotSchedule | null>;
}

/** The most one snapshotRead returns. */
export const SNAPSHOT_READ_MAX_BYTES = 1024 * 1024;

export type MethodName = keyof Api;

/** A field's type; a trailing `?` makes it optional. */
type Field = 'string' | 'string?' | 'boolean?' | 'number' | 'number?';
const METHODS: { [M in MethodName]: Record<string, Field> } = {
  volumeCreate: { name: 'string' },
  volumeList: {},
  volumeDelete: { name: 'string', withSnapshots: 'boolean?' },
  volumeSet: { name: 'string', showSnap: 'boolean?' },
  mount: { name: 'string', mountpoint: 'string', allowOther: 'boolean?' },
  unmount: { name: 'string', force: 'boolean?' },
  stats: { space: 'boolean?' },
  stop: { force: 'boolean?' },
  snapshotCreate: { volume: 'string', name: 'string?' },
  snapshotList: { volume: 'string' },
  snapshotLs: { volume: 'string', snapshot: 'string', path: 'string?' },
  snapshotRead: { volume: 'string', snapshot: 'string', path: 'string', offset: 'number', length: 'number' },
  snapshotRestore: { volume: 'string', snapshot: 'string', path: 'string', as: 'string?' },
  snapshotDiff: { volume: 'string', from: 'string', to: 'string?' },
  fileHistory: { volume: 'string', path: 'string' },
  snapshotFind: { volume: 'string', pattern: 'string' },
  snapshotDelete: { volume: 'string', snapshot: 'string' },
  snapshotExport: { volume: 'string', snapshot: 'string', path: 'string', to: 'string' },
  verify: {},
  gc: {},
  snapshotSchedule: {
    volume: 'string',
    everyMinutes: 'number?',
    keepHourly: 'number?',
    keepDaily: 'number?',
    keepWeekly: 'number?',
    keepMonthly: 'number?',
    keepYearly: 'number?',
    off: 'boolean?',
  },
};

export function isMethodName(name: unknown): name is MethodName {
  return typeof name === 'string' && Object.prototype.hasOwnProperty.call(METHODS, name);
}

/** Checks a call's arguments against the declaration; throws a BazilError naming the bad field. */
export function validateArgs<M extends MethodName>(method: M, args: unknown): Parameters<Api[M]>[0] {
  const shape = METHODS[method];
  if (args === null || typeof args !== 'object' || Array.isArray(args)) {
    throw new BazilError('EINVAL', `${method}: arguments must be an object`);
  }
  const record = args as Record<string, unknown>;
  for (const [field, declared] of Object.entries(shape)) {
    const optional = declared.endsWith('?');
    const type = optional ? declared.slice(0, -1) : declared;
    if (optional && record[field] === undefined) continue;
    if (typeof record[field] !== type || (type === 'number' && !Number.isSafeInteger(record[field]))) {
      throw new BazilError('EINVAL', `${method}: "${field}" must be a ${type === 'number' ? 'whole number' : type}`);
    }
  }
  for (const field of Object.keys(record)) {
    if (!(field in shape)) throw new BazilError('EINVAL', `${method}: unknown argument ${quote(field)}`);
  }
  return record as Parameters<Api[M]>[0];
}

/** Names of volumes and snapshots: what a person would type, safe in a path (`.snap/NAME`) and a menu. */
function checkName(kind: 'volume' | 'snapshot', name: string): void {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(name)) {
    throw new BazilError(
      'EINVAL',
      `invalid ${kind} name ${quote(name)}: use 1 to 64 letters, digits, ".", "_" or "-", starting with a letter or digit`,
    );
  }
}

export const checkVolumeName = (name: string): void => checkName('volume', name);
export const checkSnapshotName = (name: string): void => checkName('snapshot', name);
