// Relative times on the alerts page (defect 9 of issue 22: "firing 1 min ago" for an alert
// that started 18 s before): a rule firing for 15–40 s reads "N s ago" with N the seconds
// since the server's `since`, give or take the page's 5 s refresh.
//
// Run: ARBOR_BIN=../target/debug/arbor node --test e2e/relative-time.test.mjs

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { launchBrowser, startArbor, stopArbor } from './harness.mjs';
import { send } from './seed.mjs';
import { traceSet } from './trace-seed.mjs';

let server;
let browser;
let page;

before(async () => {
  server = await startArbor(['--alerts-interval', '1s']);
  await send(server.otlp_http, traceSet(Date.now()));
  browser = await launchBrowser();
  page = browser.page;
  page.setDefaultTimeout(30_000);
});

after(async () => {
  await browser?.close();
  await stopArbor(server);
});

const rules = async () => (await (await fetch(`${server.url}/api/alerts/rules`)).json()).rules;

test('a rule firing for some seconds reads "N s ago", N the seconds since it fired', async () => {
  const rule = { name: 'errors now', kind: 'traceql', query: '{ status = error }', measure: 'count', window: '15m', above: 0, for: '0s' };
  const res = await fetch(`${server.url}/api/alerts/rules`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(rule) });
  assert.ok(res.ok, `rule created (${res.status} ${await res.text()})`);
  let firing;
  const deadline = Date.now() + 120_000; // a bound against a hang, not a measure
  while (!(firing = (await rules()).find((r) => r.name === rule.name && r.state === 'firing'))) {
    if (Date.now() > deadline) throw new Error(`the rule did not fire: ${JSON.stringify(await rules())}`);
    await new Promise((r) => setTimeout(r, 250));
  }
  // Until it has fired 18 s ago (the case).
  await new Promise((r) => setTimeout(r, Math.max(0, firing.since + 18_000 - Date.now())));
  // The shown age must lie between the ages before the page loaded and after it was read,
  // whatever the machine's speed: seconds while under a minute had passed, minutes after.
  const before = (Date.now() - firing.since) / 1000;
  await page.goto(`${server.url}/alerts`);
  const cell = page.locator('tr', { hasText: rule.name }).locator('[data-testid=rule-since]');
  await cell.waitFor();
  const text = (await cell.textContent()).trim();
  const after = (Date.now() - firing.since) / 1000;
  const since = (await rules()).find((r) => r.name === rule.name).since;
  assert.equal(since, firing.since, 'still the same firing');
  const m = /^(\d+) (s|min) ago$/.exec(text);
  assert.ok(m, `an age in seconds or minutes: "${text}"`);
  if (m[2] === 's') {
    const shown = Number(m[1]);
    assert.ok(shown >= Math.floor(before) - 1 && shown <= Math.ceil(after) + 1, `${text}: fired ${before.toFixed(1)}–${after.toFixed(1)} s ago`);
  } else {
    assert.ok(after >= 60, `"${text}" after only ${after.toFixed(1)} s`);
  }
});
