/**
 * Bazil's FUSE addon serving the in-memory test file system: ordinary tools (sh, cp, cat, ls, mv,
 * ln, stat, df, mkfifo) and python3 for exact errnos, xattrs, renameat2 flags, lseek and
 * fallocate, all from child processes. Every request travels through the addon's queue, take
 * and replies; the test file system records any reply call that failed.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { py } from '../../helpers/fs-tools.js';
import { mountMemoryFs, type MemoryMount } from '../../helpers/memory-mount.js';

const TIMEOUT = { timeout: 120_000 };

function noReplyErrors(m: MemoryMount): void {
  assert.deepEqual(m.fs.replyErrors, [], 'a reply call failed');
}

test('INIT grants what the mount asked for', TIMEOUT, async (t) => {
  const m = await mountMemoryFs(t);
  const granted = m.fs.granted!;
  assert.equal(granted.protocolMajor, 7);
  assert.ok(granted.protocolMinor >= 31, `protocol 7.${granted.protocolMinor}`);
  assert.equal(granted.readdirplus, true);
  assert.equal(granted.parallelDirops, true);
  assert.equal(granted.writebackCache, false);
  assert.ok(granted.maxWriteBytes >= 128 * 1024, `max write ${granted.maxWriteBytes}`);
  assert.ok(granted.maxReadaheadBytes > 0 && granted.maxReadaheadBytes <= 1 << 20);
  assert.match(
    await m.ok(`grep ' ${m.mnt} ' /proc/self/mountinfo`),
    /fuse\.bazil-test bazil-test:memory .*default_permissions/,
  );
});

test('files, folders and links through cp, cat, ls, mv, ln and stat', TIMEOUT, async (t) => {
  const m = await mountMemoryFs(t);
  const src = `${m.root}/src.bin`;
  await m.ok(`head -c 3000000 /dev/urandom > '${src}' && cp '${src}' big.bin && cmp '${src}' big.bin`);
  assert.equal(m.fs.node('big.bin')!.data.length, 3_000_000);
  await m.ok(`mkdir -p a/b/c && printf 'hello\\n' > a/b/c/hello.txt && cat a/b/c/hello.txt | grep -qx hello`);
  await m.ok('mv a/b/c/hello.txt a/moved.txt && test ! -e a/b/c/hello.txt && mv a/b b2 && test -d b2/c');
  await m.ok('ln a/moved.txt hard.txt && ln -s a/moved.txt soft && test "$(readlink soft)" = a/moved.txt');
  assert.equal(await m.ok('cat soft'), 'hello\n');
  const [hard, moved] = (await m.ok(`stat -c '%i %h %s %F %a' hard.txt a/moved.txt`)).trim().split('\n');
  assert.equal(hard, moved, 'a hard link is the same inode');
  assert.match(hard!, / 2 6 regular file 644$/);
  const listing = await m.ok('ls -l');
  assert.match(listing, /^lrwxrwxrwx 1 \S+ \S+ +11 .* soft -> a\/moved.txt$/m);
  assert.match(listing, /^drwxr-xr-x 3 .* b2$/m);
  await m.ok(`chmod 600 hard.txt && truncate -s 3 hard.txt && touch -d '2001-02-03 04:05:06.123456789' hard.txt`);
  const [mode, size, mtime] = (await m.ok(`stat -c '%a %s %.9Y' a/moved.txt`)).trim().split(' ');
  assert.deepEqual([mode, size], ['600', '3']);
  assert.equal(mtime, (await m.ok(`date -d '2001-02-03 04:05:06.123456789' +%s.%N`)).trim());
  await m.ok('mkfifo pipe && test -p pipe && rm pipe soft && rm -r b2 a hard.txt');
  assert.deepEqual((await m.ok('ls -A')).trim(), 'big.bin');
  assert.match(await m.ok('df -P .'), /bazil-test:memory +4194304 +2097152 +2097152 +50%/);
  noReplyErrors(m);
});

test(
  'errnos, xattrs, rename flags, lseek and fallocate reach the file system and come back exact',
  TIMEOUT,
  async (t) => {
    const m = await mountMemoryFs(t);
    const result = await py<Record<string, string | string[] | number | boolean>>(
      `
    import ctypes, os
    libc = ctypes.CDLL(None, use_errno=True)
    os.chdir(${JSON.stringify(m.mnt)})
    os.mkdir('d'); open('d/f', 'w').write('data')
    r = {}
    r['open missing'] = err(os.open, 'missing', os.O_RDONLY)
    r['mkdir existing'] = err(os.mkdir, 'd')
    r['rmdir non-empty'] = err(os.rmdir, 'd')
    r['unlink a folder'] = err(os.unlink, 'd')
    r['folder under a file'] = err(os.mkdir, 'd/f/x')
    r['exclusive create'] = err(os.open, 'd/f', os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    r['setxattr'] = err(os.setxattr, 'd/f', 'user.colour', b'blue\\x00\\xff')
    r['setxattr create existing'] = err(os.setxattr, 'd/f', 'user.colour', b'x', os.XATTR_CREATE)
    r['setxattr replace missing'] = err(os.setxattr, 'd/f', 'user.size', b'x', os.XATTR_REPLACE)
    r['getxattr'] = list(os.getxattr('d/f', 'user.colour'))
    r['getxattr missing'] = err(os.getxattr, 'd/f', 'user.none')
    buf = ctypes.create_string_buffer(2)
    n = libc.getxattr(b'd/f', b'user.colour', buf, ctypes.c_size_t(2))
    r['getxattr small buffer'] = errno.errorcode[ctypes.get_errno()] if n < 0 else n
    r['getxattr size'] = libc.getxattr(b'd/f', b'user.colour', None, ctypes.c_size_t(0))
    os.setxattr('d/f', 'user.b', b'')
    r['listxattr'] = sorted(os.listxattr('d/f'))
    r['removexattr'] = err(os.removexattr, 'd/f', 'user.b')
    r['removexattr missing'] = err(os.removexattr, 'd/f', 'user.b')
    open('g', 'w').write('gg')
    def renameat2(a, b, flags):
        if libc.renameat2(-100, a, -100, b, flags) != 0:
            return errno.errorcode[ctypes.get_errno()]
        return 'ok'
    r['rename noreplace onto a file'] = renameat2(b'g', b'd/f', 1)
    r['rename exchange'] = renameat2(b'g', b'd/f', 2)
    r['after exchange'] = [open('g').read(), open('d/f').read()]
    fd = os.open('g', os.O_RDWR)
    r['seek data'] = os.lseek(fd, 1, os.SEEK_DATA)
    r['seek hole'] = os.lseek(fd, 1, os.SEEK_HOLE)
    r['seek data past the end'] = err(os.lseek, fd, 10, os.SEEK_DATA)
    os.posix_fallocate(fd, 0, 10000)
    r['size after fallocate'] = os.fstat(fd).st_size
    os.close(fd)
    out(r)
    `,
      m.root,
    );
    assert.deepEqual(result, {
      'open missing': 'ENOENT',
      'mkdir existing': 'EEXIST',
      'rmdir non-empty': 'ENOTEMPTY',
      'unlink a folder': 'EISDIR',
      'folder under a file': 'ENOTDIR',
      'exclusive create': 'EEXIST',
      setxattr: 'ok',
      'setxattr create existing': 'EEXIST',
      'setxattr replace missing': 'ENODATA',
      getxattr: [98, 108, 117, 101, 0, 255],
      'getxattr missing': 'ENODATA',
      'getxattr small buffer': 'ERANGE',
      'getxattr size': 6,
      listxattr: ['user.b', 'user.colour'],
      removexattr: 'ok',
      'removexattr missing': 'ENODATA',
      'rename noreplace onto a file': 'EEXIST',
      'rename exchange': 'ok',
      'after exchange': ['data', 'gg'],
      'seek data': 1,
      'seek hole': 4,
      'seek data past the end': 'ENXIO',
      'size after fallocate': 10000,
    });
    noReplyErrors(m);
  },
);

test('any name but NUL and "/" round-trips: UTF-8 as text, other bytes as escapes', TIMEOUT, async (t) => {
  const m = await mountMemoryFs(t);
  const names = await py<string[]>(
    `
    import os
    os.chdir(${JSON.stringify(m.mnt)})
    names = [b'caf\\xc3\\xa9', b'\\xff\\xfe-latin1', b'mixed-\\xc3\\xa9-\\xe9', b'emoji-\\xf0\\x9f\\x98\\x80', b'\\xed\\xa0\\x80-surrogate-bytes']
    for n in names:
        open(n, 'wb').write(n)
        os.symlink(n, n + b'.link')
    listed = sorted(os.listdir(b'.'))
    assert listed == sorted(names + [n + b'.link' for n in names]), listed
    for n in names:
        assert open(n, 'rb').read() == n
        assert os.readlink(n + b'.link') == n
    out([n.hex() for n in sorted(names)])
    `,
    m.root,
  );
  assert.equal(names.length, 5);
  const root = m.fs.node('')!;
  const stored = [...root.entries!.keys()].filter((n) => !n.endsWith('.link')).sort();
  assert.deepEqual(stored, [
    'caf\u00e9',
    'emoji-\u{1F600}',
    'mixed-\u00e9-\udce9',
    '\udced\udca0\udc80-surrogate-bytes',
    '\udcff\udcfe-latin1',
  ]);
  assert.equal(m.fs.node('mixed-\u00e9-\udce9.link')!.target, 'mixed-\u00e9-\udce9');
  noReplyErrors(m);
});
