/**
 * A MemoryFs (the addon's test double) served by a process of its own, for tests that need the
 * server to be another process: one that runs as a normal user (mounting through fusermount3),
 * or one that exits with its mount up.
 *
 * Usage: node dist/test/helpers/memory-fs-server.js MOUNTPOINT [OPTIONS_JSON] [--exit-when-mounted]
 * Prints `{"ready":GRANTED}` once mounted, or `{"error":CODE,"message":...}` and exits 1. Then
 * reads commands on stdin, one a line, and answers each with a JSON line:
 *   unmount | unmount-detach  ->  {"unmounted":true} or {"error":CODE,"message":...}
 *   exit                      ->  exits (without unmounting)
 * At the end of stdin it unmounts (detaching) and exits. It imports only the addon's loader and
 * the test double, so it runs from a copy of those files (a normal user may not read the tree).
 */
import { createInterface } from 'node:readline';
import { loadAddon } from '../../src-main/engine/fuse/load-addon.js';
import { MemoryFs } from './memory-fs.js';

const [mountpoint, optionsJson, flag] = process.argv.slice(2);
if (!mountpoint) {
  console.error('usage: memory-fs-server.js MOUNTPOINT [OPTIONS_JSON] [--exit-when-mounted]');
  process.exit(2);
}
const say = (value: unknown) => process.stdout.write(`${JSON.stringify(value)}\n`);
const failure = (error: unknown) => {
  const e = error as { code?: string; message?: string };
  return { error: e.code ?? 'ERROR', message: e.message ?? String(error) };
};

const fs = new MemoryFs(loadAddon());
try {
  say({ ready: await fs.mount(mountpoint, optionsJson ? JSON.parse(optionsJson) : {}) });
} catch (error) {
  say(failure(error));
  process.exit(1);
}
if (flag === '--exit-when-mounted') process.exit(0);

const lines = createInterface({ input: process.stdin });
lines.on('line', (line) => {
  if (line === 'exit') process.exit(0);
  if (line !== 'unmount' && line !== 'unmount-detach') return say({ error: 'EINVAL', message: `unknown: ${line}` });
  fs.unmount(line === 'unmount-detach').then(
    () => say({ unmounted: true }),
    (error) => say(failure(error)),
  );
});
lines.on('close', () => {
  void fs.unmount(true).finally(() => process.exit(0));
});
