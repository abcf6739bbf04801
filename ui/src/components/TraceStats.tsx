// Statistics of a trace: per service and per operation (service and span name), the span
// count, errors, self time (and its share of the trace's total self time), summed, average
// and longest duration. A click on a row finds its spans in the waterfall.

import { useMemo, useState } from 'preact/hooks';
import { serviceColor } from '../lib/colors';
import type { Trace } from '../lib/otlp';
import { fmtDuration } from '../lib/time';
import { traceStats, type StatRow } from '../lib/traceStats';
import type { Tree } from '../lib/tree';

export function TraceStats({ trace, tree, onFind }: { trace: Trace; tree: Tree; onFind: (r: StatRow) => void }) {
  const [byName, setByName] = useState(true);
  const rows = useMemo(() => traceStats(trace, tree, byName), [trace, tree, byName]);
  const totalSelf = rows.reduce((a, r) => a + r.self, 0) || 1;
  return (
    <section class="trace-stats" data-testid="trace-stats">
      <div class="tabs" role="tablist">
        <button role="tab" aria-selected={!byName} class={!byName ? 'active' : ''} data-testid="stats-by-service" onClick={() => setByName(false)}>
          Per service
        </button>
        <button role="tab" aria-selected={byName} class={byName ? 'active' : ''} data-testid="stats-by-operation" onClick={() => setByName(true)}>
          Per operation
        </button>
      </div>
      <table class="results figures">
        <thead>
          <tr>
            <th>Service</th>
            {byName && <th>Operation</th>}
            <th class="num">Spans</th>
            <th class="num">Errors</th>
            <th class="num" title="time of the spans not covered by their children">Self time</th>
            <th class="num">Self %</th>
            <th class="num">Summed duration</th>
            <th class="num">Average</th>
            <th class="num">Longest</th>
          </tr>
        </thead>
        <tbody>
          {rows.map((r) => (
            <tr data-testid="stats-row" data-service={r.service} data-name={r.name} title="Find these spans in the waterfall" onClick={() => onFind(r)}>
              <td>
                <span class="svc-dot" style={{ background: serviceColor(r.service) }} /> {r.service}
              </td>
              {byName && <td class="mono small">{r.name}</td>}
              <td class="num col-count">{r.count}</td>
              <td class={`num col-errors${r.errors > 0 ? ' error-text' : ''}`}>{r.errors}</td>
              <td class="num col-self">{fmtDuration(r.self)}</td>
              <td class="num col-self-pct">
                <span class="share-bar" style={{ width: `${(r.self / totalSelf) * 60}px` }} />
                {((r.self / totalSelf) * 100).toFixed(1)}%
              </td>
              <td class="num">{fmtDuration(r.duration)}</td>
              <td class="num">{fmtDuration(r.duration / r.count)}</td>
              <td class="num">{fmtDuration(r.max)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}
