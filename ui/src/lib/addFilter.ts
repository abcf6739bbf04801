// "Filter by this value": a TraceQL condition for a field and a value, and a query with
// that condition added (inside its spanset filter when it is one, else beside it).

import type { AnyValue } from './api';

/** Intrinsics whose values are keywords (`status = error`, `kind = server`), not strings. */
const KEYWORD_FIELDS = new Set(['status', 'kind', 'span:status', 'span:kind']);

/** `field = value` with the value as a TraceQL literal of its type. */
export function condition(field: string, value: AnyValue): string {
  let lit: string;
  if (value.intValue !== undefined) lit = String(value.intValue);
  else if (value.doubleValue !== undefined) lit = String(value.doubleValue);
  else if (value.boolValue !== undefined) lit = String(value.boolValue);
  else if (KEYWORD_FIELDS.has(field) && value.stringValue && /^[a-z]+$/.test(value.stringValue)) lit = value.stringValue;
  else lit = JSON.stringify(value.stringValue ?? '');
  return `${field} = ${lit}`;
}

/** The TraceQL field of an attribute of a span (`span.x`) or of its resource (`resource.x`). */
export function attrField(scope: 'span' | 'resource', key: string): string {
  return /^[\w.:-]+$/.test(key) && !/^\d/.test(key) ? `${scope}.${key}` : `${scope}."${key.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

/** Where the `{` at `open` closes, strings skipped; -1 when it does not. */
function closing(q: string, open: number): number {
  let depth = 0;
  for (let i = open; i < q.length; i++) {
    const c = q[i];
    if (c === '"') {
      for (i++; i < q.length && q[i] !== '"'; i++) if (q[i] === '\\') i++;
    } else if (c === '{') depth++;
    else if (c === '}' && --depth === 0) return i;
  }
  return -1;
}

/** `query` with `cond` added: `{ a }` → `{ a && cond }`; anything else → `(query) && { cond }`. */
export function addCondition(query: string, cond: string): string {
  const q = query.trim();
  if (q === '' || /^\{\s*\}$/.test(q)) return `{ ${cond} }`;
  if (q.startsWith('{') && closing(q, 0) === q.length - 1) {
    const inner = q.slice(1, -1).trim();
    // `||` binds looser than `&&`: keep the old conditions together.
    const kept = inner.replace(/"(?:[^"\\]|\\.)*"/g, '""').includes('||') ? `(${inner})` : inner;
    return `{ ${kept} && ${cond} }`;
  }
  return `(${q}) && { ${cond} }`;
}

/** Whether a query is one spanset filter `{ … }` (what `compare()` takes as its selection). */
export function isSpansetFilter(query: string): boolean {
  const q = query.trim();
  return q.startsWith('{') && closing(q, 0) === q.length - 1;
}
