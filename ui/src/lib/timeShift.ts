// Moving the time range: shift it back or forward by its own length, or zoom out (twice as
// long around the same middle). A range that ends now stays relative when zoomed out
// (`now-1h` → `now-2h`); a shift makes it absolute (ISO times), and a shift forward that
// reaches (about) now makes it relative again.

import { resolveTime } from './time';

export interface TimeRange {
  from: string;
  to: string;
}

const iso = (ms: number) => new Date(ms).toISOString();

/** `now-<n><unit>` for a length in ms, in the largest unit that divides it. */
function relative(lenMs: number): string {
  for (const [u, f] of [['d', 86400e3], ['h', 3600e3], ['m', 60e3]] as const) if (lenMs % f === 0) return `now-${lenMs / f}${u}`;
  return `now-${Math.round(lenMs / 1000)}s`;
}

export function shiftRange(r: TimeRange, dir: -1 | 1, now = Date.now()): TimeRange | null {
  const a = resolveTime(r.from, now);
  const b = resolveTime(r.to, now);
  if (a === null || b === null || a >= b) return null;
  const len = Math.round(b - a);
  // Forward to (about) now: relative again (within a twentieth of the length).
  if (dir > 0 && b + len >= now - Math.max(1000, len / 20)) return { from: relative(len), to: 'now' };
  return { from: iso(a + dir * len), to: iso(b + dir * len) };
}

export function zoomOut(r: TimeRange, now = Date.now()): TimeRange | null {
  const a = resolveTime(r.from, now);
  const b = resolveTime(r.to, now);
  if (a === null || b === null || a >= b) return null;
  const len = Math.round(b - a);
  if (r.to === 'now') return { from: relative(len * 2), to: 'now' };
  const from = a - len / 2;
  const to = b + len / 2;
  return to >= now ? { from: relative(Math.round((now - from) / 1000) * 1000), to: 'now' } : { from: iso(from), to: iso(to) };
}
