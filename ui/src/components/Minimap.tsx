// The whole trace in miniature: every shown row as a line on a canvas, drawn once per
// change of rows, theme or width. The band shows the rows in view and the time window;
// a click scrolls to a row, a drag across time zooms the waterfall to that window.

import { useEffect, useRef, useState } from 'preact/hooks';
import { serviceColorFor } from '../lib/colors';
import type { Trace } from '../lib/otlp';
import { useTheme } from '../lib/theme';

const H = 56;

export function Minimap({
  trace,
  rows,
  window: win,
  viewport,
  band,
  onWindow,
  onScrollTo,
}: {
  trace: Trace;
  rows: Int32Array;
  window: [number, number];
  /** first row in view and rows in view, kept current by the waterfall */
  viewport: { current: [number, number] };
  /** set here: moves the band when the waterfall scrolls (no re-render) */
  band: { current: ((first: number, count: number) => void) | null };
  onWindow: (w: [number, number]) => void;
  onScrollTo: (row: number) => void;
}) {
  const canvas = useRef<HTMLCanvasElement>(null);
  const box = useRef<HTMLDivElement>(null);
  const [w, setW] = useState(0);
  const [drag, setDrag] = useState<[number, number] | null>(null);
  const theme = useTheme();
  useEffect(() => {
    const el = box.current!;
    const ro = new ResizeObserver(() => setW(el.clientWidth));
    ro.observe(el);
    setW(el.clientWidth);
    return () => ro.disconnect();
  }, []);
  useEffect(() => {
    const c = canvas.current;
    if (!c || w === 0) return;
    const dpr = window.devicePixelRatio || 1;
    c.width = Math.round(w * dpr);
    c.height = Math.round(H * dpr);
    const ctx = c.getContext('2d')!;
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, w, H);
    const dark = theme === 'dark';
    const colors = trace.services.map((s) => serviceColorFor(s, dark));
    const red = dark ? '#ef6b6b' : '#d64545';
    const n = rows.length;
    const dur = trace.duration || 1;
    const rowH = Math.max(H / Math.max(n, 1), 0.5);
    const barH = Math.min(Math.max(rowH - 1, 1), 6);
    for (let k = 0; k < n; k++) {
      const s = trace.spans[rows[k]!]!;
      ctx.fillStyle = s.statusCode === 2 ? red : colors[s.service]!;
      const x = (s.start / dur) * w;
      const bw = Math.max(((s.end - s.start) / dur) * w, 1);
      ctx.fillRect(x, (k / n) * H, bw, barH);
    }
  }, [trace, rows, w, theme]);

  const bandEl = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const n = Math.max(rows.length, 1);
    const place = (first: number, count: number) => {
      const el = bandEl.current;
      if (!el) return;
      el.style.top = `${(first / n) * H}px`;
      el.style.height = `${Math.max((Math.min(count, n) / n) * H, 3)}px`;
    };
    band.current = place;
    place(viewport.current[0], viewport.current[1]);
    return () => {
      band.current = null;
    };
  }, [rows]);
  const toFrac = (e: MouseEvent) => {
    const r = box.current!.getBoundingClientRect();
    return { x: Math.min(Math.max((e.clientX - r.left) / r.width, 0), 1), y: Math.min(Math.max((e.clientY - r.top) / r.height, 0), 1) };
  };
  const onDown = (e: MouseEvent) => {
    if (e.button !== 0) return;
    e.preventDefault();
    const start = toFrac(e);
    let moved = false;
    const move = (ev: MouseEvent) => {
      const p = toFrac(ev);
      if (Math.abs(p.x - start.x) * w > 4) moved = true;
      if (moved) setDrag([Math.min(start.x, p.x), Math.max(start.x, p.x)]);
    };
    const up = (ev: MouseEvent) => {
      window.removeEventListener('mousemove', move);
      window.removeEventListener('mouseup', up);
      const p = toFrac(ev);
      setDrag(null);
      if (moved) onWindow([Math.min(start.x, p.x), Math.max(start.x, p.x)]);
      else onScrollTo(Math.floor(p.y * rows.length - viewport.current[1] / 2));
    };
    window.addEventListener('mousemove', move);
    window.addEventListener('mouseup', up);
  };
  return (
    <div class="minimap" ref={box} data-testid="minimap" onMouseDown={onDown} title="Click to scroll there, drag across to zoom">
      <canvas ref={canvas} style={{ width: `${w}px`, height: `${H}px` }} />
      {(win[0] > 0 || win[1] < 1) && (
        <>
          <div class="mm-shade" style={{ left: 0, width: `${win[0] * 100}%` }} />
          <div class="mm-shade" style={{ left: `${win[1] * 100}%`, right: 0 }} />
        </>
      )}
      <div class="mm-band" data-testid="minimap-band" ref={bandEl} />
      {drag && <div class="mm-drag" style={{ left: `${drag[0] * 100}%`, width: `${(drag[1] - drag[0]) * 100}%` }} />}
    </div>
  );
}
