// The test harness: the real arbor binary on free ports with a temporary data directory,
// and Debian's Chromium driven by playwright-core.

import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

import { send } from './seed.mjs';

export const UI_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const REPO = path.resolve(UI_DIR, '..');
const START_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 30_000;

export const CHROMIUM = process.env.CHROMIUM_BIN ?? '/usr/bin/chromium';
export const CHROMIUM_FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** The arbor binary the tests run (ARBOR_BIN, else target/debug/arbor). */
export function arborBinary() {
  const raw = process.env.ARBOR_BIN;
  if (!raw) return path.join(process.env.CARGO_TARGET_DIR ? path.resolve(REPO, process.env.CARGO_TARGET_DIR) : path.join(REPO, 'target'), 'debug', 'arbor');
  if (path.isAbsolute(raw) || existsSync(raw)) return path.resolve(raw);
  return path.join(REPO, raw);
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Every `--…-listen` flag the binary has (so each listener takes a free port). */
function listenFlags(binary) {
  const help = execFileSync(binary, ['serve', '--help'], { encoding: 'utf8' });
  const flags = [...new Set(help.match(/--[a-z0-9-]+-listen\b/g) ?? [])];
  if (!flags.includes('--http-listen')) throw new Error(`${binary} serve --help lists no --http-listen`);
  return flags;
}

/** Starts `arbor serve` on port 0 everywhere and waits for its listen file. */
export async function startArbor(extraArgs = [], { dir: reuse } = {}) {
  const binary = arborBinary();
  if (!existsSync(binary)) throw new Error(`arbor binary not found at ${binary} (cargo build -p arbor, or set ARBOR_BIN)`);
  // `dir`: the directory of a server stopped with `keep` (a restart on the same data).
  const dir = reuse ?? mkdtempSync(path.join(tmpdir(), 'arbor-ui-'));
  if (reuse) rmSync(path.join(dir, 'listen.json'), { force: true });
  const listenFile = path.join(dir, 'listen.json');
  const logPath = path.join(dir, 'arbor.log');
  const logFd = openSync(logPath, 'a');
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('ARBOR_')));
  env.ARBOR_LOG_LEVEL = process.env.ARBOR_TEST_LOG ?? 'info';
  env.NO_COLOR = '1';
  const child = spawn(
    binary,
    [
      'serve',
      '--data-dir', path.join(dir, 'data'),
      ...listenFlags(binary).flatMap((f) => [f, '127.0.0.1:0']),
      '--listen-file', listenFile,
      ...extraArgs,
    ],
    { stdio: ['ignore', 'ignore', logFd], env },
  );
  closeSync(logFd);
  let exit = null;
  child.on('exit', (code, signal) => {
    exit = { code, signal };
  });
  const log = () => {
    try {
      return readFileSync(logPath, 'utf8');
    } catch {
      return '';
    }
  };
  const deadline = Date.now() + START_TIMEOUT_MS;
  for (;;) {
    try {
      const addrs = JSON.parse(readFileSync(listenFile, 'utf8'));
      return { ...addrs, url: `http://${addrs.http}`, child, dir, log, exited: () => exit };
    } catch {
      // not written yet
    }
    if (exit !== null) throw new Error(`arbor exited during start (${JSON.stringify(exit)}); log:\n${log()}`);
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`arbor did not write ${listenFile} within ${START_TIMEOUT_MS / 1000}s; log:\n${log()}`);
    }
    await sleep(20);
  }
}

/** SIGTERM, then SIGKILL after a grace period; removes the data directory unless `keep`. */
export async function stopArbor(server, { keep = false } = {}) {
  if (!server) return null;
  if (server.exited() === null) {
    const exited = once(server.child, 'exit');
    server.child.kill('SIGTERM');
    const timer = setTimeout(() => server.child.kill('SIGKILL'), STOP_TIMEOUT_MS);
    await exited;
    clearTimeout(timer);
  }
  if (!keep) rmSync(server.dir, { recursive: true, force: true });
  return server.exited();
}

/**
 * Chromium with a fresh profile directory; `page.errors` collects uncaught page errors.
 * `args`: more Chromium flags (e.g. `--host-resolver-rules=…`); `timezoneId`: the page's
 * time zone (e.g. `Asia/Kolkata`), else the machine's.
 */
export async function launchBrowser({ width = 1280, height = 720, args = [], timezoneId } = {}) {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} not found: apt-get install -y chromium (or set CHROMIUM_BIN)`);
  const profile = mkdtempSync(path.join(tmpdir(), 'arbor-ui-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: [...CHROMIUM_FLAGS, ...args],
    viewport: { width, height },
    deviceScaleFactor: 1,
    acceptDownloads: true,
    ...(timezoneId ? { timezoneId } : {}),
  });
  const page = context.pages()[0] ?? (await context.newPage());
  const errors = [];
  page.on('pageerror', (e) => errors.push(e));
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(new Error(`console: ${m.text()}`));
  });
  return {
    context,
    page,
    errors,
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/** Where screenshots go: ARBOR_UI_SCREENSHOTS_DIR (docs/screenshots refreshes the README's), else ui/test-results. */
export function screenshotDir() {
  const dir = process.env.ARBOR_UI_SCREENSHOTS_DIR ? path.resolve(REPO, process.env.ARBOR_UI_SCREENSHOTS_DIR) : path.join(UI_DIR, 'test-results', 'screenshots');
  mkdirSync(dir, { recursive: true });
  return dir;
}

/**
 * One arbor and one browser page for a test file: arbor started (with the spans of
 * `seed(nowMs)` sent, when given), then the browser. `close()` stops both. (Call it from the
 * file's own `before` and `after`: Node 20 does not wait for one root-level hook before the
 * next.)
 */
export async function openArborPage({ seed, viewport = { width: 1280, height: 900 }, timezoneId, args = [] } = {}) {
  const server = await startArbor(args);
  if (seed) await send(server.otlp_http, seed(Date.now()));
  const browser = await launchBrowser({ ...viewport, timezoneId });
  browser.page.setDefaultTimeout(20_000);
  return {
    server,
    browser,
    page: browser.page,
    async close() {
      await browser.close();
      await stopArbor(server);
    },
  };
}
