/**
 * A normal user's mounts: the in-memory test file system served by a process running as a user
 * this test creates (test/helpers/memory-fs-server.ts, run with setpriv), which mounts and
 * unmounts through fusermount3. The addon and the server are copied to a folder that user can
 * read (the project's tree may sit in a folder it cannot enter).
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { chmod, chown, copyFile, mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, test } from 'node:test';
import { ADDON_PATH } from '../../../src-main/engine/fuse/load-addon.js';
import { readMountTable } from '../../../src-main/engine/fs/mount-table.js';
import { ok, sh } from '../../helpers/engine-harness.js';
import { abortConnections, shWithin } from '../../helpers/fuse-connections.js';
import { needsRoot, q } from '../../helpers/fs-tools.js';
import { waitFor } from '../../helpers/wait-for.js';

const USER = 'bazil-fuse-test';
/** Root creates the user and serves as them; run as a normal user, the whole suite tests this. */
const TIMEOUT = { timeout: 90_000, ...needsRoot('create a user to mount as') };
const isRoot = process.getuid?.() === 0;
const DIST = fileURLToPath(new URL('../../../', import.meta.url)); // dist/

let uid = 0;
let gid = 0;
let createdUser = false;
/** /dev/fuse's mode when it was not open to every user (some containers make it 0600). */
let fuseDeviceMode: number | null = null;
let stage = '';
const servers = new Set<UserServer>();

before(async () => {
  if (!isRoot) return;
  if ((await sh(`id -u ${USER}`)).code !== 0) {
    await ok(`useradd --system --no-create-home --shell /usr/sbin/nologin ${USER}`);
    createdUser = true;
  }
  uid = Number((await ok(`id -u ${USER}`)).trim());
  gid = Number((await ok(`id -g ${USER}`)).trim());
  stage = await mkdtemp(join(tmpdir(), 'bazil-fuse-user-'));
  await chmod(stage, 0o755);
  const files: [string, string][] = [
    [ADDON_PATH, 'native/bazil-fuse/build/Release/bazil_fuse.node'],
    [join(DIST, 'src-main/engine/fuse/load-addon.js'), 'dist/src-main/engine/fuse/load-addon.js'],
    [join(DIST, 'test/helpers/memory-fs.js'), 'dist/test/helpers/memory-fs.js'],
    [join(DIST, 'test/helpers/memory-fs-server.js'), 'dist/test/helpers/memory-fs-server.js'],
  ];
  for (const [from, to] of files) {
    await mkdir(dirname(join(stage, to)), { recursive: true, mode: 0o755 });
    await copyFile(from, join(stage, to));
    await chmod(join(stage, to), 0o644);
  }
  await writeFile(join(stage, 'package.json'), '{ "type": "module" }\n');
  await ok(`find ${q(stage)} -type d -exec chmod 755 {} +`);
  const mode = (await stat('/dev/fuse')).mode & 0o777;
  if ((mode & 0o006) !== 0o006) {
    // What a user is told then (fusermount3 opens /dev/fuse with the user's rights), before it
    // gets the mode distributions give it, for the rest of the test.
    const server = new UserServer(await mountpoint('mnt-device'));
    assert.deepEqual(await server.next(), {
      error: 'EACCES',
      message: `/dev/fuse (mode ${mode.toString(8).padStart(3, '0')}) is not open to this user, and fusermount3 needs it to be: make it 0666, as distributions do (chmod 666 /dev/fuse, or a udev rule)`,
    });
    await server.stop();
    fuseDeviceMode = mode;
    await chmod('/dev/fuse', 0o666);
  }
});

after(async () => {
  if (!isRoot) return;
  for (const server of servers) await server.stop();
  if (fuseDeviceMode !== null) await chmod('/dev/fuse', fuseDeviceMode);
  for (const { mountpoint } of await readMountTable()) {
    if (stage && mountpoint.startsWith(`${stage}/`)) await sh(`umount -l ${q(mountpoint)}`);
  }
  if (stage) await rm(stage, { recursive: true, force: true });
  if (createdUser) await sh(`userdel ${USER}`);
});

/** A mountpoint the test user owns. */
async function mountpoint(name: string): Promise<string> {
  const dir = join(stage, name);
  await mkdir(dir);
  await chown(dir, uid, gid);
  return dir;
}

/** Runs a shell command as the test user (in the staging folder, outside every mount). */
function asUser(command: string, timeoutMs = 30_000) {
  const mounts = [...servers].map((s) => s.mnt);
  return shWithin(`setpriv --reuid=${uid} --regid=${gid} --init-groups sh -c ${q(command)}`, stage, timeoutMs, () =>
    abortConnections(mounts),
  );
}

/** The test file system served by a process of the test user's. */
class UserServer {
  private readonly child: ChildProcess;
  private readonly lines: string[] = [];
  private stderr = '';
  private readonly exited: Promise<void>;

  constructor(
    readonly mnt: string,
    options: object = {},
    flag: string[] = [],
  ) {
    const server = join(stage, 'dist/test/helpers/memory-fs-server.js');
    const args = [`--reuid=${uid}`, `--regid=${gid}`, '--init-groups', process.execPath, server, mnt];
    this.child = spawn('setpriv', [...args, JSON.stringify(options), ...flag], { cwd: stage });
    let buffer = '';
    this.child.stdout!.on('data', (d: Buffer) => {
      buffer += d.toString();
      const parts = buffer.split('\n');
      buffer = parts.pop()!;
      this.lines.push(...parts);
    });
    this.child.stderr!.on('data', (d: Buffer) => (this.stderr += d.toString()));
    this.exited = new Promise((resolve) => this.child.once('close', () => resolve()));
    servers.add(this);
  }

  /** The next line the server says, as JSON. */
  async next(): Promise<Record<string, unknown>> {
    const line = await waitFor(() => this.lines.shift() ?? (this.child.exitCode !== null ? 'exit' : undefined), {
      timeoutMs: 20_000,
      what: `the server at ${this.mnt} to answer (stderr: ${this.stderr})`,
    });
    if (line === 'exit') throw new Error(`the server at ${this.mnt} exited: ${this.stderr}`);
    return JSON.parse(line) as Record<string, unknown>;
  }

  async command(line: string): Promise<Record<string, unknown>> {
    this.child.stdin!.write(`${line}\n`);
    return this.next();
  }

  /** Ends it (it detaches its mount at the end of stdin); killed if it does not end. */
  async stop(): Promise<void> {
    servers.delete(this);
    this.child.stdin!.end();
    const timer = setTimeout(() => {
      void abortConnections([this.mnt]).finally(() => this.child.kill('SIGKILL'));
    }, 15_000);
    await this.exited;
    clearTimeout(timer);
  }
}

async function mountLine(mnt: string): Promise<string | undefined> {
  return (await readFile('/proc/self/mountinfo', 'utf8')).split('\n').find((l) => l.split(' ')[4] === mnt);
}

test('a normal user mounts through fusermount3; the files are theirs and no one else gets in', TIMEOUT, async () => {
  const mnt = await mountpoint('mnt-a');
  const server = new UserServer(mnt);
  const ready = await server.next();
  assert.ok(ready.ready, JSON.stringify(ready));
  assert.match(
    (await mountLine(mnt)) ?? '',
    new RegExp(`fuse\\.bazil-test bazil-test:memory rw,user_id=${uid},group_id=${gid}`),
  );
  const made = await asUser(
    `cd mnt-a && echo hi > f && mkdir d && mv f d/f && ln -s d/f l && cat l && stat -c '%u %g' d/f`,
  );
  assert.equal(made.code, 0, made.stderr);
  assert.equal(made.stdout, `hi\n${uid} ${gid}\n`);
  const root = await shWithin(`ls ${q(mnt)}`, stage, 10_000, () => abortConnections([mnt]));
  assert.match(root.stderr, /Permission denied/, 'root is not let in without allow_other');

  // EBUSY through fusermount3 while a file is open; the mount keeps serving.
  const holder = spawn(
    'setpriv',
    [`--reuid=${uid}`, `--regid=${gid}`, '--init-groups', 'sh', '-c', 'exec 3<mnt-a/d/f && echo open && read _'],
    { cwd: stage },
  );
  let held = '';
  holder.stdout.on('data', (d: Buffer) => (held += d.toString()));
  const holderDone = new Promise((resolve) => holder.once('close', resolve));
  try {
    await waitFor(() => held.includes('open'), { timeoutMs: 10_000, what: 'the holder to open d/f' });
    const busy = await server.command('unmount');
    assert.equal(busy.error, 'EBUSY', JSON.stringify(busy));
    assert.match(String(busy.message), /is busy: .*fuser -vm/);
    assert.equal((await asUser('cat mnt-a/d/f')).stdout, 'hi\n');
  } finally {
    holder.stdin.end();
    await holderDone;
  }
  assert.deepEqual(await server.command('unmount'), { unmounted: true });
  assert.equal(await mountLine(mnt), undefined);
  await server.stop();
});

test('a normal user detaches a busy mount; the program holding a file then gets ENOTCONN', TIMEOUT, async () => {
  const mnt = await mountpoint('mnt-b');
  const server = new UserServer(mnt);
  assert.ok((await server.next()).ready);
  assert.equal((await asUser('echo hi > mnt-b/f')).code, 0);
  const holder = spawn(
    'setpriv',
    [
      `--reuid=${uid}`,
      `--regid=${gid}`,
      '--init-groups',
      'sh',
      '-c',
      'exec 3<mnt-b/f && echo open && read _ && cat <&3',
    ],
    { cwd: stage },
  );
  let out = '';
  holder.stdout.on('data', (d: Buffer) => (out += d.toString()));
  holder.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const holderDone = new Promise((resolve) => holder.once('close', resolve));
  await waitFor(() => out.includes('open'), { timeoutMs: 10_000, what: 'the holder to open f' });
  assert.deepEqual(await server.command('unmount-detach'), { unmounted: true });
  assert.equal(await mountLine(mnt), undefined);
  holder.stdin.end('\n');
  await holderDone;
  assert.match(out, /Transport endpoint is not connected/);
  await server.stop();
});

test('a normal user is told what to do when the mount cannot be made', TIMEOUT, async () => {
  const conf = await readFile('/etc/fuse.conf', 'utf8').catch(() => '');
  if (!/^\s*user_allow_other\s*$/m.test(conf)) {
    const server = new UserServer(await mountpoint('mnt-c'), { allowOther: true });
    assert.deepEqual(await server.next(), {
      error: 'EPERM',
      message: 'allow_other needs a line `user_allow_other` in /etc/fuse.conf for a normal user (or mount as root)',
    });
    await server.stop();
  }
  const rootsDir = join(stage, 'not-theirs');
  await mkdir(rootsDir, { mode: 0o755 });
  const server = new UserServer(rootsDir);
  const refused = await server.next();
  assert.equal(refused.error, 'EACCES');
  assert.match(
    String(refused.message),
    /is not writable by this user .*fusermount3 mounts only on a directory the user may write to/,
  );
  await server.stop();
});

test("a normal user's process that exits with its mount up leaves no mount behind", TIMEOUT, async () => {
  const mnt = await mountpoint('mnt-d');
  const server = new UserServer(mnt, {}, ['--exit-when-mounted']);
  assert.ok((await server.next()).ready);
  await server.stop();
  await waitFor(async () => (await mountLine(mnt)) === undefined, { timeoutMs: 10_000, what: 'the mount to go' });
});
