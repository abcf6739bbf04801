// The service map's focus and zoom (defect 7 of issue 22): one node with everything
// upstream and downstream of it; zoom buttons and panning by a drag, over e2e/derived-seed.mjs whose graph is known:
// user→frontend→checkout→orders-db, user→thumbnail, user→report.
//
// Run: ARBOR_BIN=../target/debug/arbor node --test e2e/map-focus.test.mjs

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { BEFORE_S, RANGE_S, derivedDataset, t0Of } from './derived-seed.mjs';
import { launchBrowser, startArbor, stopArbor } from './harness.mjs';
import { send } from './seed.mjs';

let server;
let browser;
let page;
let RANGE;
const iso = (ms) => new Date(ms).toISOString();

before(async () => {
  server = await startArbor(['--derived-wait', '1s']);
  const t0 = t0Of(Date.now());
  const from = t0 - BEFORE_S * 1000;
  RANGE = `from=${encodeURIComponent(iso(from))}&to=${encodeURIComponent(iso(from + RANGE_S * 1000))}`;
  await send(server.otlp_http, derivedDataset(t0));
  const deadline = Date.now() + 20_000;
  for (;;) {
    const g = await (await fetch(`${server.url}/api/derived/service-graph?start=${from / 1000}&end=${from / 1000 + RANGE_S}`)).json();
    if (g.edges.some((e) => e.server === 'orders-db' && e.requests === 3)) break;
    if (Date.now() > deadline) throw new Error(`the database edge did not appear: ${JSON.stringify(g.edges)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
  browser = await launchBrowser();
  page = browser.page;
  page.setDefaultTimeout(20_000);
});

after(async () => {
  await browser?.close();
  await stopArbor(server);
});

const nodes = () => page.$$eval('[data-testid=service-map] g.node[data-node]', (els) => els.map((e) => e.getAttribute('data-node')).sort());
const edges = () => page.$$eval('[data-testid=service-map] g.edge[data-edge]', (els) => els.map((e) => e.getAttribute('data-edge')).sort());

test('focus on a node keeps it with its up- and downstream', async () => {
  await page.goto(`${server.url}/map?${RANGE}`);
  await page.waitForSelector('[data-testid=map-page][data-state=done] g.node[data-node=checkout]');
  assert.deepEqual(await nodes(), ['checkout', 'frontend', 'orders-db', 'report', 'thumbnail', 'user']);
  await page.selectOption('[data-testid=map-focus]', 'checkout');
  await page.waitForFunction(() => /focus=checkout/.test(location.search));
  await page.locator('[data-testid=map-focused]').waitFor();
  assert.deepEqual(await nodes(), ['checkout', 'frontend', 'orders-db', 'user']);
  assert.deepEqual(await edges(), ['checkout→orders-db', 'frontend→checkout', 'user→frontend']);
  await page.selectOption('[data-testid=map-focus]', 'thumbnail');
  await page.waitForFunction(() => /focus=thumbnail/.test(location.search));
  assert.deepEqual(await nodes(), ['thumbnail', 'user']);
  await page.click('[data-testid=map-unfocus]');
  await page.waitForFunction(() => !/focus=/.test(location.search));
  assert.equal((await nodes()).length, 6);
  assert.deepEqual(browser.errors.filter((e) => !/Failed to load resource/.test(e.message)).map(String), []);
});

test('zoom buttons scale the map, a drag pans it, fit undoes the zoom', async () => {
  await page.goto(`${server.url}/map?${RANGE}`);
  await page.waitForSelector('[data-testid=map-page][data-state=done] g.node[data-node=checkout]');
  const scale = async () => Number(await page.getAttribute('[data-testid=service-map] svg.map', 'data-scale'));
  const fitted = await scale();
  await page.click('[data-testid=map-zoom-in]');
  await page.click('[data-testid=map-zoom-in]');
  assert.ok(Math.abs((await scale()) / fitted - 2.25) < 0.01, `zoomed ×2.25 (${fitted} → ${await scale()})`);
  const box = page.locator('[data-testid=service-map]');
  const wide = await box.evaluate((el) => el.scrollWidth > el.clientWidth);
  assert.ok(wide, 'the zoomed map is wider than its box');
  // A drag on the background (left of the first column) pans right-to-left.
  const b = await box.boundingBox();
  const before = await box.evaluate((el) => el.scrollLeft);
  await page.mouse.move(b.x + b.width - 20, b.y + 10);
  await page.mouse.down();
  await page.mouse.move(b.x + b.width - 220, b.y + 10, { steps: 5 });
  await page.mouse.up();
  assert.ok((await box.evaluate((el) => el.scrollLeft)) > before, 'a drag scrolled the map');
  await page.click('[data-testid=map-zoom-fit]');
  assert.equal(await scale(), fitted);
});
