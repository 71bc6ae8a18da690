/**
 * `bazil snapshot restore VOLUME SNAPSHOT PATH --to DIR` as a user runs it: a snapshot's directory
 * written to an ordinary directory outside Bazil, compared with what the volume held when the
 * snapshot was taken (types, modes, owners as root, times to the nanosecond, symlinks, FIFOs, hard
 * links, extended attributes, holes, every byte), while the volume moves on. Progress reaches the
 * caller; bad targets are refused with one line and nothing written.
 */
import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { ExportResult, JobProgress } from '../../src-main/common/api.js';
import { BAZIL_BIN, EngineHarness, assertRefused, bazil, ok } from '../helpers/engine-harness.js';
import { py, q } from '../helpers/fs-tools.js';

const MiB = 1024 * 1024;
const asRoot = process.getuid!() === 0;

let h: EngineHarness;
let mnt: string;
let out: string;

before(async () => {
  h = await EngineHarness.create();
  await h.start();
  mnt = await h.volume('docs');
  out = await h.dir('out');
});

after(async () => {
  await h.stop({ force: true });
});

/**
 * Everything about the tree under `dir` that an export keeps, one line per entry, sorted: type,
 * mode, owner (as root), size, mtime in ns, symlink target, extended attributes, a hash of the
 * bytes, and which names are one file.
 */
function describeTree(dir: string): Promise<string[]> {
  return py<string[]>(
    `
    import hashlib, stat as st
    root = ${JSON.stringify(dir)}
    lines, inodes = [], {}
    for base, dirs, files in os.walk(root):
        for name in sorted(dirs + files):
            p = os.path.join(base, name)
            s = os.lstat(p)
            rel = os.path.relpath(p, root)
            kind = 'dir' if st.S_ISDIR(s.st_mode) else 'link' if st.S_ISLNK(s.st_mode) else 'fifo' if st.S_ISFIFO(s.st_mode) else 'file'
            line = [rel, kind, oct(st.S_IMODE(s.st_mode)), str(s.st_mtime_ns)]
            if ${asRoot ? 'True' : 'False'}: line.append('%d:%d' % (s.st_uid, s.st_gid))
            if kind == 'link':
                line.append('-> ' + os.readlink(p))
            else:
                line.append(repr(sorted((a, os.getxattr(p, a)) for a in os.listxattr(p))))
            if kind == 'file':
                # Not atime: reading to hash moves it on a disk mounted relatime.
                line.append(str(s.st_size))
                line.append(hashlib.sha256(open(p, 'rb').read()).hexdigest()[:16])
                if s.st_nlink > 1:
                    line.append('linked-with ' + inodes.setdefault(s.st_ino, rel))
            lines.append(' '.join(line))
    out(sorted(lines))
    `,
    dir,
  );
}

test('a directory exported keeps everything the snapshot holds, as it was then', async () => {
  await ok(
    [
      'mkdir -p proj/src/deep proj/empty',
      `head -c ${3 * MiB + 17} /dev/urandom > proj/src/data.bin`,
      'echo "print(1)" > proj/src/main.py',
      'ln proj/src/data.bin proj/data-again.bin',
      'ln -s src/main.py proj/entry',
      'mkfifo proj/queue',
      `truncate -s ${20 * MiB} proj/src/deep/sparse && echo end >> proj/src/deep/sparse`,
      'chmod 751 proj/src && chmod 2750 proj/src/deep && chmod 600 proj/src/main.py && chmod 4755 proj/src/data.bin',
      `python3 -c "import os; os.setxattr('proj/src/main.py', 'user.origin', b'from git')"`,
      "touch -h -d '2004-05-06 07:08:09.123456789' proj/entry",
      "touch -d '1999-12-31 23:59:59.987654321' proj/src/main.py proj/empty",
    ].join(' && '),
    mnt,
  );
  if (asRoot)
    await ok('chown 1234:5678 proj/src/main.py && chown -h 99:98 proj/entry && chmod 4755 proj/src/data.bin', mnt);
  // Directory times last: what was made in them changed them.
  await ok("touch -d '2010-01-01 00:00:00.5' proj/src/deep proj/src proj", mnt);
  const before = await describeTree(join(mnt, 'proj'));
  assert.equal((await bazil(h.dataDir, 'snapshot', 'create', 'docs', 'then')).code, 0);
  // The volume moves on: the export is of the snapshot, not of the live tree.
  await ok('echo changed > proj/src/main.py && rm proj/data-again.bin && chmod 700 proj', mnt);

  const result = await bazil(h.dataDir, 'snapshot', 'restore', 'docs', 'then', '/proj', '--to', join(out, 'a'));
  assert.equal(result.code, 0, result.stderr);
  assert.match(
    result.stdout,
    /^exported \/proj of snapshot "then" to .*\/out\/a\/proj: 3 files, 4 directories, 1 hard links, 2 symlinks and special files, 23\.0 MiB in \d+\.\d s$/m,
  );
  const exportedMain = join(out, 'a', 'proj', 'src', 'main.py');
  assert.equal((await ok(`stat -c %x ${q(exportedMain)}`)).trim(), '1999-12-31 23:59:59.987654321 +0000', 'atime');
  assert.deepEqual(await describeTree(join(out, 'a', 'proj')), before);
  const sparse = join(out, 'a', 'proj', 'src', 'deep', 'sparse');
  const blocks = Number((await ok(`stat -c %b ${q(sparse)}`)).trim());
  assert.ok(blocks * 512 < MiB, `the hole stays a hole: ${blocks} blocks`);
  assert.equal(
    (await ok(`stat -c %a ${q(join(out, 'a', 'proj'))}`)).trim(),
    '755',
    "the snapshot's mode, not the live one",
  );

  // The root of the volume, into a directory that does not exist yet; as JSON.
  const all = await bazil(h.dataDir, 'snapshot', 'restore', 'docs', 'then', '/', '--to', join(out, 'whole'), '--json');
  assert.equal(all.code, 0, all.stderr);
  const exported = JSON.parse(all.stdout) as ExportResult;
  assert.equal(exported.path, join(out, 'whole'));
  assert.equal(exported.bytes, 3 * MiB + 17 + 'print(1)\n'.length + 20 * MiB + 'end\n'.length);
  assert.deepEqual(exported.problems, []);
  assert.deepEqual(await describeTree(join(out, 'whole', 'proj')), before);
});

test('a relative --to is taken from where the command runs; one file goes into it by its name', async () => {
  await ok('echo "one file" > note.txt', mnt);
  assert.equal((await bazil(h.dataDir, 'snapshot', 'create', 'docs', 'note')).code, 0);
  const result = await ok(
    `cd ${q(out)} && ${q(process.execPath)} ${q(BAZIL_BIN)} --data-dir ${q(h.dataDir)} ` +
      'snapshot restore docs note /note.txt --to dir-b',
  );
  assert.match(result, /exported \/note\.txt/);
  assert.equal(await ok(`cat ${q(join(out, 'dir-b', 'note.txt'))}`), 'one file\n');
});

test('bad targets are refused with one line, and nothing is written', async () => {
  await ok('mkdir -p keep && echo mine > keep/file', mnt);
  assert.equal((await bazil(h.dataDir, 'snapshot', 'create', 'docs', 'refusals')).code, 0);
  await ok(`mkdir -p ${q(join(out, 'taken', 'keep'))} && echo other > ${q(join(out, 'taken', 'keep', 'x'))}`);
  assertRefused(
    await bazil(h.dataDir, 'snapshot', 'restore', 'docs', 'refusals', '/keep', '--to', join(out, 'taken')),
    /taken\/keep" exists; move it away or choose another --to \(nothing was written\)/,
  );
  assert.deepEqual(await readdir(join(out, 'taken', 'keep')), ['x'], 'what was there is untouched');
  assertRefused(
    await bazil(h.dataDir, 'snapshot', 'restore', 'docs', 'refusals', '/', '--to', join(out, 'taken')),
    /is not empty; the whole volume goes into a new or empty directory/,
  );
  assertRefused(
    await bazil(h.dataDir, 'snapshot', 'restore', 'docs', 'refusals', '/keep', '--to', join(mnt, 'inside')),
    /lies inside volume "docs" .*restore with --as/,
  );
  assertRefused(
    await bazil(h.dataDir, 'snapshot', 'restore', 'docs', 'refusals', '/keep', '--to', join(out, 'no', 'such', 'dir')),
    /does not exist; create it first/,
  );
  assertRefused(
    await bazil(h.dataDir, 'snapshot', 'restore', 'docs', 'refusals', '/gone', '--to', join(out, 'n')),
    /\/gone in snapshot "refusals": no such file or directory/,
  );
  assertRefused(
    await bazil(h.dataDir, 'snapshot', 'restore', 'docs', 'refusals', '/keep', '--to', join(out, 'n'), '--as', '/x'),
    /not both/,
  );
  assert.equal((await readdir(out)).includes('n'), false);
});

test('progress of long work reaches the caller: export, verify and gc', async () => {
  await ok(`head -c ${48 * MiB} /dev/urandom > big.bin`, mnt);
  assert.equal((await bazil(h.dataDir, 'snapshot', 'create', 'docs', 'big')).code, 0);
  const heard: JobProgress[] = [];
  const onProgress = (p: JobProgress) => heard.push(p);
  const exported = await h.client!.call(
    'snapshotExport',
    { volume: 'docs', snapshot: 'big', path: '/big.bin', to: join(out, 'progress') },
    { onProgress },
  );
  assert.ok(heard.length >= 2, `${heard.length} progress messages`);
  for (const p of heard) assert.deepEqual([p.phase, p.unit, p.total], ['writing files', 'bytes', 48 * MiB]);
  assert.equal(heard.at(-1)!.done, exported.bytes, 'the last says all of it');
  assert.ok(
    heard.every((p, i) => i === 0 || p.done >= heard[i - 1]!.done),
    'never backwards',
  );

  heard.length = 0;
  await h.client!.call('verify', {}, { onProgress });
  assert.ok(heard.length >= 1 && heard.every((p) => p.phase === 'checking chunks' && p.done <= p.total));
  heard.length = 0;
  await ok('rm big.bin', mnt);
  assert.equal((await bazil(h.dataDir, 'snapshot', 'delete', 'docs', 'big')).code, 0);
  await h.client!.call('gc', {}, { onProgress });
  assert.deepEqual([...new Set(heard.map((p) => p.phase))].slice(0, 2), ['marking', 'deleting']);
});
