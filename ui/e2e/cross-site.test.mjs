// End-to-end: a web page on another origin, in Chromium, tries what the attacker did
// against a server on loopback with no token file — create an alert rule, delete one, send a
// test notification, flush — by every means a page has (a no-cors fetch, a text/plain form,
// a CORS fetch, an <img>), and a page on a name resolved to 127.0.0.1 (DNS rebinding) tries
// to read. All are refused; the rule set and the blocks are unchanged.
//
// Run: node --test e2e/cross-site.test.mjs (ARBOR_BIN picks the binary; default target/debug/arbor)

import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { after, before, test } from 'node:test';

import { launchBrowser, startArbor, stopArbor } from './harness.mjs';

const RULE = { name: 'kept', kind: 'traceql', query: '{ }', window: '1m', above: 1 };
const EVIL = { name: 'injected', kind: 'traceql', query: '{ }', window: '1m', above: 0 };

let server;
let browser;
let evil;

async function rules() {
  const res = await fetch(`${server.url}/api/alerts/rules`);
  assert.equal(res.status, 200);
  return (await res.json()).rules.map((r) => r.name).sort();
}

async function metric(name) {
  const text = await (await fetch(`${server.url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  assert.ok(line, `${name} on /metrics`);
  return Number(line.split(' ')[1]);
}

/** The attacker's page: it fires every request once loaded, then says it is done. */
function attackPage(target) {
  const rule = JSON.stringify(JSON.stringify(EVIL));
  return `<!doctype html><html><body>
<iframe name="sink" style="display:none"></iframe>
<form id="f" method="POST" action="${target}/api/alerts/rules" enctype="text/plain" target="sink">
<input name='${JSON.stringify(EVIL).slice(0, -1)}, "x": "' value='"}'>
</form>
<script>
const T = ${JSON.stringify(target)};
const results = {};
async function attempt(name, fn) {
  try { const r = await fn(); results[name] = r && r.type ? r.type + ':' + r.status : 'sent'; }
  catch (e) { results[name] = 'blocked: ' + e.message; }
}
(async () => {
  await attempt('create-no-cors', () => fetch(T + '/api/alerts/rules', { method: 'POST', mode: 'no-cors', headers: { 'Content-Type': 'text/plain' }, body: ${rule} }));
  await attempt('create-cors-json', () => fetch(T + '/api/alerts/rules', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: ${rule} }));
  await attempt('delete', () => fetch(T + '/api/alerts/rules/kept', { method: 'DELETE' }));
  await attempt('delete-no-cors-post', () => fetch(T + '/api/alerts/rules/kept', { method: 'POST', mode: 'no-cors' }));
  await attempt('test-notification', () => fetch(T + '/api/alerts/rules/kept/test', { method: 'POST', mode: 'no-cors' }));
  await attempt('flush', () => fetch(T + '/flush', { method: 'POST', mode: 'no-cors' }));
  await attempt('read-rules', () => fetch(T + '/api/alerts/rules').then((r) => r.json()));
  await new Promise((r) => { const img = new Image(); img.onload = img.onerror = r; img.src = T + '/flush'; });
  document.getElementById('f').submit();
  await new Promise((r) => setTimeout(r, 500));
  window.done = results;
})();
</script></body></html>`;
}

before(async () => {
  server = await startArbor();
  const res = await fetch(`${server.url}/api/alerts/rules`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(RULE) });
  assert.equal(res.status, 201, await res.text());
  // One span in the head, so a flush would cut a block.
  const span = {
    resourceSpans: [{
      resource: { attributes: [{ key: 'service.name', value: { stringValue: 'svc' } }] },
      scopeSpans: [{ spans: [{ traceId: '0af7651916cd43dd8448eb211c80319c', spanId: 'b7ad6b7169203331', name: 'op', startTimeUnixNano: String(BigInt(Date.now() - 1000) * 1000000n), endTimeUnixNano: String(BigInt(Date.now()) * 1000000n) }] }],
    }],
  };
  const sent = await fetch(`http://${server.otlp_http}/v1/traces`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(span) });
  assert.equal(sent.status, 200, await sent.text());
  evil = createServer((req, res) => res.writeHead(200, { 'Content-Type': 'text/html' }).end(attackPage(server.url)));
  await new Promise((r) => evil.listen(0, '127.0.0.1', r));
  browser = await launchBrowser({ args: ['--host-resolver-rules=MAP rebind.test 127.0.0.1'] });
  browser.page.setDefaultTimeout(20_000);
});

after(async () => {
  await browser?.close();
  await new Promise((r) => (evil ? evil.close(r) : r()));
  await stopArbor(server);
});

test('a page on another origin cannot create, delete, test or flush', async () => {
  const { page } = browser;
  const blocksBefore = await metric('arbor_blocks');
  await page.goto(`http://127.0.0.1:${evil.address().port}/`);
  const results = await page.waitForFunction(() => window.done).then((h) => h.jsonValue());
  // What the browser let the page send reached the server and was refused; the rest the
  // browser stopped (a CORS preflight the server never grants).
  assert.match(results['create-cors-json'], /^blocked/, JSON.stringify(results));
  assert.match(results['delete'], /^blocked/, JSON.stringify(results));
  assert.match(results['read-rules'], /^blocked/, JSON.stringify(results));
  assert.deepEqual(await rules(), ['kept']);
  assert.equal(await metric('arbor_blocks'), blocksBefore, 'no flush cut a block');
  const log = server.log();
  for (const needle of ['method=POST path=/api/alerts/rules tenant=- status=403', 'method=POST path=/flush tenant=- status=403', 'method=GET path=/flush tenant=- status=405']) {
    assert.ok(log.includes(needle), `${needle} in the audit log:\n${log}`);
  }
  const refused = log.split('\n').filter((l) => l.includes('arbor::audit') && l.includes('status=403')).length;
  assert.ok(refused >= 4, `${refused} refusals in the audit log`);
  // The server's own UI, same origin, still works.
  await page.goto(`${server.url}/alerts`);
  await page.getByText('kept').first().waitFor();
});

test('a page on a name rebound to 127.0.0.1 cannot read or change anything', async () => {
  const { page } = browser;
  const port = new URL(server.url).port;
  const res = await page.goto(`http://rebind.test:${port}/api/alerts/rules`);
  assert.equal(res.status(), 403);
  assert.match(await res.text(), /allowed_hosts/);
  const status = await page.evaluate(async () => (await fetch('/flush', { method: 'POST' })).status);
  assert.equal(status, 403);
  assert.deepEqual(await rules(), ['kept']);
});
