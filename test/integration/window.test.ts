/**
 * The window as a person uses it, in a real headless Chromium against a real engine and FUSE
 * mount (through `bazil serve`): create and mount a volume, watch a file's dirty bytes appear and
 * fall, take a snapshot with a click, browse to a file in it, restore its old version and read it
 * from a shell, and see an engine error in words. Each view is saved as a screenshot in
 * test-artifacts/window/.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, test } from 'node:test';
import { chromium, type Browser, type Page } from 'playwright-core';
import { BAZIL_BIN, EngineHarness, ok } from '../helpers/engine-harness.js';
import { writeAndHold } from '../helpers/python-process.js';
import { waitFor } from '../helpers/wait-for.js';

const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
const ARTIFACTS = fileURLToPath(new URL('../../../test-artifacts/window/', import.meta.url));
/** Debian's chromium, headless (../shared/DESIGN.md, "Traps already met"). */
const FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
const STEP_MS = 20_000;

const skip = existsSync(CHROMIUM) ? false : `no Chromium at ${CHROMIUM} (Debian: apt-get install chromium)`;

let h: EngineHarness;
let serve: ChildProcess | null = null;
let browser: Browser | null = null;
let page: Page;
let mnt: string;

before(async () => {
  if (skip) return;
  await mkdir(ARTIFACTS, { recursive: true });
  h = await EngineHarness.create();
  await h.start();
  let output = '';
  serve = spawn(process.execPath, [BAZIL_BIN, '--data-dir', h.dataDir, 'serve'], { stdio: ['ignore', 'pipe', 'pipe'] });
  serve.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  serve.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  const url = await waitFor(
    () => {
      if (serve!.exitCode !== null) throw new Error(`bazil serve exited: ${output}`);
      return /serving on (http:\S+)/.exec(output)?.[1] ?? null;
    },
    { timeoutMs: STEP_MS, what: 'bazil serve to print its URL' },
  );
  browser = await chromium.launch({ executablePath: CHROMIUM, args: FLAGS, timeout: STEP_MS });
  page = await browser.newPage({ viewport: { width: 1000, height: 720 } });
  page.setDefaultTimeout(STEP_MS);
  await page.goto(url);
  mnt = await h.dir('mnt-ui');
});

after(async () => {
  if (skip) return;
  await browser?.close();
  if (serve && serve.exitCode === null) {
    const exited = new Promise((resolve) => serve!.once('exit', resolve));
    serve.kill('SIGTERM');
    await exited;
  }
  await h.stop();
});

const shot = (name: string) => page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });
const view = (name: string) => page.getByRole('button', { name, exact: true }).click();

test('a volume is created and mounted from the window, and the shell sees the mount', { skip }, async () => {
  await page.getByLabel('New volume').fill('ui');
  await page.getByRole('button', { name: 'Create volume' }).click();
  const row = page.getByTestId('volume-ui');
  await row.waitFor();
  await row.getByLabel('Folder to mount ui at').fill(mnt);
  await row.getByRole('button', { name: 'Mount' }).click();
  await row.getByText(mnt, { exact: true }).waitFor();
  assert.match(await ok(`grep ' ${mnt} ' /proc/mounts`), /fuse\.bazil/);
  assert.equal(await page.getByTestId('status').textContent(), 'Everything is stored');
  await shot('volumes');
});

test('a file written from a shell shows its dirty bytes live, and they fall once it is closed', { skip }, async () => {
  const writer = await writeAndHold(mnt, 'held', 3 * 1024 * 1024);
  try {
    await view('Dirty memory');
    const files = page.getByTestId('dirty-files');
    await files.getByText('/held', { exact: true }).waitFor();
    assert.match((await page.getByTestId('status').textContent())!, /not yet stored/);
    assert.match((await page.getByTestId('dirty-total').textContent())!, /MiB of .* cap/);
    await shot('dirty');
    await writer.close();
    await page.getByTestId('no-dirty-files').waitFor();
    assert.equal(await page.getByTestId('status').textContent(), 'Everything is stored');
  } finally {
    await writer.kill();
  }
});

test('a snapshot taken with a click is browsed, and a file restored from it reads as it was', { skip }, async () => {
  await writeFile(join(h.root, 'notes-old'), 'the first words\n');
  await ok(`cp '${join(h.root, 'notes-old')}' '${mnt}/notes.txt'`);
  await view('Snapshots');
  await page.getByRole('button', { name: 'Take snapshot' }).click();
  const list = page.getByTestId('snapshot-list');
  await list.getByRole('row').nth(1).waitFor();
  await list.getByRole('button', { name: 'Browse' }).first().click();
  const tree = page.getByTestId('snapshot-tree');
  await tree.getByText('notes.txt', { exact: true }).waitFor();
  await shot('snapshot-browser');

  await ok(`echo 'words written later' > '${mnt}/notes.txt'`);
  await tree.getByRole('button', { name: 'Restore /notes.txt' }).click();
  const dialog = page.getByRole('alertdialog');
  await dialog.getByText(/Restore \/notes\.txt as it was in/).waitFor();
  await shot('restore-confirmation');
  await dialog.getByRole('button', { name: 'Restore' }).click();
  await page.getByText(/^Restored \/notes\.txt/).waitFor();
  assert.equal(await ok(`cat '${mnt}/notes.txt'`), await readFile(join(h.root, 'notes-old'), 'utf8'));
  // What the restore replaced is kept in an automatic snapshot, listed with the others.
  await list.getByText('automatic').first().waitFor();
  await shot('snapshots');
});

test('an engine error is shown in words, and the layout holds in a small window', { skip }, async () => {
  await view('Volumes');
  await page.getByLabel('New volume').fill('bad/name');
  await page.getByRole('button', { name: 'Create volume' }).click();
  const alert = page.getByRole('alert');
  await alert.getByText(/invalid volume name "bad\/name"/).waitFor();
  assert.equal(await page.getByTestId('status').textContent(), 'Something failed');
  await shot('error');
  await alert.getByRole('button', { name: 'Dismiss' }).click();
  await page.getByTestId('status').getByText('Everything is stored').waitFor();

  await page.setViewportSize({ width: 400, height: 700 });
  const shown = { Volumes: 'volume-ui', 'Dirty memory': 'dirty-total', Snapshots: 'snapshot-list' };
  for (const [name, testId] of Object.entries(shown)) {
    await view(name);
    await page.getByTestId(testId).waitFor();
    const overflow = await page.evaluate<number>(
      'document.documentElement.scrollWidth - document.documentElement.clientWidth',
    );
    assert.ok(overflow <= 0, `${name}: ${overflow} px wider than a 400 px window`);
    await shot(`small-${name.toLowerCase().replace(' ', '-')}`);
  }
});
