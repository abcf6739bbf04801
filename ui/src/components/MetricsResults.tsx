// The answer of a TraceQL metrics query on the search page: one chart per series (at most
// MAX_SERIES, the page says when more came), a click on a step searching the query's spans
// in that step's window, and the series' exemplars as links to their traces.

import { onLinkClick, navigate } from '../lib/router';
import { encodeSearch, type SearchState } from '../lib/searchState';
import { filterOf, type MetricsResult } from '../lib/metricsQuery';
import { fmtDateTime } from '../lib/time';
import { StepChart } from './Charts';

const MAX_SERIES = 12;
const MAX_EXEMPLARS = 5;

const fmtValue = (v: number) => (Math.abs(v) >= 100 ? v.toFixed(0) : Math.abs(v) >= 1 ? v.toFixed(2) : v.toPrecision(2));

export function MetricsResults({ data, query, url }: { data: MetricsResult; query: string; url: SearchState }) {
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
