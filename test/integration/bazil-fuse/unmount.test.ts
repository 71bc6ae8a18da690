/**
 * How a session ends, and what a reply can and cannot do: unmount refused with EBUSY while a
 * program holds a file (unless detached); a clean unmount; the kernel side going away on its own
 * (`fusermount3 -u` from outside, an aborted connection, the serving process exiting); replies
 * that come too late, twice, or of the wrong kind; and mount errors that say what to do.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import type { Entry, Request } from '../../../src-main/engine/fuse/addon.js';
import { loadAddon } from '../../../src-main/engine/fuse/load-addon.js';
import { readMountTable } from '../../../src-main/engine/fs/mount-table.js';
import { sh } from '../../helpers/engine-harness.js';
import { holdOpen } from '../../helpers/fs-tools.js';
import { MemoryFs, TEST_MOUNT_OPTIONS } from '../../helpers/memory-fs.js';
import { mountMemoryFs } from '../../helpers/memory-mount.js';
import { waitFor } from '../../helpers/wait-for.js';

const TIMEOUT = { timeout: 90_000 };
const SERVER = fileURLToPath(new URL('../../helpers/memory-fs-server.js', import.meta.url));

async function mounted(mountpoint: string): Promise<boolean> {
  return (await readMountTable()).some((e) => e.mountpoint === mountpoint);
}

/** A request the test file system holds until `release()`. */
function holdFirst(fs: MemoryFs, match: (r: Request) => boolean) {
  let release = () => {};
  const released = new Promise<void>((resolve) => (release = resolve));
  let held: Request | null = null;
  fs.hold = (r) => {
    if (held || !match(r)) return;
    held = r;
    return released;
  };
  return { release, held: () => held };
}

test('unmount is refused with EBUSY while a file is open, and the mount keeps serving', TIMEOUT, async (t) => {
  const m = await mountMemoryFs(t);
  await m.ok('echo hi > f');
  const holder = await holdOpen(join(m.mnt, 'f'), m.root);
  try {
    await assert.rejects(m.fs.unmount(false), (error: Error & { code?: string }) => {
      assert.equal(error.code, 'EBUSY');
      assert.match(error.message, new RegExp(`${m.mnt} is busy: .*fuser -vm .*unmount with detach`));
      return true;
    });
    assert.equal(await m.ok('cat f'), 'hi\n');
  } finally {
    await holder.release();
  }
  await m.fs.unmount(false);
  assert.equal(await mounted(m.mnt), false);
  // Over: nothing to take, replies and notifications do nothing, a second unmount resolves.
  const { addon, session } = m.fs;
  assert.deepEqual(addon.take(session!), []);
  addon.replyErr(session!, 1, 0);
  addon.notifyInvalInode(session!, 2, 0, 0);
  await m.fs.unmount(false);
});

test('detach unmounts a busy mount: its program then gets ENOTCONN, requests in flight EIO', TIMEOUT, async (t) => {
  const m = await mountMemoryFs(t);
  await m.ok('echo hi > f && echo there > g');
  // Holds f open; once told, reads it through the descriptor it kept.
  const holder = spawn('sh', ['-c', 'exec 3<"$1" && echo open && read _ && cat <&3; echo "rc=$?"', 'h', `${m.mnt}/f`], {
    cwd: m.root,
  });
  let holderOut = '';
  holder.stdout.on('data', (d: Buffer) => (holderOut += d.toString()));
  holder.stderr.on('data', (d: Buffer) => (holderOut += d.toString()));
  const holderDone = new Promise((resolve) => holder.once('close', resolve));
  await waitFor(() => holderOut.includes('open'), { timeoutMs: 10_000, what: 'the holder to open f' });

  const g = m.fs.node('g')!;
  const hold = holdFirst(m.fs, (r) => r.op === 'open' && r.ino === g.ino);
  const reading = m.run('cat g');
  await waitFor(() => hold.held(), { timeoutMs: 10_000, what: 'the open of g to arrive' });

  await m.fs.unmount(true);
  assert.equal(await mounted(m.mnt), false);
  const read = await reading;
  assert.notEqual(read.code, 0);
  assert.match(read.stderr, /Input\/output error/);

  holder.stdin.end('\n');
  await holderDone;
  assert.match(holderOut, /Transport endpoint is not connected[\s\S]*rc=1/);
  hold.release(); // the test file system now answers the open: a no-op
  await sleep(50);
  assert.deepEqual(m.fs.replyErrors, []);
});

for (const how of ['fusermount3 -u from outside', 'an aborted connection'] as const) {
  test(`${how} ends the session: late replies are no-ops, unmount resolves`, TIMEOUT, async (t) => {
    const m = await mountMemoryFs(t);
    await m.ok('echo hi > f');
    const f = m.fs.node('f')!;
    let reading = null;
    let hold = null;
    if (how === 'fusermount3 -u from outside') {
      const result = await sh(`fusermount3 -u '${m.mnt}'`);
      assert.equal(result.code, 0, result.stderr);
    } else {
      // A request in flight when the connection goes.
      hold = holdFirst(m.fs, (r) => r.op === 'open' && r.ino === f.ino);
      reading = m.run('cat f');
      await waitFor(() => hold!.held(), { timeoutMs: 10_000, what: 'the open of f to arrive' });
      await m.abort();
      const read = await reading;
      assert.match(read.stderr, /Transport endpoint is not connected|Software caused connection abort/);
      assert.equal(await mounted(m.mnt), true, 'an aborted connection leaves a dead mount');
    }
    await sleep(100); // the addon sees its loop end
    hold?.release();
    const { addon, session } = m.fs;
    assert.deepEqual(addon.take(session!), []);
    addon.replyErr(session!, 1, 2);
    addon.notifyInvalEntry(session!, 1, 'f');
    await m.fs.unmount(false);
    assert.equal(await mounted(m.mnt), false, 'unmount clears a dead mount');
    assert.deepEqual(m.fs.replyErrors, []);
  });
}

test('a process that exits with its mount up leaves no mount behind', TIMEOUT, async (t) => {
  const m = await mountMemoryFs(t); // for its folder and clean-up only
  const mnt = join(m.root, 'other');
  await mkdir(mnt);
  const result = await sh(`'${process.execPath}' '${SERVER}' '${mnt}' '{}' --exit-when-mounted`);
  assert.match(result.stdout, /"ready"/, result.stderr);
  assert.equal(await mounted(mnt), false);
});

test(
  'replies: unknown ids are no-ops; the wrong kind or a malformed argument throws and answers EIO',
  TIMEOUT,
  async (t) => {
    const m = await mountMemoryFs(t);
    const { addon, session } = m.fs;
    for (const name of ['a', 'b', 'c']) {
      const hold = holdFirst(m.fs, (r) => r.op === 'lookup' && r.name === name);
      const stat = m.run(`stat ${name}`);
      await waitFor(() => hold.held(), { timeoutMs: 10_000, what: `the lookup of ${name}` });
      const id = hold.held()!.id;
      if (name === 'a') {
        const attr = m.fs.attr(m.fs.node('')!);
        assert.throws(() => addon.replyAttr(session!, id, attr, 1), {
          name: 'TypeError',
          message: `replyAttr cannot answer request ${id} (lookup); it was answered EIO`,
        });
      } else if (name === 'b') {
        const entry = {
          ino: 5,
          generation: 1,
          attr: { ino: 5 },
          entryTimeoutS: 1,
          attrTimeoutS: 1,
        } as unknown as Entry;
        assert.throws(() => addon.replyEntry(session!, id, entry), {
          name: 'TypeError',
          message: 'replyEntry: entry.attr.mode must be a number',
        });
      } else {
        assert.throws(() => addon.replyNone(session!, id), { name: 'TypeError', message: /replyNone cannot answer/ });
      }
      const result = await stat;
      assert.match(result.stderr, /Input\/output error/);
      hold.release(); // its own answer comes too late: a no-op
    }
    assert.throws(() => addon.replyErr({} as typeof session & object, 1, 2), {
      message: 'the first argument must be a session (from mount)',
    });
    addon.replyErr(session!, 123_456_789, 2); // never taken
    await sleep(50);
    assert.deepEqual(m.fs.replyErrors, []);
    assert.equal(await m.ok('echo ok > a && cat a'), 'ok\n');
  },
);

test('a mount that cannot be made says what to do', TIMEOUT, async (t) => {
  const m = await mountMemoryFs(t);
  const addon = loadAddon();
  const attempt = (mountpoint: string) => addon.mount(mountpoint, TEST_MOUNT_OPTIONS, () => {});
  await assert.rejects(attempt(join(m.root, 'missing')), {
    code: 'ENOENT',
    message: `mountpoint ${join(m.root, 'missing')} does not exist: create the directory first`,
  });
  await writeFile(join(m.root, 'file'), '');
  await assert.rejects(attempt(join(m.root, 'file')), { code: 'ENOTDIR', message: /is not a directory/ });
  await m.abort(); // a dead mount at m.mnt
  await assert.rejects(attempt(m.mnt), {
    code: 'ENOTCONN',
    message: `${m.mnt} is a dead FUSE mount (its file system stopped): clear it with \`fusermount3 -u ${m.mnt}\``,
  });
});
