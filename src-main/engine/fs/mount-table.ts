/**
 * The system's mount table, read from /proc/self/mountinfo: where each mount is, its device
 * number and its type. Reading it never touches a mount, so the engine can ask about paths under
 * its own mounts without waiting on itself.
 */
import { readFile } from 'node:fs/promises';

export interface MountEntry {
  /** Absolute path of the mountpoint. */
  mountpoint: string;
  /** "major:minor"; for a FUSE mount, the minor names its connection in /sys/fs/fuse/connections. */
  device: string;
  /** "ext4", "fuse.bazil", ... */
  fsType: string;
  /** What was mounted ("bazil:photos" for a Bazil volume). */
  source: string;
}

export async function readMountTable(): Promise<MountEntry[]> {
  const text = await readFile('/proc/self/mountinfo', 'utf8');
  const entries: MountEntry[] = [];
  for (const line of text.split('\n')) {
    // ID PARENT MAJOR:MINOR ROOT MOUNTPOINT OPTIONS [OPTIONAL...] - FSTYPE SOURCE SUPER_OPTIONS
    const fields = line.split(' ');
    const dash = fields.indexOf('-', 6);
    if (fields.length < 7 || dash < 0) continue;
    entries.push({
      mountpoint: unescapeMountPath(fields[4]!),
      device: fields[2]!,
      fsType: fields[dash + 1] ?? '',
      source: unescapeMountPath(fields[dash + 2] ?? ''),
    });
  }
  return entries;
}

/**
 * The mount a path lies in: the entry whose mountpoint is the path or its nearest parent (the
 * latest mounted when several are stacked there). `path` must be absolute and normalised.
 */
export function mountOf(path: string, table: readonly MountEntry[]): MountEntry | null {
  let found: MountEntry | null = null;
  for (const entry of table) {
    const { mountpoint } = entry;
    const inside = path === mountpoint || mountpoint === '/' || path.startsWith(`${mountpoint}/`);
    if (inside && (!found || mountpoint.length >= found.mountpoint.length)) found = entry;
  }
  return found;
}

/** mountinfo writes space, tab, newline and backslash in paths as octal escapes. */
function unescapeMountPath(path: string): string {
  return path.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(Number.parseInt(octal, 8)));
}
