// End-to-end: the live tail page on the real arbor binary, in Chromium. Spans sent after
// the page is live appear, in the order they were acknowledged, filtered by the query;
// a burst past the page's limit is sampled, and the page says so. Arrival is asserted,
// not a time: how long each took is printed (`ui tail: …`), never compared with a floor.
//
// Run: node --test e2e/tail.test.mjs (ARBOR_BIN picks the binary; default target/debug/arbor)

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { launchBrowser, startArbor, stopArbor } from './harness.mjs';

let server;
let browser;
let page;

before(async () => {
  server = await startArbor();
  browser = await launchBrowser();
  page = browser.page;
  page.setDefaultTimeout(20_000);
});

after(async () => {
  await browser?.close();
  await stopArbor(server);
});

let next = 1;
/** One span of `service` named `name`, now. */
function span(service, name) {
  const id = (next++).toString(16).padStart(16, '0');
  const start = BigInt(Date.now()) * 1_000_000n;
  return {
    resourceSpans: [
      {
        resource: { attributes: [{ key: 'service.name', value: { stringValue: service } }] },
        scopeSpans: [{ spans: [{ traceId: id.repeat(2), spanId: id, name, kind: 2, startTimeUnixNano: String(start), endTimeUnixNano: String(start + 5_000_000n) }] }],
      },
    ],
  };
}

async function post(body) {
  const res = await fetch(`http://${server.otlp_http}/v1/traces`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  assert.equal(res.status, 200, await res.text());
}

const shownNames = () => page.$$eval('[data-testid=tail-spans] tbody tr', (rows) => rows.map((r) => r.getAttribute('data-name')));

test('spans sent after the page is live appear in order, filtered by the query', async () => {
  const q = '{ resource.service.name = "tail-a" }';
  await page.goto(`${server.url}/tail?q=${encodeURIComponent(q)}`);
  await page.waitForSelector('[data-testid=tail-page][data-state=live]');
  const took = [];
  for (const [service, name] of [['tail-a', 'first'], ['tail-b', 'other service'], ['tail-a', 'second'], ['tail-a', 'third']]) {
    const sent = Date.now();
    await post(span(service, name));
    if (service === 'tail-a') {
      await page.waitForSelector(`[data-testid=tail-spans] tr[data-name="${name}"]`);
      took.push(Date.now() - sent);
    }
  }
  assert.deepEqual(await shownNames(), ['first', 'second', 'third']);
  console.log(`ui tail: acknowledged → shown in ${took.join(', ')} ms`);
  assert.deepEqual(browser.errors, []);
});

test('a burst past the limit is sampled, and the page says so', async () => {
  const q = '{ name = "burst" }';
  await page.goto(`${server.url}/tail?q=${encodeURIComponent(q)}&limit=10`);
  await page.waitForSelector('[data-testid=tail-page][data-state=live]');
  // 500 matching spans in one request: the server matches them in one go (one second's
  // window), sends 10 and says it left out 490.
  const spans = Array.from({ length: 500 }, () => span('tail-a', 'burst').resourceSpans[0].scopeSpans[0].spans[0]);
  await post({ resourceSpans: [{ resource: { attributes: [{ key: 'service.name', value: { stringValue: 'tail-a' } }] }, scopeSpans: [{ spans }] }] });
  const notice = await page.waitForSelector('[data-testid=tail-sampled]');
  assert.match(await notice.textContent(), /Sampled: 10 of 500 matching spans shown in the last second \(at most 10\/s\)/);
  assert.equal((await shownNames()).length, 10);
  assert.deepEqual(browser.errors, []);
});
