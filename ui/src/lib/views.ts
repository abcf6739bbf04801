// Views (`/api/views`): the built-in scopes shown as curated views (Serverless Console's
// API and All Functions), the filters a view may set, and the team's saved views.

import { getJson, search, sendJson, type SearchResponse } from './api';

export interface FilterDef {
  id: string;
  label: string;
  /** attribute keys whose values are offered, the first the data has; empty: fixed choices */
  keys: string[];
}

export interface ViewDef {
  id: string;
  name: string;
  builtIn: boolean;
  scope?: string;
  query?: string;
  filters: Record<string, string>;
  charts: string[];
  /** the filters the view offers */
  filterIds: string[];
  /** the scope's required tags (built-in views) */
  requires?: string[];
  traceql: string;
  created?: number;
}

export interface ViewsAnswer {
  scopes: ViewDef[];
  filters: FilterDef[];
  views: ViewDef[];
}

export interface ViewInput {
  name: string;
  scope?: string;
  query?: string;
  filters: Record<string, string>;
  charts: string[];
}

export const CHART_LABEL: Record<string, string> = {
  requests: 'Requests',
  invocations: 'Invocations',
  errors: 'Errors',
  coldStarts: 'Cold starts',
  p95: 'p95 duration',
};

export const DURATION_CHOICES = ['10ms', '100ms', '500ms', '1s', '5s', '10s'];

export function fetchViews(signal?: AbortSignal): Promise<ViewsAnswer> {
  return getJson<ViewsAnswer>('/api/views', signal);
}

export function fetchView(id: string, signal?: AbortSignal): Promise<ViewDef> {
  return getJson<ViewDef>(`/api/views/${encodeURIComponent(id)}`, signal);
}

/** The TraceQL of a scope, filters and query (the server builds it, as it does for saved views). */
export async function viewQuery(input: Omit<ViewInput, 'name' | 'charts'>, signal?: AbortSignal): Promise<string> {
  const a = await sendJson<{ traceql: string }>('POST', '/api/views/query', input, signal);
  return a?.traceql ?? '{ }';
}

export async function createView(input: ViewInput): Promise<ViewDef> {
  const v = await sendJson<ViewDef>('POST', '/api/views', input);
  if (!v) throw new Error('the server answered nothing');
  return v;
}

export async function deleteView(id: string): Promise<void> {
  await sendJson('DELETE', `/api/views/${encodeURIComponent(id)}`);
}

export function viewTraces(q: string, startSec: number, endSec: number, signal?: AbortSignal): Promise<SearchResponse> {
  return search({ q, startSec, endSec, limit: 50 }, signal);
}

/** The filters in force: the view's, overridden by the URL's `f.<id>` (empty: removed). */
export function effectiveFilters(view: ViewDef, params: URLSearchParams): Record<string, string> {
  const out: Record<string, string> = { ...view.filters };
  for (const [k, v] of params) {
    if (!k.startsWith('f.')) continue;
    const id = k.slice(2);
    if (v === '') delete out[id];
    else out[id] = v;
  }
  return out;
}

/** Per step, the sum over rows (null where every row is null). */
export function sumSeries(rows: (number | null)[][]): (number | null)[] {
  const n = Math.max(0, ...rows.map((r) => r.length));
  return Array.from({ length: n }, (_, i) => {
    const vals = rows.map((r) => r[i]).filter((v): v is number => v !== null && v !== undefined);
    return vals.length ? vals.reduce((a, b) => a + b, 0) : null;
  });
}

/** Per step, the largest value over rows. */
export function maxSeries(rows: (number | null)[][]): (number | null)[] {
  const n = Math.max(0, ...rows.map((r) => r.length));
  return Array.from({ length: n }, (_, i) => {
    const vals = rows.map((r) => r[i]).filter((v): v is number => v !== null && v !== undefined);
    return vals.length ? Math.max(...vals) : null;
  });
}
