/**
 * The window as a person uses it, in a real headless Chromium against a real engine and FUSE
 * mount (through `bazil serve`): create and mount a volume, watch a file's dirty bytes appear and
 * fall, take a snapshot with a click, browse to a file in it, restore its old version and read it
 * from a shell, and see an engine error in words. Each view is saved as a screenshot in
 * test-artifacts/window/.
 */
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { Page } from 'playwright-core';
import { EngineHarness, ok } from '../helpers/engine-harness.js';
import { writeAndHold } from '../helpers/python-process.js';
import { waitFor } from '../helpers/wait-for.js';
import { STEP_MS, WindowHarness, skipWithoutChromium as skip } from '../helpers/window-harness.js';

let h: EngineHarness;
let w: WindowHarness | null = null;
let page: Page;
let mnt: string;

before(async () => {
  if (skip) return;
  h = await EngineHarness.create();
  await h.start();
  // Notifications allowed, as after the person said yes (asking is tested on a page of its own).
  w = await WindowHarness.open(h, { permissions: ['notifications'] });
  page = w.page;
  await w.goto();
  mnt = await h.dir('mnt-ui');
});

after(async () => {
  if (skip) return;
  await w?.close();
  await h.stop();
});

const shot = (name: string) => w!.shot(name);
const view = (name: string) => w!.view(name);

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
  const taken = (await list.getByRole('rowheader').first().textContent())!;
  await list.getByRole('button', { name: 'Browse' }).first().click();
  const tree = page.getByTestId('snapshot-tree');
  await tree.getByRole('button', { name: 'Preview /notes.txt' }).click();
  assert.equal(await page.getByTestId('preview-text').textContent(), 'the first words\n');
  await shot('snapshot-browser');

  await ok(`echo 'words written later' > '${mnt}/notes.txt'`);
  await tree.getByRole('button', { name: 'Restore /notes.txt' }).click();
  const dialog = page.getByRole('alertdialog');
  await dialog.getByRole('heading', { name: `Restore /notes.txt from ${taken}` }).waitFor();
  assert.ok(await dialog.getByLabel(/To where it was/).isChecked(), 'to the original place is the default');
  await shot('restore-confirmation');
  await dialog.getByRole('button', { name: 'Restore' }).click();
  await page.getByText(/^Restored \/notes\.txt; what it replaced is in before-restore-/).waitFor();
  // In a browser the window notifies of both (in the desktop app its main process does).
  const said = (await WindowHarness.notifications(page)).said;
  assert.ok(said.includes(`Snapshot ${taken} of ui taken`), said.join('\n'));
  assert.ok(said.includes(`Restored from snapshot ${taken} of ui`), said.join('\n'));
  assert.equal(await ok(`cat '${mnt}/notes.txt'`), await readFile(join(h.root, 'notes-old'), 'utf8'));
  // What the restore replaced is kept in an automatic snapshot, listed with the others.
  await list.getByText('automatic').first().waitFor();
  await shot('snapshots');

  // Several at once, beside the current ones.
  await tree.getByLabel('Select /notes.txt').check();
  await tree.getByLabel('Select /held').check();
  await page.getByRole('button', { name: 'Restore selected (2)' }).click();
  await dialog.getByLabel(/Beside it, as a copy/).check();
  await dialog.getByRole('button', { name: 'Restore' }).click();
  await page.getByText(/^Restored \/held \(from .*\), \/notes \(from .*\)\.txt\.$/).waitFor();
  assert.equal(await ok(`cat '${mnt}/notes (from ${taken}).txt'`), 'the first words\n');
  assert.equal(await ok(`cmp '${mnt}/held' '${mnt}/held (from ${taken})' && echo same`), 'same\n');

  // To a folder outside Bazil.
  const outside = await h.dir('exported');
  await tree.getByRole('button', { name: 'Restore /notes.txt' }).click();
  await dialog.getByLabel('To a folder outside Bazil').check();
  await dialog.getByLabel('Folder', { exact: true }).fill(outside);
  await dialog.getByRole('button', { name: 'Restore' }).click();
  await page.getByText(`Restored ${outside}/notes.txt.`).waitFor();
  assert.equal(await readFile(join(outside, 'notes.txt'), 'utf8'), 'the first words\n');
});

test(
  'a file is found across snapshots, its versions listed, and what changed since a snapshot shown',
  { skip },
  async () => {
    await ok(`echo new > '${mnt}/later.txt'`);
    await view('History');
    await page.getByLabel('Name or pattern').fill('notes*');
    await page.getByRole('button', { name: 'Find', exact: true }).click();
    const found = page.getByTestId('found');
    await found.getByRole('cell', { name: '/notes.txt', exact: true }).first().waitFor();
    await found.getByRole('button', { name: 'Versions of /notes.txt' }).first().click();
    const versions = page.getByTestId('versions');
    await versions.getByRole('row').nth(2).waitFor();
    assert.ok((await versions.getByRole('row').count()) >= 3, 'the first words and the later ones: two versions');
    await page.getByRole('button', { name: 'Compare' }).click();
    await page.getByTestId('diff').getByRole('cell', { name: '/later.txt', exact: true }).waitFor();
    await shot('history');
  },
);

test(
  'the live tree is browsed with mouse and keyboard, a file restored from its versions, a folder compared',
  { skip },
  async () => {
    await ok(`mkdir -p '${mnt}/docs/inner' && echo v1 > '${mnt}/docs/inner/report.txt'`);
    await h.client!.call('snapshotCreate', { volume: 'ui', name: 'files-1' });
    await ok(`echo 'v2, longer' > '${mnt}/docs/inner/report.txt'`);
    await h.client!.call('snapshotCreate', { volume: 'ui', name: 'files-2' });
    await ok(`echo elsewhere > '${mnt}/outside.txt'`);

    await view('Files');
    const tree = page.getByTestId('live-tree');
    await tree.getByRole('button', { name: 'docs/' }).click();
    // The keyboard from here: into inner/, then its first entry has the focus.
    await tree.getByRole('button', { name: 'inner/' }).focus();
    await page.keyboard.press('Enter');
    await page.getByRole('navigation', { name: 'Path' }).getByRole('button', { name: 'inner/' }).waitFor();
    const focused = () => page.evaluate<string | null>('document.activeElement?.textContent ?? null');
    await waitFor(async () => (await focused()) === 'report.txt', { timeoutMs: STEP_MS, what: 'report.txt focused' });
    // The size the window shows is the one the shell sees.
    const row = tree.getByRole('row').filter({ hasText: 'report.txt' });
    assert.equal(await ok(`stat -c %s '${mnt}/docs/inner/report.txt'`), '11\n');
    await row.getByText('11 B', { exact: true }).waitFor();
    await page.keyboard.press('Enter');
    const versions = page.getByTestId('versions');
    await versions.getByRole('row').nth(2).waitFor();
    assert.equal(await versions.getByRole('row').count(), 3, 'v1 and v2: two versions');
    await shot('files');

    await versions.getByRole('button', { name: 'Restore version 1 of /docs/inner/report.txt' }).click();
    const dialog = page.getByRole('alertdialog');
    await dialog.getByRole('heading', { name: 'Restore /docs/inner/report.txt from files-1' }).waitFor();
    await dialog.getByRole('button', { name: 'Restore' }).click();
    await page.getByText(/^Restored \/docs\/inner\/report\.txt; what it replaced is in before-restore-/).waitFor();
    assert.equal(await ok(`cat '${mnt}/docs/inner/report.txt'`), 'v1\n');
    await row.getByText('3 B', { exact: true }).waitFor();

    // Backspace goes up a folder; there, what changed since files-2, and only in it.
    await tree.getByRole('button', { name: 'Versions of /docs/inner/report.txt' }).focus();
    await page.keyboard.press('Backspace');
    await waitFor(async () => (await focused()) === 'inner/', { timeoutMs: STEP_MS, what: 'inner/ focused' });
    await page.getByLabel('Since snapshot').selectOption('files-2');
    await page.getByRole('button', { name: 'Show changes' }).click();
    const diff = page.getByTestId('folder-diff');
    await diff.getByRole('cell', { name: '/docs/inner/report.txt', exact: true }).waitFor();
    assert.equal(await diff.getByText('/outside.txt').count(), 0, 'a change outside the folder is not listed');
    await shot('files-diff');

    // What a shell does in the folder shown appears there, and goes, without a click.
    await ok(`echo from a shell > '${mnt}/docs/from-shell.txt'`);
    const fromShell = tree.getByRole('button', { name: 'Versions of /docs/from-shell.txt' });
    await fromShell.waitFor();
    await ok(`rm '${mnt}/docs/from-shell.txt'`);
    await fromShell.waitFor({ state: 'detached' });
  },
);

test('the snapshots lie on a timeline by time; a mark chosen by mouse or keyboard is browsed', { skip }, async () => {
  await view('Snapshots');
  const timeline = page.getByTestId('timeline');
  const marks = timeline.getByRole('button');
  const snapshots = await h.client!.call('snapshotList', { volume: 'ui' });
  await waitFor(async () => (await marks.count()) === snapshots.length, {
    timeoutMs: STEP_MS,
    what: `${snapshots.length} marks on the timeline`,
  });
  // Placed by time, oldest at the left; automatic ones named so.
  const lefts: number[] = [];
  for (let i = 0; i < snapshots.length; i++) {
    assert.match((await marks.nth(i).getAttribute('aria-label'))!, new RegExp(`^${snapshots[i]!.name}, taken `));
    lefts.push((await marks.nth(i).boundingBox())!.x);
  }
  assert.deepEqual(
    lefts,
    [...lefts].sort((a, b) => a - b),
  );
  assert.ok(lefts.at(-1)! > lefts[0]!, 'the newest lies right of the oldest');

  // A click selects as the list's Browse does.
  await timeline.getByRole('button', { name: /^files-1, taken / }).click();
  await page.getByRole('region', { name: 'Snapshot files-1' }).waitFor();
  const listRow = (name: string) =>
    page
      .getByTestId('snapshot-list')
      .getByRole('row')
      .filter({ has: page.getByRole('rowheader', { name }) });
  assert.equal(await listRow('files-1').getAttribute('aria-selected'), 'true');
  // The keyboard: the selected mark is the one in the tab order; the right arrow goes on in time.
  await page.keyboard.press('ArrowRight');
  await page.keyboard.press('Enter');
  await page.getByRole('region', { name: 'Snapshot files-2' }).waitFor();
  assert.equal(await listRow('files-2').getAttribute('aria-selected'), 'true');
  assert.equal(await timeline.getByRole('button', { name: /^files-2, taken / }).getAttribute('aria-pressed'), 'true');
  await shot('timeline');

  // 400 px wide: every mark within the window, and none under another (two of them were taken
  // in the same second).
  await page.setViewportSize({ width: 400, height: 700 });
  try {
    const boxes = [];
    for (let i = 0; i < snapshots.length; i++) {
      const box = (await marks.nth(i).boundingBox())!;
      assert.ok(box.x >= 0 && box.x + box.width <= 400, `mark ${i} lies outside the window: ${box.x}`);
      boxes.push(box);
    }
    for (const [i, a] of boxes.entries()) {
      for (const b of boxes.slice(i + 1)) {
        const apart = a.x + a.width <= b.x || b.x + b.width <= a.x || a.y + a.height <= b.y || b.y + b.height <= a.y;
        assert.ok(apart, `two marks overlap: ${JSON.stringify([a, b])}`);
      }
    }
    await shot('small-timeline');
  } finally {
    await page.setViewportSize({ width: 1000, height: 720 });
  }
});

test('snapshots taken too close together for the timeline become one mark that opens them', { skip }, async () => {
  await view('Snapshots');
  const timeline = page.getByTestId('timeline');
  const track = timeline.locator('.timeline-track');
  const buttons = track.getByRole('button');
  const before = (await h.client!.call('snapshotList', { volume: 'ui' })).length;
  const burst = Array.from({ length: 12 }, (_, i) => `burst-${String(i + 1).padStart(2, '0')}`);
  for (const name of burst) await h.client!.call('snapshotCreate', { volume: 'ui', name });
  const group = track.getByRole('button', { name: /^\d+ snapshots taken .* to .*: show them$/ });
  await group.first().waitFor();

  /** Every button of the line: its box, and how many snapshots it stands for. */
  const layout = async () => {
    const found: { box: { x: number; y: number; width: number; height: number }; count: number }[] = [];
    for (let i = 0; i < (await buttons.count()); i++) {
      const label = (await buttons.nth(i).getAttribute('aria-label'))!;
      const count = /^(\d+) snapshots taken/.exec(label);
      found.push({ box: (await buttons.nth(i).boundingBox())!, count: count ? Number(count[1]) : 1 });
    }
    for (const [i, a] of found.entries()) {
      for (const b of found.slice(i + 1)) {
        const [p, r] = [a.box, b.box];
        const apart = p.x + p.width <= r.x || r.x + r.width <= p.x || p.y + p.height <= r.y || r.y + r.height <= p.y;
        assert.ok(apart, `two marks overlap: ${JSON.stringify([p, r])}`);
      }
    }
    return found;
  };
  const whole = await layout();
  assert.equal(
    whole.reduce((sum, item) => sum + item.count, 0),
    before + burst.length,
    'every snapshot has a mark or is counted in a group',
  );
  assert.ok(whole.length < before + burst.length, 'some are grouped');
  await shot('timeline-grouped');

  // Opened by the keyboard: only its span is on the line, and its first mark has the focus.
  const opened = Number(/^(\d+)/.exec((await group.last().getAttribute('aria-label'))!)![1]);
  await group.last().focus();
  await page.keyboard.press('Enter');
  await timeline.getByRole('button', { name: 'Whole timeline' }).waitFor();
  const inside = await layout();
  assert.equal(
    inside.reduce((sum, item) => sum + item.count, 0),
    opened,
    'the line shows the group it opened',
  );
  assert.equal(
    await page.evaluate('document.activeElement === document.querySelector(".timeline-track button")'),
    true,
  );
  // A snapshot of the burst is browsed from there as from any mark.
  const mark = track.getByRole('button', { name: /^burst-\d+, taken / }).last();
  const name = /^(burst-\d+),/.exec((await mark.getAttribute('aria-label'))!)![1]!;
  await mark.click();
  await page.getByRole('region', { name: `Snapshot ${name}` }).waitFor();
  assert.equal(await mark.getAttribute('aria-pressed'), 'true');
  await shot('timeline-opened');
  await timeline.getByRole('button', { name: 'Whole timeline' }).click();
  await waitFor(async () => (await buttons.count()) === whole.length, {
    timeoutMs: STEP_MS,
    what: 'the whole line again',
  });
});

test('the store is checked and collected with progress, and a schedule is set', { skip }, async () => {
  await view('Store');
  await page.getByRole('button', { name: 'Check every stored chunk' }).click();
  await page
    .getByTestId('verified')
    .getByText(/all intact/)
    .waitFor();
  await page.getByRole('button', { name: 'Give back unused space' }).click();
  await page.getByTestId('collected').waitFor();
  const form = page.getByRole('form', { name: 'Schedule of ui' });
  await form.getByLabel('Every').fill('30');
  await form.getByRole('button', { name: 'Save schedule' }).click();
  await form.getByText('a snapshot every 30 minutes when something changed').waitFor();
  const schedule = await h.client!.call('snapshotSchedule', { volume: 'ui' });
  assert.equal(schedule!.everyMinutes, 30);
  await shot('store');
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
  // Each view, once what it loads is there.
  const shown = {
    Volumes: () => page.getByTestId('volume-ui'),
    Files: () => page.getByTestId('live-tree'),
    'Dirty memory': () => page.getByTestId('dirty-total'),
    Snapshots: () => page.getByTestId('snapshot-list'),
    History: () => page.getByRole('button', { name: 'Compare' }),
    Store: () => page.getByRole('form', { name: 'Schedule of ui' }).getByText(/every 30 minutes/),
  };
  for (const [name, loaded] of Object.entries(shown)) {
    await view(name);
    await loaded().waitFor();
    const overflow = await page.evaluate<number>(
      'document.documentElement.scrollWidth - document.documentElement.clientWidth',
    );
    assert.ok(overflow <= 0, `${name}: ${overflow} px wider than a 400 px window`);
    await shot(`small-${name.toLowerCase().replace(' ', '-')}`);
  }
});

test('the window asks for notifications once, on a click, and remembers it asked', { skip }, async () => {
  const fresh = await w!.newPage();
  try {
    const offer = fresh.getByRole('button', { name: 'Turn on notifications' });
    await offer.waitFor();
    assert.equal((await WindowHarness.notifications(fresh)).asked, 0, 'not asked before the click');
    await offer.click();
    await offer.waitFor({ state: 'detached' });
    assert.equal((await WindowHarness.notifications(fresh)).asked, 1);
    await fresh.reload();
    await fresh.getByTestId('status').waitFor();
    assert.equal(await offer.count(), 0, 'not offered again');
    // Not granted (headless Chromium grants nothing it asks a person for): no notification.
    assert.notEqual(await fresh.evaluate('Notification.permission'), 'granted');
    await h.client!.call('snapshotCreate', { volume: 'ui', name: 'unnotified' });
    await fresh.getByRole('button', { name: 'Snapshots', exact: true }).click();
    await fresh.getByTestId('snapshot-list').getByRole('rowheader', { name: 'unnotified' }).waitFor();
    assert.deepEqual((await WindowHarness.notifications(fresh)).said, []);
  } finally {
    await fresh.context().close();
  }
});

test('a volume is created with the keyboard alone', { skip }, async () => {
  await view('Volumes');
  await page.getByLabel('New volume').focus();
  await page.keyboard.type('typed');
  await page.keyboard.press('Enter');
  await page.getByTestId('volume-typed').waitFor();
  assert.ok((await h.client!.call('volumeList', {})).some((v) => v.name === 'typed'));
});
