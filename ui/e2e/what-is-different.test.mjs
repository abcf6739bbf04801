// "What is different" (issue 22, build item 2) against the real binary: ten one-span traces
// of the shop service in the last minutes, where the span name explains the slow ones —
//   6 × "GET /orders", 20–60 ms, status ok
//   4 × "GET /report", 800–1200 ms, two of them failed
// and span.region split evenly between eu-west and us-east on both sides (no difference).
// A region of the scatter around the slow traces is compared with compare(): the span name
// ranks first with GET /report at 4 of 4 selected spans against 0 of 6; its button adds the
// filter. An error series of a metrics chart is compared too. A third test feeds the panel
// an answer of attributes the server does not compare today (span.region, as compare() will
// give once it compares every attribute) to show the page reads whatever attributes come.
//
// Run: ARBOR_BIN=../target/debug/arbor node --test e2e/what-is-different.test.mjs

import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { openArborPage, screenshotDir } from './harness.mjs';
import { TraceBuilder, str } from './seed.mjs';

const ms = 1e6;
const FAST = [20, 30, 40, 50, 60, 25];
const SLOW = [800, 900, 1000, 1200];

function seed(nowMs) {
  const spans = [];
  const all = [...FAST.map((d) => ({ d, slow: false })), ...SLOW.map((d) => ({ d, slow: true }))];
  all.forEach(({ d, slow }, i) => {
    const id = `d1ff${i.toString(16).padStart(4, '0')}`.padEnd(32, '0');
    const base = BigInt(nowMs - 600_000 + i * 45_000) * 1_000_000n;
    const t = new TraceBuilder(id, base);
    t.span({
      id: (0x5e000000 + i).toString(16).padStart(16, '0'),
      service: 'shop',
      name: slow ? 'GET /report' : 'GET /orders',
      kind: 'server',
      start: 0,
      dur: d * ms,
      error: slow && i % 2 === 0 ? 'report timed out' : null,
      attrs: [str('region', i % 2 === 0 ? 'eu-west' : 'us-east')],
    });
    spans.push(...t.spans);
  });
  return spans;
}

let arbor;
let server;
let browser;
let page;
before(async () => {
  arbor = await openArborPage({ seed, viewport: { width: 1280, height: 900 } });
  ({ server, browser, page } = arbor);
});
after(() => arbor?.close());

const url = (p) => `${server.url}${p}`;
async function waitForResults(n) {
  await page.waitForFunction((n) => document.querySelectorAll('[data-testid=results] tbody tr').length === n && !document.querySelector('.loading'), n);
}
const rows = () =>
  page.$$eval('[data-testid=diff-value]', (els) => els.map((e) => ({ key: e.dataset.key, value: e.dataset.value, selection: Number(e.dataset.selection), baseline: Number(e.dataset.baseline) })));

describe('what is different (BubbleUp)', () => {
  test('a region of the scatter around the slow traces: the span name explains them', async () => {
    await page.goto(url('/search'));
    await waitForResults(FAST.length + SLOW.length);
    // Between the slowest fast trace and the fastest slow one, up to the top of the plot.
    const boxes = async (sel) => Promise.all((await page.locator(sel).all()).map((l) => l.boundingBox()));
    const circles = await boxes('[data-testid=scatter] circle');
    assert.equal(circles.length, 10);
    const ys = circles.map((b) => b.y + b.height / 2).sort((a, b) => a - b);
    // Smaller y is higher up: the 4 slow ones are the first 4.
    const between = (ys[3] + ys[4]) / 2;
    const plot = await page.locator('[data-testid=scatter] svg').boundingBox();
    await page.mouse.move(plot.x + 70, between);
    await page.mouse.down();
    await page.mouse.move(plot.x + plot.width / 2, plot.y + 40, { steps: 4 });
    await page.mouse.move(plot.x + plot.width - 4, plot.y + 2, { steps: 4 });
    await page.mouse.up();
    await page.locator('[data-testid=diff-value]').first().waitFor();
    assert.ok(new URL(page.url()).searchParams.get('sel'), 'the selection is in the URL');
    assert.match(await page.textContent('[data-testid=diff-query]'), /\| compare\(\{ traceDuration >= \S+ && traceDuration <= \S+ \}, 10, \d+, \d+\)/);
    const attrs = await page.$$eval('[data-testid=diff-attr]', (els) => els.map((e) => e.dataset.key));
    assert.equal(attrs[0], 'name', `the span name ranks first: ${attrs}`);
    const r = await rows();
    assert.deepEqual(r[0], { key: 'name', value: 'GET /report', selection: 4, baseline: 0 });
    assert.deepEqual(
      r.find((x) => x.key === 'name' && x.value === 'GET /orders'),
      { key: 'name', value: 'GET /orders', selection: 0, baseline: 6 },
    );
    // The service is the same on both sides: no difference, ranked below.
    const svc = r.find((x) => x.key === 'resource.service.name');
    assert.deepEqual(svc, { key: 'resource.service.name', value: 'shop', selection: 4, baseline: 6 });
    assert.ok(attrs.indexOf('resource.service.name') > attrs.indexOf('status'), `status (2 of 4 failed vs none) before the service: ${attrs}`);
    assert.match(await page.locator('[data-testid=diff-shares]').first().textContent(), /100 % vs 0 %/);
    await page.locator('[data-testid=diff-panel]').scrollIntoViewIfNeeded();
    await page.screenshot({ path: path.join(screenshotDir(), 'search-diff.png'), fullPage: true });

    // The region survives a reload (it is in the URL).
    await page.reload();
    await page.locator('[data-testid=scatter-region]').waitFor();
    await page.locator('[data-testid=diff-value]').first().waitFor();
    assert.equal((await rows())[0].value, 'GET /report');

    // One click adds the value to the search as a filter.
    await page.locator('[data-testid=diff-add-filter]').first().click();
    await waitForResults(SLOW.length);
    const u = new URL(page.url());
    assert.equal(u.searchParams.get('q'), '{ name = "GET /report" }');
    assert.equal(u.searchParams.get('sel'), null, 'a new search drops the selection');
    assert.equal(await page.locator('[data-testid=diff-panel]').count(), 0);
  });

  test('an error series of a metrics chart against the other spans', async () => {
    await page.goto(url(`/search?mode=traceql&q=${encodeURIComponent('{ status = error } | rate()')}`));
    await page.locator('[data-testid=series-compare]').click();
    await page.locator('[data-testid=diff-value]').first().waitFor();
    assert.equal(new URL(page.url()).searchParams.get('cmp'), '{ status = error }');
    const r = await rows();
    // The failed spans are both GET /report; 2 of the 8 others are.
    assert.deepEqual(
      r.find((x) => x.key === 'name' && x.value === 'GET /report'),
      { key: 'name', value: 'GET /report', selection: 2, baseline: 2 },
    );
    assert.deepEqual(r.find((x) => x.key === 'statusMessage'), { key: 'statusMessage', value: 'report timed out', selection: 2, baseline: 0 });
    await page.locator('[data-testid=diff-attr][data-key=name] [data-testid=diff-value][data-value="GET /report"] [data-testid=diff-add-filter]').click();
    await page.waitForFunction(() => new URL(location.href).searchParams.get('q')?.includes('name'));
    assert.equal(new URL(page.url()).searchParams.get('q'), '{ status = error && name = "GET /report" }');
  });

  test('any attribute the answer carries is compared (span.region, as an extended compare() gives)', async () => {
    // The answer compare() gives once it compares every attribute: a span attribute whose
    // value eu-slow is in 3 of 4 selected spans and 1 of 16 others, beside the span name.
    const series = [];
    const add = (type, key, value, n) => series.push({ labels: [{ key: '__meta_type', value: { stringValue: type } }, { key, value: value === null ? {} : { stringValue: value } }], value: n });
    add('selection', 'span.region', 'eu-slow', 3);
    add('selection', 'span.region', 'us-east', 1);
    add('baseline', 'span.region', 'eu-slow', 1);
    add('baseline', 'span.region', 'us-east', 15);
    add('selection_total', 'span.region', null, 4);
    add('baseline_total', 'span.region', null, 16);
    add('selection', 'name', 'GET /orders', 4);
    add('baseline', 'name', 'GET /orders', 12);
    add('baseline', 'name', 'GET /cart', 4);
    add('selection_total', 'name', null, 4);
    add('baseline_total', 'name', null, 16);
    await page.route('**/api/metrics/query?**', (route) => route.fulfill({ status: 200, contentType: 'application/json', body: JSON.stringify({ series }) }));
    try {
      await page.goto(url(`/search?mode=traceql&q=${encodeURIComponent('{ status = error } | rate()')}&cmp=${encodeURIComponent('{ status = error }')}`));
      await page.locator('[data-testid=diff-value]').first().waitFor();
      const r = await rows();
      assert.deepEqual(r[0], { key: 'span.region', value: 'eu-slow', selection: 3, baseline: 1 });
      assert.match(await page.locator('[data-testid=diff-shares]').first().textContent(), /75 % vs 6.3 %/);
      await page.locator('[data-testid=diff-add-filter]').first().click();
      await page.waitForFunction(() => new URL(location.href).searchParams.get('q')?.includes('region'));
      assert.equal(new URL(page.url()).searchParams.get('q'), '{ status = error && span.region = "eu-slow" }');
    } finally {
      await page.unroute('**/api/metrics/query?**');
    }
  });

  test('no errors in the page', () => {
    const errors = browser.errors.filter((e) => !/Failed to load resource/.test(e.message));
    assert.deepEqual(errors.map(String), []);
  });
});
