// "What is different" (BubbleUp): a selection of spans against the rest, attribute by
// attribute, from the server's TraceQL `compare({selection}, topN, start, end)` (docs/api.md).
// Its answer is read generically: every series carries `__meta_type` (selection, baseline,
// selection_total, baseline_total) and one more label, the attribute and its value (none on
// the totals); whatever attributes the server compares are shown.

import { getJson, type AnyValue, type KeyValue } from './api';
import { valueText } from './otlp';

export const TOP_N = 10;

export interface ValueDiff {
  /** The value as the server labelled it (typed), and as text. */
  value: AnyValue;
  text: string;
  selection: number;
  baseline: number;
  /** Shares of the spans of each side, 0…1. */
  selShare: number;
  baseShare: number;
  /** selShare − baseShare. */
  diff: number;
}

export interface AttributeDiff {
  key: string;
  /** Spans of each side that have the attribute. */
  selectionTotal: number;
  baselineTotal: number;
  /** The largest |diff| of its values: how differently the two sides are distributed. */
  score: number;
  /** Most over-represented in the selection first. */
  values: ValueDiff[];
}

/** `<filter> | compare(<selection>, n[, startNs, endNs])`. */
export function compareQuery(filter: string, selection: string, window?: { fromMs: number; toMs: number }): string {
  const base = filter.trim() || '{ }';
  const range = window ? `, ${BigInt(Math.floor(window.fromMs)) * 1_000_000n}, ${BigInt(Math.ceil(window.toMs)) * 1_000_000n}` : '';
  return `${base} | compare(${selection}, ${TOP_N}${range})`;
}

interface RawSeries {
  labels?: KeyValue[];
  value?: number;
}

/** Asks the server (one step over the range) and ranks the attributes. */
export async function fetchCompare(q: string, fromMs: number, toMs: number, signal?: AbortSignal): Promise<AttributeDiff[]> {
  const params = new URLSearchParams({ q, start: String(Math.floor(fromMs / 1000)), end: String(Math.ceil(toMs / 1000)) });
  const body = await getJson<{ series?: RawSeries[] }>(`/api/metrics/query?${params}`, signal);
  return rankCompare(body.series ?? []);
}

const isNil = (v: AnyValue | undefined) => !v || Object.keys(v).length === 0;

/** The series of a `compare()` answer, per attribute, ranked by how much the sides differ. */
export function rankCompare(series: RawSeries[]): AttributeDiff[] {
  const attrs = new Map<string, { selTotal: number; baseTotal: number; values: Map<string, { value: AnyValue; sel: number; base: number }> }>();
  const get = (key: string) => {
    let a = attrs.get(key);
    if (!a) attrs.set(key, (a = { selTotal: 0, baseTotal: 0, values: new Map() }));
    return a;
  };
  for (const s of series) {
    const labels = s.labels ?? [];
    const type = valueText(labels.find((l) => l.key === '__meta_type')?.value);
    // A series marked `__meta_error` (Tempo's `__too_many_values__`: the attribute had more
    // values than the top N) carries no value to show.
    if (labels.some((l) => l.key === '__meta_error')) continue;
    const attr = labels.find((l) => !l.key.startsWith('__meta_'));
    const n = Number(s.value ?? 0);
    if (!attr || !Number.isFinite(n)) continue;
    const a = get(attr.key);
    if (type === 'selection_total') a.selTotal += n;
    else if (type === 'baseline_total') a.baseTotal += n;
    else if ((type === 'selection' || type === 'baseline') && !isNil(attr.value)) {
      const text = valueText(attr.value);
      let v = a.values.get(text);
      if (!v) a.values.set(text, (v = { value: attr.value!, sel: 0, base: 0 }));
      if (type === 'selection') v.sel += n;
      else v.base += n;
    }
  }
  // Shares are of all the spans of a side (the largest total of any attribute), so a
  // value found on some spans only (a status message) weighs as the share it covers.
  const sums = [...attrs.values()].map((a) => ({
    sel: a.selTotal || [...a.values.values()].reduce((t, v) => t + v.sel, 0),
    base: a.baseTotal || [...a.values.values()].reduce((t, v) => t + v.base, 0),
  }));
  const selAll = Math.max(0, ...sums.map((x) => x.sel));
  const baseAll = Math.max(0, ...sums.map((x) => x.base));
  const out: AttributeDiff[] = [];
  [...attrs.entries()].forEach(([key, a], i) => {
    const values = [...a.values.entries()].map(([text, v]) => {
      const selShare = selAll > 0 ? v.sel / selAll : 0;
      const baseShare = baseAll > 0 ? v.base / baseAll : 0;
      return { value: v.value, text, selection: v.sel, baseline: v.base, selShare, baseShare, diff: selShare - baseShare };
    });
    if (values.length === 0) return;
    values.sort((x, y) => y.diff - x.diff || y.selection - x.selection || x.text.localeCompare(y.text));
    const score = Math.max(...values.map((v) => Math.abs(v.diff)));
    out.push({ key, selectionTotal: sums[i]!.sel, baselineTotal: sums[i]!.base, score, values });
  });
  out.sort((x, y) => y.score - x.score || x.key.localeCompare(y.key));
  return out;
}
