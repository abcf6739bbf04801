// End-to-end: the derived-view pages (service map, services, serverless) of the real arbor
// binary, in Chromium. Hand-built spans with known figures (derived-seed.mjs), then
// workloads from `arbor gen` (and the screenshots).
//
// Run: node --test e2e/derived.test.mjs (ARBOR_BIN picks the binary; default target/debug/arbor)

import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { BEFORE_S, RANGE_S, STEP_S, T0_STEP, TRACE, derivedDataset, t0Of } from './derived-seed.mjs';
import { genSpread } from './gen.mjs';
import { launchBrowser, screenshotDir, startArbor, stopArbor } from './harness.mjs';
import { send } from './seed.mjs';

// Client halves left alone (the database call) become edges after derived.wait.
const ARGS = ['--derived-wait', '1s'];

let server;
let browser;
let page;
let t0;

const iso = (ms) => new Date(ms).toISOString();
let FROM;
let TO;
let RANGE;

before(async () => {
  server = await startArbor(ARGS);
  t0 = t0Of(Date.now());
  FROM = iso(t0 - BEFORE_S * 1000);
  TO = iso(t0 - BEFORE_S * 1000 + RANGE_S * 1000);
  RANGE = `from=${encodeURIComponent(FROM)}&to=${encodeURIComponent(TO)}`;
  await send(server.otlp_http, derivedDataset(t0));
  // Wait until the lone database calls have become edges.
  const start = (t0 - BEFORE_S * 1000) / 1000;
  const deadline = Date.now() + 20_000;
  for (;;) {
    const g = await (await fetch(`${server.url}/api/derived/service-graph?start=${start}&end=${start + RANGE_S}`)).json();
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

const url = (p) => `${server.url}${p}`;

/** Opens an app path with its query on `srv`. */
async function visit(p, srv = server) {
  await page.goto(`${srv.url}${p}`);
}

/** Waits for a page's answer (`data-state=done` on its main element). */
async function loaded(testid) {
  await page.waitForSelector(`[data-testid=${testid}][data-state=done]`);
}

/** Waits for the search page at `q` and the range, and for `n` results. */
async function expectSearch(q, from, to, n) {
  await page.waitForFunction(() => location.pathname === '/search');
  const params = new URL(page.url()).searchParams;
  assert.equal(params.get('mode'), 'traceql');
  assert.equal(params.get('q'), q);
  assert.equal(params.get('from'), from);
  assert.equal(params.get('to'), to);
  await page.waitForFunction((n) => document.querySelectorAll('[data-testid=results] tbody tr[data-trace-id]').length === n && !document.querySelector('.loading'), n);
  return page.$$eval('[data-testid=results] tbody tr[data-trace-id]', (rows) => rows.map((r) => r.getAttribute('data-trace-id')).sort());
}

const cells = (table, key) =>
  page.$eval(`[data-testid=${table}] tr[data-key="${key}"]`, (tr) => Object.fromEntries([...tr.children].map((td) => [td.className.split(' ')[0].replace(/^col-/, ''), td.textContent.trim()])));
const rowKeys = (table) => page.$$eval(`[data-testid=${table}] tbody tr[data-key]`, (rows) => rows.map((r) => r.getAttribute('data-key')));
const pageErrors = () => browser.errors.filter((e) => !/Failed to load resource/.test(e.message));

describe('navigation', () => {
  test('the header links to the three pages next to Search (and Views, Live tail, Alerts)', async () => {
    await page.goto(url('/search'));
    await page.waitForSelector('[data-testid=nav-map]');
    assert.deepEqual(await page.$$eval('.topbar nav a', (as) => as.map((a) => a.textContent)), ['Search', 'Service map', 'Services', 'Serverless', 'Views', 'Live tail', 'Alerts']);
    for (const [nav, path, testid] of [
      ['nav-map', '/map', 'map-page'],
      ['nav-services', '/services', 'services-page'],
      ['nav-serverless', '/serverless', 'serverless-page'],
    ]) {
      await page.click(`[data-testid=${nav}]`);
      await page.waitForFunction((p) => location.pathname === p, path);
      await page.waitForSelector(`[data-testid=${testid}]`);
      assert.equal(await page.getAttribute(`[data-testid=${nav}]`, 'aria-current'), 'page');
    }
    await page.click('[data-testid=nav-search]');
    await page.waitForSelector('[data-testid=search-form]');
  });

  test('the pages load from their own URLs (a shared link, a reload)', async () => {
    for (const [p, testid] of [
      [`/map?${RANGE}`, 'map-page'],
      [`/services?service=checkout&${RANGE}`, 'service-detail'],
      [`/serverless?fn=thumbnail&${RANGE}`, 'function-detail'],
    ]) {
      const res = await page.goto(url(p));
      assert.equal(res.status(), 200, `${p} answers the app`);
      await page.waitForSelector(`[data-testid=${testid}]`);
      await page.reload();
      await page.waitForSelector(`[data-testid=${testid}]`);
    }
  });
});

describe('service map', () => {
  test('nodes by type, edges with rate, error share and p95, red when failing', async () => {
    await visit(`/map?${RANGE}`);
    await loaded('map-page');
    assert.match(await page.textContent('[data-testid=map-summary]'), /^6 nodes, 5 edges/);
    const nodes = await page.$$eval('[data-testid=service-map] g.node', (gs) => gs.map((g) => `${g.getAttribute('data-node')}:${g.getAttribute('data-type')}`).sort());
    assert.deepEqual(nodes, ['checkout:service', 'frontend:service', 'orders-db:database', 'report:service', 'thumbnail:service', 'user:user']);
    const edges = await page.$$eval('[data-testid=service-map] g.edge', (gs) => gs.map((g) => g.getAttribute('data-edge')).sort());
    assert.deepEqual(edges, ['checkout→orders-db', 'frontend→checkout', 'user→frontend', 'user→report', 'user→thumbnail']);
    assert.equal(await page.locator('[data-edge-label]').count(), 5, 'every edge labelled');
    assert.equal(await page.locator('[data-testid=map-hidden-labels]').count(), 0);
    // frontend → checkout: 3 calls in the hour, 1 failed (the 404 did not), p95 of 80 ms
    // spans from Tempo's buckets: 64 ms + 0.95 × 64 ms.
    const label = page.locator('[data-edge-label="frontend→checkout"]');
    assert.equal(await label.locator('.edge-rate').textContent(), '3/h');
    assert.equal(await label.locator('.edge-err').textContent(), '33.3%');
    assert.equal(await label.locator('.edge-p95').textContent(), ' · p95 125 ms');
    assert.equal(await page.locator('[data-edge-label="checkout→orders-db"] .edge-err').textContent(), '0%');
    // Red when calls fail, strong red past 5 %; the database edge is not.
    assert.match(await page.getAttribute('g.edge[data-edge="frontend→checkout"]', 'class'), /\bbad\b/);
    assert.doesNotMatch(await page.getAttribute('g.edge[data-edge="checkout→orders-db"]', 'class'), /\b(bad|warn)\b/);
    assert.match(await page.getAttribute('g.node[data-node=checkout]', 'class'), /\bbad\b/);
    assert.doesNotMatch(await page.getAttribute('g.node[data-node=thumbnail]', 'class'), /\b(bad|warn)\b/);
    assert.equal(await page.textContent('g.node[data-node=checkout] .node-figures'), '3/h · 33.3%');
    assert.equal(await page.textContent('g.node[data-node=user] .node-figures'), '6/h out');
    // Sized by rate: checkout (3/h) is drawn larger than report (1/h).
    const r = (id) => page.$eval(`g.node[data-node="${id}"] circle.body`, (c) => Number(c.getAttribute('r')));
    assert.ok((await r('checkout')) > (await r('report')));
    // The edges table has every figure.
    assert.deepEqual(await cells('edges-table', 'frontend→checkout'), {
      client: 'frontend',
      server: 'checkout',
      type: 'service',
      requests: '3',
      rate: '3/h',
      errors: '33.3%',
      p50: '96 ms',
      p95: '125 ms',
      p99: '127 ms',
      clientP95: '125 ms',
    });
    assert.equal((await cells('edges-table', 'checkout→orders-db')).type, 'database');
    assert.equal((await cells('edges-table', 'user→report')).errors, '100%');
  });

  test('a click on a node or an edge searches its spans over the range', async () => {
    await visit(`/map?${RANGE}`);
    await loaded('map-page');
    await page.click('g.node[data-node=checkout] .shape');
    assert.deepEqual(await expectSearch('{ resource.service.name = "checkout" }', FROM, TO, 3), [TRACE.OK, TRACE.FAILED, TRACE.NOT_FOUND].sort());
    await page.goBack();
    await loaded('map-page');
    await page.click('[data-edge-label="frontend→checkout"] .edge-rate');
    assert.deepEqual(
      await expectSearch('{ resource.service.name = "frontend" && (kind = client || kind = producer) } > { resource.service.name = "checkout" && (kind = server || kind = consumer) }', FROM, TO, 3),
      [TRACE.OK, TRACE.FAILED, TRACE.NOT_FOUND].sort(),
    );
    await page.goBack();
    await loaded('map-page');
    // The database, an uninstrumented peer: the client spans that call it.
    await page.click('g.node[data-node="orders-db"] .shape');
    await expectSearch('{ kind = client && (.db.name = "orders-db" || .db.namespace = "orders-db" || .db.system = "orders-db") }', FROM, TO, 3);
    await page.goBack();
    await loaded('map-page');
    // A row of the edges table does what its edge does: the calls from outside to report.
    await page.click('[data-testid=edges-table] tr[data-key="user→report"] td.col-requests');
    assert.deepEqual(await expectSearch('{ resource.service.name = "report" && kind = server && nestedSetParent = -1 }', FROM, TO, 1), [TRACE.REPORT]);
  });

  test('recompute from spans, the sort and the filters live in the URL', async () => {
    await visit(`/map?${RANGE}`);
    await loaded('map-page');
    await page.check('[data-testid=source-spans]');
    await page.waitForFunction(() => new URLSearchParams(location.search).get('source') === 'spans');
    await page.locator('[data-testid=map-summary]').getByText('from the stored spans').waitFor();
    await loaded('map-page');
    assert.equal(await page.locator('[data-testid=service-map] g.edge').count(), 5);
    assert.equal((await cells('edges-table', 'frontend→checkout')).errors, '33.3%');
    await page.click('[data-testid=edges-table] th[data-col=client]');
    await page.waitForFunction(() => new URLSearchParams(location.search).get('sort') === 'client');
    assert.deepEqual(await rowKeys('edges-table'), ['checkout→orders-db', 'frontend→checkout', 'user→frontend', 'user→report', 'user→thumbnail']);
    await page.uncheck('[data-testid=source-spans]');
    await page.waitForFunction(() => !new URLSearchParams(location.search).has('source'));
    await page.locator('[data-testid=map-summary]').getByText('from the kept series').waitFor();
    // A region keeps the edges with a side there.
    await page.selectOption('[data-testid=filter-region]', 'us-east-1');
    await page.waitForFunction(() => new URLSearchParams(location.search).get('region') === 'us-east-1');
    await page.waitForFunction(() => document.querySelectorAll('[data-testid=service-map] g.edge').length === 1);
    assert.deepEqual(await page.$$eval('[data-testid=service-map] g.edge', (gs) => gs.map((g) => g.getAttribute('data-edge'))), ['user→report']);
    await page.selectOption('[data-testid=filter-region]', '');
    await page.waitForFunction(() => document.querySelectorAll('[data-testid=service-map] g.edge').length === 5);
  });
});

describe('services', () => {
  test('rate, error share and quantiles per service, sortable, with sparklines', async () => {
    await visit(`/services?${RANGE}`);
    await loaded('services-page');
    // A service's figures are its SERVER spans': checkout's 404 is not an error.
    const co = await cells('services-table', 'checkout');
    assert.deepEqual([co.service, co.calls, co.rate, co.errors, co.p50, co.p95, co.p99], ['checkout', '3', '3/h', '33.3%', '96 ms', '125 ms', '127 ms']);
    assert.equal((await cells('services-table', 'thumbnail')).errors, '0%');
    assert.equal((await cells('services-table', 'report')).errors, '100%');
    // The sparklines hold the series: 3 calls in T0's step, nothing elsewhere.
    const points = (await page.getAttribute('[data-testid=services-table] tr[data-key=checkout] .col-spark-calls svg', 'data-points')).split(',');
    assert.equal(points.length, RANGE_S / STEP_S);
    assert.equal(points[T0_STEP], '3');
    assert.equal(points.filter((p) => p !== '0').length, 1);
    // Default order: by rate, then name; a header sorts, again reverses.
    assert.deepEqual(await rowKeys('services-table'), ['checkout', 'frontend', 'thumbnail', 'report']);
    await page.click('[data-testid=services-table] th[data-col=service]');
    await page.waitForFunction(() => new URLSearchParams(location.search).get('sort') === 'service');
    assert.deepEqual(await rowKeys('services-table'), ['checkout', 'frontend', 'report', 'thumbnail']);
    await page.click('[data-testid=services-table] th[data-col=errors]');
    await page.waitForFunction(() => new URLSearchParams(location.search).get('sort') === '-errors');
    assert.deepEqual(await rowKeys('services-table'), ['report', 'checkout', 'frontend', 'thumbnail']);
    await page.click('[data-testid=services-table] th[data-col=errors]');
    assert.deepEqual(await rowKeys('services-table'), ['thumbnail', 'checkout', 'frontend', 'report']);
  });

  test("a service's operations and charts; a chart's step searches that window", async () => {
    await visit(`/services?${RANGE}`);
    await loaded('services-page');
    await page.click('[data-testid=services-table] tr[data-key=checkout] [data-testid=select-service]');
    await page.waitForFunction(() => new URLSearchParams(location.search).get('service') === 'checkout');
    await page.waitForSelector('[data-testid=operations-table] tr[data-key]');
    assert.deepEqual(await rowKeys('operations-table'), ['SPAN_KIND_CLIENT SELECT orders', 'SPAN_KIND_SERVER POST /checkout']);
    const server = await cells('operations-table', 'SPAN_KIND_SERVER POST /checkout');
    assert.deepEqual([server.op, server.kind, server.calls, server.rate, server.errors], ['POST /checkout', 'server', '3', '3/h', '33.3%']);
    const client = await cells('operations-table', 'SPAN_KIND_CLIENT SELECT orders');
    assert.deepEqual([client.op, client.kind, client.calls, client.errors, client.p95], ['SELECT orders', 'client', '3', '0%', '31.2 ms']);
    // The charts: calls and errors per step, one bar each in T0's step.
    const value = (chart, i) => page.getAttribute(`[data-testid=${chart}] rect.hit[data-step="${i}"]`, 'data-value');
    assert.equal(await value('chart-calls', T0_STEP), '3');
    assert.equal(await value('chart-errors', T0_STEP), '1');
    assert.equal(await value('chart-calls', T0_STEP + 1), '0');
    assert.equal(await page.locator('[data-testid=chart-calls] rect.bar-step').count(), 1);
    const stepFrom = iso(t0);
    const stepTo = iso(t0 + STEP_S * 1000);
    await page.click(`[data-testid=chart-calls] rect.hit[data-step="${T0_STEP}"]`);
    assert.deepEqual(await expectSearch('{ resource.service.name = "checkout" && (kind = server || kind = consumer) }', stepFrom, stepTo, 3), [TRACE.OK, TRACE.FAILED, TRACE.NOT_FOUND].sort());
    await page.goBack();
    await page.waitForSelector('[data-testid=chart-errors]');
    await page.click(`[data-testid=chart-errors] rect.hit[data-step="${T0_STEP}"]`);
    assert.deepEqual(await expectSearch('{ resource.service.name = "checkout" && (kind = server || kind = consumer) && status = error }', stepFrom, stepTo, 1), [TRACE.FAILED]);
    await page.goBack();
    // One operation's charts.
    await page.click('[data-testid=operations-table] tr[data-key="SPAN_KIND_CLIENT SELECT orders"] [data-testid=select-op]');
    await page.waitForFunction(() => new URLSearchParams(location.search).get('op') === 'SELECT orders');
    assert.match(await page.textContent('[data-testid=detail-op]'), /SELECT orders/);
    assert.equal(await value('chart-errors', T0_STEP), '0');
    await page.click(`[data-testid=chart-calls] rect.hit[data-step="${T0_STEP}"]`);
    await expectSearch('{ resource.service.name = "checkout" && name = "SELECT orders" && kind = client }', stepFrom, stepTo, 3);
    await page.goBack();
    await page.click('[data-testid=clear-op]');
    await page.waitForFunction(() => !new URLSearchParams(location.search).has('op'));
    assert.equal(await page.locator('[data-testid=detail-op]').count(), 0);
  });
});

describe('serverless', () => {
  test('functions: invocations, errors, timeouts, cold starts, memory, cost', async () => {
    await visit(`/serverless?${RANGE}`);
    await loaded('serverless-page');
    assert.deepEqual(await rowKeys('functions-table'), ['thumbnail', 'report']);
    const thumb = await cells('functions-table', 'thumbnail');
    assert.match(thumb.function, /^thumbnailmedia · production · eu-west-1$/);
    assert.deepEqual([thumb.invocations, thumb.errors, thumb.timeouts, thumb.coldStarts, thumb.coldStartRate, thumb.memory, thumb.cost], ['2', '0', '0', '1', '50%', '37.5%', '$0.0000021']);
    const report = await cells('functions-table', 'report');
    assert.deepEqual([report.invocations, report.errors, report.timeouts, report.coldStarts, report.coldStartRate, report.memory], ['1', '1', '1', '0', '0%', '78.1%']);
    // Endpoints: method, route, errors by status class (a server's 404 is not an error).
    assert.deepEqual(await rowKeys('endpoints-table'), ['checkout POST /checkout', 'frontend GET /shop', 'thumbnail POST /thumbnail', 'report GET /report']);
    const co = await cells('endpoints-table', 'checkout POST /checkout');
    assert.deepEqual([co.method, co.route, co.requests, co.rate, co.errors], ['POST', '/checkout', '3', '3/h', '33.3%']);
    assert.deepEqual(
      await page.$$eval('[data-testid=endpoints-table] tr[data-key="checkout POST /checkout"] .status-class', (els) => els.map((e) => `${e.getAttribute('data-class')}=${e.textContent.replace(/^\S+\s*/, '')}`)),
      ['2xx=1', '4xx=1', '5xx=1'],
    );
  });

  test('namespace, environment and region pickers filter the rows', async () => {
    await visit(`/serverless?${RANGE}`);
    await loaded('serverless-page');
    assert.deepEqual(await page.$$eval('[data-testid=filter-region] option', (os) => os.map((o) => o.value)), ['', 'eu-west-1', 'us-east-1']);
    assert.deepEqual(await page.$$eval('[data-testid=filter-namespace] option', (os) => os.map((o) => o.value)), ['', 'analytics', 'media']);
    await page.selectOption('[data-testid=filter-region]', 'us-east-1');
    await page.waitForFunction(() => new URLSearchParams(location.search).get('region') === 'us-east-1');
    await loaded('serverless-page');
    await page.waitForFunction(() => document.querySelectorAll('[data-testid=functions-table] tr[data-key]').length === 1);
    assert.deepEqual(await rowKeys('functions-table'), ['report']);
    assert.deepEqual(await rowKeys('endpoints-table'), ['report GET /report']);
    await page.selectOption('[data-testid=filter-region]', '');
    await page.selectOption('[data-testid=filter-environment]', 'production');
    await page.waitForFunction(() => document.querySelectorAll('[data-testid=functions-table] tr[data-key]').length === 1 && new URLSearchParams(location.search).get('environment') === 'production');
    assert.deepEqual(await rowKeys('functions-table'), ['thumbnail']);
    // The function's search carries the filter, by the key the data has.
    await page.click('[data-testid=functions-table] tr[data-key=thumbnail] [data-testid=function-traces]');
    await expectSearch('{ .faas.name = "thumbnail" && .deployment.environment = "production" }', FROM, TO, 2);
    // The same view on the services page.
    await visit(`/services?environment=staging&${RANGE}`);
    await loaded('services-page');
    await page.waitForFunction(() => document.querySelectorAll('[data-testid=services-table] tr[data-key]').length === 1);
    assert.deepEqual(await rowKeys('services-table'), ['report']);
  });

  test("a function's charts; a step searches its invocations of that window", async () => {
    await visit(`/serverless?${RANGE}`);
    await loaded('serverless-page');
    await page.click('[data-testid=functions-table] tr[data-key=thumbnail] [data-testid=select-function]');
    await page.waitForFunction(() => new URLSearchParams(location.search).get('fn') === 'thumbnail');
    await page.waitForSelector('[data-testid=function-detail]');
    const value = (chart, i) => page.getAttribute(`[data-testid=${chart}] rect.hit[data-step="${i}"]`, 'data-value');
    assert.equal(await value('chart-invocations', T0_STEP), '2');
    assert.equal(await value('chart-coldstarts', T0_STEP), '1');
    assert.equal(await value('chart-errors', T0_STEP), '0');
    assert.ok(Number(await value('chart-p95', T0_STEP)) > 0.1);
    assert.equal(await value('chart-p95', T0_STEP + 1), '', 'no p95 where nothing ran');
    await page.click(`[data-testid=chart-coldstarts] rect.hit[data-step="${T0_STEP}"]`);
    assert.deepEqual(await expectSearch('{ .faas.name = "thumbnail" && (.faas.coldstart = true || .faas.coldstart = "true") }', iso(t0), iso(t0 + STEP_S * 1000), 1), [TRACE.THUMB_COLD]);
    await page.goBack();
    await page.waitForSelector('[data-testid=function-detail]');
    await page.click(`[data-testid=chart-invocations] rect.hit[data-step="${T0_STEP}"]`);
    assert.deepEqual(await expectSearch('{ .faas.name = "thumbnail" }', iso(t0), iso(t0 + STEP_S * 1000), 2), [TRACE.THUMB_COLD, TRACE.THUMB_WARM].sort());
    // An endpoint's row searches its requests.
    await page.goBack();
    await loaded('serverless-page');
    await page.click('[data-testid=endpoints-table] tr[data-key="frontend GET /shop"] td.col-requests');
    await expectSearch('{ resource.service.name = "frontend" && kind = server && .http.request.method = "GET" && .http.route = "/shop" }', FROM, TO, 3);
  });
});

describe('errors', () => {
  test("an API error is shown with the server's message", async () => {
    await visit('/services?from=now-500d');
    await page.locator('[data-testid=view-error]').waitFor();
    assert.match(await page.textContent('[data-testid=view-error]'), /The services could not be loaded.*400: the range is longer than 400 days/s);
    const off = await startArbor(['--derived-views', 'false']);
    try {
      await visit('/map', off);
      await page.locator('[data-testid=view-error]').waitFor();
      assert.match(await page.textContent('[data-testid=view-error]'), /503: the derived views are off \(derived\.enabled = false\)/);
    } finally {
      await stopArbor(off);
    }
  });
});

describe('generated workloads', () => {
  /** A viewport tall enough for the whole page (the page scrolls inside the app, not the document). */
  async function fitPage() {
    const h = await page.evaluate(() => document.querySelector('main.page').scrollHeight + document.querySelector('.topbar').offsetHeight);
    await page.setViewportSize({ width: 1440, height: Math.min(Math.max(900, h), 1500) });
    await page.waitForTimeout(100);
  }

  /**
   * Waits until the service graph stops changing: halves of pairs left alone become edges
   * after derived.wait (1 s) at the next tick (every second).
   */
  async function settle(srv) {
    await new Promise((r) => setTimeout(r, 2500));
    let last = '';
    for (let i = 0; i < 30; i++) {
      const g = await (await fetch(`${srv.url}/api/derived/service-graph`)).json();
      const now = JSON.stringify([g.nodes.map((n) => n.id), g.edges.map((e) => [e.client, e.server, e.requests])]);
      if (now === last) return g;
      last = now;
      await new Promise((r) => setTimeout(r, 1000));
    }
    throw new Error('the service graph did not settle');
  }

  test('arbor gen --profile microservices: the map and services; screenshots', async () => {
    const ms = await startArbor(ARGS);
    try {
      const spans = await genSpread(ms.otlp_http, { profile: 'microservices', traces: 400, seed: 3, spreadS: 3300 });
      assert.ok(spans > 1000, `${spans} spans`);
      const graph = await settle(ms);
      const dir = screenshotDir();
      await page.setViewportSize({ width: 1440, height: 900 });
      await page.goto(`${ms.url}/search`);
      await page.evaluate(() => localStorage.setItem('arbor.theme', 'light'));
      await page.reload();
      await visit('/map', ms);
      await loaded('map-page');
      assert.equal(await page.locator('[data-testid=service-map] g.node').count(), graph.nodes.length);
      assert.equal(await page.locator('[data-testid=service-map] g.edge').count(), graph.edges.length);
      assert.ok(graph.nodes.some((n) => n.type === 'database'), 'the workload calls databases');
      assert.equal(await page.locator('[data-testid=service-map] g.node[data-type=database]').count(), graph.nodes.filter((n) => n.type === 'database').length);
      await page.mouse.move(0, 0);
      await page.screenshot({ path: path.join(dir, 'service-map.png') });
      const services = await (await fetch(`${ms.url}/api/derived/services`)).json();
      await visit('/services', ms);
      await loaded('services-page');
      assert.equal(await page.locator('[data-testid=services-table] tr[data-key]').count(), services.services.length);
      // The entry service (its operations are the API's), else the busiest.
      const shown = services.services.find((s) => s.service === 'frontend')?.service ?? [...services.services].sort((a, b) => b.rate - a.rate)[0].service;
      await page.click(`[data-testid=services-table] tr[data-key="${shown}"] [data-testid=select-service]`);
      await page.waitForSelector('[data-testid=operations-table] tr[data-key]');
      await page.waitForSelector('[data-testid=chart-calls] rect.bar-step');
      await page.mouse.move(0, 0);
      await fitPage();
      await page.screenshot({ path: path.join(dir, 'services.png') });
    } finally {
      await page.setViewportSize({ width: 1280, height: 720 });
      await stopArbor(ms);
    }
  });

  test('arbor gen --profile serverless: functions and endpoints; screenshot', async () => {
    const sl = await startArbor(ARGS);
    try {
      const spans = await genSpread(sl.otlp_http, { profile: 'serverless', traces: 600, seed: 5, spreadS: 3300 });
      assert.ok(spans > 1000, `${spans} spans`);
      await settle(sl);
      const answer = await (await fetch(`${sl.url}/api/derived/serverless`)).json();
      assert.ok(answer.functions.length > 0 && answer.endpoints.length > 0);
      await page.setViewportSize({ width: 1440, height: 900 });
      await page.goto(`${sl.url}/search`);
      await page.evaluate(() => localStorage.setItem('arbor.theme', 'light'));
      await page.reload();
      await visit('/serverless', sl);
      await loaded('serverless-page');
      assert.equal(await page.locator('[data-testid=functions-table] tr[data-key]').count(), answer.functions.length);
      assert.equal(await page.locator('[data-testid=endpoints-table] tr[data-key]').count(), answer.endpoints.length);
      const busiest = [...answer.functions].sort((a, b) => b.invocations - a.invocations || (a.function < b.function ? -1 : 1))[0].function;
      await page.click(`[data-testid=functions-table] tr[data-key="${busiest}"] [data-testid=select-function]`);
      await page.waitForSelector('[data-testid=chart-invocations] rect.bar-step');
      await page.mouse.move(0, 0);
      await fitPage();
      await page.screenshot({ path: path.join(screenshotDir(), 'serverless.png') });
    } finally {
      await page.setViewportSize({ width: 1280, height: 720 });
      await stopArbor(sl);
    }
  });

  test('no uncaught errors in the page', () => {
    assert.deepEqual(pageErrors().map((e) => e.message), []);
  });
});
