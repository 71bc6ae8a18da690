/**
 * The engine's API, declared once with zod schemas: each method's arguments and result, the
 * progress of long work, and the events the engine publishes. The TypeScript types are derived
 * from the schemas, and every transport (control socket, Electron IPC, the HTTP bridge) checks
 * its input against them with `parseCall`.
 *
 * Pure code: runs anywhere (the engine, the CLI, Electron's main process, the renderer).
 */
import { z } from 'zod';
import { BazilError, quote } from './errors.js';

/** A whole number of bytes, items or counts (JSON numbers: exact up to 2^53). */
const count = () => z.int().min(0);

export const VolumeInfo = z.object({
  name: z.string(),
  createdAt: z.string(),
  mountpoint: z.string().nullable(),
  /** `.snap` is listed in the root directory (it is reached by its path either way). */
  showSnap: z.boolean(),
});
export type VolumeInfo = z.infer<typeof VolumeInfo>;

/** Dirty (written, not yet stored) bytes held in memory, against the engine-wide cap. */
export const DirtyState = z.object({
  capBytes: count(),
  totalBytes: count(),
  volumes: z.array(z.object({ name: z.string(), dirtyBytes: count() })),
  files: z.array(z.object({ volume: z.string(), path: z.string(), dirtyBytes: count() })),
});
export type DirtyState = z.infer<typeof DirtyState>;

/** Chunks, manifests and snapshot directories (tree objects), and their bytes. */
export const StoredCounts = z.object({
  chunks: count(),
  chunkBytes: count(),
  manifests: count(),
  manifestBytes: count(),
  trees: count(),
  treeBytes: count(),
});
export type StoredCounts = z.infer<typeof StoredCounts>;

/**
 * Where the store's space goes, from a scan of the whole store (src-main/engine/store/mark.ts has
 * its terms). Bytes are chunk and manifest bytes, and pack file bytes.
 */
export const SpaceReport = z.object({
  /** What live files and snapshots name: committed, or in a mounted volume's memory (written, not closed yet). */
  live: StoredCounts,
  /**
   * Stored but named by no live file and no snapshot: data of deleted or rewritten files, of
   * deleted snapshots, or of a write that a crash cut short. Chunks in packs, and chunks,
   * manifests and tree objects kept in LMDB (freed there for LMDB to reuse: store.mdb does not
   * shrink).
   */
  unreferenced: z.object({
    packedChunks: count(),
    packedBytes: count(),
    lmdbChunks: count(),
    lmdbBytes: count(),
    manifests: count(),
    manifestBytes: count(),
    trees: count(),
    treeBytes: count(),
  }),
  packs: z.object({
    count: count(),
    fileBytes: count(),
    /** Pack headers and the block padding after live chunks: the format's price while they stay. */
    paddingBytes: count(),
    /**
     * Pack bytes that no chunk in the index names: chunks a crash wrote but never recorded, and
     * the headers and padding of what is unreferenced.
     */
    unnamedBytes: count(),
  }),
  /** Files unlinked while open when an engine ended without closing them: their data is unreferenced. */
  orphanFiles: count(),
  /** What garbage collection with compaction could give back: unreferenced bytes and unnamed pack bytes. */
  reclaimableBytes: count(),
  /** How long the scan took. */
  scanMs: z.number(),
});
export type SpaceReport = z.infer<typeof SpaceReport>;

/**
 * The disk reads the mounts' reads made since the engine started: how many, their bytes, and how
 * long at least one was under way. A cold read during which they were under way all the time
 * waited on the disk, and bytes / busyMs is the pace the disk gave.
 */
export const PackReads = z.object({ count: count(), bytes: count(), busyMs: z.number().min(0) });
export type PackReads = z.infer<typeof PackReads>;

export const StatsResult = z.object({
  storeBytes: count(),
  chunkCount: count(),
  dirty: DirtyState,
  packReads: PackReads,
  /** Where the store's space goes: only when asked (`space: true`), as it reads the whole index. */
  space: SpaceReport.optional(),
});
export type StatsResult = z.infer<typeof StatsResult>;

/** What a stop did: each volume it unmounted, with the dirty data it held when the stop began. */
export const StopResult = z.object({
  volumes: z.array(
    z.object({
      name: z.string(),
      mountpoint: z.string(),
      dirtyBytes: count(),
      /** False only when a forced stop went on past data that could not be stored (then lost). */
      stored: z.boolean(),
    }),
  ),
});
export type StopResult = z.infer<typeof StopResult>;

export const SnapshotInfo = z.object({
  volume: z.string(),
  name: z.string(),
  createdAt: z.string(),
  /** Taken by a schedule, or before a restore replaced something; not by a person. */
  automatic: z.boolean(),
  /** Regular files (a file with several names counts once). */
  files: count(),
  /** Their sizes added up: what the snapshot holds before deduplication. */
  logicalBytes: count(),
  /**
   * Chunk bytes no other snapshot and no live file names: what deleting this snapshot (then
   * `bazil gc`) gives back. In `snapshotList` only, unless asked not to (null elsewhere).
   */
  uniqueBytes: count().nullable(),
});
export type SnapshotInfo = z.infer<typeof SnapshotInfo>;

export const EntryType = z.enum(['file', 'dir', 'symlink', 'fifo', 'socket', 'char', 'block']);
export type EntryType = z.infer<typeof EntryType>;

export const SnapshotEntry = z.object({
  name: z.string(),
  /** From the volume's root: "/" for the root itself. */
  path: z.string(),
  type: EntryType,
  /** Permission bits, with setuid, setgid and sticky (mode & 0o7777). */
  mode: count(),
  uid: count(),
  gid: count(),
  /** Its inode number in the volume: names of one file (hard links) share it. */
  ino: count(),
  nlink: count(),
  sizeBytes: count(),
  mtime: z.string(),
  /** The modification time in ns since the epoch, exactly (a decimal string: it exceeds 2^53). */
  mtimeNs: z.string(),
  target: z.string().optional(),
});
export type SnapshotEntry = z.infer<typeof SnapshotEntry>;

/** A directory of a snapshot (snapshotLs) or of the live tree (volumeLs). */
export const SnapshotListing = z.object({
  /** The entry the path names; for a directory, `entries` holds what is in it. */
  entry: SnapshotEntry,
  entries: z.array(SnapshotEntry),
});
export type SnapshotListing = z.infer<typeof SnapshotListing>;

export const RestoreResult = z.object({
  /** Where it was restored, from the volume's root. */
  path: z.string(),
  /** Files, directories and links put back. */
  entries: count(),
  /** Something had that path, and was replaced. */
  replaced: z.boolean(),
  /** The automatic snapshot that keeps what was replaced (null when nothing was). */
  safetySnapshot: z.string().nullable(),
});
export type RestoreResult = z.infer<typeof RestoreResult>;

export const DiffChange = z.object({
  /** From the volume's root. */
  path: z.string(),
  change: z.enum(['added', 'removed', 'modified', 'type-changed']),
  /** What the path is (in the newer tree; in the older one for a removal). */
  type: EntryType,
  /** modified: whether the content changed, not only attributes (mode, owner, times, xattrs). */
  content: z.boolean().optional(),
  /** type-changed: what it was. */
  was: EntryType.optional(),
});
export type DiffChange = z.infer<typeof DiffChange>;

export const SnapshotDiff = z.object({
  from: z.string(),
  /** A snapshot's name, or null for the live volume. */
  to: z.string().nullable(),
  changes: z.array(DiffChange),
});
export type SnapshotDiff = z.infer<typeof SnapshotDiff>;

/** One version of a path across a volume's snapshots: the snapshots (oldest first) that hold it. */
export const FileVersion = z.object({
  snapshots: z.array(z.string()),
  /** When the first of them was taken. */
  firstSeen: z.string(),
  type: EntryType,
  sizeBytes: count(),
  mtime: z.string(),
});
export type FileVersion = z.infer<typeof FileVersion>;

/** A match of a search across snapshots. */
export const FoundEntry = z.object({
  snapshot: z.string(),
  path: z.string(),
  type: EntryType,
  sizeBytes: count(),
  mtime: z.string(),
});
export type FoundEntry = z.infer<typeof FoundEntry>;

/** How many periods of each kind keep their newest scheduled snapshot (restic's forget --keep-*). */
export const KeepPolicy = z.object({
  hourly: count().optional(),
  daily: count().optional(),
  weekly: count().optional(),
  monthly: count().optional(),
  yearly: count().optional(),
});
export type KeepPolicy = z.infer<typeof KeepPolicy>;

export const SnapshotSchedule = z.object({
  volume: z.string(),
  everyMinutes: count(),
  keep: KeepPolicy,
});
export type SnapshotSchedule = z.infer<typeof SnapshotSchedule>;

/** A file that a missing or damaged chunk or manifest breaks. */
export const VerifyProblem = z.object({
  volume: z.string(),
  /** Null: the live volume. */
  snapshot: z.string().nullable(),
  path: z.string(),
  problem: z.enum(['missing manifest', 'missing chunk', 'damaged chunk']),
});
export type VerifyProblem = z.infer<typeof VerifyProblem>;

export const VerifyResult = z.object({
  /** Distinct chunks read and hashed. */
  checkedChunks: count(),
  checkedBytes: count(),
  damaged: z.array(VerifyProblem),
  ms: z.number(),
});
export type VerifyResult = z.infer<typeof VerifyResult>;

/** How far long work has come (verify, gc, export), sent while it runs. */
export const JobProgress = z.object({
  /** What it is doing now: "checking chunks", "deleting", "copying packs", "writing files". */
  phase: z.string(),
  done: z.number().min(0),
  /** 0 when not known yet. */
  total: z.number().min(0),
  unit: z.enum(['bytes', 'items']),
});
export type JobProgress = z.infer<typeof JobProgress>;

/** Hears a method's progress; every transport carries it to the caller that asked. */
export type ProgressSink = (progress: JobProgress) => void;

/** What an export to an ordinary directory wrote (`snapshot restore --to`). */
export const ExportResult = z.object({
  /** Where the exported file or directory is. */
  path: z.string(),
  files: count(),
  dirs: count(),
  /** Extra names of hard-linked files, made links again. */
  links: count(),
  /** Symlinks, FIFOs, sockets and device nodes. */
  others: count(),
  bytes: count(),
  /** What could not be kept (an owner without root, an extended attribute the disk refuses). */
  problems: z.array(z.string()),
  ms: z.number(),
});
export type ExportResult = z.infer<typeof ExportResult>;

/** What a garbage collection gave back (`bazil gc`). */
export const GcResult = z.object({
  /** Index entries deleted: chunks (in packs and in LMDB), manifests, snapshot directories. */
  deleted: StoredCounts,
  /** Garbage at the mark that a writer named again before it could be deleted: kept. */
  keptNamedAgain: count(),
  packs: z.object({
    /** Pack files deleted whole (no live chunk left in them). */
    deleted: count(),
    /** Pack files rewritten: their live chunks copied to new packs, then deleted. */
    rewritten: count(),
    /**
     * Packs to rewrite that the disk had no room for: their dead bytes given back in place
     * (holes), their live chunks left where they are.
     */
    punched: count(),
    /** New packs written, and the live bytes copied to them. */
    written: count(),
    copiedBytes: count(),
    /** Pack file bytes before and after. */
    bytesBefore: count(),
    bytesAfter: count(),
  }),
  /** Disk space the data directory's files take (allocated blocks), before and after. */
  diskBytesBefore: count(),
  diskBytesAfter: count(),
  ms: z.number(),
});
export type GcResult = z.infer<typeof GcResult>;

/** How a schedule is set (`everyMinutes`, keep counts) or turned off (`off`). */
export const ScheduleOptions = z.object({
  everyMinutes: count().optional(),
  keepHourly: count().optional(),
  keepDaily: count().optional(),
  keepWeekly: count().optional(),
  keepMonthly: count().optional(),
  keepYearly: count().optional(),
  off: z.boolean().optional(),
});
export type ScheduleOptions = z.infer<typeof ScheduleOptions>;

/** The most one snapshotRead returns. */
export const SNAPSHOT_READ_MAX_BYTES = 1024 * 1024;

const args = z.strictObject;
const none = z.null();

/**
 * Every method: its arguments (unknown fields refused) and its result. `progress: true` marks
 * long work that reports how far it has come while it runs.
 */
export const API = {
  volumeCreate: { args: args({ name: z.string() }), result: VolumeInfo },
  volumeList: { args: args({}), result: z.array(VolumeInfo) },
  /** Refused while the volume has snapshots, unless `withSnapshots`. */
  volumeDelete: { args: args({ name: z.string(), withSnapshots: z.boolean().optional() }), result: none },
  /** Changes a volume's settings: `showSnap` lists `.snap` in its root directory. */
  volumeSet: { args: args({ name: z.string(), showSnap: z.boolean().optional() }), result: VolumeInfo },
  /** `allowOther`: other users may enter the mount (needs root, or user_allow_other in /etc/fuse.conf). */
  mount: {
    args: args({ name: z.string(), mountpoint: z.string(), allowOther: z.boolean().optional() }),
    result: VolumeInfo,
  },
  unmount: { args: args({ name: z.string(), force: z.boolean().optional() }), result: none },
  stats: { args: args({ space: z.boolean().optional() }), result: StatsResult },
  stop: { args: args({ force: z.boolean().optional() }), result: StopResult },
  /** `name` defaults to the time (local, to the second). */
  snapshotCreate: { args: args({ volume: z.string(), name: z.string().optional() }), result: SnapshotInfo },
  /**
   * Oldest first. `uniqueBytes: false` leaves each snapshot's unique bytes null: working them out
   * reads every snapshot's tree, which a view that only offers names does not need.
   */
  snapshotList: {
    args: args({ volume: z.string(), uniqueBytes: z.boolean().optional() }),
    result: z.array(SnapshotInfo),
  },
  snapshotLs: {
    args: args({ volume: z.string(), snapshot: z.string(), path: z.string().optional() }),
    result: SnapshotListing,
  },
  /**
   * A directory of the volume's live tree (or the entry alone, for anything else), mounted or
   * not: what programs see now when mounted (a file being written with its size so far).
   */
  volumeLs: { args: args({ volume: z.string(), path: z.string().optional() }), result: SnapshotListing },
  /** Up to `length` bytes (at most SNAPSHOT_READ_MAX_BYTES) from `offset`, base64; fewer at the end of the file. */
  snapshotRead: {
    args: args({ volume: z.string(), snapshot: z.string(), path: z.string(), offset: count(), length: count() }),
    result: z.object({ data: z.string(), sizeBytes: count() }),
  },
  /** Puts a snapshot's file or directory back at its path, or `as` another; copies no file data. */
  snapshotRestore: {
    args: args({ volume: z.string(), snapshot: z.string(), path: z.string(), as: z.string().optional() }),
    result: RestoreResult,
  },
  /**
   * From snapshot `from` to snapshot `to`, or to the live volume when `to` is left out; of the
   * directory at `path` only (the whole volume by default).
   */
  snapshotDiff: {
    args: args({ volume: z.string(), from: z.string(), to: z.string().optional(), path: z.string().optional() }),
    result: SnapshotDiff,
  },
  /** The distinct versions of a path across the volume's snapshots (by content), oldest first. */
  fileHistory: { args: args({ volume: z.string(), path: z.string() }), result: z.array(FileVersion) },
  /** Entries whose name (or path, with "/") matches a shell pattern, in every snapshot, newest first. */
  snapshotFind: { args: args({ volume: z.string(), pattern: z.string() }), result: z.array(FoundEntry) },
  /** Deletes a snapshot (its space comes back with garbage collection). */
  snapshotDelete: { args: args({ volume: z.string(), snapshot: z.string() }), result: none },
  /**
   * Writes a snapshot's file or directory to an ordinary directory `to` (absolute): as
   * `to`/NAME, or, for the root, into `to` itself (new or empty). Overwrites nothing.
   */
  snapshotExport: {
    args: args({ volume: z.string(), snapshot: z.string(), path: z.string(), to: z.string() }),
    result: ExportResult,
    progress: true,
  },
  /** Reads every chunk a live file or a snapshot names and checks it; names the files broken. */
  verify: { args: args({}), result: VerifyResult, progress: true },
  /**
   * Deletes what no live file and no snapshot names, and deletes or rewrites the packs that holds
   * mostly; safe while volumes are mounted and written to.
   */
  gc: { args: args({}), result: GcResult, progress: true },
  /**
   * Sets the volume's schedule (`everyMinutes`, with the keep counts), removes it (`off`), or,
   * with neither, returns it (null: none).
   */
  snapshotSchedule: {
    args: args({ volume: z.string(), ...ScheduleOptions.shape }),
    result: SnapshotSchedule.nullable(),
  },
} satisfies Record<string, { args: z.ZodType; result: z.ZodType; progress?: true }>;

export type MethodName = keyof typeof API;
export type ApiArgs<M extends MethodName> = z.input<(typeof API)[M]['args']>;
export type ApiResult<M extends MethodName> = z.output<(typeof API)[M]['result']>;

/** The API as the engine implements it and a client calls it (a void result travels as null). */
export type Api = {
  [M in MethodName]: (
    args: ApiArgs<M>,
    progress?: ProgressSink,
  ) => Promise<ApiResult<M> extends null ? void : ApiResult<M>>;
};

/**
 * What the engine publishes to every transport as it happens: the volumes (after any change to
 * them or their mounts), dirty memory (at most once a second while it changes), snapshots taken,
 * deleted or restored, long work (its progress, then its end), and failures no caller hears of
 * (a scheduled snapshot that failed, data that could not be stored).
 */
export const EngineEvent = z.discriminatedUnion('type', [
  z.object({ type: z.literal('volumes'), volumes: z.array(VolumeInfo) }),
  z.object({ type: z.literal('dirty'), dirty: DirtyState }),
  z.object({
    type: z.literal('snapshot'),
    volume: z.string(),
    snapshot: z.string(),
    action: z.enum(['created', 'deleted', 'restored']),
    /** Taken or pruned by the volume's schedule: no one asked (notified only when it fails). */
    scheduled: z.boolean().optional(),
  }),
  z.object({
    type: z.literal('job'),
    /** The same for every event of one call. */
    jobId: count(),
    method: z.string(),
    state: z.enum(['running', 'done', 'failed']),
    progress: JobProgress.nullable(),
    /** state "failed": what went wrong. */
    message: z.string().optional(),
  }),
  /** Files of a mounted volume were created, deleted, renamed, written or changed (at most twice a second). */
  z.object({ type: z.literal('files'), volume: z.string() }),
  z.object({ type: z.literal('error'), message: z.string() }),
]);
export type EngineEvent = z.infer<typeof EngineEvent>;

/** An API error as it travels: `code` is stable for scripts, `message` says what to do. */
export const ApiError = z.object({ code: z.string(), message: z.string() });
export type ApiError = z.infer<typeof ApiError>;

export function isMethodName(name: unknown): name is MethodName {
  return typeof name === 'string' && Object.prototype.hasOwnProperty.call(API, name);
}

/**
 * Checks a call (a method name and its arguments, as any transport received them) against the
 * declaration; throws a BazilError (EINVAL) that names the bad field.
 */
export function parseCall(method: unknown, args: unknown): { method: MethodName; args: unknown } {
  if (typeof method !== 'string') throw new BazilError('EINVAL', 'a request needs a "method" string');
  if (!isMethodName(method)) throw new BazilError('EINVAL', `unknown method ${quote(method)}`);
  if (args === null || typeof args !== 'object' || Array.isArray(args)) {
    throw new BazilError('EINVAL', `${method}: arguments must be an object`);
  }
  const parsed = API[method].args.safeParse(args);
  if (!parsed.success) throw new BazilError('EINVAL', `${method}: ${describeIssue(parsed.error.issues[0]!, args)}`);
  return { method, args: parsed.data };
}

function describeIssue(issue: z.core.$ZodIssue, args: object): string {
  const field = quote(issue.path.join('.'));
  const given = issue.path.reduce<unknown>((value, key) => (value as Record<PropertyKey, unknown>)?.[key], args);
  if (issue.code === 'unrecognized_keys') return `unknown argument ${quote(issue.keys[0]!)}`;
  if (issue.code === 'invalid_type') {
    if (given === undefined) return `${field} is missing`;
    const expected = issue.expected === 'int' || issue.expected === 'number' ? 'a whole number' : `a ${issue.expected}`;
    return `${field} must be ${expected}`;
  }
  if (issue.code === 'too_small' || issue.code === 'too_big') return `${field} must be a whole number, 0 or more`;
  return `${field}: ${issue.message}`;
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
