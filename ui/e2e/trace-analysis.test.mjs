// The trace page's new views against the real binary, over e2e/trace-seed.mjs (figures
// known by construction): the flame graph and the statistics table of SHOP, and the
// comparison of SHOP with SHOP_SLOW (one span added, one slower).
//
// Run: ARBOR_BIN=../target/debug/arbor node --test e2e/trace-analysis.test.mjs

import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { launchBrowser, screenshotDir, startArbor, stopArbor } from './harness.mjs';
import { SHOP, SHOP_SLOW, SHOP_SPANS, traceSet } from './trace-seed.mjs';
import { send } from './seed.mjs';

let server;
let browser;
let page;
const ms = 1e6;

before(async () => {
  server = await startArbor();
  await send(server.otlp_http, traceSet(Date.now()));
  browser = await launchBrowser({ width: 1440, height: 900 });
  page = browser.page;
  page.setDefaultTimeout(20_000);
});

after(async () => {
  await browser?.close();
  await stopArbor(server);
});

const url = (p) => `${server.url}${p}`;
const shot = (name) => page.screenshot({ path: path.join(screenshotDir(), name) });

describe('statistics of a trace', () => {
  test('self time, count and errors per service and per operation', async () => {
    await page.goto(url(`/trace/${SHOP}`));
    await page.waitForSelector('[data-testid=waterfall-body]');
    await page.click('[data-testid=view-stats]');
    await page.waitForFunction(() => /view=stats/.test(location.search));
    await page.click('[data-testid=stats-by-service]');
    const table = async () =>
      page.$$eval('[data-testid=stats-row]', (rows) =>
        rows.map((r) => ({
          service: r.dataset.service,
          name: r.dataset.name,
          count: r.querySelector('.col-count').textContent,
          errors: r.querySelector('.col-errors').textContent,
          self: r.querySelector('.col-self').textContent,
        })),
      );
    assert.deepEqual(await table(), [
      { service: 'cart', name: '', count: '2', errors: '0', self: '120 ms' },
      { service: 'payments', name: '', count: '2', errors: '2', self: '70 ms' },
      { service: 'frontend', name: '', count: '2', errors: '0', self: '40 ms' },
    ]);
    await page.click('[data-testid=stats-by-operation]');
    const ops = await table();
    assert.equal(ops.length, SHOP_SPANS);
    assert.deepEqual(ops[0], { service: 'cart', name: 'GET /cart', count: '1', errors: '0', self: '80 ms' });
    assert.deepEqual(
      ops.map((o) => `${o.name}=${o.self}`).sort(),
      ['GET /cart=80 ms', 'GET /shop=20 ms', 'POST /pay=20 ms', 'SELECT cart=40 ms', 'call bank=50 ms', 'render=20 ms'],
    );
    await page.mouse.move(0, 0);
    await shot('trace-stats.png');
    // A row finds its spans in the waterfall.
    await page.locator('[data-testid=stats-row][data-name="call bank"]').click();
    await page.waitForSelector('[data-testid=waterfall-body]');
    assert.equal(await page.inputValue('[data-testid=find-input]'), 'service=payments name="call bank"');
    await page.locator('[data-testid=find-count]').getByText('1 of 1', { exact: true }).waitFor();
  });
});

describe('flame graph of a trace', () => {
  test('frames as wide as their time, zoom on a click', async () => {
    await page.goto(url(`/trace/${SHOP}?view=flame`));
    await page.waitForSelector('[data-testid=flame]');
    const frames = await page.$$eval('[data-testid=flame-frame]', (els) =>
      els.map((el) => ({ key: `${el.dataset.service}: ${el.dataset.name}`, total: Number(el.dataset.totalNs), self: Number(el.dataset.selfNs), width: el.getBoundingClientRect().width, err: el.classList.contains('err') })),
    );
    const by = Object.fromEntries(frames.map((f) => [f.key, f]));
    assert.equal(frames.length, SHOP_SPANS);
    // The root's frame holds the trace's total self time: 20+20+80+40+20+50 ms.
    assert.equal(by['frontend: GET /shop'].total, 230 * ms);
    assert.equal(by['cart: GET /cart'].total, 120 * ms);
    assert.equal(by['cart: GET /cart'].self, 80 * ms);
    assert.equal(by['payments: POST /pay'].total, 70 * ms);
    assert.equal(by['frontend: render'].total, 20 * ms);
    assert.ok(by['payments: POST /pay'].err && by['payments: call bank'].err && !by['cart: GET /cart'].err);
    const ratio = by['cart: GET /cart'].width / by['frontend: GET /shop'].width;
    assert.ok(Math.abs(ratio - 120 / 230) < 0.01, `GET /cart is 120/230 of the width (${ratio})`);
    await page.mouse.move(0, 0);
    await shot('trace-flame.png');
    // Zoom to GET /cart: it spans the width, SELECT cart half of it (40 of 80+40... of 120).
    const full = by['frontend: GET /shop'].width;
    await page.locator('[data-testid=flame-frame][data-name="GET /cart"]').click();
    await page.locator('[data-testid=flame-reset]').waitFor();
    const zoomed = await page.$$eval('[data-testid=flame-frame]', (els) => els.map((el) => ({ name: el.dataset.name, width: el.getBoundingClientRect().width })));
    assert.deepEqual(zoomed.map((z) => z.name), ['GET /cart', 'SELECT cart']);
    assert.ok(Math.abs(zoomed[0].width - full) < 2);
    assert.ok(Math.abs(zoomed[1].width / zoomed[0].width - 40 / 120) < 0.01);
    await page.click('[data-testid=flame-reset]');
    assert.equal(await page.locator('[data-testid=flame-frame]').count(), SHOP_SPANS);
  });
});

describe('comparison of two traces', () => {
  test('from the trace page: one span added, one slower, the rest the same', async () => {
    await page.goto(url(`/trace/${SHOP}`));
    await page.waitForSelector('[data-testid=waterfall-body]');
    await page.fill('[data-testid=compare-input]', SHOP_SLOW);
    await page.click('[data-testid=compare-go]');
    await page.waitForFunction(([a, b]) => location.pathname === `/trace/${a}/compare/${b}`, [SHOP, SHOP_SLOW]);
    await page.waitForSelector('[data-testid=compare]');
    const counts = await page.$$eval('[data-testid=diff-counts] [data-change]', (els) => Object.fromEntries(els.map((e) => [e.dataset.change, Number(e.dataset.count)])));
    assert.deepEqual(counts, { added: 1, missing: 0, failing: 0, fixed: 0, slower: 1, faster: 0, same: SHOP_SPANS - 1 });
    const rows = await page.$$eval('[data-testid=diff-row]', (els) => els.map((e) => ({ change: e.dataset.change, span: `${e.dataset.service}: ${e.dataset.name}`, delta: e.querySelector('.col-delta').textContent })));
    assert.deepEqual(
      rows.filter((r) => r.change !== 'same'),
      [
        { change: 'slower', span: 'cart: SELECT cart', delta: '+60 ms' },
        { change: 'added', span: 'payments: fraud check', delta: '–' },
      ],
    );
    // Per service and operation, the changed ones first.
    const ops = await page.$$eval('[data-testid=diff-op]', (els) => els.map((e) => `${e.dataset.service}: ${e.dataset.name}`));
    assert.deepEqual(ops.slice(0, 2).sort(), ['cart: SELECT cart', 'payments: fraud check']);
    await page.mouse.move(0, 0);
    await shot('trace-compare.png');
    await page.check('[data-testid=only-changed]');
    assert.equal(await page.locator('[data-testid=diff-row]').count(), 2);
    // The other way round: the span is missing and the call faster.
    await page.goto(url(`/trace/${SHOP_SLOW}/compare/${SHOP}`));
    await page.waitForSelector('[data-testid=compare]');
    const back = await page.$$eval('[data-testid=diff-counts] [data-change]', (els) => Object.fromEntries(els.map((e) => [e.dataset.change, Number(e.dataset.count)])));
    assert.equal(back.missing, 1);
    assert.equal(back.faster, 1);
  });

  test('from the search results: two traces picked', async () => {
    await page.goto(url('/search'));
    await page.waitForFunction(() => document.querySelectorAll('[data-testid=results] tbody tr').length === 4 && !document.querySelector('.loading'));
    await page.check(`[data-testid=results] tr[data-trace-id="${SHOP}"] [data-testid=compare-pick]`);
    assert.equal(await page.locator('[data-testid=compare-picked]').count(), 0);
    await page.check(`[data-testid=results] tr[data-trace-id="${SHOP_SLOW}"] [data-testid=compare-pick]`);
    await page.click('[data-testid=compare-picked]');
    await page.waitForFunction(([a, b]) => location.pathname === `/trace/${a}/compare/${b}`, [SHOP, SHOP_SLOW]);
    await page.waitForSelector('[data-testid=compare]');
    assert.equal(await page.getAttribute('[data-testid=diff-counts] [data-change=added]', 'data-count'), '1');
    assert.equal(await page.getAttribute('[data-testid=diff-counts] [data-change=slower]', 'data-count'), '1');
  });

  test('a missing trace is said so', async () => {
    await page.goto(url(`/trace/${SHOP}/compare/0123456789abcdef0123456789abcdef`));
    await page.locator('[data-testid=compare-error]').waitFor();
  });

  test('no errors in the page', () => {
    const errors = browser.errors.filter((e) => !/Failed to load resource/.test(e.message));
    assert.deepEqual(errors.map(String), []);
  });
});
