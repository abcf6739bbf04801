// Two traces side by side as a structural diff (`/trace/<A>/compare/<B>`): A is the
// baseline. The merged span tree with each span's change (added, missing, failing, fixed,
// slower, faster), both durations and the difference; the counts of each change; and
// the same per service and operation. Both traces are read with the trace API
// (lib/traceDiff does the matching in the browser).

import { useEffect, useMemo, useState } from 'preact/hooks';
import { CompareWith } from '../components/CompareWith';
import { errorText } from '../lib/api';
import { serviceColor } from '../lib/colors';
import { loadTrace, type LoadedTrace } from '../lib/loadTrace';
import { onLinkClick } from '../lib/router';
import { fmtDuration } from '../lib/time';
import { CHANGES, diffByOperation, diffTraces, type Change } from '../lib/traceDiff';
import { distinctColors } from '../lib/colors';

type Load = { state: 'loading' } | { state: 'error'; message: string } | { state: 'done'; a: LoadedTrace; b: LoadedTrace };

const LABEL: Record<Change, string> = { added: 'added', missing: 'missing', failing: 'failing', fixed: 'fixed', slower: 'slower', faster: 'faster', same: 'same' };

export function ComparePage({ a, b }: { a: string; b: string }) {
  const [load, setLoad] = useState<Load>({ state: 'loading' });
  useEffect(() => {
    document.title = `Compare ${a.slice(0, 8)}… with ${b.slice(0, 8)}… · Arbor`;
    if (b === '') return;
    const ctl = new AbortController();
    setLoad({ state: 'loading' });
    Promise.all([loadTrace(a, ctl.signal), loadTrace(b, ctl.signal)]).then(
      ([ta, tb]) => setLoad({ state: 'done', a: ta, b: tb }),
      (e) => {
        if ((e as Error).name !== 'AbortError') setLoad({ state: 'error', message: errorText(e) });
      },
    );
    return () => ctl.abort();
  }, [a, b]);
  if (b === '')
    return (
      <main class="page">
        <p>Compare trace <code>{a}</code> with:</p>
        <CompareWith traceId={a} />
      </main>
    );
  if (load.state === 'loading') return <main class="page"><div class="hint loading">Loading both traces…</div></main>;
  if (load.state === 'error')
    return (
      <main class="page">
        <div class="message error" role="alert" data-testid="compare-error">
          <strong>The traces could not be compared</strong>
          <pre>{load.message}</pre>
        </div>
      </main>
    );
  return <Diff A={load.a} B={load.b} />;
}

function Diff({ A, B }: { A: LoadedTrace; B: LoadedTrace }) {
  const rows = useMemo(() => diffTraces(A, B), [A, B]);
  useMemo(() => distinctColors([...A.trace.services, ...B.trace.services]), [A, B]);
  const ops = useMemo(() => diffByOperation(A, B, rows), [A, B, rows]);
  const [onlyChanged, setOnlyChanged] = useState(false);
  const counts = useMemo(() => {
    const c: Partial<Record<Change, number>> = {};
    for (const r of rows) c[r.change] = (c[r.change] ?? 0) + 1;
    return c;
  }, [rows]);
  const shown = onlyChanged ? rows.filter((r) => r.change !== 'same') : rows;
  const link = (id: string) => (
    <a class="mono" href={`/trace/${id}`} onClick={(e) => onLinkClick(e, `/trace/${id}`)}>
      {id}
    </a>
  );
  return (
    <main class="page compare-page" data-testid="compare">
      <section class="panel">
        <h1>Trace comparison</h1>
        <dl class="trace-meta">
          <div>
            <dt>A (baseline)</dt>
            <dd data-testid="compare-a">{link(A.trace.traceId)} · {fmtDuration(A.trace.duration)} · {A.trace.spans.length} spans</dd>
          </div>
          <div>
            <dt>B</dt>
            <dd data-testid="compare-b">{link(B.trace.traceId)} · {fmtDuration(B.trace.duration)} · {B.trace.spans.length} spans</dd>
          </div>
          <div>
            <dt>Difference</dt>
            <dd>{signed(B.trace.duration - A.trace.duration)}</dd>
          </div>
        </dl>
        <div class="diff-counts" data-testid="diff-counts">
          {CHANGES.map((c) => (
            <span class={`diff-badge ${counts[c] ? c : 'zero'}`} data-change={c} data-count={counts[c] ?? 0}>
              {counts[c] ?? 0} {LABEL[c]}
            </span>
          ))}
          <label class="switch">
            <input type="checkbox" checked={onlyChanged} data-testid="only-changed" onChange={(e) => setOnlyChanged(e.currentTarget.checked)} />
            Only changes
          </label>
        </div>
        {(A.partial || B.partial) && <div class="message warn">PARTIAL: {A.partial ?? B.partial}</div>}
      </section>
      <section class="panel">
        <h2>Spans</h2>
        <table class="results figures diff-table" data-testid="diff-spans">
          <thead>
            <tr>
              <th>Change</th>
              <th>Service &amp; operation</th>
              <th class="num">A</th>
              <th class="num">B</th>
              <th class="num">B − A</th>
            </tr>
          </thead>
          <tbody>
            {shown.map((r) => (
              <tr class={`diff-${r.change}`} data-testid="diff-row" data-change={r.change} data-service={r.service} data-name={r.name}>
                <td>
                  <span class={`diff-badge ${r.change}`}>{LABEL[r.change]}</span>
                </td>
                <td>
                  <span style={{ paddingLeft: `${Math.min(r.depth, 24) * 14}px` }} />
                  <span class="svc-dot" style={{ background: serviceColor(r.service) }} /> <strong>{r.service}</strong> <span class="muted">{r.name}</span>
                </td>
                <td class="num">{r.a >= 0 ? fmtDuration(r.durA) : '–'}</td>
                <td class="num">{r.b >= 0 ? fmtDuration(r.durB) : '–'}</td>
                <td class="num col-delta">{r.a >= 0 && r.b >= 0 ? signed(r.durB - r.durA) : '–'}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </section>
      <section class="panel">
        <h2>By service and operation</h2>
        <table class="results figures" data-testid="diff-ops">
          <thead>
            <tr>
              <th>Service</th>
              <th>Operation</th>
              <th class="num">Spans A → B</th>
              <th class="num">Errors A → B</th>
              <th class="num">Summed duration A → B</th>
              <th>Changes</th>
            </tr>
          </thead>
          <tbody>
            {ops.map((o) => (
              <tr data-testid="diff-op" data-service={o.service} data-name={o.name}>
                <td>
                  <span class="svc-dot" style={{ background: serviceColor(o.service) }} /> {o.service}
                </td>
                <td class="mono small">{o.name}</td>
                <td class="num">
                  {o.countA} → {o.countB}
                </td>
                <td class={`num${o.errB > o.errA ? ' error-text' : ''}`}>
                  {o.errA} → {o.errB}
                </td>
                <td class="num">
                  {fmtDuration(o.durA)} → {fmtDuration(o.durB)} ({signed(o.durB - o.durA)})
                </td>
                <td>
                  {CHANGES.filter((c) => c !== 'same' && o.changes[c]).map((c) => (
                    <span class={`diff-badge ${c}`}>
                      {o.changes[c]} {LABEL[c]}
                    </span>
                  ))}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </section>
    </main>
  );
}

const signed = (ns: number) => (ns > 0 ? `+${fmtDuration(ns)}` : ns < 0 ? `−${fmtDuration(-ns)}` : '0');
