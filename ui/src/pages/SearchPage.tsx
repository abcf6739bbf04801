// The search page: TraceQL or the form, a time range, then a scatter plot and a table of
// the traces found. Everything the page shows follows from its URL.

import { useEffect, useMemo, useState } from 'preact/hooks';
import { QueryEditor } from '../components/QueryEditor';
import { ResultsTable } from '../components/ResultsTable';
import { Scatter } from '../components/Scatter';
import { SearchForm } from '../components/SearchForm';
import { TimeRangePicker } from '../components/TimeRange';
import { AlertLink } from '../components/ViewBits';
import { QuoteHint } from '../components/QuoteHint';
import { MetricsResults } from '../components/MetricsResults';
import { DiffPanel } from '../components/DiffPanel';
import { addCondition } from '../lib/addFilter';
import { regionSelection } from '../lib/regionSelection';
import { isMetricsQuery, queryRange, type MetricsResult } from '../lib/metricsQuery';
import { newRuleHref } from '../lib/alerts';
import { errorText, search, type SearchResponse } from '../lib/api';
import { navigate, type Location } from '../lib/router';
import { decodeSearch, encodeSearch, REFRESH_CHOICES, refreshText, type Region, type SearchState } from '../lib/searchState';
import { resolveTime } from '../lib/time';
import { buildQuery, type FormState } from '../lib/traceql';
import { distinctColors } from '../lib/colors';

type Done = { state: 'done'; data: SearchResponse; fromMs: number; toMs: number; limit: number } | { state: 'done'; metrics: MetricsResult; fromMs: number; toMs: number; limit: number };
/** While a search runs, the previous results stay (dimmed) until the new ones arrive. */
type Result = { state: 'idle' } | { state: 'loading'; prev: Done | null } | { state: 'error'; message: string; query: string } | Done;

export function SearchPage({ loc }: { loc: Location }) {
  const url = useMemo(() => decodeSearch(loc.params), [loc.params.toString()]);
  // Drafts being edited; the URL changes (and the search runs) on submit.
  const [form, setForm] = useState<FormState>(url.form);
  const [q, setQ] = useState(url.mode === 'traceql' ? url.q : buildQuery(url.form));
  const [runs, setRuns] = useState(0);
  const [result, setResult] = useState<Result>({ state: 'idle' });
  useEffect(() => {
    setForm(url.form);
    setQ(url.mode === 'traceql' ? url.q : buildQuery(url.form));
  }, [loc.params.toString()]);

  const query = url.mode === 'traceql' ? url.q.trim() || '{ }' : buildQuery(url.form);
  useEffect(() => {
    document.title = 'Search · Arbor';
    const now = Date.now();
    const fromMs = resolveTime(url.from, now);
    const toMs = resolveTime(url.to, now);
    if (fromMs === null || toMs === null || fromMs >= toMs) {
      setResult({ state: 'error', message: `the time range ${url.from} → ${url.to} is not valid`, query: '' });
      return;
    }
    const ctl = new AbortController();
    setResult((r) => ({ state: 'loading', prev: r.state === 'done' ? r : r.state === 'loading' ? r.prev : null }));
    // A metrics query (`{ } | rate() by (…)`) is drawn as charts, from the metrics API.
    const asked: Promise<Done> = isMetricsQuery(query)
      ? queryRange(query, fromMs, toMs, ctl.signal).then((metrics) => ({ state: 'done', metrics, fromMs, toMs, limit: url.limit }))
      : search({ q: query, startSec: fromMs / 1000, endSec: toMs / 1000, limit: url.limit }, ctl.signal).then((data) => ({ state: 'done', data, fromMs, toMs, limit: url.limit }));
    asked.then(
      (done) => setResult(done),
      (e) => {
        if ((e as Error).name !== 'AbortError') setResult({ state: 'error', message: errorText(e), query });
      },
    );
    return () => ctl.abort();
  }, [query, url.from, url.to, url.limit, runs]);

  // Auto-refresh: the same search again every so many seconds (while the tab is seen).
  useEffect(() => {
    if (!url.refreshSec) return;
    const t = setInterval(() => {
      if (document.visibilityState !== 'hidden') setRuns((r) => r + 1);
    }, url.refreshSec * 1000);
    return () => clearInterval(t);
  }, [url.refreshSec]);

  // A new search drops the selection compared ("what is different"); `keep` keeps it.
  const go = (s: SearchState, keep = false) => {
    const next = encodeSearch(keep ? s : { ...s, region: null, cmp: '' });
    if (next === window.location.pathname + window.location.search) setRuns((r) => r + 1);
    else navigate(next);
  };
  const setMode = (mode: 'form' | 'traceql') => {
    if (mode === url.mode) return;
    if (mode === 'traceql') go({ ...url, mode, q: buildQuery(form) });
    else go({ ...url, mode, form });
  };

  return (
    <main class="page search-page">
      <section class="panel search-panel">
        <div class="search-toolbar">
          <div class="tabs" role="tablist">
            <button role="tab" aria-selected={url.mode === 'form'} class={url.mode === 'form' ? 'active' : ''} data-testid="mode-form" onClick={() => setMode('form')}>
              Search form
            </button>
            <button role="tab" aria-selected={url.mode === 'traceql'} class={url.mode === 'traceql' ? 'active' : ''} data-testid="mode-traceql" onClick={() => setMode('traceql')}>
              TraceQL
            </button>
          </div>
          <div class="spacer" />
          <TimeRangePicker from={url.from} to={url.to} onChange={(from, to) => go({ ...url, form, q, from, to })} />
          <label class="refresh-select" title="Run the search again every so often">
            Refresh
            <select data-testid="auto-refresh" aria-label="Auto-refresh" value={String(url.refreshSec ?? 0)} onChange={(e) => go({ ...url, refreshSec: Number(e.currentTarget.value) }, true)}>
              {REFRESH_CHOICES.map((n) => (
                <option value={String(n)}>{n === 0 ? 'off' : `every ${refreshText(n)}`}</option>
              ))}
            </select>
          </label>
          <label class="limit">
            Limit
            <select value={String(url.limit)} aria-label="Limit" onChange={(e) => go({ ...url, form, q, limit: parseInt(e.currentTarget.value, 10) })}>
              {[20, 50, 100, 200, 500].map((n) => (
                <option value={String(n)}>{n}</option>
              ))}
            </select>
          </label>
          <button class="button primary" data-testid="run-search" onClick={() => go(url.mode === 'traceql' ? { ...url, q } : { ...url, form })}>
            Search
          </button>
        </div>
        {url.mode === 'traceql' ? (
          <div class="traceql-box">
            <QueryEditor value={q} onChange={setQ} onRun={(v) => go({ ...url, q: v })} />
            <p class="hint">
              Enter runs the query, Shift+Enter adds a line, Ctrl+Space suggests. Scopes, tag names and values complete as you type.
            </p>
          </div>
        ) : (
          <SearchForm form={form} onChange={setForm} onRun={(f) => go({ ...url, form: f })} />
        )}
      </section>

      <section class="results-area" aria-live="polite">
        {result.state === 'loading' && (
          <div class="hint loading" data-testid="searching">
            Searching…{result.prev && ' (the results below are from the previous search)'}
          </div>
        )}
        {result.state === 'error' && (
          <div class="message error" role="alert" data-testid="search-error">
            <strong>The search failed</strong>
            <pre>{result.message}</pre>
            <QuoteHint query={result.query} onFix={(fixed) => go({ ...url, mode: 'traceql', q: fixed })} />
          </div>
        )}
        {result.state === 'loading' && result.prev && (
          <div class="stale" data-testid="stale-results" aria-busy="true">
            {'data' in result.prev ? <Results {...result.prev} alertHref={alertHref(query, url.from, url.to)} /> : <MetricsResults data={result.prev.metrics} query={query} url={url} />}
          </div>
        )}
        {result.state === 'done' &&
          ('data' in result ? (
            <Results {...result} alertHref={alertHref(query, url.from, url.to)} region={url.region ?? null} onRegion={(region) => go({ ...url, region, cmp: '' }, true)} />
          ) : (
            <MetricsResults data={result.metrics} query={query} url={url} onCompare={(cmp) => go({ ...url, cmp, region: null }, true)} />
          ))}
        {result.state === 'done' && (url.region || url.cmp) && (
          <DiffPanel
            query={url.region ? query : '{ }'}
            selection={url.region ? regionSelection(url.region) : { filter: url.cmp!, label: `the spans of ${url.cmp}` }}
            fromMs={result.fromMs}
            toMs={result.toMs}
            onFilter={(cond) => go({ ...url, mode: 'traceql', q: addCondition(url.region ? query : url.cmp!, cond) })}
            onClose={() => go({ ...url, region: null, cmp: '' }, true)}
          />
        )}
      </section>
    </main>
  );
}

/**
 * The alerts page's form of a TraceQL rule over `query`: its window the search's range
 * when that is a relative one a rule may have (`now-15m` → `15m`), else 5 minutes.
 */
function alertHref(query: string, from: string, to: string): string {
  const m = /^now-(\d+)(s|m|h|d)$/.exec(from);
  const secs = m ? Number(m[1]) * { s: 1, m: 60, h: 3600, d: 86400 }[m[2] as 's' | 'm' | 'h' | 'd'] : 0;
  const window = to === 'now' && m && secs >= 15 && secs <= 86400 ? `${m[1]}${m[2]}` : '5m';
  return newRuleHref('traceql', { query, measure: 'count', above: '0', window });
}

function Results({
  data,
  fromMs,
  toMs,
  limit,
  alertHref,
  region,
  onRegion,
}: {
  data: SearchResponse;
  fromMs: number;
  toMs: number;
  limit: number;
  alertHref: string;
  region?: Region | null;
  onRegion?: (r: Region) => void;
}) {
  const traces = data.traces ?? [];
  useMemo(() => distinctColors(traces.map((t) => t.rootServiceName)), [data]);
  const m = data.metrics ?? {};
  return (
    <>
      <div class="results-summary" data-testid="results-summary">
        <strong>{traces.length}</strong> {traces.length === 1 ? 'trace' : 'traces'}
        <span class="muted">
          {' '}
          · inspected {Number(m.inspectedSpans ?? 0).toLocaleString()} spans in {m.elapsedMs ?? 0} ms
        </span>
        {traces.length >= limit && (
          <span class="limit-note" data-testid="limit-note" title="More traces may match: raise the limit or narrow the time range or the query">
            {' '}
            · the limit of {limit} was reached: more traces may match
          </span>
        )}
        <AlertLink testid="alert-on-query" href={alertHref} title="Create an alert rule that counts the spans this query matches">
          Alert when this query matches more than …
        </AlertLink>
      </div>
      {traces.length === 0 ? (
        <div class="message" data-testid="no-results">
          <strong>No traces match.</strong>
          <p class="muted">Widen the time range or remove a condition.</p>
        </div>
      ) : (
        <>
          <Scatter traces={traces} fromMs={fromMs} toMs={toMs} region={region ?? null} {...(onRegion ? { onRegion } : {})} />
          {onRegion && !region && <p class="hint small">Drag across the plot to select traces and see what is different about their spans.</p>}
          <ResultsTable traces={traces} />
        </>
      )}
    </>
  );
}
