// The structural difference of two traces (A, the baseline, and B).
//
// Spans are matched by their place in the tree: the path of (service, span name) from the
// root, and among siblings of the same service and name, their order by start time. A
// span of B with no match in A is *added*, one of A with none in B *missing*; a matched
// pair is *failing* when it failed in B only, *fixed* when in A only, else *slower* or
// *faster* when B's duration differs from A's by at least SLOWER_SHARE and SLOWER_MIN_NS,
// else *same*.

import type { Trace } from './otlp';
import type { Tree } from './tree';

export const SLOWER_SHARE = 0.1;
export const SLOWER_MIN_NS = 1e6;

export type Change = 'added' | 'missing' | 'failing' | 'fixed' | 'slower' | 'faster' | 'same';
export const CHANGES: Change[] = ['added', 'missing', 'failing', 'fixed', 'slower', 'faster', 'same'];

export interface DiffRow {
  depth: number;
  service: string;
  name: string;
  /** span index in A / B, or -1 */
  a: number;
  b: number;
  durA: number;
  durB: number;
  change: Change;
}

export interface Side {
  trace: Trace;
  tree: Tree;
}

const keyOf = (t: Trace, i: number) => `${t.services[t.spans[i]!.service]}\u0000${t.spans[i]!.name}`;

/** Children of span i (or the roots for -1) grouped by key, each group in start order (the tree's order). */
function groups(side: Side, i: number): Map<string, number[]> {
  const { trace, tree } = side;
  const kids = i < 0 ? tree.roots : Array.from(tree.childList.subarray(tree.childStart[i]!, tree.childStart[i + 1]!));
  const out = new Map<string, number[]>();
  for (const c of kids) {
    const k = keyOf(trace, c);
    let g = out.get(k);
    if (!g) out.set(k, (g = []));
    g.push(c);
  }
  return out;
}

function changeOf(A: Side, B: Side, a: number, b: number): Change {
  if (a < 0) return 'added';
  if (b < 0) return 'missing';
  const sa = A.trace.spans[a]!;
  const sb = B.trace.spans[b]!;
  const errA = sa.statusCode === 2;
  const errB = sb.statusCode === 2;
  if (errB && !errA) return 'failing';
  if (errA && !errB) return 'fixed';
  const da = sa.end - sa.start;
  const db = sb.end - sb.start;
  const d = db - da;
  if (Math.abs(d) >= SLOWER_MIN_NS && Math.abs(d) >= SLOWER_SHARE * da) return d > 0 ? 'slower' : 'faster';
  return 'same';
}

/** The merged tree of A and B in depth-first order (A's order, B's additions after the matched). */
export function diffTraces(A: Side, B: Side): DiffRow[] {
  const rows: DiffRow[] = [];
  // An explicit stack (no recursion): [a, b, depth] pairs to emit with their subtrees.
  const stack: [number, number, number][] = [];
  const pushChildren = (a: number, b: number, depth: number) => {
    const ga = a >= 0 || b < 0 ? groups(A, a) : new Map<string, number[]>();
    const gb = b >= 0 || a < 0 ? groups(B, b) : new Map<string, number[]>();
    const pairs: [number, number][] = [];
    for (const [k, la] of ga) {
      const lb = gb.get(k) ?? [];
      for (let j = 0; j < Math.max(la.length, lb.length); j++) pairs.push([la[j] ?? -1, lb[j] ?? -1]);
    }
    for (const [k, lb] of gb) if (!ga.has(k)) for (const x of lb) pairs.push([-1, x]);
    // Pushed in reverse so they pop in order.
    for (let j = pairs.length - 1; j >= 0; j--) stack.push([pairs[j]![0], pairs[j]![1], depth]);
  };
  pushChildren(-1, -1, 0);
  while (stack.length > 0) {
    const [a, b, depth] = stack.pop()!;
    const sa = a >= 0 ? A.trace.spans[a]! : null;
    const sb = b >= 0 ? B.trace.spans[b]! : null;
    const t = sa ? A.trace : B.trace;
    const s = (sa ?? sb)!;
    rows.push({
      depth,
      service: t.services[s.service]!,
      name: s.name,
      a,
      b,
      durA: sa ? sa.end - sa.start : 0,
      durB: sb ? sb.end - sb.start : 0,
      change: changeOf(A, B, a, b),
    });
    // An added or missing span's subtree is all added or missing: walk only its own side.
    if (a >= 0 && b >= 0) pushChildren(a, b, depth + 1);
    else if (a >= 0) pushOne(A, a, depth + 1, stack, true);
    else pushOne(B, b, depth + 1, stack, false);
  }
  return rows;
}

function pushOne(side: Side, i: number, depth: number, stack: [number, number, number][], isA: boolean) {
  const { tree } = side;
  for (let c = tree.childStart[i + 1]! - 1; c >= tree.childStart[i]!; c--) {
    const k = tree.childList[c]!;
    stack.push(isA ? [k, -1, depth] : [-1, k, depth]);
  }
}

export interface OpDiff {
  service: string;
  name: string;
  countA: number;
  countB: number;
  durA: number;
  durB: number;
  errA: number;
  errB: number;
  changes: Partial<Record<Change, number>>;
}

/** Per service and operation: counts, summed durations, errors on both sides, and the changes; the largest differences first. */
export function diffByOperation(A: Side, B: Side, rows: DiffRow[]): OpDiff[] {
  const ops = new Map<string, OpDiff>();
  for (const r of rows) {
    const k = `${r.service}\u0000${r.name}`;
    let o = ops.get(k);
    if (!o) ops.set(k, (o = { service: r.service, name: r.name, countA: 0, countB: 0, durA: 0, durB: 0, errA: 0, errB: 0, changes: {} }));
    if (r.a >= 0) {
      o.countA++;
      o.durA += r.durA;
      if (A.trace.spans[r.a]!.statusCode === 2) o.errA++;
    }
    if (r.b >= 0) {
      o.countB++;
      o.durB += r.durB;
      if (B.trace.spans[r.b]!.statusCode === 2) o.errB++;
    }
    o.changes[r.change] = (o.changes[r.change] ?? 0) + 1;
  }
  const changed = (o: OpDiff) => Object.keys(o.changes).some((c) => c !== 'same');
  return [...ops.values()].sort((x, y) => Number(changed(y)) - Number(changed(x)) || Math.abs(y.durB - y.durA) - Math.abs(x.durB - x.durA));
}
