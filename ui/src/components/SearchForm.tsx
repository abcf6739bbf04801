// The search form: the common conditions, any attribute = value, and the serverless
// quick filters (one click each). It shows the TraceQL it builds.

import { useEffect, useRef, useState } from 'preact/hooks';
import type { TagValue } from '../lib/api';
import { errorText } from '../lib/api';
import { EVENT_TYPES } from '../lib/console';
import { allTagNames, valuesOf } from '../lib/tags';
import { buildQuery, literal, tokenize, type AttrCond, type FormState } from '../lib/traceql';
import { parseDuration } from '../lib/time';

interface Quick {
  id: string;
  label: string;
  /** candidate attribute keys, newest convention first; the first one the data has is used */
  keys?: string[];
  kind?: 'service' | 'errors' | 'cold' | 'duration';
}

const GROUPS: { title: string; items: Quick[] }[] = [
  {
    title: 'Service',
    items: [
      { id: 'service', label: 'Service', kind: 'service' },
      { id: 'namespace', label: 'Namespace', keys: ['service.namespace'] },
      { id: 'environment', label: 'Environment', keys: ['deployment.environment.name', 'deployment.environment'] },
      { id: 'region', label: 'Region', keys: ['cloud.region'] },
    ],
  },
  {
    title: 'API',
    items: [
      { id: 'endpoint', label: 'Endpoint', keys: ['http.route', 'http.path', 'url.path'] },
      { id: 'method', label: 'Method', keys: ['http.request.method', 'http.method'] },
      { id: 'status-code', label: 'Status code', keys: ['http.response.status_code', 'http.status_code'] },
    ],
  },
  {
    title: 'Function',
    items: [
      { id: 'function', label: 'Function', keys: ['faas.name'] },
      { id: 'errors', label: 'Errors', kind: 'errors' },
      { id: 'coldstart', label: 'Cold start', kind: 'cold' },
      { id: 'duration', label: 'Duration', kind: 'duration' },
    ],
  },
];

const DURATION_PRESETS = ['10ms', '100ms', '500ms', '1s', '5s', '10s'];

export function SearchForm({ form, onChange, onRun }: { form: FormState; onChange: (f: FormState) => void; onRun: (f: FormState) => void }) {
  const [present, setPresent] = useState<Set<string>>(new Set());
  useEffect(() => {
    allTagNames().then(
      (t) => setPresent(new Set(t.scopes.filter((s) => s.name === 'span' || s.name === 'resource').flatMap((s) => s.tags))),
      () => setPresent(new Set()),
    );
  }, []);
  const keyOf = (q: Quick) => q.keys!.find((k) => present.has(k)) ?? q.keys![0]!;
  const setAttr = (f: FormState, key: string, value: string | null): FormState => {
    const attrs = f.attrs.filter((a) => !(a.key === key && a.op === '='));
    if (value !== null) attrs.push({ key, op: '=', value });
    return { ...f, attrs };
  };
  const attrValue = (key: string) => form.attrs.find((a) => a.key === key && a.op === '=')?.value;
  const query = buildQuery(form);
  const durError = [form.minDuration, form.maxDuration].some((d) => d.trim() !== '' && parseDuration(d) === null);

  return (
    <form
      class="search-form"
      data-testid="search-form"
      onSubmit={(e) => {
        e.preventDefault();
        onRun(form);
      }}
    >
      <div class="quick-filters" data-testid="quick-filters">
        {GROUPS.map((g) => (
          <div class="quick-group">
            <span class="quick-title">{g.title}</span>
            {g.items.map((q) => {
              if (q.kind === 'errors') {
                const on = form.status === 'failed';
                return (
                  <button type="button" class={`chip ${on ? 'on' : ''}`} aria-pressed={on} data-testid="quick-errors" title="status = error, or faas.error / faas.error_timeout true" onClick={() => onRun({ ...form, status: on ? '' : 'failed' })}>
                    Errors
                  </button>
                );
              }
              if (q.kind === 'cold') {
                const on = attrValue('faas.coldstart') === 'true';
                return (
                  <button type="button" class={`chip ${on ? 'on' : ''}`} aria-pressed={on} data-testid="quick-coldstart" onClick={() => onRun(setAttr(form, 'faas.coldstart', on ? null : 'true'))}>
                    Cold start
                  </button>
                );
              }
              if (q.kind === 'duration') {
                return (
                  <ChipMenu
                    id={q.id}
                    label={q.label}
                    value={form.minDuration ? `≥ ${form.minDuration}` : undefined}
                    load={async () => DURATION_PRESETS.map((d) => ({ type: 'duration', value: d }))}
                    render={(v) => `≥ ${v.value}`}
                    onPick={(v) => onRun({ ...form, minDuration: v === null ? '' : v.value })}
                  />
                );
              }
              if (q.kind === 'service') {
                return (
                  <ChipMenu
                    id={q.id}
                    label={q.label}
                    value={form.service || undefined}
                    load={() => valuesOf('resource.service.name')}
                    onPick={(v) => onRun({ ...form, service: v === null ? '' : v.value })}
                  />
                );
              }
              const key = keyOf(q);
              const current = attrValue(key);
              return (
                <ChipMenu
                  id={q.id}
                  label={q.label}
                  value={current === undefined ? undefined : unquote(current)}
                  title={key}
                  load={() => valuesOf(`.${key}`)}
                  onPick={(v) => onRun(setAttr(form, key, v === null ? null : v.type === 'string' ? JSON.stringify(v.value) : literal(v.value, v.type)))}
                />
              );
            })}
          </div>
        ))}
        <div class="quick-group" data-testid="quick-events">
          <span class="quick-title">Events</span>
          {EVENT_TYPES.map((t) => {
            const on = (form.events ?? []).includes(t.id);
            const events = on ? (form.events ?? []).filter((e) => e !== t.id) : [...(form.events ?? []), t.id];
            return (
              <button type="button" class={`chip ${on ? 'on' : ''}`} aria-pressed={on} data-testid={`quick-event-${t.id}`} onClick={() => onRun({ ...form, events })}>
                {t.label}
              </button>
            );
          })}
          <input
            class="chip-input"
            placeholder="message contains…"
            aria-label="Event message contains"
            data-testid="quick-event-text"
            value={form.eventText ?? ''}
            onInput={(e) => onChange({ ...form, eventText: e.currentTarget.value })}
            onKeyDown={(e) => {
              if (e.key === 'Enter') {
                e.preventDefault();
                onRun({ ...form, eventText: e.currentTarget.value });
              }
            }}
          />
        </div>
      </div>

      <div class="form-grid">
        <label>
          <span>Service</span>
          <ValueInput tag="resource.service.name" value={form.service} placeholder="any" testid="form-service" onInput={(v) => onChange({ ...form, service: v })} />
        </label>
        <label>
          <span>Span name</span>
          <ValueInput tag="name" value={form.name} placeholder="any" testid="form-name" onInput={(v) => onChange({ ...form, name: v })} />
        </label>
        <label>
          <span>Status</span>
          <select value={form.status} data-testid="form-status" onChange={(e) => onChange({ ...form, status: e.currentTarget.value as FormState['status'] })}>
            <option value="">any</option>
            <option value="error">error</option>
            <option value="ok">ok</option>
            <option value="unset">unset</option>
            <option value="failed">failed (error, faas.error or faas.error_timeout)</option>
          </select>
        </label>
        <label>
          <span>Span duration</span>
          <div class="range-inputs">
            <input value={form.minDuration} placeholder="min, e.g. 100ms" aria-label="Minimum duration" data-testid="form-min-duration" onInput={(e) => onChange({ ...form, minDuration: e.currentTarget.value })} />
            <span class="muted">–</span>
            <input value={form.maxDuration} placeholder="max" aria-label="Maximum duration" data-testid="form-max-duration" onInput={(e) => onChange({ ...form, maxDuration: e.currentTarget.value })} />
          </div>
        </label>
      </div>
      {durError && <p class="hint error-text">Durations look like 250ms, 1.5s or 2m.</p>}

      <div class="attrs">
        <span class="attrs-title">Attributes</span>
        {form.attrs.map((a, i) => (
          <AttrRow
            cond={a}
            index={i}
            onChange={(c) => onChange({ ...form, attrs: form.attrs.map((x, j) => (j === i ? c : x)) })}
            onRemove={() => onChange({ ...form, attrs: form.attrs.filter((_, j) => j !== i) })}
          />
        ))}
        <button type="button" class="button subtle" data-testid="add-attr" onClick={() => onChange({ ...form, attrs: [...form.attrs, { key: '', op: '=', value: '' }] })}>
          + attribute
        </button>
      </div>

      <div class="built-query">
        <span class="muted">TraceQL</span>
        <code data-testid="built-query">
          {tokenize(query).map((t) => (
            <span class={`tok-${t.kind}`}>{t.text}</span>
          ))}
        </code>
      </div>
    </form>
  );
}

function unquote(v: string): string {
  return /^".*"$/.test(v) ? (JSON.parse(v) as string) : v;
}

function AttrRow({ cond, index, onChange, onRemove }: { cond: AttrCond; index: number; onChange: (c: AttrCond) => void; onRemove: () => void }) {
  const [keys, setKeys] = useState<string[]>([]);
  useEffect(() => {
    allTagNames().then(
      (t) => setKeys([...new Set(t.scopes.filter((s) => s.name === 'span' || s.name === 'resource').flatMap((s) => s.tags))].sort()),
      () => {},
    );
  }, []);
  const listId = `attr-keys-${index}`;
  return (
    <div class="attr-row" data-testid="attr-row">
      <input list={listId} value={cond.key} placeholder="attribute, e.g. http.route" aria-label="Attribute name" data-testid="attr-key" onInput={(e) => onChange({ ...cond, key: e.currentTarget.value })} />
      <datalist id={listId}>
        {keys.map((k) => (
          <option value={k} />
        ))}
      </datalist>
      <select value={cond.op} aria-label="Operator" onChange={(e) => onChange({ ...cond, op: e.currentTarget.value })}>
        {['=', '!=', '=~', '!~', '>', '>=', '<', '<='].map((o) => (
          <option value={o}>{o}</option>
        ))}
      </select>
      <ValueInput tag={cond.key ? `.${cond.key}` : ''} value={cond.value} placeholder="value" testid="attr-value" onInput={(v) => onChange({ ...cond, value: v })} />
      <button type="button" class="icon-button" aria-label="Remove attribute" onClick={onRemove}>
        ×
      </button>
    </div>
  );
}

let inputSeq = 0;

/** A text input offering the tag's known values. */
function ValueInput({ tag, value, placeholder, testid, onInput }: { tag: string; value: string; placeholder: string; testid: string; onInput: (v: string) => void }) {
  const [values, setValues] = useState<string[]>([]);
  const id = useRef(`values-${++inputSeq}`);
  const load = () => {
    if (!tag || tag === '.') return;
    valuesOf(tag).then(
      (v) => setValues(v.map((x) => x.value)),
      () => setValues([]),
    );
  };
  return (
    <>
      <input list={id.current} value={value} placeholder={placeholder} data-testid={testid} onFocus={load} onInput={(e) => onInput(e.currentTarget.value)} />
      <datalist id={id.current}>
        {values.map((v) => (
          <option value={v} />
        ))}
      </datalist>
    </>
  );
}

/** A quick filter: a chip that lists the values to pick from; one click applies one. */
function ChipMenu({
  id,
  label,
  value,
  title,
  load,
  render,
  onPick,
}: {
  id: string;
  label: string;
  value: string | undefined;
  title?: string;
  load: () => Promise<TagValue[]>;
  render?: (v: TagValue) => string;
  onPick: (v: TagValue | null) => void;
}) {
  const [open, setOpen] = useState(false);
  const [values, setValues] = useState<TagValue[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [filter, setFilter] = useState('');
  const box = useRef<HTMLDivElement>(null);
  useEffect(() => {
    if (!open) return;
    setError(null);
    load().then(setValues, (e) => setError(errorText(e)));
    const close = (e: MouseEvent) => {
      if (box.current && !box.current.contains(e.target as Node)) setOpen(false);
    };
    document.addEventListener('mousedown', close);
    return () => document.removeEventListener('mousedown', close);
  }, [open]);
  const shown = (values ?? []).filter((v) => v.value.toLowerCase().includes(filter.toLowerCase()));
  return (
    <div class="popover-anchor" ref={box}>
      <button
        type="button"
        class={`chip ${value !== undefined ? 'on' : ''}`}
        data-testid={`quick-${id}`}
        title={title}
        aria-haspopup="listbox"
        aria-expanded={open}
        onClick={() => setOpen(!open)}
      >
        {label}
        {value !== undefined && <span class="chip-value">: {value}</span>}
        <span class="caret" aria-hidden="true">
          ▾
        </span>
      </button>
      {open && (
        <div class="popover chip-popover" data-testid={`quick-${id}-menu`}>
          {(values?.length ?? 0) > 8 && <input class="chip-filter" placeholder="Filter…" value={filter} onInput={(e) => setFilter(e.currentTarget.value)} autoFocus />}
          {error && <p class="hint error-text">{error}</p>}
          {values === null && !error && <p class="hint">Loading…</p>}
          {values !== null && values.length === 0 && <p class="hint">No values{title ? ` of ${title}` : ''} in the data.</p>}
          <ul role="listbox">
            {value !== undefined && (
              <li>
                <button
                  type="button"
                  class="menu-item muted"
                  onClick={() => {
                    onPick(null);
                    setOpen(false);
                  }}
                >
                  Clear
                </button>
              </li>
            )}
            {shown.slice(0, 300).map((v) => (
              <li>
                <button
                  type="button"
                  role="option"
                  class="menu-item"
                  onClick={() => {
                    onPick(v);
                    setOpen(false);
                  }}
                >
                  {render ? render(v) : v.value}
                </button>
              </li>
            ))}
          </ul>
        </div>
      )}
    </div>
  );
}
