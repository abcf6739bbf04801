// The time range picker: quick relative ranges and an absolute from/to (in the zone shown),
// with buttons that shift the range back and forward and zoom out.

import { useEffect, useRef, useState } from 'preact/hooks';
import { fmtDateTime, parseLocalInput, resolveTime, toLocalInput, zoneName } from '../lib/time';
import { shiftRange, zoomOut } from '../lib/timeShift';

const QUICK: [string, string][] = [
  ['now-5m', 'Last 5 minutes'],
  ['now-15m', 'Last 15 minutes'],
  ['now-1h', 'Last 1 hour'],
  ['now-3h', 'Last 3 hours'],
  ['now-6h', 'Last 6 hours'],
  ['now-12h', 'Last 12 hours'],
  ['now-24h', 'Last 24 hours'],
  ['now-2d', 'Last 2 days'],
  ['now-7d', 'Last 7 days'],
  ['now-30d', 'Last 30 days'],
];

export function rangeLabel(from: string, to: string): string {
  if (to === 'now') {
    const q = QUICK.find(([f]) => f === from);
    if (q) return q[1];
    const m = /^now-(.+)$/.exec(from);
    if (m) return `Last ${m[1]}`;
  }
  const now = Date.now();
  const a = resolveTime(from, now);
  const b = resolveTime(to, now);
  return `${a === null ? from : fmtDateTime(a, false)} → ${b === null ? to : fmtDateTime(b, false)}`;
}

export function TimeRangePicker({ from, to, onChange }: { from: string; to: string; onChange: (from: string, to: string) => void }) {
  const [open, setOpen] = useState(false);
  const now = Date.now();
  const [absFrom, setAbsFrom] = useState(toLocalInput(resolveTime(from, now) ?? now - 3600e3));
  const [absTo, setAbsTo] = useState(toLocalInput(resolveTime(to, now) ?? now));
  const box = useRef<HTMLDivElement>(null);
  useEffect(() => {
    if (!open) return;
    const close = (e: MouseEvent) => {
      if (box.current && !box.current.contains(e.target as Node)) setOpen(false);
    };
    document.addEventListener('mousedown', close);
    return () => document.removeEventListener('mousedown', close);
  }, [open]);
  const a = parseLocalInput(absFrom);
  const b = parseLocalInput(absTo);
  const move = (r: { from: string; to: string } | null) => r && onChange(r.from, r.to);
  const absValid = !Number.isNaN(a) && !Number.isNaN(b) && a < b;
  return (
    <div class="popover-anchor time-range" ref={box}>
      <button type="button" class="button shift" data-testid="time-back" title="Shift the range back by its length" aria-label="Earlier" onClick={() => move(shiftRange({ from, to }, -1))}>
        ‹
      </button>
      <button
        type="button"
        class="button"
        data-testid="time-range"
        aria-haspopup="dialog"
        aria-expanded={open}
        onClick={() => {
          if (!open) {
            // The absolute inputs start from the current range, set before the popover
            // shows (an effect would run later and could overwrite what is typed).
            const n = Date.now();
            setAbsFrom(toLocalInput(resolveTime(from, n) ?? n - 3600e3));
            setAbsTo(toLocalInput(resolveTime(to, n) ?? n));
          }
          setOpen(!open);
        }}
      >
        <span aria-hidden="true">◷</span> {rangeLabel(from, to)}
      </button>
      <button type="button" class="button shift" data-testid="time-forward" title="Shift the range forward by its length (up to now)" aria-label="Later" disabled={to === 'now'} onClick={() => move(shiftRange({ from, to }, 1))}>
        ›
      </button>
      <button type="button" class="button shift" data-testid="time-zoom-out" title="Zoom out: twice as long" aria-label="Zoom out" onClick={() => move(zoomOut({ from, to }))}>
        ⊖
      </button>
      {open && (
        <div class="popover time-popover" role="dialog" aria-label="Time range">
          <div class="time-quick">
            {QUICK.map(([f, label]) => (
              <button
                type="button"
                class={`menu-item ${f === from && to === 'now' ? 'selected' : ''}`}
                onClick={() => {
                  onChange(f, 'now');
                  setOpen(false);
                }}
              >
                {label}
              </button>
            ))}
          </div>
          <p class="hint small" data-testid="time-zone-note">
            Times in {zoneName()}
          </p>
          <form
            class="time-abs"
            onSubmit={(e) => {
              e.preventDefault();
              if (!absValid) return;
              onChange(new Date(a).toISOString(), new Date(b).toISOString());
              setOpen(false);
            }}
          >
            <label>
              From
              <input type="datetime-local" aria-label="From" value={absFrom} onInput={(e) => setAbsFrom(e.currentTarget.value)} />
            </label>
            <label>
              To
              <input type="datetime-local" aria-label="To" value={absTo} onInput={(e) => setAbsTo(e.currentTarget.value)} />
            </label>
            {!absValid && <p class="hint error-text">From must be before To.</p>}
            <button class="button primary" disabled={!absValid}>
              Apply absolute range
            </button>
          </form>
        </div>
      )}
    </div>
  );
}
