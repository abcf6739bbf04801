// End-to-end: the UI against a server with a token file, in Chromium. The API answers 401,
// so the app asks for a token; a wrong one is refused with the server's reason; a read token
// for two tenants signs in (kept in sessionStorage only), the tenant control offers exactly
// those tenants, and the pages read the token's tenant. A token narrowed to a scope shows its
// scope beside its name, and the search shows only the spans in it.
//
// Run: node --test e2e/sign-in.test.mjs (ARBOR_BIN picks the binary; default target/debug/arbor)

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';

import { arborBinary, launchBrowser, startArbor, stopArbor } from './harness.mjs';

let server;
let browser;
let dir;
let reader;
let narrowed;

/** `arbor token`: the token (on stderr) and its file entry (stdout). */
function mint(name, tenants, grants, scope) {
  const args = ['token', '--name', name, '--tenant', tenants, '--grant', grants, ...(scope ? ['--scope', scope] : [])];
  const r = spawnSync(arborBinary(), args, { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const token = /arbor_[0-9a-f]+/.exec(r.stderr)?.[0];
  assert.ok(token, r.stderr);
  return { token, entry: r.stdout };
}

before(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'arbor-ui-signin-'));
  const r = mint('ui reader', 'team-a,team-b', 'read');
  const w = mint('writer', '*', 'write');
  const n = mint('shop reader', 'team-b', 'read', '{ resource.service.namespace = "shop" }');
  reader = r.token;
  narrowed = n.token;
  const file = path.join(dir, 'tokens.toml');
  writeFileSync(file, r.entry + w.entry + n.entry);
  server = await startArbor(['--auth-tokens-file', file]);
  // One span in team-b, so the search has something to show once signed in.
  const now = BigInt(Date.now()) * 1000000n;
  const body = {
    resourceSpans: [{
      resource: { attributes: [{ key: 'service.name', value: { stringValue: 'svc-b' } }] },
      scopeSpans: [{ spans: [{ traceId: '0af7651916cd43dd8448eb211c80319c', spanId: 'b7ad6b7169203331', name: 'GET /b', startTimeUnixNano: String(now - 2000000000n), endTimeUnixNano: String(now - 1000000000n) }] }],
    }, {
      resource: { attributes: [{ key: 'service.name', value: { stringValue: 'svc-shop' } }, { key: 'service.namespace', value: { stringValue: 'shop' } }] },
      scopeSpans: [{ spans: [{ traceId: '1af7651916cd43dd8448eb211c80319c', spanId: 'c7ad6b7169203331', name: 'GET /shop', startTimeUnixNano: String(now - 3000000000n), endTimeUnixNano: String(now - 1000000000n) }] }],
    }],
  };
  const res = await fetch(`http://${server.otlp_http}/v1/traces`, { method: 'POST', headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${w.token}`, 'X-Scope-OrgID': 'team-b' }, body: JSON.stringify(body) });
  assert.equal(res.status, 200, await res.text());
  browser = await launchBrowser();
  browser.page.setDefaultTimeout(20_000);
});

after(async () => {
  await browser?.close();
  await stopArbor(server);
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('the UI asks for a token, keeps it for the session and offers its tenants', async () => {
  const { page } = browser;
  await page.goto(`${server.url}/search`);
  const form = page.getByTestId('sign-in');
  await form.waitFor();
  await page.getByTestId('sign-in-token').fill('arbor_0000');
  await form.getByRole('button', { name: 'Sign in' }).click();
  await page.getByTestId('sign-in-error').waitFor();
  assert.match(await page.getByTestId('sign-in-error').textContent(), /not known/);
  await page.getByTestId('sign-in-token').fill(reader);
  await form.getByRole('button', { name: 'Sign in' }).click();
  await page.getByTestId('signed-in').waitFor();
  assert.match(await page.getByTestId('signed-in').textContent(), /ui reader/);
  assert.equal(await form.count(), 0, 'the form is gone');
  // Kept for the session only.
  assert.equal(await page.evaluate(() => sessionStorage.getItem('arbor.token')), reader);
  assert.equal(await page.evaluate(() => JSON.stringify(localStorage).includes('arbor_')), false);
  // The tenant control offers the token's tenants, and the current one is one of them.
  const control = page.getByTestId('tenant-control');
  const tenant = await control.getAttribute('data-tenant');
  assert.ok(['team-a', 'team-b'].includes(tenant), tenant);
  const options = await page.$$eval('#tenant-options option', (os) => os.map((o) => o.value));
  assert.deepEqual([...options, tenant].sort(), ['team-a', 'team-b']);
  // Switching to team-b reads its span, with the token.
  await page.getByTestId('tenant-input').fill('team-b');
  await page.getByTestId('tenant-input').press('Enter');
  await page.getByText('svc-b').filter({ visible: true }).first().waitFor();
  // A reload keeps the session.
  await page.reload();
  await page.getByTestId('signed-in').waitFor();
  assert.equal(await page.getByTestId('sign-in').count(), 0);
});

test('a token narrowed to a scope shows its scope and only the spans in it', async () => {
  // A tab of its own: the session's token is per tab.
  const page = await browser.context.newPage();
  try {
    await page.goto(`${server.url}/search?q=${encodeURIComponent('{ }')}`);
    const form = page.getByTestId('sign-in');
    await form.waitFor();
    await page.getByTestId('sign-in-token').fill(narrowed);
    await form.getByRole('button', { name: 'Sign in' }).click();
    await page.getByTestId('signed-in-scope').waitFor();
    assert.match(await page.getByTestId('signed-in').textContent(), /shop reader/);
    assert.match(await page.getByTestId('signed-in-scope').textContent(), /service\.namespace = "shop"/);
    // The search lists the shop's trace, never svc-b's.
    await page.getByText('svc-shop').filter({ visible: true }).first().waitFor();
    assert.equal(await page.getByText('svc-b', { exact: true }).count(), 0);
  } finally {
    await page.close();
  }
});
