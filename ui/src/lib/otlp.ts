// OTLP/JSON (as Arbor and Tempo answer a trace) → a flat, index-based trace model.
//
// Times are kept as nanoseconds relative to the trace's start: an absolute Unix time in
// ns does not fit a double exactly, an offset within one trace does.

import type { AnyValue, KeyValue } from './api';

export const KIND_NAMES = ['unspecified', 'internal', 'server', 'client', 'producer', 'consumer'];
export const STATUS_NAMES = ['unset', 'ok', 'error'];

export interface SpanEvent {
  time: number;
  name: string;
  attributes: KeyValue[];
}
export interface SpanLink {
  traceId: string;
  spanId: string;
  attributes: KeyValue[];
}
export interface Resource {
  service: number;
  attributes: KeyValue[];
}
export interface Scope {
  name: string;
  version: string;
  attributes: KeyValue[];
}

export interface Span {
  spanId: string;
  parentId: string;
  name: string;
  kind: number;
  /** ns since the trace's start */
  start: number;
  end: number;
  statusCode: number;
  statusMessage: string;
  service: number;
  resource: number;
  scope: number;
  attributes: KeyValue[];
  events: SpanEvent[];
  links: SpanLink[];
}

export interface Trace {
  traceId: string;
  spans: Span[];
  services: string[];
  resources: Resource[];
  scopes: Scope[];
  /** Unix ms of the first span's start (for display). */
  startMs: number;
  /** ns, first start to last end */
  duration: number;
  errorCount: number;
}

/** A Unix-ns time (string or number) as whole seconds and the remaining ns. */
function splitNs(v: unknown): [number, number] {
  if (v === undefined || v === null) return [0, 0];
  const s = typeof v === 'string' ? v : BigInt(Math.round(Number(v))).toString();
  if (s.length <= 9) return [0, parseInt(s, 10) || 0];
  return [parseInt(s.slice(0, -9), 10), parseInt(s.slice(-9), 10)];
}

function enumValue(v: unknown, names: string[], prefix: string): number {
  if (typeof v === 'number') return v;
  if (typeof v === 'string') {
    const n = names.indexOf(v.replace(prefix, '').toLowerCase());
    return n >= 0 ? n : parseInt(v, 10) || 0;
  }
  return 0;
}

/** Hex of an OTLP/JSON ID (Arbor and Tempo send hex; base64 from other sources is converted). */
export function hexId(v: unknown): string {
  if (typeof v !== 'string' || v === '') return '';
  if (/^[0-9a-fA-F]+$/.test(v) && (v.length === 16 || v.length === 32)) return v.toLowerCase();
  try {
    const bin = atob(v);
    let out = '';
    for (let i = 0; i < bin.length; i++) out += bin.charCodeAt(i).toString(16).padStart(2, '0');
    return out;
  } catch {
    return v.toLowerCase();
  }
}

export function stringAttr(attrs: KeyValue[] | undefined, key: string): string | undefined {
  const kv = attrs?.find((a) => a.key === key);
  return kv?.value ? valueText(kv.value) : undefined;
}

/** An attribute value as text: strings as they are, arrays and maps as JSON-like text. */
export function valueText(v: AnyValue | undefined): string {
  if (!v) return '';
  if (v.stringValue !== undefined) return v.stringValue;
  if (v.intValue !== undefined) return String(v.intValue);
  if (v.doubleValue !== undefined) return String(v.doubleValue);
  if (v.boolValue !== undefined) return String(v.boolValue);
  if (v.bytesValue !== undefined) return v.bytesValue;
  if (v.arrayValue) return `[${(v.arrayValue.values ?? []).map((x) => (x.stringValue !== undefined ? JSON.stringify(x.stringValue) : valueText(x))).join(', ')}]`;
  if (v.kvlistValue) return `{${(v.kvlistValue.values ?? []).map((kv) => `${kv.key}: ${valueText(kv.value)}`).join(', ')}}`;
  return '';
}

interface RawSpan {
  traceId?: string;
  spanId?: string;
  parentSpanId?: string;
  name?: string;
  kind?: number | string;
  startTimeUnixNano?: string | number;
  endTimeUnixNano?: string | number;
  attributes?: KeyValue[];
  events?: { timeUnixNano?: string | number; name?: string; attributes?: KeyValue[] }[];
  links?: { traceId?: string; spanId?: string; attributes?: KeyValue[] }[];
  status?: { code?: number | string; message?: string };
}
interface RawScopeSpans {
  scope?: { name?: string; version?: string; attributes?: KeyValue[] };
  spans?: RawSpan[];
}
interface RawResourceSpans {
  resource?: { attributes?: KeyValue[] };
  scopeSpans?: RawScopeSpans[];
  instrumentationLibrarySpans?: RawScopeSpans[];
}

/** Parses `{"resourceSpans":[…]}` or `{"batches":[…]}` (Tempo v1). */
export function parseTrace(traceId: string, data: { resourceSpans?: unknown[]; batches?: unknown[] }): Trace {
  const batches = (data.resourceSpans ?? data.batches ?? []) as RawResourceSpans[];
  const services: string[] = [];
  const serviceIndex = new Map<string, number>();
  const resources: Resource[] = [];
  const scopes: Scope[] = [];
  const raw: RawSpan[] = [];
  const rawResource: number[] = [];
  const rawScope: number[] = [];
  for (const rs of batches) {
    const attrs = rs.resource?.attributes ?? [];
    const svc = stringAttr(attrs, 'service.name') ?? 'unknown_service';
    let si = serviceIndex.get(svc);
    if (si === undefined) {
      si = services.length;
      services.push(svc);
      serviceIndex.set(svc, si);
    }
    const ri = resources.length;
    resources.push({ service: si, attributes: attrs });
    for (const ss of rs.scopeSpans ?? rs.instrumentationLibrarySpans ?? []) {
      const sci = scopes.length;
      scopes.push({ name: ss.scope?.name ?? '', version: ss.scope?.version ?? '', attributes: ss.scope?.attributes ?? [] });
      for (const sp of ss.spans ?? []) {
        raw.push(sp);
        rawResource.push(ri);
        rawScope.push(sci);
      }
    }
  }
  // The earliest second, so every offset is a small exact number.
  let baseSec = Infinity;
  const startSplit: [number, number][] = new Array(raw.length);
  for (let i = 0; i < raw.length; i++) {
    const t = splitNs(raw[i]!.startTimeUnixNano);
    startSplit[i] = t;
    if (t[0] < baseSec) baseSec = t[0];
  }
  if (!Number.isFinite(baseSec)) baseSec = 0;
  const rel = (t: [number, number]) => (t[0] - baseSec) * 1e9 + t[1];
  let minStart = Infinity;
  let maxEnd = -Infinity;
  const spans: Span[] = new Array(raw.length);
  let errorCount = 0;
  for (let i = 0; i < raw.length; i++) {
    const r = raw[i]!;
    const start = rel(startSplit[i]!);
    const end = Math.max(start, rel(splitNs(r.endTimeUnixNano)));
    if (start < minStart) minStart = start;
    if (end > maxEnd) maxEnd = end;
    const statusCode = enumValue(r.status?.code, STATUS_NAMES, 'status_code_');
    if (statusCode === 2) errorCount++;
    spans[i] = {
      spanId: hexId(r.spanId),
      parentId: hexId(r.parentSpanId),
      name: r.name ?? '',
      kind: enumValue(r.kind, KIND_NAMES, 'span_kind_'),
      start,
      end,
      statusCode,
      statusMessage: r.status?.message ?? '',
      service: resources[rawResource[i]!]!.service,
      resource: rawResource[i]!,
      scope: rawScope[i]!,
      attributes: r.attributes ?? [],
      events: (r.events ?? []).map((e) => ({ time: rel(splitNs(e.timeUnixNano)), name: e.name ?? '', attributes: e.attributes ?? [] })),
      links: (r.links ?? []).map((l) => ({ traceId: hexId(l.traceId), spanId: hexId(l.spanId), attributes: l.attributes ?? [] })),
    };
  }
  if (!Number.isFinite(minStart)) {
    minStart = 0;
    maxEnd = 0;
  }
  // Offsets from the first span's start.
  for (const s of spans) {
    s.start -= minStart;
    s.end -= minStart;
    for (const e of s.events) e.time -= minStart;
  }
  return {
    traceId,
    spans,
    services,
    resources,
    scopes,
    startMs: baseSec * 1e3 + minStart / 1e6,
    duration: maxEnd - minStart,
    errorCount,
  };
}
