#!/usr/bin/env node
// Builds Bazil's own FUSE addon, native/bazil-fuse (C++ over libfuse3's low-level API), with
// node-gyp into native/bazil-fuse/build/Release/bazil_fuse.node, then load-tests it.
//
// Idempotent: build/Release/.bazil-sources holds the sha256 of binding.gyp and src/*; when it
// matches (and the addon is there) nothing happens, so `npm run build` can call it every time.
// BAZIL_FUSE_SANITIZE=address (or another -fsanitize= value) builds an instrumented addon for a
// leak and memory-error check by hand (see native/bazil-fuse/README.md); it is never cached.
//
// Usage: node scripts/build-bazil-fuse.mjs   (from scripts/postinstall.mjs and `npm run build`)

import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { BUILD_HELP, BuildError, nodeGypRebuild, run } from './node-gyp.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const DIR = path.join(ROOT, 'native', 'bazil-fuse');
const ADDON = path.join(DIR, 'build', 'Release', 'bazil_fuse.node');
const MARKER = path.join(DIR, 'build', 'Release', '.bazil-sources');
const TAG = 'build-bazil-fuse:';
const SANITIZE = process.env.BAZIL_FUSE_SANITIZE ?? '';

const log = (msg) => console.log(`${TAG} ${msg}`);

function sourcesDigest() {
  const hash = createHash('sha256');
  const src = path.join(DIR, 'src');
  for (const file of [
    'binding.gyp',
    ...fs
      .readdirSync(src)
      .sort()
      .map((f) => path.join('src', f)),
  ]) {
    hash
      .update(file)
      .update('\0')
      .update(fs.readFileSync(path.join(DIR, file)))
      .update('\0');
  }
  return hash.update(SANITIZE).digest('hex');
}

/** libfuse3's headers: where pkg-config says, else Debian's place. */
function haveLibfuse3Headers() {
  const res = run('pkg-config', ['--variable=includedir', 'fuse3'], {});
  const dirs = [res.status === 0 ? path.join(res.stdout.trim(), 'fuse3') : null, '/usr/include/fuse3'];
  return dirs.some((dir) => dir && fs.existsSync(path.join(dir, 'fuse_lowlevel.h')));
}

function main() {
  const digest = sourcesDigest();
  if (!SANITIZE && fs.existsSync(ADDON) && fs.existsSync(MARKER) && fs.readFileSync(MARKER, 'utf8').trim() === digest) {
    log(`up to date (${digest.slice(0, 12)}), nothing to do`);
    return;
  }
  if (!haveLibfuse3Headers()) {
    console.error(`${TAG} libfuse3's headers are missing (fuse3/fuse_lowlevel.h): apt-get install libfuse3-dev`);
    process.exit(1);
  }
  fs.rmSync(MARKER, { force: true });
  nodeGypRebuild(DIR, {
    name: 'native/bazil-fuse',
    help: `${BUILD_HELP}\nand libfuse3's headers (apt-get install libfuse3-dev).`,
    log,
  });
  if (SANITIZE) {
    log(
      `built with -fsanitize=${SANITIZE}: load it with the sanitizer's runtime preloaded (see native/bazil-fuse/README.md)`,
    );
    return;
  }
  // Load it in a child: a dlopen failure must not take this process down.
  const check = `const a = require(${JSON.stringify(ADDON)}); if (typeof a.mount !== 'function') process.exit(2)`;
  const res = run(process.execPath, ['-e', check], { cwd: DIR });
  if (res.status !== 0) {
    const why = (res.stderr || res.stdout).trim().split('\n').slice(0, 8).join('\n');
    const hint = /libfuse3\.so/.test(why) ? '\nlibfuse3.so.3 is missing: apt-get install libfuse3-3' : '';
    throw new BuildError(`the built addon does not load:\n${why}${hint}`);
  }
  fs.writeFileSync(MARKER, `${digest}\n`);
  log(`done: ${path.relative(ROOT, ADDON)}`);
}

try {
  main();
} catch (err) {
  console.error(`${TAG} ERROR: ${err instanceof BuildError ? err.message : err.stack}`);
  process.exit(1);
}
