#!/usr/bin/env node
// Runs every compiled test (dist/test/**/*.test.js) with Node's test runner, one file at a time:
// integration tests mount real FUSE file systems and share the machine's two cores.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join, dirname, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const files = [];
/** dist/test/x/y.test.js -> test/x/y.test.ts */
const sourceOf = (compiled) => join(root, relative(join(root, 'dist'), compiled).replace(/\.js$/, '.ts'));
function walk(dir) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) walk(path);
    // A compiled test whose source is gone (tsc never deletes what it wrote before) is not run.
    else if (entry.name.endsWith('.test.js') && existsSync(sourceOf(path))) files.push(path);
  }
}
walk(join(root, 'dist', 'test'));
const filter = process.argv.slice(2);
const chosen = filter.length ? files.filter((f) => filter.some((word) => f.includes(word))) : files;
const result = spawnSync(process.execPath, ['--test', '--test-concurrency=1', ...chosen.sort()], {
  stdio: 'inherit',
  cwd: root,
});
process.exit(result.status ?? 1);
