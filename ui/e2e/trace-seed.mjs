// Small hand-built traces whose figures are known, for the trace page's tests (zoom, find
// and filters, the flame graph and statistics, the comparison of two traces, a missing
// parent, serverless markers).
//
// SHOP (6 spans, 2 errors), times in ms from the trace's start:
//   frontend  GET /shop       server    0–200
//   frontend  render          internal  0–20    (wholly before the second half)
//   cart      GET /cart       server   30–150   (starts before the second half)
//   cart      SELECT cart     client   40–80    db.system=postgresql
//   payments  POST /pay       server  120–190   error "card declined", payment.method=card
//   payments  call bank       client  130–180   error "bank timeout", peer.service=bank
// Self times: GET /shop 20, render 20, GET /cart 80, SELECT cart 40, POST /pay 20,
// call bank 50 — per service: frontend 40 (2 spans), cart 120 (2), payments 70 (2, 2 errors).
//
// SHOP_SLOW: SHOP with SELECT cart taking 100 ms (40–140) and one span added under
// POST /pay: payments "fraud check" internal 182–188.
//
// ORPHAN: a root and a span whose parent (deadbeefdeadbeef) was never received.
//
// LAMBDA: a cold-started function invocation with an init span and a timeout.

import { TraceBuilder, bool, int, str } from './seed.mjs';

export const SHOP = '5b0b0000000000000000000000000001';
export const SHOP_SLOW = '5b0b0000000000000000000000000002';
export const ORPHAN = '0f0a0000000000000000000000000001';
export const LAMBDA = '1a3bda00000000000000000000000001';
export const SHOP_SPANS = 6;
export const SHOP_ERRORS = 2;

const ms = 1e6;

function shop(traceId, baseNs, slow) {
  const t = new TraceBuilder(traceId, baseNs);
  const root = t.span({ id: '5000000000000001', service: 'frontend', name: 'GET /shop', kind: 'server', start: 0, dur: 200 * ms, attrs: [str('http.request.method', 'GET'), str('http.route', '/shop')] });
  t.span({ id: '5000000000000002', parent: root, service: 'frontend', name: 'render', start: 0, dur: 20 * ms });
  const cart = t.span({ id: '5000000000000003', parent: root, service: 'cart', name: 'GET /cart', kind: 'server', start: 30 * ms, dur: 120 * ms, attrs: [str('cart.id', 'cart-7')] });
  t.span({ id: '5000000000000004', parent: cart, service: 'cart', name: 'SELECT cart', kind: 'client', start: 40 * ms, dur: (slow ? 100 : 40) * ms, attrs: [str('db.system', 'postgresql')] });
  const pay = t.span({ id: '5000000000000005', parent: root, service: 'payments', name: 'POST /pay', kind: 'server', start: 120 * ms, dur: 70 * ms, error: 'card declined', attrs: [str('payment.method', 'card')] });
  t.span({ id: '5000000000000006', parent: pay, service: 'payments', name: 'call bank', kind: 'client', start: 130 * ms, dur: 50 * ms, error: 'bank timeout', attrs: [str('peer.service', 'bank')] });
  if (slow) t.span({ id: '5000000000000007', parent: pay, service: 'payments', name: 'fraud check', start: 182 * ms, dur: 6 * ms });
  return t.spans;
}

function orphan(baseNs) {
  const t = new TraceBuilder(ORPHAN, baseNs);
  t.span({ id: '0f00000000000001', service: 'gateway', name: 'GET /orders', kind: 'server', start: 0, dur: 50 * ms });
  t.span({ id: '0f00000000000002', parent: 'deadbeefdeadbeef', service: 'payments', name: 'refund lookup', start: 10 * ms, dur: 20 * ms });
  return t.spans;
}

const LONG_FN = 'image-thumbnail-generator-production-eu-west-1';

function lambda(baseNs) {
  const t = new TraceBuilder(LAMBDA, baseNs);
  const resource = [str('faas.name', LONG_FN), str('cloud.provider', 'aws'), str('cloud.region', 'eu-west-1'), int('faas.max_memory', 1024)];
  const root = t.span({
    id: '1a00000000000001',
    service: LONG_FN,
    name: LONG_FN,
    kind: 'server',
    start: 0,
    dur: 3000 * ms,
    resource,
    error: 'Task timed out after 3.00 seconds',
    attrs: [bool('faas.coldstart', true), str('faas.trigger', 'http'), str('faas.invocation_id', 'req-1'), bool('faas.error_timeout', true), str('aws.lambda.invoked_arn.with.a.very.long.attribute.key.name', 'arn:aws:lambda:eu-west-1:123456789012:function:x')],
  });
  t.span({ id: '1a00000000000002', parent: root, service: LONG_FN, name: 'init', start: 0, dur: 800 * ms, resource });
  t.span({ id: '1a00000000000003', parent: root, service: LONG_FN, name: 'S3 GetObject', kind: 'client', start: 850 * ms, dur: 2100 * ms, resource });
  return t.spans;
}

/** Every trace of this set, placed in the last few minutes before `nowMs`. */
export function traceSet(nowMs) {
  const at = (minutesAgo) => BigInt(Math.round(nowMs - minutesAgo * 60_000)) * 1_000_000n;
  return [...shop(SHOP, at(3), false), ...shop(SHOP_SLOW, at(2), true), ...orphan(at(1.5)), ...lambda(at(1))];
}

export { LONG_FN };
