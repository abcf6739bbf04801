// A region of the search page's scatter plot as the selection of `compare()`: the spans of
// the traces whose duration is in the region's band (`traceDuration`), in its time window
// (compare's start and end).

import type { DiffSelection } from '../components/DiffPanel';
import type { Region } from './searchState';
import { fmtClock, fmtDuration, traceqlDuration } from './time';

export function regionSelection(r: Region): DiffSelection {
  const lo = traceqlDuration(Math.max(r.minNs, 0));
  const hi = traceqlDuration(Math.max(r.maxNs, 1));
  return {
    filter: `{ traceDuration >= ${lo} && traceDuration <= ${hi} }`,
    window: { fromMs: r.fromMs, toMs: r.toMs },
    label: `the spans of traces of ${fmtDuration(r.minNs)} – ${fmtDuration(r.maxNs)} started ${fmtClock(r.fromMs)} – ${fmtClock(r.toMs)}`,
  };
}
