// Everything about one span: status, timing, attributes, resource, scope, events (with
// exception stack traces), links.

import type { KeyValue } from '../lib/api';
import { functionFacts } from '../lib/faas';
import { PeerPercentile } from './PeerPercentile';
import { CopyButton } from './CopyButton';
import { attrField, condition } from '../lib/addFilter';
import { encodeSearch, emptySearch } from '../lib/searchState';
import { navigate } from '../lib/router';
import { serviceColor } from '../lib/colors';
import { KIND_NAMES, STATUS_NAMES, stringAttr, valueText, type Trace } from '../lib/otlp';
import { onLinkClick } from '../lib/router';
import { fmtDateTime, fmtDuration } from '../lib/time';
import type { Tree } from '../lib/tree';

export function SpanDetails({
  trace,
  tree,
  index,
  onClose,
  onSelect,
  onCritical,
}: {
  trace: Trace;
  tree: Tree;
  index: number;
  onClose: () => void;
  onSelect: (i: number) => void;
  onCritical: boolean;
}) {
  const s = trace.spans[index]!;
  const service = trace.services[s.service]!;
  const res = trace.resources[s.resource]!;
  const scope = trace.scopes[s.scope]!;
  const parent = tree.parent[index]!;
  const dur = s.end - s.start;
  const status = STATUS_NAMES[s.statusCode] ?? String(s.statusCode);
  const fn = functionFacts(s.attributes, res.attributes);
  return (
    <aside class="details" data-testid="span-details" aria-label="Span details">
      <header class="details-head">
        <span class="svc-dot" style={{ background: serviceColor(service) }} />
        <div class="details-title">
          <h2 data-testid="details-name">{s.name || '<no name>'}</h2>
          <span class="muted">{service}</span>
        </div>
        <button class="icon-button" aria-label="Close details" data-testid="details-close" onClick={onClose}>
          ×
        </button>
      </header>
      <div class="details-body">
        {s.statusCode === 2 && (
          <div class="status-banner" data-testid="details-error">
            <strong>Error</strong>
            {s.statusMessage && <span>: {s.statusMessage}</span>}
          </div>
        )}
        <dl class="facts">
          <dt>Duration</dt>
          <dd data-testid="details-duration">{fmtDuration(dur)}</dd>
          <dt>Self time</dt>
          <dd data-testid="details-self">
            {fmtDuration(tree.selfTime[index]!)}
            {dur > 0 && <span class="muted"> ({Math.round((tree.selfTime[index]! / dur) * 100)}%)</span>}
          </dd>
          <dt>Start</dt>
          <dd data-testid="details-start">
            +{fmtDuration(s.start)} <span class="muted">· {fmtDateTime(trace.startMs + s.start / 1e6)}</span>
          </dd>
          <dt>Kind</dt>
          <dd data-testid="details-kind">{KIND_NAMES[s.kind] ?? s.kind}</dd>
          <dt>Status</dt>
          <dd data-testid="details-status" class={s.statusCode === 2 ? 'error-text' : ''}>
            {status}
            {s.statusMessage && s.statusCode !== 2 && <span class="muted"> · {s.statusMessage}</span>}
          </dd>
          <dt>Span ID</dt>
          <dd class="mono">
            <span data-testid="details-span-id">{s.spanId}</span>
            <CopyButton text={s.spanId} label="the span ID" testid="copy-span-id" />
          </dd>
          <dt>Parent</dt>
          <dd class="mono">
            {parent >= 0 ? (
              <button class="link" onClick={() => onSelect(parent)}>
                {trace.spans[parent]!.name} <span class="muted">{s.parentId}</span>
              </button>
            ) : s.parentId ? (
              <span title="the parent span is not in this trace">
                {s.parentId} (missing) <CopyButton text={s.parentId} label="the parent span ID" testid="copy-parent-id" />
              </span>
            ) : (
              <span class="muted">root</span>
            )}
          </dd>
          {onCritical && (
            <>
              <dt>Critical path</dt>
              <dd>on the critical path</dd>
            </>
          )}
        </dl>

        <Section title="Against its peers" testid="details-peers">
          <PeerPercentile service={service} name={s.name} durationNs={dur} />
        </Section>

        {fn && (
          <Section title="Function" testid="details-function">
            <dl class="facts">
              {fn.map((f) => (
                <>
                  <dt>{f.label}</dt>
                  <dd data-testid={f.testid}>{f.value}</dd>
                </>
              ))}
            </dl>
          </Section>
        )}

        <Section title="Attributes" count={s.attributes.length} testid="details-attributes">
          <Attrs attrs={s.attributes} scope="span" />
        </Section>

        <Section title={`Events`} count={s.events.length} testid="details-events">
          {s.events.length === 0 ? (
            <p class="muted small">No events.</p>
          ) : (
            <ol class="events">
              {s.events.map((e) => {
                const exc = e.name === 'exception';
                const stack = stringAttr(e.attributes, 'exception.stacktrace');
                const rest = e.attributes.filter((a) => !(exc && ['exception.stacktrace', 'exception.type', 'exception.message'].includes(a.key)));
                return (
                  <li class={exc ? 'event exception' : 'event'}>
                    <div class="event-head">
                      <span class="mono muted">+{fmtDuration(e.time - s.start)}</span> <strong>{e.name}</strong>
                    </div>
                    {exc && (
                      <div class="exception-text">
                        <strong>{stringAttr(e.attributes, 'exception.type') ?? 'exception'}</strong>
                        {stringAttr(e.attributes, 'exception.message') && <span>: {stringAttr(e.attributes, 'exception.message')}</span>}
                      </div>
                    )}
                    {stack && (
                      <pre class="stacktrace" data-testid="stacktrace">
                        {stack}
                      </pre>
                    )}
                    {rest.length > 0 && <Attrs attrs={rest} />}
                  </li>
                );
              })}
            </ol>
          )}
        </Section>

        <Section title="Links" count={s.links.length} testid="details-links">
          {s.links.length === 0 ? (
            <p class="muted small">No links.</p>
          ) : (
            <ul class="links">
              {s.links.map((l) => {
                const same = l.traceId === trace.traceId;
                const href = `/trace/${l.traceId}?span=${l.spanId}`;
                return (
                  <li>
                    <a
                      href={href}
                      data-testid="span-link"
                      onClick={(e) => {
                        if (same) {
                          const i = trace.spans.findIndex((x) => x.spanId === l.spanId);
                          if (i >= 0) {
                            e.preventDefault();
                            onSelect(i);
                            return;
                          }
                        }
                        onLinkClick(e, href);
                      }}
                    >
                      <span class="mono">{l.traceId.slice(0, 16)}…</span> span <span class="mono">{l.spanId}</span>
                    </a>
                    {same && <span class="muted small"> (this trace)</span>}
                    {l.attributes.length > 0 && <Attrs attrs={l.attributes} />}
                  </li>
                );
              })}
            </ul>
          )}
        </Section>

        <Section title="Resource" count={res.attributes.length} testid="details-resource">
          <Attrs attrs={res.attributes} scope="resource" />
        </Section>

        <Section title="Instrumentation scope" testid="details-scope">
          <dl class="facts">
            <dt>Name</dt>
            <dd>{scope.name || <span class="muted">none</span>}</dd>
            {scope.version && (
              <>
                <dt>Version</dt>
                <dd>{scope.version}</dd>
              </>
            )}
          </dl>
          {scope.attributes.length > 0 && <Attrs attrs={scope.attributes} />}
        </Section>
      </div>
    </aside>
  );
}

function Section({ title, count, testid, children }: { title: string; count?: number; testid: string; children: preact.ComponentChildren }) {
  return (
    <details class="section" open data-testid={testid}>
      <summary>
        {title}
        {count !== undefined && <span class="count">{count}</span>}
      </summary>
      {children}
    </details>
  );
}

/** A search for the spans whose attribute `key` (of the span or its resource) has this value. */
function filterHref(scope: 'span' | 'resource', a: KeyValue): string {
  return encodeSearch({ ...emptySearch(), mode: 'traceql', q: `{ ${condition(attrField(scope, a.key), a.value ?? {})} }` });
}

/** A value one can search by: text, a number or a boolean. */
const searchable = (a: KeyValue) => a.value && (a.value.stringValue !== undefined || a.value.intValue !== undefined || a.value.doubleValue !== undefined || a.value.boolValue !== undefined);

function Attrs({ attrs, scope }: { attrs: KeyValue[]; scope?: 'span' | 'resource' }) {
  if (attrs.length === 0) return <p class="muted small">None.</p>;
  const sorted = [...attrs].sort((a, b) => (a.key < b.key ? -1 : 1));
  return (
    <table class="attrs-table">
      <tbody>
        {sorted.map((a) => (
          <tr data-key={a.key}>
            <th class="mono attr-key">{breakable(a.key)}</th>
            <td class={`mono ${a.value?.stringValue === undefined ? 'typed' : ''}`}>{valueText(a.value)}</td>
            <td class="attr-actions">
              <CopyButton text={valueText(a.value)} label={`the value of ${a.key}`} testid="copy-value" />
              {scope && searchable(a) && (
                <button
                  type="button"
                  class="filter-button"
                  data-testid="filter-value"
                  title={`Search for spans with ${a.key} = ${valueText(a.value)}`}
                  aria-label={`Filter by ${a.key}`}
                  onClick={() => navigate(filterHref(scope, a))}
                >
                  ⊕
                </button>
              )}
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

/** A key with break opportunities after its dots, underscores, slashes and dashes (not mid-word). */
function breakable(key: string) {
  const parts = key.split(/(?<=[._/:-])/);
  return parts.map((p, k) => (k < parts.length - 1 ? [p, <wbr />] : p));
}
