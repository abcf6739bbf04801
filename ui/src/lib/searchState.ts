// The search page's whole state, to and from the URL (so a link reproduces the search).

import { EMPTY_FORM, type AttrCond, type FormState } from './traceql';

/** A region of the scatter plot: trace start times and durations ("what is different"). */
export interface Region {
  fromMs: number;
  toMs: number;
  minNs: number;
  maxNs: number;
}

export interface SearchState {
  mode: 'form' | 'traceql';
  /** The TraceQL text, in TraceQL mode. */
  q: string;
  form: FormState;
  from: string;
  to: string;
  limit: number;
  /** The scatter's selected region (`sel=fromMs,toMs,minNs,maxNs`). */
  region?: Region | null;
  /** A metrics series' spans, compared with the rest (`cmp=<spanset filter>`). */
  cmp?: string;
  /** Auto-refresh every so many seconds (`refresh=30s`); 0: off. */
  refreshSec?: number;
}

/** The auto-refresh choices, seconds. */
export const REFRESH_CHOICES = [0, 5, 10, 30, 60, 300];

export const DEFAULT_FROM = 'now-1h';
export const DEFAULT_TO = 'now';
export const DEFAULT_LIMIT = 50;
const STATUSES = ['', 'error', 'ok', 'unset', 'failed'];
const OPS = ['!=', '=~', '!~', '>=', '<=', '=', '>', '<'];

export function decodeSearch(p: URLSearchParams): SearchState {
  const status = p.get('status') ?? '';
  const limit = parseInt(p.get('limit') ?? '', 10);
  return {
    mode: p.get('mode') === 'traceql' || (p.has('q') && p.get('mode') !== 'form') ? 'traceql' : 'form',
    q: p.get('q') ?? '',
    form: {
      service: p.get('service') ?? '',
      name: p.get('name') ?? '',
      status: (STATUSES.includes(status) ? status : '') as FormState['status'],
      minDuration: p.get('minDuration') ?? '',
      maxDuration: p.get('maxDuration') ?? '',
      attrs: p.getAll('attr').map(decodeAttr).filter((a): a is AttrCond => a !== null),
      events: p.getAll('event'),
      eventText: p.get('eventText') ?? '',
    },
    from: p.get('from') ?? DEFAULT_FROM,
    to: p.get('to') ?? DEFAULT_TO,
    limit: Number.isFinite(limit) && limit > 0 ? Math.min(limit, 10_000) : DEFAULT_LIMIT,
    region: decodeRegion(p.get('sel')),
    cmp: p.get('cmp') ?? '',
    refreshSec: decodeRefresh(p.get('refresh')),
  };
}

function decodeRefresh(s: string | null): number {
  const m = /^(\d+)(s|m)$/.exec(s ?? '');
  const n = m ? Number(m[1]) * (m[2] === 'm' ? 60 : 1) : 0;
  return REFRESH_CHOICES.includes(n) ? n : 0;
}

/** `30s`, `1m`, `5m`. */
export function refreshText(sec: number): string {
  return sec % 60 === 0 ? `${sec / 60}m` : `${sec}s`;
}

function decodeRegion(s: string | null): Region | null {
  const n = (s ?? '').split(',').map(Number);
  if (n.length !== 4 || n.some((x) => !Number.isFinite(x)) || n[0]! >= n[1]! || n[2]! > n[3]!) return null;
  return { fromMs: n[0]!, toMs: n[1]!, minNs: n[2]!, maxNs: n[3]! };
}

/** `key op value`, e.g. `http.route = /orders`. */
function decodeAttr(s: string): AttrCond | null {
  const m = /^(\S+)\s+(\S+)\s?(.*)$/.exec(s);
  if (!m || !OPS.includes(m[2]!)) return null;
  return { key: m[1]!, op: m[2]!, value: m[3]! };
}

export function encodeSearch(s: SearchState): string {
  const p = new URLSearchParams();
  if (s.mode === 'traceql') {
    p.set('mode', 'traceql');
    p.set('q', s.q);
  } else {
    const f = s.form;
    if (f.service) p.set('service', f.service);
    if (f.name) p.set('name', f.name);
    if (f.status) p.set('status', f.status);
    if (f.minDuration) p.set('minDuration', f.minDuration);
    if (f.maxDuration) p.set('maxDuration', f.maxDuration);
    for (const a of f.attrs) if (a.key.trim()) p.append('attr', `${a.key.trim()} ${a.op || '='} ${a.value}`);
    for (const e of f.events ?? []) p.append('event', e);
    if (f.eventText) p.set('eventText', f.eventText);
  }
  if (s.from !== DEFAULT_FROM) p.set('from', s.from);
  if (s.to !== DEFAULT_TO) p.set('to', s.to);
  if (s.limit !== DEFAULT_LIMIT) p.set('limit', String(s.limit));
  if (s.region) p.set('sel', [s.region.fromMs, s.region.toMs, s.region.minNs, s.region.maxNs].join(','));
  if (s.cmp) p.set('cmp', s.cmp);
  if (s.refreshSec) p.set('refresh', refreshText(s.refreshSec));
  const qs = p.toString();
  return qs ? `/search?${qs}` : '/search';
}

export function emptySearch(): SearchState {
  return { mode: 'form', q: '', form: { ...EMPTY_FORM, attrs: [] }, from: DEFAULT_FROM, to: DEFAULT_TO, limit: DEFAULT_LIMIT };
}
