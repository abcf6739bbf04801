// The waterfall: one row per shown span, rendered only for the rows in view (so a trace
// of 50 000 spans costs what 40 rows cost), bars on a time axis with ticks.

import { useEffect, useLayoutEffect, useRef, useState } from 'preact/hooks';
import { serviceColor } from '../lib/colors';
import type { Trace } from '../lib/otlp';
import { fmtDuration, niceStep } from '../lib/time';
import type { Tree } from '../lib/tree';

export const ROW_H = 26;
const OVERSCAN = 6;
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
  const [nameW, setNameW] = useState(380);
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

  const out = [];
  for (let k = first; k < last; k++) {
    const i = rows[k]!;
    const s = trace.spans[i]!;
    const svc = trace.services[s.service]!;
    const depth = tree.depth[i]!;
    const kids = tree.childStart[i + 1]! - tree.childStart[i]!;
    const isCollapsed = p.collapsed.has(i);
    const left = pct(s.start);
    const right = pct(s.end);
    const width = Math.max(right - left, 0);
    const err = s.statusCode === 2;
    const segs = p.critical?.get(i);
    const match = p.matches?.[i] === 1;
    const cls = `wf-row${i === p.selected ? ' selected' : ''}${match ? ' match' : ''}${i === p.current ? ' current' : ''}${err ? ' err' : ''}${segs ? ' cp' : ''}`;
    const label = fmtDuration(s.end - s.start);
    // The duration label goes after the bar, else before it, else inside it.
    const labelAt = right < 78 ? 'after' : left > 14 ? 'before' : 'inside';
    const events = s.events.length > MAX_MARKERS ? s.events.slice(0, MAX_MARKERS) : s.events;
    out.push(
      <div
        class={cls}
        role="row"
        aria-rowindex={k + 1}
        aria-level={depth + 1}
        aria-expanded={kids > 0 ? !isCollapsed : undefined}
        aria-selected={i === p.selected}
        data-span-id={s.spanId}
        onClick={() => p.onSelect(i)}
      >
        <div class="wf-name" style={{ width: `${nameW}px` }} role="gridcell">
          <span class="indent" style={{ width: `${Math.min(depth, MAX_INDENT_DEPTH) * INDENT}px` }} />
          {kids > 0 ? (
            <button
              class="toggle"
              aria-label={isCollapsed ? 'Expand' : 'Collapse'}
              data-testid="row-toggle"
              onClick={(e) => {
                e.stopPropagation();
                p.onToggle(i);
              }}
            >
              {isCollapsed ? '▸' : '▾'}
            </button>
          ) : (
            <span class="toggle-space" />
          )}
          <span class="svc-bar" style={{ background: serviceColor(svc) }} />
          <span class="wf-svc">{svc}</span>
          <span class="wf-op">{s.name}</span>
          {isCollapsed && <span class="kids">{tree.size[i]! - 1}</span>}
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
          <div class="bar" style={{ left: `${left}%`, width: `${width}%`, background: err ? undefined : serviceColor(svc) }} />
          {segs && renderSegments(segs, pct)}
          {events.map((e) => (
            <span class={`marker${e.name === 'exception' ? ' exc' : ''}`} style={{ left: `${pct(e.time)}%` }} title={e.name} />
          ))}
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
            {label}
          </span>
        </div>
      </div>,
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

function renderSegments(segs: number[], pct: (t: number) => number) {
  const out = [];
  for (let k = 0; k < segs.length; k += 2) {
    const a = pct(segs[k]!);
    const b = pct(segs[k + 1]!);
    out.push(<span class="cp-seg" style={{ left: `${a}%`, width: `${Math.max(b - a, 0)}%` }} />);
  }
  return out;
}
