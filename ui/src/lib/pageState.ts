// URL state shared by the derived-view pages: the time range (as the search page keeps
// it), filters, sorting and selections, read from and written to the query string.

import { navigate } from './router';
import { DEFAULT_FROM, DEFAULT_TO } from './searchState';
import { resolveTime } from './time';

export interface Range {
  from: string;
  to: string;
}

export function decodeRange(p: URLSearchParams): Range {
  return { from: p.get('from') ?? DEFAULT_FROM, to: p.get('to') ?? DEFAULT_TO };
}

/** The range in Unix ms, or the reason it is not one. */
export function resolveRange(r: Range, now = Date.now()): { fromMs: number; toMs: number } | { error: string } {
  const fromMs = resolveTime(r.from, now);
  const toMs = resolveTime(r.to, now);
  if (fromMs === null || toMs === null || fromMs >= toMs) return { error: `the time range ${r.from} → ${r.to} is not valid` };
  return { fromMs, toMs };
}

/**
 * `path?…` with `changes` applied to the current parameters (`null` or `''` removes one);
 * the default range is left out, as the search page does.
 */
export function hrefWith(path: string, params: URLSearchParams, changes: Record<string, string | null | undefined>): string {
  const p = new URLSearchParams(params);
  for (const [k, v] of Object.entries(changes)) {
    if (v === null || v === undefined || v === '') p.delete(k);
    else p.set(k, v);
  }
  if (p.get('from') === DEFAULT_FROM) p.delete('from');
  if (p.get('to') === DEFAULT_TO) p.delete('to');
  const qs = p.toString();
  return qs ? `${path}?${qs}` : path;
}

export function setParams(path: string, params: URLSearchParams, changes: Record<string, string | null | undefined>, replace = false) {
  navigate(hrefWith(path, params, changes), { replace });
}

export interface Sort {
  key: string;
  desc: boolean;
}

/** `sort=rate` (ascending) or `sort=-rate` (descending). */
export function decodeSort(p: URLSearchParams, name: string, fallback: Sort): Sort {
  const s = p.get(name);
  if (!s) return fallback;
  return s.startsWith('-') ? { key: s.slice(1), desc: true } : { key: s, desc: false };
}

export function encodeSort(s: Sort): string {
  return s.desc ? `-${s.key}` : s.key;
}
