// End-to-end: tenants (X-Scope-OrgID). One trace in the default tenant, one in `acme`; the
// header's tenant control, a `tenant` URL parameter, and a bad tenant ID, in Chromium over
// the real arbor binary.
//
// Run: node --test e2e/tenant.test.mjs (ARBOR_BIN picks the binary; default target/debug/arbor)

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { launchBrowser, startArbor, stopArbor } from './harness.mjs';
import { TraceBuilder, send, str } from './seed.mjs';

const HOME = 'defa0000000000000000000000000001';
const ACME = 'ac3e0000000000000000000000000002';

/** Two spans of `service`: a request and its inner step. */
function trace(id, service, baseMs) {
  const t = new TraceBuilder(id, BigInt(baseMs) * 1_000_000n);
  const root = t.span({ id: `${id.slice(0, 4)}000000000001`, service, name: 'GET /home', kind: 'server', start: 0, dur: 30e6, attrs: [str('http.route', '/home')], unset: true });
  t.span({ id: `${id.slice(0, 4)}000000000002`, parent: root, service, name: 'render', start: 5e6, dur: 10e6 });
  return t.spans;
}

let server;
let browser;
let page;
/** Every API request of the page: its path and the X-Scope-OrgID it carried (or null). */
const requests = [];

before(async () => {
  server = await startArbor();
  const now = Date.now();
  await send(server.otlp_http, trace(HOME, 'home-shop', now - 120_000));
  await send(server.otlp_http, trace(ACME, 'acme-shop', now - 60_000), 5000, 'acme');
  browser = await launchBrowser();
  page = browser.page;
  page.setDefaultTimeout(20_000);
  page.on('request', (r) => {
    const u = new URL(r.url());
    if (u.pathname.startsWith('/api/')) requests.push({ path: u.pathname, tenant: r.headers()['x-scope-orgid'] ?? null });
  });
});

after(async () => {
  await browser?.close();
  await stopArbor(server);
});

const url = (p) => `${server.url}${p}`;
const pageErrors = () => browser.errors.filter((e) => !/Failed to load resource/.test(e.message));
const shownTenant = () => page.getAttribute('[data-testid=tenant-control]', 'data-tenant');
const kept = () => page.evaluate(() => localStorage.getItem('arbor.tenant'));

/** Waits until the results list exactly `ids`, in order. */
async function waitForResults(ids) {
  await page.waitForFunction(
    (want) => {
      if (document.querySelector('.loading')) return false;
      const rows = [...document.querySelectorAll('[data-testid=results] tbody tr[data-trace-id]')].map((r) => r.getAttribute('data-trace-id'));
      return rows.length === want.length && rows.every((id, i) => id === want[i]);
    },
    ids,
  );
}

/** Types `text` into the tenant control and presses Enter. */
async function switchTenant(text) {
  await page.fill('[data-testid=tenant-input]', text);
  await page.press('[data-testid=tenant-input]', 'Enter');
}

const isSearch = (r) => new URL(r.url()).pathname === '/api/search';

describe('tenants', () => {
  test('the API keeps the two tenants apart (what the page tests rely on)', async () => {
    const ids = async (headers) => (await (await fetch(url('/api/search?q=%7B%7D&limit=20'), { headers })).json()).traces.map((t) => t.traceID);
    assert.deepEqual(await ids({}), [HOME]);
    assert.deepEqual(await ids({ 'X-Scope-OrgID': 'acme' }), [ACME]);
  });

  test('the default tenant lists its trace; the header control switches to acme', async () => {
    await page.goto(url('/search'));
    await waitForResults([HOME]);
    assert.equal(await page.inputValue('[data-testid=tenant-input]'), '');
    assert.equal(await page.getAttribute('[data-testid=tenant-input]', 'placeholder'), 'single-tenant');
    assert.equal(await shownTenant(), 'single-tenant');
    assert.ok(requests.length > 0);
    assert.deepEqual(requests.filter((r) => r.tenant !== null), [], 'the default tenant sends no X-Scope-OrgID');

    const mark = requests.length;
    const searched = page.waitForRequest(isSearch);
    await switchTenant('acme');
    assert.equal((await (await searched).allHeaders())['x-scope-orgid'], 'acme');
    await waitForResults([ACME]);
    assert.equal(await shownTenant(), 'acme');
    assert.equal(await kept(), 'acme');
    const since = requests.slice(mark);
    assert.ok(since.some((r) => r.path === '/api/search'));
    assert.deepEqual(since.filter((r) => r.tenant !== 'acme'), [], 'every request since reads acme');

    // The trace page opens acme's trace (and only acme's).
    await page.click(`[data-testid=results] tr[data-trace-id="${ACME}"] .col-name a`);
    await page.waitForFunction((id) => location.pathname === `/trace/${id}`, ACME);
    await page.waitForSelector('[data-testid=waterfall-body]');
    assert.equal((await page.textContent('[data-testid=trace-id]')).trim(), ACME);
    assert.equal(await shownTenant(), 'acme', 'the tenant is kept across pages');
    await page.goto(url(`/trace/${HOME}`));
    await page.waitForSelector('[data-testid=trace-error]');
    assert.match(await page.textContent('[data-testid=trace-error]'), /Trace not found/);

    // The derived views read acme too.
    const derived = page.waitForRequest((r) => new URL(r.url()).pathname === '/api/derived/services');
    await page.goto(url('/services'));
    assert.equal((await (await derived).allHeaders())['x-scope-orgid'], 'acme');

    // The tenants used before are suggested; clearing the field goes back to the default one.
    await page.goto(url('/search'));
    await waitForResults([ACME]);
    assert.deepEqual(await page.$$eval('#tenant-options option', (os) => os.map((o) => o.value)), ['single-tenant']);
    await switchTenant('');
    await waitForResults([HOME]);
    assert.equal(await shownTenant(), 'single-tenant');
    assert.equal(await kept(), null);
    assert.deepEqual(await page.$$eval('#tenant-options option', (os) => os.map((o) => o.value)), ['acme']);
  });

  test('a link with ?tenant=acme opens in acme, and the tenant stays', async () => {
    assert.equal(await kept(), null);
    await page.goto(url(`/trace/${ACME}?tenant=acme&cp=0`));
    await page.waitForSelector('[data-testid=waterfall-body]');
    assert.equal((await page.textContent('[data-testid=trace-id]')).trim(), ACME);
    // The trace page rewrites its URL from its state: the tenant stays in it (still a link to acme).
    await page.waitForFunction((id) => location.pathname + location.search === `/trace/${id}?cp=0&tenant=acme`, ACME);
    assert.equal(await shownTenant(), 'acme');
    assert.equal(await page.inputValue('[data-testid=tenant-input]'), 'acme');
    assert.equal(await kept(), 'acme');
    // Without the parameter, the kept tenant: still acme.
    await page.goto(url('/search'));
    await waitForResults([ACME]);
    // The parameter wins over the kept tenant.
    await page.goto(url('/search?tenant=single-tenant'));
    await waitForResults([HOME]);
    assert.equal(await page.inputValue('[data-testid=tenant-input]'), '');
    await page.goto(url(`/trace/${HOME}?tenant=acme`));
    await page.waitForSelector('[data-testid=trace-error]');
    assert.match(await page.textContent('[data-testid=trace-error]'), /Trace not found/);
    // Switching in the control with a parameter in the URL: the parameter follows.
    await page.goto(url('/search?tenant=acme'));
    await waitForResults([ACME]);
    await switchTenant('');
    await page.waitForFunction(() => location.pathname === '/search' && !new URLSearchParams(location.search).has('tenant'));
    await waitForResults([HOME]);
    assert.equal(await kept(), null);
  });

  test('a bad tenant shows why and is never sent', async () => {
    await page.goto(url('/search'));
    await waitForResults([HOME]);
    const mark = requests.length;
    let searches = 0;
    const count = (r) => void (isSearch(r) && searches++);
    page.on('request', count);
    try {
      // Checked as it is typed; Enter switches nothing.
      await page.fill('[data-testid=tenant-input]', 'team a/b');
      await page.waitForSelector('[data-testid=tenant-error]');
      assert.match(await page.textContent('[data-testid=tenant-error]'), /space, “\/” not allowed: only A–Z a–z 0–9 ! - _ \. \* ' \( \)/);
      assert.equal(await page.getAttribute('[data-testid=tenant-input]', 'aria-invalid'), 'true');
      await page.press('[data-testid=tenant-input]', 'Enter');
      for (const [text, why] of [
        ['..', /may not be “\.” or “\.\.”/],
        ['a'.repeat(151), /at most 150 characters/],
      ]) {
        await switchTenant(text);
        await page.waitForFunction((src) => new RegExp(src).test(document.querySelector('[data-testid=tenant-error]')?.textContent ?? ''), why.source);
      }
      // Leaving the field does not switch either.
      await page.click('[data-testid=nav-search]');
      await page.waitForTimeout(300);
      assert.equal(await shownTenant(), 'single-tenant');
      assert.equal(await kept(), null);
      assert.equal(searches, 0, 'no search ran');
      await waitForResults([HOME]);
      // Escape undoes the edit.
      await page.press('[data-testid=tenant-input]', 'Escape');
      assert.equal(await page.inputValue('[data-testid=tenant-input]'), '');
      assert.equal(await page.locator('[data-testid=tenant-error]').count(), 0);

      // A bad tenant in a link: shown with the reason, not used (the kept one is).
      await page.goto(url(`/search?tenant=${encodeURIComponent('../etc')}`));
      await waitForResults([HOME]);
      assert.equal(await page.inputValue('[data-testid=tenant-input]'), '../etc');
      assert.match(await page.textContent('[data-testid=tenant-error]'), /“\/” not allowed.*the link's tenant is not used/);
      assert.equal(await shownTenant(), 'single-tenant');
      // Corrected in the control, it switches, and the link's parameter follows.
      await switchTenant('acme');
      await page.waitForFunction(() => new URLSearchParams(location.search).get('tenant') === 'acme');
      await waitForResults([ACME]);
      assert.equal(await page.locator('[data-testid=tenant-error]').count(), 0);
    } finally {
      page.off('request', count);
      await page.evaluate(() => localStorage.removeItem('arbor.tenant'));
    }
    const sent = new Set(requests.slice(mark).map((r) => r.tenant));
    assert.deepEqual([...sent].sort(), [null, 'acme'].sort(), 'only the default tenant (no header) and acme were read');
    assert.deepEqual(
      [...new Set(requests.map((r) => r.tenant))].filter((t) => t !== null && t !== 'acme'),
      [],
      'no other X-Scope-OrgID was ever sent',
    );
    assert.deepEqual(
      pageErrors().map((e) => e.message),
      [],
    );
  });
});
