/**
 * Everyday tools on a real Bazil mount: cp -a, diff -r, sha256sum, mv, ln, readlink, mkdir -p,
 * tar, rsync, touch -d, cp -p, chmod, chown, xattrs and df. Each result is compared with the same
 * tree on the local disk, including modes, link counts and times to the nanosecond.
 *
 * The mount is driven only from child processes (sh, coreutils, tar, rsync, python3).
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { EngineHarness, ok, sh } from '../helpers/engine-harness.js';
import { epochOf, needsRoot, py, q, stat, uniqueName } from '../helpers/fs-tools.js';

let harness: EngineHarness;
let mnt: string;
/** A tree on the local disk with the kinds of entries a home directory holds. */
let tree: string;
let local: string;
/** docs/hello.txt's mtime in the tree (local time, as a user types it). */
const HELLO_MTIME = '2001-02-03 04:05:06.123456789';

before(async () => {
  harness = await EngineHarness.create();
  await harness.start();
  mnt = await harness.volume('everyday');
  local = await harness.dir('local');
  tree = join(local, 'tree');
  await ok(
    [
      `mkdir -p tree/docs/deep/deeper tree/bin tree/empty-dir tree/private`,
      `cd tree`,
      `printf 'hello\\n' > docs/hello.txt`,
      `: > docs/empty`,
      `head -c 300000 /dev/urandom > docs/deep/random.bin`,
      `head -c 1500000 /dev/urandom > docs/deep/deeper/big.bin`,
      `printf '#!/bin/sh\\necho hi\\n' > bin/script && chmod 755 bin/script`,
      `printf 'secret\\n' > private/key && chmod 600 private/key && chmod 700 private`,
      `chmod 751 docs/deep`,
      `ln docs/hello.txt docs/hello-hardlink.txt`,
      `ln -s hello.txt docs/hello-link`,
      `ln -s ../docs/deep/random.bin bin/random-link`,
      `ln -s does-not-exist docs/dangling`,
      `printf 'x' > 'docs/name with spaces & quotes'"'"'s'`,
      `printf 'y' > docs/été.txt`,
      `touch -d ${q(HELLO_MTIME)} docs/hello.txt`,
      `touch -d '1999-12-31 23:59:59.999999999' docs/deep/random.bin`,
      `touch -h -d '2010-10-10 10:10:10.5' docs/hello-link`,
      `touch -d '2005-05-05 05:05:05.000000001' docs/deep/deeper docs/deep empty-dir`,
      // No entry keeps a time from this second: rsync skips setting a directory's or symlink's
      // time when the copy's falls in the same second as the source's (the test then flaked).
      `touch -h -d '2004-04-04 04:04:04.4' bin/random-link docs/dangling`,
      `touch -d '2006-06-06 06:06:06.6' bin docs private`,
    ].join(' && '),
    local,
  );
});

after(async () => {
  await harness?.stop();
});

/**
 * Name, type, mode, size of files, link count and mtime (ns) of every entry below `dir`, from the
 * file system itself (stat --cached=never: the kernel caches each hard link's attributes apart,
 * see fs-posix.test.ts), and the target of each symlink.
 */
async function listing(dir: string, { mtimes = true } = {}): Promise<string> {
  const format = `%n|%F|%a|%h|${mtimes ? '%.9Y' : ''}|%N`;
  const lines = await ok(
    `find . -mindepth 1 -print0 | sort -z | xargs -0 stat --cached=never -c ${q(format)}` +
      ` && find . -type f -print0 | sort -z | xargs -0 sha256sum`,
    dir,
  );
  return lines;
}

/** Names grouped by inode number: which entries are hard links of each other. */
async function linkGroups(dir: string): Promise<string[]> {
  const lines = (await ok(`find . -type f -printf '%i %p\\n' | sort -k2`, dir)).trim().split('\n');
  const byIno = new Map<string, string[]>();
  for (const line of lines) {
    const [ino, path] = [line.slice(0, line.indexOf(' ')), line.slice(line.indexOf(' ') + 1)];
    byIno.set(ino, [...(byIno.get(ino) ?? []), path]);
  }
  return [...byIno.values()]
    .filter((names) => names.length > 1)
    .map((names) => names.sort().join(' = '))
    .sort();
}

async function scratch(prefix: string): Promise<string> {
  const dir = join(mnt, uniqueName(prefix));
  await ok(`mkdir ${q(dir)}`);
  return dir;
}

test('cp -a of a tree into the mount and back out keeps content, symlinks, hard links, modes and times', async () => {
  const dir = await scratch('cp-a');
  const copy = join(dir, 'tree');
  await ok(`cp -a ${q(tree)} ${q(copy)}`);
  await ok(`diff -r --no-dereference ${q(tree)} ${q(copy)}`);
  const source = await listing(tree);
  assert.equal(await listing(copy), source);
  assert.deepEqual(await linkGroups(copy), ['./docs/hello-hardlink.txt = ./docs/hello.txt']);
  assert.equal(await ok(`readlink ${q(join(copy, 'bin/random-link'))}`), '../docs/deep/random.bin\n');
  assert.equal(await ok(`sh ${q(join(copy, 'bin/script'))}`), 'hi\n');

  const back = join(local, uniqueName('cp-back'));
  await ok(`cp -a ${q(copy)} ${q(back)}`);
  await ok(`diff -r --no-dereference ${q(tree)} ${q(back)}`);
  assert.equal(await listing(back), source);
  assert.deepEqual(await linkGroups(back), ['./docs/hello-hardlink.txt = ./docs/hello.txt']);
});

test('mv, ln, ln -s and readlink', async () => {
  const dir = await scratch('names');
  await ok(
    [
      `mkdir a b`,
      `echo one > a/f`,
      `mv a/f a/g`,
      `mv a/g b/`,
      `ln b/g b/hard`,
      `ln -s ../b/g a/sym`,
      `ln -s /absolute/elsewhere a/abs`,
      `mv b c`,
      `echo two > c/new && mv -f c/new c/hard`,
    ].join(' && '),
    dir,
  );
  assert.equal(await ok(`ls a c`, dir), 'a:\nabs\nsym\n\nc:\ng\nhard\n');
  assert.equal(await ok(`readlink a/sym a/abs`, dir), '../b/g\n/absolute/elsewhere\n');
  assert.equal((await sh(`cat a/sym`, dir)).code, 1, 'the link dangles after mv b c');
  await ok(`ln -sfn ../c/g a/sym`, dir);
  assert.equal(await ok(`readlink a/sym && cat a/sym && readlink -f a/sym`, dir), `../c/g\none\n${dir}/c/g\n`);
  assert.equal(await ok(`cat c/hard`, dir), 'two\n', 'mv -f replaced the hard link with the new file');
  assert.deepEqual(await stat('%h', ['c/g', 'c/hard'], { fresh: true, cwd: dir }), ['1', '1']);
  assert.equal(await ok(`stat -c %F a/sym`, dir), 'symbolic link\n');
  await ok(`mv a/sym a/sym2 && mv c/g . && rm -r a c`, dir);
  assert.equal(await ok(`ls -A`, dir), 'g\n');
});

test('mkdir -p and rmdir -p', async () => {
  const dir = await scratch('mkdir-p');
  await ok(`mkdir -p x/y/z/w && mkdir -p x/y/z/w && mkdir -p x/y2`, dir);
  assert.equal(await ok(`find x | sort`, dir), 'x\nx/y\nx/y/z\nx/y/z/w\nx/y2\n');
  assert.equal((await sh(`rmdir x`, dir)).code, 1, 'rmdir of a non-empty directory fails');
  await ok(`rmdir -p x/y/z/w 2>/dev/null || true`, dir); // stops at x, which still holds y2
  assert.equal(await ok(`find x | sort`, dir), 'x\nx/y2\n');
  await ok(`rmdir x/y2 x`, dir);
  assert.equal(await ok(`ls -A`, dir), '');
});

test('tar c of a tree into the mount, tar x out of it and back in keeps content and times', async () => {
  const dir = await scratch('tar');
  const source = await listing(tree);
  // POSIX (pax) archives carry times to the nanosecond, and `tar x` sets each mtime.
  const tarOpts = '--format=posix';
  await ok(`mkdir in && tar ${tarOpts} -C ${q(tree)} -cf - . | tar -C in -xpf -`, dir);
  assert.equal(await listing(join(dir, 'in')), source);
  assert.deepEqual(await linkGroups(join(dir, 'in')), ['./docs/hello-hardlink.txt = ./docs/hello.txt']);

  const out = join(local, uniqueName('tar-out'));
  await ok(`mkdir ${q(out)} && tar ${tarOpts} -C in -cf - . | tar -C ${q(out)} -xpf -`, dir);
  assert.equal(await listing(out), source);

  await ok(`mkdir again && tar ${tarOpts} -C ${q(out)} -cf - . | tar -C again -xpf -`, dir);
  assert.equal(await listing(join(dir, 'again')), source);

  // An archive file stored in the mount, listed and extracted from there.
  await ok(`tar ${tarOpts} -C ${q(tree)} -czf tree.tgz . && mkdir fromfile && tar -C fromfile -xzpf tree.tgz`, dir);
  assert.equal(await listing(join(dir, 'fromfile')), source);
  assert.match(
    await ok(`tar -tzvf tree.tgz`, dir),
    /docs\/hello(-hardlink)?\.txt link to \.\/docs\/hello(-hardlink)?\.txt/,
  );
});

test('rsync -a into the mount and back out keeps content and mtimes', async (t) => {
  if ((await sh('command -v rsync')).code !== 0) {
    t.skip('rsync is not installed (apt-get install -y rsync)');
    return;
  }
  const dir = await scratch('rsync');
  const source = await listing(tree);
  await ok(`rsync -aH ${q(tree)}/ in/`, dir);
  assert.equal(await listing(join(dir, 'in')), source);
  assert.deepEqual(await linkGroups(join(dir, 'in')), ['./docs/hello-hardlink.txt = ./docs/hello.txt']);
  // A second run finds nothing to do: sizes and mtimes match.
  const again = await ok(`rsync -aH --itemize-changes ${q(tree)}/ in/`, dir);
  assert.equal(again, '');
  // rsync -t alone (no -a) still sets mtimes.
  await ok(`rsync -rt ${q(tree)}/docs/ t-only/`, dir);
  assert.equal(await ok(`stat -c %.9Y t-only/hello.txt`, dir), `${await epochOf(HELLO_MTIME)}\n`);
  const out = join(local, uniqueName('rsync-out'));
  await ok(`rsync -aH in/ ${q(out)}/`, dir);
  assert.equal(await listing(out), source);
});

test('touch -d and cp -p keep mtimes to the nanosecond', async () => {
  const dir = await scratch('times');
  // Dates in local time, as a user types them; each expected time is computed in the same zone.
  const leapDay = '2020-02-29 12:34:56.987654321';
  const mtime = '2021-01-01 00:00:00.000000007';
  const atime = '1990-01-01 00:00:00.5';
  const [leapDayS, mtimeS, atimeS] = await Promise.all([leapDay, mtime, atime].map(epochOf));
  await ok(`echo x > f && touch -d ${q(leapDay)} f`, dir);
  assert.deepEqual(await stat('%.9Y %.9X', ['f'], { cwd: dir }), [`${leapDayS} ${leapDayS}`]);
  // touch -m and touch -a change one time only (UTIME_OMIT for the other).
  await ok(`touch -m -d ${q(mtime)} f && touch -a -d ${q(atime)} f`, dir);
  assert.deepEqual(await stat('%.9Y %.9X', ['f'], { cwd: dir }), [`${mtimeS} ${atimeS}`]);
  // Times before 1970 too, the same as on the local disk.
  const old = join(local, uniqueName('old'));
  await ok(`touch -d '1960-06-15 00:00:00.25' old ${q(old)}`, dir);
  assert.equal(await ok(`stat -c %.9Y old`, dir), await ok(`stat -c %.9Y ${q(old)}`));
  await ok(`cp -p f g`, dir);
  assert.equal(await ok(`stat -c %.9Y g`, dir), `${mtimeS}\n`);
  const out = join(local, uniqueName('cp-p'));
  await ok(`cp -p f ${q(out)}`, dir);
  assert.equal(await ok(`stat -c %.9Y ${q(out)}`), `${mtimeS}\n`);
  await ok(`cp -p ${q(out)} h`, dir);
  assert.equal(await ok(`stat -c %.9Y h`, dir), `${mtimeS}\n`);
  // touch with no date sets the current time.
  const before = Date.now() / 1000;
  await ok(`touch f`, dir);
  const now = Number(await ok(`stat -c %.9Y f`, dir));
  assert.ok(Math.abs(now - before) < 60, `touch set mtime to now (${now} vs ${before})`);
});

test('chmod and chown are visible in stat', needsRoot('give files to other users'), async () => {
  const dir = await scratch('perm');
  await ok(`echo x > f && mkdir d && ln -s f l`, dir);
  await ok(`chmod 4751 f && chmod 2700 d`, dir);
  assert.deepEqual(await stat('%a %A', ['f', 'd'], { cwd: dir }), ['4751 -rwsr-x--x', '2700 drwx--S---']);
  await ok(`chmod u-s,g+w f && chmod o+t d`, dir);
  assert.deepEqual(await stat('%a', ['f', 'd'], { cwd: dir }), ['771', '3700']);
  await ok(`chown 1000:2000 f && chown :3000 d && chown 4000 d`, dir);
  assert.deepEqual(await stat('%u:%g', ['f', 'd'], { cwd: dir }), ['1000:2000', '4000:3000']);
  await ok(`chown -h 5000:6000 l`, dir);
  assert.deepEqual(await stat('%u:%g %F', ['l', 'f'], { cwd: dir }), [
    '5000:6000 symbolic link',
    '1000:2000 regular file',
  ]);
  assert.match(await ok(`ls -ln f`, dir), /^-rwxrwx--x 1 1000 2000 /);
  // A new file takes the creating process's umask into account.
  await ok(`umask 027 && echo y > masked && mkdir masked-dir`, dir);
  assert.deepEqual(await stat('%a', ['masked', 'masked-dir'], { cwd: dir }), ['640', '750']);
});

test('extended attributes: set, get, list and remove, with Linux errors', async () => {
  const dir = await scratch('xattr');
  const result = await py<Record<string, unknown>>(
    `
    import struct, subprocess
    open('f', 'w').close()
    os.mkdir('d')
    big = bytes(range(256)) * 16
    os.setxattr('f', 'user.name', b'value')
    os.setxattr('f', 'user.binary', big)
    os.setxattr('f', 'user.empty', b'')
    os.setxattr('d', 'user.on-dir', b'dir value')
    got = [os.getxattr('f', 'user.name').decode(), os.getxattr('f', 'user.binary') == big,
           os.getxattr('f', 'user.empty').decode(), os.getxattr('d', 'user.on-dir').decode()]
    listed = sorted(os.listxattr('f'))
    create_existing = err(os.setxattr, 'f', 'user.name', b'x', os.XATTR_CREATE)
    replace_missing = err(os.setxattr, 'f', 'user.missing', b'x', os.XATTR_REPLACE)
    os.setxattr('f', 'user.name', b'replaced', os.XATTR_REPLACE)
    os.setxattr('f', 'user.new', b'created', os.XATTR_CREATE)
    get_missing = err(os.getxattr, 'f', 'user.missing')
    os.removexattr('f', 'user.binary')
    remove_missing = err(os.removexattr, 'f', 'user.binary')
    # POSIX ACLs are not kept, but one that says no more than a mode (u::rw-, g::r--, o::---, as
    # cp -a sets through libacl) sets that mode, as on ext4; the next stat sees it at once.
    def acl(*entries):
        return struct.pack('<I', 2) + b''.join(struct.pack('<HHI', tag, perm, who) for tag, perm, who in entries)
    any_id = 0xffffffff
    mode_acl = acl((1, 6, any_id), (4, 4, any_id), (0x20, 0, any_id))
    mode_before_acl = oct(os.stat('f').st_mode & 0o777)
    os.setxattr('f', 'system.posix_acl_access', mode_acl)
    mode_after_acl = oct(os.stat('f').st_mode & 0o777)
    # The kernel checks modes itself, from what it cached: a program it ran a moment ago cannot
    # be run once an ACL took its x bits (not even by root).
    with open('run-me', 'w') as script:
        script.write('#!/bin/sh\\necho ran\\n')
    os.chmod('run-me', 0o755)
    ran_before = subprocess.run(['./run-me'], capture_output=True).stdout.decode()
    os.setxattr('run-me', 'system.posix_acl_access', acl((1, 6, any_id), (4, 4, any_id), (0x20, 4, any_id)))
    run_after = err(subprocess.run, ['./run-me'], capture_output=True)
    # Anything more (a named user, a mask), or a default ACL, is refused as on a file system
    # without ACLs, and changes nothing.
    named_acl = acl((1, 7, any_id), (2, 7, 1234), (4, 5, any_id), (0x10, 7, any_id), (0x20, 5, any_id))
    acl_refused = [err(os.setxattr, 'f', 'system.posix_acl_access', named_acl),
                   err(os.setxattr, 'd', 'system.posix_acl_default', mode_acl),
                   err(os.getxattr, 'f', 'system.posix_acl_access')]
    out({
      'got': got,
      'listed': listed,
      'createExisting': create_existing,
      'replaceMissing': replace_missing,
      'getMissing': get_missing,
      'removeMissing': remove_missing,
      'after': sorted(os.listxattr('f')),
      'replaced': os.getxattr('f', 'user.name').decode(),
      'aclModes': [mode_before_acl, mode_after_acl],
      'aclExec': [ran_before, run_after],
      'aclRefused': acl_refused,
      'mode': oct(os.stat('f').st_mode & 0o777),
      'listDir': os.listxattr('d'),
    })
    `,
    dir,
  );
  assert.deepEqual(result, {
    got: ['value', true, '', 'dir value'],
    listed: ['user.binary', 'user.empty', 'user.name'],
    createExisting: 'EEXIST',
    replaceMissing: 'ENODATA',
    getMissing: 'ENODATA',
    removeMissing: 'ENODATA',
    after: ['user.empty', 'user.name', 'user.new'],
    replaced: 'replaced',
    aclModes: ['0o644', '0o640'],
    aclExec: ['ran\n', 'EACCES'],
    // ENOTSUP is EOPNOTSUPP (95) on Linux; the ACL that set the mode is not kept (ENODATA).
    aclRefused: ['ENOTSUP', 'ENOTSUP', 'ENODATA'],
    mode: '0o640',
    listDir: ['user.on-dir'],
  });
  // The attributes go with the file through a rename and stay after it is closed and reopened.
  await ok(`mv f g`, dir);
  assert.equal(await py(`out(os.getxattr('g', 'user.new').decode())`, dir), 'created');
});

test('df of the mount shows real figures', async () => {
  const [size, used, avail, target] = (await ok(`df -B1 --output=size,used,avail,target ${q(mnt)} | tail -1`))
    .trim()
    .split(/\s+/);
  assert.equal(target, mnt);
  assert.ok(Number(size) > 0, `size ${size}`);
  assert.ok(Number(avail) > 0 && Number(avail) <= Number(size), `avail ${avail} of ${size}`);
  assert.ok(Number(used) >= 0 && Number(used) <= Number(size), `used ${used} of ${size}`);
  const [inodes, free] = (await ok(`df --output=itotal,iavail ${q(mnt)} | tail -1`)).trim().split(/\s+/);
  assert.ok(Number(inodes) > 0 && Number(free) > 0, `inodes ${inodes}, free ${free}`);
  assert.equal(await ok(`stat -f -c %l ${q(mnt)}`), '255\n', 'the longest name is 255 bytes');
});
