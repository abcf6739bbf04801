// Views: the curated views of the built-in scopes (API, All Functions) and the team's
// saved views (`/api/views`). `/views` lists them; `/views/<id>` shows one: its filters
// (the URL's `f.<filter>` override the saved ones), the TraceQL they make (built by the
// server), the charts chosen over the derived figures, the endpoints or functions, and
// the traces found. *Create view* saves the scope, filters, query and charts for the team.

import { useEffect, useState } from 'preact/hooks';
import { ResultsTable } from '../components/ResultsTable';
import { StepChart } from '../components/Charts';
import { LoadError, shown, useLoad, ViewToolbar } from '../components/ViewBits';
import { errorText, type TagValue } from '../lib/api';
import { fetchServerless, fmtCost, fmtCount, fmtPercent, fmtSeconds, searchHref } from '../lib/derived';
import { decodeRange, hrefWith, setParams } from '../lib/pageState';
import { navigate, onLinkClick, type Location } from '../lib/router';
import { valuesOf } from '../lib/tags';
import {
  CHART_LABEL,
  createView,
  deleteView,
  DURATION_CHOICES,
  effectiveFilters,
  fetchView,
  fetchViews,
  maxSeries,
  sumSeries,
  viewQuery,
  viewTraces,
  type FilterDef,
  type ViewDef,
  type ViewsAnswer,
} from '../lib/views';
import { Count, Memory, StatusClasses } from './ServerlessPage';

export function ViewsPage({ loc }: { loc: Location }) {
  const id = /^\/views\/([^/]+)/.exec(loc.path)?.[1];
  const [list, setList] = useState<ViewsAnswer | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [runs, setRuns] = useState(0);
  useEffect(() => {
    const ctl = new AbortController();
    fetchViews(ctl.signal).then(setList, (e) => {
      if ((e as Error).name !== 'AbortError') setError(errorText(e));
    });
    return () => ctl.abort();
  }, [runs]);
  useEffect(() => {
    document.title = 'Views · Arbor';
  }, []);
  if (error) return <main class="page view-page"><LoadError what="The views" message={error} /></main>;
  if (!list) return <main class="page view-page"><div class="hint loading">Loading views…</div></main>;
  if (id) return <OneView key={id} id={decodeURIComponent(id)} list={list} loc={loc} onSaved={() => setRuns((r) => r + 1)} />;
  return <ViewList list={list} />;
}

function ViewLink({ v }: { v: ViewDef }) {
  const href = `/views/${encodeURIComponent(v.id)}`;
  return (
    <a href={href} onClick={(e) => onLinkClick(e, href)} data-testid={`view-link-${v.id}`}>
      {v.name}
    </a>
  );
}

function ViewList({ list }: { list: ViewsAnswer }) {
  return (
    <main class="page view-page views-page" data-testid="views-page">
      <div class="view-toolbar">
        <h1>Views</h1>
      </div>
      <section class="view-section">
        <h2>Curated</h2>
        <ul class="view-list" data-testid="curated-views">
          {list.scopes.map((s) => (
            <li>
              <ViewLink v={s} /> <span class="muted small">spans with {s.requires?.join(', ')}</span>
            </li>
          ))}
        </ul>
      </section>
      <section class="view-section">
        <h2>Team views</h2>
        {list.views.length === 0 ? (
          <p class="hint">No saved views yet: open a curated view, set its filters and choose *Create view*.</p>
        ) : (
          <ul class="view-list" data-testid="team-views">
            {list.views.map((v) => (
              <li>
                <ViewLink v={v} /> <span class="muted small">{describe(v)}</span>
              </li>
            ))}
          </ul>
        )}
      </section>
    </main>
  );
}

function describe(v: ViewDef): string {
  const parts: string[] = [];
  if (v.scope) parts.push(v.scope === 'api' ? 'API' : 'All Functions');
  for (const [k, val] of Object.entries(v.filters)) parts.push(`${k} = ${val}`);
  if (v.query) parts.push(v.query);
  return parts.join(' · ');
}

function OneView({ id, list, loc, onSaved }: { id: string; list: ViewsAnswer; loc: Location; onSaved: () => void }) {
  const p = loc.params;
  const path = `/views/${encodeURIComponent(id)}`;
  const known = list.scopes.find((s) => s.id === id) ?? list.views.find((v) => v.id === id);
  const [view, setView] = useState<ViewDef | null>(known ?? null);
  const [missing, setMissing] = useState<string | null>(null);
  useEffect(() => {
    if (known) return;
    fetchView(id).then(setView, (e) => setMissing(errorText(e)));
  }, [id]);
  const range = decodeRange(p);
  const filters = view ? effectiveFilters(view, p) : {};
  const key = JSON.stringify(filters);
  const [traceql, setTraceql] = useState<string | null>(null);
  const [qError, setQError] = useState<string | null>(null);
  useEffect(() => {
    if (!view) return;
    const ctl = new AbortController();
    viewQuery({ scope: view.scope, query: view.query, filters }, ctl.signal).then(
      (q) => {
        setTraceql(q);
        setQError(null);
      },
      (e) => {
        if ((e as Error).name !== 'AbortError') setQError(errorText(e));
      },
    );
    return () => ctl.abort();
  }, [view?.id, key]);
  const [runs, setRuns] = useState(0);
  const traces = useLoad(range, `${traceql}`, runs, (a, b, signal) => (traceql ? viewTraces(traceql, a, b, signal) : Promise.resolve({ traces: [], metrics: {} })));
  const place = { service: filters.service, namespace: filters.namespace, environment: filters.environment, region: filters.region };
  const figures = useLoad(range, JSON.stringify(place), runs, (a, b, signal) => fetchServerless({ startSec: a, endSec: b, ...place }, signal));
  if (missing) return <main class="page view-page"><LoadError what={`The view ${id}`} message={missing} /></main>;
  if (!view) return <main class="page view-page"><div class="hint loading">Loading the view…</div></main>;

  const set = (changes: Record<string, string | null>) => setParams(path, p, changes);
  const setFilter = (f: string, v: string) => set({ [`f.${f}`]: v === (view.filters[f] ?? '') ? null : v });
  const defs = view.filterIds.map((f) => list.filters.find((d) => d.id === f)).filter((d): d is FilterDef => !!d);
  const data = shown(figures);
  const fnRows = (data?.functions ?? []).filter((f) => !filters.function || f.function === filters.function);
  const epRows = (data?.endpoints ?? []).filter((e) => (!filters.endpoint || e.route === filters.endpoint) && (!filters.method || e.method === filters.method));
  const api = view.scope === 'api';
  const charts = view.charts.length ? view.charts : api ? ['requests', 'errors', 'p95'] : ['invocations', 'errors', 'coldStarts', 'p95'];
  const series = (c: string): (number | null)[] => {
    if (api) {
      if (c === 'p95') return maxSeries(epRows.map((e) => e.series.p95));
      return sumSeries(epRows.map((e) => (c === 'errors' ? e.series.errors : e.series.requests)));
    }
    if (c === 'p95') return maxSeries(fnRows.map((f) => f.series.p95));
    const k = c === 'errors' ? 'errors' : c === 'coldStarts' ? 'coldStarts' : 'invocations';
    return sumSeries(fnRows.map((f) => f.series[k]));
  };
  const found = shown(traces);
  return (
    <main class="page view-page one-view" data-testid="view-page" data-view={view.id} data-state={traces.state}>
      <ViewToolbar title={view.name} range={range} onRange={(from, to) => set({ from, to })} onRefresh={() => setRuns((r) => r + 1)}>
        <span class="muted small" data-testid="view-kind">{view.builtIn ? 'curated' : 'team view'}</span>
      </ViewToolbar>
      <div class="view-filters" data-testid="view-filters">
        {defs.map((d) => (
          <FilterPicker def={d} value={filters[d.id] ?? ''} onChange={(v) => setFilter(d.id, v)} />
        ))}
      </div>
      <p class="view-query">
        <code data-testid="view-traceql">{traceql ?? '…'}</code>{' '}
        {traceql && (
          <a class="small" href={searchHref(traceql, range.from, range.to)} onClick={(e) => onLinkClick(e, searchHref(traceql, range.from, range.to))}>
            open in search →
          </a>
        )}
      </p>
      {qError && <LoadError what="The view's query" message={qError} />}
      <SaveBar view={view} filters={filters} charts={charts} onSaved={onSaved} />
      {data && (
        <div class={`charts ${charts.length === 4 ? 'four' : 'three'}`} data-testid="view-charts">
          {charts.map((c) => (
            <StepChart
              testid={`view-chart-${c}`}
              title={c === 'p95' ? `${CHART_LABEL[c]} (slowest)` : CHART_LABEL[c] ?? c}
              kind={c === 'p95' ? 'line' : 'bar'}
              integer={c !== 'p95'}
              tone={c === 'errors' ? 'error' : c === 'coldStarts' ? 'warn' : c === 'p95' ? 'info' : 'accent'}
              values={series(c)}
              start={data.start}
              step={data.step}
              format={(v) => (c === 'p95' ? fmtSeconds(v) : fmtCount(v))}
            />
          ))}
        </div>
      )}
      {figures.state === 'error' && <LoadError what="The figures" message={figures.message} />}
      {data && api && (
        <section class="view-section">
          <h2>Endpoints</h2>
          <table class="data-table" data-testid="view-endpoints">
            <thead><tr><th>Method</th><th>Route</th><th>Service</th><th class="num">Requests</th><th class="num">Errors</th><th>By status</th><th class="num">p95</th></tr></thead>
            <tbody>
              {epRows.map((e) => (
                <tr data-route={e.route}>
                  <td class="method">{e.method}</td><td class="mono">{e.route}</td><td class="muted">{e.service}</td>
                  <td class="num">{fmtCount(e.requests)}</td><td class="num"><Count n={e.errors} tone={e.errors ? 'bad' : ''} /></td>
                  <td><StatusClasses classes={e.statusClasses} /></td><td class="num">{fmtSeconds(e.p95)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </section>
      )}
      {data && !api && (
        <section class="view-section">
          <h2>Functions</h2>
          <table class="data-table" data-testid="view-functions">
            <thead><tr><th>Function</th><th class="num">Invocations</th><th class="num">Errors</th><th class="num">Timeouts</th><th class="num">Cold %</th><th class="num">p95</th><th class="num">Memory</th><th class="num">Cost</th></tr></thead>
            <tbody>
              {fnRows.map((f) => (
                <tr data-function={f.function}>
                  <td>{f.function}</td><td class="num" data-col="invocations">{fmtCount(f.invocations)}</td>
                  <td class="num" data-col="errors"><Count n={f.errors} tone={f.errors ? 'bad' : ''} /></td>
                  <td class="num" data-col="timeouts">{fmtCount(f.timeouts)}</td><td class="num" data-col="cold">{fmtPercent(f.coldStartRate)}</td>
                  <td class="num">{fmtSeconds(f.p95)}</td><td class="num"><Memory f={f} /></td><td class="num">{fmtCost(f.cost)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </section>
      )}
      <section class="view-section">
        <h2>Traces</h2>
        {traces.state === 'error' && <LoadError what="The traces" message={traces.message} />}
        {found && <div data-testid="view-traces" data-count={found.traces.length}><ResultsTable traces={found.traces} /></div>}
      </section>
    </main>
  );
}

/** One filter: the values the data holds (by its keys), or its fixed choices. */
function FilterPicker({ def, value, onChange }: { def: FilterDef; value: string; onChange: (v: string) => void }) {
  const [values, setValues] = useState<string[]>([]);
  useEffect(() => {
    if (def.keys.length === 0) return;
    Promise.all(def.keys.map((k) => valuesOf(k.startsWith('resource.') ? k : `.${k}`).catch(() => [] as TagValue[]))).then((all) =>
      setValues([...new Set(all.flat().map((v) => v.value))].sort()),
    );
  }, [def.id]);
  const choices = def.id === 'duration' ? DURATION_CHOICES : def.keys.length === 0 ? ['true', 'false'] : values;
  const shownChoices = value && !choices.includes(value) ? [...choices, value] : choices;
  return (
    <label class={`filter ${value ? 'on' : ''}`}>
      <span>{def.label}</span>
      <select value={value} aria-label={def.label} data-testid={`view-filter-${def.id}`} onChange={(e) => onChange(e.currentTarget.value)}>
        <option value="">{def.id === 'duration' ? 'any' : 'all'}</option>
        {shownChoices.map((v) => (
          <option value={v}>{def.id === 'duration' ? `≥ ${v}` : v}</option>
        ))}
      </select>
    </label>
  );
}

/** *Create view* (a name and the charts; the scope, query and filters in force), and *Delete* for a saved view. */
function SaveBar({ view, filters, charts, onSaved }: { view: ViewDef; filters: Record<string, string>; charts: string[]; onSaved: () => void }) {
  const [open, setOpen] = useState(false);
  const [name, setName] = useState('');
  const [query, setQuery] = useState(view.builtIn ? '' : view.query ?? '');
  const [picked, setPicked] = useState<string[]>(charts);
  // Off: a view of the TraceQL filter alone (the scope's tags not required).
  const [scoped, setScoped] = useState(!!view.scope);
  const [error, setError] = useState<string | null>(null);
  const all = view.scope === 'api' ? ['requests', 'errors', 'p95'] : ['invocations', 'errors', 'coldStarts', 'p95'];
  const save = async () => {
    setError(null);
    try {
      const v = await createView({ name, scope: scoped ? view.scope : undefined, query, filters, charts: all.filter((c) => picked.includes(c)) });
      onSaved();
      navigate(`/views/${encodeURIComponent(v.id)}`);
    } catch (e) {
      setError(errorText(e));
    }
  };
  const remove = async () => {
    if (!confirm(`Delete the view ${view.name} for the whole team?`)) return;
    try {
      await deleteView(view.id);
      onSaved();
      navigate('/views');
    } catch (e) {
      setError(errorText(e));
    }
  };
  return (
    <div class="save-bar">
      {!open && (
        <button class="button" data-testid="create-view" onClick={() => setOpen(true)}>
          Create view
        </button>
      )}
      {!view.builtIn && !open && (
        <button class="button danger" data-testid="delete-view" onClick={remove}>
          Delete
        </button>
      )}
      {open && (
        <form class="create-view" data-testid="create-view-form" onSubmit={(e) => { e.preventDefault(); void save(); }}>
          <label>
            <span>Name</span>
            <input value={name} data-testid="view-name" onInput={(e) => setName(e.currentTarget.value)} placeholder="e.g. Checkout errors" />
          </label>
          <label class="wide">
            <span>TraceQL (optional, joined with &&)</span>
            <input value={query} data-testid="view-query" spellcheck={false} onInput={(e) => setQuery(e.currentTarget.value)} placeholder='{ .faas.event_type = "http" }' />
          </label>
          {view.scope && (
            <label class="check">
              <input type="checkbox" checked={scoped} data-testid="view-scoped" onChange={(e) => setScoped(e.currentTarget.checked)} />
              Only spans with the {view.scope === 'api' ? 'API' : 'All Functions'} tags
            </label>
          )}
          <fieldset>
            <legend>Charts</legend>
            {all.map((c) => (
              <label class="check">
                <input type="checkbox" checked={picked.includes(c)} data-testid={`view-chart-pick-${c}`} onChange={(e) => setPicked(e.currentTarget.checked ? [...picked, c] : picked.filter((x) => x !== c))} />
                {CHART_LABEL[c]}
              </label>
            ))}
          </fieldset>
          <button class="button primary" type="submit" data-testid="save-view">Save for the team</button>
          <button class="button" type="button" onClick={() => setOpen(false)}>Cancel</button>
        </form>
      )}
      {error && <p class="message error" role="alert" data-testid="view-save-error">{error}</p>}
    </div>
  );
}

/** The link to a view with filters set (for other pages). */
export function viewHref(id: string, filters: Record<string, string>): string {
  return hrefWith(`/views/${encodeURIComponent(id)}`, new URLSearchParams(), Object.fromEntries(Object.entries(filters).map(([k, v]) => [`f.${k}`, v])));
}
