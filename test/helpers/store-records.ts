/** Records for tests that write a store directly: a file's inode naming a manifest. */
import { encodeInode } from '../../src-main/engine/store/format.js';

export function fileInodeRecord(ino: number, manifestKey: Uint8Array | null): Buffer {
  return encodeInode({
    ino,
    mode: 0o100644,
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
