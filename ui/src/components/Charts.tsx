// Charts of a derived view's series: one value per step (point i covers
// [start + i·step, start + (i+1)·step)), as bars or a line; a click on a step picks it.
// And sparklines for table rows.

import type { ComponentChildren } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { fmtClock, fmtDateTime, niceStep } from '../lib/time';

export type Tone = 'accent' | 'error' | 'warn' | 'info';

const H = 150;
const PAD = { l: 58, r: 12, t: 10, b: 24 };
/** Tick intervals for the time axis, in seconds. */
const TIME_STEPS = [15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400, 172800, 604800];

export function StepChart({
  title,
  values,
  start,
  step,
  kind,
  format,
  tone = 'accent',
  onPick,
  pickLabel = 'traces',
  integer = false,
  testid,
  action,
}: {
  title: string;
  values: (number | null)[];
  /** Unix seconds of the first step. */
  start: number;
  /** Seconds per step. */
  step: number;
  kind: 'bar' | 'line';
  format: (v: number) => string;
  tone?: Tone;
  onPick?: (i: number) => void;
  pickLabel?: string;
  /** Counts: ticks on whole numbers. */
  integer?: boolean;
  testid?: string;
  /** A link or button in the caption (e.g. "alert on this"). */
  action?: ComponentChildren;
}) {
  const box = useRef<HTMLDivElement>(null);
  const [w, setW] = useState(480);
  const [hover, setHover] = useState<number | null>(null);
  useEffect(() => {
    const el = box.current;
    if (!el) return;
    const ro = new ResizeObserver(() => setW(el.clientWidth));
    ro.observe(el);
    setW(el.clientWidth);
    return () => ro.disconnect();
  }, []);
  const n = values.length;
  const plotW = Math.max(w - PAD.l - PAD.r, 10);
  const plotH = H - PAD.t - PAD.b;
  const max = Math.max(0, ...values.map((v) => v ?? 0));
  const yStep = max > 0 ? (integer ? Math.max(1, Math.round(niceStep(max, 3))) : niceStep(max, 3)) : 1;
  const yMax = max > 0 ? Math.ceil((max * 1.05) / yStep) * yStep : 1;
  const bw = plotW / Math.max(n, 1);
  const sx = (i: number) => PAD.l + i * bw;
  const sy = (v: number) => PAD.t + plotH - (v / yMax) * plotH;
  const yTicks: number[] = [];
  for (let y = 0; y <= yMax + yStep / 2; y += yStep) yTicks.push(y);
  // Clock ticks at round times, about one per 90 px.
  const span = n * step;
  const want = Math.max(2, Math.floor(plotW / 90));
  const tickSec = TIME_STEPS.find((s) => span / s <= want + 0.5) ?? TIME_STEPS[TIME_STEPS.length - 1]!;
  const tx = (t: number) => PAD.l + ((t - start) / (span || 1)) * plotW;
  const withDate = span > 86400;
  const label = (t: number) => (withDate ? fmtDateTime(t * 1000, false).slice(5, 16) : tickSec % 60 === 0 ? fmtClock(t * 1000).slice(0, 5) : fmtClock(t * 1000));
  const halfLabel = withDate ? 34 : tickSec % 60 === 0 ? 16 : 26;
  const xTicks: number[] = [];
  // Ticks at round times (in local time when the zone is whole hours off), labels inside the chart.
  for (let t = Math.ceil(start / tickSec) * tickSec; t <= start + span; t += tickSec) if (tx(t) - halfLabel >= PAD.l - 30 && tx(t) + halfLabel <= w - 2) xTicks.push(t);

  let line = '';
  if (kind === 'line') {
    let pen = false;
    values.forEach((v, i) => {
      if (v === null || v === undefined) {
        pen = false;
        return;
      }
      line += `${pen ? 'L' : 'M'}${(sx(i) + bw / 2).toFixed(1)},${sy(v).toFixed(1)}`;
      pen = true;
    });
  }
  const h = hover === null ? null : { i: hover, v: values[hover] ?? null };
  return (
    <figure class={`chart tone-${tone}`} data-testid={testid} data-start={start} data-step={step}>
      <figcaption>
        <span title={onPick ? `Click a step to search its ${pickLabel}` : undefined}>{title}</span>
        {action && <span class="chart-action">{action}</span>}
      </figcaption>
      <div class="chart-box" ref={box}>
        <svg width={w} height={H} role="img" aria-label={title}>
          {yTicks.map((y) => (
            <g>
              <line class="grid" x1={PAD.l} x2={w - PAD.r} y1={sy(y)} y2={sy(y)} />
              <text class="axis" x={PAD.l - 6} y={sy(y) + 4} text-anchor="end">
                {y === 0 ? '0' : format(y)}
              </text>
            </g>
          ))}
          {xTicks.map((t) => (
            <text class="axis" x={tx(t)} y={H - 6} text-anchor="middle">
              {label(t)}
            </text>
          ))}
          {kind === 'bar' &&
            values.map((v, i) =>
              v ? <rect class={`bar-step ${hover === i ? 'hover' : ''}`} x={sx(i) + (bw > 4 ? 1 : 0)} width={Math.max(bw - (bw > 4 ? 2 : 0), 1)} y={sy(v)} height={Math.max(PAD.t + plotH - sy(v), 1)} /> : null,
            )}
          {kind === 'line' && <path class="line" d={line} />}
          {kind === 'line' &&
            values.map((v, i) =>
              v === null || v === undefined ? null : <circle class={`dot ${hover === i ? 'hover' : ''}`} cx={sx(i) + bw / 2} cy={sy(v)} r={hover === i ? 4 : n <= 60 ? 2.5 : 1.5} />,
            )}
          {values.map((v, i) => (
            <rect
              class={`hit ${onPick ? 'pickable' : ''}`}
              data-step={i}
              data-value={v ?? ''}
              x={sx(i)}
              width={bw}
              y={PAD.t}
              height={plotH}
              onMouseEnter={() => setHover(i)}
              onMouseLeave={() => setHover(null)}
              onClick={onPick ? () => onPick(i) : undefined}
            />
          ))}
        </svg>
        {h && (
          <div class="chart-tip" style={{ left: `${Math.min(sx(h.i) + bw + 8, w - 210)}px`, top: '8px' }}>
            <strong>{h.v === null ? 'no data' : format(h.v)}</strong>
            <br />
            <span class="muted">
              {fmtClock((start + h.i * step) * 1000)} – {fmtClock((start + (h.i + 1) * step) * 1000)}
            </span>
            {onPick && (
              <>
                <br />
                <span class="muted small">click: search the {pickLabel}</span>
              </>
            )}
          </div>
        )}
      </div>
    </figure>
  );
}

/** A row's series in miniature (gaps where there is no value). */
export function Sparkline({ values, tone = 'accent', label, width = 110, height = 24 }: { values: (number | null)[]; tone?: Tone; label: string; width?: number; height?: number }) {
  const n = values.length;
  const max = Math.max(0, ...values.map((v) => v ?? 0));
  const x = (i: number) => (n <= 1 ? width / 2 : (i / (n - 1)) * (width - 2) + 1);
  const y = (v: number) => height - 2 - (max > 0 ? (v / max) * (height - 4) : 0);
  let d = '';
  let area = '';
  let pen = false;
  let first = 0;
  const closeArea = (last: number) => {
    area += `L${x(last).toFixed(1)},${height - 1}L${x(first).toFixed(1)},${height - 1}Z`;
  };
  values.forEach((v, i) => {
    if (v === null || v === undefined) {
      if (pen) closeArea(i - 1);
      pen = false;
      return;
    }
    if (!pen) first = i;
    d += `${pen ? 'L' : 'M'}${x(i).toFixed(1)},${y(v).toFixed(1)}`;
    area += `${pen ? 'L' : 'M'}${x(i).toFixed(1)},${y(v).toFixed(1)}`;
    pen = true;
  });
  if (pen) closeArea(n - 1);
  // A value alone between gaps draws no line: a dot shows it.
  const lone = values.flatMap((v, i) => (v !== null && v !== undefined && (values[i - 1] ?? null) === null && (values[i + 1] ?? null) === null ? [i] : []));
  return (
    <svg class={`spark tone-${tone}`} width={width} height={height} role="img" aria-label={label} data-points={values.map((v) => v ?? '').join(',')}>
      <title>{label}</title>
      <path class="spark-area" d={area} />
      <path class="spark-line" d={d} />
      {lone.map((i) => (
        <circle class="spark-dot" cx={x(i)} cy={y(values[i]!)} r={1.6} />
      ))}
    </svg>
  );
}
