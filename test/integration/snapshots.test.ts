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
import { EngineHarness, assertRefused, bazil, ok } from '../helpers/engine-harness.js';
import { q, uniqueName } from '../helpers/fs-tools.js';
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

async function cli(...args: string[]): Promise<string> {
  const result = await bazil(h.dataDir, ...args);
  assert.equal(result.code, 0, `bazil ${args.join(' ')}: ${result.stderr}`);
  return result.stdout;
}

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
