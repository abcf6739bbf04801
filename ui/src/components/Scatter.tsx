// Duration over time of the results; a click on a point opens its trace, a drag across the
// plot selects a region (a time window and a duration band) for "what is different".

import { useEffect, useRef, useState } from 'preact/hooks';
import type { SearchTrace } from '../lib/api';
import { serviceColor } from '../lib/colors';
import { fmtDateTime, fmtDuration, niceStep, timeTicks } from '../lib/time';
import { navigate } from '../lib/router';
import { traceDurationNs, traceStartMs } from './ResultsTable';
import type { Region as ScatterRegion } from '../lib/searchState';

const H = 180;
const PAD = { l: 64, r: 16, t: 12, b: 26 };

export function Scatter({ traces, fromMs, toMs, region, onRegion }: { traces: SearchTrace[]; fromMs: number; toMs: number; region?: ScatterRegion | null; onRegion?: (r: ScatterRegion) => void }) {
  const box = useRef<HTMLDivElement>(null);
  const [w, setW] = useState(800);
  const [hover, setHover] = useState<number | null>(null);
  const [drag, setDrag] = useState<{ x0: number; y0: number; x1: number; y1: number } | null>(null);
  useEffect(() => {
    const el = box.current;
    if (!el) return;
    const ro = new ResizeObserver(() => setW(el.clientWidth));
    ro.observe(el);
    setW(el.clientWidth);
    return () => ro.disconnect();
  }, []);
  const pts = traces.map((t) => ({ t, x: traceStartMs(t), y: traceDurationNs(t) }));
  // The x axis is the searched range (a trace that started just before it is drawn at its edge).
  const x0 = fromMs;
  const x1 = Math.max(toMs, fromMs + 1000);
  const ys = pts.map((p) => Math.max(p.y, 1));
  const yMax = Math.max(...ys, 1e6);
  const yMin = Math.min(...ys, yMax);
  const log = yMax / Math.max(yMin, 1) > 50;
  const lo = log ? Math.log10(Math.max(yMin, 1)) - 0.1 : 0;
  const hi = log ? Math.log10(yMax) + 0.1 : yMax * 1.1;
  const plotW = Math.max(w - PAD.l - PAD.r, 10);
  const plotH = H - PAD.t - PAD.b;
  const sx = (x: number) => PAD.l + ((x - x0) / (x1 - x0 || 1)) * plotW;
  const sy = (y: number) => {
    const v = log ? Math.log10(Math.max(y, 1)) : y;
    return PAD.t + plotH - ((v - lo) / (hi - lo || 1)) * plotH;
  };
  // Round wall-clock ticks, each label once, those that fit inside the plot.
  const xTicks = timeTicks(x0, x1, Math.max(2, Math.floor(plotW / 110))).filter((t) => sx(t.at) > PAD.l + 24 && sx(t.at) < w - PAD.r - 28);
  const yTicks: number[] = [];
  if (log) {
    for (let e = Math.ceil(lo); e <= hi; e++) yTicks.push(Math.pow(10, e));
  } else {
    const s = niceStep(hi, 4);
    for (let y = 0; y <= hi; y += s) yTicks.push(y);
  }
  const h = hover === null ? null : pts[hover];
  // The inverse scales, clamped to the plot.
  const clampX = (px: number) => Math.min(Math.max(px, PAD.l), PAD.l + plotW);
  const clampY = (py: number) => Math.min(Math.max(py, PAD.t), PAD.t + plotH);
  const atX = (px: number) => x0 + ((clampX(px) - PAD.l) / plotW) * (x1 - x0);
  const atY = (py: number) => {
    const v = lo + ((PAD.t + plotH - clampY(py)) / plotH) * (hi - lo);
    return log ? Math.pow(10, v) : Math.max(v, 0);
  };
  const local = (e: MouseEvent) => {
    const r = (e.currentTarget as Element).getBoundingClientRect();
    return { x: e.clientX - r.left, y: e.clientY - r.top };
  };
  const start = (e: MouseEvent) => {
    if (!onRegion || e.button !== 0 || (e.target as Element).tagName === 'circle') return;
    e.preventDefault();
    const p = local(e);
    setDrag({ x0: p.x, y0: p.y, x1: p.x, y1: p.y });
  };
  const move = (e: MouseEvent) => {
    if (!drag) return;
    const p = local(e);
    setDrag({ ...drag, x1: p.x, y1: p.y });
  };
  const end = () => {
    if (!drag) return;
    setDrag(null);
    if (Math.abs(drag.x1 - drag.x0) < 4 && Math.abs(drag.y1 - drag.y0) < 4) return;
    const [a, b] = [atX(Math.min(drag.x0, drag.x1)), atX(Math.max(drag.x0, drag.x1))];
    const [lowNs, highNs] = [atY(Math.max(drag.y0, drag.y1)), atY(Math.min(drag.y0, drag.y1))];
    onRegion!({ fromMs: Math.floor(a), toMs: Math.ceil(b), minNs: Math.floor(lowNs), maxNs: Math.ceil(highNs) });
  };
  const shown = drag
    ? { x: clampX(Math.min(drag.x0, drag.x1)), y: clampY(Math.min(drag.y0, drag.y1)), w: clampX(Math.max(drag.x0, drag.x1)) - clampX(Math.min(drag.x0, drag.x1)), h: clampY(Math.max(drag.y0, drag.y1)) - clampY(Math.min(drag.y0, drag.y1)) }
    : region
      ? { x: clampX(sx(region.fromMs)), y: clampY(sy(region.maxNs)), w: clampX(sx(region.toMs)) - clampX(sx(region.fromMs)), h: clampY(sy(region.minNs)) - clampY(sy(region.maxNs)) }
      : null;
  return (
    <div class="scatter" ref={box} data-testid="scatter">
      <svg
        width={w}
        height={H}
        role="img"
        aria-label="Trace duration over time"
        data-x0={x0}
        data-x1={x1}
        class={onRegion ? 'selectable' : ''}
        onMouseDown={start}
        onMouseMove={move}
        onMouseUp={end}
        onMouseLeave={end}
      >
        {shown && <rect class={`scatter-region ${drag ? 'dragging' : ''}`} data-testid="scatter-region" x={shown.x} y={shown.y} width={Math.max(shown.w, 1)} height={Math.max(shown.h, 1)} />}
        {yTicks.map((y) => (
          <g>
            <line class="grid" x1={PAD.l} x2={w - PAD.r} y1={sy(y)} y2={sy(y)} />
            <text class="axis" x={PAD.l - 8} y={sy(y) + 4} text-anchor="end">
              {fmtDuration(y)}
            </text>
          </g>
        ))}
        {xTicks.map((x) => (
          <text class="axis x-tick" x={sx(x.at)} y={H - 8} text-anchor="middle">
            {x.label}
          </text>
        ))}
        {pts.map((p, i) => (
          <circle
            class={`point ${(p.t.errorCount ?? 0) > 0 ? 'error' : ''} ${hover === i ? 'hover' : ''}`}
            data-trace-id={p.t.traceID}
            cx={sx(Math.min(Math.max(p.x, x0), x1))}
            cy={sy(p.y)}
            r={hover === i ? 6 : 4.5}
            style={(p.t.errorCount ?? 0) > 0 ? undefined : { fill: serviceColor(p.t.rootServiceName) }}
            onMouseEnter={() => setHover(i)}
            onMouseLeave={() => setHover(null)}
            onClick={() => navigate(`/trace/${p.t.traceID}`)}
          >
            <title>{`${p.t.rootServiceName} ${p.t.rootTraceName ?? ''} · ${fmtDuration(p.y)} · ${fmtDateTime(p.x)}`}</title>
          </circle>
        ))}
      </svg>
      {h && (
        <div class="scatter-tip" style={{ left: `${Math.min(sx(h.x) + 10, w - 260)}px`, top: `${Math.max(sy(h.y) - 40, 0)}px` }}>
          <strong>{h.t.rootServiceName}</strong> {h.t.rootTraceName}
          <br />
          {fmtDuration(h.y)} · {fmtDateTime(h.x)}
        </div>
      )}
    </div>
  );
}
