/**
 * Linux file-system semantics on a real Bazil mount, the way a file-system test suite checks them:
 * open-but-unlinked files, atomic rename, rename and link errors, holes, O_APPEND, truncation,
 * 64-bit offsets, times, link counts, errnos, durability across a stop, a restart and a crash,
 * and deduplication in the chunk store.
 *
 * The mount is driven only from child processes (sh, stat, dd, python3).
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { access, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { EngineHarness, ok, sh } from '../helpers/engine-harness.js';
import { needsRoot, py, q, stat, statNum, uniqueName } from '../helpers/fs-tools.js';
import { waitFor } from '../helpers/wait-for.js';
import type { StatsResult } from '../../src-main/common/api.js';

let harness: EngineHarness;
let mnt: string;
let mntB: string;

before(async () => {
  harness = await EngineHarness.create();
  await harness.start();
  mnt = await harness.volume('posix');
  mntB = await harness.volume('other');
});

after(async () => {
  await harness?.stop();
});

/** A new empty directory in the mount for one test; returns its path. */
async function scratch(prefix: string): Promise<string> {
  const dir = join(mnt, uniqueName(prefix));
  await ok(`mkdir ${q(dir)}`);
  return dir;
}

async function stats(): Promise<StatsResult> {
  return harness.client!.call('stats', {});
}

async function sha256(path: string): Promise<string> {
  return (await ok(`sha256sum ${q(path)}`)).split(' ')[0]!;
}

// ---- files unlinked while open ----

test('an unlinked file stays readable and writable through an open descriptor until closed', async () => {
  const dir = await scratch('unlinked');
  const result = await py<Record<string, unknown>>(
    `
    fd = os.open('f', os.O_RDWR | os.O_CREAT, 0o644)
    os.write(fd, b'hello')
    os.unlink('f')
    listed = os.listdir('.')
    st = os.fstat(fd)
    first = os.pread(fd, 100, 0).decode()
    os.pwrite(fd, b' world', 5)
    second = os.pread(fd, 100, 0).decode()
    size = os.fstat(fd).st_size
    os.close(fd)
    out({'listed': listed, 'nlink': st.st_nlink, 'size': st.st_size, 'first': first, 'second': second,
         'sizeAfter': size, 'exists': os.path.exists('f'), 'listedAfter': os.listdir('.')})
    `,
    dir,
  );
  assert.deepEqual(result, {
    listed: [],
    nlink: 0,
    size: 5,
    first: 'hello',
    second: 'hello world',
    sizeAfter: 11,
    exists: false,
    listedAfter: [],
  });
});

test('the directory of an unlinked open file can be removed once it holds no other name', async () => {
  const dir = await scratch('unlinked-dir');
  const result = await py<Record<string, unknown>>(
    `
    os.mkdir('d')
    fd = os.open('d/f', os.O_RDWR | os.O_CREAT, 0o644)
    os.write(fd, b'data')
    open('d/other', 'w').close()
    os.unlink('d/f')
    busy = err(os.rmdir, 'd')
    os.unlink('d/other')
    removed = err(os.rmdir, 'd')
    os.pwrite(fd, b'!', 4)
    content = os.pread(fd, 100, 0).decode()
    st = os.fstat(fd)
    os.close(fd)
    out({'busy': busy, 'removed': removed, 'content': content, 'listed': os.listdir('.'),
         'fstat': [st.st_nlink, st.st_size]})
    `,
    dir,
  );
  assert.deepEqual(result, {
    busy: 'ENOTEMPTY',
    removed: 'ok',
    content: 'data!',
    listed: [],
    fstat: [0, 5],
  });
});

test('fstat of an unlinked open file still reports nlink 0 after ftruncate', async () => {
  const dir = await scratch('unlinked-ftruncate');
  const result = await py<Record<string, unknown>>(
    `
      fd = os.open('f', os.O_RDWR | os.O_CREAT, 0o644)
      os.write(fd, b'hello')
      os.unlink('f')
      os.ftruncate(fd, 2)
      st = os.fstat(fd)
      os.close(fd)
      out({'nlink': st.st_nlink, 'size': st.st_size})
      `,
    dir,
  );
  assert.deepEqual(result, { nlink: 0, size: 2 });
});

// ---- rename ----

/**
 * Renames 200 new files onto one name while a second process checks the name; returns its counts:
 * `missing` for ENOENT, `stale` for ESTALE (what the kernel would pass on if its one retry failed).
 */
async function renameRace(dir: string, check: string): Promise<{ checks: number; missing: number; stale: number }> {
  await ok(`echo start > target`, dir);
  const checker = py<{ checks: number; missing: number; stale: number }>(
    `
    import errno
    checks = 0
    missing = 0
    stale = 0
    open('started', 'w').close()
    while not os.path.exists('done'):
        checks += 1
        try:
            ${check}
        except FileNotFoundError:
            missing += 1
        except OSError as e:
            if e.errno != errno.ESTALE:
                raise
            stale += 1
    out({'checks': checks, 'missing': missing, 'stale': stale})
    `,
    dir,
  );
  const renamer = py(
    `
    import time
    deadline = time.time() + 30
    while not os.path.exists('started') and time.time() < deadline:
        time.sleep(0.001)
    for i in range(200):
        with open('new%d' % i, 'w') as f:
            f.write(str(i))
        os.rename('new%d' % i, 'target')
    open('done', 'w').close()
    `,
    dir,
  );
  const [result] = await Promise.all([checker, renamer]);
  assert.equal(await ok(`cat target`, dir), '199');
  return result;
}

// Every check sees the old file or the new one: a stat or open that reaches the engine for the
// inode a rename has just replaced still finds it (it stays until the kernel forgets it).
async function checkRenameRace(dir: string, what: string, check: string): Promise<void> {
  const { checks, missing, stale } = await renameRace(dir, check);
  assert.ok(checks > 0, 'the checker ran');
  assert.equal(missing, 0, `${what} found no "target" ${missing} times in ${checks} checks`);
  assert.equal(stale, 0, `${what} got ESTALE ${stale} times in ${checks} checks`);
}

test('rename replaces its target atomically: a concurrent stat loop never sees the name missing', async () => {
  await checkRenameRace(await scratch('rename-stat'), 'stat', "os.stat('target')");
});

test('rename replaces its target atomically: a concurrent stat-then-open loop never sees the name missing', async () => {
  // stat, then open: the OPEN often reaches the engine for the file that the rename has just replaced.
  await checkRenameRace(await scratch('rename-open'), 'open', "os.stat('target'); open('target', 'rb').read()");
});

test('a name looked up while missing (the kernel keeps the miss) shows at once when another process makes it, whichever way', async () => {
  const dir = await scratch('missing-names');
  const names = ['created', 'linked', 'symlinked', 'made-dir', 'renamed-to', 'fifo', 'written'];
  // Each lookup fails, and the kernel remembers the miss for as long as it keeps a name.
  for (const name of names) assert.notEqual((await sh(`stat ${q(join(dir, name))}`)).code, 0, name);
  await ok(
    `cd ${q(dir)} && echo data > created && ln created linked && ln -s created symlinked && mkdir made-dir && ` +
      'echo moved > tmp && mv tmp renamed-to && mkfifo fifo && echo x > written',
  );
  const seen = await py(`out({n: os.lstat(n).st_nlink for n in ${JSON.stringify(names)}})`, dir);
  assert.deepEqual(seen, {
    created: 2,
    linked: 2,
    symlinked: 1,
    'made-dir': 2,
    'renamed-to': 1,
    fifo: 1,
    written: 1,
  });
  assert.equal(await readFile(join(dir, 'renamed-to'), 'utf8'), 'moved\n');
  // And a name that goes is missing again at once, then made again.
  await ok(`rm ${q(join(dir, 'created'))}`);
  assert.notEqual((await sh(`stat ${q(join(dir, 'created'))}`)).code, 0);
  await ok(`echo again > ${q(join(dir, 'created'))}`);
  assert.equal(await readFile(join(dir, 'created'), 'utf8'), 'again\n');
});

test('rename of a directory onto an empty directory replaces it', async () => {
  const dir = await scratch('rename-dir');
  const result = await py(
    `
    os.makedirs('a/inner')
    os.mkdir('b')
    r = err(os.rename, 'a', 'b')
    out({'r': r, 'names': sorted(os.listdir('.')), 'inner': os.listdir('b'), 'nlink': os.stat('.').st_nlink})
    `,
    dir,
  );
  assert.deepEqual(result, { r: 'ok', names: ['b'], inner: ['inner'], nlink: 3 });
});

test('rename of a directory onto a non-empty directory fails with ENOTEMPTY', async () => {
  const dir = await scratch('rename-notempty');
  const result = await py(
    `
    os.mkdir('a')
    os.makedirs('b/x')
    out([err(os.rename, 'a', 'b'), sorted(os.listdir('.')), os.listdir('b')])
    `,
    dir,
  );
  assert.deepEqual(result, ['ENOTEMPTY', ['a', 'b'], ['x']]);
});

test('rename of a file onto a directory fails with EISDIR', async () => {
  const dir = await scratch('rename-eisdir');
  const result = await py(`open('f', 'w').close(); os.mkdir('d'); out(err(os.rename, 'f', 'd'))`, dir);
  assert.equal(result, 'EISDIR');
});

test('rename of a directory onto a file fails with ENOTDIR', async () => {
  const dir = await scratch('rename-enotdir');
  const result = await py(`open('f', 'w').close(); os.mkdir('d'); out(err(os.rename, 'd', 'f'))`, dir);
  assert.equal(result, 'ENOTDIR');
});

test('rename of a directory into its own subdirectory fails with EINVAL', async () => {
  const dir = await scratch('rename-einval');
  const result = await py(`os.makedirs('d/sub'); out([err(os.rename, 'd', 'd/sub/x'), os.listdir('d/sub')])`, dir);
  assert.deepEqual(result, ['EINVAL', []]);
});

// ---- sizes, holes, appends ----

test('writes past the end leave a hole that reads as zeros', async () => {
  const dir = await scratch('hole');
  const result = await py(
    `
    with open('f', 'wb') as f:
        f.write(b'head')
        f.seek(1_000_000)
        f.write(b'tail')
    data = open('f', 'rb').read()
    out({'size': os.stat('f').st_size, 'head': data[:4].decode(), 'zeros': data[4:1_000_000] == bytes(999_996),
         'tail': data[1_000_000:].decode()})
    `,
    dir,
  );
  assert.deepEqual(result, { size: 1_000_004, head: 'head', zeros: true, tail: 'tail' });
});

test('O_APPEND writes land at the end of the file (two appenders)', async () => {
  const dir = await scratch('append');
  const result = await py(
    `
    open('f', 'wb').write(b'start')
    a = os.open('f', os.O_WRONLY | os.O_APPEND)
    b = os.open('f', os.O_WRONLY | os.O_APPEND)
    for i in range(50):
        os.write(a, b'a' * 100)
        os.write(b, b'b' * 100)
    os.close(a)
    os.close(b)
    data = open('f', 'rb').read()
    out({'size': len(data), 'start': data[:5].decode(), 'pairs': data[5:] == (b'a' * 100 + b'b' * 100) * 50})
    `,
    dir,
  );
  assert.deepEqual(result, { size: 10_005, start: 'start', pairs: true });
});

test('opening an existing file with O_TRUNC empties it (shell >, open "w", O_RDWR|O_TRUNC)', async () => {
  const dir = await scratch('o-trunc');
  await ok(
    `cd ${q(dir)} && head -c 3000000 /dev/urandom > big && head -c 100 /dev/urandom > small && printf 'replaced\\n' > big`,
  );
  const result = await py(
    `
    import os
    open('small', 'w').write('w mode')
    fd = os.open('small', os.O_RDWR | os.O_TRUNC)
    os.write(fd, b'rdwr')
    os.close(fd)
    open('kept', 'wb').write(b'x' * 5000)
    fd = os.open('kept', os.O_RDWR | os.O_TRUNC)
    size_while_open = os.fstat(fd).st_size
    os.close(fd)
    out([open('big', 'rb').read().decode(), os.stat('big').st_size, open('small', 'rb').read().decode(), size_while_open, os.stat('kept').st_size])
    `,
    dir,
  );
  assert.deepEqual(result, ['replaced\n', 9, 'rdwr', 0, 0]);
});

test('truncate up reads zeros', async () => {
  const dir = await scratch('truncate-up');
  const result = await py(
    `
    open('f', 'wb').write(b'abc')
    os.truncate('f', 200_000)
    data = open('f', 'rb').read()
    out([len(data), data[:3].decode(), data[3:] == bytes(200_000 - 3)])
    `,
    dir,
  );
  assert.deepEqual(result, [200_000, 'abc', true]);
});

test('truncate down then up reads zeros, not the old data', async () => {
  const dir = await scratch('truncate-down-up');
  const result = await py(
    `
    # A stored file (closed), cut inside its first page and grown past several pages.
    open('stored', 'wb').write(b'A' * 400_000)
    os.truncate('stored', 10)
    os.truncate('stored', 400_000)
    stored = open('stored', 'rb').read()
    # The same on dirty data of an open file, through the path.
    fd = os.open('dirty', os.O_RDWR | os.O_CREAT, 0o644)
    os.write(fd, b'B' * 400_000)
    os.truncate('dirty', 150_000)
    os.truncate('dirty', 400_000)
    dirty = os.pread(fd, 500_000, 0)
    os.close(fd)
    dirty_closed = open('dirty', 'rb').read()
    out({
      'stored': [len(stored), stored[:10] == b'A' * 10, stored[10:] == bytes(399_990)],
      'dirty': [len(dirty), dirty[:150_000] == b'B' * 150_000, dirty[150_000:] == bytes(250_000)],
      'dirtyClosed': dirty_closed == dirty,
    })
    `,
    dir,
  );
  assert.deepEqual(result, { stored: [400_000, true, true], dirty: [400_000, true, true], dirtyClosed: true });
});

test('ftruncate on an open descriptor shrinks and grows the file', async () => {
  const dir = await scratch('ftruncate');
  const result = await py(
    `
    fd = os.open('f', os.O_RDWR | os.O_CREAT, 0o644)
    os.write(fd, b'0123456789')
    os.ftruncate(fd, 4)
    shrunk = [os.fstat(fd).st_size, os.pread(fd, 100, 0).decode()]
    os.ftruncate(fd, 8)
    grown = os.pread(fd, 100, 0)
    os.close(fd)
    out({'shrunk': shrunk, 'grown': grown.hex(), 'size': os.stat('f').st_size, 'file': open('f', 'rb').read().hex()})
    `,
    dir,
  );
  assert.deepEqual(result, {
    shrunk: [4, '0123'],
    grown: '3031323300000000',
    size: 8,
    file: '3031323300000000',
  });
});

test('a reader sees every change made through another descriptor, at once (writes, truncation, close)', async () => {
  // O_DIRECT: every read reaches the file system (no page cache), in the sizes asked, and must see
  // what another descriptor changed just before.
  const dir = await scratch('window');
  const result = await py(
    `
    import mmap
    data = os.urandom(6 << 20)
    with open('f', 'wb') as f:
        f.write(data)
    r = os.open('f', os.O_RDONLY | os.O_DIRECT)
    buf = mmap.mmap(-1, 131072)
    def rd(off):
        n = os.preadv(r, [buf], off)
        return bytes(buf[:n])
    stored = rd(0) == data[:131072] and rd(131072) == data[131072:262144] and rd(1 << 20) == data[1 << 20:(1 << 20) + 131072]
    w = os.open('f', os.O_WRONLY)
    os.pwrite(w, b'X' * 10, 200000)
    written = rd(131072)[200000 - 131072:200000 - 131062].decode(errors='replace')
    os.ftruncate(w, 300000)
    truncated = [len(rd(262144)), len(rd(1 << 20))]
    os.close(w)
    closed = [len(rd(262144)), rd(131072)[200000 - 131072:200000 - 131062].decode(errors='replace')]
    os.close(r)
    out({'stored': stored, 'written': written, 'truncated': truncated, 'closed': closed})
    `,
    dir,
  );
  assert.deepEqual(result, {
    stored: true,
    written: 'XXXXXXXXXX',
    truncated: [300000 - 262144, 0],
    closed: [300000 - 262144, 'XXXXXXXXXX'],
  });
});

test('random reads, writes, truncations, fsyncs and reopens: every read returns the latest bytes', async () => {
  // A model of the file in the script checks every read. O_DIRECT reads reach the file system
  // each time; fsync and close store the file, after which reads are lent with read windows
  // again, so the mix checks that every change takes them back. Fixed seed: the same ops each run.
  const dir = await scratch('random-ops');
  const result = await py(
    `
    import mmap, random
    rnd = random.Random(20261126)
    model = bytearray(rnd.randbytes(3 << 20))
    with open('f', 'wb') as f:
        f.write(model)
    r = os.open('f', os.O_RDONLY | os.O_DIRECT)
    w = os.open('f', os.O_RDWR)
    buf = mmap.mmap(-1, 1 << 20)
    counts = {'read': 0, 'write': 0, 'truncate': 0, 'fsync': 0, 'reopen': 0}
    bad = None
    for i in range(1500):
        op = rnd.random()
        if op < 0.5:
            at = rnd.randrange(0, len(model) + 65536) // 4096 * 4096
            length = rnd.randrange(1, 256) * 4096
            n = os.preadv(r, [memoryview(buf)[:length]], at)
            if bytes(buf[:n]) != bytes(model[at:at + length]):
                bad = bad or f'op {i}: read of {length} at {at} got {n} bytes that differ from the model ({len(model)} bytes)'
            counts['read'] += 1
        elif op < 0.7:
            at = rnd.randrange(0, len(model) + 8192)
            data = rnd.randbytes(rnd.randrange(1, 300000))
            os.pwrite(w, data, at)
            if at > len(model):
                model.extend(bytes(at - len(model)))
            model[at:at + len(data)] = data
            counts['write'] += 1
        elif op < 0.75:
            size = rnd.randrange(0, len(model) + 200000)
            os.ftruncate(w, size)
            if size < len(model):
                del model[size:]
            else:
                model.extend(bytes(size - len(model)))
            counts['truncate'] += 1
        elif op < 0.9:
            os.fsync(w)
            counts['fsync'] += 1
        else:
            os.close(w)
            w = os.open('f', os.O_RDWR)
            counts['reopen'] += 1
    os.close(w)
    os.close(r)
    with open('f', 'rb') as f:
        whole = f.read() == bytes(model)
    out({'bad': bad, 'whole': whole, 'counts': counts})
    `,
    dir,
  );
  const { bad, whole, counts } = result as { bad: string | null; whole: boolean; counts: Record<string, number> };
  assert.equal(bad, null);
  assert.ok(whole, 'the file read whole at the end matches the model');
  assert.ok(counts.read! > 500 && counts.fsync! > 100 && counts.reopen! > 50, JSON.stringify(counts));
});

test('offsets beyond 4 GiB work: a byte written at 5 GiB reads back, the rest reads as zeros', async () => {
  const dir = await scratch('5gib');
  const result = await py(
    `
    at = 5 * 2**30
    fd = os.open('f', os.O_RDWR | os.O_CREAT, 0o644)
    os.pwrite(fd, b'Z', at)
    open_size = os.fstat(fd).st_size
    os.close(fd)
    fd = os.open('f', os.O_RDONLY)
    back = os.pread(fd, 2, at - 1)
    low = os.pread(fd, 4096, 4 * 2**30 - 2048)
    os.close(fd)
    out({'openSize': open_size, 'size': os.stat('f').st_size, 'back': back.hex(), 'lowZeros': low == bytes(4096)})
    `,
    dir,
  );
  assert.deepEqual(result, { openSize: 5 * 2 ** 30 + 1, size: 5 * 2 ** 30 + 1, back: '005a', lowZeros: true });
});

test('a file grown to 1 PB by truncate costs nothing: it is stored, survives a remount, and a write inside it lands', async () => {
  const dir = await scratch('petabyte');
  const PB = 999_999_999_999_999;
  const chunksBefore = (await stats()).chunkCount;
  const script = (step: string) =>
    py<Record<string, unknown>>(
      `
      PB = ${PB}
      step = ${JSON.stringify(step)}
      if step == 'grow':
          fd = os.open('f', os.O_RDWR | os.O_CREAT, 0o644)
          os.write(fd, b'head')
          os.ftruncate(fd, PB)
          os.pwrite(fd, b'middle', PB // 2)
          os.close(fd)
      fd = os.open('f', os.O_RDONLY)
      out({'size': os.fstat(fd).st_size, 'head': os.pread(fd, 6, 0).hex(), 'middle': os.pread(fd, 8, PB // 2 - 1).hex(),
           'tail': os.pread(fd, 4096, PB - 4096) == bytes(4096), 'past': os.pread(fd, 10, PB).hex()})
      os.close(fd)
      `,
      dir,
      30_000,
    );
  const expected = {
    size: PB,
    head: Buffer.from('head\0\0').toString('hex'),
    middle: '006d6964646c6500',
    tail: true,
    past: '',
  };
  assert.deepEqual(await script('grow'), expected);
  assert.ok((await stats()).chunkCount - chunksBefore <= 4, 'the zeros stored no chunks');
  await harness.client!.call('unmount', { name: 'posix' });
  await harness.mount('posix', mnt);
  assert.deepEqual(await script('read'), expected, 'the same after a remount');
});

test('a size past what Bazil supports (4 PiB) fails with EFBIG and changes nothing', async () => {
  const dir = await scratch('efbig');
  const result = await py(
    `
    with open('f', 'wb') as f: f.write(b'kept')
    fd = os.open('f', os.O_RDWR)
    out({'truncate': err(os.ftruncate, fd, 2**52 + 1), 'largest': err(os.ftruncate, fd, 2**63 - 1),
         'write': err(os.pwrite, fd, b'x', 2**52), 'size': os.fstat(fd).st_size, 'data': os.pread(fd, 10, 0).decode(),
         'pathTruncate': err(os.truncate, 'f', 2**60)})
    os.close(fd)
    `,
    dir,
  );
  assert.deepEqual(result, {
    truncate: 'EFBIG',
    largest: 'EFBIG',
    write: 'EFBIG',
    size: 4,
    data: 'kept',
    pathTruncate: 'EFBIG',
  });
});

// ---- special files and mappings ----

test('FIFOs and sockets are created, listed, used and kept like any other entry', async () => {
  const dir = await scratch('special');
  const made = await py<Record<string, unknown>>(
    `
    import socket, stat, threading
    os.mkfifo('fifo', 0o640)
    s = socket.socket(socket.AF_UNIX)
    s.bind('sock')
    s.close()
    # A FIFO on the mount carries bytes between two processes (the kernel does, as anywhere).
    got = []
    reader = threading.Thread(target=lambda: got.append(open('fifo', 'rb').read()))
    reader.start()
    with open('fifo', 'wb') as f:
        f.write(b'through the pipe')
    reader.join(10)
    out({'fifo': [stat.S_IFMT(os.lstat('fifo').st_mode), oct(os.lstat('fifo').st_mode & 0o777)],
         'sock': stat.S_IFMT(os.lstat('sock').st_mode), 'listed': sorted(os.listdir('.')),
         'piped': got[0].decode() if got else None})
    `,
    dir,
  );
  assert.deepEqual(made, {
    fifo: [0o010000, '0o640'],
    sock: 0o140000,
    listed: ['fifo', 'sock'],
    piped: 'through the pipe',
  });
  // Kept as they are through a remount.
  await harness.client!.call('unmount', { name: 'posix' });
  await harness.mount('posix', mnt);
  assert.equal(await ok(`stat -c '%n %F' fifo sock`, dir), 'fifo fifo\nsock socket\n');
});

test('device nodes keep their major and minor numbers', needsRoot('create device nodes'), async () => {
  const dir = await scratch('devices');
  await ok(`mknod chr c 1 3 && mknod blk b 8 1 && chmod 600 chr blk`, dir);
  const listed = async () => ok(`stat -c '%n %F %a %t:%T' chr blk`, dir);
  const expected = 'chr character special file 600 1:3\nblk block special file 600 8:1\n';
  assert.equal(await listed(), expected);
  assert.equal(await ok(`ls -l chr | cut -c1`, dir), 'c\n');
  await harness.client!.call('unmount', { name: 'posix' });
  await harness.mount('posix', mnt);
  assert.equal(await listed(), expected, 'the same after a remount');
});

test('a mapping of a file another process is writing reads what was written, and nothing hangs', async () => {
  const dir = await scratch('map-while-writing');
  const writer = py(
    `
    import time
    fd = os.open('growing', os.O_WRONLY | os.O_CREAT, 0o644)
    for i in range(64):
        os.pwrite(fd, bytes([i]) * 65536, i * 65536)
        if i % 8 == 7:
            os.fsync(fd)
        time.sleep(0.005)
    os.close(fd)
    open('done', 'w').close()
    `,
    dir,
  );
  const reader = py<{ maps: number; checked: number }>(
    `
    import mmap, time
    while not os.path.exists('growing'):
        time.sleep(0.001)
    maps = 0
    checked = 0
    while True:
        done = os.path.exists('done')
        with open('growing', 'rb') as f:
            # The mapping is sized by the kernel's own size of the file (lseek SEEK_END), not by
            # stat's: while another process's write() that extends the file has not returned,
            # FUSE's stat may already report the size the engine answered, and a page past the
            # kernel's size then faults with SIGBUS (test/stress/map-while-writing.py).
            size = f.seek(0, os.SEEK_END) // 65536 * 65536
            if size:
                m = mmap.mmap(f.fileno(), size, prot=mmap.PROT_READ)
                for i in range(size // 65536):
                    block = m[i * 65536:(i + 1) * 65536]
                    # A block is the writer's, or zeros not yet written: never anything else.
                    assert block in (bytes([i]) * 65536, bytes(65536)), i
                    checked += 1
                m.close()
                maps += 1
        if done:
            break
    out({'maps': maps, 'checked': checked})
    `,
    dir,
  );
  const [, read] = await Promise.all([writer, reader]);
  assert.ok(read.maps > 1 && read.checked > 64, JSON.stringify(read));
  const whole = await py<boolean>(
    `
    data = open('growing', 'rb').read()
    out(len(data) == 64 * 65536 and all(data[i * 65536:(i + 1) * 65536] == bytes([i]) * 65536 for i in range(64)))
    `,
    dir,
  );
  assert.equal(whole, true, 'and the file holds every block the writer wrote');
});

// ---- times ----

async function times(path: string, fresh = false): Promise<{ m: bigint; c: bigint }> {
  const [line] = await stat('%.9Y %.9Z', [path], { fresh });
  const [m, c] = line!.split(' ');
  const ns = (s: string) => BigInt(s.replace('.', ''));
  return { m: ns(m!), c: ns(c!) };
}

/** Changes a file one way, then checks which of its times moved. */
const timeChanges: { what: string; command: (f: string) => string; mtime: 'moves' | 'kept' }[] = [
  { what: 'a write changes mtime and ctime', command: (f) => `echo two >> ${q(f)}`, mtime: 'moves' },
  { what: 'a truncate changes mtime and ctime', command: (f) => `truncate -s 1 ${q(f)}`, mtime: 'moves' },
  { what: 'chmod changes ctime only', command: (f) => `chmod 600 ${q(f)}`, mtime: 'kept' },
  // To the file's own group: what a normal user may do too.
  { what: 'chown changes ctime only', command: (f) => `chown :$(id -g) ${q(f)}`, mtime: 'kept' },
];

for (const { what, command, mtime } of timeChanges) {
  test(what, async () => {
    const f = join(await scratch('times'), 'f');
    await ok(`echo one > ${q(f)}`);
    const before = await times(f);
    await ok(command(f));
    const after = await times(f);
    if (mtime === 'moves') assert.ok(after.m > before.m, 'mtime moved');
    else assert.equal(after.m, before.m, 'mtime kept');
    assert.ok(after.c > before.c, 'ctime moved');
  });
}

test('reading does not change mtime or ctime', async () => {
  const dir = await scratch('times-read');
  const f = join(dir, 'f');
  await ok(`echo one > ${q(f)}`);
  const before = await times(f);
  await ok(`cat ${q(f)} > /dev/null && head -c 1 ${q(f)} > /dev/null`);
  assert.deepEqual(await times(f, true), before);
});

test("link and unlink change the target's ctime and the directory's mtime and ctime", async () => {
  // Attributes fetched from the file system (stat --cached=never): what the engine holds.
  const dir = await scratch('times-link');
  const f = join(dir, 'f');
  await ok(`echo one > ${q(f)}`);
  const file0 = await times(f, true);
  const dir0 = await times(dir, true);
  await ok(`ln ${q(f)} ${q(join(dir, 'g'))}`);
  const file1 = await times(f, true);
  const dir1 = await times(dir, true);
  assert.equal(file1.m, file0.m, 'link keeps the mtime of the file');
  assert.ok(file1.c > file0.c, 'link changes the ctime of the file');
  assert.ok(dir1.m > dir0.m && dir1.c > dir0.c, 'link changes mtime and ctime of the directory');
  await ok(`rm ${q(join(dir, 'g'))}`);
  const file2 = await times(f, true);
  const dir2 = await times(dir, true);
  assert.equal(file2.m, file0.m, 'unlink keeps the mtime of the file');
  assert.ok(file2.c > file1.c, 'unlink changes the ctime of the file');
  assert.ok(dir2.m > dir1.m && dir2.c > dir1.c, 'unlink changes mtime and ctime of the directory');
});

// The names of a file are one inode in the kernel too: what changes through one shows through all.
test('right after ln, rm or a write through one hard link, the other name shows the new nlink, ctime, size and data', async () => {
  const dir = await scratch('link-cache');
  const f = join(dir, 'f');
  await ok(`echo one > ${q(f)} && stat ${q(f)} > /dev/null`);
  const c0 = (await times(f)).c;
  await ok(`ln ${q(f)} ${q(join(dir, 'g'))}`);
  assert.equal(await statNum('%h', f), 2n, 'nlink after ln');
  const c1 = (await times(f)).c;
  assert.ok(c1 > c0, 'ctime after ln');
  await ok(`echo more >> ${q(join(dir, 'g'))}`);
  assert.equal(await statNum('%s', f), 9n, 'size after a write through the other name');
  assert.equal(await ok(`cat ${q(f)}`), 'one\nmore\n', 'content after a write through the other name');
  await ok(`rm ${q(join(dir, 'g'))}`);
  assert.equal(await statNum('%h', f), 1n, 'nlink after rm');
});

test("rename changes the directories' mtime and ctime", async () => {
  const dir = await scratch('times-rename');
  await ok(`mkdir a b && echo x > a/f`, dir);
  const a0 = await times(join(dir, 'a'));
  await ok(`mv a/f a/g`, dir);
  const a1 = await times(join(dir, 'a'));
  assert.ok(a1.m > a0.m && a1.c > a0.c, 'rename within a directory changes it');
  const b0 = await times(join(dir, 'b'));
  await ok(`mv a/g b/g`, dir);
  const a2 = await times(join(dir, 'a'));
  const b1 = await times(join(dir, 'b'));
  assert.ok(a2.m > a1.m && a2.c > a1.c, 'the source directory changes');
  assert.ok(b1.m > b0.m && b1.c > b0.c, 'the target directory changes');
});

// ---- link counts and inode numbers ----

test('the nlink of a directory is 2 plus its subdirectories', async () => {
  const dir = await scratch('nlink-dir');
  assert.equal(await statNum('%h', dir), 2n);
  await ok(`mkdir a b c && touch f && ln -s a s`, dir);
  assert.equal(await statNum('%h', dir), 5n, 'three subdirectories; files and symlinks do not count');
  await ok(`rmdir b && mv c a/`, dir);
  assert.equal(await statNum('%h', dir), 3n, 'after rmdir and a move out');
  assert.equal(await statNum('%h', join(dir, 'a')), 3n, 'the moved directory counts in its new parent');
});

test('the nlink of a file counts its hard links, which share one inode number', async () => {
  const dir = await scratch('nlink-file');
  await ok(`echo x > f && ln f g && ln f h`, dir);
  const lines = await stat('%i %h', ['f', 'g', 'h'], { fresh: true, cwd: dir });
  const [ino] = lines[0]!.split(' ');
  assert.deepEqual(lines, [`${ino} 3`, `${ino} 3`, `${ino} 3`]);
  await ok(`rm g`, dir);
  assert.deepEqual(await stat('%i %h', ['f', 'h'], { fresh: true, cwd: dir }), [`${ino} 2`, `${ino} 2`]);
});

// ---- errors ----

test('ENOENT: a missing name', async () => {
  const dir = await scratch('enoent');
  const result = await py(
    `out([err(os.stat, 'nope'), err(open, 'nope'), err(os.unlink, 'nope'), err(os.rmdir, 'nope'),
          err(os.rename, 'nope', 'x'), err(os.mkdir, 'nope/x'), err(os.readlink, 'nope')])`,
    dir,
  );
  assert.deepEqual(result, Array(7).fill('ENOENT'));
});

test('EEXIST: mkdir of an existing name, ln onto an existing name', async () => {
  const dir = await scratch('eexist');
  const result = await py(
    `
    os.mkdir('d')
    open('f', 'w').close()
    open('g', 'w').close()
    out([err(os.mkdir, 'd'), err(os.mkdir, 'f'), err(os.link, 'f', 'g'), err(os.symlink, 'x', 'g'),
         err(os.open, 'f', os.O_CREAT | os.O_EXCL | os.O_WRONLY)])
    `,
    dir,
  );
  assert.deepEqual(result, Array(5).fill('EEXIST'));
});

test('ENOTEMPTY: rmdir of a non-empty directory', async () => {
  const dir = await scratch('enotempty');
  const result = await py(`os.makedirs('d/e'); out([err(os.rmdir, 'd'), os.listdir('d')])`, dir);
  assert.deepEqual(result, ['ENOTEMPTY', ['e']]);
});

test('ENOTDIR: a path through a file, rmdir of a file', async () => {
  const dir = await scratch('enotdir');
  const result = await py(
    `open('f', 'w').close(); out([err(os.stat, 'f/x'), err(open, 'f/x', 'w'), err(os.mkdir, 'f/x'), err(os.rmdir, 'f')])`,
    dir,
  );
  assert.deepEqual(result, Array(4).fill('ENOTDIR'));
});

test('EISDIR: opening a directory for writing, unlink of a directory', async () => {
  const dir = await scratch('eisdir');
  const result = await py(
    `os.mkdir('d'); out([err(os.open, 'd', os.O_WRONLY), err(os.open, 'd', os.O_RDWR), err(os.unlink, 'd')])`,
    dir,
  );
  assert.deepEqual(result, Array(3).fill('EISDIR'));
});

test('ENAMETOOLONG: a 256-byte name (255 bytes work)', async () => {
  const dir = await scratch('enametoolong');
  const result = await py(
    `
    long = 'a' * 256
    ok255 = 'b' * 255
    multibyte = 'é' * 128  # 256 bytes in UTF-8
    out([err(open, long, 'w'), err(os.mkdir, long), err(os.stat, long), err(open, multibyte, 'w'),
         err(open, ok255, 'w'), os.listdir('.') == [ok255]])
    `,
    dir,
  );
  assert.deepEqual(result, ['ENAMETOOLONG', 'ENAMETOOLONG', 'ENAMETOOLONG', 'ENAMETOOLONG', 'ok', true]);
});

test('EXDEV: rename and link between two mounted volumes', async () => {
  const dir = await scratch('exdev');
  const other = join(mntB, uniqueName('exdev'));
  const result = await py(
    `
    open('f', 'w').close()
    os.mkdir(${JSON.stringify(other)})
    target = os.path.join(${JSON.stringify(other)}, 'f')
    out([err(os.rename, 'f', target), err(os.link, 'f', target), os.path.exists('f'), os.path.exists(target)])
    `,
    dir,
  );
  assert.deepEqual(result, ['EXDEV', 'EXDEV', true, false]);
  // mv falls back to copy and delete, as between any two file systems.
  await ok(`echo moved > f2 && mv f2 ${q(join(other, 'f2'))}`, dir);
  assert.equal(await ok(`cat ${q(join(other, 'f2'))}`), 'moved\n');
});

test('EPERM: a hard link to a directory', async () => {
  const dir = await scratch('eperm');
  const result = await py(`os.mkdir('d'); out(err(os.link, 'd', 'e'))`, dir);
  assert.equal(result, 'EPERM');
});

// ---- durability ----

test('data survives a clean engine stop and restart', async (t) => {
  const h = await EngineHarness.create();
  t.after(() => h.stop());
  await h.start();
  const m = await h.volume('keep');
  const local = await h.dir('local');
  await writeFile(join(local, 'random'), randomBytes(700_000));
  await ok(
    `mkdir -p d/e && cp ${q(join(local, 'random'))} d/e/r && echo text > d/t && ln -s e/r d/s && ln d/t d/hard` +
      ` && chmod 640 d/t && touch -d '2009-02-13 23:31:30.123456789' d/e/r`,
    m,
  );
  await py(`os.setxattr('d/t', 'user.k', b'v')`, m);
  // Attributes from the file system, not the kernel's cache.
  const listing = `find . | sort | xargs stat --cached=never -c '%n %F %a %s %h %i %.9Y' && sha256sum d/e/r d/t`;
  const before = await ok(listing, m);
  await h.stop({ keepFiles: true });
  assert.ok(!(await readFile('/proc/self/mountinfo', 'utf8')).includes(` ${m} `), 'stop unmounted the volume');
  await h.start();
  await h.mount('keep', m);
  const afterRestart = await ok(listing, m);
  assert.equal(afterRestart, before);
  assert.equal(await ok(`readlink d/s`, m), 'e/r\n');
  assert.equal(await py(`out(os.getxattr('d/t', 'user.k').decode())`, m), 'v');
});

test('a file fsynced (dd conv=fsync) or closed survives kill -9; the next mount clears the dead mount', async (t) => {
  const h = await EngineHarness.create();
  t.after(() => h.stop());
  await h.start();
  const m = await h.volume('crash');
  const local = await h.dir('local');
  const data = randomBytes(3_000_000);
  await writeFile(join(local, 'src'), data);
  const sum = createHash('sha256').update(data).digest('hex');
  await ok(`dd if=${q(join(local, 'src'))} of=fsynced bs=1M conv=fsync status=none`, m);
  await ok(`cp ${q(join(local, 'src'))} closed && mkdir -p dir && echo small > dir/small`, m);
  await h.crash();
  const dead = await sh(`stat ${q(m)}`);
  assert.notEqual(dead.code, 0, 'the mount is dead after the crash');
  assert.match(dead.stderr, /Transport endpoint is not connected/);
  await h.start();
  await h.mount('crash', m);
  assert.equal(await sha256(join(m, 'fsynced')), sum);
  assert.equal(await sha256(join(m, 'closed')), sum);
  assert.equal(await ok(`cat dir/small`, m), 'small\n');
  const mounts = (await readFile('/proc/self/mountinfo', 'utf8')).split('\n').filter((l) => l.includes(` ${m} `));
  assert.equal(mounts.length, 1, 'one live mount, the dead one cleared');
});

test('a crash in the middle of overwriting a file leaves the last closed version, whole', async (t) => {
  const h = await EngineHarness.create();
  t.after(() => h.stop());
  await h.start(['--dirty-cap-mib', '8']);
  const m = await h.volume('midwrite');
  const local = await h.dir('local');
  const before = randomBytes(40 * 1024 * 1024);
  await writeFile(join(local, 'before'), before);
  await ok(`cp ${q(join(local, 'before'))} f`, m);
  // Overwrite it in place with more than the cap (so chunks are stored early), and crash while
  // the writer still has it open. (A close of any descriptor of the file, a dup held by a child
  // included, stores it: so one process writes, and never closes.)
  const flag = join(local, 'written');
  await ok(
    `python3 -c "
import os, time
fd = os.open('f', os.O_WRONLY)
for i in range(60):
    os.write(fd, b'x' * 1048576)
open('${flag}', 'w').close()
time.sleep(60)
" > /dev/null 2>&1 & echo $! > ${q(join(local, 'writer.pid'))}`,
    m,
  );
  // The flag is on the local disk, not the mount: this process may look at it itself.
  await waitFor(
    () =>
      access(flag).then(
        () => true,
        () => false,
      ),
    { timeoutMs: 30_000, what: 'the writer to write its 60 MiB (its flag file)' },
  );
  await h.crash();
  await sh(`kill $(cat ${q(join(local, 'writer.pid'))})`);
  await h.start();
  await h.mount('midwrite', m);
  assert.equal(await sha256(join(m, 'f')), createHash('sha256').update(before).digest('hex'));
});

// ---- the chunk store ----

test('an edit in the middle of a 20 MiB file stores only a few new chunks', async () => {
  const dir = await scratch('edit-middle');
  const local = await harness.dir(uniqueName('local'));
  const size = 20 * 1024 * 1024;
  await writeFile(join(local, 'big'), randomBytes(size));
  const s0 = await stats();
  await ok(`cp ${q(join(local, 'big'))} big`, dir);
  const s1 = await stats();
  const written = s1.chunkCount - s0.chunkCount;
  assert.ok(written >= 40 && written <= 330, `a 20 MiB file is stored as tens of chunks (${written})`);
  const edit = `printf EDIT | dd of=big bs=1 seek=10000000 conv=notrunc status=none`;
  await ok(edit, dir);
  await ok(edit, local);
  const s2 = await stats();
  const added = s2.chunkCount - s1.chunkCount;
  assert.ok(added >= 1 && added <= 6, `the edit added ${added} chunks`);
  assert.ok(s2.storeBytes - s1.storeBytes < 6 * 1024 * 1024, `the store grew ${s2.storeBytes - s1.storeBytes} bytes`);
  assert.equal(await sha256(join(dir, 'big')), await sha256(join(local, 'big')));
});

test('identical content written twice (two names, two volumes) adds no chunks', async () => {
  const dir = await scratch('dedup');
  const otherDir = join(mntB, uniqueName('dedup'));
  const local = await harness.dir(uniqueName('local'));
  await writeFile(join(local, 'f'), randomBytes(3 * 1024 * 1024 + 12345));
  const s0 = await stats();
  await ok(`cp ${q(join(local, 'f'))} one`, dir);
  const s1 = await stats();
  assert.ok(s1.chunkCount > s0.chunkCount, 'the first copy is stored');
  await ok(
    `cp ${q(join(local, 'f'))} two && mkdir ${q(otherDir)} && cp ${q(join(local, 'f'))} ${q(otherDir)}/three`,
    dir,
  );
  await ok(`cat one > four`, dir);
  const s2 = await stats();
  assert.equal(s2.chunkCount, s1.chunkCount, 'no chunk added by three more copies');
  const sums = await Promise.all(
    [join(dir, 'one'), join(dir, 'two'), join(dir, 'four'), join(otherDir, 'three')].map(sha256),
  );
  assert.equal(new Set(sums).size, 1);
});

test('two stored files read in alternation each return their own bytes', async () => {
  const dir = await scratch('alternate');
  const local = await harness.dir(uniqueName('local'));
  const a = randomBytes(3 * 1024 * 1024 + 777);
  const b = randomBytes(2 * 1024 * 1024 + 99);
  await writeFile(join(local, 'a'), a);
  await writeFile(join(local, 'b'), b);
  await ok(`cp ${q(join(local, 'a'))} ${q(join(local, 'b'))} .`, dir);
  const result = await py<{ a: string; b: string }>(
    `
    import hashlib
    fa, fb = open('a', 'rb'), open('b', 'rb')
    ha, hb = hashlib.sha256(), hashlib.sha256()
    while True:
        x, y = fa.read(50000), fb.read(70000)
        if not x and not y:
            break
        ha.update(x)
        hb.update(y)
    out({'a': ha.hexdigest(), 'b': hb.hexdigest()})
    `,
    dir,
  );
  assert.deepEqual(result, {
    a: createHash('sha256').update(a).digest('hex'),
    b: createHash('sha256').update(b).digest('hex'),
  });
});
