// End-to-end: the views page over Serverless Console's traces (console-seed.mjs) on the
// real arbor binary, in Chromium: the two curated views (API, All Functions) with their
// figures, filters and traces; a view saved for the team, found again after the server
// restarts (same data directory) by another browser profile; other tenants do not see it.
//
// Run: node --test e2e/views.test.mjs (ARBOR_BIN picks the binary; default target/debug/arbor)

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { LAMBDA, WORKER, sendConsole } from './console-seed.mjs';
import { launchBrowser, startArbor, stopArbor } from './harness.mjs';

let server;
let browser;
let page;
let t0;

before(async () => {
  server = await startArbor();
  // A whole minute, two minutes ago: inside the pages' default range (the last hour).
  t0 = Math.floor((Date.now() - 120_000) / 60_000) * 60_000;
  await sendConsole(server.otlp_http, t0);
  browser = await launchBrowser();
  page = browser.page;
  page.setDefaultTimeout(20_000);
});

after(async () => {
  await browser?.close();
  await stopArbor(server);
});

/** The trace IDs the view's traces table lists, once it lists `n`. */
/** The traces the view lists once they are `expected` (sorted IDs): a filter's answer
 * replaces the previous one asynchronously, and the previous one may have had as many rows. */
async function traces(expected) {
  const want = [...expected].sort();
  await page
    .waitForFunction((want) => {
      const t = document.querySelector('[data-testid=view-traces]');
      if (!t || t.getAttribute('data-count') !== String(want.length)) return false;
      const ids = [...t.querySelectorAll('tr[data-trace-id]')].map((r) => r.getAttribute('data-trace-id')).sort();
      return JSON.stringify(ids) === JSON.stringify(want);
    }, want)
    .catch(() => {});
  return (await page.$$eval('[data-testid=view-traces] tr[data-trace-id]', (rs) => rs.map((r) => r.getAttribute('data-trace-id')))).sort();
}

async function pick(filter, value) {
  await page.selectOption(`[data-testid=view-filter-${filter}]`, value);
}

const cell = (fn, col) => page.textContent(`[data-testid=view-functions] tr[data-function="${fn}"] [data-col=${col}]`);

describe('curated views over Console-format traces', () => {
  test('the list names the two scopes', async () => {
    await page.goto(`${server.url}/views`);
    // The list arrives from /api/views after the page has loaded.
    await page
      .waitForFunction(() => document.querySelectorAll('[data-testid=curated-views] a').length >= 2)
      .catch(() => {});
    const names = await page.$$eval('[data-testid=curated-views] a', (as) => as.map((a) => a.textContent));
    assert.deepEqual(names, ['API', 'All Functions']);
  });

  test('All Functions: the functions with their figures, each filter finding its traces', async () => {
    await page.click('[data-testid=view-link-functions]');
    await page.waitForSelector('[data-testid=view-functions] tr[data-function="my-lambda"]');
    assert.equal(await cell('my-lambda', 'invocations'), '5', 'the child spans are not invocations');
    assert.equal(await cell('my-lambda', 'errors'), '3');
    assert.equal(await cell('my-lambda', 'cold'), '40%');
    assert.equal(await cell('my-worker', 'timeouts'), '1');
    assert.equal(await page.textContent('[data-testid=view-kind]'), 'curated');
    // Every span carries the scope's tags: all seven traces.
    assert.deepEqual(await traces([...LAMBDA, ...WORKER].sort()), [...LAMBDA, ...WORKER].sort());
    await pick('errors', 'true');
    assert.deepEqual(await traces([LAMBDA[2], LAMBDA[3], LAMBDA[4], WORKER[0]].sort()), [LAMBDA[2], LAMBDA[3], LAMBDA[4], WORKER[0]].sort());
    assert.match(await page.textContent('[data-testid=view-traceql]'), /\.faas\.error = "true"/);
    assert.match(page.url(), /f\.errors=true/);
    await pick('errors', '');
    await pick('coldstart', 'true');
    assert.deepEqual(await traces([LAMBDA[0], LAMBDA[1]].sort()), [LAMBDA[0], LAMBDA[1]].sort());
    await pick('coldstart', '');
    await pick('function', 'my-worker');
    assert.deepEqual(await traces([...WORKER].sort()), [...WORKER].sort());
    await page.waitForSelector('[data-testid=view-functions] tr[data-function="my-lambda"]', { state: 'detached' });
    await pick('function', '');
    await pick('duration', '1s');
    // Spans of 0.8–1.2 s (my-lambda), 3 s and 1 s (my-worker).
    assert.deepEqual(await traces([LAMBDA[2], LAMBDA[3], LAMBDA[4], ...WORKER].sort()), [LAMBDA[2], LAMBDA[3], LAMBDA[4], ...WORKER].sort());
    await pick('duration', '');
    await pick('namespace', 'jobs');
    assert.deepEqual(await traces([...WORKER].sort()), [...WORKER].sort());
    await pick('namespace', '');
    await pick('region', 'us-east1');
    await pick('environment', 'prod');
    await pick('service', 'my-app');
    assert.deepEqual(await traces([...LAMBDA].sort()), [...LAMBDA].sort());
  });

  test('API: the endpoint with its status classes; method and status filters', async () => {
    await page.goto(`${server.url}/views/api`);
    const row = '[data-testid=view-endpoints] tr[data-route="/user/create"]';
    await page.waitForSelector(row);
    const classes = await page.$$eval(`${row} .status-class`, (els) => els.map((e) => `${e.getAttribute('data-class')}:${e.textContent.split(' ').pop()}`));
    assert.ok(classes.includes('2xx:2') && classes.includes('5xx:3'), `my-app's endpoint: ${classes}`);
    assert.deepEqual(await traces([...LAMBDA, ...WORKER].sort()), [...LAMBDA, ...WORKER].sort());
    await pick('status', '500');
    assert.deepEqual(await traces([LAMBDA[2], LAMBDA[3], LAMBDA[4]].sort()), [LAMBDA[2], LAMBDA[3], LAMBDA[4]].sort());
    await pick('status', '');
    await pick('method', 'POST');
    await pick('endpoint', '/user/create');
    assert.deepEqual(await traces([...LAMBDA, ...WORKER].sort()), [...LAMBDA, ...WORKER].sort());
  });
});

describe('saved views', () => {
  test('created from a curated view, kept across a restart, opened by another profile', async () => {
    await page.goto(`${server.url}/views/functions?f.function=my-lambda&f.errors=true`);
    assert.deepEqual(await traces([LAMBDA[2], LAMBDA[3], LAMBDA[4]].sort()), [LAMBDA[2], LAMBDA[3], LAMBDA[4]].sort());
    await page.click('[data-testid=create-view]');
    await page.fill('[data-testid=view-name]', 'Lambda errors');
    await page.uncheck('[data-testid=view-chart-pick-p95]');
    await page.click('[data-testid=save-view]');
    await page.waitForURL(/\/views\/lambda-errors$/);
    assert.equal(await page.textContent('[data-testid=view-kind]'), 'team view');
    assert.deepEqual(await traces([LAMBDA[2], LAMBDA[3], LAMBDA[4]].sort()), [LAMBDA[2], LAMBDA[3], LAMBDA[4]].sort());
    // A second view of the same name is refused with the server's message.
    await page.goto(`${server.url}/views/functions`);
    await page.click('[data-testid=create-view]');
    await page.fill('[data-testid=view-name]', 'Lambda Errors');
    await page.click('[data-testid=save-view]');
    assert.match(await page.textContent('[data-testid=view-save-error]'), /409: view "lambda-errors" exists/);

    // A view of a TraceQL filter alone (the scope unticked).
    await page.goto(`${server.url}/views/functions`);
    await page.click('[data-testid=create-view]');
    await page.fill('[data-testid=view-name]', 'SQS functions');
    await page.uncheck('[data-testid=view-scoped]');
    await page.fill('[data-testid=view-query]', '{ .faas.event_type = "aws.sqs" }');
    await page.click('[data-testid=save-view]');
    await page.waitForURL(/\/views\/sqs-functions$/);
    assert.deepEqual(await traces([...WORKER].sort()), [...WORKER].sort());
    assert.equal(await page.textContent('[data-testid=view-traceql]'), '{ .faas.event_type = "aws.sqs" }');

    // The same data directory, a new process (and new ports), another browser profile.
    await stopArbor(server, { keep: true });
    server = await startArbor([], { dir: server.dir });
    const other = await launchBrowser();
    try {
      const p2 = other.page;
      p2.setDefaultTimeout(20_000);
      await p2.goto(`${server.url}/views`);
      await p2.waitForSelector('[data-testid=team-views] a');
      const team = await p2.$$eval('[data-testid=team-views] a', (as) => as.map((a) => a.textContent));
      assert.deepEqual(team, ['Lambda errors', 'SQS functions']);
      await p2.click('[data-testid=view-link-lambda-errors]');
      await p2.waitForURL(/\/views\/lambda-errors$/);
      await p2.waitForSelector('[data-testid=view-traces][data-count="3"]');
      assert.equal(await p2.inputValue('[data-testid=view-filter-function]'), 'my-lambda');
      assert.equal(await p2.inputValue('[data-testid=view-filter-errors]'), 'true');
      const charts = await p2.$$eval('[data-testid=view-charts] > *', (els) => els.map((e) => e.getAttribute('data-testid')));
      assert.deepEqual(charts, ['view-chart-invocations', 'view-chart-errors', 'view-chart-coldStarts']);
      // A deep link straight to it works too, and another tenant does not have it.
      await p2.goto(`${server.url}/views/lambda-errors`);
      await p2.waitForSelector('[data-testid=view-traces][data-count="3"]');
      const res = await fetch(`${server.url}/api/views/lambda-errors`, { headers: { 'X-Scope-OrgID': 'someone-else' } });
      assert.equal(res.status, 404);
      assert.deepEqual(other.errors, []);
    } finally {
      await other.close();
    }
    assert.deepEqual(browser.errors.filter((e) => !/409/.test(e.message)), []);
  });
});

describe('the trace explorer over Console-format traces', () => {
  /** Trace IDs the search page lists, once it lists `n`. */
  async function results(n) {
    await page.waitForFunction((k) => document.querySelectorAll('[data-testid=results] tr[data-trace-id]').length === k, n);
    return (await page.$$eval('[data-testid=results] tr[data-trace-id]', (rs) => rs.map((r) => r.getAttribute('data-trace-id')))).sort();
  }

  test('event types and a substring of event messages', async () => {
    await page.goto(`${server.url}/search`);
    await page.click('[data-testid=quick-event-uncaught]');
    await page.waitForURL(/event=uncaught/);
    assert.deepEqual(await results(1), [LAMBDA[2]]);
    await page.click('[data-testid=quick-event-caught]');
    assert.deepEqual(await results(2), [LAMBDA[2], LAMBDA[3]].sort());
    await page.click('[data-testid=quick-event-uncaught]');
    await page.click('[data-testid=quick-event-caught]');
    await page.click('[data-testid=quick-event-warning]');
    assert.deepEqual(await results(1), [WORKER[1]]);
    await page.click('[data-testid=quick-event-warning]');
    await page.fill('[data-testid=quick-event-text]', 'retrying');
    await page.press('[data-testid=quick-event-text]', 'Enter');
    await page.waitForURL(/eventText=retrying/);
    assert.deepEqual(await results(1), [LAMBDA[3]]);
    // The errors quick filter reads faas.error: "true".
    await page.goto(`${server.url}/search`);
    await page.click('[data-testid=quick-errors]');
    assert.deepEqual(await results(4), [LAMBDA[2], LAMBDA[3], LAMBDA[4], WORKER[0]].sort());
  });

  test("a function span's inspector fields", async () => {
    await page.goto(`${server.url}/trace/${LAMBDA[0]}`);
    await page.click(`.wf-row[data-span-id="${LAMBDA[0].slice(0, 14)}01"]`);
    await page.waitForSelector('[data-testid=details-function]');
    const fact = (id) => page.textContent(`[data-testid=${id}]`);
    assert.equal(await fact('fn-coldstart'), 'yes');
    assert.equal(await fact('fn-request-id'), `req-${LAMBDA[0].slice(0, 4)}`);
    assert.equal(await fact('fn-arch'), 'x86_64');
    assert.equal(await fact('fn-memory'), '128 MB of 1024 MB');
    assert.equal(await fact('fn-billed'), '150 ms');
  });
});
