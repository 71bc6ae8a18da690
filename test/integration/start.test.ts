/**
 * `bazil start` (what `npm start` runs): the engine with volume "home" mounted at ~/Bazil, until
 * Ctrl-C, which stores what is dirty, unmounts, and says what it did.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { engineEnv } from '../../src-main/client/engine-connection.js';
import { ControlClient } from '../../src-main/client/control-client.js';
import { socketPath } from '../../src-main/engine/data-dir.js';
import { BAZIL_BIN, bazil, ok, sh } from '../helpers/engine-harness.js';
import { PYTHON } from '../helpers/fs-tools.js';
import { scratch } from '../helpers/scratch.js';
import { waitFor } from '../helpers/wait-for.js';

test('Ctrl-C on `bazil start` stores a file still being written, unmounts, and says so', async (t) => {
  const { root } = await scratch(t);
  const home = join(root, 'home');
  await mkdir(home);
  const env: NodeJS.ProcessEnv = { ...engineEnv(), HOME: home };
  delete env.BAZIL_DATA_DIR;
  delete env.XDG_DATA_HOME;
  const dataDir = join(home, '.local', 'share', 'bazil');
  const mnt = join(home, 'Bazil');

  const child = spawn(process.execPath, [BAZIL_BIN, 'start'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr.on('data', (d: Buffer) => (output += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  t.after(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  await waitFor(
    () => {
      if (child.exitCode !== null) throw new Error(`bazil start exited: ${output}`);
      return /press Ctrl-C/.test(output);
    },
    { timeoutMs: 15_000, what: 'bazil start to mount ~/Bazil' },
  );

  // 3 MiB written to a file that stays open: dirty (in the engine's memory) when Ctrl-C comes.
  await ok(`head -c 3M /dev/urandom > '${root}/source'`);
  // One process writes the file and keeps it open until its stdin ends. (A child writing through
  // a shared descriptor would close its copy on exit, and that close stores the data.)
  const writer = spawn(PYTHON, [
    '-c',
    `import sys; f = open(sys.argv[1], 'wb'); f.write(open(sys.argv[2], 'rb').read()); f.flush(); sys.stdin.read()`,
    `${mnt}/open-file`,
    `${root}/source`,
  ]);
  const writerDone = new Promise((resolve) => writer.once('close', resolve));
  t.after(() => writer.stdin.end());
  const client = await ControlClient.connect(socketPath(dataDir));
  await waitFor(async () => (await client.call('stats', {})).dirty.totalBytes >= 3 * 1024 * 1024, {
    timeoutMs: 10_000,
    what: 'the open file to hold 3 MiB of dirty data',
  });
  client.close();

  // The window is served too, from a process of its own.
  await waitFor(() => /bazil: serving on http:\/\/127\.0\.0\.1:\d+\/\?token=/.test(output), {
    timeoutMs: 15_000,
    what: 'bazil start to serve the window',
  });

  child.kill('SIGINT');
  assert.equal(await exited, 0, output);
  await waitFor(async () => (await sh(`pgrep -f '${dataDir} [s]erve'`)).code !== 0, {
    timeoutMs: 10_000,
    what: 'the window’s server to end with the engine',
  });
  const lines = output.trimEnd().split('\n');
  assert.ok(lines.includes(`bazil: volume "home": stored 3.0 MiB, unmounted from "${mnt}"`), output);
  assert.equal(lines.at(-1), 'bazil: engine stopped');
  assert.ok(!(await ok('cat /proc/mounts')).includes(mnt), 'nothing stays mounted');
  writer.stdin.end();
  await writerDone;

  // What was stored is there after the next start.
  assert.equal((await bazil(dataDir, 'mount', 'home', mnt)).code, 0);
  assert.equal(await ok(`cmp '${root}/source' '${mnt}/open-file' && echo same`), 'same\n');
});
