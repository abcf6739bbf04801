// The derived views over time (`GET /api/derived/…`): their answers, how to ask for them,
// how to show their figures, and the searches a figure leads to.

import { getJson, type Tenant } from './api';
import { fmtDuration } from './time';

/** Values present in the range, for the pickers. */
export interface DerivedFilters {
  service?: string[];
  namespace?: string[];
  environment?: string[];
  region?: string[];
}

/** A quantile in seconds, `null` when there was nothing to take it from. */
export type Quantile = number | null;

export interface Figures {
  rate: number;
  errorRate: number;
  p50: Quantile;
  p95: Quantile;
  p99: Quantile;
}

export interface CallSeries {
  calls: number[];
  errors: number[];
  p95: Quantile[];
}

export interface ServiceFigures extends Figures {
  service: string;
  calls: number;
  errors: number;
  series: CallSeries;
}

export interface OperationFigures extends ServiceFigures {
  name: string;
  /** `SPAN_KIND_SERVER`, … */
  kind: string;
}

export interface ServicesAnswer {
  start: number;
  end: number;
  step: number;
  filters?: DerivedFilters;
  services: ServiceFigures[];
  operations?: OperationFigures[];
}

export type NodeType = 'service' | 'user' | 'database' | 'messaging_system' | 'virtual_node';

export interface GraphNode extends Figures {
  id: string;
  type: NodeType | string;
  requests: number;
  failed: number;
}

export interface GraphEdge extends Figures {
  client: string;
  server: string;
  /** `""` between instrumented services; `virtual_node`, `database`, `messaging_system`. */
  connectionType: string;
  requests: number;
  failed: number;
  clientP95: Quantile;
}

export interface GraphAnswer {
  start: number;
  end: number;
  source: string;
  nodes: GraphNode[];
  edges: GraphEdge[];
}

export interface FunctionFigures {
  function: string;
  service?: string;
  namespace?: string;
  environment?: string;
  region?: string;
  invocations: number;
  rate: number;
  errors: number;
  timeouts: number;
  coldStarts: number;
  coldStartRate: number;
  p50: Quantile;
  p95: Quantile;
  p99: Quantile;
  p95Warm?: Quantile;
  memoryShare?: number | null;
  memoryUsedMb?: number | null;
  memoryConfiguredMb?: number | null;
  gbSeconds?: number;
  cost?: number;
  series: { invocations: number[]; errors: number[]; timeouts: number[]; coldStarts: number[]; p95: Quantile[] };
}

export interface EndpointFigures extends Figures {
  service: string;
  method: string;
  route: string;
  requests: number;
  errors: number;
  statusClasses: Record<string, number>;
  series: { requests: number[]; errors: number[]; p95: Quantile[] };
}

export interface ServerlessAnswer {
  start: number;
  end: number;
  step: number;
  filters?: DerivedFilters;
  functions: FunctionFigures[];
  endpoints: EndpointFigures[];
}

/** What every derived request carries: the range (Unix seconds) and the filters. */
export interface DerivedQuery {
  startSec: number;
  endSec: number;
  step?: number;
  service?: string;
  namespace?: string;
  environment?: string;
  region?: string;
  function?: string;
  source?: 'series' | 'spans';
}

export function derivedUrl(view: 'services' | 'service-graph' | 'serverless', q: DerivedQuery): string {
  // Both ends rounded down, so a range of whole seconds stays one (and gets the default step).
  const u = new URLSearchParams({ start: String(Math.floor(q.startSec)), end: String(Math.floor(q.endSec)) });
  if (q.step) u.set('step', String(q.step));
  for (const k of ['service', 'namespace', 'environment', 'region', 'function', 'source'] as const) {
    const v = q[k];
    if (v) u.set(k, v);
  }
  return `/api/derived/${view}?${u}`;
}

/** `tenant`: whose data (the current tenant's when undefined). */
export function fetchServices(q: DerivedQuery, signal?: AbortSignal, tenant?: Tenant): Promise<ServicesAnswer> {
  return getJson<ServicesAnswer>(derivedUrl('services', q), signal, tenant);
}

export function fetchGraph(q: DerivedQuery, signal?: AbortSignal): Promise<GraphAnswer> {
  return getJson<GraphAnswer>(derivedUrl('service-graph', q), signal);
}

export function fetchServerless(q: DerivedQuery, signal?: AbortSignal, tenant?: Tenant): Promise<ServerlessAnswer> {
  return getJson<ServerlessAnswer>(derivedUrl('serverless', q), signal, tenant);
}

// --- Formatting -------------------------------------------------------------------

const sig = (v: number) => {
  const a = Math.abs(v);
  const t = a >= 100 ? v.toFixed(0) : a >= 10 ? v.toFixed(1) : v.toFixed(2);
  return t.includes('.') ? t.replace(/\.?0+$/, '') : t;
};

/** A rate per second as people read it: `12/s`, `4.5/min`, `2/h`. */
export function fmtRate(perSec: number | null | undefined): string {
  if (perSec === null || perSec === undefined || !Number.isFinite(perSec)) return '–';
  if (perSec === 0) return '0/s';
  if (perSec >= 1) return `${sig(perSec)}/s`;
  if (perSec * 60 >= 1) return `${sig(perSec * 60)}/min`;
  return `${sig(perSec * 3600)}/h`;
}

/** A share (0…1) as a percentage: `0%`, `0.5%`, `12.5%`, `100%`. */
export function fmtPercent(share: number | null | undefined): string {
  if (share === null || share === undefined || !Number.isFinite(share)) return '–';
  if (share === 0) return '0%';
  const p = share * 100;
  if (p < 0.01) return '<0.01%';
  return `${sig(p)}%`;
}

/** Seconds (the API's unit) as a duration: `12 ms`, `1.5 s`; `–` for none. */
export function fmtSeconds(s: Quantile | undefined): string {
  return s === null || s === undefined || !Number.isFinite(s) ? '–' : fmtDuration(s * 1e9);
}

export function fmtCount(n: number | null | undefined): string {
  return n === null || n === undefined || !Number.isFinite(n) ? '–' : Math.round(n).toLocaleString('en-US');
}

/** A cost (the price is per GB-second, in dollars as the default price is). */
export function fmtCost(c: number | null | undefined): string {
  if (c === null || c === undefined || !Number.isFinite(c)) return '–';
  if (c === 0) return '$0';
  if (c >= 1) return `$${c.toFixed(2)}`;
  if (c < 1e-6) return '<$0.000001';
  return `$${Number(c.toPrecision(2))}`;
}

/** `SPAN_KIND_SERVER` → `server`. */
export function kindName(kind: string): string {
  return kind.replace(/^SPAN_KIND_/, '').toLowerCase() || 'unspecified';
}

/** How bad an error rate looks: none, some, or more than 5 %. */
/** Error shares from this one up are a warning (amber), from ERROR_BAD up bad (red); below, shown plainly. */
export const ERROR_WARN = 0.01;
export const ERROR_BAD = 0.05;

export function errorLevel(errorRate: number | null | undefined): '' | 'low' | 'warn' | 'bad' {
  if (!errorRate || errorRate <= 0) return '';
  return errorRate >= ERROR_BAD ? 'bad' : errorRate >= ERROR_WARN ? 'warn' : 'low';
}

// --- Where a figure leads: TraceQL searches ------------------------------------------

export const str = (v: string) => JSON.stringify(v);

/** `{ a && b }`, or `{ }` without conditions. */
export function spanset(...conds: (string | false | null | undefined)[]): string {
  const c = conds.filter((x): x is string => typeof x === 'string' && x !== '');
  return c.length ? `{ ${c.join(' && ')} }` : '{ }';
}

/** `.k = "v"`, or `(.k1 = "v" || .k2 = "v")` over the keys the data may use. */
export function anyOf(keys: string[], value: string): string {
  const parts = keys.map((k) => `.${k} = ${str(value)}`);
  return parts.length === 1 ? parts[0]! : `(${parts.join(' || ')})`;
}

/** The keys a virtual node's name comes from, by node or connection type (the pairing rules). */
export function peerKeys(type: string): string[] | null {
  switch (type) {
    case 'database':
      return ['db.name', 'db.namespace', 'db.system'];
    case 'messaging_system':
      return ['messaging.destination.name', 'messaging.system'];
    case 'virtual_node':
      return ['peer.service', 'server.address', 'net.peer.name'];
    default:
      return null;
  }
}

/** The spans behind a node of the service graph: its service's, or the calls to a peer. */
export function nodeQuery(node: { id: string; type: string }): string {
  if (node.type === 'user') return spanset('kind = server', 'nestedSetParent = -1');
  const keys = peerKeys(node.type);
  if (keys) return spanset(node.type === 'messaging_system' ? '(kind = client || kind = producer)' : 'kind = client', anyOf(keys, node.id));
  return spanset(`resource.service.name = ${str(node.id)}`);
}

/** The calls of an edge: the server spans whose parent is the client's call, or the client spans to a peer. */
export function edgeQuery(edge: { client: string; server: string; connectionType: string }, serverType?: string): string {
  if (edge.client === 'user') return spanset(`resource.service.name = ${str(edge.server)}`, 'kind = server', 'nestedSetParent = -1');
  const type = serverType && serverType !== 'service' ? serverType : edge.connectionType;
  const keys = peerKeys(type);
  if (keys) return spanset(`resource.service.name = ${str(edge.client)}`, type === 'messaging_system' ? '(kind = client || kind = producer)' : 'kind = client', anyOf(keys, edge.server));
  return `${spanset(`resource.service.name = ${str(edge.client)}`, '(kind = client || kind = producer)')} > ${spanset(
    `resource.service.name = ${str(edge.server)}`,
    '(kind = server || kind = consumer)',
  )}`;
}

/** A TraceQL duration literal at or below `s` seconds (so the step's slow spans match). */
export function durationAtLeast(s: number): string {
  const ms = s * 1000;
  if (ms >= 1000) return `${Math.floor(ms) / 1000}s`;
  if (ms >= 1) return `${Math.floor(ms * 1000) / 1000}ms`;
  return `${Math.floor(ms * 1000)}us`;
}

/** The search page's URL for a TraceQL query over a range (time expressions or ms). */
export function searchHref(q: string, from: string | number, to: string | number): string {
  const t = (x: string | number) => (typeof x === 'number' ? new Date(x).toISOString() : x);
  const p = new URLSearchParams({ mode: 'traceql', q, from: t(from), to: t(to) });
  return `/search?${p}`;
}

/** The window of step `i` of an answer, in Unix ms. */
export function stepWindow(a: { start: number; step: number }, i: number): [number, number] {
  const from = (a.start + i * a.step) * 1000;
  return [from, from + a.step * 1000];
}
