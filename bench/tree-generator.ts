/**
 * Generates the bench's tree: a home directory's mix of many small files, fewer large ones,
 * directories of every size, symlinks and hard links, all from a seed, so every run and every
 * machine copies the same names, sizes, bytes, modes, times and links.
 *
 * Terms: a *file* is a regular file (one inode, its first name); a *hard link* is a further name of
 * a file; an *entry* is anything `cp -a` creates: a directory, file, hard link or symlink.
 *
 * - Sizes, per file: 30% 1 B–1 KiB, 30% 1–4 KiB, 25% 4–16 KiB (85% under 16 KiB), 11% 16–64 KiB,
 *   4% 64–256 KiB, log-uniform within each band: ~12 KiB on average, ~3 KiB the median.
 * - Directories: each made under one of those made before it, picked at random (a random
 *   recursive tree: most paths 5–10 levels deep). A file goes to directory number
 *   floor(directories × u²) (u uniform in [0, 1)): the oldest directories hold hundreds of files,
 *   most hold a few, as in a home directory.
 * - Bytes: the AES-128-CTR keystream of a key made from the seed, one stream for the whole tree:
 *   incompressible, and no two files share a chunk (a content-addressed store deduplicates).
 * - Symlinks, relative: 80% to a file, 15% to a directory, 5% to nothing (dangling).
 * - Hard links: further names of files picked at random, in directories picked at random.
 * - Names: syllables and a number (unique in their directory), some with a space or non-ASCII
 *   letters. Modes: files 0644, 5% 0755, 2% 0600; directories 0755. Times: each file's and
 *   directory's mtime and atime at a whole millisecond in the three years before 2025-01-01.
 */
import { createCipheriv, createHash } from 'node:crypto';
import { chmod, link, lutimes, mkdir, symlink, utimes, writeFile } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';

export interface TreeShape {
  files: number;
  directories: number;
  symlinks: number;
  hardLinks: number;
  seed: number;
}

export const FULL_TREE: TreeShape = { files: 30_000, directories: 2_000, symlinks: 1_500, hardLinks: 600, seed: 9 };
/** A tenth of the full tree, for --quick. */
export const QUICK_TREE: TreeShape = { files: 3_000, directories: 200, symlinks: 150, hardLinks: 60, seed: 9 };

export interface GeneratedTree {
  shape: TreeShape;
  /** Bytes of all files (each once, whatever its links). */
  fileBytes: number;
  /** Directories (not counting the root), files, hard links and symlinks. */
  entries: number;
  filesUnder16KiB: number;
  medianFileBytes: number;
  mostFilesInOneDirectory: number;
  deepestLevel: number;
}

/** [lowest, highest) bytes, and the share of files in the band. */
const SIZE_BANDS: { lo: number; hi: number; share: number }[] = [
  { lo: 1, hi: 1024, share: 0.3 },
  { lo: 1024, hi: 4 * 1024, share: 0.3 },
  { lo: 4 * 1024, hi: 16 * 1024, share: 0.25 },
  { lo: 16 * 1024, hi: 64 * 1024, share: 0.11 },
  { lo: 64 * 1024, hi: 256 * 1024 + 1, share: 0.04 },
];
const MAX_FILE_BYTES = 256 * 1024;

const SYLLABLES = ['ka', 'lo', 'mi', 'ne', 'su', 'ta', 'ri', 'do', 'fe', 'gu', 'ba', 'zo', 'pe', 'vi', 'chu', 'sha'];
const EXTENSIONS = ['txt', 'md', 'jpg', 'png', 'pdf', 'js', 'ts', 'json', 'c', 'h', 'py', 'conf', 'log', 'html', ''];
const ODD_PARTS = [' copy', ' (2)', ' notes', 'é', 'ü', '日本', 'ø'];
/** 2025-01-01T00:00:00Z, and three years before it, in ms. */
const NEWEST_MS = Date.UTC(2025, 0, 1);
const SPAN_MS = 3 * 365 * 24 * 3600 * 1000;

/** mulberry32: a small, fast PRNG with a 32-bit state; uniform in [0, 1). */
function prng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Writes the tree into `root` (which must not exist). Async throughout, so the bench still
 * answers a signal while it runs.
 */
export async function generateTree(root: string, shape: TreeShape): Promise<GeneratedTree> {
  const random = prng(shape.seed);
  const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)]!;
  const name = (index: number) => {
    let word = '';
    const syllables = 1 + Math.floor(random() * 4);
    for (let i = 0; i < syllables; i++) word += pick(SYLLABLES);
    if (random() < 0.05) word += pick(ODD_PARTS);
    return `${word}-${index}`;
  };
  const time = () => new Date(NEWEST_MS - Math.floor(random() * SPAN_MS));
  const key = createHash('sha256').update(`bazil bench tree ${shape.seed}`).digest().subarray(0, 16);
  const keystream = createCipheriv('aes-128-ctr', key, Buffer.alloc(16));
  const zeros = Buffer.alloc(MAX_FILE_BYTES + 1);

  // Directories: index 0 is the root; each other one under one made before it.
  const directories: { path: string; level: number }[] = [{ path: root, level: 0 }];
  await mkdir(root);
  for (let i = 1; i <= shape.directories; i++) {
    const parent = directories[Math.floor(random() * i)]!;
    const path = join(parent.path, `${name(i)}.d`);
    await mkdir(path);
    await chmod(path, 0o755);
    directories.push({ path, level: parent.level + 1 });
  }

  const files: string[] = [];
  const sizes: number[] = [];
  const filesPerDirectory = new Array<number>(directories.length).fill(0);
  let fileBytes = 0;
  for (let i = 0; i < shape.files; i++) {
    let u = random();
    const band = SIZE_BANDS.find((b) => (u -= b.share) < 0) ?? SIZE_BANDS.at(-1)!;
    const size = Math.min(band.hi - 1, Math.floor(band.lo * (band.hi / band.lo) ** random()));
    const directory = 1 + Math.floor(shape.directories * random() ** 2);
    const extension = pick(EXTENSIONS);
    const path = join(directories[directory]!.path, extension ? `${name(i)}.${extension}` : name(i));
    const roll = random();
    const mode = roll < 0.05 ? 0o755 : roll < 0.07 ? 0o600 : 0o644;
    await writeFile(path, keystream.update(zeros.subarray(0, size)));
    await chmod(path, mode);
    const at = time();
    await utimes(path, at, at);
    files.push(path);
    sizes.push(size);
    filesPerDirectory[directory]!++;
    fileBytes += size;
  }

  for (let i = 0; i < shape.hardLinks; i++) {
    const target = pick(files);
    const directory = directories[1 + Math.floor(random() * shape.directories)]!;
    await link(target, join(directory.path, `${name(i)}.link`));
  }

  for (let i = 0; i < shape.symlinks; i++) {
    const directory = directories[1 + Math.floor(random() * shape.directories)]!;
    const path = join(directory.path, `${name(i)}.sym`);
    const roll = random();
    const target =
      roll < 0.8 ? pick(files) : roll < 0.95 ? pick(directories).path : join(pick(directories).path, 'gone');
    await symlink(relative(dirname(path), target) || '.', path);
    const at = time();
    await lutimes(path, at, at);
  }

  // Last, as every entry made in a directory changes its mtime.
  for (const directory of directories) {
    const at = time();
    await utimes(directory.path, at, at);
  }

  const sorted = [...sizes].sort((a, b) => a - b);
  return {
    shape,
    fileBytes,
    entries: shape.directories + shape.files + shape.hardLinks + shape.symlinks,
    filesUnder16KiB: sizes.filter((s) => s < 16 * 1024).length,
    medianFileBytes: sorted[Math.floor(sorted.length / 2)] ?? 0,
    mostFilesInOneDirectory: Math.max(...filesPerDirectory),
    deepestLevel: Math.max(...directories.map((d) => d.level)),
  };
}
