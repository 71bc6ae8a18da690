/** What the kernel says of a mount (/proc/self/mountinfo): its type, source and options. */
import { readFile } from 'node:fs/promises';

export interface MountInfo {
  fsType: string;
  source: string;
  /** Per-mount options (rw, nosuid, relatime, ...). */
  options: string;
  /** The file system's own options: for FUSE, what the kernel was told at mount time. */
  superOptions: string;
}

/** mountinfo escapes space, tab, newline and backslash as octal. */
const unescape = (field: string) =>
  field.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)));

/** The mount at `mountpoint` (the last one, if several are stacked), or null if none. */
export async function mountInfo(mountpoint: string): Promise<MountInfo | null> {
  let found: MountInfo | null = null;
  for (const line of (await readFile('/proc/self/mountinfo', 'utf8')).split('\n')) {
    const fields = line.split(' ');
    if (fields.length < 10 || unescape(fields[4]!) !== mountpoint) continue;
    const separator = fields.indexOf('-', 6);
    found = {
      fsType: fields[separator + 1] ?? '',
      source: unescape(fields[separator + 2] ?? ''),
      options: fields[5] ?? '',
      superOptions: fields[separator + 3] ?? '',
    };
  }
  return found;
}
