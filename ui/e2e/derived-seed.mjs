// Hand-built spans for the derived-view pages, whose figures are known in advance.
//
// All within one 30 s step starting at T0 (a multiple of 15 s), except `report` (the next
// step). Three requests from outside to frontend, each calling checkout, which queries
// the database `orders-db`:
//   - OK: everything 200;
//   - FAILED: checkout fails (status ERROR, 500), so do frontend's call and its request;
//   - NOT_FOUND: checkout answers 404 with its status unset — a server's 4xx is not its
//     error; frontend's call carries no HTTP status (so it did not fail either).
// And serverless invocations: `thumbnail` (media, production, eu-west-1) twice, the first
// cold (400 ms, 128 of 256 MB) then warm (100 ms, 64 MB); `report` (analytics, staging,
// us-east-1) once, timed out.
//
// So, over a range of RANGE_S seconds:
//   services: frontend 3 calls, 1 error; checkout 3 calls (its SERVER spans), 1 error (the
//   404 is not one); operations of checkout: POST /checkout (server) 3, SELECT orders
//   (client) 3;
//   graph: user→frontend 3 (1 failed), frontend→checkout 3 (1 failed), checkout→orders-db
//   3 (database, 0 failed), user→thumbnail 2, user→report 1 (1 failed);
//   serverless: thumbnail 2 invocations, 1 cold (50 %), 0 errors, memory 37.5 %,
//   0.125 GB-s; report 1 invocation, 1 error, 1 timeout; endpoints POST /checkout 3
//   (2xx 1, 4xx 1, 5xx 1), GET /shop 3, POST /thumbnail 2, GET /report 1 (5xx).

import { TraceBuilder, bool, int, str } from './seed.mjs';

export const STEP_S = 30;
/** The range the tests ask for: T0 − 600 s … T0 + 3000 s (one hour, 120 steps of 30 s). */
export const RANGE_S = 3600;
export const BEFORE_S = 600;
/** The step T0 falls in. */
export const T0_STEP = BEFORE_S / STEP_S;

export const TRACE = {
  OK: 'd0000000000000000000000000000001',
  FAILED: 'd0000000000000000000000000000002',
  NOT_FOUND: 'd0000000000000000000000000000003',
  THUMB_COLD: 'd0000000000000000000000000000004',
  THUMB_WARM: 'd0000000000000000000000000000005',
  REPORT: 'd0000000000000000000000000000006',
};

const ms = 1e6;

/** T0: a multiple of 15 s, `agoS` seconds or a little more before `nowMs`. */
export function t0Of(nowMs, agoS = 300) {
  return Math.floor((nowMs - agoS * 1000) / 15_000) * 15_000;
}

function request(traceId, baseNs, i, outcome) {
  const t = new TraceBuilder(traceId, baseNs);
  const p = (n) => `d${i}${String(n).padStart(14, '0')}`;
  const failed = outcome === 'failed';
  const fe = t.span({
    id: p(1),
    service: 'frontend',
    name: 'GET /shop',
    kind: 'server',
    start: 0,
    dur: 100 * ms,
    error: failed ? 'checkout failed' : null,
    attrs: [str('http.request.method', 'GET'), str('http.route', '/shop'), int('http.response.status_code', failed ? 502 : 200)],
  });
  const call = t.span({
    id: p(2),
    parent: fe,
    service: 'frontend',
    name: 'POST /checkout',
    kind: 'client',
    start: 5 * ms,
    dur: 90 * ms,
    error: failed ? 'HTTP 500' : null,
    unset: outcome === 'not-found',
    attrs: [str('http.request.method', 'POST'), ...(outcome === 'not-found' ? [] : [int('http.response.status_code', failed ? 500 : 200)])],
  });
  const co = t.span({
    id: p(3),
    parent: call,
    service: 'checkout',
    name: 'POST /checkout',
    kind: 'server',
    start: 10 * ms,
    dur: 80 * ms,
    error: failed ? 'payment declined' : null,
    unset: outcome === 'not-found',
    attrs: [str('http.request.method', 'POST'), str('http.route', '/checkout'), int('http.response.status_code', failed ? 500 : outcome === 'not-found' ? 404 : 200)],
  });
  t.span({
    id: p(4),
    parent: co,
    service: 'checkout',
    name: 'SELECT orders',
    kind: 'client',
    start: 15 * ms,
    dur: 20 * ms,
    attrs: [str('db.system', 'postgresql'), str('db.name', 'orders-db'), str('db.statement', 'SELECT * FROM orders WHERE id = $1')],
  });
  return t.spans;
}

function invocation(traceId, baseNs, i, { fn, ns, env, region, route, method, cold, dur, used, timeout = false }) {
  const t = new TraceBuilder(traceId, baseNs);
  const resource = [str('faas.name', fn), str('service.namespace', ns), str('deployment.environment', env), str('cloud.region', region), str('cloud.provider', 'aws'), int('faas.max_memory', 256)];
  t.span({
    id: `e${i}${'0'.repeat(13)}1`,
    service: fn,
    name: fn,
    kind: 'server',
    start: 0,
    dur: dur * ms,
    resource,
    error: timeout ? 'Task timed out after 3.00 seconds' : null,
    attrs: [
      str('faas.invocation_id', `inv-${i}`),
      str('faas.trigger', 'http'),
      bool('faas.coldstart', cold),
      int('faas.memory_used', used),
      str('http.route', route),
      str('http.request.method', method),
      int('http.response.status_code', timeout ? 504 : 200),
      ...(timeout ? [bool('faas.error', true), bool('faas.error_timeout', true)] : []),
    ],
  });
  return t.spans;
}

/** Every span, with T0 (ms, a multiple of 15 s). */
export function derivedDataset(t0Ms) {
  const at = (s) => BigInt(t0Ms + s * 1000) * 1_000_000n;
  return [
    ...request(TRACE.OK, at(1), 1, 'ok'),
    ...request(TRACE.FAILED, at(5), 2, 'failed'),
    ...request(TRACE.NOT_FOUND, at(10), 3, 'not-found'),
    ...invocation(TRACE.THUMB_COLD, at(12), 4, { fn: 'thumbnail', ns: 'media', env: 'production', region: 'eu-west-1', route: '/thumbnail', method: 'POST', cold: true, dur: 400, used: 128 }),
    ...invocation(TRACE.THUMB_WARM, at(20), 5, { fn: 'thumbnail', ns: 'media', env: 'production', region: 'eu-west-1', route: '/thumbnail', method: 'POST', cold: false, dur: 100, used: 64 }),
    ...invocation(TRACE.REPORT, at(40), 6, { fn: 'report', ns: 'analytics', env: 'staging', region: 'us-east-1', route: '/report', method: 'GET', cold: false, dur: 3000, used: 200, timeout: true }),
  ];
}
