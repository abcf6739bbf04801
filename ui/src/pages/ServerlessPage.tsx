// Serverless: functions (invocations, errors, timeouts, cold starts, duration, memory,
// cost) and API endpoints (rate, status classes, duration) over the time range
// (`/api/derived/serverless`), filtered by namespace, environment and region. A selected
// function shows its charts over time; a click on a chart's step searches the traces of
// that step's window with the search page's serverless filters. Everything lives in the URL.

import { useEffect, useState } from 'preact/hooks';
import { Sparkline, StepChart } from '../components/Charts';
import { DataTable, type Column } from '../components/DataTable';
import { AlertLink, FilterSelect, LoadError, shown, Stat, useLoad, ViewToolbar } from '../components/ViewBits';
import { newRuleHref, type Prefill } from '../lib/alerts';
import {
  anyOf,
  durationAtLeast,
  errorLevel,
  fetchServerless,
  fmtCost,
  fmtCount,
  fmtPercent,
  fmtRate,
  fmtSeconds,
  searchHref,
  spanset,
  stepWindow,
  str,
  type EndpointFigures,
  type FunctionFigures,
} from '../lib/derived';
import { decodeRange, decodeSort, encodeSort, hrefWith, setParams } from '../lib/pageState';
import { navigate, onLinkClick, type Location } from '../lib/router';
import { COLD, FAILED } from '../lib/console';
import { allTagNames } from '../lib/tags';
import { ErrorShare } from './ServiceMapPage';
import { Summary } from './ServicesPage';

const PATH = '/serverless';
const FILTERS = ['namespace', 'environment', 'region'] as const;
type FilterName = (typeof FILTERS)[number];

/** The attribute keys behind each filter and endpoint field, newest convention first (as the search page's quick filters). */
const KEYS: Record<FilterName | 'method' | 'route', string[]> = {
  namespace: ['service.namespace'],
  environment: ['deployment.environment.name', 'deployment.environment'],
  region: ['cloud.region'],
  route: ['http.route', 'http.path'],
  method: ['http.request.method', 'http.method'],
};
const CLASSES = ['1xx', '2xx', '3xx', '4xx', '5xx', 'other'];

export const fnKey = (f: FunctionFigures) => f.function;

export function ServerlessPage({ loc }: { loc: Location }) {
  const p = loc.params;
  const range = decodeRange(p);
  const filters: Record<FilterName, string> = { namespace: p.get('namespace') ?? '', environment: p.get('environment') ?? '', region: p.get('region') ?? '' };
  const fn = p.get('fn') ?? '';
  const sort = decodeSort(p, 'sort', { key: 'invocations', desc: true });
  const esort = decodeSort(p, 'esort', { key: 'requests', desc: true });
  const [runs, setRuns] = useState(0);
  // The keys the data has (to search by the one it uses, as the quick filters do).
  const [present, setPresent] = useState<Set<string> | null>(null);
  useEffect(() => {
    allTagNames().then(
      (t) => setPresent(new Set(t.scopes.filter((s) => s.name === 'span' || s.name === 'resource').flatMap((s) => s.tags))),
      () => setPresent(null),
    );
  }, []);
  useEffect(() => {
    document.title = fn ? `${fn} · Serverless · Arbor` : 'Serverless · Arbor';
  }, [fn]);
  const load = useLoad(range, JSON.stringify(filters), runs, (startSec, endSec, signal) => fetchServerless({ startSec, endSec, ...filters }, signal));
  const data = shown(load);
  const set = (changes: Record<string, string | null>, replace = false) => setParams(PATH, p, changes, replace);

  /** `.k = "v"` over the keys of `field` the data has (all of them when unknown). */
  const cond = (field: keyof typeof KEYS, value: string) => {
    const keys = KEYS[field];
    const have = present ? keys.filter((k) => present.has(k)) : keys;
    return anyOf(have.length ? have : [keys[0]!], value);
  };
  const filterConds = FILTERS.filter((f) => filters[f]).map((f) => cond(f, filters[f]));
  const fnConds = (f: string) => [`.faas.name = ${str(f)}`, ...filterConds];
  const fnHref = (f: string) => searchHref(spanset(...fnConds(f)), range.from, range.to);
  const epConds = (e: EndpointFigures) => [`resource.service.name = ${str(e.service)}`, 'kind = server', cond('method', e.method), cond('route', e.route)];
  const epHref = (e: EndpointFigures) => searchHref(spanset(...epConds(e)), range.from, range.to);
  const selectHref = (f: string) => hrefWith(PATH, p, { fn: f === fn ? null : f });

  const fnColumns: Column<FunctionFigures>[] = [
    {
      key: 'function',
      label: 'Function',
      value: (f) => f.function,
      render: (f) => (
        <div class="fn-cell">
          <a href={selectHref(f.function)} onClick={(e) => onLinkClick(e, selectHref(f.function))} data-testid="select-function">
            <span class="svc">{f.function}</span>
          </a>
          <span class="muted small">{[f.namespace, f.environment, f.region].filter(Boolean).join(' · ')}</span>
        </div>
      ),
    },
    { key: 'invocations', label: 'Invocations', num: true, value: (f) => f.invocations, render: (f) => <span title={fmtRate(f.rate)}>{fmtCount(f.invocations)}</span> },
    { key: 'errors', label: 'Errors', num: true, value: (f) => f.errors, render: (f) => <Count n={f.errors} tone={f.errors > 0 ? errorLevel(f.invocations ? f.errors / f.invocations : 0) : ''} /> },
    { key: 'timeouts', label: 'Timeouts', num: true, value: (f) => f.timeouts, render: (f) => <Count n={f.timeouts} tone={f.timeouts > 0 ? 'warn' : ''} /> },
    { key: 'coldStarts', label: 'Cold starts', num: true, value: (f) => f.coldStarts, render: (f) => fmtCount(f.coldStarts) },
    { key: 'coldStartRate', label: 'Cold %', title: 'Share of invocations that were cold starts', num: true, value: (f) => f.coldStartRate, render: (f) => fmtPercent(f.coldStartRate) },
    { key: 'p95', label: 'p95', num: true, value: (f) => f.p95, render: (f) => <span title={`p50 ${fmtSeconds(f.p50)} · p99 ${fmtSeconds(f.p99)} · p95 of warm starts ${fmtSeconds(f.p95Warm)}`}>{fmtSeconds(f.p95)}</span> },
    {
      key: 'memory',
      label: 'Memory',
      title: 'Memory used (faas.max_memory_used_mb, faas.memory_used or faas.memory_pct) over memory configured (faas.max_memory)',
      num: true,
      value: (f) => f.memoryShare,
      render: (f) => <Memory f={f} />,
    },
    { key: 'cost', label: 'Cost', title: 'GB-seconds × derived.gb_second_price', num: true, value: (f) => f.cost, render: (f) => <span title={f.gbSeconds !== undefined ? `${+f.gbSeconds.toPrecision(3)} GB-s` : undefined}>{fmtCost(f.cost)}</span> },
    { key: 'spark', label: 'Invocations over time', render: (f) => <Sparkline values={f.series.invocations} label={`${f.function}: invocations per step`} /> },
    {
      key: 'traces',
      label: '',
      render: (f) => (
        <a class="small" href={fnHref(f.function)} onClick={(e) => onLinkClick(e, fnHref(f.function))} data-testid="function-traces">
          traces →
        </a>
      ),
    },
  ];
  const epColumns: Column<EndpointFigures>[] = [
    { key: 'method', label: 'Method', value: (e) => e.method, render: (e) => <span class="method">{e.method}</span> },
    {
      key: 'route',
      label: 'Route',
      value: (e) => e.route,
      render: (e) => (
        <a class="mono" href={epHref(e)} onClick={(ev) => onLinkClick(ev, epHref(e))} data-testid="endpoint-traces">
          {e.route}
        </a>
      ),
    },
    { key: 'service', label: 'Service', value: (e) => e.service, render: (e) => <span class="muted">{e.service}</span> },
    { key: 'requests', label: 'Requests', num: true, value: (e) => e.requests, render: (e) => fmtCount(e.requests) },
    { key: 'rate', label: 'Rate', num: true, value: (e) => e.rate, render: (e) => fmtRate(e.rate) },
    { key: 'errors', label: 'Error %', num: true, value: (e) => e.errorRate, render: (e) => <ErrorShare share={e.errorRate} failed={e.errors} /> },
    { key: 'classes', label: 'By status', title: 'Requests by HTTP status class', render: (e) => <StatusClasses classes={e.statusClasses} /> },
    { key: 'p50', label: 'p50', num: true, value: (e) => e.p50, render: (e) => fmtSeconds(e.p50) },
    { key: 'p95', label: 'p95', num: true, value: (e) => e.p95, render: (e) => fmtSeconds(e.p95) },
    { key: 'p99', label: 'p99', num: true, value: (e) => e.p99, render: (e) => fmtSeconds(e.p99) },
  ];

  const selected = fn ? data?.functions.find((f) => f.function === fn) : undefined;
  /** "Alert on this": a serverless rule over the function (`measure`, `above`). */
  const alertHref = (f: string, measure: string, above: string) => newRuleHref('serverless', { function: f, measure, above } satisfies Prefill);
  return (
    <main class="page view-page serverless-page" data-testid="serverless-page" data-state={load.state}>
      <ViewToolbar title="Serverless" range={range} onRange={(from, to) => set({ from, to })} onRefresh={() => setRuns((r) => r + 1)}>
        {FILTERS.map((f) => (
          <FilterSelect name={f} value={filters[f]} filters={data?.filters} onChange={(v) => set({ [f]: v || null })} />
        ))}
      </ViewToolbar>
      {load.state === 'error' && <LoadError what="The serverless figures" message={load.message} />}
      {load.state === 'loading' && !data && <div class="hint loading">Loading functions…</div>}
      {data && (
        <>
          <Summary data={data} count={data.functions.length} noun="function" updating={load.state === 'loading'} />
          <DataTable
            testid="functions-table"
            rows={data.functions}
            columns={fnColumns}
            sort={sort}
            onSort={(s) => set({ sort: encodeSort(s) }, true)}
            rowKey={fnKey}
            selected={fn}
            rowClass={(f) => (f.errors > 0 ? errorLevel(f.invocations ? f.errors / f.invocations : 0) : '')}
            onRowClick={(f) => navigate(selectHref(f.function))}
            empty="No function invocations in this range (spans with faas.invocation_id, faas.execution or faas.trigger)."
          />
          {fn && !selected && <p class="hint">{fn} has no invocations in this range{filterConds.length ? ' with these filters' : ''}.</p>}
          {selected && (
            <section class="view-section detail" data-testid="function-detail">
              <div class="detail-head">
                <h2>
                  {selected.function}
                  <AlertLink testid="alert-function" href={alertHref(selected.function, 'errors', '0')} title={`Alert when ${selected.function} fails`}>
                    alert on this function
                  </AlertLink>
                </h2>
                <dl class="stats" data-testid="detail-stats">
                  <Stat label="invocations" value={`${fmtCount(selected.invocations)} (${fmtRate(selected.rate)})`} />
                  <Stat label="errors" value={fmtCount(selected.errors)} tone={selected.errors > 0 ? 'warn' : ''} />
                  <Stat label="timeouts" value={fmtCount(selected.timeouts)} />
                  <Stat label="cold starts" value={`${fmtCount(selected.coldStarts)} (${fmtPercent(selected.coldStartRate)})`} />
                  <Stat label="p50 / p95 / p99" value={`${fmtSeconds(selected.p50)} / ${fmtSeconds(selected.p95)} / ${fmtSeconds(selected.p99)}`} />
                  <Stat label="p95 warm" value={fmtSeconds(selected.p95Warm)} />
                  <Stat label="memory" value={<Memory f={selected} />} />
                  <Stat label="cost" value={fmtCost(selected.cost)} />
                </dl>
              </div>
              <p class="hint charts-hint">Click a step of a chart to search the invocations of that window.</p>
              <div class="charts four">
                {(
                  [
                    ['chart-invocations', 'Invocations', selected.series.invocations, 'bar', 'accent', null, 'traces', null],
                    ['chart-errors', 'Errors', selected.series.errors, 'bar', 'error', FAILED, 'failed invocations', ['errors', '0', 'fails']],
                    ['chart-coldstarts', 'Cold starts', selected.series.coldStarts, 'bar', 'warn', COLD, 'cold starts', ['cold_start_rate', '0.2', 'starts cold too often']],
                  ] as const
                ).map(([id, title, values, kind, tone, extra, what, alert]) => (
                  <StepChart
                    testid={id}
                    title={title}
                    kind={kind}
                    integer
                    tone={tone}
                    values={values}
                    start={data.start}
                    step={data.step}
                    format={(v) => fmtCount(v)}
                    onPick={(i) => {
                      const [a, b] = stepWindow(data, i);
                      navigate(searchHref(spanset(...fnConds(selected.function), extra), a, b));
                    }}
                    pickLabel={what}
                    action={alert && <AlertLink testid={`alert-${alert[0]}`} href={alertHref(selected.function, alert[0], alert[1])} title={`Alert when ${selected.function} ${alert[2]}`} />}
                  />
                ))}
                <StepChart
                  testid="chart-p95"
                  title="p95 duration"
                  kind="line"
                  tone="info"
                  values={selected.series.p95}
                  start={data.start}
                  step={data.step}
                  format={(v) => fmtSeconds(v)}
                  onPick={(i) => {
                    const [a, b] = stepWindow(data, i);
                    const v = selected.series.p95[i];
                    navigate(searchHref(spanset(...fnConds(selected.function), v === null || v === undefined ? null : `duration >= ${durationAtLeast(v)}`), a, b));
                  }}
                  pickLabel="slow invocations"
                  action={
                    <AlertLink
                      testid="alert-duration_to_timeout"
                      href={alertHref(selected.function, 'duration_to_timeout', '0.8')}
                      title={`Alert when the p99 duration of ${selected.function} nears its timeout`}
                    />
                  }
                />
              </div>
            </section>
          )}
          <section class="view-section">
            <h2>API endpoints</h2>
            <DataTable
              testid="endpoints-table"
              rows={data.endpoints}
              columns={epColumns}
              sort={esort}
              onSort={(s) => set({ esort: encodeSort(s) }, true)}
              rowKey={(e) => `${e.service} ${e.method} ${e.route}`}
              rowClass={(e) => errorLevel(e.errorRate)}
              onRowClick={(e) => navigate(epHref(e))}
              empty="No SERVER spans with a route (http.route or http.path) and a method in this range."
            />
          </section>
        </>
      )}
    </main>
  );
}

export function Count({ n, tone }: { n: number; tone: string }) {
  return n > 0 ? <span class={`count ${tone}`}>{fmtCount(n)}</span> : <span class="muted">0</span>;
}

export function Memory({ f }: { f: FunctionFigures }) {
  if (f.memoryShare === null || f.memoryShare === undefined) return <span class="muted">–</span>;
  const title = f.memoryUsedMb != null && f.memoryConfiguredMb != null ? `${Math.round(f.memoryUsedMb)} MB of ${Math.round(f.memoryConfiguredMb)} MB` : undefined;
  return (
    <span class="memory" title={title}>
      <span class="meter" aria-hidden="true">
        <span style={{ width: `${Math.min(100, f.memoryShare * 100)}%` }} class={f.memoryShare > 0.9 ? 'high' : ''} />
      </span>
      {fmtPercent(f.memoryShare)}
    </span>
  );
}

export function StatusClasses({ classes }: { classes: Record<string, number> }) {
  const shownClasses = CLASSES.filter((c) => (classes[c] ?? 0) > 0);
  if (shownClasses.length === 0) return <span class="muted">–</span>;
  return (
    <span class="status-classes">
      {shownClasses.map((c) => (
        <span class={`status-class s${c}`} data-class={c} title={`${classes[c]} requests answered ${c}`}>
          <span class="status-name">{c}</span> {fmtCount(classes[c]!)}
        </span>
      ))}
    </span>
  );
}
