// The form of an alert rule, for every kind (latency, errors, traceql, serverless) with
// the fields of docs/alerts.md. The server checks the rule: a field it refuses comes back
// as its own message (`400: …`), shown above the buttons.

import type { ComponentChildren } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { errorText } from '../lib/api';
import {
  createRule,
  DEFAULT_TENANT,
  describeRule,
  draftSuggestion,
  KINDS,
  MEASURES,
  defaultMeasure,
  ruleOf,
  SPAN_KINDS,
  takesSpanKind,
  tenantText,
  updateRule,
  type AlertKind,
  type Draft,
} from '../lib/alerts';
import { fetchServerless, fetchServices, type DerivedFilters } from '../lib/derived';
import { tenantError } from '../lib/tenant';
import { QueryEditor } from './QueryEditor';

const KIND_LABEL: Record<AlertKind, string> = {
  latency: 'Latency',
  errors: 'Errors',
  traceql: 'TraceQL',
  serverless: 'Serverless',
};
const KIND_HINT: Record<AlertKind, string> = {
  latency: "a quantile of a service's, an operation's or a route's duration",
  errors: 'the failed share (or count) of a service, an operation, a route or an edge',
  traceql: 'the spans a TraceQL filter matches (or the largest value of a metrics query)',
  serverless: "a function's errors, timeouts, cold starts, memory or duration against its timeout",
};

/** What the pickers offer: the names the derived views of the last hour hold. */
interface Known {
  services: string[];
  operations: Map<string, string[]>;
  functions: string[];
  filters: DerivedFilters;
}

/** The names in the rule's tenant (the draft's; a bad or unfinished one reads the default tenant). */
function useKnown(service: string, draftTenant: string): Known {
  const [known, setKnown] = useState<Known>({ services: [], operations: new Map(), functions: [], filters: {} });
  const first = useRef(true);
  const t = draftTenant.trim();
  const tenant = t && tenantError(t) === null ? t : DEFAULT_TENANT;
  useEffect(() => {
    const ctl = new AbortController();
    const ask = () => {
      const end = Date.now() / 1000;
      const start = end - 3600;
      fetchServices({ startSec: start, endSec: end }, ctl.signal, tenant).then(
        (a) => setKnown((k) => ({ ...k, services: a.services.map((s) => s.service).sort(), filters: { ...k.filters, ...a.filters } })),
        () => undefined,
      );
      fetchServerless({ startSec: start, endSec: end }, ctl.signal, tenant).then(
        (a) => setKnown((k) => ({ ...k, functions: a.functions.map((f) => f.function).sort() })),
        () => undefined,
      );
    };
    if (first.current) {
      first.current = false;
      ask();
      return () => ctl.abort();
    }
    // Another tenant: its names, once the field has settled (not one request per key typed).
    setKnown({ services: [], operations: new Map(), functions: [], filters: {} });
    const timer = setTimeout(ask, 300);
    return () => {
      clearTimeout(timer);
      ctl.abort();
    };
  }, [tenant]);
  // The operations of the service typed, once it is one the data has.
  useEffect(() => {
    if (!service || !known.services.includes(service) || known.operations.has(service)) return;
    const end = Date.now() / 1000;
    fetchServices({ startSec: end - 3600, endSec: end, service }, undefined, tenant).then(
      (a) =>
        setKnown((k) => {
          const ops = new Map(k.operations);
          ops.set(service, [...new Set((a.operations ?? []).filter((o) => o.service === service).map((o) => o.name))].sort());
          return { ...k, operations: ops };
        }),
      () => undefined,
    );
  }, [service, known.services]);
  return known;
}

export function RuleForm({ initial, editing, onSaved, onCancel }: { initial: Draft; editing: string | null; onSaved: (name: string) => void; onCancel: () => void }) {
  const [d, setD] = useState<Draft>(initial);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  // A new rule's name follows its fields (a suggestion) until it is typed.
  const [autoName, setAutoName] = useState(editing === null);
  useEffect(() => {
    setD(initial);
    setError(null);
    setAutoName(editing === null);
  }, [initial]);
  const known = useKnown(d.kind === 'latency' || d.kind === 'errors' ? d.service : '', d.tenant);
  const set = (changes: Partial<Draft>) => {
    if ('name' in changes) setAutoName(false);
    setD((x) => {
      const next = { ...x, ...changes };
      if (autoName && !('name' in changes)) {
        const name = draftSuggestion(next);
        if (name) next.name = name;
      }
      return next;
    });
  };
  const rule = ruleOf(d);

  const submit = async () => {
    setBusy(true);
    setError(null);
    try {
      const saved = editing ? await updateRule(editing, rule) : await createRule(rule);
      onSaved(saved?.name ?? rule.name);
    } catch (e) {
      setError(errorText(e));
    } finally {
      setBusy(false);
    }
  };

  const text = (field: keyof Draft, label: string, opts: { placeholder?: string; list?: string; hint?: ComponentChildren; wide?: boolean; disabled?: boolean } = {}) => (
    <label class={opts.wide ? 'wide' : ''}>
      <span>{label}</span>
      <input
        data-testid={`rule-${field}`}
        name={field}
        value={d[field] as string}
        placeholder={opts.placeholder}
        list={opts.list}
        disabled={opts.disabled}
        spellcheck={false}
        autocomplete="off"
        onInput={(e) => set({ [field]: e.currentTarget.value } as Partial<Draft>)}
      />
      {opts.hint && <small class="field-hint">{opts.hint}</small>}
    </label>
  );
  const place = (
    <>
      {text('namespace', 'Namespace', { placeholder: 'any', list: 'dl-namespace' })}
      {text('environment', 'Environment', { placeholder: 'any', list: 'dl-environment' })}
      {text('region', 'Region', { placeholder: 'any', list: 'dl-region' })}
    </>
  );
  // A span kind narrows a service's figures (not a route's): hidden, and left out of the
  // rule, while a route is given.
  const spanKind = takesSpanKind(d) && (
    <label>
      <span>Span kind</span>
      <select data-testid="rule-span_kind" name="span_kind" value={d.span_kind} onChange={(e) => set({ span_kind: e.currentTarget.value })}>
        <option value="">any (entry spans when no operation)</option>
        {SPAN_KINDS.map((k) => (
          <option value={k}>{k}</option>
        ))}
      </select>
    </label>
  );
  const what = (
    <>
      {text('service', 'Service', { list: 'dl-services', placeholder: 'checkout' })}
      {text('operation', 'Operation (span name)', { list: 'dl-operations', placeholder: d.span_kind ? `all ${d.span_kind} spans` : 'all entry spans' })}
      {text('route', 'Route (http.route)', { placeholder: 'any' })}
      {spanKind}
    </>
  );
  const tenant = text('tenant', 'Tenant', { placeholder: DEFAULT_TENANT, hint: 'whose data the rule reads (X-Scope-OrgID)' });
  const measure = d.kind !== 'latency' && (
    <label>
      <span>Measure</span>
      <select data-testid="rule-measure" value={d.measure} onChange={(e) => set({ measure: e.currentTarget.value })}>
        {MEASURES[d.kind].map(([m, label]) => (
          <option value={m}>{label}</option>
        ))}
      </select>
    </label>
  );
  const aboveHint = (() => {
    if (d.kind === 'latency') return 'seconds, or a duration: 500ms, 1.5s';
    if (d.kind === 'errors') return d.measure === 'count' ? 'failed calls in the window' : 'a share: 0.05 is 5 %';
    if (d.kind === 'traceql') return d.measure === 'rate' ? 'matches per second' : 'matching spans in the window';
    return d.measure === 'errors' || d.measure === 'timeouts' ? 'a count in the window' : 'a share: 0.9 is 90 %';
  })();

  return (
    <form
      class="panel rule-form"
      data-testid="rule-form"
      onSubmit={(e) => {
        e.preventDefault();
        if (!busy) void submit();
      }}
    >
      <div class="rule-form-head">
        <h2>{editing ? `Edit rule “${editing}”` : 'New alert rule'}</h2>
        <div class="tabs" role="tablist" aria-label="Kind">
          {KINDS.map((k) => (
            <button
              type="button"
              role="tab"
              aria-selected={d.kind === k}
              class={d.kind === k ? 'active' : ''}
              data-testid={`rule-kind-${k}`}
              onClick={() => set({ kind: k, measure: k === d.kind ? d.measure : defaultMeasure(k) })}
            >
              {KIND_LABEL[k]}
            </button>
          ))}
        </div>
        <span class="muted small">{KIND_HINT[d.kind]}</span>
      </div>

      <fieldset class="form-grid rule-grid">
        <legend class="sr-only">What the rule watches</legend>
        {text('name', 'Name', {
          placeholder: 'checkout p95',
          disabled: editing !== null,
          hint: editing ? 'A rule is replaced under its name.' : 'letters, digits, - _ . and spaces',
          wide: d.kind !== 'errors',
        })}
        {d.kind === 'latency' && (
          <>
            {what}
            {place}
          </>
        )}
        {d.kind === 'errors' && (
          <>
            <label>
              <span>Of</span>
              <select data-testid="rule-target" value={d.target} onChange={(e) => set({ target: e.currentTarget.value as Draft['target'] })}>
                <option value="service">a service</option>
                <option value="edge">an edge (client → server)</option>
              </select>
            </label>
            {d.target === 'edge' ? (
              <>
                {text('client', 'Client', { list: 'dl-services', placeholder: 'frontend' })}
                {text('server', 'Server', { list: 'dl-services', placeholder: 'checkout' })}
              </>
            ) : (
              <>
                {what}
                {place}
              </>
            )}
          </>
        )}
        {tenant}
        {d.kind === 'traceql' && (
          <>
            <label class="full">
              <span>TraceQL</span>
              <QueryEditor value={d.query} onChange={(query) => set({ query })} onRun={() => void submit()} testid="rule-query" label="The rule's TraceQL query" />
            </label>
          </>
        )}
        {d.kind === 'serverless' && (
          <>
            {text('function', 'Function (faas.name)', { list: 'dl-functions', placeholder: 'all functions (the worst counts)' })}
          </>
        )}
      </fieldset>

      <fieldset class="form-grid rule-grid">
        <legend class="sr-only">When it fires</legend>
        {text('window', 'Window', { placeholder: '5m', hint: 'the value is computed over this (15s – 24h)' })}
        {d.kind === 'latency' && (
          <label>
            <span>Quantile</span>
            <select data-testid="rule-quantile" value={d.quantile} onChange={(e) => set({ quantile: e.currentTarget.value })}>
              {['0.5', '0.9', '0.95', '0.99'].map((q) => (
                <option value={q}>p{Math.round(Number(q) * 100)}</option>
              ))}
            </select>
          </label>
        )}
        {measure}
        {d.kind === 'serverless' && d.measure === 'duration_to_timeout' && text('timeout', 'Timeout', { placeholder: '3s', hint: "the function's configured timeout" })}
        {d.kind === 'latency' && (
          <label>
            <span>Fires when</span>
            <select data-testid="rule-mode" value={d.mode} onChange={(e) => set({ mode: e.currentTarget.value as Draft['mode'] })}>
              <option value="above">above a threshold</option>
              <option value="baseline">above a multiple of the baseline</option>
            </select>
          </label>
        )}
        {d.kind === 'latency' && d.mode === 'baseline'
          ? text('baselineFactor', 'Baseline factor', { placeholder: '2', hint: 'times the same quantile a day to a week earlier (the median day)' })
          : text('above', 'Above', { placeholder: d.kind === 'latency' ? '500ms' : '0', hint: aboveHint })}
        {text('for', 'For', { placeholder: '0s', hint: 'how long it must hold (0s: at once)' })}
        {text('severity', 'Severity', { list: 'dl-severity', placeholder: 'warning' })}
        {text('receivers', 'Receivers', { placeholder: 'all receivers', hint: 'names from alerts.receivers, comma separated' })}
        {text('description', 'Description', {
          placeholder: '{{name}}: {{value}} above {{threshold}} over {{window}}',
          hint: '{{name}} {{value}} {{threshold}} {{service}} {{operation}} {{route}} {{function}} {{window}}',
          wide: true,
        })}
      </fieldset>

      <div class="rule-labels">
        <span class="attrs-title">Labels</span>
        {d.labels.map((l, i) => (
          <div class="attr-row">
            <input
              aria-label="Label name"
              data-testid="rule-label-key"
              placeholder="team"
              value={l.key}
              onInput={(e) => set({ labels: d.labels.map((x, j) => (j === i ? { ...x, key: e.currentTarget.value } : x)) })}
            />
            <span class="muted">=</span>
            <input
              aria-label="Label value"
              data-testid="rule-label-value"
              placeholder="shop"
              value={l.value}
              onInput={(e) => set({ labels: d.labels.map((x, j) => (j === i ? { ...x, value: e.currentTarget.value } : x)) })}
            />
            <button type="button" class="icon-button" aria-label="Remove label" onClick={() => set({ labels: d.labels.filter((_, j) => j !== i) })}>
              ×
            </button>
          </div>
        ))}
        <button type="button" class="button subtle" data-testid="rule-add-label" onClick={() => set({ labels: [...d.labels, { key: '', value: '' }] })}>
          + label
        </button>
      </div>

      <div class="built-query rule-summary">
        <span class="muted">Fires on</span>
        <span data-testid="rule-summary">
          {d.kind === 'traceql' ? (
            <>
              {d.measure === 'rate' ? 'matches per second of ' : 'spans matching '}
              <code>{d.query.trim() || '?'}</code> over {rule.window || '?'}
              {tenantText(rule)}
            </>
          ) : (
            describeRule(rule)
          )}
          {d.kind === 'latency' && d.mode === 'baseline' ? ` above ${d.baselineFactor || '?'}× the baseline` : ` above ${d.above.trim() || '?'}`}
          {`, held ${d.for.trim() && !/^0+[a-z]*$/.test(d.for.trim()) ? `for ${d.for.trim()}` : 'at once'}`}
        </span>
        <details class="rule-json">
          <summary class="muted small">JSON</summary>
          <pre data-testid="rule-json">{JSON.stringify(rule, null, 2)}</pre>
        </details>
      </div>

      {error && (
        <div class="message error" role="alert" data-testid="rule-form-error">
          <strong>The server refused the rule</strong>
          <pre>{error}</pre>
        </div>
      )}
      <div class="form-actions">
        <button class="button primary" type="submit" data-testid="rule-submit" disabled={busy}>
          {busy ? 'Saving…' : editing ? 'Save rule' : 'Create rule'}
        </button>
        <button class="button" type="button" data-testid="rule-cancel" onClick={onCancel}>
          Cancel
        </button>
      </div>

      <datalist id="dl-services">
        {known.services.map((s) => (
          <option value={s} />
        ))}
      </datalist>
      <datalist id="dl-operations">
        {(known.operations.get(d.service) ?? []).map((s) => (
          <option value={s} />
        ))}
      </datalist>
      <datalist id="dl-functions">
        {known.functions.map((s) => (
          <option value={s} />
        ))}
      </datalist>
      {(['namespace', 'environment', 'region'] as const).map((f) => (
        <datalist id={`dl-${f}`}>
          {(known.filters[f] ?? []).map((s) => (
            <option value={s} />
          ))}
        </datalist>
      ))}
      <datalist id="dl-severity">
        {['critical', 'warning', 'info'].map((s) => (
          <option value={s} />
        ))}
      </datalist>
    </form>
  );
}
