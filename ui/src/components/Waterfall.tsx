// The waterfall: one row per shown span, rendered only for the rows in view (so a trace
// of 50 000 spans costs what 40 rows cost), bars on a time axis with ticks.

import { Component } from 'preact';
import { useEffect, useLayoutEffect, useMemo, useRef, useState } from 'preact/hooks';
import { serviceColor } from '../lib/colors';
import { fnMarks, midEllipsis, type FnMarks } from '../lib/fnMarks';
import type { Trace } from '../lib/otlp';
import { fmtDuration, niceStep } from '../lib/time';
import type { Tree } from '../lib/tree';

export const ROW_H = 26;
const OVERSCAN = 4;
const INDENT = 14;
const MAX_INDENT_DEPTH = 24;
const MAX_MARKERS = 40;

export interface WaterfallProps {
  trace: Trace;
  tree: Tree;
  rows: Int32Array;
  collapsed: Set<number>;
  selected: number;
  matches: Uint8Array | null;
  /** spans whose parent is missing from the trace */
  orphans?: Set<number>;
  current: number;
  critical: Map<number, number[]> | null;
  window: [number, number];
  scrollRequest: { row: number; seq: number; center?: boolean } | null;
  onToggle: (i: number) => void;
  onSelect: (i: number) => void;
  onKey: (e: KeyboardEvent) => void;
  onViewport: (first: number, count: number) => void;
}

export function Waterfall(p: WaterfallProps) {
  const { trace, tree, rows, window: win } = p;
  const body = useRef<HTMLDivElement>(null);
  const [scrollTop, setScrollTop] = useState(0);
  const [height, setHeight] = useState(600);
  // Wide enough for the longest name shown alone (a function named as its service), up to
  // half the window; the splitter changes it.
  const [nameW, setNameW] = useState(() => initialNameWidth(trace, tree));
  const [tlW, setTlW] = useState(600);

  useLayoutEffect(() => {
    const el = body.current!;
    const ro = new ResizeObserver(() => {
      setHeight(el.clientHeight);
      setTlW(Math.max(el.clientWidth - nameW, 100));
    });
    ro.observe(el);
    setHeight(el.clientHeight);
    setTlW(Math.max(el.clientWidth - nameW, 100));
    return () => ro.disconnect();
  }, [nameW]);

  useEffect(() => {
    const r = p.scrollRequest;
    const el = body.current;
    if (!r || !el) return;
    const top = r.row * ROW_H;
    if (r.center) el.scrollTop = Math.max(0, top - el.clientHeight / 2);
    else if (top < el.scrollTop) el.scrollTop = top;
    else if (top + ROW_H > el.scrollTop + el.clientHeight) el.scrollTop = top + ROW_H - el.clientHeight;
    setScrollTop(el.scrollTop);
  }, [p.scrollRequest?.seq]);

  const n = rows.length;
  const first = Math.max(0, Math.floor(scrollTop / ROW_H) - OVERSCAN);
  const last = Math.min(n, Math.ceil((scrollTop + height) / ROW_H) + OVERSCAN);
  useEffect(() => {
    p.onViewport(Math.floor(scrollTop / ROW_H), Math.ceil(height / ROW_H));
  }, [scrollTop, height, n]);

  const w0 = win[0] * trace.duration;
  const w1 = win[1] * trace.duration;
  const span = Math.max(w1 - w0, 1);
  const step = niceStep(span, Math.max(2, Math.floor(tlW / 110)));
  const ticks: number[] = [];
  for (let t = Math.ceil(w0 / step) * step; t <= w1 + 1e-6; t += step) ticks.push(t);
  const pct = (t: number) => ((t - w0) / span) * 100;

  // Rows are keyed by span and skip re-rendering when nothing of theirs changed, so a
  // scrolled frame renders only the rows that came into view.
  const marks = useMemo(() => fnMarks(trace), [trace]);
  const cb = useRef(p);
  cb.current = p;
  const ctx = useMemo<RowCtx>(
    () => ({
      trace,
      tree,
      critical: p.critical,
      orphans: p.orphans ?? NO_ORPHANS,
      marks,
      nameW,
      pct,
      onToggle: (i) => cb.current.onToggle(i),
      onSelect: (i) => cb.current.onSelect(i),
    }),
    [trace, tree, p.critical, p.orphans, nameW, w0, w1],
  );
  const out = [];
  for (let k = first; k < last; k++) {
    const i = rows[k]!;
    out.push(
      <Row
        key={i}
        i={i}
        k={k}
        ctx={ctx}
        selected={i === p.selected}
        match={p.matches?.[i] === 1}
        current={i === p.current}
        collapsed={p.collapsed.has(i)}
      />,
    );
  }

  return (
    <div class="wf" data-testid="waterfall">
      <div class="wf-head">
        <div class="wf-name-head" style={{ width: `${nameW}px` }}>
          Service &amp; operation
          <span class="self-head">self</span>
          <span
            class="splitter"
            title="Drag to resize"
            onMouseDown={(e) => {
              e.preventDefault();
              const x0 = e.clientX;
              const w = nameW;
              const move = (ev: MouseEvent) => setNameW(Math.min(Math.max(w + ev.clientX - x0, 220), 900));
              const up = () => {
                window.removeEventListener('mousemove', move);
                window.removeEventListener('mouseup', up);
              };
              window.addEventListener('mousemove', move);
              window.addEventListener('mouseup', up);
            }}
          />
        </div>
        <div class="wf-ticks">
          {ticks.map((t) => (
            <span class="tick" style={{ left: `${pct(t)}%` }}>
              {fmtDuration(t)}
            </span>
          ))}
        </div>
      </div>
      <div class="wf-grid" style={{ left: `${nameW}px` }} aria-hidden="true">
        {ticks.map((t) => (
          <span class="gridline" style={{ left: `${pct(t)}%` }} />
        ))}
      </div>
      <div
        class="wf-body"
        ref={body}
        tabIndex={0}
        role="treegrid"
        aria-label="Spans"
        aria-rowcount={n}
        data-testid="waterfall-body"
        onScroll={(e) => setScrollTop(e.currentTarget.scrollTop)}
        onKeyDown={p.onKey}
      >
        <div class="wf-spacer" style={{ height: `${n * ROW_H}px` }}>
          <div class="wf-rows" style={{ transform: `translateY(${first * ROW_H}px)` }}>
            {out}
          </div>
        </div>
      </div>
    </div>
  );
}

const NO_ORPHANS = new Set<number>();

interface RowCtx {
  trace: Trace;
  tree: Tree;
  critical: Map<number, number[]> | null;
  orphans: Set<number>;
  marks: Map<number, FnMarks>;
  nameW: number;
  pct: (t: number) => number;
  onToggle: (i: number) => void;
  onSelect: (i: number) => void;
}
interface RowProps {
  i: number;
  k: number;
  ctx: RowCtx;
  selected: boolean;
  match: boolean;
  current: boolean;
  collapsed: boolean;
}

class Row extends Component<RowProps> {
  override shouldComponentUpdate(n: RowProps) {
    const o = this.props;
    return o.i !== n.i || o.k !== n.k || o.ctx !== n.ctx || o.selected !== n.selected || o.match !== n.match || o.current !== n.current || o.collapsed !== n.collapsed;
  }

  override render({ i, k, ctx, selected, match, current, collapsed }: RowProps) {
    const { trace, tree, pct } = ctx;
    const s = trace.spans[i]!;
    const svc = trace.services[s.service]!;
    const depth = tree.depth[i]!;
    const kids = tree.childStart[i + 1]! - tree.childStart[i]!;
    // Zoomed in, a bar is cut to the window; a span wholly outside it draws nothing (its
    // bar and duration would otherwise land on the name column or at the window's edge).
    const rawLeft = pct(s.start);
    const rawRight = pct(s.end);
    const inWindow = rawRight >= 0 && rawLeft <= 100;
    const left = clamp(rawLeft);
    const right = clamp(rawRight);
    const width = Math.max(right - left, 0);
    const err = s.statusCode === 2;
    const segs = ctx.critical?.get(i);
    const cls = `wf-row${selected ? ' selected' : ''}${match ? ' match' : ''}${current ? ' current' : ''}${err ? ' err' : ''}${segs ? ' cp' : ''}`;
    // The duration label goes after the bar, else before it, else inside it.
    const labelAt = right < 78 ? 'after' : left > 14 ? 'before' : 'inside';
    const shown = inWindow ? s.events.filter((e) => pct(e.time) >= 0 && pct(e.time) <= 100) : [];
    const events = shown.length > MAX_MARKERS ? shown.slice(0, MAX_MARKERS) : shown;
    const color = serviceColor(svc);
    const mk = ctx.marks.get(i);
    return (
      <div
        class={cls}
        role="row"
        aria-rowindex={k + 1}
        aria-level={depth + 1}
        aria-expanded={kids > 0 ? !collapsed : undefined}
        aria-selected={selected}
        data-span-id={s.spanId}
        onClick={() => ctx.onSelect(i)}
      >
        <div class="wf-name" style={{ width: `${ctx.nameW}px` }} role="gridcell">
          <span class="indent" style={{ width: `${Math.min(depth, MAX_INDENT_DEPTH) * INDENT}px` }} />
          {kids > 0 ? (
            <button
              class="toggle"
              aria-label={collapsed ? 'Expand' : 'Collapse'}
              data-testid="row-toggle"
              onClick={(e) => {
                e.stopPropagation();
                ctx.onToggle(i);
              }}
            >
              {collapsed ? '▸' : '▾'}
            </button>
          ) : (
            <span class="toggle-space" />
          )}
          <span class="svc-bar" style={{ background: color }} />
          {/* A function's root span is usually named as its service: said once, at full width. */}
          {svc === s.name ? (
            <span class="wf-svc wf-svc-only" title={svc}>
              {svc}
            </span>
          ) : (
            <span class="wf-svc" title={svc}>
              {midEllipsis(svc)}
            </span>
          )}
          {mk?.cold && (
            <span class="fn-mark cold" data-testid="mark-cold" title="cold start (faas.coldstart)">
              cold
            </span>
          )}
          {mk?.init && (
            <span class="fn-mark init" data-testid="mark-init" title="the function's init phase">
              init
            </span>
          )}
          {mk?.timeout && (
            <span class="fn-mark timeout" data-testid="mark-timeout" title="timed out (faas.error_timeout)">
              timeout
            </span>
          )}
          {ctx.orphans.has(i) && (
            <span class="orphan-icon" data-testid="orphan-mark" title={`parent ${s.parentId} is missing from this trace`}>
              ⚠
            </span>
          )}
          {svc !== s.name && <span class="wf-op">{s.name}</span>}
          {collapsed && <span class="kids">{tree.size[i]! - 1}</span>}
          {err && (
            <span class="err-icon" title="error">
              !
            </span>
          )}
          <span class="wf-self" title="self time">
            {fmtDuration(tree.selfTime[i]!)}
          </span>
        </div>
        <div class="wf-tl" role="gridcell">
          {inWindow && (
            <div
              class={`bar${rawLeft < 0 ? ' cut-left' : ''}${rawRight > 100 ? ' cut-right' : ''}${mk?.init ? ' init' : ''}`}
              title={`${svc}: ${s.name} · ${fmtDuration(s.end - s.start)} at +${fmtDuration(s.start)}`}
              style={{ left: `${left}%`, width: `${width}%`, background: err ? undefined : color }}
            />
          )}
          {!inWindow && <span class={`off-window ${rawRight < 0 ? 'before' : 'after'}`} title={`${fmtDuration(s.end - s.start)} at +${fmtDuration(s.start)}, outside the zoomed window`} />}
          {inWindow && segs && renderSegments(segs, pct)}
          {mk?.timeout && rawRight >= 0 && rawRight <= 100 && <span class="timeout-mark" style={{ left: `${rawRight}%` }} title="timed out here" />}
          {events.map((e) => (
            <span class={`marker${e.name === 'exception' ? ' exc' : ''}`} style={{ left: `${pct(e.time)}%` }} title={e.name} />
          ))}
          {inWindow && (
          <span
            class={`bar-label ${labelAt}`}
            style={
              labelAt === 'after'
                ? { left: `calc(${Math.max(right, 0)}% + 6px)` }
                : labelAt === 'before'
                  ? { right: `calc(${100 - Math.min(left, 100)}% + 6px)` }
                  : { right: `calc(${100 - Math.min(right, 100)}% + 6px)` }
            }
          >
            {fmtDuration(s.end - s.start)}
          </span>
          )}
        </div>
      </div>
    );
  }
}

const clamp = (v: number) => Math.min(Math.max(v, 0), 100);

function renderSegments(segs: number[], pct: (t: number) => number) {
  const out = [];
  for (let k = 0; k < segs.length; k += 2) {
    const a = clamp(pct(segs[k]!));
    const b = clamp(pct(segs[k + 1]!));
    if (b <= a) continue;
    out.push(<span class="cp-seg" style={{ left: `${a}%`, width: `${Math.max(b - a, 0)}%` }} />);
  }
  return out;
}

const NAME_W = 380;
const SAMPLE = 2000;

/** The name column's first width: NAME_W, or more for a long name shown alone (span named as its service). */
function initialNameWidth(trace: Trace, tree: Tree): number {
  const ctx = document.createElement('canvas').getContext('2d');
  if (!ctx) return NAME_W;
  ctx.font = `600 13px ${getComputedStyle(document.body).fontFamily}`;
  let widest = 0;
  const n = Math.min(tree.n, SAMPLE);
  for (let j = 0; j < n; j++) {
    const i = tree.order[j]!;
    const s = trace.spans[i]!;
    const svc = trace.services[s.service]!;
    if (svc !== s.name || svc.length < 30) continue;
    widest = Math.max(widest, Math.min(tree.depth[i]!, MAX_INDENT_DEPTH) * INDENT + ctx.measureText(svc).width);
  }
  // Toggle, colour bar, marks and the self time column beside the name.
  const want = Math.ceil(widest + 270);
  return Math.max(NAME_W, Math.min(want, Math.floor(window.innerWidth * 0.5)));
}
