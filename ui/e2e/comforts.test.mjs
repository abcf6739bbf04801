// Everyday comforts and small fixes (issue 22, build item 5 and defect 9) against the real
// binary, in a browser whose time zone is Asia/Kolkata (UTC+05:30, so local and UTC differ):
// copy buttons, "filter by this value", auto-refresh, shifting and zooming out the time
// range, the time zone shown and chosen (kept in the URL), the not-found page at /nope,
// and service colours kept apart on screen (inventory, shipping and gateway hash to the same
// colour; shipping, the first by hash, keeps it).
//
// Run: ARBOR_BIN=../target/debug/arbor node --test e2e/comforts.test.mjs

import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { openArborPage, screenshotDir } from './harness.mjs';
import { TraceBuilder, send, str } from './seed.mjs';

const ms = 1e6;
const THREE = '3c010000000000000000000000000001';
const GATEWAY = '3c010000000000000000000000000002';
const LATE = '3c010000000000000000000000000003';
const ROOT = '3c00000000000001';
let startMs;

function seed(nowMs) {
  startMs = nowMs - 120_000;
  const base = BigInt(startMs) * 1_000_000n;
  const a = new TraceBuilder(THREE, base);
  const root = a.span({ id: ROOT, service: 'shipping', name: 'POST /ship', kind: 'server', start: 0, dur: 80 * ms, attrs: [str('http.route', '/ship')], resource: [str('deployment.environment', 'prod')] });
  a.span({ id: '3c00000000000002', parent: root, service: 'inventory', name: 'reserve', kind: 'client', start: 10 * ms, dur: 30 * ms });
  a.span({ id: '3c00000000000003', parent: root, service: 'gateway', name: 'notify', kind: 'client', start: 45 * ms, dur: 20 * ms });
  const b = new TraceBuilder(GATEWAY, base + 5_000_000_000n);
  b.span({ id: '3c00000000000004', service: 'gateway', name: 'GET /health', kind: 'server', start: 0, dur: 5 * ms });
  return [...a.spans, ...b.spans];
}

let arbor;
let server;
let browser;
let page;
before(async () => {
  arbor = await openArborPage({ seed, viewport: { width: 1280, height: 800 }, timezoneId: 'Asia/Kolkata' });
  ({ server, browser, page } = arbor);
  await browser.context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: server.url });
});
after(() => arbor?.close());

const url = (p) => `${server.url}${p}`;
const clipboard = () => page.evaluate(() => navigator.clipboard.readText());
async function waitForResults(n) {
  await page.waitForFunction((n) => document.querySelectorAll('[data-testid=results] tbody tr[data-trace-id]').length === n && !document.querySelector('.loading'), n);
}
/** `YYYY-MM-DD HH:MM:SS.mmm` of Unix ms shifted by `offsetMin`. */
const wall = (msAt, offsetMin) => {
  const iso = new Date(msAt + offsetMin * 60e3).toISOString();
  return `${iso.slice(0, 10)} ${iso.slice(11, 23)}`;
};

describe('everyday comforts', () => {
  test('service colours that clash by hash are kept apart on screen, stable per name', async () => {
    const colourOf = (svc) => page.locator('[data-testid=trace-services] button', { hasText: svc }).locator('.svc-dot').evaluate((el) => getComputedStyle(el).backgroundColor);
    await page.goto(url(`/trace/${THREE}`));
    await page.locator('[data-testid=trace-services]').waitFor();
    const three = { shipping: await colourOf('shipping'), inventory: await colourOf('inventory'), gateway: await colourOf('gateway') };
    assert.equal(new Set(Object.values(three)).size, 3, `three colours: ${JSON.stringify(three)}`);
    // Alone, gateway has its own (hashed) colour: the one shipping kept.
    await page.goto(url(`/trace/${GATEWAY}`));
    await page.locator('[data-testid=trace-services]').waitFor();
    assert.equal(await colourOf('gateway'), three.shipping);
  });

  test('copy buttons: the trace ID, a span ID, an attribute value', async () => {
    await page.goto(url(`/trace/${THREE}?span=${ROOT}`));
    await page.locator('[data-testid=span-details]').waitFor();
    await page.click('[data-testid=copy-trace-id]');
    assert.equal(await clipboard(), THREE);
    await page.click('[data-testid=copy-span-id]');
    assert.equal(await clipboard(), ROOT);
    await page.locator('[data-testid=details-attributes] tr[data-key="http.route"] [data-testid=copy-value]').click();
    assert.equal(await clipboard(), '/ship');
  });

  test('filter by a span attribute and by a resource attribute', async () => {
    await page.goto(url(`/trace/${THREE}?span=${ROOT}`));
    await page.locator('[data-testid=details-attributes] tr[data-key="http.route"] [data-testid=filter-value]').click();
    await waitForResults(1);
    assert.equal(new URL(page.url()).searchParams.get('q'), '{ span.http.route = "/ship" }');
    assert.equal(await page.locator('[data-testid=results] tbody tr[data-trace-id]').getAttribute('data-trace-id'), THREE);
    await page.goto(url(`/trace/${THREE}?span=${ROOT}`));
    await page.locator('[data-testid=details-resource] tr[data-key="deployment.environment"] [data-testid=filter-value]').click();
    await waitForResults(1);
    assert.equal(new URL(page.url()).searchParams.get('q'), '{ resource.deployment.environment = "prod" }');
  });

  test('times in local time or UTC, the choice kept in the URL across pages', async () => {
    await page.goto(url(`/trace/${THREE}?span=${ROOT}`));
    const start = page.locator('[data-testid=details-start]');
    await start.waitFor();
    assert.match(await start.textContent(), new RegExp(wall(startMs, 330).replace(/[.]/g, '\\.')), 'local: UTC+05:30');
    assert.equal(await page.locator('[data-testid=tz-select] option[value=local]').textContent(), 'Local UTC+05:30');
    assert.match(await page.getAttribute('[data-testid=tz-select]', 'title'), /local time \(Asia\/(Kolkata|Calcutta), UTC\+05:30\)/);
    await page.selectOption('[data-testid=tz-select]', 'utc');
    await page.waitForFunction(() => new URL(location.href).searchParams.get('tz') === 'utc');
    assert.match(await start.textContent(), new RegExp(wall(startMs, 0).replace(/[.]/g, '\\.')), 'UTC');
    assert.equal(new URL(page.url()).searchParams.get('span'), ROOT, 'the rest of the URL stays');
    await page.click('[data-testid=nav-search]');
    await waitForResults(2);
    assert.equal(new URL(page.url()).searchParams.get('tz'), 'utc', 'kept by the link to another page');
    // The scatter's time labels are UTC wall-clock minutes.
    const labels = await page.$$eval('[data-testid=scatter] text[text-anchor=middle]', (els) => els.map((e) => e.textContent));
    const utcHour = new Date().getUTCHours();
    const hours = labels.map((l) => Number(l.split(':')[0]));
    assert.ok(hours.every((h) => h === utcHour || h === (utcHour + 23) % 24), `UTC hours in ${labels} (now ${utcHour} UTC)`);
    await page.selectOption('[data-testid=tz-select]', 'local');
    await page.waitForFunction(() => !new URL(location.href).searchParams.has('tz'));
  });

  test('the time range: zoom out, shift back, shift forward to now', async () => {
    await page.goto(url('/search?from=now-1h'));
    await waitForResults(2);
    await page.click('[data-testid=time-zoom-out]');
    await page.waitForFunction(() => new URL(location.href).searchParams.get('from') === 'now-2h');
    assert.equal(new URL(page.url()).searchParams.get('to'), null);
    const before = Date.now();
    await page.click('[data-testid=time-back]');
    await page.waitForFunction(() => (new URL(location.href).searchParams.get('to') ?? '').includes('T'));
    const afterClick = Date.now();
    const p = new URL(page.url()).searchParams;
    const [from, to] = [Date.parse(p.get('from')), Date.parse(p.get('to'))];
    assert.equal(to - from, 2 * 3600e3, 'as long as before');
    assert.ok(to >= before - 2 * 3600e3 - 1000 && to <= afterClick - 2 * 3600e3 + 1000, `ends 2 h before the click (${p.get('to')})`);
    await page.waitForFunction(() => document.querySelector('[data-testid=no-results]') || document.querySelector('[data-testid=results]'));
    await page.click('[data-testid=time-forward]');
    await page.waitForFunction(() => new URL(location.href).searchParams.get('from') === 'now-2h' && !new URL(location.href).searchParams.has('to'));
    await waitForResults(2);
  });

  test('auto-refresh finds a trace sent after the page loaded', async () => {
    await page.goto(url('/search'));
    await waitForResults(2);
    await page.selectOption('[data-testid=auto-refresh]', '5');
    await page.waitForFunction(() => new URL(location.href).searchParams.get('refresh') === '5s');
    const t = new TraceBuilder(LATE, BigInt(Date.now() - 1000) * 1_000_000n);
    t.span({ id: '3c00000000000005', service: 'shipping', name: 'POST /late', kind: 'server', start: 0, dur: 3 * ms });
    await send(server.otlp_http, t.spans);
    // No reload, no click: the page searches again by itself (the bound only stops a hang).
    await page.waitForFunction((id) => document.querySelector(`[data-testid=results] tr[data-trace-id="${id}"]`), LATE, { timeout: 120_000 });
    await page.screenshot({ path: path.join(screenshotDir(), 'search-toolbar.png'), clip: { x: 0, y: 0, width: 1280, height: 260 } });
    // A new search keeps the refresh.
    await page.click('[data-testid=run-search]');
    assert.equal(new URL(page.url()).searchParams.get('refresh'), '5s');
    await page.selectOption('[data-testid=auto-refresh]', '0');
    await page.waitForFunction(() => !new URL(location.href).searchParams.has('refresh'));
  });

  test('/nope: the not-found page (404) for a browser, plain text for other clients', async () => {
    const resp = await page.goto(url('/nope'));
    assert.equal(resp.status(), 404);
    await page.locator('[data-testid=not-found]').waitFor();
    assert.match(await page.textContent('[data-testid=not-found]'), /Page not found[\s\S]*\/nope/);
    const plain = await fetch(url('/nope'));
    assert.equal(plain.status, 404);
    assert.match(await plain.text(), /^no such endpoint: \/nope/);
    const api = await fetch(url('/api/nope'), { headers: { Accept: 'text/html' } });
    assert.equal(api.status, 404);
    assert.match(await api.text(), /^no such endpoint/);
  });

  test('no errors in the page', () => {
    const errors = browser.errors.filter((e) => !/Failed to load resource/.test(e.message));
    assert.deepEqual(errors.map(String), []);
  });
});
