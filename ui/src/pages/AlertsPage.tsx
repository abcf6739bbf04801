// Alerts: the rules with their state (firing first), value and threshold, their example
// traces, and the history of transitions (`/api/alerts/…`, docs/alerts.md). A selected rule
// shows its details and what can be done with it: silence, end a silence, test-fire,
// edit and delete (rules from the API; those of the rules file are read-only). The form
// creates and edits rules; "alert on this" elsewhere opens it prefilled
// (`/alerts?new=<kind>&service=…`). The state filter, the sort, the selection and the
// open form live in the URL; the lists refresh every few seconds.

import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { DataTable, type Column } from '../components/DataTable';
import { RuleForm } from '../components/RuleForm';
import { BellIcon } from '../components/Icons';
import { LoadError, Stat } from '../components/ViewBits';
import { errorText } from '../lib/api';
import {
  byState,
  deleteRule,
  describeRule,
  draftFrom,
  draftOf,
  emptyDraft,
  endSilence,
  fetchHistory,
  fetchRules,
  fmtValue,
  forText,
  KINDS,
  matchingTracesHref,
  PREFILL_KEYS,
  silenced,
  silenceRule,
  testRule,
  thresholdText,
  timeMs,
  unitOf,
  type AlertKind,
  type HistoryEntry,
  type Prefill,
  type RuleStatus,
  type TestResult,
} from '../lib/alerts';
import { decodeSort, encodeSort, hrefWith, setParams } from '../lib/pageState';
import { navigate, onLinkClick, type Location } from '../lib/router';
import { hrefInTenant } from '../lib/tenant';
import { fmtAgo, fmtDateTime, toLocalInput } from '../lib/time';

const PATH = '/alerts';
const STATES = ['firing', 'pending', 'error', 'inactive'] as const;
/** How often the rules and the history are asked again. */
const POLL_MS = 5000;
const HISTORY_LIMIT = 200;

type Loaded = { rules: RuleStatus[]; fileError: string | null; history: HistoryEntry[]; historyError: string | null };
type Load = { state: 'loading'; prev: Loaded | null } | { state: 'error'; message: string; prev: Loaded | null } | { state: 'done'; data: Loaded };

/** The rules and the history, asked again every POLL_MS and whenever `runs` changes. */
function useAlerts(runs: number): Load {
  const [load, setLoad] = useState<Load>({ state: 'loading', prev: null });
  const [tick, setTick] = useState(0);
  useEffect(() => {
    const t = setInterval(() => setTick((n) => n + 1), POLL_MS);
    return () => clearInterval(t);
  }, []);
  useEffect(() => {
    const ctl = new AbortController();
    const prev = (l: Load) => (l.state === 'done' ? l.data : l.prev);
    setLoad((l) => (l.state === 'done' ? l : { state: 'loading', prev: prev(l) }));
    Promise.all([
      fetchRules(ctl.signal),
      fetchHistory(HISTORY_LIMIT, ctl.signal).then(
        (h) => ({ history: h.history ?? [], error: null }),
        (e) => {
          if ((e as Error).name === 'AbortError') throw e;
          return { history: [] as HistoryEntry[], error: errorText(e) };
        },
      ),
    ]).then(
      ([r, h]) => setLoad({ state: 'done', data: { rules: [...(r.rules ?? [])].sort(byState), fileError: r.fileError ?? null, history: h.history, historyError: h.error } }),
      (e) => {
        if ((e as Error).name !== 'AbortError') setLoad((l) => ({ state: 'error', message: errorText(e), prev: prev(l) }));
      },
    );
    return () => ctl.abort();
  }, [runs, tick]);
  return load;
}

export function AlertsPage({ loc }: { loc: Location }) {
  const p = loc.params;
  const stateFilter = p.get('state') ?? '';
  const selectedName = p.get('rule');
  const newKind = p.get('new');
  const editName = p.get('edit');
  const sort = decodeSort(p, 'sort', { key: 'state', desc: false });
  const [runs, setRuns] = useState(0);
  const refresh = () => setRuns((r) => r + 1);
  const load = useAlerts(runs);
  const data = load.state === 'done' ? load.data : load.prev;
  const set = (changes: Record<string, string | null>, replace = false) => setParams(PATH, p, changes, replace);
  useEffect(() => {
    const firing = data?.rules.filter((r) => r.state === 'firing').length ?? 0;
    document.title = `${firing ? `(${firing}) ` : ''}Alerts · Arbor`;
  }, [data]);

  // The form: a new rule (prefilled from the URL) or an API rule being edited.
  const formKey = [newKind, editName, ...PREFILL_KEYS.map((k) => p.get(k))].join('\u0000');
  const editing = editName ? data?.rules.find((r) => r.name === editName) : undefined;
  const formDraft = useMemo(() => {
    if (newKind !== null) {
      const kind = (KINDS as readonly string[]).includes(newKind) ? (newKind as AlertKind) : 'latency';
      const prefill: Prefill = {};
      for (const k of PREFILL_KEYS) {
        const v = p.get(k);
        if (v !== null) prefill[k] = v;
      }
      return Object.keys(prefill).length ? draftFrom(kind, prefill) : emptyDraft(kind);
    }
    return editing ? draftOf(editing) : null;
    // The draft follows the URL, and the rule being edited once it has loaded.
  }, [formKey, editing === undefined]);
  /** The page's URL without the form (and its prefill), selecting `rule`. */
  const withoutForm = (rule: string | null) => hrefWith(PATH, p, { new: null, edit: null, ...Object.fromEntries(PREFILL_KEYS.map((k) => [k, null])), rule });
  const closeForm = () => navigate(withoutForm(selectedName));

  const rules = data?.rules ?? [];
  const counts = Object.fromEntries(STATES.map((s) => [s, rules.filter((r) => r.state === s).length]));
  const shownRules = stateFilter ? rules.filter((r) => r.state === stateFilter) : rules;
  const selected = selectedName ? rules.find((r) => r.name === selectedName) : undefined;
  const selectHref = (name: string) => hrefWith(PATH, p, { rule: name === selectedName ? null : name });

  const columns: Column<RuleStatus>[] = [
    { key: 'state', label: 'State', value: (r) => `${STATES.indexOf(r.state as (typeof STATES)[number]) + 1 || 9} ${r.name}`, render: (r) => <StateCell r={r} /> },
    {
      key: 'name',
      label: 'Rule',
      value: (r) => r.name,
      render: (r) => (
        <div class="rule-cell">
          <div class="rule-title">
            <a href={selectHref(r.name)} onClick={(e) => onLinkClick(e, selectHref(r.name))} class="rule-name" data-testid="select-rule">
              {r.name}
            </a>
            <span class={`kind-badge source-${r.source}`} title={r.source === 'file' ? 'From the rules file: read-only here' : 'Created through the API'}>
              {r.source}
            </span>
            {silenced(r) && <SilenceBadge until={r.silencedUntil} />}
          </div>
          <span class="muted small rule-what">
            {describeRule(r)}
            {r.kind === 'traceql' && r.query && (
              <>
                {' '}
                · <code>{r.query}</code>
              </>
            )}
          </span>
          {r.error && (
            <span class="rule-error small" data-testid="rule-error">
              {r.error}
            </span>
          )}
        </div>
      ),
    },
    { key: 'value', label: 'Value', num: true, value: (r) => r.value, render: (r) => <span data-testid="rule-value">{fmtValue(unitOf(r), r.value)}</span> },
    { key: 'threshold', label: 'Threshold', num: true, value: (r) => r.threshold, render: (r) => <span data-testid="rule-threshold">{thresholdText(r)}</span> },
    { key: 'for', label: 'For', value: (r) => r.for ?? '', render: (r) => <span class="muted">{forText(r.for)}</span> },
    { key: 'severity', label: 'Severity', value: (r) => r.severity ?? '', render: (r) => <Severity s={r.severity} /> },
    {
      key: 'examples',
      label: 'Example traces',
      render: (r) => (r.state === 'firing' || r.state === 'pending' || (r.exampleTraces?.length ?? 0) > 0 ? <Examples ids={r.exampleTraces ?? []} max={3} tenant={r.tenant} /> : <span class="muted">–</span>),
    },
  ];

  return (
    <main class="page view-page alerts-page" data-testid="alerts-page" data-state={load.state}>
      <div class="view-toolbar">
        <h1>Alerts</h1>
        <div class="tabs state-tabs" role="tablist" aria-label="State">
          <button role="tab" aria-selected={!stateFilter} class={!stateFilter ? 'active' : ''} data-testid="state-all" onClick={() => set({ state: null }, true)}>
            All <span class="count-pill">{rules.length}</span>
          </button>
          {STATES.map((s) => (
            <button role="tab" aria-selected={stateFilter === s} class={stateFilter === s ? 'active' : ''} data-testid={`state-${s}`} onClick={() => set({ state: s }, true)}>
              {s} <span class={`count-pill ${counts[s] ? `st-${s}` : ''}`}>{counts[s]}</span>
            </button>
          ))}
        </div>
        <div class="spacer" />
        <button class="button primary" data-testid="new-rule" onClick={() => navigate(hrefWith(PATH, p, { new: 'latency', edit: null }))}>
          + New rule
        </button>
        <button class="button" data-testid="refresh" title="Ask again" onClick={refresh}>
          ↻ Refresh
        </button>
        <a
          class="button"
          data-testid="export-rules"
          href="/api/alerts/export?format=yaml&source=api"
          download="alerts.yaml"
          title="The rules made here (not those of the rules file) as a YAML rules file, to keep under version control"
        >
          ⤓ Export YAML
        </a>
      </div>

      {formDraft && (
        <RuleForm
          initial={formDraft}
          editing={editName}
          onCancel={closeForm}
          onSaved={(name) => {
            refresh();
            navigate(withoutForm(name));
          }}
        />
      )}
      {editName && !editing && data && (
        <div class="message error" role="alert">
          <strong>No rule named “{editName}”</strong>
        </div>
      )}

      {load.state === 'error' && <LoadError what="The alert rules" message={load.message} />}
      {load.state === 'loading' && !data && <div class="hint loading">Loading alert rules…</div>}
      {data?.fileError && (
        <div class="message error" role="alert" data-testid="rules-file-error">
          <strong>The rules file was refused (the rules in force stay)</strong>
          <pre>{data.fileError}</pre>
        </div>
      )}
      {data && (
        <>
          <p class="view-summary" data-testid="alerts-summary">
            <strong>{rules.length}</strong> {rules.length === 1 ? 'rule' : 'rules'}
            <span class="muted">
              {' '}
              · {counts.firing} firing · {counts.pending} pending · {counts.error} in error · evaluated on the server, refreshed every {POLL_MS / 1000} s
            </span>
          </p>
          <DataTable
            testid="rules-table"
            rows={shownRules}
            columns={columns}
            sort={sort}
            onSort={(s) => set({ sort: s.key === 'state' && !s.desc ? null : encodeSort(s) }, true)}
            rowKey={(r) => r.name}
            selected={selectedName}
            rowClass={(r) => `st-${r.state}`}
            onRowClick={(r) => navigate(selectHref(r.name))}
            empty={
              rules.length === 0 ? (
                <span>
                  No alert rules yet. <button class="link" onClick={() => navigate(hrefWith(PATH, p, { new: 'latency' }))}>Create one</button>, write them in the rules file
                  (<code>alerts.rules_file</code>), or use “alert on this” on the Services, Serverless and Search pages.
                </span>
              ) : (
                `No rule is ${stateFilter}.`
              )
            }
          />
          {selectedName && !selected && <p class="hint">There is no rule named “{selectedName}” (any more).</p>}
          {selected && (
            <RuleDetail
              key={selected.name}
              r={selected}
              history={data.history.filter((h) => h.rule === selected.name)}
              onChanged={refresh}
              onEdit={() => navigate(hrefWith(PATH, p, { edit: selected.name, new: null }))}
              onDeleted={() => {
                refresh();
                set({ rule: null });
              }}
            />
          )}
          <section class="view-section">
            <h2>History</h2>
            {data.historyError ? (
              <LoadError what="The history" message={data.historyError} />
            ) : (
              <HistoryTable entries={data.history} rules={rules} selectHref={selectHref} testid="history-table" />
            )}
          </section>
        </>
      )}
    </main>
  );
}

function StateCell({ r }: { r: RuleStatus }) {
  const since = timeMs(r.since);
  const state = r.state;
  return (
    <div class="state-cell">
      <StateBadge state={r.state} />
      {since !== null && (
        <span class="muted small" title={`${state} since ${fmtDateTime(since, false)}`} data-testid="rule-since">
          {fmtAgo(since)}
        </span>
      )}
    </div>
  );
}

export function StateBadge({ state }: { state: string }) {
  return (
    <span class={`state-badge st-${state}`} data-testid="state-badge" data-state={state}>
      {state === 'firing' ? '● ' : state === 'pending' ? '◐ ' : state === 'error' ? '⚠ ' : ''}
      {state}
    </span>
  );
}

function Severity({ s }: { s: string | undefined }) {
  const sev = s || 'warning';
  return <span class={`severity sev-${sev.replace(/[^a-z0-9-]/gi, '')}`}>{sev}</span>;
}

function SilenceBadge({ until }: { until: RuleStatus['silencedUntil'] }) {
  const ms = timeMs(until);
  return (
    <span class="silence-badge" data-testid="silenced" title={ms === null ? undefined : fmtDateTime(ms, false)}>
      <BellIcon off size={11} /> silenced{ms !== null && ` until ${fmtUntil(ms)}`}
    </span>
  );
}

/** `15:04` today, else `2026-11-22 15:04`. */
function fmtUntil(ms: number): string {
  const t = fmtDateTime(ms, false);
  const today = fmtDateTime(Date.now(), false).slice(0, 10);
  return t.startsWith(today) ? t.slice(11, 16) : t.slice(0, 16);
}

/** `4bf92f…4736`: both ends, so IDs that share a prefix still differ. */
function shortId(id: string): string {
  return id.length > 12 ? `${id.slice(0, 6)}…${id.slice(-4)}` : id;
}

/** A rule's example traces, each a link opening in the rule's tenant. */
function Examples({ ids, max, tenant }: { ids: string[]; max: number; tenant: string | undefined }) {
  if (ids.length === 0) return <span class="muted small">none yet</span>;
  return (
    <span class="examples">
      {ids.slice(0, max).map((id) => {
        const href = hrefInTenant(`/trace/${id}`, tenant);
        return (
          <a class="example-link mono" href={href} title={`Trace ${id}${tenant ? ` (tenant ${tenant})` : ''}`} data-testid="example-trace" data-trace-id={id} onClick={(e) => onLinkClick(e, href)}>
            {shortId(id)}
          </a>
        );
      })}
      {ids.length > max && <span class="muted small">+{ids.length - max}</span>}
    </span>
  );
}

function RuleDetail({ r, history, onChanged, onEdit, onDeleted }: { r: RuleStatus; history: HistoryEntry[]; onChanged: () => void; onEdit: () => void; onDeleted: () => void }) {
  const [busy, setBusy] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [note, setNote] = useState<string | null>(null);
  const [test, setTest] = useState<TestResult | null>(null);
  const [confirmDelete, setConfirmDelete] = useState(false);
  const readOnly = r.source === 'file';
  const unit = unitOf(r);
  const matching = matchingTracesHref(r);

  const act = async (what: string, f: () => Promise<unknown>, done?: (v: unknown) => void) => {
    setBusy(what);
    setError(null);
    setNote(null);
    try {
      const v = await f();
      done?.(v);
      onChanged();
    } catch (e) {
      setError(errorText(e));
    } finally {
      setBusy(null);
    }
  };
  const silence = (body: { for: string } | { until: string }, label: string) => act('silence', () => silenceRule(r.name, body), () => setNote(`Silenced ${label}.`));

  return (
    <section class="view-section detail rule-detail" data-testid="rule-detail" data-rule={r.name}>
      <div class="detail-head">
        <h2>
          <StateBadge state={r.state} />
          {r.name}
          <span class={`kind-badge source-${r.source}`}>{r.source === 'file' ? 'rules file' : 'API'}</span>
        </h2>
        <div class="rule-actions">
          <SilenceMenu disabled={busy !== null} onSilence={silence} />
          {silenced(r) && (
            <button class="button" data-testid="end-silence" disabled={busy !== null} onClick={() => act('unsilence', () => endSilence(r.name), () => setNote('Silence ended.'))}>
              End silence
            </button>
          )}
          <button
            class="button"
            data-testid="test-rule"
            title="Evaluate the rule now and send a test notification to its receivers"
            disabled={busy !== null}
            onClick={() => act('test', () => testRule(r.name), (v) => setTest((v as TestResult | null) ?? {}))}
          >
            {busy === 'test' ? 'Testing…' : '⚡ Test-fire'}
          </button>
          <button class="button" data-testid="edit-rule" disabled={readOnly || busy !== null} title={readOnly ? 'A rule from the rules file is edited in the file' : 'Edit this rule'} onClick={onEdit}>
            Edit
          </button>
          {confirmDelete ? (
            <span class="confirm">
              Delete “{r.name}”?
              <button class="button danger" data-testid="delete-confirm" disabled={busy !== null} onClick={() => act('delete', () => deleteRule(r.name), onDeleted)}>
                Delete
              </button>
              <button class="button" onClick={() => setConfirmDelete(false)}>
                Keep
              </button>
            </span>
          ) : (
            <button class="button" data-testid="delete-rule" disabled={readOnly || busy !== null} title={readOnly ? 'A rule from the rules file is deleted in the file' : 'Delete this rule'} onClick={() => setConfirmDelete(true)}>
              Delete
            </button>
          )}
        </div>
      </div>
      {error && (
        <div class="message error" role="alert" data-testid="rule-action-error">
          <strong>The server refused</strong>
          <pre>{error}</pre>
        </div>
      )}
      {note && (
        <p class="hint action-note" data-testid="rule-action-note">
          {note}
        </p>
      )}
      {(r.state === 'error' || r.error) && (
        <div class="message error" role="alert" data-testid="rule-error-reason">
          <strong>{r.state === 'error' ? 'The rule cannot be evaluated' : 'The last evaluation failed (a firing alert stays firing)'}</strong>
          <pre>{r.error || 'the server gave no reason'}</pre>
        </div>
      )}
      <dl class="stats" data-testid="rule-stats">
        <Stat label="value" value={fmtValue(unit, r.value)} tone={r.state === 'firing' ? 'bad' : ''} testid="detail-value" />
        <Stat label="threshold" value={thresholdText(r)} />
        <Stat label="for" value={forText(r.for)} />
        <Stat label="severity" value={<Severity s={r.severity} />} />
        {timeMs(r.since) !== null && <Stat label={r.state} value={`since ${fmtDateTime(timeMs(r.since)!, false)}`} />}
        {silenced(r) && <Stat label="silenced until" value={fmtDateTime(timeMs(r.silencedUntil)!, false)} testid="detail-silenced" />}
        {timeMs(r.evaluatedAt) !== null && <Stat label="evaluated" value={fmtAgo(timeMs(r.evaluatedAt)!)} />}
      </dl>
      <dl class="facts rule-facts">
        <dt>Watches</dt>
        <dd>{describeRule(r)}</dd>
        {r.query && (
          <>
            <dt>Query</dt>
            <dd>
              <code>{r.query}</code>
              {matching && (
                <>
                  {' '}
                  <a class="matching-link small" href={hrefInTenant(matching, r.tenant)} data-testid="matching-traces" onClick={(e) => onLinkClick(e, hrefInTenant(matching, r.tenant))}>
                    matching traces →
                  </a>
                </>
              )}
            </dd>
          </>
        )}
        {r.timeout && (
          <>
            <dt>Timeout</dt>
            <dd>{r.timeout}</dd>
          </>
        )}
        <dt>Labels</dt>
        <dd>
          {Object.keys(r.labels ?? {}).length === 0 ? (
            <span class="muted">none</span>
          ) : (
            Object.entries(r.labels ?? {}).map(([k, v]) => (
              <span class="kind-badge label-badge">
                {k}={v}
              </span>
            ))
          )}
        </dd>
        <dt>Receivers</dt>
        <dd>{r.receivers?.length ? r.receivers.join(', ') : <span class="muted">all receivers</span>}</dd>
        <dt>Description</dt>
        <dd>{r.description || <span class="muted">(the default) {'{{name}}: {{value}} above {{threshold}} over {{window}}'}</span>}</dd>
      </dl>
      <h3>Example traces</h3>
      {(r.exampleTraces?.length ?? 0) > 0 ? (
        <div data-testid="detail-examples">
          <Examples ids={r.exampleTraces ?? []} max={5} tenant={r.tenant} />
        </div>
      ) : (
        <p class="hint">{r.state === 'firing' || r.state === 'pending' ? 'None found for this alert.' : 'Examples are kept while the rule fires.'}</p>
      )}
      {test && <TestResultView result={test} unit={unit} tenant={r.tenant} />}
      <h3>Transitions</h3>
      <HistoryTable entries={history} rules={[r]} testid="rule-history" />
    </section>
  );
}

const SILENCES: [string, string][] = [
  ['1h', '1 hour'],
  ['4h', '4 hours'],
  ['24h', '24 hours'],
];

function SilenceMenu({ disabled, onSilence }: { disabled: boolean; onSilence: (body: { for: string } | { until: string }, label: string) => void }) {
  const [open, setOpen] = useState(false);
  const [until, setUntil] = useState(toLocalInput(Date.now() + 2 * 3600e3));
  const box = useRef<HTMLDivElement>(null);
  useEffect(() => {
    if (!open) return;
    const close = (e: MouseEvent) => {
      if (box.current && !box.current.contains(e.target as Node)) setOpen(false);
    };
    document.addEventListener('mousedown', close);
    return () => document.removeEventListener('mousedown', close);
  }, [open]);
  const untilMs = Date.parse(until);
  const valid = !Number.isNaN(untilMs) && untilMs > Date.now();
  return (
    <div class="popover-anchor" ref={box}>
      <button class="button" data-testid="silence" disabled={disabled} aria-haspopup="menu" aria-expanded={open} onClick={() => setOpen(!open)}>
        <BellIcon off /> Silence ▾
      </button>
      {open && (
        <div class="popover silence-popover" role="menu">
          {SILENCES.map(([d, label]) => (
            <button
              class="menu-item"
              role="menuitem"
              data-testid={`silence-${d}`}
              onClick={() => {
                setOpen(false);
                onSilence({ for: d }, `for ${label}`);
              }}
            >
              for {label}
            </button>
          ))}
          <form
            class="silence-until"
            onSubmit={(e) => {
              e.preventDefault();
              if (!valid) return;
              setOpen(false);
              onSilence({ until: new Date(untilMs).toISOString() }, `until ${fmtDateTime(untilMs, false)}`);
            }}
          >
            <label>
              until
              <input type="datetime-local" aria-label="Silence until" data-testid="silence-until-input" value={until} onInput={(e) => setUntil(e.currentTarget.value)} />
            </label>
            <button class="button" data-testid="silence-until" disabled={!valid}>
              Silence
            </button>
          </form>
        </div>
      )}
    </div>
  );
}

/** What a test-fire answered: the value now, and each receiver's delivery. */
function TestResultView({ result, unit, tenant }: { result: TestResult; unit: ReturnType<typeof unitOf>; tenant: string | undefined }) {
  const deliveries: Record<string, unknown>[] = Array.isArray(result.deliveries)
    ? result.deliveries
    : result.deliveries && typeof result.deliveries === 'object'
      ? Object.entries(result.deliveries).map(([receiver, v]) => (v && typeof v === 'object' ? { receiver, ...(v as object) } : { receiver, result: v }))
      : [];
  return (
    <div class="test-result" data-testid="test-result">
      <h3>Test-fire</h3>
      <dl class="stats">
        <Stat label="value now" value={fmtValue(unit, result.value)} tone={result.breached ? 'bad' : ''} testid="test-value" />
        <Stat label="threshold" value={fmtValue(unit, result.threshold)} />
        {result.breached !== undefined && <Stat label="above it" value={result.breached ? 'yes: it would fire' : 'no'} testid="test-breached" />}
      </dl>
      {result.error && (
        <div class="message error" role="alert" data-testid="test-error">
          <strong>The value could not be computed</strong>
          <pre>{result.error}</pre>
        </div>
      )}
      {(result.exampleTraces?.length ?? 0) > 0 && (
        <p class="test-examples">
          <span class="muted small">Example traces now </span>
          <Examples ids={result.exampleTraces ?? []} max={5} tenant={tenant} />
        </p>
      )}
      {deliveries.length === 0 ? (
        <p class="hint" data-testid="test-no-deliveries">
          No receiver to deliver to (none configured in <code>alerts.receivers</code>, or none named by the rule).
        </p>
      ) : (
        <table class="results figures deliveries" data-testid="test-deliveries">
          <thead>
            <tr>
              <th>Receiver</th>
              <th>Test notification</th>
              <th>Details</th>
            </tr>
          </thead>
          <tbody>
            {deliveries.map((d) => {
              const receiver = String(d.receiver ?? d.name ?? '');
              const ok = deliveryOk(d);
              const details = Object.entries(d).filter(([k, v]) => !['receiver', 'name', 'ok', 'delivered', 'success', 'result'].includes(k) && v !== null && v !== undefined);
              return (
                <tr data-receiver={receiver} class={ok === false ? 'st-error' : ''}>
                  <td class="svc">{receiver || '–'}</td>
                  <td>
                    <span class={`delivery ${ok === false ? 'failed' : ok ? 'ok' : ''}`} data-testid="delivery-result">
                      {typeof d.result === 'string' ? d.result : ok === undefined ? '–' : ok ? 'delivered' : 'failed'}
                    </span>
                  </td>
                  <td class="muted small delivery-details">{details.map(([k, v]) => `${k}: ${typeof v === 'object' ? JSON.stringify(v) : String(v)}`).join(' · ') || '–'}</td>
                </tr>
              );
            })}
          </tbody>
        </table>
      )}
    </div>
  );
}

function deliveryOk(d: Record<string, unknown>): boolean | undefined {
  for (const k of ['delivered', 'ok', 'success']) if (typeof d[k] === 'boolean') return d[k] as boolean;
  if (typeof d.result === 'string') return /^(ok|delivered|sent|success)/i.test(d.result) ? true : /fail|error|refused|timeout/i.test(d.result) ? false : undefined;
  if (typeof d.status === 'number') return d.status >= 200 && d.status < 300;
  return undefined;
}

function HistoryTable({ entries, rules, selectHref, testid }: { entries: HistoryEntry[]; rules: RuleStatus[]; selectHref?: (name: string) => string; testid: string }) {
  if (entries.length === 0)
    return (
      <p class="hint" data-testid={`${testid}-empty`}>
        No state changes yet.
      </p>
    );
  const byName = new Map(rules.map((r) => [r.name, r]));
  return (
    <table class="results figures history" data-testid={testid}>
      <thead>
        <tr>
          <th>At</th>
          {selectHref && <th>Rule</th>}
          <th>Change</th>
          <th class="num">Value</th>
          <th>Example traces</th>
        </tr>
      </thead>
      <tbody>
        {entries.map((h) => {
          const at = timeMs(h.at);
          const rule = byName.get(h.rule);
          return (
            <tr data-rule={h.rule} data-to={h.to}>
              <td class="col-at" title={at === null ? undefined : fmtAgo(at)}>
                {at === null ? '–' : fmtDateTime(at, false)}
              </td>
              {selectHref && (
                <td class="col-rule">
                  <a href={selectHref(h.rule)} onClick={(e) => onLinkClick(e, selectHref(h.rule))}>
                    {h.rule}
                  </a>
                </td>
              )}
              <td class="col-change">
                <StateBadge state={h.from} /> <span class="muted">→</span> <StateBadge state={h.to} />
              </td>
              <td class="num col-value">{rule ? fmtValue(unitOf(rule), h.value) : fmtValue('number', h.value)}</td>
              <td class="col-examples">{(h.exampleTraces?.length ?? 0) > 0 ? <Examples ids={h.exampleTraces ?? []} max={3} tenant={rule?.tenant} /> : <span class="muted">–</span>}</td>
            </tr>
          );
        })}
      </tbody>
    </table>
  );
}
