// Figures of one trace for its flame graph and statistics table.
//
// The flame graph merges spans by their call path (the services and names from the root
// down), so a loop of 500 identical calls is one frame. A frame's value is the self time of
// its spans plus the values of the frames below it: the time of the trace attributed to
// that path. (Parallel children are then not squeezed into their parent's duration, and
// widths always add up; the sum over the roots is the trace's total self time.)

import type { Trace } from './otlp';
import type { Tree } from './tree';

export interface Frame {
  service: string;
  name: string;
  depth: number;
  /** spans merged into this frame */
  spans: number[];
  /** self time of those spans (ns) */
  self: number;
  /** self + the totals of the children (ns) */
  total: number;
  /** summed durations of the spans (ns) */
  duration: number;
  errors: number;
  children: Frame[];
}

/** The merged call tree under a virtual root (service '', name ''); children by total, largest first. */
export function flameTree(trace: Trace, tree: Tree): Frame {
  const root: Frame = { service: '', name: '', depth: -1, spans: [], self: 0, total: 0, duration: 0, errors: 0, children: [] };
  const frameOf = new Array<Frame>(tree.n);
  const index = new Map<Frame, Map<string, Frame>>();
  for (let j = 0; j < tree.n; j++) {
    const i = tree.order[j]!;
    const p = tree.parent[i]!;
    const parent = p >= 0 ? frameOf[p]! : root;
    const s = trace.spans[i]!;
    const service = trace.services[s.service]!;
    const key = `${service}\u0000${s.name}`;
    let kids = index.get(parent);
    if (!kids) index.set(parent, (kids = new Map()));
    let f = kids.get(key);
    if (!f) {
      f = { service, name: s.name, depth: parent.depth + 1, spans: [], self: 0, total: 0, duration: 0, errors: 0, children: [] };
      kids.set(key, f);
      parent.children.push(f);
    }
    f.spans.push(i);
    f.self += tree.selfTime[i]!;
    f.duration += s.end - s.start;
    if (s.statusCode === 2) f.errors++;
    frameOf[i] = f;
  }
  // Totals bottom-up: frames were created parents first, so walk them in reverse.
  const all: Frame[] = [];
  const stack: Frame[] = [root];
  while (stack.length > 0) {
    const f = stack.pop()!;
    all.push(f);
    for (const c of f.children) stack.push(c);
  }
  for (let k = all.length - 1; k >= 0; k--) {
    const f = all[k]!;
    f.total = f.self + f.children.reduce((a, c) => a + c.total, 0);
    f.children.sort((a, b) => b.total - a.total || (a.name < b.name ? -1 : 1));
  }
  return root;
}

export interface StatRow {
  service: string;
  /** the span name; '' in the per-service table */
  name: string;
  count: number;
  errors: number;
  /** summed self time (ns) */
  self: number;
  /** summed duration (ns) */
  duration: number;
  /** longest span (ns) */
  max: number;
}

/** Per service (`byName` false) or per service and operation: counts, errors, self time, durations; by self time, largest first. */
export function traceStats(trace: Trace, tree: Tree, byName: boolean): StatRow[] {
  const rows = new Map<string, StatRow>();
  trace.spans.forEach((s, i) => {
    const service = trace.services[s.service]!;
    const name = byName ? s.name : '';
    const key = `${service}\u0000${name}`;
    let r = rows.get(key);
    if (!r) rows.set(key, (r = { service, name, count: 0, errors: 0, self: 0, duration: 0, max: 0 }));
    const d = s.end - s.start;
    r.count++;
    if (s.statusCode === 2) r.errors++;
    r.self += tree.selfTime[i]!;
    r.duration += d;
    if (d > r.max) r.max = d;
  });
  return [...rows.values()].sort((a, b) => b.self - a.self || (a.service + a.name < b.service + b.name ? -1 : 1));
}
