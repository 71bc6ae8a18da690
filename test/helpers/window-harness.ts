/**
 * The window as a person uses it: `bazil serve` for an engine harness's data directory, and a page
 * of Debian's Chromium (headless, driven by playwright-core) opened at the URL it prints; the
 * page's desktop notifications are counted as it shows them (`notifications`).
 * `close()` ends the browser and the server whatever happened; screenshots go to
 * test-artifacts/window/.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type BrowserContextOptions, type Page } from 'playwright-core';
import { BAZIL_BIN, type EngineHarness } from './engine-harness.js';
import { waitFor } from './wait-for.js';

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
/** How long one step of the window may take. */
export const STEP_MS = 20_000;

/** A reason to skip window tests, or false. */
export const skipWithoutChromium = existsSync(CHROMIUM)
  ? false
  : `no Chromium at ${CHROMIUM} (Debian: apt-get install chromium)`;

/**
 * Runs before the window's own scripts: each desktop notification the window shows, and each time
 * it asks for the permission, is counted (then passed on to the browser's own Notification).
 */
const NOTIFICATION_SPY = `(() => {
  const Real = window.Notification;
  window.__notified = [];
  window.__asked = 0;
  class Counted extends Real {
    constructor(title, options) {
      super(title, options);
      window.__notified.push(options?.body ?? '');
    }
    static get permission() { return Real.permission; }
    static requestPermission() { window.__asked++; return Real.requestPermission(); }
  }
  window.Notification = Counted;
})()`;

export class WindowHarness {
  private constructor(
    private readonly serve: ChildProcess,
    private readonly browser: Browser | null,
    readonly page: Page,
    readonly url: string,
  ) {}

  /**
   * Another page of the window, in a browser context of its own (`context`: its options, such as
   * permissions), opened and counting its notifications.
   */
  async newPage(context: BrowserContextOptions = {}): Promise<Page> {
    const page = await (
      await this.browser!.newContext({ viewport: { width: 1000, height: 720 }, ...context })
    ).newPage();
    page.setDefaultTimeout(STEP_MS);
    await page.addInitScript(NOTIFICATION_SPY);
    await page.goto(this.url);
    return page;
  }

  /** Serves the window for `h`'s engine and opens it (`context`: the browser context's options). */
  static async open(h: EngineHarness, context: BrowserContextOptions = {}): Promise<WindowHarness> {
    await mkdir(ARTIFACTS, { recursive: true });
    let output = '';
    const serve = spawn(process.execPath, [BAZIL_BIN, '--data-dir', h.dataDir, 'serve'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    serve.stdout!.on('data', (d: Buffer) => (output += d.toString()));
    serve.stderr!.on('data', (d: Buffer) => (output += d.toString()));
    let browser: Browser | null = null;
    try {
      const url = await waitFor(
        () => {
          if (serve.exitCode !== null) throw new Error(`bazil serve exited: ${output}`);
          return /serving on (http:\S+)/.exec(output)?.[1] ?? null;
        },
        { timeoutMs: STEP_MS, what: 'bazil serve to print its URL' },
      );
      browser = await chromium.launch({ executablePath: CHROMIUM, args: FLAGS, timeout: STEP_MS });
      const page = await (await browser.newContext({ viewport: { width: 1000, height: 720 }, ...context })).newPage();
      page.setDefaultTimeout(STEP_MS);
      await page.addInitScript(NOTIFICATION_SPY);
      return new WindowHarness(serve, browser, page, url);
    } catch (error) {
      await browser?.close();
      await stopServe(serve);
      throw error;
    }
  }

  /** Opens the window in the first page. */
  async goto(): Promise<void> {
    await this.page.goto(this.url);
  }

  /** What the page's desktop notifications said, and how often it asked for the permission. */
  static async notifications(page: Page): Promise<{ said: string[]; asked: number }> {
    return page.evaluate<{ said: string[]; asked: number }>(
      '({ said: window.__notified ?? [], asked: window.__asked ?? 0 })',
    );
  }

  /** A screenshot of the whole page, as test-artifacts/window/NAME.png. */
  async shot(name: string): Promise<void> {
    await this.page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });
  }

  /** Shows a view by its button in the header. */
  async view(name: string): Promise<void> {
    await this.page.getByRole('button', { name, exact: true }).click();
  }

  async close(): Promise<void> {
    await this.browser?.close();
    await stopServe(this.serve);
  }
}

async function stopServe(serve: ChildProcess): Promise<void> {
  if (serve.exitCode !== null || serve.signalCode !== null) return;
  const exited = new Promise((resolve) => serve.once('exit', resolve));
  serve.kill('SIGTERM');
  await exited;
}
