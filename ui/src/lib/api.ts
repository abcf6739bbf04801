// The Arbor HTTP API (Tempo's shapes). Every failure becomes an ApiError whose message
// is what the server said, so pages can show it as it is. Requests read the current
// tenant's data (`X-Scope-OrgID`, see tenant.ts) unless told otherwise.

import { authHeaders, authNeeded } from './auth';
import { currentTenant, tenantHeaders } from './tenant';

/**
 * Whose data a request reads: the current tenant (undefined), a given one, or no tenant
 * at all (`null`: the alert rules, which are global — each rule names its own).
 */
export type Tenant = string | null | undefined;

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly url: string,
  ) {
    super(message);
  }
}

async function request(url: string, signal?: AbortSignal, init: RequestInit = {}, tenant?: Tenant): Promise<Response> {
  let res: Response;
  const scope = tenant === null ? {} : tenantHeaders(tenant ?? currentTenant());
  try {
    res = await fetch(url, { ...init, signal: signal ?? null, headers: { Accept: 'application/json', ...authHeaders(), ...scope, ...(init.headers as Record<string, string> | undefined) } });
  } catch (e) {
    if ((e as Error).name === 'AbortError') throw e;
    throw new ApiError(0, `could not reach the server: ${(e as Error).message}`, url);
  }
  if (res.status === 401) authNeeded();
  if (!res.ok) {
    const text = (await res.text().catch(() => '')).trim();
    throw new ApiError(res.status, messageOf(text) || `${res.status} ${res.statusText}`, url);
  }
  return res;
}

/** The server's message: its plain text, or the `error`/`message` of a JSON body. */
function messageOf(text: string): string {
  if (text.startsWith('{')) {
    try {
      const j = JSON.parse(text) as { error?: unknown; message?: unknown };
      const m = j.error ?? j.message;
      if (typeof m === 'string' && m) return m;
    } catch {
      // not JSON after all
    }
  }
  return text;
}

/**
 * `method url` with a JSON body (when given); the answer's JSON, or `null` for an empty
 * answer (`204`).
 */
export async function sendJson<T>(method: 'POST' | 'PUT' | 'DELETE', url: string, body?: unknown, signal?: AbortSignal, tenant?: Tenant): Promise<T | null> {
  const init: RequestInit = { method };
  // Always JSON, even without a body: the server refuses changes of any other type (a
  // type a cross-site form could send).
  init.headers = { 'Content-Type': 'application/json' };
  if (body !== undefined) init.body = JSON.stringify(body);
  const res = await request(url, signal, init, tenant);
  const text = await res.text();
  return text.trim() ? (JSON.parse(text) as T) : null;
}

export async function getJson<T>(url: string, signal?: AbortSignal, tenant?: Tenant): Promise<T> {
  const res = await request(url, signal, {}, tenant);
  return (await res.json()) as T;
}

export interface AnyValue {
  stringValue?: string;
  intValue?: string | number;
  doubleValue?: number | string;
  boolValue?: boolean;
  bytesValue?: string;
  arrayValue?: { values?: AnyValue[] };
  kvlistValue?: { values?: KeyValue[] };
}
export interface KeyValue {
  key: string;
  value?: AnyValue;
}

export interface SearchSpan {
  spanID: string;
  name?: string;
  startTimeUnixNano: string;
  durationNanos: string;
  attributes?: KeyValue[];
}
export interface SpanSet {
  spans: SearchSpan[];
  matched: number;
  attributes?: KeyValue[];
}
export interface SearchTrace {
  traceID: string;
  rootServiceName: string;
  rootTraceName?: string;
  startTimeUnixNano: string;
  durationMs?: number;
  spanCount?: number;
  errorCount?: number;
  spanSets?: SpanSet[];
}
export interface SearchResponse {
  traces: SearchTrace[];
  metrics: { inspectedTraces?: number; inspectedSpans?: string; inspectedBytes?: string; totalBlocks?: number; elapsedMs?: number };
}

export interface SearchParams {
  q: string;
  startSec: number;
  endSec: number;
  limit: number;
  spss?: number;
}

export function searchUrl(p: SearchParams): string {
  const u = new URLSearchParams({
    q: p.q,
    start: String(Math.floor(p.startSec)),
    end: String(Math.ceil(p.endSec)),
    limit: String(p.limit),
    spss: String(p.spss ?? 3),
  });
  return `/api/search?${u}`;
}

export function search(p: SearchParams, signal?: AbortSignal): Promise<SearchResponse> {
  return getJson<SearchResponse>(searchUrl(p), signal);
}

export interface TraceResponse {
  trace?: { resourceSpans?: unknown[] };
  status?: string;
  message?: string;
}

/** The trace as text (parsed by the caller, so the time of arrival can be marked). */
export async function fetchTraceText(id: string, signal?: AbortSignal): Promise<string> {
  const res = await request(`/api/v2/traces/${encodeURIComponent(id)}`, signal);
  return res.text();
}

export interface TagScopes {
  scopes: { name: string; tags: string[] }[];
}

export function tagNames(startSec?: number, endSec?: number): Promise<TagScopes> {
  const u = new URLSearchParams({ scope: 'all' });
  if (startSec !== undefined && endSec !== undefined) {
    u.set('start', String(Math.floor(startSec)));
    u.set('end', String(Math.ceil(endSec)));
  }
  return getJson<TagScopes>(`/api/v2/search/tags?${u}`);
}

export interface TagValue {
  type: string;
  value: string;
}

export function tagValues(tag: string, q?: string): Promise<{ tagValues: TagValue[] }> {
  const u = new URLSearchParams();
  if (q) u.set('q', q);
  const qs = u.toString();
  return getJson<{ tagValues: TagValue[] }>(
    `/api/v2/search/tag/${encodeURIComponent(tag)}/values${qs ? `?${qs}` : ''}`,
  );
}

export function errorText(e: unknown): string {
  if (e instanceof ApiError) {
    const what = e.status ? `${e.status}` : 'network';
    return `${what}: ${e.message}`;
  }
  return (e as Error)?.message ?? String(e);
}
