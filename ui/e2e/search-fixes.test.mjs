// The search page's fixes of issue 22 (defect 5) against the real binary, over
// e2e/trace-seed.mjs (four traces in the last few minutes): the scatter's time axis is the
// chosen range with each label once; results stay while a new search runs; the limit
// reached is said; an unquoted value is marked with the quoted query offered; a
// half-typed attribute builds no condition.
//
// Run: ARBOR_BIN=../target/debug/arbor node --test e2e/search-fixes.test.mjs

import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { launchBrowser, screenshotDir, startArbor, stopArbor } from './harness.mjs';
import { ORPHAN, traceSet } from './trace-seed.mjs';
import { send } from './seed.mjs';

const TRACES = 4;
let server;
let browser;
let page;

before(async () => {
  server = await startArbor();
  await send(server.otlp_http, traceSet(Date.now()));
  browser = await launchBrowser();
  page = browser.page;
  page.setDefaultTimeout(20_000);
});

after(async () => {
  await browser?.close();
  await stopArbor(server);
});

const url = (p) => `${server.url}${p}`;
const traceql = (q, extra = '') => url(`/search?mode=traceql&q=${encodeURIComponent(q)}${extra}`);
async function waitForResults(n) {
  await page.waitForFunction((n) => document.querySelectorAll('[data-testid=results] tbody tr').length === n && !document.querySelector('.loading'), n);
}

describe('search page (defect 5)', () => {
  test('the scatter plot spans the chosen range, each time label once', async () => {
    // One trace: the old axis fitted the results (a few seconds), labelling "hh:mm:ss" many times.
    await page.goto(traceql('{ resource.service.name = "gateway" }'));
    await waitForResults(1);
    const labels = await page.$$eval('[data-testid=scatter] text[text-anchor=middle]', (els) => els.map((e) => e.textContent));
    assert.ok(labels.length >= 3, `several time labels (${labels})`);
    assert.equal(new Set(labels).size, labels.length, `no label repeated: ${labels}`);
    // The last hour (the default range): labels across most of an hour.
    const minutes = labels.map((l) => {
      const [h, m] = l.split(':').map(Number);
      return h * 60 + m;
    });
    const spread = (minutes[minutes.length - 1] - minutes[0] + 1440) % 1440;
    assert.ok(spread >= 30, `the axis covers the range, not the results (${labels})`);
    const point = await page.locator(`[data-testid=scatter] circle[data-trace-id="${ORPHAN}"]`).boundingBox();
    const plot = await page.locator('[data-testid=scatter] svg').boundingBox();
    assert.ok(point.x > plot.x + plot.width * 0.8, 'a trace of a minute ago is drawn near the right end of the last hour');
  });

  test('the results stay on the page while the next search runs', async () => {
    await page.goto(url('/search'));
    await waitForResults(TRACES);
    let release;
    const held = new Promise((r) => (release = r));
    await page.route('**/api/search?**', async (route) => {
      await held;
      await route.continue();
    });
    await page.fill('[data-testid=form-service]', 'cart');
    await page.click('[data-testid=run-search]');
    await page.locator('[data-testid=searching]').waitFor();
    assert.equal(await page.locator('[data-testid=stale-results] [data-testid=results] tbody tr').count(), TRACES);
    release();
    await waitForResults(2);
    assert.equal(await page.locator('[data-testid=stale-results]').count(), 0);
    await page.unroute('**/api/search?**');
  });

  test('a note says when the limit was reached', async () => {
    await page.goto(url('/search?limit=2'));
    await waitForResults(2);
    await page.locator('[data-testid=limit-note]').waitFor();
    assert.match(await page.textContent('[data-testid=limit-note]'), /limit of 2 was reached/);
    await page.goto(url('/search'));
    await waitForResults(TRACES);
    assert.equal(await page.locator('[data-testid=limit-note]').count(), 0);
  });

  test('an unquoted value: the message suggests quoting and marks the spot', async () => {
    await page.goto(traceql('{ resource.service.name = cart && kind = server }'));
    await page.locator('[data-testid=search-error]').waitFor();
    await page.locator('[data-testid=quote-hint]').waitFor();
    assert.deepEqual(await page.locator('[data-testid=unquoted-value]').allTextContents(), ['cart']);
    assert.match(await page.textContent('[data-testid=quote-hint]'), /quoted/);
    await page.click('[data-testid=use-quoted]');
    await waitForResults(2);
    assert.equal(new URL(page.url()).searchParams.get('q'), '{ resource.service.name = "cart" && kind = server }');
  });

  test('a half-typed attribute in the form builds no condition', async () => {
    await page.goto(url('/search'));
    await waitForResults(TRACES);
    await page.click('[data-testid=add-attr]');
    await page.fill('[data-testid=attr-key]', 'http.');
    assert.equal(await page.textContent('[data-testid=built-query]'), '{ }');
    await page.fill('[data-testid=attr-key]', 'http.route');
    assert.equal(await page.textContent('[data-testid=built-query]'), '{ }');
    await page.fill('[data-testid=attr-value]', '/shop');
    assert.equal(await page.textContent('[data-testid=built-query]'), '{ .http.route = "/shop" }');
  });

  test('a metrics query draws a chart per series (defect 4)', async () => {
    await page.goto(traceql('{ } | rate() by (resource.service.name)'));
    await page.locator('[data-testid=metrics-results]').waitFor();
    assert.equal(await page.locator('[data-testid=search-error]').count(), 0);
    const labels = await page.$$eval('[data-testid=metrics-series]', (els) => els.map((e) => e.dataset.label));
    assert.equal(labels.length, 5, `a series per service: ${labels}`);
    assert.ok(labels.some((l) => l.includes('cart')), labels.join(' '));
    await page.screenshot({ path: path.join(screenshotDir(), 'search-metrics.png') });
  });

  test('no errors in the page', () => {
    const errors = browser.errors.filter((e) => !/Failed to load resource/.test(e.message));
    assert.deepEqual(errors.map(String), []);
  });
});
