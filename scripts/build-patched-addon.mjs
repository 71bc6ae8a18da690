#!/usr/bin/env node
// Applies Bazil's patch to a dependency's native code and rebuilds its binding from source with
// node-gyp: native/lmdb/lmdb.patch to lmdb 3.5.6 (native/lmdb/README.md says why). The package
// loads build/Release before any prebuilt binary.
//
// Idempotent: if node_modules/PACKAGE/.bazil-patched holds the patch's sha256 (and the build is
// there) nothing happens. Otherwise the pristine files (saved the first time in
// node_modules/PACKAGE/.pristine/) are restored, the patch is applied, `node-gyp rebuild` runs,
// the result is load-tested and the marker is written. Exits non-zero with an explanation on
// failure.
//
// Usage: node scripts/build-patched-addon.mjs lmdb   (run from scripts/postinstall.mjs)

import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { BUILD_HELP as HELP, BuildError, nodeGypRebuild, run } from './node-gyp.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** The packages patched, each with the version its patch is for and a load test (a node -e script). */
const PACKAGES = {
  lmdb: {
    version: '3.5.6',
    addon: 'lmdb.node',
    // Opens an environment through the package: its loader must find the build.
    loadTest: (dir) =>
      `const { mkdtempSync, rmSync } = require('node:fs'); const d = mkdtempSync(require('node:os').tmpdir() + '/lmdb-');` +
      `import(${JSON.stringify(path.join(dir, 'index.js'))}).then(({ open }) => { const db = open({ path: d + '/t.mdb' });` +
      `db.putSync('k', 'v'); if (db.get('k') !== 'v') process.exit(2); return db.close(); }).finally(() => rmSync(d, { recursive: true }))`,
    help: HELP,
  },
};

const NAME = process.argv[2];
const PACKAGE = PACKAGES[NAME];
const PATCH_FILE = path.join(ROOT, 'native', NAME ?? '', `${NAME}.patch`);
const TAG = `build-patched-addon (${NAME}):`;

function log(msg) {
  console.log(`${TAG} ${msg}`);
}

function sha256(buf) {
  return createHash('sha256').update(buf).digest('hex');
}

function findPackageDir() {
  // Not require.resolve: lmdb's "exports" hide its package.json.
  const dir = path.join(ROOT, 'node_modules', NAME);
  if (!fs.existsSync(path.join(dir, 'package.json'))) {
    throw new BuildError(`${NAME} is not installed in ${ROOT} (run npm install first).`);
  }
  return dir;
}

// --- A strict unified-diff applier (no fuzz, no offsets): the patch is only
// ever applied to the pristine 2.2.6 files, so anything else is an error.

function parsePatch(text) {
  const lines = text.split('\n');
  const files = [];
  let i = 0;
  while (i < lines.length) {
    if (!(lines[i].startsWith('--- ') && lines[i + 1]?.startsWith('+++ '))) {
      i++;
      continue;
    }
    const target = lines[i + 1].slice(4).split('\t')[0].trim();
    const file = { name: target.split('/').slice(1).join('/'), hunks: [] }; // -p1
    i += 2;
    for (;;) {
      const m = /^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@/.exec(lines[i] ?? '');
      if (!m) break;
      const hunk = { oldStart: +m[1], oldCount: m[2] === undefined ? 1 : +m[2], body: [] };
      let oldLeft = hunk.oldCount;
      let newLeft = m[4] === undefined ? 1 : +m[4];
      i++;
      while (oldLeft > 0 || newLeft > 0) {
        const line = lines[i++];
        if (line === undefined) throw new BuildError(`truncated hunk in ${file.name}`);
        const op = line[0];
        if (op === ' ' || op === '-') oldLeft--;
        if (op === ' ' || op === '+') newLeft--;
        if (op !== ' ' && op !== '-' && op !== '+') {
          throw new BuildError(`unsupported patch line in ${file.name}: ${JSON.stringify(line)}`);
        }
        hunk.body.push({ op, text: line.slice(1) });
      }
      file.hunks.push(hunk);
    }
    files.push(file);
  }
  if (!files.length) throw new BuildError(`no file diffs found in ${PATCH_FILE}`);
  return files;
}

function applyHunks(name, content, hunks) {
  const lines = content.split('\n'); // a trailing '\n' leaves a final '' element, kept as is
  const out = [];
  let pos = 0;
  for (const hunk of hunks) {
    const start = hunk.oldCount === 0 ? hunk.oldStart : hunk.oldStart - 1;
    if (start < pos) throw new BuildError(`overlapping hunks in ${name}`);
    out.push(...lines.slice(pos, start));
    let at = start;
    for (const { op, text } of hunk.body) {
      if (op === '+') {
        out.push(text);
        continue;
      }
      if (lines[at] !== text) {
        throw new BuildError(
          `${name} does not match pristine ${NAME} ${PACKAGE.version} at line ${at + 1}` +
            ` (expected ${JSON.stringify(text)}). Reinstall it: rm -rf node_modules/${NAME} && npm install`,
        );
      }
      if (op === ' ') out.push(text);
      at++;
    }
    pos = at;
  }
  out.push(...lines.slice(pos));
  return out.join('\n');
}

function writeFileAtomic(file, data) {
  const tmp = `${file}.bazil-tmp`;
  fs.writeFileSync(tmp, data);
  fs.renameSync(tmp, file);
}

function build(pkgDir) {
  nodeGypRebuild(pkgDir, { name: NAME, help: PACKAGE.help, log });
}

// Load the patched package in a child (a dlopen failure must not take this process down).
function loadTest(pkgDir) {
  const res = run(process.execPath, ['-e', PACKAGE.loadTest(pkgDir)], { cwd: pkgDir });
  if (res.status !== 0) {
    const why = (res.stderr || res.stdout).trim().split('\n').slice(0, 8).join('\n');
    throw new BuildError(`the patched ${NAME} does not load:\n${why}${PACKAGE.help}`);
  }
}

function main() {
  if (!PACKAGE) throw new BuildError(`which package? one of: ${Object.keys(PACKAGES).join(', ')}`);
  const pkgDir = findPackageDir();
  const patchText = fs.readFileSync(PATCH_FILE, 'utf8');
  const digest = sha256(patchText);
  const marker = path.join(pkgDir, '.bazil-patched');
  const addon = path.join(pkgDir, 'build', 'Release', PACKAGE.addon);

  if (fs.existsSync(marker) && fs.readFileSync(marker, 'utf8').trim() === digest && fs.existsSync(addon)) {
    log(`already patched (${digest.slice(0, 12)}), nothing to do`);
    return;
  }

  const version = JSON.parse(fs.readFileSync(path.join(pkgDir, 'package.json'), 'utf8')).version;
  if (version !== PACKAGE.version) {
    throw new BuildError(`the patch is for ${NAME} ${PACKAGE.version} but ${version} is installed (${pkgDir}).`);
  }

  fs.rmSync(marker, { force: true }); // an interrupted run must not look finished
  const pristineDir = path.join(pkgDir, '.pristine');
  const files = parsePatch(patchText);
  const patched = new Map();
  for (const { name, hunks } of files) {
    const live = path.join(pkgDir, name);
    const saved = path.join(pristineDir, name);
    // A file without a saved copy has never been patched, so it is pristine.
    const original = fs.existsSync(saved) ? fs.readFileSync(saved, 'utf8') : fs.readFileSync(live, 'utf8');
    patched.set(name, applyHunks(name, original, hunks)); // throws before anything is written
    if (!fs.existsSync(saved)) {
      fs.mkdirSync(path.dirname(saved), { recursive: true });
      writeFileAtomic(saved, original);
    }
  }
  for (const [name, text] of patched) writeFileAtomic(path.join(pkgDir, name), text);
  log(`applied ${path.relative(ROOT, PATCH_FILE)} (${digest.slice(0, 12)}) to ${[...patched.keys()].join(', ')}`);

  build(pkgDir);
  loadTest(pkgDir);
  fs.writeFileSync(marker, `${digest}\n`);
  log('done');
}

try {
  main();
} catch (err) {
  console.error(`${TAG} ERROR: ${err instanceof BuildError ? err.message : err.stack}`);
  process.exit(1);
}
