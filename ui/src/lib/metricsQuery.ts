// TraceQL metrics queries on the search page: `{ … } | rate() by (…)` is sent to
// `/api/metrics/query_range` (docs/api.md) and drawn as charts, one per series.

import { getJson, type KeyValue } from './api';
import { valueText } from './otlp';

const METRICS_FN = /\|\s*(rate|count_over_time|min_over_time|max_over_time|avg_over_time|sum_over_time|quantile_over_time|histogram_over_time|compare)\s*\(/;

/** Whether a TraceQL query is a metrics query (a pipeline into a metrics function). */
export function isMetricsQuery(q: string): boolean {
  // Strings may hold a `|`: leave them out before looking.
  return METRICS_FN.test(q.replace(/"(?:[^"\\]|\\.)*"/g, '""'));
}

export interface Exemplar {
  traceId: string;
  timestampMs: number;
  value: number;
}
export interface Series {
  label: string;
  /** The series' labels as the server sent them (typed values). */
  labels: KeyValue[];
  values: (number | null)[];
  exemplars: Exemplar[];
}
export interface MetricsResult {
  startSec: number;
  stepSec: number;
  series: Series[];
}

interface RawSeries {
  labels?: KeyValue[];
  promLabels?: string;
  samples?: { timestampMs: string | number; value: number }[];
  exemplars?: { labels?: KeyValue[]; value: number; timestampMs: string | number }[];
}

/** Round steps (seconds) for about 60 points over the range. */
const STEPS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400];

export async function queryRange(q: string, fromMs: number, toMs: number, signal?: AbortSignal): Promise<MetricsResult> {
  const range = (toMs - fromMs) / 1000;
  const stepSec = STEPS.find((s) => s >= range / 60) ?? Math.ceil(range / 60 / 86400) * 86400;
  const startSec = Math.floor(fromMs / 1000 / stepSec) * stepSec;
  const endSec = Math.ceil(toMs / 1000);
  const params = new URLSearchParams({ q, start: String(startSec), end: String(endSec), step: `${stepSec}s` });
  const body = await getJson<{ series?: RawSeries[] }>(`/api/metrics/query_range?${params}`, signal);
  const n = Math.max(Math.ceil((endSec - startSec) / stepSec), 1);
  const series = (body.series ?? []).map((r) => {
    const values: (number | null)[] = new Array(n).fill(null);
    for (const s of r.samples ?? []) {
      const k = Math.floor((Number(s.timestampMs) / 1000 - startSec) / stepSec);
      if (k >= 0 && k < n) values[k] = s.value;
    }
    const seen = new Set<string>();
    const exemplars = (r.exemplars ?? []).flatMap((e) => {
      const id = (e.labels ?? []).find((l) => l.key === 'trace:id');
      const traceId = id ? valueText(id.value) : '';
      if (!traceId || seen.has(traceId)) return [];
      seen.add(traceId);
      return [{ traceId, timestampMs: Number(e.timestampMs), value: e.value }];
    });
    const label = r.promLabels && r.promLabels !== '{}' ? r.promLabels : (r.labels ?? []).map((l) => `${l.key}=${valueText(l.value)}`).join(', ') || 'all spans';
    return { label, labels: r.labels ?? [], values, exemplars };
  });
  return { startSec, stepSec, series };
}

/** The spanset filter of a metrics query (what its exemplars' searches use): the part before the pipe. */
export function filterOf(q: string): string {
  const i = q.replace(/"(?:[^"\\]|\\.)*"/g, (m) => 'x'.repeat(m.length)).indexOf('|');
  return (i >= 0 ? q.slice(0, i) : q).trim() || '{ }';
}
