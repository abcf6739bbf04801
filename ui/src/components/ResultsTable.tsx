// The search results: one row per trace, most recent first (or by a clicked column).

import { useState } from 'preact/hooks';
import type { SearchTrace } from '../lib/api';
import { serviceColor } from '../lib/colors';
import { valueText } from '../lib/otlp';
import { onLinkClick } from '../lib/router';
import { fmtAgo, fmtDateTime, fmtDuration } from '../lib/time';

export function traceStartMs(t: SearchTrace): number {
  const s = t.startTimeUnixNano;
  return s.length > 6 ? parseInt(s.slice(0, -6), 10) + parseInt(s.slice(-6), 10) / 1e6 : 0;
}

/** Duration in ns: the longest matched span when the trace is under 1 ms (durationMs is absent). */
export function traceDurationNs(t: SearchTrace): number {
  if (t.durationMs) return t.durationMs * 1e6;
  let max = 0;
  for (const set of t.spanSets ?? []) for (const s of set.spans) max = Math.max(max, Number(s.durationNanos));
  return max;
}

export function matchedOf(t: SearchTrace): number {
  return (t.spanSets ?? []).reduce((n, s) => n + (s.matched ?? 0), 0);
}

type Key = 'start' | 'duration' | 'spans' | 'errors' | 'matched' | 'name';
const COLUMNS: [Key, string][] = [
  ['name', 'Trace'],
  ['start', 'Start'],
  ['duration', 'Duration'],
  ['spans', 'Spans'],
  ['errors', 'Errors'],
  ['matched', 'Matched'],
];

export function ResultsTable({ traces }: { traces: SearchTrace[] }) {
  const [sort, setSort] = useState<{ key: Key; desc: boolean }>({ key: 'start', desc: true });
  const [open, setOpen] = useState<Set<string>>(new Set());
  // Two traces picked for a comparison, the first picked as the baseline.
  const [picked, setPicked] = useState<string[]>([]);
  const pick = (id: string, on: boolean) => setPicked((p) => (on ? [...p.filter((x) => x !== id), id].slice(-2) : p.filter((x) => x !== id)));
  const compareHref = picked.length === 2 ? `/trace/${picked[0]}/compare/${picked[1]}` : null;
  const toggle = (id: string) => {
    const next = new Set(open);
    if (next.has(id)) next.delete(id);
    else next.add(id);
    setOpen(next);
  };
  const value = (t: SearchTrace, k: Key): number | string => {
    switch (k) {
      case 'start':
        return traceStartMs(t);
      case 'duration':
        return traceDurationNs(t);
      case 'spans':
        return t.spanCount ?? 0;
      case 'errors':
        return t.errorCount ?? 0;
      case 'matched':
        return matchedOf(t);
      case 'name':
        return `${t.rootServiceName} ${t.rootTraceName ?? ''}`;
    }
  };
  // The server's order is most recent first: keep it for the default sort.
  const rows =
    sort.key === 'start' && sort.desc
      ? traces
      : [...traces].sort((a, b) => {
          const va = value(a, sort.key);
          const vb = value(b, sort.key);
          const c = va < vb ? -1 : va > vb ? 1 : 0;
          return sort.desc ? -c : c;
        });
  const maxDur = Math.max(...traces.map(traceDurationNs), 1);
  const now = Date.now();
  return (
    <>
    <div class="compare-bar" data-testid="compare-bar">
      {compareHref ? (
        <a class="button" href={compareHref} data-testid="compare-picked" onClick={(e) => onLinkClick(e, compareHref)}>
          Compare the two traces picked ⇄
        </a>
      ) : (
        <span class="muted small">Tick two traces to compare them{picked.length === 1 ? ' (one picked: the baseline)' : ''}.</span>
      )}
    </div>
    <table class="results" data-testid="results">
      <thead>
        <tr>
          {COLUMNS.map(([k, label]) => (
            <th
              class={`col-${k} sortable`}
              aria-sort={sort.key === k ? (sort.desc ? 'descending' : 'ascending') : 'none'}
              onClick={() => setSort({ key: k, desc: sort.key === k ? !sort.desc : k !== 'name' })}
            >
              {label}
              {sort.key === k && <span class="sort">{sort.desc ? '↓' : '↑'}</span>}
            </th>
          ))}
        </tr>
      </thead>
      <tbody>
        {rows.map((t) => {
          const href = `/trace/${t.traceID}`;
          const d = traceDurationNs(t);
          const start = traceStartMs(t);
          const expanded = open.has(t.traceID);
          const spans = (t.spanSets ?? []).flatMap((set) => set.spans.map((sp) => ({ sp, labels: set.attributes ?? [] })));
          return (
            <>
            <tr data-trace-id={t.traceID} class={expanded ? 'expanded' : ''}>
              <td class="col-name">
                <button
                  class="toggle"
                  aria-label={expanded ? 'Hide matched spans' : 'Show matched spans'}
                  aria-expanded={expanded}
                  data-testid="result-toggle"
                  disabled={spans.length === 0}
                  onClick={() => toggle(t.traceID)}
                >
                  {expanded ? '▾' : '▸'}
                </button>
                <input
                  type="checkbox"
                  class="compare-pick"
                  aria-label="Pick for a comparison"
                  title="Pick for a comparison (the first picked is the baseline)"
                  data-testid="compare-pick"
                  checked={picked.includes(t.traceID)}
                  onChange={(e) => pick(t.traceID, e.currentTarget.checked)}
                />
                <a href={href} onClick={(e) => onLinkClick(e, href)}>
                  <span class="svc-dot" style={{ background: serviceColor(t.rootServiceName) }} />
                  <span class="svc">{t.rootServiceName}</span>
                  <span class="op">{t.rootTraceName ?? '<no root span>'}</span>
                </a>
                <span class="trace-id mono">{t.traceID}</span>
              </td>
              <td class="col-start" title={fmtDateTime(start)}>
                {fmtDateTime(start, false).slice(11)}
                <span class="muted small"> {fmtAgo(start, now)}</span>
              </td>
              <td class="col-duration">
                <span class="dur-bar" style={{ width: `${Math.max(2, (d / maxDur) * 100)}%` }} />
                <span class="dur-text">{fmtDuration(d)}</span>
              </td>
              <td class="col-spans num">{t.spanCount ?? '–'}</td>
              <td class="col-errors num">{(t.errorCount ?? 0) > 0 ? <span class="badge error">{t.errorCount}</span> : <span class="muted">0</span>}</td>
              <td class="col-matched num">{matchedOf(t)}</td>
            </tr>
            {expanded && (
              <tr class="matched-spans" data-testid="matched-spans">
                <td colSpan={6}>
                  <table>
                    <tbody>
                      {spans.map(({ sp, labels }) => {
                        const spanHref = `/trace/${t.traceID}?span=${sp.spanID}`;
                        const offset = Number(BigInt(sp.startTimeUnixNano) - BigInt(t.startTimeUnixNano));
                        return (
                          <tr data-span-id={sp.spanID}>
                            <td>
                              <a href={spanHref} onClick={(e) => onLinkClick(e, spanHref)}>
                                {sp.name || '<no name>'}
                              </a>
                            </td>
                            <td class="muted num">+{fmtDuration(offset)}</td>
                            <td class="num">{fmtDuration(Number(sp.durationNanos))}</td>
                            <td class="mono small muted">
                              {[...labels, ...(sp.attributes ?? [])].map((a) => `${a.key}=${valueText(a.value)}`).join('  ')}
                            </td>
                          </tr>
                        );
                      })}
                    </tbody>
                  </table>
                  {matchedOf(t) > spans.length && <p class="hint">{matchedOf(t) - spans.length} more matched spans in the trace.</p>}
                </td>
              </tr>
            )}
            </>
          );
        })}
      </tbody>
    </table>
    </>
  );
}
