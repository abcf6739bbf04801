// The span tree of a trace, computed once: parents, children sorted by start, depth-first
// order, subtree sizes (so a collapsed subtree is skipped in one step), self times and the
// critical path. Everything is arrays indexed by span; nothing here runs per frame.

import type { Trace } from './otlp';

export interface Tree {
  n: number;
  parent: Int32Array;
  depth: Int32Array;
  /** children of span i: childList[childStart[i] .. childStart[i + 1]], by start time */
  childStart: Int32Array;
  childList: Int32Array;
  roots: number[];
  /** spans in depth-first order */
  order: Int32Array;
  /** position of span i in `order` */
  position: Int32Array;
  /** spans in the subtree of i, i included */
  size: Int32Array;
  /** time of span i not covered by any of its children */
  selfTime: Float64Array;
  maxDepth: number;
}

export function buildTree(trace: Trace): Tree {
  const spans = trace.spans;
  const n = spans.length;
  const byId = new Map<string, number>();
  for (let i = 0; i < n; i++) byId.set(spans[i]!.spanId, i);
  const parent = new Int32Array(n).fill(-1);
  const childCount = new Int32Array(n + 1);
  for (let i = 0; i < n; i++) {
    const p = spans[i]!.parentId ? byId.get(spans[i]!.parentId) : undefined;
    if (p !== undefined && p !== i) {
      parent[i] = p;
      childCount[p]!++;
    }
  }
  // A cycle (bad data) would hide spans: break it by making its members roots.
  breakCycles(parent, n);
  childCount.fill(0);
  for (let i = 0; i < n; i++) if (parent[i]! >= 0) childCount[parent[i]!]!++;
  const childStart = new Int32Array(n + 1);
  for (let i = 0; i < n; i++) childStart[i + 1] = childStart[i]! + childCount[i]!;
  const fill = childStart.slice(0, n);
  const childList = new Int32Array(childStart[n]!);
  const roots: number[] = [];
  for (let i = 0; i < n; i++) {
    const p = parent[i]!;
    if (p >= 0) childList[fill[p]!++] = i;
    else roots.push(i);
  }
  const byStart = (a: number, b: number) => spans[a]!.start - spans[b]!.start || (spans[a]!.spanId < spans[b]!.spanId ? -1 : 1);
  for (let i = 0; i < n; i++) {
    const a = childStart[i]!;
    const b = childStart[i + 1]!;
    if (b - a > 1) childList.subarray(a, b).sort(byStart);
  }
  roots.sort(byStart);

  // Depth-first order without recursion (a trace may be 10 000 levels deep).
  const order = new Int32Array(n);
  const depth = new Int32Array(n);
  const position = new Int32Array(n);
  let k = 0;
  let maxDepth = 0;
  const stack: number[] = [];
  for (let r = roots.length - 1; r >= 0; r--) stack.push(roots[r]!);
  while (stack.length > 0) {
    const i = stack.pop()!;
    position[i] = k;
    order[k++] = i;
    const p = parent[i]!;
    depth[i] = p >= 0 ? depth[p]! + 1 : 0;
    if (depth[i]! > maxDepth) maxDepth = depth[i]!;
    for (let c = childStart[i + 1]! - 1; c >= childStart[i]!; c--) stack.push(childList[c]!);
  }
  const size = new Int32Array(n).fill(1);
  for (let j = n - 1; j >= 0; j--) {
    const i = order[j]!;
    const p = parent[i]!;
    if (p >= 0) size[p]! += size[i]!;
  }

  // Self time: the span's duration less the union of its children's (clipped) intervals.
  const selfTime = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const s = spans[i]!;
    let covered = 0;
    let curStart = -1;
    let curEnd = -1;
    for (let c = childStart[i]!; c < childStart[i + 1]!; c++) {
      const ch = spans[childList[c]!]!;
      const a = Math.max(ch.start, s.start);
      const b = Math.min(ch.end, s.end);
      if (b <= a) continue;
      if (a > curEnd) {
        if (curEnd > curStart) covered += curEnd - curStart;
        curStart = a;
        curEnd = b;
      } else if (b > curEnd) curEnd = b;
    }
    if (curEnd > curStart) covered += curEnd - curStart;
    selfTime[i] = Math.max(0, s.end - s.start - covered);
  }
  return { n, parent, depth, childStart, childList, roots, order, position, size, selfTime, maxDepth };
}

function breakCycles(parent: Int32Array, n: number) {
  const state = new Uint8Array(n); // 0 new, 1 on the current walk, 2 done
  for (let i = 0; i < n; i++) {
    if (state[i]) continue;
    const walk: number[] = [];
    let j = i;
    while (j >= 0 && state[j] === 0) {
      state[j] = 1;
      walk.push(j);
      j = parent[j]!;
    }
    if (j >= 0 && state[j] === 1) parent[j] = -1;
    for (const w of walk) state[w] = 2;
  }
}

/** Rows shown: depth-first order, skipping the subtrees of collapsed spans. */
export function visibleRows(tree: Tree, collapsed: Set<number>): Int32Array {
  if (collapsed.size === 0) return tree.order;
  const out = new Int32Array(tree.n);
  let k = 0;
  for (let j = 0; j < tree.n; ) {
    const i = tree.order[j]!;
    out[k++] = i;
    j += collapsed.has(i) ? tree.size[i]! : 1;
  }
  return out.subarray(0, k);
}

export function ancestors(tree: Tree, i: number): number[] {
  const out: number[] = [];
  for (let p = tree.parent[i]!; p >= 0; p = tree.parent[p]!) out.push(p);
  return out;
}

/**
 * The critical path: the spans (and the parts of them) that the trace's end-to-end latency
 * waited on. From the end of the trace backwards, a span's time is on the path except where
 * the child that finished last before that moment was running; that child is followed
 * recursively, then the walk continues before the child's start (as Jaeger computes it).
 * Returns, per span, its segments on the path as [start, end] pairs.
 */
export function criticalPath(trace: Trace, tree: Tree): Map<number, number[]> {
  const spans = trace.spans;
  const out = new Map<number, number[]>();
  const add = (i: number, a: number, b: number) => {
    if (b <= a) return;
    let segs = out.get(i);
    if (!segs) out.set(i, (segs = []));
    segs.push(a, b);
  };
  // Children by end time, latest first, for every span that has children.
  const byEnd = (i: number): number[] => {
    const c = Array.from(tree.childList.subarray(tree.childStart[i]!, tree.childStart[i + 1]!));
    return c.sort((a, b) => spans[b]!.end - spans[a]!.end);
  };
  interface Frame {
    span: number;
    t: number;
    children: number[];
    k: number;
  }
  // A virtual root over the roots: the trace's whole time.
  const rootChildren = tree.roots.slice().sort((a, b) => spans[b]!.end - spans[a]!.end);
  const stack: Frame[] = [{ span: -1, t: trace.duration, children: rootChildren, k: 0 }];
  while (stack.length > 0) {
    const f = stack[stack.length - 1]!;
    const fStart = f.span >= 0 ? spans[f.span]!.start : 0;
    let pushed = false;
    while (f.k < f.children.length && f.t > fStart) {
      const c = f.children[f.k++]!;
      const cs = spans[c]!;
      if (cs.start >= f.t) continue;
      const cEnd = Math.min(cs.end, f.t);
      if (f.span >= 0) add(f.span, cEnd, f.t);
      f.t = Math.max(cs.start, fStart);
      stack.push({ span: c, t: cEnd, children: byEnd(c), k: 0 });
      pushed = true;
      break;
    }
    if (pushed) continue;
    if (f.span >= 0) add(f.span, fStart, f.t);
    stack.pop();
  }
  // Segments in time order.
  for (const [i, segs] of out) {
    if (segs.length > 2) {
      const pairs: [number, number][] = [];
      for (let k = 0; k < segs.length; k += 2) pairs.push([segs[k]!, segs[k + 1]!]);
      pairs.sort((a, b) => a[0] - b[0]);
      out.set(i, pairs.flat());
    }
  }
  return out;
}

/** Rows shown by "only matches": the matching spans and their ancestors, in tree order. */
export function matchedRows(tree: Tree, flags: Uint8Array): Int32Array {
  const keep = new Uint8Array(tree.n);
  for (let j = tree.n - 1; j >= 0; j--) {
    const i = tree.order[j]!;
    if (flags[i]) keep[i] = 1;
    const p = tree.parent[i]!;
    if (keep[i] && p >= 0) keep[p] = 1;
  }
  const out = new Int32Array(tree.n);
  let k = 0;
  for (let j = 0; j < tree.n; j++) if (keep[tree.order[j]!]) out[k++] = tree.order[j]!;
  return out.subarray(0, k);
}

/** Spans whose parent ID names a span the trace does not hold (shown as roots, with a warning). */
export function orphans(trace: Trace, tree: Tree): number[] {
  return tree.roots.filter((r) => trace.spans[r]!.parentId !== '' && !/^0+$/.test(trace.spans[r]!.parentId));
}
