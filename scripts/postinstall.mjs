#!/usr/bin/env node
// Runs after `npm install` / `npm ci` in this folder:
// 1. applies Bazil's patch to lmdb and rebuilds it from source, and builds Bazil's own FUSE addon
//    (native/bazil-fuse; needs libfuse3-dev) (see native/);
// 2. compiles the TypeScript (dist/), so `bazil` and `npm start` work right away;
// 3. says whether Electron is there. It is an optional dependency: npm leaves it out on a Node.js
//    older than its package declares (its install tooling needs a newer one). Dependency install
//    scripts are off (package.json "allowScripts"), so Electron's own download never runs: machines
//    that cannot reach its host (such as the project's build and CI machines) still install, and
//    nothing in `npm test` needs it.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
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

const electron = join(root, 'node_modules', 'electron');
if (!existsSync(electron)) {
  const lock = JSON.parse(readFileSync(join(root, 'package-lock.json'), 'utf8'));
  const wanted = lock.packages?.['node_modules/electron']?.engines?.node ?? 'a newer Node.js';
  console.log(
    `bazil postinstall: Electron is not installed: its package wants Node.js ${wanted}, this is ${process.version}; ` +
      'the engine, the `bazil` command and the tests do not need it.',
  );
} else if (!existsSync(join(electron, 'dist'))) {
  console.log(
    "bazil postinstall: Electron's binary was not downloaded (its install script is not run); " +
      'the engine, the `bazil` command and the tests do not need it.',
  );
}
