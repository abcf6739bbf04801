// Serverless markers of the waterfall: a function's cold start, its init phase and a
// timeout, read from the span's attributes (the names of crates/arbor-model/src/faas.rs:
// `faas.coldstart`, `faas.error_timeout`; booleans, or Serverless Console's strings).

import type { KeyValue } from './api';
import type { Trace } from './otlp';
import { stringAttr } from './otlp';

export interface FnMarks {
  cold: boolean;
  init: boolean;
  timeout: boolean;
}

const truthy = (attrs: KeyValue[], key: string) => {
  const v = stringAttr(attrs, key)?.trim().toLowerCase();
  return v === 'true' || v === '1';
};

/** Marks per span index (only spans with one). */
export function fnMarks(trace: Trace): Map<number, FnMarks> {
  const out = new Map<number, FnMarks>();
  const fnResource = trace.resources.map((r) => r.attributes.some((a) => a.key.startsWith('faas.')));
  trace.spans.forEach((s, i) => {
    const isFn = fnResource[s.resource]! || s.attributes.some((a) => a.key.startsWith('faas.'));
    if (!isFn) return;
    const cold = truthy(s.attributes, 'faas.coldstart');
    const timeout = truthy(s.attributes, 'faas.error_timeout') || /timed? ?out/i.test(s.statusMessage);
    // The init phase: a span named for it, in a function (Lambda's "Init", "cold start: init").
    const init = /(^|[\s:_-])init(ialization)?($|[\s:_-])|^cold start/i.test(s.name);
    if (cold || timeout || init) out.set(i, { cold, init, timeout });
  });
  return out;
}

/** A long name with its middle left out (`image-thumbn…eu-west-1`), both ends kept. */
export function midEllipsis(s: string, max = 26): string {
  if (s.length <= max) return s;
  const head = Math.ceil((max - 1) * 0.55);
  return `${s.slice(0, head)}…${s.slice(s.length - (max - 1 - head))}`;
}
