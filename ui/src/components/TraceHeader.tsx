// The trace page's header: the root span, the trace's figures (the error count finds the
// failed spans), its services (a click finds their spans), and the warnings: spans whose
// parent is missing, a partial trace.

import { CopyButton } from './CopyButton';
import { useMemo } from 'preact/hooks';
import { serviceColor } from '../lib/colors';
import type { Trace } from '../lib/otlp';
import { fmtDateTime, fmtDuration } from '../lib/time';
import type { Tree } from '../lib/tree';

export interface TraceHeaderProps {
  trace: Trace;
  tree: Tree;
  partial: string | null;
  /** spans whose parent is missing */
  orphans: number[];
  onFind: (text: string) => void;
  onSelect: (span: number) => void;
}

export function TraceHeader({ trace, tree, partial, orphans: lost, onFind, onSelect }: TraceHeaderProps) {
  const root = tree.roots.find((r) => !trace.spans[r]!.parentId) ?? tree.roots[0];
  const rootSpan = root === undefined ? undefined : trace.spans[root];
  const perService = useMemo(() => {
    const c = new Array<number>(trace.services.length).fill(0);
    for (const s of trace.spans) c[s.service]!++;
    return c;
  }, [trace]);
  return (
    <section class="trace-head" data-testid="trace-header">
      <h1>
        {rootSpan && <span class="svc-dot" style={{ background: serviceColor(trace.services[rootSpan.service]!) }} />}
        <span class="root-svc">{rootSpan ? trace.services[rootSpan.service] : 'no root span'}</span>
        {rootSpan && rootSpan.name !== trace.services[rootSpan.service] && <span class="root-op">{rootSpan.name}</span>}
      </h1>
      <dl class="trace-meta">
        <div>
          <dt>Trace ID</dt>
          <dd class="mono">
            <span data-testid="trace-id">{trace.traceId}</span>
            <CopyButton text={trace.traceId} label="the trace ID" testid="copy-trace-id" />
          </dd>
        </div>
        <div>
          <dt>Start</dt>
          <dd>{fmtDateTime(trace.startMs)}</dd>
        </div>
        <div>
          <dt>Duration</dt>
          <dd data-testid="trace-duration">{fmtDuration(trace.duration)}</dd>
        </div>
        <div>
          <dt>Spans</dt>
          <dd data-testid="trace-span-count">{trace.spans.length.toLocaleString('en-US')}</dd>
        </div>
        <div>
          <dt>Errors</dt>
          <dd data-testid="trace-error-count" class={trace.errorCount > 0 ? 'error-text' : ''}>
            {trace.errorCount > 0 ? (
              <button class="link-button error-text" title="Find the failed spans" data-testid="find-errors" onClick={() => onFind('status=error')}>
                {trace.errorCount.toLocaleString('en-US')}
              </button>
            ) : (
              trace.errorCount.toLocaleString('en-US')
            )}
          </dd>
        </div>
        <div>
          <dt>Depth</dt>
          <dd>{tree.maxDepth + 1}</dd>
        </div>
      </dl>
      <div class="svc-chips" data-testid="trace-services">
        {trace.services.map((s, k) => (
          <button class="svc-chip" title={`Find the spans of ${s}`} onClick={() => onFind(s)}>
            <span class="svc-dot" style={{ background: serviceColor(s) }} />
            {s} <span class="muted">{perService[k]}</span>
          </button>
        ))}
      </div>
      {lost.length > 0 && (
        <div class="message warn" role="status" data-testid="orphan-warning">
          <strong>Missing parent</strong> {lost.length === 1 ? '1 span names a parent' : `${lost.length} spans name parents`} this trace does not hold (not received, or
          dropped); {lost.length === 1 ? 'it is' : 'they are'} shown as {lost.length === 1 ? 'a root' : 'roots'}, marked ⚠:{' '}
          {lost.slice(0, 5).map((i) => (
            <button class="link-button" onClick={() => onSelect(i)}>
              {trace.spans[i]!.name} <span class="muted mono">(parent {trace.spans[i]!.parentId})</span>
            </button>
          ))}
          {lost.length > 5 && ` and ${lost.length - 5} more`}
        </div>
      )}
      {partial && (
        <div class="message warn" role="status" data-testid="partial-warning">
          <strong>PARTIAL</strong> {partial}
        </div>
      )}
    </section>
  );
}
