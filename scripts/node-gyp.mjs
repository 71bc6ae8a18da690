// Runs npm's own node-gyp to rebuild a native addon from source: the one piece of code that
// finds node-gyp and Node's headers, for every addon the project builds (the patched
// dependencies of build-patched-addon.mjs, and native/bazil-fuse in build-bazil-fuse.mjs).

import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

export class BuildError extends Error {}

function findNodeGyp() {
  const rel = path.join('node_modules', 'node-gyp', 'bin', 'node-gyp.js'); // inside npm's package dir
  const env = process.env;
  const candidates = [];
  if (env.npm_config_node_gyp) candidates.push(env.npm_config_node_gyp); // set by npm in scripts
  if (env.npm_execpath) candidates.push(path.join(path.dirname(env.npm_execpath), '..', rel));
  for (const dir of (env.PATH ?? '').split(path.delimiter)) {
    const npm = dir && path.join(dir, 'npm');
    if (!npm || !fs.existsSync(npm)) continue;
    try {
      const npmCli = fs.realpathSync(npm); // …/lib/node_modules/npm/bin/npm-cli.js
      candidates.push(path.join(path.dirname(npmCli), '..', rel));
    } catch {
      /* dangling link */
    }
  }
  const prefix = path.dirname(path.dirname(process.execPath));
  candidates.push(path.join(prefix, 'lib', 'node_modules', 'npm', rel));
  candidates.push(path.join(ROOT, rel));
  const found = candidates.find((c) => c.endsWith('.js') && fs.existsSync(c));
  if (!found) throw new BuildError('node-gyp not found (it ships with npm; is npm installed?).');
  return found;
}

// Use the headers installed next to this node binary (e.g. /usr/include/node)
// so no download is needed; node-gyp accepts an install prefix as --nodedir.
function localNodeDir() {
  if (process.env.npm_config_nodedir) return null; // the user chose already
  const prefix = path.dirname(path.dirname(process.execPath));
  const inc = path.join(prefix, 'include', 'node');
  const ok = ['node_api.h', 'uv.h', 'common.gypi'].every((f) => fs.existsSync(path.join(inc, f)));
  return ok ? prefix : null;
}

export function run(cmd, args, opts) {
  const res = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, ...opts });
  if (res.error) throw new BuildError(`could not run ${cmd}: ${res.error.message}`);
  return res;
}

/**
 * `node-gyp rebuild` in `dir`; on failure prints its output and throws a BuildError ending with
 * `help`. `log` reports progress.
 */
export function nodeGypRebuild(dir, { name, help, log }) {
  const nodeGyp = findNodeGyp();
  const args = [nodeGyp, 'rebuild', `--jobs=${Math.max(1, os.availableParallelism())}`];
  const nodedir = localNodeDir();
  if (nodedir) args.push(`--nodedir=${nodedir}`);
  // binding.gyp shells out to `node -e …`: make sure that is this node.
  const env = {
    ...process.env,
    PATH: `${path.dirname(process.execPath)}${path.delimiter}${process.env.PATH ?? ''}`,
  };
  log(`running: ${process.execPath} ${args.join(' ')}  (cwd ${dir})`);
  const t0 = Date.now();
  const res = run(process.execPath, args, { cwd: dir, env });
  if (res.status !== 0) {
    process.stderr.write(res.stdout + res.stderr);
    throw new BuildError(`node-gyp rebuild of ${name} failed (exit ${res.status ?? res.signal}).${help}`);
  }
  log(`built in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
}

export const BUILD_HELP = `
To build it from source you need python3, make and a C compiler
(Debian: apt-get install python3 make g++) plus Node's headers: the Debian/
NodeSource nodejs package ships them in /usr/include/node, otherwise node-gyp
downloads them (needs network, or set npm_config_nodedir).`;
