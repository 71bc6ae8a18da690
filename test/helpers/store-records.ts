/** Records for tests that write a store directly: a file's inode naming a manifest, a directory's. */
import { encodeInode } from '../../src-main/engine/store/format.js';

function inodeRecord(ino: number, mode: number, manifestKey: Uint8Array | null): Buffer {
  return encodeInode({
    ino,
    mode,
    uid: 0,
    gid: 0,
    nlink: 1,
    sizeBytes: 0,
    atimeNs: 0n,
    mtimeNs: 0n,
    ctimeNs: 0n,
    manifestKey,
    symlinkTarget: null,
    rdev: 0,
    xattrs: new Map([['user.k', Buffer.from('v')]]),
  });
}

export const fileInodeRecord = (ino: number, manifestKey: Uint8Array | null): Buffer =>
  inodeRecord(ino, 0o100644, manifestKey);

export const dirInodeRecord = (ino: number): Buffer => inodeRecord(ino, 0o040755, null);
