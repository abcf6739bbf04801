// The answer of a TraceQL metrics query on the search page: one chart per series (at most
// MAX_SERIES, the page says when more came), a click on a step searching the query's spans
// in that step's window, and the series' exemplars as links to their traces.

import { onLinkClick, navigate } from '../lib/router';
import { encodeSearch, type SearchState } from '../lib/searchState';
import { filterOf, type MetricsResult, type Series } from '../lib/metricsQuery';
import { addCondition, condition, isSpansetFilter } from '../lib/addFilter';
import { fmtDateTime } from '../lib/time';
import { StepChart } from './Charts';

const MAX_SERIES = 12;
const MAX_EXEMPLARS = 5;

const fmtValue = (v: number) => (Math.abs(v) >= 100 ? v.toFixed(0) : Math.abs(v) >= 1 ? v.toFixed(2) : v.toPrecision(2));

/**
 * The spans of a series as one spanset filter (the query's filter and the series' `by()`
 * labels), for "what is different" about them; null when the query's filter is not one
 * spanset filter.
 */
export function seriesFilter(query: string, s: Series): string | null {
  const f = filterOf(query);
  if (!isSpansetFilter(f)) return null;
  // `p` (a quantile) and `__…` (buckets, compare's sides) are not attributes.
  return s.labels.filter((l) => l.key !== 'p' && !l.key.startsWith('__') && l.value && Object.keys(l.value).length > 0).reduce((q, l) => addCondition(q, condition(l.key, l.value!)), f);
}

export function MetricsResults({ data, query, url, onCompare }: { data: MetricsResult; query: string; url: SearchState; onCompare?: (selection: string, label: string) => void }) {
  const shown = data.series.slice(0, MAX_SERIES);
  return (
    <section class="metrics-results" data-testid="metrics-results">
      <div class="results-summary">
        <strong>{data.series.length}</strong> {data.series.length === 1 ? 'series' : 'series'} · a point every {data.stepSec} s
        {data.series.length > MAX_SERIES && <span class="limit-note"> · the first {MAX_SERIES} drawn</span>}
      </div>
      {data.series.length === 0 && (
        <div class="message" data-testid="no-series">
          <strong>No series.</strong>
          <p class="muted">No span in the range matches the query's filter.</p>
        </div>
      )}
      <div class="metrics-grid">
        {shown.map((s) => (
          <div class="metrics-series" data-testid="metrics-series" data-label={s.label}>
            <StepChart
              title={s.label}
              values={s.values}
              start={data.startSec}
              step={data.stepSec}
              kind="line"
              format={fmtValue}
              pickLabel="spans"
              onPick={(i) => {
                const from = new Date((data.startSec + i * data.stepSec) * 1000).toISOString();
                const to = new Date((data.startSec + (i + 1) * data.stepSec) * 1000).toISOString();
                navigate(encodeSearch({ ...url, mode: 'traceql', q: filterOf(query), from, to }));
              }}
            />
            {onCompare && seriesFilter(query, s) && seriesFilter(query, s) !== '{ }' && (
              <button class="button small" data-testid="series-compare" title="Compare this series' spans with the other spans, attribute by attribute" onClick={() => onCompare(seriesFilter(query, s)!, s.label)}>
                What is different?
              </button>
            )}
            {s.exemplars.length > 0 && (
              <p class="exemplars small">
                Exemplars:{' '}
                {s.exemplars.slice(0, MAX_EXEMPLARS).map((e) => (
                  <a class="mono" data-testid="exemplar" href={`/trace/${e.traceId}`} title={`${fmtValue(e.value)} at ${fmtDateTime(e.timestampMs)}`} onClick={(ev) => onLinkClick(ev, `/trace/${e.traceId}`)}>
                    {e.traceId.slice(0, 8)}…
                  </a>
                ))}
              </p>
            )}
          </div>
        ))}
      </div>
    </section>
  );
}
