// End-to-end: the real arbor binary with seeded data, its embedded UI driven in Chromium.
//
// Run: node --test e2e/*.test.mjs (ARBOR_BIN picks the binary; default target/debug/arbor)

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { launchBrowser, screenshotDir, startArbor, stopArbor } from './harness.mjs';
import { BACKGROUND_COUNT, CHECKOUT, LINKED, dataset, send } from './seed.mjs';

const TRACES = 2 + 12 + BACKGROUND_COUNT;
const CHECKOUT_SPANS = 15;
const CHECKOUT_ERRORS = 4;
const PAYMENTS = 'a000000000000008';
const RECOMMENDATIONS = 'a00000000000000f';

let server;
let browser;
let page;

before(async () => {
  server = await startArbor();
  await send(server.otlp_http, dataset(Date.now()));
  browser = await launchBrowser();
  page = browser.page;
  page.setDefaultTimeout(20_000);
});

after(async () => {
  await browser?.close();
  await stopArbor(server);
});

const url = (p) => `${server.url}${p}`;
const rowCount = async () => Number(await page.getAttribute('[data-testid=waterfall-body]', 'aria-rowcount'));
const resultIds = () => page.$$eval('[data-testid=results] tbody tr', (rows) => rows.map((r) => r.getAttribute('data-trace-id')));
/** Waits until the results table holds exactly `n` rows (or the no-results note when 0). */
async function waitForResults(n) {
  if (n === 0) {
    await page.waitForSelector('[data-testid=no-results]');
    return [];
  }
  await page.waitForFunction((n) => document.querySelectorAll('[data-testid=results] tbody tr').length === n && !document.querySelector('.loading'), n);
  return resultIds();
}
async function openTrace(id, query = '') {
  await page.goto(url(`/trace/${id}${query}`));
  await page.waitForSelector('[data-testid=waterfall-body]');
}
/** Waits for the page's own location (pushState and replaceState included) to match. */
async function waitForUrl(re) {
  await page.waitForFunction((src) => new RegExp(src).test(location.href), re.source);
}
const pageErrors = () => browser.errors.filter((e) => !/Failed to load resource/.test(e.message));

describe('search page', () => {
  test('lists the seeded traces most recent first, with counts and a scatter plot', async () => {
    await page.goto(url('/'));
    await waitForUrl(/\/search$/);
    const ids = await waitForResults(TRACES);
    assert.equal(ids[0], LINKED, 'the most recent trace first');
    assert.equal(ids[1], CHECKOUT);
    const row = page.locator(`[data-testid=results] tr[data-trace-id="${CHECKOUT}"]`);
    assert.equal((await row.locator('.col-spans').textContent()).trim(), String(CHECKOUT_SPANS));
    assert.equal((await row.locator('.col-errors').textContent()).trim(), String(CHECKOUT_ERRORS));
    assert.match(await row.locator('.col-name').textContent(), /api-gateway\s*POST \/api\/checkout/);
    assert.equal(await page.locator('[data-testid=scatter] circle').count(), TRACES);
    assert.equal(await page.locator('[data-testid=scatter] circle.error').count(), await page.locator('[data-testid=results] .badge.error').count());
    await page.locator(`[data-testid=scatter] circle[data-trace-id="${CHECKOUT}"]`).click();
    await waitForUrl(new RegExp(`/trace/${CHECKOUT}`));
    await page.waitForSelector('[data-testid=trace-header]');
  });

  test('the form builds TraceQL, and the URL holds the search', async () => {
    await page.goto(url('/search'));
    await waitForResults(TRACES);
    await page.fill('[data-testid=form-service]', 'checkout');
    await page.selectOption('[data-testid=form-status]', 'error');
    await page.fill('[data-testid=form-min-duration]', '100ms');
    assert.equal(await page.textContent('[data-testid=built-query]'), '{ resource.service.name = "checkout" && status = error && duration >= 100ms }');
    await page.click('[data-testid=run-search]');
    await waitForUrl(/service=checkout/);
    assert.deepEqual(await waitForResults(1), [CHECKOUT]);
    // An attribute condition narrows further: no checkout span has this route.
    await page.click('[data-testid=add-attr]');
    await page.fill('[data-testid=attr-key]', 'http.route');
    await page.fill('[data-testid=attr-value]', '/nope');
    await page.click('[data-testid=run-search]');
    await waitForResults(0);
    // A reload of the shared link gives the same page.
    await page.goto(url('/search?service=checkout&status=error'));
    assert.deepEqual(await waitForResults(1), [CHECKOUT]);
    assert.equal(await page.inputValue('[data-testid=form-service]'), 'checkout');
    assert.equal(await page.inputValue('[data-testid=form-status]'), 'error');
  });

  test('serverless quick filters apply with one click each', async () => {
    await page.goto(url('/search'));
    await waitForResults(TRACES);
    await page.click('[data-testid=quick-function]');
    const menu = page.locator('[data-testid=quick-function-menu]');
    await menu.getByRole('option', { name: 'resize-image' }).waitFor();
    assert.deepEqual((await menu.getByRole('option').allTextContents()).sort(), ['nightly-report', 'resize-image', 'send-email']);
    await menu.getByRole('option', { name: 'resize-image' }).click();
    await waitForUrl(/faas\.name/);
    const fns = await waitForResults(4);
    assert.ok(fns.every((id) => id.startsWith('faa5')));
    assert.match(await page.textContent('[data-testid=built-query]'), /\.faas\.name = "resize-image"/);
    await page.click('[data-testid=quick-coldstart]');
    await waitForUrl(/faas\.coldstart/);
    assert.equal((await waitForResults(1)).length, 1);
    await page.click('[data-testid=quick-coldstart]');
    await waitForResults(4);
    // Region and errors: the failing invocations in us-east-1 (send-email, i % 5 == 2: i = 7).
    await page.click('[data-testid=quick-function]');
    await page.locator('[data-testid=quick-function-menu]').getByRole('button', { name: 'Clear' }).click();
    await waitForResults(TRACES);
    await page.click('[data-testid=quick-region]');
    await page.locator('[data-testid=quick-region-menu]').getByRole('option', { name: 'us-east-1' }).click();
    await waitForResults(4);
    await page.click('[data-testid=quick-errors]');
    const failed = await waitForResults(1);
    assert.ok(failed[0].startsWith('faa5'));
    assert.match(page.url(), /region/);
    assert.match(page.url(), /status=failed/);
  });

  test('TraceQL with highlighting and autocompletion of tag names and values', async () => {
    await page.goto(url('/search?mode=traceql&q='));
    const input = page.locator('[data-testid=traceql-input]');
    await input.click();
    await input.pressSequentially('{ resource.serv');
    await page.locator('[data-testid=completions]').getByText('resource.service.name', { exact: true }).waitFor();
    await input.press('Tab');
    assert.equal(await input.inputValue(), '{ resource.service.name');
    await input.pressSequentially(' = "pay');
    await page.locator('[data-testid=completions]').getByText('payments', { exact: true }).waitFor();
    await input.press('Enter');
    assert.equal(await input.inputValue(), '{ resource.service.name = "payments"');
    await input.pressSequentially(' }');
    assert.equal(await page.locator('.editor-hl .tok-scope').first().textContent(), 'resource.');
    assert.equal(await page.locator('.editor-hl .tok-string').first().textContent(), '"payments"');
    await input.press('Enter');
    await waitForUrl(/mode=traceql/);
    assert.deepEqual(await waitForResults(1), [CHECKOUT]);
    // The matched spans under the trace (3 per spanset by default), each a link to its span.
    await page.click('[data-testid=result-toggle]');
    const matched = page.locator('[data-testid=matched-spans]');
    assert.deepEqual(await matched.locator('a').allTextContents(), ['POST /payments', 'fraud score', 'POST issuer /authorize']);
    assert.match(await matched.textContent(), /2 more matched spans/);
    await matched.getByRole('link', { name: 'POST /payments' }).click();
    await waitForUrl(new RegExp(`/trace/${CHECKOUT}\\?span=${PAYMENTS}`));
    assert.equal(await page.textContent('[data-testid=details-name]'), 'POST /payments');
    await page.goBack();
    await waitForResults(1);
    // Structural: traces where a server span has an erroring descendant.
    await input.fill('{ kind = server && resource.service.name = "checkout" } >> { status = error && span.http.response.status_code = 402 }');
    await input.press('Escape');
    await page.click('[data-testid=run-search]');
    assert.deepEqual(await waitForResults(1), [CHECKOUT]);
  });

  test('an API error is shown as the server wrote it', async () => {
    await page.goto(url(`/search?mode=traceql&q=${encodeURIComponent('{ span.a = }')}`));
    const err = page.locator('[data-testid=search-error]');
    await err.waitFor();
    assert.match(await err.textContent(), /400: 1:12: expected a value, an attribute or an intrinsic, found `}`/);
    await page.goto(url('/trace/0123456789abcdef0123456789abcdef'));
    const missing = page.locator('[data-testid=trace-error]');
    await missing.waitFor();
    assert.match(await missing.textContent(), /Trace not found.*404: trace 0123456789abcdef0123456789abcdef not found/s);
  });

  test('the time range picker narrows the search (relative and absolute)', async () => {
    await page.goto(url('/search'));
    await waitForResults(TRACES);
    await page.click('[data-testid=time-range]');
    await page.getByRole('button', { name: 'Last 5 minutes' }).click();
    await waitForUrl(/from=now-5m/);
    await page.waitForFunction(() => !document.querySelector('.loading') && document.querySelectorAll('[data-testid=results] tbody tr').length > 0);
    const ids = await resultIds();
    assert.ok(ids.includes(CHECKOUT));
    assert.ok(ids.length < TRACES, `${ids.length} traces in the last 5 minutes`);
    // An absolute range a day ago holds nothing.
    await page.click('[data-testid=time-range]');
    const dayAgo = new Date(Date.now() - 86_400_000);
    const local = (d) => new Date(d.getTime() - d.getTimezoneOffset() * 60_000).toISOString().slice(0, 16);
    await page.fill('input[aria-label=From]', local(new Date(dayAgo.getTime() - 3_600_000)));
    await page.fill('input[aria-label=To]', local(dayAgo));
    await page.getByRole('button', { name: 'Apply absolute range' }).click();
    await waitForUrl(/from=\d{4}-/);
    await waitForResults(0);
  });
});

describe('trace page', () => {
  test('header, and as many rows as spans once expanded; collapse and expand', async () => {
    await openTrace(CHECKOUT);
    assert.equal(await page.textContent('[data-testid=trace-span-count]'), String(CHECKOUT_SPANS));
    assert.equal(await page.textContent('[data-testid=trace-error-count]'), String(CHECKOUT_ERRORS));
    assert.equal(await page.textContent('[data-testid=trace-duration]'), '420 ms');
    assert.match(await page.textContent('[data-testid=trace-services]'), /payments\s*5/);
    assert.equal(await page.locator('[data-testid=partial-warning]').count(), 0);
    assert.equal(await rowCount(), CHECKOUT_SPANS);
    assert.equal(await page.locator('.wf-row').count(), CHECKOUT_SPANS, 'a small trace has every row rendered');
    await page.click('[data-testid=collapse-all]');
    assert.equal(await rowCount(), 1);
    await page.click('[data-testid=expand-all]');
    assert.equal(await rowCount(), CHECKOUT_SPANS);
    // POST /checkout holds 11 spans: collapsing it hides 10.
    await page.locator('.wf-row[data-span-id="a000000000000004"] [data-testid=row-toggle]').click();
    assert.equal(await rowCount(), CHECKOUT_SPANS - 10);
    assert.match(await page.textContent('.wf-row[data-span-id="a000000000000004"] .kids'), /10/);
    await page.locator('.wf-row[data-span-id="a000000000000004"] [data-testid=row-toggle]').click();
    assert.equal(await rowCount(), CHECKOUT_SPANS);
  });

  test('span details: status, timing, attributes, resource, events with stack traces, links', async () => {
    await openTrace(CHECKOUT);
    await page.click(`.wf-row[data-span-id="${PAYMENTS}"]`);
    const d = page.locator('[data-testid=span-details]');
    await d.waitFor();
    assert.equal(await d.locator('[data-testid=details-name]').textContent(), 'POST /payments');
    assert.match(await d.locator('[data-testid=details-error]').textContent(), /card declined by issuer \(code 51\)/);
    assert.equal(await d.locator('[data-testid=details-kind]').textContent(), 'server');
    assert.equal(await d.locator('[data-testid=details-duration]').textContent(), '260 ms');
    // Self time: 260 ms less its children's union (140-400: 145-185, 190-390, 396-399) = 17 ms.
    assert.match(await d.locator('[data-testid=details-self]').textContent(), /^17 ms/);
    const attrs = await d.locator('[data-testid=details-attributes]').textContent();
    assert.match(attrs, /payment\.currency\s*EUR/);
    assert.match(attrs, /http\.response\.status_code\s*502/);
    assert.match(await d.locator('[data-testid=details-resource]').textContent(), /service\.name\s*payments/);
    assert.match(await d.locator('[data-testid=details-scope]').textContent(), /arbor\.ui\.e2e/);
    assert.match(await d.locator('[data-testid=stacktrace]').textContent(), /at ChargeService\.charge \(\/srv\/payments\/src\/charge\.ts:88:13\)\n/);
    assert.equal(await page.locator(`.wf-row[data-span-id="${PAYMENTS}"] .marker.exc`).count(), 1, 'the exception is marked on the bar');
    assert.match(page.url(), new RegExp(`span=${PAYMENTS}`));
    // The link opens the linked trace at the linked span.
    await d.locator('[data-testid=span-link]').click();
    await waitForUrl(new RegExp(`/trace/${LINKED}\\?span=b000000000000001`));
    await page.locator('[data-testid=details-name]').getByText('process fraud check').waitFor();
    assert.equal(await rowCount(), 2);
  });

  test('the critical path is highlighted and can be switched off', async () => {
    await openTrace(CHECKOUT);
    assert.ok(await page.isChecked('[data-testid=critical-toggle]'));
    const onPath = await page.$$eval('.wf-row.cp', (rows) => rows.map((r) => r.getAttribute('data-span-id')));
    assert.ok(onPath.includes(PAYMENTS));
    assert.ok(onPath.includes('a00000000000000a'), 'the issuer call, the slowest step');
    assert.ok(!onPath.includes(RECOMMENDATIONS), 'a call that ran in parallel and finished early');
    assert.equal(onPath.length, CHECKOUT_SPANS - 1);
    assert.ok((await page.locator('.cp-seg').count()) >= onPath.length);
    await page.uncheck('[data-testid=critical-toggle]');
    assert.equal(await page.locator('.wf-row.cp').count(), 0);
    assert.equal(await page.locator('.cp-seg').count(), 0);
    await waitForUrl(/cp=0/);
    await page.check('[data-testid=critical-toggle]');
    assert.equal(await page.locator('.wf-row.cp').count(), CHECKOUT_SPANS - 1);
  });

  test('find in trace: by attribute value and by service, into collapsed subtrees', async () => {
    await openTrace(CHECKOUT);
    await page.fill('[data-testid=find-input]', 'postgresql');
    await page.locator('[data-testid=find-count]').getByText('1 of 2').waitFor();
    const matched = await page.$$eval('.wf-row.match', (rows) => rows.map((r) => r.getAttribute('data-span-id')));
    assert.deepEqual(matched, ['a000000000000005', 'a000000000000007']);
    await page.press('[data-testid=find-input]', 'Enter');
    await page.locator('[data-testid=find-count]').getByText('2 of 2').waitFor();
    assert.equal(await page.textContent('[data-testid=details-name]'), 'UPDATE stock');
    // A service in the header finds that service's spans.
    await page.locator('[data-testid=trace-services] button', { hasText: 'inventory' }).click();
    assert.equal(await page.inputValue('[data-testid=find-input]'), 'inventory');
    await page.locator('[data-testid=find-count]').getByText('1 of 2').waitFor();
    // A match inside a collapsed subtree is revealed.
    await page.click('[data-testid=collapse-all]');
    assert.equal(await rowCount(), 1);
    await page.fill('[data-testid=find-input]', 'retry backoff');
    await page.locator('[data-testid=find-count]').getByText('1 of 1').waitFor();
    await page.locator('.wf-row.current[data-span-id="a00000000000000b"]').waitFor();
    await page.fill('[data-testid=find-input]', 'no such thing');
    await page.locator('[data-testid=find-count]').getByText('no match').waitFor();
  });

  test('a deep link reloads to the same view', async () => {
    await openTrace(CHECKOUT, `?span=${PAYMENTS}&find=postgresql`);
    assert.equal(await page.textContent('[data-testid=details-name]'), 'POST /payments');
    assert.equal(await page.inputValue('[data-testid=find-input]'), 'postgresql');
    await page.locator('[data-testid=find-count]').getByText('of 2').waitFor();
    await page.reload();
    await page.waitForSelector('[data-testid=waterfall-body]');
    assert.equal(await page.textContent('[data-testid=details-name]'), 'POST /payments');
    assert.equal(await page.inputValue('[data-testid=find-input]'), 'postgresql');
  });

  test('keyboard navigation', async () => {
    await openTrace(CHECKOUT);
    await page.focus('[data-testid=waterfall-body]');
    await page.keyboard.press('Home');
    assert.equal(await page.textContent('[data-testid=details-name]'), 'POST /api/checkout');
    await page.keyboard.press('ArrowDown');
    assert.equal(await page.textContent('[data-testid=details-name]'), 'authenticate');
    await page.keyboard.press('ArrowRight');
    assert.equal(await page.textContent('[data-testid=details-name]'), 'GET /token/verify');
    await page.keyboard.press('ArrowLeft');
    assert.equal(await page.textContent('[data-testid=details-name]'), 'authenticate');
    await page.keyboard.press('ArrowLeft');
    assert.equal(await rowCount(), CHECKOUT_SPANS - 1, 'ArrowLeft on an open span collapses it');
    await page.keyboard.press('ArrowRight');
    assert.equal(await rowCount(), CHECKOUT_SPANS);
    await page.keyboard.press('End');
    assert.equal(await page.textContent('[data-testid=details-name]'), 'write access log');
    await page.keyboard.press('Escape');
    assert.equal(await page.locator('[data-testid=span-details]').count(), 0);
    await page.keyboard.press('/');
    assert.equal(await page.evaluate(() => document.activeElement?.getAttribute('data-testid')), 'find-input');
  });

  test('a trace the server cut short carries the PARTIAL warning', async () => {
    // A second server that returns at most 5 spans of a trace.
    const small = await startArbor(['--max-trace-spans', '5']);
    try {
      await send(small.otlp_http, dataset(Date.now()));
      await page.goto(`${small.url}/trace/${CHECKOUT}`);
      const warning = page.locator('[data-testid=partial-warning]');
      await warning.waitFor();
      assert.match(await warning.textContent(), /PARTIAL.*trace has 15 spans, returned the first 5/);
      assert.equal(await rowCount(), 5);
    } finally {
      await stopArbor(small);
    }
  });

  test('the minimap scrolls and zooms, the trace downloads as OTLP JSON', async () => {
    await openTrace(CHECKOUT);
    const box = await page.locator('[data-testid=minimap]').boundingBox();
    await page.mouse.move(box.x + box.width * 0.3, box.y + box.height / 2);
    await page.mouse.down();
    await page.mouse.move(box.x + box.width * 0.6, box.y + box.height / 2, { steps: 5 });
    await page.mouse.up();
    await page.locator('[data-testid=reset-zoom]').waitFor();
    const tick = await page.locator('.wf-ticks .tick').first().textContent();
    assert.notEqual(tick, '0 ns', 'the axis starts inside the trace when zoomed');
    await page.click('[data-testid=reset-zoom]');
    assert.equal(await page.locator('.wf-ticks .tick').first().textContent(), '0 ns');
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('[data-testid=download]')]);
    const file = await download.path();
    const otlp = JSON.parse(readFileSync(file, 'utf8'));
    const spans = otlp.resourceSpans.flatMap((rs) => rs.scopeSpans.flatMap((ss) => ss.spans));
    assert.equal(spans.length, CHECKOUT_SPANS);
    assert.ok(spans.every((s) => s.traceId === CHECKOUT));
  });
});

describe('looks', () => {
  test('screenshots of the search page and a trace page, light and dark', async () => {
    const dir = screenshotDir();
    await page.setViewportSize({ width: 1440, height: 900 });
    await page.evaluate(() => localStorage.setItem('arbor.theme', 'light'));
    await page.goto(url('/search'));
    await waitForResults(TRACES);
    await page.mouse.move(0, 0);
    await page.screenshot({ path: path.join(dir, 'search.png') });
    await openTrace(CHECKOUT, `?span=${PAYMENTS}`);
    await page.screenshot({ path: path.join(dir, 'trace-light.png') });
    await page.click('[data-testid=theme-toggle]');
    assert.equal(await page.evaluate(() => document.documentElement.dataset.theme), 'dark');
    await page.mouse.move(0, 0);
    await page.screenshot({ path: path.join(dir, 'trace-dark.png') });
    await page.click('[data-testid=theme-toggle]');
    await page.setViewportSize({ width: 1280, height: 720 });
  });

  test('no uncaught errors in the page', () => {
    assert.deepEqual(pageErrors().map((e) => e.message), []);
  });
});
