/**
 * Invalidations sent by the addon's notify thread. The kernel caches here for an hour (entry and
 * attribute timeouts, and open files keep their pages), so only an invalidation shows a change
 * made behind its back:
 * - inval_inode while another process re-reads the file in a loop, each read held 20 ms by the
 *   file system: an invalidation then waits for page locks that held reads own, which the JS
 *   thread must stay free to answer (no deadlock), and the reader sees the new content;
 * - inval_entry after a rename the kernel did not see; notify_delete after a removal it did not.
 */
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'node:test';
import { PYTHON, q } from '../../helpers/fs-tools.js';
import { mountMemoryFs } from '../../helpers/memory-mount.js';
import { waitFor } from '../../helpers/wait-for.js';

const SIZE = 256 * 1024;

test(
  'inval_inode while a reader re-reads the file: no deadlock, and the new content shows',
  { timeout: 90_000 },
  async (t) => {
    const m = await mountMemoryFs(t);
    m.fs.attrTimeoutS = m.fs.entryTimeoutS = 3600;
    m.fs.openFlags = { keepCache: true };
    await m.ok(`head -c ${SIZE} /dev/zero | tr '\\0' a > live`);
    const live = m.fs.node('live')!;
    const { addon, session } = m.fs;
    m.fs.hold = (r) => (r.op === 'read' && r.ino === live.ino ? sleep(20) : undefined);

    // Reads the whole file from offset 0 on one descriptor, over and over; prints each change of
    // content, and stops 1 s after it first sees the new one.
    const reader = [
      'import os, sys, time',
      "fd = os.open('live', os.O_RDONLY)",
      'last, until = None, None',
      'while until is None or time.monotonic() < until:',
      `    data = os.pread(fd, ${SIZE}, 0)`,
      "    kind = 'a' if data == b'a' * len(data) else 'b' if data == b'b' * len(data) else 'mixed'",
      '    if kind != last:',
      '        print(kind, flush=True)',
      '        last = kind',
      "    if kind == 'b' and until is None:",
      '        until = time.monotonic() + 1',
    ].join('\n');
    const reading = m.run(`${PYTHON} -c ${q(reader)}`, 60_000);
    await waitFor(() => (m.fs.seen.get('read') ?? 0) > 0, { timeoutMs: 10_000, what: 'the reader to read' });
    await sleep(300);
    live.data = Buffer.alloc(SIZE, 'b'); // behind the kernel's back
    await sleep(500); // the reader keeps reading its cached pages meanwhile
    const readsBefore = m.fs.seen.get('read') ?? 0;
    let notifications = 0;
    let done = false;
    void reading.finally(() => (done = true));
    while (!done) {
      addon.notifyInvalInode(session!, live.ino, 0, 0);
      notifications++;
      await sleep(5);
    }
    const result = await reading;
    assert.equal(result.code, 0, result.stderr);
    // 'a' until the first invalidation (the cache hid the change), then 'b'; a read that an
    // invalidation cut through returns old pages and new ones ('mixed'), but never 'a' again.
    const seen = result.stdout.trim().split('\n');
    assert.equal(seen[0], 'a');
    assert.equal(seen.at(-1), 'b');
    assert.ok(!seen.slice(seen.indexOf('b')).includes('a'), seen.join(' '));
    const readsAfter = (m.fs.seen.get('read') ?? 0) - readsBefore;
    assert.ok(readsAfter > 10, `reads after the invalidations began: ${readsAfter}`);
    t.diagnostic(`${notifications} inval_inode while ${readsAfter} reads (each held 20 ms) went to the file system`);
    assert.deepEqual(m.fs.replyErrors, []);
  },
);

test(
  'inval_entry after a rename behind the kernel, notify_delete after a removal behind it',
  { timeout: 60_000 },
  async (t) => {
    const m = await mountMemoryFs(t);
    m.fs.attrTimeoutS = m.fs.entryTimeoutS = 3600;
    const { addon, session } = m.fs;
    await m.ok('mkdir d && echo one > d/old && echo two > d/gone && stat d/old d/gone > /dev/null');
    const d = m.fs.node('d')!;
    const gone = m.fs.node('d/gone')!;

    m.fs.renameBehind('d', 'old', 'new');
    assert.equal(await m.ok('cat d/old'), 'one\n', 'the kernel still holds the old name');
    assert.equal(await m.ok('cat d/new'), 'one\n');
    addon.notifyInvalEntry(session!, d.ino, 'old');
    await waitFor(async () => (await m.run('test -e d/old')).code !== 0, {
      timeoutMs: 5000,
      what: 'd/old to be gone after inval_entry',
    });

    d.entries!.delete('gone'); // behind the kernel's back
    assert.equal((await m.run('stat d/gone')).code, 0, 'the kernel still holds d/gone');
    addon.notifyDelete(session!, d.ino, gone.ino, 'gone');
    await waitFor(async () => (await m.run('test -e d/gone')).code !== 0, {
      timeoutMs: 5000,
      what: 'd/gone to be gone after notify_delete',
    });

    // What the kernel never cached answers ENOENT, which is no error.
    addon.notifyInvalEntry(session!, d.ino, 'never-looked-up');
    addon.notifyInvalInode(session!, 999_999, 0, 0);
    addon.notifyDelete(session!, 999_999, 999_998, 'nothing');
    assert.equal(await m.ok('ls d'), 'new\n');
    assert.deepEqual(m.fs.replyErrors, []);
  },
);
