// The trace page's fixes of issue 22 against the real binary, over e2e/trace-seed.mjs:
// zooming keeps bars off the names (defect 1); find-in-trace finds errors and filters by
// status, kind, service, duration and attribute, with "only matches" and a clickable
// error count (defect 3); stable service colours, a missing parent marked, a bad trace ID
// and an unknown page answered (defect 9).
//
// Run: ARBOR_BIN=../target/debug/arbor node --test e2e/trace-views.test.mjs

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { launchBrowser, startArbor, stopArbor } from './harness.mjs';
import { ORPHAN, SHOP, SHOP_ERRORS, SHOP_SPANS, traceSet } from './trace-seed.mjs';
import { send } from './seed.mjs';

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
const rowCount = async () => Number(await page.getAttribute('[data-testid=waterfall-body]', 'aria-rowcount'));
async function openTrace(id, query = '') {
  await page.goto(url(`/trace/${id}${query}`));
  await page.waitForSelector('[data-testid=waterfall-body]');
}
const findCount = (text) => page.locator('[data-testid=find-count]').getByText(text, { exact: true }).waitFor();
async function find(text, count) {
  await page.fill('[data-testid=find-input]', text);
  await findCount(count);
}

describe('waterfall zoom (defect 1)', () => {
  test('bars and durations stay right of the name column, spans outside the window draw nothing', async () => {
    await openTrace(SHOP);
    assert.equal(await rowCount(), SHOP_SPANS);
    const box = await page.locator('[data-testid=minimap]').boundingBox();
    // The second half of the trace: 100–196 ms of 0–200 ms.
    await page.mouse.move(box.x + box.width * 0.5, box.y + box.height / 2);
    await page.mouse.down();
    await page.mouse.move(box.x + box.width * 0.98, box.y + box.height / 2, { steps: 5 });
    await page.mouse.up();
    await page.locator('[data-testid=reset-zoom]').waitFor();
    const rows = await page.$$eval('.wf-row', (rows) =>
      rows.map((r) => {
        const nameRight = r.querySelector('.wf-name').getBoundingClientRect().right;
        const visible = (sel) =>
          [...r.querySelectorAll(sel)]
            .map((el) => el.getBoundingClientRect())
            .filter((b) => b.width > 0)
            .map((b) => ({ left: b.left, right: b.right }));
        return { id: r.getAttribute('data-span-id'), nameRight, bars: visible('.bar'), labels: visible('.bar-label'), segs: visible('.cp-seg') };
      }),
    );
    assert.equal(rows.length, SHOP_SPANS);
    for (const r of rows) {
      for (const b of [...r.bars, ...r.labels, ...r.segs]) assert.ok(b.left >= r.nameRight - 0.5, `span ${r.id}: drawn at x=${b.left}, left of the names' edge ${r.nameRight}`);
    }
    // render (0–20 ms) lies wholly before the window: neither bar nor duration.
    const render = rows.find((r) => r.id === '5000000000000002');
    assert.deepEqual(render.bars, [], 'no bar for a span outside the window');
    assert.deepEqual(render.labels, [], 'no duration at the edge for a span outside the window');
    // GET /cart (30–150 ms) starts before the window: its bar begins at the window's start.
    const cart = rows.find((r) => r.id === '5000000000000003');
    assert.equal(cart.bars.length, 1);
    assert.ok(Math.abs(cart.bars[0].left - cart.nameRight) < 3, `GET /cart's bar starts at the window's edge (${cart.bars[0].left} vs ${cart.nameRight})`);
    await page.click('[data-testid=reset-zoom]');
    assert.equal(await page.locator('.wf-row[data-span-id="5000000000000002"] .bar').count(), 1);
  });
});

describe('find in trace and filters (defect 3)', () => {
  test('"error" and "status=error" find the failed spans', async () => {
    await openTrace(SHOP);
    await find('error', `1 of ${SHOP_ERRORS}`);
    const matched = await page.$$eval('.wf-row.match', (rows) => rows.map((r) => r.getAttribute('data-span-id')));
    assert.deepEqual(matched, ['5000000000000005', '5000000000000006']);
    await find('status=error', `1 of ${SHOP_ERRORS}`);
    await find('status=ok', '1 of 3');
    // A status message is text too.
    await find('declined', '1 of 1');
  });

  test('by kind, service, duration and attribute, combined', async () => {
    await openTrace(SHOP);
    await find('kind=client', '1 of 2');
    await find('service=cart', '1 of 2');
    await find('duration>60ms', '1 of 3');
    await find('duration<=20ms', '1 of 1');
    await find('db.system=postgresql', '1 of 1');
    await find('service=payments kind=client', '1 of 1');
    await find('service=payments peer.service=bank', '1 of 1');
    await find('kind=consumer', 'no match');
  });

  test('the filter pickers write their terms into the find box', async () => {
    await openTrace(SHOP);
    await page.selectOption('[data-testid=filter-status]', 'error');
    assert.equal(await page.inputValue('[data-testid=find-input]'), 'status=error');
    await findCount(`1 of ${SHOP_ERRORS}`);
    await page.selectOption('[data-testid=filter-kind]', 'client');
    assert.equal(await page.inputValue('[data-testid=find-input]'), 'status=error kind=client');
    await findCount('1 of 1');
    await page.selectOption('[data-testid=filter-status]', '');
    await page.selectOption('[data-testid=filter-service]', 'cart');
    assert.equal(await page.inputValue('[data-testid=find-input]'), 'kind=client service=cart');
    await findCount('1 of 1');
    await page.selectOption('[data-testid=filter-kind]', '');
    await page.selectOption('[data-testid=filter-duration]', '50ms');
    assert.equal(await page.inputValue('[data-testid=find-input]'), 'service=cart duration>=50ms');
    await findCount('1 of 1');
  });

  test('"only matches" shows the matching spans and those above them; the error count finds the errors', async () => {
    await openTrace(SHOP);
    await page.click('[data-testid=find-errors]');
    assert.equal(await page.inputValue('[data-testid=find-input]'), 'status=error');
    await findCount(`1 of ${SHOP_ERRORS}`);
    assert.equal(await rowCount(), SHOP_SPANS);
    await page.check('[data-testid=only-matches]');
    await page.waitForFunction(() => document.querySelector('[data-testid=waterfall-body]').getAttribute('aria-rowcount') === '3');
    const shown = await page.$$eval('.wf-row', (rows) => rows.map((r) => r.getAttribute('data-span-id')));
    assert.deepEqual(shown, ['5000000000000001', '5000000000000005', '5000000000000006']);
    // The state is in the URL: a reload gives the same rows.
    await page.waitForFunction(() => /only=1/.test(location.search));
    await page.reload();
    await page.waitForFunction(() => document.querySelector('[data-testid=waterfall-body]')?.getAttribute('aria-rowcount') === '3');
    await page.uncheck('[data-testid=only-matches]');
    await page.waitForFunction((n) => document.querySelector('[data-testid=waterfall-body]').getAttribute('aria-rowcount') === String(n), SHOP_SPANS);
  });
});

describe('smaller defects (defect 9)', () => {
  test("a service's colour depends on its name only, not on the order services were seen", async () => {
    const colourOf = (svc) => page.locator('[data-testid=trace-services] button', { hasText: svc }).locator('.svc-dot').evaluate((el) => getComputedStyle(el).backgroundColor);
    await openTrace(SHOP);
    const inShop = await colourOf('payments');
    await openTrace(ORPHAN); // a fresh page: gateway seen first, then payments
    assert.equal(await colourOf('payments'), inShop);
    assert.notEqual(await colourOf('gateway'), inShop);
  });

  test('a span whose parent is missing is marked, with a warning', async () => {
    await openTrace(ORPHAN);
    const warning = page.locator('[data-testid=orphan-warning]');
    await warning.waitFor();
    assert.match(await warning.textContent(), /deadbeefdeadbeef/);
    assert.equal(await page.locator('[data-testid=orphan-mark]').count(), 1);
    assert.equal(await page.locator('.wf-row[data-span-id="0f00000000000002"] [data-testid=orphan-mark]').count(), 1);
    await openTrace(SHOP);
    assert.equal(await page.locator('[data-testid=orphan-warning]').count(), 0);
  });

  test('an invalid ID in "Go to trace ID" says why', async () => {
    await openTrace(SHOP);
    const before = page.url();
    await page.fill('[aria-label="Trace ID"]', 'not-a-trace-id');
    await page.press('[aria-label="Trace ID"]', 'Enter');
    await page.locator('[data-testid=lookup-error]').waitFor();
    assert.match(await page.textContent('[data-testid=lookup-error]'), /not a trace ID/);
    assert.equal(page.url(), before);
    // A valid one goes there.
    await page.fill('[aria-label="Trace ID"]', ORPHAN.toUpperCase());
    assert.equal(await page.locator('[data-testid=lookup-error]').count(), 0);
    await page.press('[aria-label="Trace ID"]', 'Enter');
    await page.waitForFunction((id) => location.pathname === `/trace/${id}`, ORPHAN);
  });

  test('an unknown page of the UI is a not-found page', async () => {
    await page.goto(url('/search/nope'));
    await page.locator('[data-testid=not-found]').waitFor();
    assert.match(await page.textContent('[data-testid=not-found]'), /\/search\/nope/);
    await page.goto(url(`/trace/${SHOP}/nope`));
    await page.locator('[data-testid=not-found]').waitFor();
  });

  test('no errors in the page', () => {
    const errors = browser.errors.filter((e) => !/Failed to load resource/.test(e.message));
    assert.deepEqual(errors.map(String), []);
  });
});
