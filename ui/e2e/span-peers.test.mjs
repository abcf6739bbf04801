// Each span against its peers (issue 22, build item 4), against the real binary: ten
// traces in the last minutes, each one span of `inventory` › `lookup` taking 10, 20, …,
// 100 ms, and one `inventory` › `restock` of 500 ms (another operation: not a peer).
// The 70 ms span is at p70 (7 of the 10 took at most 70 ms), 3 are slower, and the link
// finds exactly those 3 traces.
//
// Run: ARBOR_BIN=../target/debug/arbor node --test e2e/span-peers.test.mjs

import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { openArborPage, screenshotDir } from './harness.mjs';
import { TraceBuilder } from './seed.mjs';

const ms = 1e6;
const traceId = (i) => `9ee5${i.toString(16).padStart(4, '0')}`.padEnd(32, '0');
const spanId = (i) => (0x9e000000 + i).toString(16).padStart(16, '0');

function seed(nowMs) {
  const spans = [];
  for (let i = 1; i <= 11; i++) {
    const t = new TraceBuilder(traceId(i), BigInt(nowMs - 300_000 + i * 10_000) * 1_000_000n);
    t.span({ id: spanId(i), service: 'inventory', name: i <= 10 ? 'lookup' : 'restock', kind: 'server', start: 0, dur: (i <= 10 ? i * 10 : 500) * ms });
    spans.push(...t.spans);
  }
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

describe('a span against its peers', () => {
  test('the 70 ms lookup is at p70 of the ten lookups; the link finds the 3 slower', async () => {
    await page.goto(`${server.url}/trace/${traceId(7)}?span=${spanId(7)}`);
    const peers = page.locator('[data-testid=peers]');
    await peers.waitFor();
    assert.equal(await peers.getAttribute('data-total'), '10', 'the restock span is not a peer');
    assert.equal(await peers.getAttribute('data-slower'), '3');
    assert.equal(await peers.getAttribute('data-percentile'), '70');
    assert.equal(await page.textContent('[data-testid=peers-percentile]'), 'p70');
    assert.match(await peers.textContent(), /7 of the 10 spans of inventory › lookup/);
    // p50 of 10…100 ms is about 50 ms (the server's quantiles are within 2 %).
    const q = await page.textContent('[data-testid=peers-quantiles]');
    const p50 = /p50 ([\d.]+) ms/.exec(q);
    assert.ok(p50 && Math.abs(Number(p50[1]) - 50) <= 5, `p50 near 50 ms: ${q}`);
    await page.locator('[data-testid=details-peers]').scrollIntoViewIfNeeded();
    await page.screenshot({ path: path.join(screenshotDir(), 'span-peers.png') });

    await page.click('[data-testid=peers-slower]');
    await page.waitForFunction(() => document.querySelectorAll('[data-testid=results] tbody tr').length === 3 && !document.querySelector('.loading'));
    const u = new URL(page.url());
    assert.equal(u.searchParams.get('q'), '{ resource.service.name = "inventory" && name = "lookup" && duration > 70000000ns }');
    assert.equal(u.searchParams.get('from') ?? 'now-1h', 'now-1h', 'over the last hour (the default range)');
    const ids = await page.$$eval('[data-testid=results] tbody tr[data-trace-id]', (rows) => rows.map((r) => r.dataset.traceId).sort());
    assert.deepEqual(ids, [8, 9, 10].map(traceId).sort());
  });

  test('the slowest one: none slower', async () => {
    await page.goto(`${server.url}/trace/${traceId(10)}?span=${spanId(10)}`);
    const peers = page.locator('[data-testid=peers]');
    await peers.waitFor();
    assert.equal(await peers.getAttribute('data-percentile'), '100');
    assert.equal(await page.locator('[data-testid=peers-slower]').count(), 0);
    assert.match(await peers.textContent(), /None was slower/);
  });

  test('no errors in the page', () => {
    const errors = browser.errors.filter((e) => !/Failed to load resource/.test(e.message));
    assert.deepEqual(errors.map(String), []);
  });
});
