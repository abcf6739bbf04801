// Formatting and parsing of durations and times.

const UNITS: [string, number][] = [
  ['ns', 1],
  ['us', 1e3],
  ['µs', 1e3],
  ['ms', 1e6],
  ['s', 1e9],
  ['m', 60e9],
  ['h', 3600e9],
  ['d', 86400e9],
];

/** A duration in nanoseconds as people read it: 850 ns, 12.4 µs, 3.25 ms, 1.5 s, 2m 05s. */
export function fmtDuration(ns: number): string {
  if (!Number.isFinite(ns)) return '–';
  const a = Math.abs(ns);
  if (a < 1e3) return `${Math.round(ns)} ns`;
  if (a < 1e6) return `${trim(ns / 1e3)} µs`;
  if (a < 1e9) return `${trim(ns / 1e6)} ms`;
  if (a < 60e9) return `${trim(ns / 1e9)} s`;
  const s = Math.round(ns / 1e9);
  if (a < 3600e9) return `${Math.floor(s / 60)}m ${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h ${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

function trim(v: number): string {
  const a = Math.abs(v);
  const digits = a >= 100 ? 0 : a >= 10 ? 1 : 2;
  const t = v.toFixed(digits);
  return digits > 0 ? t.replace(/\.?0+$/, '') : t;
}

/** `100ms`, `1.5s`, `2m`, `1h30m`, or a bare number of milliseconds → nanoseconds. */
export function parseDuration(text: string): number | null {
  const s = text.trim();
  if (s === '') return null;
  if (/^\d+(\.\d+)?$/.test(s)) return parseFloat(s) * 1e6;
  const re = /(\d+(?:\.\d+)?)\s*(ns|us|µs|ms|s|m|h|d)/gy;
  let total = 0;
  let pos = 0;
  let m: RegExpExecArray | null;
  while ((m = re.exec(s)) !== null) {
    const unit = UNITS.find(([u]) => u === m![2]);
    total += parseFloat(m[1]!) * unit![1];
    pos = re.lastIndex;
  }
  return pos === s.length && pos > 0 ? total : null;
}

/** Nanoseconds as a TraceQL duration literal (`250ms`, `1.5s`). */
export function traceqlDuration(ns: number): string {
  for (const [u, f] of [['h', 3600e9], ['m', 60e9], ['s', 1e9], ['ms', 1e6], ['us', 1e3]] as const) {
    if (ns >= f && Number.isInteger(Math.round((ns / f) * 1000) / 1000)) return `${ns / f}${u}`;
  }
  for (const [u, f] of [['s', 1e9], ['ms', 1e6], ['us', 1e3]] as const) {
    if (ns >= f) return `${+(ns / f).toFixed(3)}${u}`;
  }
  return `${Math.round(ns)}ns`;
}

const pad = (n: number, w = 2) => String(n).padStart(w, '0');

// --- The time zone times are shown in: the browser's (local) or UTC (`tz=utc` in the URL) --

export type Zone = 'local' | 'utc';
let zone: Zone = 'local';

export function setZone(z: Zone) {
  zone = z;
}
export function currentZone(): Zone {
  return zone;
}

/** The zone's offset from UTC at `ms`, in ms (0 in UTC). */
function offsetMs(ms: number): number {
  return zone === 'utc' ? 0 : -new Date(ms).getTimezoneOffset() * 60e3;
}

/** Wall-clock fields of `ms` in the zone shown. */
function wall(ms: number) {
  const d = new Date(ms + offsetMs(ms));
  return { y: d.getUTCFullYear(), mo: d.getUTCMonth() + 1, d: d.getUTCDate(), h: d.getUTCHours(), mi: d.getUTCMinutes(), s: d.getUTCSeconds(), ms: d.getUTCMilliseconds() };
}

/** The browser's offset from UTC now, `UTC+05:30`. */
export function localOffset(at = Date.now()): string {
  const off = -new Date(at).getTimezoneOffset();
  return `UTC${off < 0 ? '−' : '+'}${pad(Math.floor(Math.abs(off) / 60))}:${pad(Math.abs(off) % 60)}`;
}

/** The zone shown, in words: `UTC`, or `local time (Asia/Kolkata, UTC+05:30)`. */
export function zoneName(z: Zone = zone, at = Date.now()): string {
  if (z === 'utc') return 'UTC';
  const name = Intl.DateTimeFormat().resolvedOptions().timeZone;
  return `local time (${name ? `${name}, ` : ''}${localOffset(at)})`;
}

/** Wall-clock time in the zone shown, `2025-11-21 11:04:05.123`. */
export function fmtDateTime(ms: number, withMs = true): string {
  const d = wall(ms);
  const base = `${d.y}-${pad(d.mo)}-${pad(d.d)} ${pad(d.h)}:${pad(d.mi)}:${pad(d.s)}`;
  return withMs ? `${base}.${pad(d.ms, 3)}` : base;
}

export function fmtClock(ms: number): string {
  const d = wall(ms);
  return `${pad(d.h)}:${pad(d.mi)}:${pad(d.s)}`;
}

/** `3 min ago`, `2 h ago`, `in the future`. */
export function fmtAgo(ms: number, now = Date.now()): string {
  const s = Math.round((now - ms) / 1000);
  if (s < -5) return 'in the future';
  if (s < 60) return `${Math.max(s, 0)} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return `${Math.floor(s / 86400)} d ago`;
}

/**
 * A time expression of the time range picker, as Unix milliseconds: `now`, `now-15m`,
 * `now-2d`, an ISO date-time, or Unix seconds / milliseconds.
 */
export function resolveTime(expr: string, now: number): number | null {
  const s = expr.trim();
  if (s === 'now') return now;
  const rel = /^now-(\d+(?:\.\d+)?)(s|m|h|d|w)$/.exec(s);
  if (rel) {
    const f = { s: 1e3, m: 60e3, h: 3600e3, d: 86400e3, w: 7 * 86400e3 }[rel[2] as 's' | 'm' | 'h' | 'd' | 'w'];
    return now - parseFloat(rel[1]!) * f;
  }
  if (/^\d{9,11}$/.test(s)) return parseInt(s, 10) * 1000;
  if (/^\d{12,14}$/.test(s)) return parseInt(s, 10);
  const t = Date.parse(s);
  return Number.isNaN(t) ? null : t;
}

/** The value of a `datetime-local` input for Unix milliseconds (in the zone shown). */
export function toLocalInput(ms: number): string {
  const d = wall(ms);
  return `${d.y}-${pad(d.mo)}-${pad(d.d)}T${pad(d.h)}:${pad(d.mi)}`;
}

/** A `datetime-local` input's value (in the zone shown) as Unix milliseconds; NaN if none. */
export function parseLocalInput(v: string): number {
  return zone === 'utc' ? Date.parse(`${v}Z`) : Date.parse(v);
}

/** Round tick steps for an axis of `span` units with about `count` ticks. */
export function niceStep(span: number, count: number): number {
  const raw = span / Math.max(count, 1);
  const mag = Math.pow(10, Math.floor(Math.log10(raw)));
  const n = raw / mag;
  const step = n < 1.5 ? 1 : n < 3 ? 2 : n < 7 ? 5 : 10;
  return step * mag;
}

const TIME_STEPS_MS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1e3, 2e3, 5e3, 10e3, 15e3, 30e3, 60e3, 120e3, 300e3, 600e3, 900e3, 1800e3, 3600e3, 7200e3, 3 * 3600e3, 6 * 3600e3, 12 * 3600e3, 86400e3, 2 * 86400e3, 7 * 86400e3];

/**
 * Ticks of a wall-clock axis from `x0` to `x1` (Unix ms), about `count` of them, at a round
 * step (1 s, 5 s, 1 min, 15 min, 1 h, 1 d, …), with labels precise enough that no two are the
 * same: HH:MM below a day's step and a minute or more, HH:MM:SS at seconds, .mmm below, and
 * the date when the range spans days.
 */
export function timeTicks(x0: number, x1: number, count: number): { at: number; label: string }[] {
  const raw = (x1 - x0) / Math.max(count, 1);
  const step = TIME_STEPS_MS.find((s) => s >= raw) ?? Math.ceil(raw / 86400e3) * 86400e3;
  // Steps are aligned to the zone's wall clock (a 15-minute step lands on :00, :15, …).
  const offset = -offsetMs(x0);
  const out: { at: number; label: string }[] = [];
  const multiDay = x1 - x0 > 86400e3;
  for (let t = Math.ceil((x0 - offset) / step) * step + offset; t <= x1; t += step) {
    const d = wall(t);
    let label: string;
    if (step < 1e3) label = `${pad(d.s)}.${pad(d.ms, 3)}`;
    else if (step < 60e3) label = `${pad(d.h)}:${pad(d.mi)}:${pad(d.s)}`;
    else label = `${pad(d.h)}:${pad(d.mi)}`;
    if (multiDay || step >= 86400e3) label = `${d.mo}/${d.d}${step < 86400e3 ? ` ${label}` : ''}`;
    out.push({ at: t, label });
  }
  return out;
}
