#!/usr/bin/env node
// Runs after `npm install` / `npm ci` in this folder:
// 1. applies Bazil's patch to lmdb and rebuilds it from source, and builds Bazil's own FUSE addon
//    (native/bazil-fuse; needs libfuse3-dev) (see native/);
// 2. compiles the TypeScript (dist/), so `bazil` and `npm start` work right away;
// 3. builds the window;
// 4. tries to download Electron's binary (below).
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

function run(what, args) {
  const result = spawnSync(process.execPath, args, { cwd: root, stdio: 'inherit' });
  if (result.status !== 0) {
    console.error(`bazil postinstall: ${what} failed (exit ${result.status}); see the output above`);
    process.exit(result.status ?? 1);
  }
}

run('building lmdb', [join(root, 'scripts', 'build-patched-addon.mjs'), 'lmdb']);
run('building native/bazil-fuse', [join(root, 'scripts', 'build-bazil-fuse.mjs')]);
run('compiling TypeScript', [
  join(root, 'node_modules', 'typescript', 'bin', 'tsc'),
  '-p',
  join(root, 'tsconfig.json'),
]);

// 3. The window, built into dist/renderer (`bazil serve` and the desktop app load it).
run('building the window', [
  join(root, 'node_modules', 'vite', 'bin', 'vite.js'),
  'build',
  '--config',
  join(root, 'src-renderer', 'vite.config.ts'),
  '--logLevel',
  'warn',
]);

// 4. Electron's binary, where this machine can download it: its own install script (dependency
//    scripts are off, see package.json "allowScripts"), given two minutes. Where it fails, one line
//    says so and the install goes on: `npm start` then serves the window in a browser.
const electron = join(root, 'node_modules', 'electron');
const electronBinary = () => existsSync(join(electron, 'path.txt'));
if (existsSync(electron) && !electronBinary()) {
  const download = spawnSync(process.execPath, [join(electron, 'install.js')], {
    cwd: electron,
    encoding: 'utf8',
    timeout: 120_000,
  });
  if (!electronBinary()) {
    const why =
      `${download.stderr ?? ''}`.split('\n').find((line) => line.trim() && !line.trim().startsWith('at ')) ??
      (download.error ? download.error.message : `exit ${download.status}`);
    console.log(
      `bazil postinstall: Electron's binary could not be downloaded (${why.trim()}); ` +
        '`npm start` serves the window in a browser instead, and the tests do not need Electron.',
    );
  }
}
