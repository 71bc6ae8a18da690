/**
 * Snapshots as a user takes and reads them with the `bazil` command, on a mounted volume that
 * programs keep using: what a snapshot holds, whatever happens to the live files afterwards.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { SnapshotInfo, SnapshotListing } from '../../src-main/common/api.js';
import { EngineHarness, assertRefused, bazil, bazilOk, ok, sh } from '../helpers/engine-harness.js';
import { py, q, uniqueName } from '../helpers/fs-tools.js';
import { waitFor } from '../helpers/wait-for.js';

let h: EngineHarness;
let mnt: string;
const VOLUME = 'snaps';

before(async () => {
  h = await EngineHarness.create();
  // A small dirty cap: files of a few MiB are stored early, before they are closed.
  await h.start(['--dirty-cap-mib', '8']);
  mnt = await h.volume(VOLUME);
});

after(async () => {
  await h.stop({ force: true });
});

const cli = (...args: string[]) => bazilOk(h.dataDir, ...args);

/** `bazil snapshot cat` as bytes (the CLI writes them raw to stdout). */
async function cat(snapshot: string, path: string): Promise<Buffer> {
  const { BAZIL_BIN } = await import('../helpers/engine-harness.js');
  const child = spawn(process.execPath, [
    BAZIL_BIN,
    '--data-dir',
    h.dataDir,
    'snapshot',
    'cat',
    VOLUME,
    snapshot,
    path,
  ]);
  const parts: Buffer[] = [];
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => parts.push(d));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
  assert.equal(code, 0, stderr);
  return Buffer.concat(parts);
}

const sha = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');
const ls = async (snapshot: string, path: string) =>
  JSON.parse(await cli('snapshot', 'ls', VOLUME, snapshot, path, '--json')) as SnapshotListing;

test('a snapshot keeps the tree as it was: content, modes, owners, ns times, symlinks, FIFOs, holes, hard links', async () => {
  const dir = uniqueName('tree');
  await ok(
    [
      `cd ${q(mnt)} && mkdir -p ${dir}/sub/deeper && cd ${dir}`,
      `printf 'version one\\n' > notes.txt`,
      `head -c 3000000 /dev/urandom > sub/photo.raw`,
      `: > empty`,
      `ln notes.txt notes-link.txt`,
      `ln -s sub/photo.raw shortcut`,
      `mkfifo pipe`,
      `chmod 640 notes.txt && chmod 2750 sub`,
      `touch -d '2001-02-03 04:05:06.123456789' notes.txt`,
      `truncate -s 5000000 sub/deeper/sparse`,
    ].join(' && '),
  );
  const photoBefore = (await ok(`sha256sum < ${q(join(mnt, dir, 'sub/photo.raw'))}`)).split(' ')[0];
  const notesMtimeNs = (await ok(`stat -c '%.9Y' ${q(join(mnt, dir, 'notes.txt'))}`)).trim().replace('.', '');

  const created = await cli('snapshot', 'create', VOLUME, 'before-edit');
  assert.match(created, /took snapshot "before-edit" of volume "snaps"/);

  // Everything changes afterwards, in the live volume.
  await ok(
    [
      `cd ${q(join(mnt, dir))}`,
      `printf 'version two, longer\\n' > notes.txt`,
      `rm sub/photo.raw shortcut pipe`,
      `chmod 755 sub`,
      `rm -r sub/deeper`,
    ].join(' && '),
  );

  const root = await ls('before-edit', `/${dir}`);
  assert.equal(root.entry.type, 'dir');
  const byName = new Map(root.entries.map((e) => [e.name, e]));
  assert.deepEqual([...byName.keys()], ['empty', 'notes-link.txt', 'notes.txt', 'pipe', 'shortcut', 'sub']);
  const notes = byName.get('notes.txt')!;
  assert.equal(notes.mode, 0o640);
  assert.equal(notes.mtimeNs, notesMtimeNs, 'times to the nanosecond');
  assert.equal(notes.uid, process.getuid!());
  assert.equal(notes.nlink, 2);
  assert.equal(byName.get('notes-link.txt')!.ino, notes.ino, 'hard links stay one file');
  assert.equal(byName.get('shortcut')!.type, 'symlink');
  assert.equal(byName.get('shortcut')!.target, 'sub/photo.raw');
  assert.equal(byName.get('pipe')!.type, 'fifo');
  assert.equal(byName.get('empty')!.sizeBytes, 0);
  const sub = await ls('before-edit', `/${dir}/sub`);
  assert.equal(sub.entry.mode, 0o2750);
  assert.deepEqual(
    sub.entries.map((e) => [e.name, e.type, e.sizeBytes]),
    [
      ['deeper', 'dir', 0],
      ['photo.raw', 'file', 3_000_000],
    ],
  );

  assert.equal((await cat('before-edit', `/${dir}/notes.txt`)).toString(), 'version one\n');
  assert.equal((await cat('before-edit', `${dir}/notes-link.txt`)).toString(), 'version one\n');
  assert.equal(sha(await cat('before-edit', `/${dir}/sub/photo.raw`)), photoBefore);
  const sparse = await cat('before-edit', `/${dir}/sub/deeper/sparse`);
  assert.equal(sparse.length, 5_000_000);
  assert.ok(sparse.every((b) => b === 0));
  assert.equal(await ok(`cat ${q(join(mnt, dir, 'notes.txt'))}`), 'version two, longer\n', 'the live file moved on');

  const list = JSON.parse(await cli('snapshot', 'list', VOLUME, '--json')) as SnapshotInfo[];
  const info = list.find((s) => s.name === 'before-edit')!;
  assert.ok(info.files >= 5, `files counted per name: ${info.files}`);
  assert.ok(info.logicalBytes >= 3_000_000 + 5_000_000);
});

test('a file being written by another process is in the snapshot as it was last closed; early-stored files are whole', async () => {
  const name = uniqueName('log');
  const path = join(mnt, name);
  await ok(`head -c 6000000 /dev/urandom > ${q(path)}`);
  const closed = (await ok(`sha256sum < ${q(path)}`)).split(' ')[0];
  // A writer appends 20 MiB (more than the dirty cap: most of it is stored early) and keeps the
  // file open, without fsync, while the snapshot is taken.
  const writer = spawn('python3', [
    '-c',
    'import sys,os\nf=open(sys.argv[1],"ab")\nf.write(os.urandom(20*1024*1024))\nf.flush()\nprint("written",flush=True)\nsys.stdin.read()\nf.close()',
    path,
  ]);
  let said = '';
  writer.stdout.on('data', (d: Buffer) => (said += d.toString()));
  const closedWriter = new Promise((resolve) => writer.once('close', resolve));
  try {
    await waitFor(() => said.includes('written'), { timeoutMs: 60_000, what: 'the writer to write' });
    await cli('snapshot', 'create', VOLUME, 'mid-write');
  } finally {
    writer.stdin.end();
    await closedWriter;
  }
  const held = await cat('mid-write', `/${name}`);
  assert.equal(held.length, 6_000_000);
  assert.equal(sha(held), closed);
  // Once closed, the next snapshot has all of it.
  await cli('snapshot', 'create', VOLUME, 'after-close');
  const all = await cat('after-close', `/${name}`);
  assert.equal(all.length, 6_000_000 + 20 * 1024 * 1024);
  assert.equal(sha(all), (await ok(`sha256sum < ${q(path)}`)).split(' ')[0]);
});

test('a rename or chmod just before the call is in the snapshot', async () => {
  const name = uniqueName('renamed');
  await ok(`cd ${q(mnt)} && echo x > ${name}.tmp && mv ${name}.tmp ${name} && chmod 600 ${name}`);
  await cli('snapshot', 'create', VOLUME, 'just-after');
  const listing = await ls('just-after', `/${name}`);
  assert.equal(listing.entry.mode, 0o600);
  await assert.rejects(ls('just-after', `/${name}.tmp`));
});

test('what a snapshot holds is live in the space report after the live files are deleted', async () => {
  const name = uniqueName('kept');
  await ok(`head -c 4000000 /dev/urandom > ${q(join(mnt, name))}`);
  await cli('snapshot', 'create', VOLUME, 'keeps-it');
  const before = JSON.parse(await cli('stats', '--json')) as { space: { reclaimableBytes: number } };
  await ok(`rm ${q(join(mnt, name))}`);
  const afterRm = JSON.parse(await cli('stats', '--json')) as { space: { reclaimableBytes: number } };
  assert.ok(
    afterRm.space.reclaimableBytes - before.space.reclaimableBytes < 1_000_000,
    `deleting a file a snapshot holds frees nothing: reclaimable ${before.space.reclaimableBytes} -> ${afterRm.space.reclaimableBytes}`,
  );
  assert.equal((await cat('keeps-it', `/${name}`)).length, 4_000_000);
});

test('default names are the time and unique; bad input gets one clear line and changes nothing', async () => {
  const first = (await cli('snapshot', 'create', VOLUME)).match(/took snapshot "([^"]+)"/)![1]!;
  const second = (await cli('snapshot', 'create', VOLUME)).match(/took snapshot "([^"]+)"/)![1]!;
  assert.match(first, /^\d{4}-\d\d-\d\d-\d{6}(-\d+)?$/);
  assert.notEqual(first, second);
  const count = async () => (JSON.parse(await cli('snapshot', 'list', VOLUME, '--json')) as SnapshotInfo[]).length;
  const before = await count();
  assertRefused(await bazil(h.dataDir, 'snapshot', 'create', VOLUME, first), /already has a snapshot named/);
  assertRefused(await bazil(h.dataDir, 'snapshot', 'create', VOLUME, 'bad/name'), /invalid snapshot name "bad\/name"/);
  assertRefused(await bazil(h.dataDir, 'snapshot', 'create', 'nosuch'), /no volume named "nosuch"/);
  assertRefused(await bazil(h.dataDir, 'snapshot', 'ls', VOLUME, 'nosuch'), /has no snapshot named "nosuch"/);
  assertRefused(
    await bazil(h.dataDir, 'snapshot', 'ls', VOLUME, first, '/no/such/path'),
    /\/no in snapshot .*: no such file/,
  );
  assertRefused(await bazil(h.dataDir, 'snapshot', 'cat', VOLUME, first, '/'), /is a directory/);
  assertRefused(await bazil(h.dataDir, 'snapshot', 'ls', VOLUME, first, '../x'), /without "\." or "\.\."/);
  assertRefused(await bazil(h.dataDir, 'snapshot', 'frob'), /usage: bazil snapshot/);
  assert.equal(await count(), before);
});

test('a volume with snapshots is deleted only with --with-snapshots; its snapshots go with it', async () => {
  const mnt2 = await h.volume('short-lived');
  await ok(`echo hi > ${q(join(mnt2, 'f'))}`);
  await cli('snapshot', 'create', 'short-lived', 'one');
  await cli('unmount', 'short-lived');
  assertRefused(await bazil(h.dataDir, 'volume', 'delete', 'short-lived'), /has 1 snapshot, .*--with-snapshots/);
  await cli('volume', 'delete', 'short-lived', '--with-snapshots');
  await cli('volume', 'create', 'short-lived');
  assert.match(await cli('snapshot', 'list', 'short-lived'), /has no snapshots yet/);
});

test('.snap: reachable by path, hidden from the root listing, each snapshot a read-only tree with its files, times and links', async () => {
  const dir = uniqueName('browse');
  await ok(
    [
      `cd ${q(mnt)} && mkdir ${dir} && cd ${dir}`,
      `printf 'old text\\n' > a.txt && ln a.txt a-link.txt && ln -s a.txt sym`,
      `touch -d '2002-03-04 05:06:07.5' a.txt`,
      `python3 -c "import os; os.setxattr('a.txt', 'user.k', b'kept')"`,
    ].join(' && '),
  );
  await cli('snapshot', 'create', VOLUME, 'browse');
  await ok(`printf 'new text\\n' > ${q(join(mnt, dir, 'a.txt'))}`);
  assert.doesNotMatch(await ok(`ls -a ${q(mnt)}`), /\.snap/, '.snap is left out of the root listing');
  assert.match(await ok(`ls ${q(join(mnt, '.snap'))}`), /^browse$/m);
  const old = join(mnt, '.snap', 'browse', dir);
  assert.equal(await ok(`cat ${q(join(old, 'a.txt'))}`), 'old text\n');
  assert.equal(await ok(`readlink ${q(join(old, 'sym'))}`), 'a.txt\n');
  assert.match(await ok(`stat -c %y ${q(join(old, 'a.txt'))}`), /^2002-03-04 05:06:07\.500000000/);
  assert.equal(
    await py<string>(`import os, json; print(json.dumps(os.getxattr('a.txt', 'user.k').decode()))`, old),
    'kept',
  );
  // cp -a out of the snapshot: the same content, and the two names of a.txt stay one file.
  const out = await h.dir(uniqueName('copied-out'));
  await ok(`cp -a ${q(old)}/. ${q(out)}/`);
  assert.equal(await ok(`cat ${q(join(out, 'a.txt'))}`), 'old text\n');
  const inodes = await ok(`stat -c %i ${q(join(out, 'a.txt'))} ${q(join(out, 'a-link.txt'))}`);
  const [i1, i2] = inodes.trim().split('\n');
  assert.equal(i1, i2, 'hard links copied out as links');
});

test('.snap: anything that would change it fails with EROFS (EXDEV out of it), and nothing changes', async () => {
  const dir = uniqueName('frozen');
  await ok(`cd ${q(mnt)} && mkdir ${dir} && echo keep > ${dir}/f && mkdir ${dir}/sub`);
  await cli('snapshot', 'create', VOLUME, 'frozen');
  const results = await py<Record<string, string>>(
    `
    import errno, json, os
    snap = os.path.join('.snap', 'frozen', ${JSON.stringify(dir)})
    tries = {
      'create': lambda: open(os.path.join(snap, 'new'), 'w'),
      'write': lambda: open(os.path.join(snap, 'f'), 'r+'),
      'truncate': lambda: os.truncate(os.path.join(snap, 'f'), 0),
      'append': lambda: open(os.path.join(snap, 'f'), 'a'),
      'unlink': lambda: os.unlink(os.path.join(snap, 'f')),
      'rmdir': lambda: os.rmdir(os.path.join(snap, 'sub')),
      'mkdir inside': lambda: os.mkdir(os.path.join(snap, 'd')),
      'rename inside': lambda: os.rename(os.path.join(snap, 'f'), os.path.join(snap, 'g')),
      'rename out': lambda: os.rename(os.path.join(snap, 'f'), 'stolen'),
      'rename in': lambda: os.rename(${JSON.stringify(dir)} + '/f', os.path.join(snap, 'g')),
      'link out': lambda: os.link(os.path.join(snap, 'f'), 'linked'),
      'chmod': lambda: os.chmod(os.path.join(snap, 'f'), 0o777),
      'utime': lambda: os.utime(os.path.join(snap, 'f'), (1, 1)),
      'setxattr': lambda: os.setxattr(os.path.join(snap, 'f'), 'user.x', b'1'),
      'symlink': lambda: os.symlink('x', os.path.join(snap, 'l')),
      'rmdir snapshot': lambda: os.rmdir(os.path.join('.snap', 'frozen')),
      'rmdir .snap': lambda: os.rmdir('.snap'),
      'rename .snap': lambda: os.rename('.snap', 'snap-moved'),
      'mkdir .snap': lambda: os.mkdir('.snap'),
      'create .snap': lambda: open('.snap', 'x'),
    }
    out = {}
    for name, attempt in tries.items():
      try:
        attempt()
        out[name] = 'succeeded'
      except OSError as e:
        out[name] = errno.errorcode[e.errno]
    print(json.dumps(out))
    `,
    mnt,
  );
  const expected: Record<string, string> = {
    create: 'EROFS',
    write: 'EROFS',
    truncate: 'EROFS',
    append: 'EROFS',
    unlink: 'EROFS',
    rmdir: 'EROFS',
    'mkdir inside': 'EROFS',
    'rename inside': 'EROFS',
    'rename out': 'EXDEV',
    'rename in': 'EROFS',
    'link out': 'EXDEV',
    chmod: 'EROFS',
    utime: 'EROFS',
    setxattr: 'EROFS',
    symlink: 'EROFS',
    'rmdir snapshot': 'EROFS',
    'rmdir .snap': 'EROFS',
    'rename .snap': 'EROFS',
    'mkdir .snap': 'EEXIST',
    'create .snap': 'EEXIST',
  };
  assert.deepEqual(results, expected);
  assert.equal(await ok(`cat ${q(join(mnt, '.snap', 'frozen', dir, 'f'))} ${q(join(mnt, dir, 'f'))}`), 'keep\nkeep\n');
  assert.equal(await ok(`ls ${q(mnt)} | grep -c -e stolen -e linked -e snap-moved || true`), '0\n');
});

test('mkdir .snap/NAME takes a snapshot; one taken through the API shows in .snap at once', async () => {
  const marker = uniqueName('marker');
  await ok(`echo here > ${q(join(mnt, marker))}`);
  await ok(`mkdir ${q(join(mnt, '.snap', 'by-mkdir'))}`);
  const list = JSON.parse(await cli('snapshot', 'list', VOLUME, '--json')) as SnapshotInfo[];
  assert.ok(list.some((s) => s.name === 'by-mkdir'));
  assert.equal(await ok(`cat ${q(join(mnt, '.snap', 'by-mkdir', marker))}`), 'here\n');
  const refused = await py<string[]>(
    `
    import errno, json, os
    out = []
    for name in ['by-mkdir', 'bad name!']:
      try:
        os.mkdir(os.path.join('.snap', name))
        out.append('succeeded')
      except OSError as e:
        out.append(errno.errorcode[e.errno])
    print(json.dumps(out))
    `,
    mnt,
  );
  assert.deepEqual(refused, ['EEXIST', 'EINVAL']);

  // The kernel keeps "no such name" for a while; a snapshot taken through the API clears it.
  const later = join(mnt, '.snap', 'later');
  assert.notEqual((await sh(`ls ${q(later)}`)).code, 0);
  await cli('snapshot', 'create', VOLUME, 'later');
  assert.match(await ok(`ls ${q(later)}`), new RegExp(marker));
});

test('delete a snapshot; set, show and turn off a schedule, whose first snapshot comes at once', async () => {
  await cli('snapshot', 'create', VOLUME, 'to-delete');
  assert.match(await ok(`ls ${q(join(mnt, '.snap'))}`), /^to-delete$/m);
  assert.match(await cli('snapshot', 'delete', VOLUME, 'to-delete'), /deleted snapshot "to-delete"/);
  const names = async () =>
    (JSON.parse(await cli('snapshot', 'list', VOLUME, '--json')) as SnapshotInfo[]).map((s) => s.name);
  assert.ok(!(await names()).includes('to-delete'));
  assert.doesNotMatch(await ok(`ls ${q(join(mnt, '.snap'))}`), /^to-delete$/m, '.snap forgets it at once');
  assertRefused(await bazil(h.dataDir, 'snapshot', 'delete', VOLUME, 'to-delete'), /has no snapshot named "to-delete"/);

  assert.match(await cli('snapshot', 'schedule', VOLUME), /has no snapshot schedule/);
  await ok(`echo changed > ${q(join(mnt, uniqueName('for-schedule')))}`);
  assert.match(
    await cli('snapshot', 'schedule', VOLUME, '--every', '1h', '--keep-hourly', '24', '--keep-daily', '30'),
    /a snapshot every 1h when something changed; keeps 24 hourly, 30 daily/,
  );
  const auto = await waitFor(async () => (await names()).find((n) => n.startsWith('auto-')) ?? null, {
    timeoutMs: 20_000,
    what: 'the first scheduled snapshot',
  });
  assert.match(await ok(`ls ${q(join(mnt, '.snap'))}`), new RegExp(`^${auto}$`, 'm'));
  assert.match(await cli('snapshot', 'schedule', VOLUME, '--keep-monthly', '12'), /every 1h .*keeps 12 monthly/);
  assertRefused(
    await bazil(h.dataDir, 'snapshot', 'schedule', VOLUME, '--every', 'soon'),
    /--every needs an interval like 30m, 1h or 1d/,
  );
  assertRefused(
    await bazil(h.dataDir, 'snapshot', 'schedule', VOLUME, '--keep-daily', '-1'),
    /--keep-daily needs a whole number/,
  );
  assertRefused(await bazil(h.dataDir, 'snapshot', 'schedule', 'nosuch', '--every', '1h'), /no volume named "nosuch"/);
  assert.match(await cli('snapshot', 'schedule', VOLUME, '--off'), /has no snapshot schedule/);
  assert.match(await cli('snapshot', 'schedule', VOLUME), /has no snapshot schedule/);
});

test('snapshots survive a restart of the engine', async () => {
  await h.stop({ keepFiles: true, force: true });
  await h.start();
  const list = JSON.parse(await cli('snapshot', 'list', VOLUME, '--json')) as SnapshotInfo[];
  assert.ok(list.some((s) => s.name === 'before-edit'));
  assert.equal(
    (await cat('before-edit', (await ls('before-edit', '/')).entries[0]!.name + '/notes.txt')).toString(),
    'version one\n',
  );
});

test('a volume set to show .snap lists it in its root, mounted or not, until set back', async () => {
  // Mounted again after the restart above.
  await h.mount(VOLUME, mnt);
  const volumeList = async () =>
    JSON.parse(await cli('volume', 'list', '--json')) as { name: string; showSnap: boolean }[];
  assert.equal((await volumeList()).find((v) => v.name === VOLUME)!.showSnap, false, 'hidden by default');
  assert.match(await cli('volume', 'set', VOLUME, '--show-snap', 'yes'), /\.snap is listed in its root directory/);
  assert.match(await ok(`ls -a ${q(mnt)}`), /^\.snap$/m, 'listed at once');
  assert.match(await ok(`ls ${q(join(mnt, '.snap'))}`), /before-edit/);
  // `find` walks into it now, read-only as ever.
  assert.match(await ok(`find ${q(mnt)} -maxdepth 2 -name before-edit`), /\.snap\/before-edit$/m);
  assert.equal((await volumeList()).find((v) => v.name === VOLUME)!.showSnap, true);
  // Kept across a remount (the setting is in the volume's record).
  await h.client!.call('unmount', { name: VOLUME });
  await h.mount(VOLUME, mnt);
  assert.match(await ok(`ls -a ${q(mnt)}`), /^\.snap$/m, 'still listed after a remount');
  // Set back while not mounted.
  await h.client!.call('unmount', { name: VOLUME });
  assert.match(await cli('volume', 'set', VOLUME, '--show-snap', 'no'), /\.snap is hidden from its root directory/);
  await h.mount(VOLUME, mnt);
  assert.doesNotMatch(await ok(`ls -a ${q(mnt)}`), /\.snap/);
  assert.match(await ok(`ls ${q(join(mnt, '.snap'))}`), /before-edit/, 'reached by its path either way');
  assertRefused(await bazil(h.dataDir, 'volume', 'set', VOLUME, '--show-snap', 'maybe'), /--show-snap takes yes or no/);
  assertRefused(await bazil(h.dataDir, 'volume', 'set', 'no-such', '--show-snap', 'yes'), /no volume named "no-such"/);
});
