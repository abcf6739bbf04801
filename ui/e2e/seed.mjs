// Seeded test data for the UI's end-to-end tests, sent over OTLP/HTTP JSON.
//
// Everything but the wall-clock base is fixed by the seed: IDs, structure, names,
// attributes, errors. The traces:
//   - CHECKOUT: a 15-span request through five services, with a payment error whose
//     exception event carries a stack trace, a span link to LINKED, events, a db call;
//   - LINKED: a small queue consumer trace (the link's target);
//   - FAAS_*: serverless invocations (faas.* resource and span attributes, cold starts,
//     regions, namespaces, environments, http.path), some failing;
//   - BACKGROUND_COUNT more API traces of varied services and durations (for the scatter);
//   - BIG: one trace of BIG_SPANS spans (the performance test).

export const BIG_SPANS = 50_000;
export const BACKGROUND_COUNT = 24;

/** mulberry32: a small seeded PRNG. */
export function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const hex = (rand, bytes) => {
  let s = '';
  for (let i = 0; i < bytes; i++) s += Math.floor(rand() * 256).toString(16).padStart(2, '0');
  return s;
};

export const CHECKOUT = 'c0ffee00000000000000000000000001';
export const LINKED = 'c0ffee00000000000000000000000002';
export const BIG = 'b16b16b16b16b16b16b16b16b16b16b1';

export const str = (key, v) => ({ key, value: { stringValue: v } });
export const int = (key, v) => ({ key, value: { intValue: String(v) } });
export const bool = (key, v) => ({ key, value: { boolValue: v } });
export const dbl = (key, v) => ({ key, value: { doubleValue: v } });

const KIND = { internal: 1, server: 2, client: 3, producer: 4, consumer: 5 };

/** Builds spans; `toRequests` groups them by resource and scope into OTLP/JSON. */
export class TraceBuilder {
  constructor(traceId, baseNs) {
    this.traceId = traceId;
    this.baseNs = baseNs;
    this.spans = [];
  }
  /** A span; its status is OK, ERROR with `error` as message, or unset (`unset`, and internal spans). */
  span({ id, parent = '', service, name, kind = 'internal', start, dur, attrs = [], events = [], links = [], error = null, resource = [], unset = false }) {
    const s = {
      service,
      resource,
      span: {
        traceId: this.traceId,
        spanId: id,
        parentSpanId: parent,
        name,
        kind: KIND[kind],
        startTimeUnixNano: (this.baseNs + BigInt(Math.round(start))).toString(),
        endTimeUnixNano: (this.baseNs + BigInt(Math.round(start + dur))).toString(),
        attributes: attrs,
        events: events.map((e) => ({ timeUnixNano: (this.baseNs + BigInt(Math.round(e.at))).toString(), name: e.name, attributes: e.attrs ?? [] })),
        links: links.map((l) => ({ traceId: l.traceId, spanId: l.spanId, attributes: l.attrs ?? [] })),
        status: error === null ? { code: 1 } : { code: 2, message: error },
      },
    };
    if (error === null && (kind === 'internal' || unset)) s.span.status = {};
    this.spans.push(s);
    return id;
  }
}

/** OTLP/JSON requests of at most `perRequest` spans each. */
export function toRequests(spans, perRequest = 5000) {
  const out = [];
  for (let i = 0; i < spans.length; i += perRequest) {
    const byResource = new Map();
    for (const s of spans.slice(i, i + perRequest)) {
      const key = s.service + JSON.stringify(s.resource);
      if (!byResource.has(key)) byResource.set(key, { service: s.service, resource: s.resource, spans: [] });
      byResource.get(key).spans.push(s.span);
    }
    out.push({
      resourceSpans: [...byResource.values()].map((r) => ({
        resource: { attributes: [str('service.name', r.service), str('telemetry.sdk.language', 'nodejs'), ...r.resource] },
        scopeSpans: [{ scope: { name: 'arbor.ui.e2e', version: '1.0.0' }, spans: r.spans }],
      })),
    });
  }
  return out;
}

const ms = 1e6;

const STACK = [
  'PaymentDeclined: card declined by issuer (code 51)',
  '    at ChargeService.charge (/srv/payments/src/charge.ts:88:13)',
  '    at async PaymentsController.create (/srv/payments/src/controller.ts:41:22)',
  '    at async Router.handle (/srv/payments/node_modules/router/index.js:284:9)',
].join('\n');

function checkout(baseNs) {
  const t = new TraceBuilder(CHECKOUT, baseNs);
  const gw = t.span({ id: 'a000000000000001', service: 'api-gateway', name: 'POST /api/checkout', kind: 'server', start: 0, dur: 420 * ms, error: 'upstream returned 502', attrs: [str('http.request.method', 'POST'), str('http.route', '/api/checkout'), int('http.response.status_code', 502), str('user_agent.original', 'Mozilla/5.0')] });
  const auth = t.span({ id: 'a000000000000002', parent: gw, service: 'api-gateway', name: 'authenticate', start: 2 * ms, dur: 18 * ms, attrs: [str('enduser.id', 'user-4711')] });
  t.span({ id: 'a000000000000003', parent: auth, service: 'auth', name: 'GET /token/verify', kind: 'client', start: 4 * ms, dur: 12 * ms, attrs: [str('http.request.method', 'GET'), int('http.response.status_code', 200)] });
  const co = t.span({ id: 'a000000000000004', parent: gw, service: 'checkout', name: 'POST /checkout', kind: 'server', start: 24 * ms, dur: 390 * ms, error: 'payment failed', attrs: [str('http.request.method', 'POST'), str('http.route', '/checkout'), int('http.response.status_code', 502), str('cart.id', 'cart-93')], events: [{ at: 30 * ms, name: 'cart loaded', attrs: [int('cart.items', 3)] }] });
  t.span({ id: 'a000000000000005', parent: co, service: 'checkout', name: 'SELECT cart_items', kind: 'client', start: 28 * ms, dur: 22 * ms, attrs: [str('db.system', 'postgresql'), str('db.statement', 'SELECT * FROM cart_items WHERE cart_id = $1')] });
  // In parallel with inventory and done before it: not on the critical path.
  t.span({ id: 'a00000000000000f', parent: co, service: 'recommendations', name: 'fetch recommendations', kind: 'client', start: 56 * ms, dur: 44 * ms, attrs: [str('http.request.method', 'GET'), int('http.response.status_code', 200)] });
  const inv = t.span({ id: 'a000000000000006', parent: co, service: 'inventory', name: 'reserve stock', kind: 'server', start: 55 * ms, dur: 80 * ms, attrs: [int('items', 3)] });
  t.span({ id: 'a000000000000007', parent: inv, service: 'inventory', name: 'UPDATE stock', kind: 'client', start: 60 * ms, dur: 65 * ms, attrs: [str('db.system', 'postgresql'), str('db.statement', 'UPDATE stock SET reserved = reserved + 1 WHERE sku = ANY($1)')] });
  const pay = t.span({ id: 'a000000000000008', parent: co, service: 'payments', name: 'POST /payments', kind: 'server', start: 140 * ms, dur: 260 * ms, error: 'card declined by issuer (code 51)', attrs: [str('http.request.method', 'POST'), str('http.route', '/payments'), int('http.response.status_code', 502), dbl('payment.amount', 129.9), str('payment.currency', 'EUR')], events: [{ at: 395 * ms, name: 'exception', attrs: [str('exception.type', 'PaymentDeclined'), str('exception.message', 'card declined by issuer (code 51)'), str('exception.stacktrace', STACK)] }], links: [{ traceId: LINKED, spanId: 'b000000000000001', attrs: [str('link.reason', 'fraud check queued')] }] });
  t.span({ id: 'a000000000000009', parent: pay, service: 'payments', name: 'fraud score', start: 145 * ms, dur: 40 * ms, attrs: [dbl('fraud.score', 0.12)] });
  const issuer = t.span({ id: 'a00000000000000a', parent: pay, service: 'payments', name: 'POST issuer /authorize', kind: 'client', start: 190 * ms, dur: 200 * ms, error: 'HTTP 402', attrs: [str('http.request.method', 'POST'), str('server.address', 'issuer.example'), int('http.response.status_code', 402)] });
  t.span({ id: 'a00000000000000b', parent: issuer, service: 'payments', name: 'retry backoff', start: 250 * ms, dur: 30 * ms });
  t.span({ id: 'a00000000000000c', parent: pay, service: 'payments', name: 'publish payment.failed', kind: 'producer', start: 396 * ms, dur: 3 * ms, attrs: [str('messaging.system', 'kafka'), str('messaging.destination.name', 'payments')] });
  t.span({ id: 'a00000000000000d', parent: co, service: 'checkout', name: 'render error page', start: 402 * ms, dur: 8 * ms });
  t.span({ id: 'a00000000000000e', parent: gw, service: 'api-gateway', name: 'write access log', start: 415 * ms, dur: 2 * ms });
  return t.spans;
}

function linked(baseNs) {
  const t = new TraceBuilder(LINKED, baseNs);
  const c = t.span({ id: 'b000000000000001', service: 'fraud-worker', name: 'process fraud check', kind: 'consumer', start: 0, dur: 90 * ms, attrs: [str('messaging.system', 'kafka'), str('messaging.destination.name', 'fraud-checks')] });
  t.span({ id: 'b000000000000002', parent: c, service: 'fraud-worker', name: 'score model', start: 5 * ms, dur: 70 * ms });
  return t.spans;
}

const FAAS = [
  { fn: 'resize-image', ns: 'media', env: 'production', region: 'eu-west-1', path: '/images/resize' },
  { fn: 'send-email', ns: 'notifications', env: 'production', region: 'us-east-1', path: '/email/send' },
  { fn: 'nightly-report', ns: 'analytics', env: 'staging', region: 'eu-central-1', path: '/reports/nightly' },
];

/** Serverless invocations: faas.* on the resource (name) and span (coldstart, trigger). */
function faas(baseNs, rand, i) {
  const f = FAAS[i % FAAS.length];
  const id = `faa5${hex(rand, 14)}`;
  const t = new TraceBuilder(id, baseNs);
  const cold = i % 4 === 0;
  const failed = i % 5 === 2;
  const resource = [str('faas.name', f.fn), str('service.namespace', f.ns), str('deployment.environment', f.env), str('cloud.region', f.region), str('cloud.provider', 'aws'), int('faas.max_memory', 512)];
  const dur = (cold ? 900 : 120) * ms + rand() * 200 * ms;
  const root = t.span({
    id: hex(rand, 8),
    service: f.fn,
    name: f.fn,
    kind: 'server',
    start: 0,
    dur,
    resource,
    error: failed ? 'Task timed out after 3.00 seconds' : null,
    attrs: [bool('faas.coldstart', cold), str('faas.trigger', 'http'), str('http.path', f.path), str('http.method', 'POST'), int('http.status_code', failed ? 500 : 200), str('faas.invocation_id', hex(rand, 8))].concat(failed ? [bool('faas.error', true), bool('faas.error_timeout', true)] : []),
    events: failed ? [{ at: dur - ms, name: 'exception', attrs: [str('exception.type', 'TimeoutError'), str('exception.message', 'Task timed out after 3.00 seconds'), str('exception.stacktrace', `TimeoutError: Task timed out after 3.00 seconds\n    at Runtime.handler (/var/task/index.js:17:11)`)] }] : [],
  });
  if (cold) t.span({ id: hex(rand, 8), parent: root, service: f.fn, name: 'cold start: init', start: 0, dur: 700 * ms, resource });
  t.span({ id: hex(rand, 8), parent: root, service: f.fn, name: 'S3 GetObject', kind: 'client', start: (cold ? 720 : 10) * ms, dur: 60 * ms, resource, attrs: [str('rpc.system', 'aws-api'), str('rpc.service', 'S3')] });
  return t.spans;
}

const SERVICES = ['frontend', 'catalog', 'search', 'recommendations', 'cart', 'shipping', 'accounts', 'ledger'];
const ROUTES = ['/products', '/products/{id}', '/search', '/cart', '/orders', '/orders/{id}', '/account', '/shipping/quote'];

function background(baseNs, rand, i) {
  const id = `bac0${hex(rand, 14)}`;
  const t = new TraceBuilder(id, baseNs);
  const svc = SERVICES[i % SERVICES.length];
  const route = ROUTES[Math.floor(rand() * ROUTES.length)];
  const dur = Math.exp(Math.log(3e6) + rand() * Math.log(2000)); // 3 ms .. 6 s, log-uniform
  const failed = rand() < 0.2;
  const method = route.startsWith('/orders') && rand() < 0.5 ? 'POST' : 'GET';
  const root = t.span({ id: hex(rand, 8), service: svc, name: `${method} ${route}`, kind: 'server', start: 0, dur, error: failed ? 'internal error' : null, attrs: [str('http.request.method', method), str('http.route', route), int('http.response.status_code', failed ? 500 : 200)] });
  const children = 1 + Math.floor(rand() * 6);
  for (let c = 0; c < children; c++) {
    const s = dur * rand() * 0.5;
    t.span({ id: hex(rand, 8), parent: root, service: SERVICES[(i + c + 1) % SERVICES.length], name: `call ${c}`, kind: 'client', start: s, dur: (dur - s) * (0.2 + rand() * 0.7), error: failed && c === 0 ? 'downstream failed' : null });
  }
  return t.spans;
}

/** A trace of `n` spans: a random recursive tree (depth about ln n), 8 services, some errors. */
export function bigTrace(baseNs, n = BIG_SPANS, seed = 50_000) {
  const rand = rng(seed);
  const t = new TraceBuilder(BIG, baseNs);
  const starts = new Float64Array(n);
  const durs = new Float64Array(n);
  const ids = new Array(n);
  starts[0] = 0;
  durs[0] = 30_000 * ms;
  ids[0] = 'f000000000000000';
  t.span({ id: ids[0], service: 'batch-api', name: 'POST /batch/import', kind: 'server', start: 0, dur: durs[0], attrs: [str('http.request.method', 'POST'), str('http.route', '/batch/import'), int('batch.size', n)] });
  for (let i = 1; i < n; i++) {
    const p = Math.floor(rand() * i);
    const off = rand() * durs[p] * 0.85;
    const dur = Math.max((durs[p] - off) * (0.05 + rand() * 0.6), 1000);
    starts[i] = starts[p] + off;
    durs[i] = dur;
    ids[i] = `f${i.toString(16).padStart(15, '0')}`;
    const svc = SERVICES[i % SERVICES.length];
    const err = i % 997 === 0;
    t.span({
      id: ids[i],
      parent: ids[p],
      service: svc,
      name: `${['load', 'parse', 'validate', 'store', 'index', 'notify'][i % 6]} record ${i % 1000}`,
      kind: i % 3 === 0 ? 'client' : 'internal',
      start: starts[i],
      dur,
      error: err ? 'record rejected' : null,
      attrs: [int('record.index', i), str('record.kind', ['order', 'invoice', 'refund'][i % 3]), str('shard', `s${i % 16}`)],
      events: i % 50 === 0 ? [{ at: starts[i] + dur / 2, name: 'checkpoint', attrs: [int('offset', i)] }] : [],
    });
  }
  return t.spans;
}

/** Every trace of the data set, with the wall-clock base `nowMs` (ms). */
export function dataset(nowMs) {
  const rand = rng(20251121);
  const at = (minutesAgo) => BigInt(Math.round(nowMs - minutesAgo * 60_000)) * 1_000_000n;
  const spans = [];
  spans.push(...checkout(at(2)));
  spans.push(...linked(at(1.9)));
  for (let i = 0; i < 12; i++) spans.push(...faas(at(3 + i * 1.5), rand, i));
  for (let i = 0; i < BACKGROUND_COUNT; i++) spans.push(...background(at(4 + i * 1.7), rand, i));
  return spans;
}

/**
 * Posts spans to the OTLP/HTTP JSON receiver, as `tenant` (X-Scope-OrgID) when given; fails
 * on anything but a full accept.
 */
export async function send(otlpHttp, spans, perRequest = 5000, tenant = null) {
  for (const body of toRequests(spans, perRequest)) {
    const res = await fetch(`http://${otlpHttp}/v1/traces`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(tenant === null ? {} : { 'X-Scope-OrgID': tenant }) },
      body: JSON.stringify(body),
    });
    const text = await res.text();
    if (res.status !== 200) throw new Error(`OTLP export answered ${res.status}: ${text}`);
    const parsed = JSON.parse(text);
    if (parsed.partialSuccess?.rejectedSpans && Number(parsed.partialSuccess.rejectedSpans) > 0) {
      throw new Error(`OTLP export rejected spans: ${text}`);
    }
  }
}
