// Defects 8 and 6 of issue 22 against the real binary: on the services page a clicked
// service's charts come into view and error shares are coloured by thresholds (under 1 %
// plain, 1–5 % amber, 5 % and more red); a serverless trace shows its function's name in
// full, cold start, init and timeout marks, and long attribute keys wrap after dots.
//
// Run: ARBOR_BIN=../target/debug/arbor node --test e2e/services-serverless.test.mjs

import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { launchBrowser, screenshotDir, startArbor, stopArbor } from './harness.mjs';
import { LAMBDA, LONG_FN, traceSet } from './trace-seed.mjs';
import { TraceBuilder, send } from './seed.mjs';

const ms = 1e6;
/** Services with known error shares, and enough others to make the table long. */
const SHARES = { rare: [200, 1], steady: [50, 1], broken: [4, 1], fine: [5, 0] };
const FILLERS = 30;

function services(nowMs) {
  const spans = [];
  let n = 0;
  const add = (service, calls, errors) => {
    for (let i = 0; i < calls; i++) {
      const id = (0xe0000000 + n++).toString(16).padStart(32, '0');
      const t = new TraceBuilder(id, BigInt(nowMs - 120_000 + n * 10) * 1_000_000n);
      t.span({ id: id.slice(16), service, name: 'GET /x', kind: 'server', start: 0, dur: 5 * ms, error: i < errors ? 'failed' : null });
      spans.push(...t.spans);
    }
  };
  for (const [svc, [calls, errors]] of Object.entries(SHARES)) add(svc, calls, errors);
  for (let i = 0; i < FILLERS; i++) add(`filler-${String(i).padStart(2, '0')}`, 1, 0);
  return spans;
}

let server;
let browser;
let page;

before(async () => {
  server = await startArbor(['--derived-wait', '1s']);
  const now = Date.now();
  await send(server.otlp_http, [...services(now), ...traceSet(now)]);
  // Until the derived views hold every call.
  const deadline = Date.now() + 30_000;
  for (;;) {
    const end = Math.floor(Date.now() / 1000) + 60;
    const body = await (await fetch(`${server.url}/api/derived/services?start=${end - 3600}&end=${end}`)).json();
    const rare = body.services?.find((s) => s.service === 'rare');
    if (rare && rare.calls === 200) break;
    if (Date.now() > deadline) throw new Error(`the services did not appear: ${JSON.stringify(body).slice(0, 500)}`);
    await new Promise((r) => setTimeout(r, 300));
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

describe('services page (defect 8)', () => {
  test('error shares: plain under 1 %, amber from 1 %, red from 5 %', async () => {
    await page.goto(url('/services'));
    await page.waitForSelector('[data-testid=services-table] tr[data-key=rare]');
    const share = (svc) =>
      page.$eval(`[data-testid=services-table] tr[data-key="${svc}"] .err-share`, (el) => ({ text: el.textContent, cls: el.className, color: getComputedStyle(el).color }));
    const rare = await share('rare');
    const steady = await share('steady');
    const broken = await share('broken');
    assert.doesNotMatch(rare.cls, /\b(warn|bad)\b/, `0.5 % is not a warning (${rare.text})`);
    assert.match(steady.cls, /\bwarn\b/, `2 % is a warning (${steady.text})`);
    assert.match(broken.cls, /\bbad\b/, `25 % is bad (${broken.text})`);
    assert.notEqual(steady.color, broken.color, 'a warning is not the colour of a failure');
  });

  test("a clicked service's charts come into view", async () => {
    await page.goto(url('/services'));
    await page.waitForSelector('[data-testid=services-table] tr[data-key=steady]');
    await page.click('[data-testid=services-table] tr[data-key=steady]');
    await page.waitForSelector('[data-testid=service-detail]');
    await page.waitForFunction(() => {
      const r = document.querySelector('[data-testid=service-detail]').getBoundingClientRect();
      return r.top >= 0 && r.top < window.innerHeight * 0.6;
    });
    await page.mouse.move(0, 0);
  });
});

describe('serverless traces (defect 6)', () => {
  test("the function's name in full, cold start, init and timeout marked", async () => {
    await page.goto(url(`/trace/${LAMBDA}`));
    await page.waitForSelector('[data-testid=waterfall-body]');
    const root = page.locator('.wf-row[data-span-id="1a00000000000001"]');
    const name = await root.locator('.wf-svc').evaluate((el) => ({ text: el.textContent, fits: el.scrollWidth <= el.clientWidth + 1 }));
    assert.equal(name.text, LONG_FN);
    assert.ok(name.fits, 'the name is not cut');
    assert.equal(await root.locator('[data-testid=mark-cold]').count(), 1);
    assert.equal(await root.locator('[data-testid=mark-timeout]').count(), 1);
    assert.equal(await root.locator('.timeout-mark').count(), 1);
    const init = page.locator('.wf-row[data-span-id="1a00000000000002"]');
    assert.equal(await init.locator('[data-testid=mark-init]').count(), 1);
    assert.equal(await init.locator('.bar.init').count(), 1);
    // A child's service is shortened in the middle: both ends stay readable.
    const child = await page.locator('.wf-row[data-span-id="1a00000000000003"] .wf-svc').textContent();
    assert.ok(child.startsWith('image-thumb') && child.endsWith('west-1'), child);
    assert.equal(await page.locator('.wf-row[data-span-id="1a00000000000003"] [data-testid=mark-cold]').count(), 0);
  });

  test('long attribute keys wrap after their dots, not mid-word', async () => {
    await page.click('.wf-row[data-span-id="1a00000000000001"]');
    const key = page.locator('[data-testid=details-attributes] th', { hasText: 'invoked_arn' });
    await key.waitFor();
    const lines = await key.evaluate((th) => {
      const tops = new Set();
      let midWord = 0;
      for (const node of th.childNodes) {
        if (node.nodeType !== Node.TEXT_NODE) continue;
        const r = document.createRange();
        r.selectNodeContents(node);
        const own = new Set([...r.getClientRects()].map((x) => Math.round(x.top)));
        if (own.size > 1) midWord++;
        for (const t of own) tops.add(t);
      }
      return { lines: tops.size, midWord };
    });
    assert.ok(lines.lines > 1, 'the key wraps');
    assert.equal(lines.midWord, 0, 'no part between dots is split');
    await page.screenshot({ path: path.join(screenshotDir(), 'trace-serverless.png') });
  });

  test('no errors in the page', () => {
    const errors = browser.errors.filter((e) => !/Failed to load resource/.test(e.message));
    assert.deepEqual(errors.map(String), []);
  });
});
