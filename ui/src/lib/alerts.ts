// Alert rules (`/api/alerts/…`, see docs/alerts.md): their shapes, the calls, how their
// values read, and the form's draft of a rule (to and from the API's JSON and the URL).

import { getJson, sendJson } from './api';
import { fmtPercent, fmtRate, fmtSeconds } from './derived';
import { currentTenant, DEFAULT_TENANT } from './tenant';

export const KINDS = ['latency', 'errors', 'traceql', 'serverless'] as const;
export type AlertKind = (typeof KINDS)[number];

/** The span kinds a latency or errors rule of a service can name (as TraceQL writes them). */
export const SPAN_KINDS = ['server', 'client', 'producer', 'consumer', 'internal'] as const;

/** The tenant a rule without one reads (`X-Scope-OrgID` absent). */
export { DEFAULT_TENANT };

/** The span kind of `SPAN_KIND_CLIENT` (an operations row's kind) a rule can name, or undefined. */
export function ruleSpanKind(kind: string | null | undefined): string | undefined {
  const k = (kind ?? '').replace(/^SPAN_KIND_/, '').toLowerCase();
  return (SPAN_KINDS as readonly string[]).includes(k) ? k : undefined;
}

/** A rule as written (the file's TOML keys, the API's JSON names). */
export interface RuleSpec {
  name: string;
  kind: AlertKind;
  /** The tenant whose data the rule reads; the default tenant when absent. */
  tenant?: string;
  service?: string;
  operation?: string;
  route?: string;
  namespace?: string;
  environment?: string;
  region?: string;
  /** latency, errors of a service (not a route or an edge): only spans of this kind. */
  span_kind?: string;
  client?: string;
  server?: string;
  function?: string;
  quantile?: number;
  measure?: string;
  timeout?: string;
  query?: string;
  window: string;
  above?: number | string;
  baseline_factor?: number;
  for?: string;
  severity?: string;
  labels?: Record<string, string>;
  description?: string;
  receivers?: string[];
}

/** A time as the API writes it: RFC 3339 text, or Unix seconds / milliseconds. */
export type ApiTime = string | number | null | undefined;

/** A rule with its current state, as `GET /api/alerts/rules` lists it. */
export interface RuleStatus extends RuleSpec {
  source: 'file' | 'api' | string;
  state: 'firing' | 'pending' | 'error' | 'inactive' | string;
  since?: ApiTime;
  value?: number | null;
  threshold?: number | null;
  error?: string | null;
  exampleTraces?: string[] | null;
  silencedUntil?: ApiTime;
  /** When it was last evaluated. */
  evaluatedAt?: ApiTime;
}

export interface RulesAnswer {
  rules: RuleStatus[];
  /** Why the rules file was refused when last read (the rules in force stay). */
  fileError?: string | null;
}

export interface HistoryEntry {
  rule: string;
  from: string;
  to: string;
  at: ApiTime;
  value?: number | null;
  exampleTraces?: string[] | null;
}

/** One delivery of a test notification: `{receiver, delivered, error}`. */
export type Delivery = Record<string, unknown>;

export interface TestResult {
  rule?: string;
  value?: number | null;
  threshold?: number | null;
  /** Whether the value is above the threshold now. */
  breached?: boolean;
  exampleTraces?: string[] | null;
  /** Why the value could not be computed. */
  error?: string | null;
  deliveries?: Delivery[] | Record<string, unknown> | null;
  [k: string]: unknown;
}

// The rules are global (each names the tenant it reads): their calls send no X-Scope-OrgID.
const rulePath = (name: string) => `/api/alerts/rules/${encodeURIComponent(name)}`;

export function fetchRules(signal?: AbortSignal): Promise<RulesAnswer> {
  return getJson<RulesAnswer>('/api/alerts/rules', signal, null);
}

export function fetchHistory(limit: number, signal?: AbortSignal): Promise<{ history: HistoryEntry[] }> {
  return getJson<{ history: HistoryEntry[] }>(`/api/alerts/history?limit=${limit}`, signal, null);
}

export function createRule(rule: RuleSpec): Promise<RuleStatus | null> {
  return sendJson<RuleStatus>('POST', '/api/alerts/rules', rule, undefined, null);
}

export function updateRule(name: string, rule: RuleSpec): Promise<RuleStatus | null> {
  return sendJson<RuleStatus>('PUT', rulePath(name), rule, undefined, null);
}

export function deleteRule(name: string): Promise<unknown> {
  return sendJson('DELETE', rulePath(name), undefined, undefined, null);
}

export function testRule(name: string): Promise<TestResult | null> {
  return sendJson<TestResult>('POST', `${rulePath(name)}/test`, undefined, undefined, null);
}

/** Silences a rule `{for: "1h"}` or `{until: RFC 3339}`. */
export function silenceRule(name: string, body: { for: string } | { until: string }): Promise<unknown> {
  return sendJson('POST', `${rulePath(name)}/silence`, body, undefined, null);
}

export function endSilence(name: string): Promise<unknown> {
  return sendJson('DELETE', `${rulePath(name)}/silence`, undefined, undefined, null);
}

// --- Reading a rule -------------------------------------------------------------------

/** Unix ms of an API time, or null. */
export function timeMs(t: ApiTime): number | null {
  if (t === null || t === undefined || t === '') return null;
  if (typeof t === 'number') return t <= 0 ? null : t > 1e11 ? t : t * 1000;
  if (/^\d+(\.\d+)?$/.test(t)) return timeMs(Number(t));
  const ms = Date.parse(t);
  return Number.isNaN(ms) ? null : ms;
}

/** Whether a silence is in force now. */
export function silenced(r: RuleStatus, now = Date.now()): boolean {
  const u = timeMs(r.silencedUntil);
  return u !== null && u > now;
}

const STATE_RANK: Record<string, number> = { firing: 0, pending: 1, error: 2, inactive: 3 };

/** Firing first, then pending, error, inactive (anything else after), then by name. */
export function byState(a: RuleStatus, b: RuleStatus): number {
  const ra = STATE_RANK[a.state] ?? 4;
  const rb = STATE_RANK[b.state] ?? 4;
  if (ra !== rb) return ra - rb;
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}

/** The measure, with each kind's default (as the server takes it). */
export function measureOf(r: Pick<RuleSpec, 'kind' | 'measure'>): string {
  if (r.measure) return r.measure;
  switch (r.kind) {
    case 'latency':
      return 'quantile';
    case 'errors':
      return 'rate';
    case 'traceql':
      return 'count';
    case 'serverless':
      return 'errors';
  }
}

export type Unit = 'seconds' | 'share' | 'count' | 'rate' | 'number';

/** What a rule's value and threshold are in. */
export function unitOf(r: Pick<RuleSpec, 'kind' | 'measure' | 'query'>): Unit {
  const m = measureOf(r);
  switch (r.kind) {
    case 'latency':
      return 'seconds';
    case 'errors':
      return m === 'count' ? 'count' : 'share';
    case 'traceql':
      // A metrics query's largest value is compared: its unit is the query's own.
      if (r.query && /\|\s*[a-z_]+\s*\(/.test(r.query)) return 'number';
      return m === 'rate' ? 'rate' : 'count';
    case 'serverless':
      return m === 'timeouts' || m === 'errors' ? 'count' : 'share';
    default:
      return 'number';
  }
}

function plain(v: number): string {
  if (Number.isInteger(v)) return v.toLocaleString('en-US');
  return String(+v.toPrecision(4));
}

/** A value or threshold as people read it; `–` for none. */
export function fmtValue(unit: Unit, v: number | null | undefined): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return '–';
  switch (unit) {
    case 'seconds':
      return fmtSeconds(v);
    case 'share':
      return fmtPercent(v);
    case 'rate':
      return fmtRate(v);
    default:
      return plain(v);
  }
}

const MEASURE_LABEL: Record<string, string> = {
  rate: 'error rate',
  count: 'count',
  timeouts: 'timeouts',
  errors: 'errors',
  cold_start_rate: 'cold start rate',
  memory_share: 'memory used',
  duration_to_timeout: 'p99 duration / timeout',
};

/**
 * Where a rule's figures come from: `checkout › POST /orders (shop · prod)`; with a span
 * kind `checkout › POST /orders (client)`, or `checkout › client spans` without an operation.
 */
export function targetOf(r: RuleSpec): string {
  const place = [r.namespace, r.environment, r.region].filter(Boolean).join(' · ');
  let what: string;
  if (r.kind === 'serverless') what = r.function ? r.function : 'every function (the worst)';
  else if (r.client && r.server) what = `${r.client} → ${r.server}`;
  else {
    const op = r.operation ? (r.span_kind ? `${r.operation} (${r.span_kind})` : r.operation) : r.span_kind ? `${r.span_kind} spans` : undefined;
    what = [r.service, op ?? (r.route ? `route ${r.route}` : undefined)].filter(Boolean).join(' › ');
  }
  return place ? `${what} (${place})` : what;
}

/** `, tenant acme` for a rule reading another tenant than the default one, else `''`. */
export function tenantText(r: Pick<RuleSpec, 'tenant'>): string {
  return r.tenant && r.tenant !== DEFAULT_TENANT ? `, tenant ${r.tenant}` : '';
}

/** What the rule measures, in words (without the threshold). */
export function describeRule(r: RuleSpec): string {
  return describeFigures(r) + tenantText(r);
}

function describeFigures(r: RuleSpec): string {
  const m = measureOf(r);
  const target = targetOf(r) || '?';
  const window = r.window || '?';
  switch (r.kind) {
    case 'latency':
      return `p${Math.round((r.quantile ?? 0.95) * 100)} of ${target} over ${window}`;
    case 'errors':
      return `${m === 'count' ? 'failed calls' : 'error rate'} of ${target} over ${window}`;
    case 'traceql':
      return `${m === 'rate' ? 'matches per second' : 'matching spans'} over ${window}`;
    case 'serverless':
      return `${MEASURE_LABEL[m] ?? m} of ${target} over ${window}`;
    default:
      return `${r.kind} over ${window}`;
  }
}

/** The threshold in words: `> 500 ms`, `> 2× the baseline`. */
export function thresholdText(r: RuleStatus): string {
  const unit = unitOf(r);
  if (r.kind === 'latency' && r.baseline_factor !== undefined && r.baseline_factor !== null) {
    const t = r.threshold === null || r.threshold === undefined ? 'no baseline yet' : fmtValue(unit, r.threshold);
    return `> ${r.baseline_factor}× baseline (${t})`;
  }
  if (r.threshold !== null && r.threshold !== undefined) return `> ${fmtValue(unit, r.threshold)}`;
  if (r.above !== undefined) return `> ${typeof r.above === 'number' ? fmtValue(unit, r.above) : r.above}`;
  return '–';
}

/** `0s`, `0ns` and no `for` at all mean at once. */
export function forText(f: string | undefined): string {
  if (!f || /^0+(\.0+)?(ns|us|µs|ms|s|m|h|d)?$/.test(f)) return 'at once';
  return f;
}

// --- The form's draft ----------------------------------------------------------------

export interface Draft {
  name: string;
  kind: AlertKind;
  /** errors: a service (with operation, route, place) or an edge (client → server). */
  target: 'service' | 'edge';
  /** The tenant whose data the rule reads; empty: the default tenant. */
  tenant: string;
  service: string;
  operation: string;
  route: string;
  namespace: string;
  environment: string;
  region: string;
  /** latency, errors of a service without a route: a span kind; empty: any. */
  span_kind: string;
  client: string;
  server: string;
  function: string;
  quantile: string;
  measure: string;
  timeout: string;
  query: string;
  window: string;
  /** latency: a fixed threshold or a factor of the baseline. */
  mode: 'above' | 'baseline';
  above: string;
  baselineFactor: string;
  for: string;
  severity: string;
  labels: { key: string; value: string }[];
  description: string;
  /** Receiver names, comma separated; empty: all receivers. */
  receivers: string;
}

export function emptyDraft(kind: AlertKind = 'latency'): Draft {
  return {
    name: '',
    kind,
    target: 'service',
    tenant: '',
    service: '',
    operation: '',
    route: '',
    namespace: '',
    environment: '',
    region: '',
    span_kind: '',
    client: '',
    server: '',
    function: '',
    quantile: '0.95',
    measure: defaultMeasure(kind),
    timeout: '',
    query: '',
    window: '5m',
    mode: 'above',
    above: '',
    baselineFactor: '2',
    for: '1m',
    severity: 'warning',
    labels: [],
    description: '',
    receivers: '',
  };
}

export function defaultMeasure(kind: AlertKind): string {
  return kind === 'latency' ? '' : measureOf({ kind });
}

export const MEASURES: Record<AlertKind, [string, string][]> = {
  latency: [],
  errors: [
    ['rate', 'failed share (0–1)'],
    ['count', 'failed calls'],
  ],
  traceql: [
    ['count', 'matching spans'],
    ['rate', 'matches per second'],
  ],
  serverless: [
    ['errors', 'errors'],
    ['timeouts', 'timeouts'],
    ['cold_start_rate', 'cold start rate (0–1)'],
    ['memory_share', 'memory used / configured (0–1)'],
    ['duration_to_timeout', 'p99 duration / timeout (0–1)'],
  ],
};

const str = (v: unknown) => (v === undefined || v === null ? '' : String(v));

/** The draft of an existing rule (to edit it). */
export function draftOf(r: RuleSpec): Draft {
  const d = emptyDraft(r.kind);
  return {
    ...d,
    name: r.name,
    target: r.client || r.server ? 'edge' : 'service',
    tenant: str(r.tenant),
    service: str(r.service),
    operation: str(r.operation),
    route: str(r.route),
    namespace: str(r.namespace),
    environment: str(r.environment),
    region: str(r.region),
    span_kind: str(r.span_kind),
    client: str(r.client),
    server: str(r.server),
    function: str(r.function),
    quantile: r.quantile === undefined ? d.quantile : String(r.quantile),
    measure: r.measure ?? d.measure,
    timeout: str(r.timeout),
    query: str(r.query),
    window: str(r.window),
    mode: r.baseline_factor !== undefined && r.baseline_factor !== null ? 'baseline' : 'above',
    above: str(r.above),
    baselineFactor: r.baseline_factor === undefined || r.baseline_factor === null ? d.baselineFactor : String(r.baseline_factor),
    for: r.for ?? '0s',
    severity: r.severity ?? 'warning',
    labels: Object.entries(r.labels ?? {}).map(([key, value]) => ({ key, value })),
    description: str(r.description),
    receivers: (r.receivers ?? []).join(', '),
  };
}

/** A number when the text is one, else the text as written (the server says what is wrong). */
function numberOr(text: string): number | string {
  const t = text.trim();
  return /^[-+]?(\d+\.?\d*|\.\d+)(e[-+]?\d+)?$/i.test(t) ? Number(t) : t;
}

/** Whether the draft's rule can name a span kind: latency or errors of a service, not of a route. */
export function takesSpanKind(d: Pick<Draft, 'kind' | 'target' | 'route'>): boolean {
  return (d.kind === 'latency' || (d.kind === 'errors' && d.target === 'service')) && d.route.trim() === '';
}

/** The rule the draft describes, with only the fields of its kind (empty ones left out). */
export function ruleOf(d: Draft): RuleSpec {
  const r: RuleSpec = { name: d.name.trim(), kind: d.kind, window: d.window.trim() };
  const set = <K extends keyof RuleSpec>(k: K, v: string) => {
    const t = v.trim();
    if (t !== '') (r as unknown as Record<string, unknown>)[k] = t;
  };
  set('tenant', d.tenant);
  const place = () => {
    set('namespace', d.namespace);
    set('environment', d.environment);
    set('region', d.region);
    if (takesSpanKind(d)) set('span_kind', d.span_kind);
  };
  switch (d.kind) {
    case 'latency':
      set('service', d.service);
      set('operation', d.operation);
      set('route', d.route);
      place();
      if (d.quantile.trim()) r.quantile = numberOr(d.quantile) as number;
      break;
    case 'errors':
      if (d.target === 'edge') {
        set('client', d.client);
        set('server', d.server);
      } else {
        set('service', d.service);
        set('operation', d.operation);
        set('route', d.route);
        place();
      }
      set('measure', d.measure);
      break;
    case 'traceql':
      set('query', d.query);
      set('measure', d.measure);
      break;
    case 'serverless':
      set('function', d.function);
      set('measure', d.measure);
      if (d.measure === 'duration_to_timeout') set('timeout', d.timeout);
      break;
  }
  if (d.kind === 'latency' && d.mode === 'baseline') {
    if (d.baselineFactor.trim()) r.baseline_factor = numberOr(d.baselineFactor) as number;
  } else if (d.above.trim()) {
    r.above = numberOr(d.above);
  }
  set('for', d.for);
  set('severity', d.severity);
  const labels = d.labels.filter((l) => l.key.trim());
  if (labels.length) r.labels = Object.fromEntries(labels.map((l) => [l.key.trim(), l.value]));
  set('description', d.description);
  const receivers = d.receivers
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (receivers.length) r.receivers = receivers;
  return r;
}

/** The URL parameters a prefilled new rule takes (`/alerts?new=<kind>&…`). */
export const PREFILL_KEYS = [
  'name',
  'service',
  'operation',
  'route',
  'namespace',
  'environment',
  'region',
  'span_kind',
  'tenant',
  'client',
  'server',
  'function',
  'quantile',
  'measure',
  'timeout',
  'query',
  'window',
  'above',
  'for',
  'severity',
] as const;
export type Prefill = Partial<Record<(typeof PREFILL_KEYS)[number], string>>;

/** A name allowed by the server (letters, digits, `-`, `_`, `.`, space; ≤ 128). */
export function safeName(text: string): string {
  return text
    .replace(/[^\p{L}\p{N}\-_. ]+/gu, ' ')
    .replace(/\s+/g, ' ')
    .trim()
    .slice(0, 128)
    .trim();
}

/** A suggested name for a new rule of `kind` over `p`. */
export function suggestName(kind: AlertKind, p: Prefill): string {
  const m = p.measure ?? defaultMeasure(kind);
  // The span kind is part of the name: an operation's client and server spans are two rules.
  const target = [p.service, p.operation ?? p.route, p.span_kind].filter(Boolean).join(' ');
  switch (kind) {
    case 'latency':
      return safeName(`${target} p${Math.round(Number(p.quantile ?? 0.95) * 100)}`);
    case 'errors':
      return safeName(`${p.client && p.server ? `${p.client} to ${p.server}` : target} errors`);
    case 'traceql': {
      // `{ resource.service.name = "checkout" && status = error }` → `checkout status error`.
      const q = safeName((p.query ?? '').replace(/[\w.]+\s*(?:=|=~)\s*"([^"]*)"/g, '$1').replace(/\b(resource|span)\./g, '')).slice(0, 60).trim();
      return safeName(q ? `${q} matches` : 'query matches');
    }
    case 'serverless':
      return safeName(`${p.function || 'functions'} ${(MEASURE_LABEL[m] ?? m).replace(/\//g, 'to')}`);
  }
}

/** The name to suggest for a draft (from its fields), or `''` when it names nothing yet. */
export function draftSuggestion(d: Draft): string {
  const p: Prefill = {};
  const put = (k: keyof Prefill, v: string) => {
    if (v.trim()) p[k] = v.trim();
  };
  if (d.kind === 'errors' && d.target === 'edge') {
    put('client', d.client);
    put('server', d.server);
  } else if (d.kind === 'latency' || d.kind === 'errors') {
    put('service', d.service);
    put('operation', d.operation);
    put('route', d.route);
    if (takesSpanKind(d)) put('span_kind', d.span_kind);
  }
  if (d.kind === 'traceql') put('query', d.query);
  if (d.kind === 'serverless') put('function', d.function);
  if (Object.keys(p).length === 0) return '';
  put('measure', d.measure);
  put('quantile', d.quantile);
  return suggestName(d.kind, p);
}

/** The draft of a new rule of `kind`, prefilled (from "alert on this"). */
export function draftFrom(kind: AlertKind, p: Prefill): Draft {
  const d = emptyDraft(kind);
  for (const k of PREFILL_KEYS) {
    const v = p[k];
    if (v !== undefined && k in d) (d as unknown as Record<string, unknown>)[k] = v;
  }
  if (p.client || p.server) d.target = 'edge';
  if (!p.name && Object.keys(p).length > 0) d.name = suggestName(kind, p);
  return d;
}

/**
 * `/search?…` of the traces a TraceQL rule matches over its window (not of a metrics query,
 * which the search does not run), or null. Without the tenant (see `hrefInTenant`).
 */
export function matchingTracesHref(r: Pick<RuleSpec, 'kind' | 'query' | 'window'>): string | null {
  const q = r.query?.trim();
  if (r.kind !== 'traceql' || !q || /\|\s*[a-z_]+\s*\(/.test(q)) return null;
  const u = new URLSearchParams({ mode: 'traceql', q });
  const w = r.window?.trim() ?? '';
  if (/^\d+(s|m|h|d|w)$/.test(w)) u.set('from', `now-${w}`);
  return `/search?${u}`;
}

/**
 * `/alerts?new=<kind>&…`: the form of a new rule, prefilled. Its tenant is the one whose
 * data the page showed (the current one), unless `p` names one.
 */
export function newRuleHref(kind: AlertKind, p: Prefill): string {
  const u = new URLSearchParams({ new: kind });
  const tenant = currentTenant();
  const q: Prefill = tenant !== DEFAULT_TENANT && !p.tenant ? { ...p, tenant } : p;
  for (const k of PREFILL_KEYS) {
    const v = q[k];
    if (v !== undefined && v !== '') u.set(k, v);
  }
  return `/alerts?${u}`;
}

/** A latency threshold a little above `seconds` (×1.5, two significant digits): `250ms`, `1.5s`. */
export function latencyAbove(seconds: number | null | undefined): string | undefined {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds) || seconds <= 0) return undefined;
  const ms = seconds * 1500;
  const mag = Math.pow(10, Math.floor(Math.log10(ms)) - 1);
  const up = Math.ceil(ms / mag) * mag;
  const r = +up.toPrecision(2);
  return r >= 1000 ? `${+(r / 1000).toPrecision(3)}s` : `${r}ms`;
}
