// Services: rate, errors and duration per service over the time range
// (`/api/derived/services`), with sparklines; a selected service shows its charts over
// time and its operations (one of which may be selected for the charts). A click on a
// chart's step searches the traces of that step's window. Everything lives in the URL.

import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { Sparkline, StepChart } from '../components/Charts';
import { DataTable, type Column } from '../components/DataTable';
import { AlertLink, FilterSelect, LoadError, shown, Stat, useLoad, ViewToolbar } from '../components/ViewBits';
import { latencyAbove, newRuleHref, ruleSpanKind, type Prefill } from '../lib/alerts';
import { serviceColor } from '../lib/colors';
import {
  durationAtLeast,
  errorLevel,
  fetchServices,
  fmtCount,
  fmtPercent,
  fmtRate,
  fmtSeconds,
  kindName,
  searchHref,
  spanset,
  stepWindow,
  str,
  type CallSeries,
  type OperationFigures,
  type ServiceFigures,
  type ServicesAnswer,
} from '../lib/derived';
import { decodeRange, decodeSort, encodeSort, hrefWith, setParams } from '../lib/pageState';
import { navigate, onLinkClick, type Location } from '../lib/router';
import { fmtDateTime } from '../lib/time';
import { ErrorShare } from './ServiceMapPage';
import { distinctColors } from '../lib/colors';

const PATH = '/services';
const FILTERS = ['namespace', 'environment', 'region'] as const;

export function ServicesPage({ loc }: { loc: Location }) {
  const p = loc.params;
  const range = decodeRange(p);
  const filters = { namespace: p.get('namespace') ?? '', environment: p.get('environment') ?? '', region: p.get('region') ?? '' };
  const service = p.get('service') ?? '';
  const op = p.get('op');
  const opKind = p.get('kind') ?? '';
  const sort = decodeSort(p, 'sort', { key: 'rate', desc: true });
  const opSort = decodeSort(p, 'opsort', { key: 'rate', desc: true });
  const [runs, setRuns] = useState(0);
  useEffect(() => {
    document.title = service ? `${service} · Services · Arbor` : 'Services · Arbor';
  }, [service]);
  const filterKey = JSON.stringify(filters);
  const list = useLoad(range, filterKey, runs, (startSec, endSec, signal) => fetchServices({ startSec, endSec, ...filters }, signal));
  const detail = useLoad(range, `${filterKey} ${service}`, runs, (startSec, endSec, signal) =>
    service ? fetchServices({ startSec, endSec, ...filters, service }, signal) : Promise.resolve(null),
  );
  const data = shown(list);
  const det = shown(detail);
  const set = (changes: Record<string, string | null>, replace = false) => setParams(PATH, p, changes, replace);
  const selectHref = (s: string) => hrefWith(PATH, p, { service: s === service ? null : s, op: null, kind: null });

  const columns: Column<ServiceFigures>[] = [
    {
      key: 'service',
      label: 'Service',
      value: (s) => s.service,
      render: (s) => (
        <a class="svc-link" href={selectHref(s.service)} onClick={(e) => onLinkClick(e, selectHref(s.service))} data-testid="select-service">
          <span class="svc-dot" style={{ background: serviceColor(s.service) }} />
          <span class="svc">{s.service}</span>
        </a>
      ),
    },
    { key: 'calls', label: 'Calls', num: true, value: (s) => s.calls, render: (s) => fmtCount(s.calls) },
    { key: 'rate', label: 'Rate', num: true, value: (s) => s.rate, render: (s) => fmtRate(s.rate) },
    { key: 'errors', label: 'Error %', num: true, value: (s) => s.errorRate, render: (s) => <ErrorShare share={s.errorRate} failed={s.errors} /> },
    { key: 'p50', label: 'p50', num: true, value: (s) => s.p50, render: (s) => fmtSeconds(s.p50) },
    { key: 'p95', label: 'p95', num: true, value: (s) => s.p95, render: (s) => fmtSeconds(s.p95) },
    { key: 'p99', label: 'p99', num: true, value: (s) => s.p99, render: (s) => fmtSeconds(s.p99) },
    { key: 'spark-calls', label: 'Calls over time', render: (s) => <Sparkline values={s.series.calls} label={`${s.service}: calls per step`} /> },
    { key: 'spark-p95', label: 'p95 over time', render: (s) => <Sparkline values={s.series.p95} tone="info" label={`${s.service}: p95 per step`} /> },
    {
      key: 'traces',
      label: '',
      render: (s) => {
        const href = searchHref(spanset(`resource.service.name = ${str(s.service)}`), range.from, range.to);
        return (
          <a class="small" href={href} onClick={(e) => onLinkClick(e, href)} data-testid="service-traces">
            traces →
          </a>
        );
      },
    },
  ];

  useMemo(() => data && distinctColors(data.services.map((s) => s.service)), [data]);
  return (
    <main class="page view-page services-page" data-testid="services-page" data-state={list.state}>
      <ViewToolbar title="Services" range={range} onRange={(from, to) => set({ from, to })} onRefresh={() => setRuns((r) => r + 1)}>
        {FILTERS.map((f) => (
          <FilterSelect name={f} value={filters[f]} filters={data?.filters} onChange={(v) => set({ [f]: v || null })} />
        ))}
      </ViewToolbar>
      {list.state === 'error' && <LoadError what="The services" message={list.message} />}
      {list.state === 'loading' && !data && <div class="hint loading">Loading services…</div>}
      {data && (
        <>
          <Summary data={data} count={data.services.length} noun="service" updating={list.state === 'loading'} />
          <DataTable
            testid="services-table"
            rows={data.services}
            columns={columns}
            sort={sort}
            onSort={(s) => set({ sort: encodeSort(s) }, true)}
            rowKey={(s) => s.service}
            selected={service}
            rowClass={(s) => errorLevel(s.errorRate)}
            onRowClick={(s) => navigate(selectHref(s.service))}
            empty="No spans in this range."
          />
        </>
      )}
      {service && detail.state === 'error' && <LoadError what={`The operations of ${service}`} message={detail.message} />}
      {service && det && (
        <ServiceDetail
          data={det}
          service={service}
          op={op}
          opKind={opKind}
          opSort={opSort}
          onSort={(s) => set({ opsort: encodeSort(s) }, true)}
          onOp={(o) => set(o && !(o.name === op && o.kind === opKind) ? { op: o.name, kind: o.kind } : { op: null, kind: null })}
          from={range.from}
          to={range.to}
          filters={filters}
        />
      )}
    </main>
  );
}

export function Summary({ data, count, noun, updating }: { data: { start: number; end: number; step: number }; count: number; noun: string; updating: boolean }) {
  return (
    <p class="view-summary" data-testid="view-summary">
      <strong>{count}</strong> {count === 1 ? noun : `${noun}s`}
      <span class="muted">
        {' '}
        · {fmtDateTime(data.start * 1000, false)} → {fmtDateTime(data.end * 1000, false)} · a point every {data.step} s{updating && ' · updating…'}
      </span>
    </p>
  );
}

function ServiceDetail({
  data,
  service,
  op,
  opKind,
  opSort,
  onSort,
  onOp,
  from,
  to,
  filters,
}: {
  data: ServicesAnswer;
  service: string;
  op: string | null;
  opKind: string;
  opSort: { key: string; desc: boolean };
  onSort: (s: { key: string; desc: boolean }) => void;
  onOp: (o: OperationFigures | null) => void;
  from: string;
  to: string;
  filters: { namespace: string; environment: string; region: string };
}) {
  const svc = data.services.find((s) => s.service === service);
  const ops = (data.operations ?? []).filter((o) => o.service === service);
  const selected = op === null ? undefined : ops.find((o) => o.name === op && o.kind === opKind);
  // The service's figures are those of its SERVER and CONSUMER spans when it has some.
  const served = ops.some((o) => o.kind === 'SPAN_KIND_SERVER' || o.kind === 'SPAN_KIND_CONSUMER');
  const base = selected
    ? [`resource.service.name = ${str(service)}`, `name = ${str(selected.name)}`, `kind = ${kindName(selected.kind)}`]
    : [`resource.service.name = ${str(service)}`, served ? '(kind = server || kind = consumer)' : null];
  const scope: { series: CallSeries } | undefined = selected ?? svc;
  const pick = (extra: string | null) => (i: number) => {
    const [a, b] = stepWindow(data, i);
    navigate(searchHref(spanset(...base, extra), a, b));
  };
  const opHref = (o: OperationFigures) => searchHref(spanset(`resource.service.name = ${str(service)}`, `name = ${str(o.name)}`, `kind = ${kindName(o.kind)}`), from, to);
  const columns: Column<OperationFigures>[] = [
    {
      key: 'op',
      label: 'Operation',
      value: (o) => o.name,
      render: (o) => (
        <button class="link op-link" data-testid="select-op" onClick={() => onOp(o)}>
          {o.name}
        </button>
      ),
    },
    { key: 'kind', label: 'Kind', value: (o) => o.kind, render: (o) => <span class="kind-badge">{kindName(o.kind)}</span> },
    { key: 'calls', label: 'Calls', num: true, value: (o) => o.calls, render: (o) => fmtCount(o.calls) },
    { key: 'rate', label: 'Rate', num: true, value: (o) => o.rate, render: (o) => fmtRate(o.rate) },
    { key: 'errors', label: 'Error %', num: true, value: (o) => o.errorRate, render: (o) => <ErrorShare share={o.errorRate} failed={o.errors} /> },
    { key: 'p50', label: 'p50', num: true, value: (o) => o.p50, render: (o) => fmtSeconds(o.p50) },
    { key: 'p95', label: 'p95', num: true, value: (o) => o.p95, render: (o) => fmtSeconds(o.p95) },
    { key: 'p99', label: 'p99', num: true, value: (o) => o.p99, render: (o) => fmtSeconds(o.p99) },
    { key: 'spark-calls', label: 'Calls over time', render: (o) => <Sparkline values={o.series.calls} label={`${o.name}: calls per step`} /> },
    { key: 'spark-p95', label: 'p95 over time', render: (o) => <Sparkline values={o.series.p95} tone="info" label={`${o.name}: p95 per step`} /> },
    {
      key: 'traces',
      label: '',
      render: (o) => (
        <a class="small" href={opHref(o)} onClick={(e) => onLinkClick(e, opHref(o))}>
          traces →
        </a>
      ),
    },
  ];
  const fig = selected ?? svc;
  // "Alert on this": a rule over the same figures (the operation by its span name and
  // kind, as its row; the page's filters as the rule's place).
  const opKindName = selected ? ruleSpanKind(selected.kind) : undefined;
  const target: Prefill = {
    service,
    ...(selected ? { operation: selected.name } : {}),
    ...(opKindName ? { span_kind: opKindName } : {}),
    ...Object.fromEntries(Object.entries(filters).filter(([, v]) => v)),
  };
  const what = selected ? `${selected.name} on ${service}` : service;
  // A click on a service (or an operation) brings its charts into view, below a long table too.
  const box = useRef<HTMLElement>(null);
  useEffect(() => {
    const el = box.current;
    if (!el) return;
    const r = el.getBoundingClientRect();
    if (r.top < 0 || r.top > window.innerHeight * 0.6) el.scrollIntoView({ block: 'start' });
  }, [service, op, opKind]);
  return (
    <section class="view-section detail" data-testid="service-detail" ref={box}>
      <div class="detail-head">
        <h2>
          <span class="svc-dot" style={{ background: serviceColor(service) }} />
          {service}
          {selected && (
            <span class="detail-op" data-testid="detail-op">
              {' '}
              › {selected.name} <span class="kind-badge">{kindName(selected.kind)}</span>
              <button class="button subtle" data-testid="clear-op" onClick={() => onOp(null)}>
                × all operations
              </button>
            </span>
          )}
        </h2>
        {fig && (
          <dl class="stats" data-testid="detail-stats">
            <Stat label="calls" value={fmtCount(fig.calls)} />
            <Stat label="rate" value={fmtRate(fig.rate)} />
            <Stat label="errors" value={`${fmtCount(fig.errors)} (${fmtPercent(fig.errorRate)})`} tone={errorLevel(fig.errorRate)} />
            <Stat label="p50" value={fmtSeconds(fig.p50)} />
            <Stat label="p95" value={fmtSeconds(fig.p95)} />
            <Stat label="p99" value={fmtSeconds(fig.p99)} />
          </dl>
        )}
      </div>
      {!svc && <p class="hint">{service} has no figures in this range.</p>}
      {scope && <p class="hint charts-hint">Click a step of a chart to search the traces of that window.</p>}
      {scope && (
        <div class="charts">
           <StepChart testid="chart-calls" title="Calls" kind="bar" integer values={scope.series.calls} start={data.start} step={data.step} format={(v) => fmtCount(v)} onPick={pick(null)} />
          <StepChart testid="chart-errors" title="Errors" kind="bar" integer tone="error" values={scope.series.errors} start={data.start} step={data.step} format={(v) => fmtCount(v)} onPick={pick('status = error')} pickLabel="failed spans"
            action={<AlertLink testid="alert-errors" href={newRuleHref('errors', { ...target, measure: 'rate', above: '0.05' })} title={`Alert when more than a share of the calls of ${what} fail`} />}
          />
          <StepChart
            testid="chart-p95"
            title="p95 duration"
            kind="line"
            tone="info"
            values={scope.series.p95}
            start={data.start}
            step={data.step}
            format={(v) => fmtSeconds(v)}
            onPick={(i) => {
              const v = scope.series.p95[i];
              pick(v === null || v === undefined ? null : `duration >= ${durationAtLeast(v)}`)(i);
            }}
            pickLabel="slow spans"
            action={
              <AlertLink
                testid="alert-latency"
                href={newRuleHref('latency', { ...target, quantile: '0.95', ...(latencyAbove(fig?.p95) ? { above: latencyAbove(fig?.p95)! } : {}) })}
                title={`Alert when the p95 of ${what} is above a threshold`}
              />
            }
          />
        </div>
      )}
      <h3>Operations</h3>
      <DataTable
        testid="operations-table"
        rows={ops}
        columns={columns}
        sort={opSort}
        onSort={onSort}
        rowKey={(o) => `${o.kind} ${o.name}`}
        selected={selected ? `${selected.kind} ${selected.name}` : null}
        rowClass={(o) => errorLevel(o.errorRate)}
        onRowClick={(o) => onOp(o)}
      />
    </section>
  );
}
