// The service map: the service graph over the time range (`/api/derived/service-graph`),
// drawn as a map and listed as a table of edges. A click on a node or an edge searches
// its spans. `source=spans` recomputes the edges from the stored spans of the range.
// The range, the source and the table's sort live in the URL.

import { useEffect, useMemo, useState } from 'preact/hooks';
import { DataTable, type Column } from '../components/DataTable';
import { NodeShape, ServiceMap, TYPE_LABEL } from '../components/ServiceMap';
import { FilterSelect, LoadError, shown, useLoad, ViewToolbar } from '../components/ViewBits';
import { edgeQuery, errorLevel, fetchGraph, fetchServices, fmtCount, fmtPercent, fmtRate, fmtSeconds, nodeQuery, searchHref, type GraphEdge, type GraphNode } from '../lib/derived';
import { focusGraph } from '../lib/graphFocus';
import { decodeRange, decodeSort, encodeSort, setParams } from '../lib/pageState';
import { navigate, onLinkClick, type Location } from '../lib/router';
import { fmtDateTime } from '../lib/time';
import { distinctColors } from '../lib/colors';

const PATH = '/map';

export function ServiceMapPage({ loc }: { loc: Location }) {
  const p = loc.params;
  const range = decodeRange(p);
  const source = p.get('source') === 'spans' ? 'spans' : 'series';
  const filters = { namespace: p.get('namespace') ?? '', environment: p.get('environment') ?? '', region: p.get('region') ?? '' };
  const sort = decodeSort(p, 'sort', { key: 'rate', desc: true });
  const [runs, setRuns] = useState(0);
  useEffect(() => {
    document.title = 'Service map · Arbor';
  }, []);
  const load = useLoad(range, `${source} ${JSON.stringify(filters)}`, runs, (startSec, endSec, signal) => fetchGraph({ startSec, endSec, source, ...filters }, signal));
  const all = shown(load);
  // `focus=<node>`: the node with everything upstream and downstream of it.
  const focus = p.get('focus') ?? '';
  const data = useMemo(() => (all && focus ? { ...all, ...focusGraph(all.nodes, all.edges, focus) } : all), [all, focus]);
  // The graph's answer has no pickers' values: the services view of the range lists them.
  const pickers = shown(useLoad(range, '', runs, (startSec, endSec, signal) => fetchServices({ startSec, endSec }, signal).catch(() => null)));
  const set = (changes: Record<string, string | null>) => setParams(PATH, p, changes);
  const types = useMemo(() => new Map((data?.nodes ?? []).map((n) => [n.id, n.type])), [data]);
  useMemo(() => distinctColors((data?.nodes ?? []).filter((n) => n.type === 'service').map((n) => n.id)), [data]);
  const openNode = (n: GraphNode) => navigate(searchHref(nodeQuery(n), range.from, range.to));
  const openEdge = (e: GraphEdge) => navigate(searchHref(edgeQuery(e, types.get(e.server)), range.from, range.to));

  const columns: Column<GraphEdge>[] = [
    { key: 'client', label: 'Client', value: (e) => e.client, render: (e) => <span class="svc">{e.client}</span> },
    {
      key: 'server',
      label: 'Server',
      value: (e) => e.server,
      render: (e) => {
        const href = searchHref(edgeQuery(e, types.get(e.server)), range.from, range.to);
        return (
          <a class="svc" href={href} title="Search these calls" onClick={(ev) => onLinkClick(ev, href)}>
            {e.server}
          </a>
        );
      },
    },
    { key: 'type', label: 'Type', value: (e) => types.get(e.server) ?? '', render: (e) => <span class="muted">{TYPE_LABEL[types.get(e.server) ?? ''] ?? e.connectionType}</span> },
    { key: 'requests', label: 'Requests', num: true, value: (e) => e.requests, render: (e) => fmtCount(e.requests) },
    { key: 'rate', label: 'Rate', num: true, value: (e) => e.rate, render: (e) => fmtRate(e.rate) },
    { key: 'errors', label: 'Error %', num: true, value: (e) => e.errorRate, render: (e) => <ErrorShare share={e.errorRate} failed={e.failed} /> },
    { key: 'p50', label: 'p50', num: true, value: (e) => e.p50, render: (e) => fmtSeconds(e.p50) },
    { key: 'p95', label: 'p95', num: true, value: (e) => e.p95, render: (e) => fmtSeconds(e.p95) },
    { key: 'p99', label: 'p99', num: true, value: (e) => e.p99, render: (e) => fmtSeconds(e.p99) },
    { key: 'clientP95', label: 'Client p95', title: 'p95 of the client side (the caller waited this long)', num: true, value: (e) => e.clientP95, render: (e) => fmtSeconds(e.clientP95) },
  ];

  return (
    <main class="page view-page map-page" data-testid="map-page" data-state={load.state}>
      <ViewToolbar title="Service map" range={range} onRange={(from, to) => set({ from, to })} onRefresh={() => setRuns((r) => r + 1)}>
        {(['namespace', 'environment', 'region'] as const).map((f) => (
          <FilterSelect name={f} value={filters[f]} filters={pickers?.filters} onChange={(v) => set({ [f]: v || null })} />
        ))}
        <label class={`filter ${focus ? 'on' : ''}`} title="One node with everything upstream and downstream of it">
          <span>Focus</span>
          <select data-testid="map-focus" aria-label="Focus" value={focus} onChange={(e) => set({ focus: e.currentTarget.value || null })}>
            <option value="">all nodes</option>
            {(all?.nodes ?? [])
              .map((n) => n.id)
              .sort()
              .map((id) => (
                <option value={id}>{id}</option>
              ))}
          </select>
        </label>
        <label class="switch" title="Rebuild the edges from the stored spans of the range (slower: it reads every span)">
          <input type="checkbox" data-testid="source-spans" checked={source === 'spans'} onChange={(e) => set({ source: e.currentTarget.checked ? 'spans' : null })} />
          Recompute from spans
        </label>
      </ViewToolbar>
      {load.state === 'error' && <LoadError what="The service graph" message={load.message} />}
      {load.state === 'loading' && !data && <div class="hint loading">Loading the service graph…</div>}
      {data && (
        <>
          <p class="view-summary" data-testid="map-summary">
            <strong>{data.nodes.length}</strong> nodes, <strong>{data.edges.length}</strong> edges
            {focus && all && (
              <span data-testid="map-focused">
                {' '}
                (focused on <strong>{focus}</strong>, its up- and downstream, of {all.nodes.length} nodes;{' '}
                <button class="link-button" data-testid="map-unfocus" onClick={() => set({ focus: null })}>
                  show all
                </button>
                )
              </span>
            )}
            <span class="muted">
              {' '}
              · {fmtDateTime(data.start * 1000, false)} → {fmtDateTime(data.end * 1000, false)} · from {data.source === 'spans' ? 'the stored spans' : 'the kept series'}
              {load.state === 'loading' && ' · updating…'}
            </span>
          </p>
          {data.nodes.length === 0 && data.edges.length === 0 ? (
            <div class="message" data-testid="map-empty">
              <strong>No calls between services in this range.</strong>
              <p class="muted">Widen the time range{source === 'series' ? ', or recompute from the stored spans' : ''}.</p>
            </div>
          ) : (
            <section class="panel map-panel">
              <Legend />
              <ServiceMap nodes={data.nodes} edges={data.edges} onNode={openNode} onEdge={openEdge} />
            </section>
          )}
          {data.edges.length > 0 && (
            <section class="view-section">
              <h2>Edges</h2>
              <DataTable
                testid="edges-table"
                rows={data.edges}
                columns={columns}
                sort={sort}
                onSort={(s) => setParams(PATH, p, { sort: encodeSort(s) }, true)}
                rowKey={(e) => `${e.client}\u2192${e.server}`}
                rowClass={(e) => errorLevel(e.errorRate)}
                onRowClick={openEdge}
              />
            </section>
          )}
        </>
      )}
    </main>
  );
}

export function ErrorShare({ share, failed }: { share: number; failed?: number }) {
  const level = errorLevel(share);
  return (
    <span class={`err-share ${level}`} title={failed !== undefined ? `${fmtCount(failed)} failed` : undefined}>
      {fmtPercent(share)}
    </span>
  );
}

function Legend() {
  return (
    <div class="map-legend" aria-label="Legend">
      {(['service', 'user', 'database', 'messaging_system', 'virtual_node'] as const).map((t) => (
        <span class={`legend-item node type-${t}`}>
          <svg width="22" height="22" viewBox="-11 -11 22 22" aria-hidden="true">
            <NodeShape type={t} r={8} color={t === 'service' ? 'var(--accent)' : undefined} />
          </svg>
          {TYPE_LABEL[t]}
        </span>
      ))}
      <span class="legend-item">
        <svg width="28" height="10" aria-hidden="true">
          <line class="legend-edge warn" x1="2" x2="26" y1="5" y2="5" />
        </svg>
        1–5 % fail
      </span>
      <span class="legend-item">
        <svg width="28" height="10" aria-hidden="true">
          <line class="legend-edge bad" x1="2" x2="26" y1="5" y2="5" />
        </svg>
        5 % or more fail
      </span>
      <span class="legend-item muted">size: request rate · labels: rate, error %, p95</span>
    </div>
  );
}
