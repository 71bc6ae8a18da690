/**
 * The patched fuse-native binding on its own: native/fuse-native/smoke.mjs mounts a small
 * in-memory file system with it and checks, from child processes, each change the patch makes
 * (native/fuse-native/README.md). It unmounts whether its checks pass or fail.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';

const SMOKE = fileURLToPath(new URL('../../../native/fuse-native/smoke.mjs', import.meta.url));

test('the patched fuse-native binding passes every smoke check', async () => {
  const { code, output } = await new Promise<{ code: number | null; output: string }>((resolve) => {
    execFile(process.execPath, [SMOKE], { timeout: 180_000 }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : null) : 0, output: stdout + stderr });
    });
  });
  assert.equal(code, 0, `smoke.mjs failed:\n${output}`);
  assert.match(output, /all checks passed/);
});
