// "What is different" about a selection of spans: for every attribute the server's
// `compare()` answered, its values' shares in the selection against the baseline (the
// other spans of the query over the range), attributes with the largest difference first.
// A value's button adds it to the search as a filter.

import { useEffect, useState } from 'preact/hooks';
import { errorText } from '../lib/api';
import { condition } from '../lib/addFilter';
import { compareQuery, fetchCompare, type AttributeDiff } from '../lib/compare';

const MAX_ATTRS = 16;
const MAX_VALUES = 6;

const pct = (x: number) => `${(x * 100).toFixed(x > 0 && x < 0.1 ? 1 : 0)} %`;

export interface DiffSelection {
  /** The spanset filter of the selected spans (`{ traceDuration >= … }`, `{ status = error }`). */
  filter: string;
  /** The selection's time window, when it has one. */
  window?: { fromMs: number; toMs: number };
  /** In words, for the heading. */
  label: string;
}

type State = { state: 'loading' } | { state: 'error'; message: string } | { state: 'done'; attrs: AttributeDiff[] };

export function DiffPanel({ query, selection, fromMs, toMs, onFilter, onClose }: { query: string; selection: DiffSelection; fromMs: number; toMs: number; onFilter: (cond: string) => void; onClose: () => void }) {
  const [st, setSt] = useState<State>({ state: 'loading' });
  const q = compareQuery(query, selection.filter, selection.window);
  useEffect(() => {
    const ctl = new AbortController();
    setSt({ state: 'loading' });
    fetchCompare(q, fromMs, toMs, ctl.signal).then(
      (attrs) => setSt({ state: 'done', attrs }),
      (e) => (e as Error).name !== 'AbortError' && setSt({ state: 'error', message: errorText(e) }),
    );
    return () => ctl.abort();
  }, [q, fromMs, toMs]);
  return (
    <section class="panel diff-panel" data-testid="diff-panel" aria-label="What is different">
      <header class="diff-head">
        <h2>What is different</h2>
        <span class="muted">{selection.label}, against the other spans of the query</span>
        <div class="spacer" />
        <button class="icon-button" aria-label="Close the comparison" data-testid="diff-close" onClick={onClose}>
          ×
        </button>
      </header>
      <p class="hint mono small" data-testid="diff-query">
        {q}
      </p>
      {st.state === 'loading' && <p class="hint loading">Comparing…</p>}
      {st.state === 'error' && (
        <div class="message error" role="alert" data-testid="diff-error">
          <pre>{st.message}</pre>
        </div>
      )}
      {st.state === 'done' && st.attrs.length === 0 && (
        <p class="message" data-testid="diff-empty">
          No spans in the selection or the baseline.
        </p>
      )}
      {st.state === 'done' && st.attrs.length > 0 && (
        <div class="diff-attrs">
          {st.attrs.slice(0, MAX_ATTRS).map((a) => (
            <div class="diff-attr" data-testid="diff-attr" data-key={a.key}>
              <div class="diff-attr-head">
                <strong class="mono">{a.key}</strong>
                <span class="muted small">
                  {' '}
                  · differs by up to {pct(a.score).replace(' %', '')} pt · on {a.selectionTotal} selected and {a.baselineTotal} baseline spans
                </span>
              </div>
              <table class="diff-values">
                <tbody>
                  {a.values.slice(0, MAX_VALUES).map((v) => (
                    <tr data-testid="diff-value" data-key={a.key} data-value={v.text} data-selection={v.selection} data-baseline={v.baseline}>
                      <td class="diff-value-text">
                        <button class="link mono" data-testid="diff-add-filter" title={`Add ${condition(a.key, v.value)} to the search`} onClick={() => onFilter(condition(a.key, v.value))}>
                          {v.text || '""'}
                        </button>
                      </td>
                      <td class="diff-bars" title={`${v.selection} selected spans (${pct(v.selShare)}), ${v.baseline} baseline spans (${pct(v.baseShare)})`}>
                        <div class="diff-bar sel" style={{ width: `${v.selShare * 100}%` }} />
                        <div class="diff-bar base" style={{ width: `${v.baseShare * 100}%` }} />
                      </td>
                      <td class="num small" data-testid="diff-shares">
                        {pct(v.selShare)} <span class="muted">vs {pct(v.baseShare)}</span>
                      </td>
                      <td class={`num small ${v.diff > 0 ? 'diff-more' : v.diff < 0 ? 'diff-less' : 'muted'}`}>
                        {v.diff > 0 ? '+' : v.diff < 0 ? '−' : '±'}
                        {pct(Math.abs(v.diff)).replace(' %', '')} pt
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          ))}
          <p class="hint small">
            Bars: <span class="diff-key sel" /> share of the selected spans, <span class="diff-key base" /> share of the baseline. A value's name adds it to the search.
          </p>
        </div>
      )}
    </section>
  );
}
