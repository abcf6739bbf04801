// A span against its peers: the spans of the same service and operation (span name) over
// the last hour. Two instant TraceQL metrics queries count them all and those slower than
// this span, which places it exactly (a percentile from counts, no histogram error); a
// third gives the peers' p50, p95 and p99 for scale.

import { getJson, type KeyValue } from './api';
import { valueText } from './otlp';

export const PEER_WINDOW = 'now-1h';

export interface Peers {
  total: number;
  slower: number;
  /** Share of the peers at most as long as this span, 0…100. */
  percentile: number;
  quantiles: { p: string; seconds: number }[];
  /** The TraceQL of the slower peers. */
  slowerQuery: string;
}

/** `{ resource.service.name = "…" && name = "…" }`, with `more` conditions. */
export function peerFilter(service: string, name: string, more = ''): string {
  return `{ resource.service.name = ${JSON.stringify(service)} && name = ${JSON.stringify(name)}${more ? ` && ${more}` : ''} }`;
}

interface Answer {
  series?: { labels?: KeyValue[]; value?: number }[];
}

async function instant(q: string, startSec: number, endSec: number, signal?: AbortSignal): Promise<Answer> {
  const p = new URLSearchParams({ q, start: String(startSec), end: String(endSec) });
  return getJson<Answer>(`/api/metrics/query?${p}`, signal);
}

const count = (a: Answer) => (a.series ?? []).reduce((t, s) => t + Number(s.value ?? 0), 0);

export async function fetchPeers(service: string, name: string, durationNs: number, signal?: AbortSignal): Promise<Peers> {
  const endSec = Math.ceil(Date.now() / 1000);
  const startSec = endSec - 3600;
  const slowerQuery = peerFilter(service, name, `duration > ${Math.round(durationNs)}ns`);
  const [all, slow, qs] = await Promise.all([
    instant(`${peerFilter(service, name)} | count_over_time()`, startSec, endSec, signal),
    instant(`${slowerQuery} | count_over_time()`, startSec, endSec, signal),
    instant(`${peerFilter(service, name)} | quantile_over_time(duration, 0.5, 0.95, 0.99)`, startSec, endSec, signal),
  ]);
  const total = count(all);
  const slower = Math.min(count(slow), total);
  const quantiles = (qs.series ?? [])
    .map((s) => ({ p: valueText((s.labels ?? []).find((l) => l.key === 'p')?.value), seconds: Number(s.value) }))
    .filter((q) => q.p && Number.isFinite(q.seconds))
    .sort((a, b) => Number(a.p) - Number(b.p));
  return { total, slower, percentile: total > 0 ? ((total - slower) / total) * 100 : 0, quantiles, slowerQuery };
}
