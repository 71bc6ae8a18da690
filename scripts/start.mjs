#!/usr/bin/env node
// `npm start` (after `npm run build`): the desktop app where Electron's binary is installed;
// otherwise one line says so and `bazil start` runs instead: the engine with volume "home" mounted
// at ~/Bazil, and the same window served on a loopback URL (opened in the browser when there is a
// display). Ctrl-C stores everything, unmounts and stops.
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const electron = join(root, 'node_modules', 'electron');
// Electron's install script writes path.txt (the binary's place in dist/) once it has downloaded it.
const binaryName = existsSync(join(electron, 'path.txt'))
  ? readFileSync(join(electron, 'path.txt'), 'utf8').trim()
  : null;
const binary = binaryName ? join(electron, 'dist', binaryName) : null;

let child;
if (binary && existsSync(binary)) {
  child = spawn(binary, [root], { stdio: 'inherit', env: { ...process.env, MALLOC_ARENA_MAX: '2' } });
} else {
  console.log(
    "bazil: Electron's binary is not installed (it could not be downloaded); serving the window in a browser instead",
  );
  child = spawn(process.execPath, [join(root, 'bin', 'bazil.js'), 'start'], {
    stdio: 'inherit',
    env: { ...process.env, MALLOC_ARENA_MAX: '2' },
  });
}
// Ctrl-C reaches the child through the terminal; this only waits for it.
process.on('SIGINT', () => undefined);
process.on('SIGTERM', () => child.kill('SIGTERM'));
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
