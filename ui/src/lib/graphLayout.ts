// A layered, left-to-right layout of the service graph: a node's column is its call depth
// (the longest chain of calls from a root — `user`, or a node nobody calls), and the
// nodes of a column are ordered to keep edges from crossing (barycenter sweeps). The same
// graph always gets the same layout: every choice is ordered by name.

export interface Placed {
  id: string;
  layer: number;
  x: number;
  y: number;
}

export interface Layout {
  nodes: Map<string, Placed>;
  layers: string[][];
  /** Edges (`client→server` keys) that go back to an earlier or the same column (cycles). */
  back: Set<string>;
  width: number;
  height: number;
}

export const edgeKey = (from: string, to: string) => `${from}\u2192${to}`;

const byName = (a: string, b: string) => (a === 'user' ? -1 : b === 'user' ? 1 : a < b ? -1 : a > b ? 1 : 0);

export function layoutGraph(
  ids: string[],
  edges: { from: string; to: string }[],
  opts: { colGap: number; rowGap: number; marginX: number; marginY: number },
): Layout {
  const nodes = [...new Set(ids)].sort(byName);
  const out = new Map<string, string[]>(nodes.map((n) => [n, []]));
  const inDeg = new Map<string, number>(nodes.map((n) => [n, 0]));
  for (const e of edges) {
    if (e.from === e.to || !out.has(e.from) || !out.has(e.to)) continue;
    if (out.get(e.from)!.includes(e.to)) continue;
    out.get(e.from)!.push(e.to);
    inDeg.set(e.to, inDeg.get(e.to)! + 1);
  }
  for (const l of out.values()) l.sort(byName);

  // Depth-first from the roots (then from whatever a cycle kept unreached): an edge to a
  // node still on the stack closes a cycle and is set aside.
  const back = new Set<string>();
  const state = new Map<string, 1 | 2>();
  const visit = (root: string) => {
    if (state.has(root)) return;
    const stack: [string, number][] = [[root, 0]];
    state.set(root, 1);
    while (stack.length) {
      const top = stack[stack.length - 1]!;
      const [n, i] = top;
      const next = out.get(n)!;
      if (i < next.length) {
        top[1]++;
        const m = next[i]!;
        const s = state.get(m);
        if (s === 1) back.add(edgeKey(n, m));
        else if (s === undefined) {
          state.set(m, 1);
          stack.push([m, 0]);
        }
      } else {
        state.set(n, 2);
        stack.pop();
      }
    }
  };
  const roots = nodes.filter((n) => inDeg.get(n) === 0);
  for (const r of roots) visit(r);
  for (const n of nodes) visit(n);

  // Longest path over the remaining (acyclic) edges, in topological order.
  const dagIn = new Map<string, string[]>(nodes.map((n) => [n, []]));
  const deg = new Map<string, number>(nodes.map((n) => [n, 0]));
  for (const [n, next] of out)
    for (const m of next)
      if (!back.has(edgeKey(n, m))) {
        dagIn.get(m)!.push(n);
        deg.set(m, deg.get(m)! + 1);
      }
  const layer = new Map<string, number>();
  const queue = nodes.filter((n) => deg.get(n) === 0);
  while (queue.length) {
    const n = queue.shift()!;
    layer.set(n, Math.max(0, ...dagIn.get(n)!.map((p) => layer.get(p)! + 1)));
    for (const m of out.get(n)!) {
      if (back.has(edgeKey(n, m))) continue;
      deg.set(m, deg.get(m)! - 1);
      if (deg.get(m) === 0) {
        queue.push(m);
        queue.sort(byName);
      }
    }
  }
  // A root (other than `user`) that only calls deep nodes moves next to the shallowest of
  // them, so its edges stay short.
  for (const n of nodes) if (!layer.has(n)) layer.set(n, 0);
  for (const n of [...nodes].sort((a, b) => layer.get(b)! - layer.get(a)!)) {
    const next = out.get(n)!.filter((m) => !back.has(edgeKey(n, m)));
    if (dagIn.get(n)!.length === 0 && next.length > 0 && n !== 'user') layer.set(n, Math.min(...next.map((m) => layer.get(m)!)) - 1);
  }
  const depth = Math.max(0, ...layer.values()) + 1;
  const layers: string[][] = Array.from({ length: depth }, () => []);
  for (const n of nodes) layers[layer.get(n)!]!.push(n);

  // Order each column by the mean position of its neighbours in the column before (then
  // after), a few sweeps; ties keep the current order.
  const pos = new Map<string, number>();
  const index = () => layers.forEach((l) => l.forEach((n, i) => pos.set(n, i / Math.max(l.length - 1, 1))));
  const preds = new Map<string, string[]>(nodes.map((n) => [n, []]));
  for (const [n, next] of out) for (const m of next) if (n !== m) preds.get(m)!.push(n);
  const sweep = (l: string[], neighbours: (n: string) => string[]) => {
    const key = new Map<string, number>();
    l.forEach((n, i) => {
      const ns = neighbours(n);
      key.set(n, ns.length ? ns.reduce((s, m) => s + pos.get(m)!, 0) / ns.length : i / Math.max(l.length - 1, 1));
    });
    const cur = new Map(l.map((n, i) => [n, i]));
    l.sort((a, b) => key.get(a)! - key.get(b)! || cur.get(a)! - cur.get(b)!);
  };
  index();
  for (let round = 0; round < 6; round++) {
    for (let i = 1; i < layers.length; i++) {
      sweep(layers[i]!, (n) => preds.get(n)!.filter((m) => layer.get(m)! < i));
      index();
    }
    for (let i = layers.length - 2; i >= 0; i--) {
      sweep(layers[i]!, (n) => out.get(n)!.filter((m) => layer.get(m)! > i));
      index();
    }
  }

  const tallest = Math.max(1, ...layers.map((l) => l.length));
  const placed = new Map<string, Placed>();
  layers.forEach((l, li) =>
    l.forEach((n, i) => {
      placed.set(n, { id: n, layer: li, x: opts.marginX + li * opts.colGap, y: opts.marginY + (i + (tallest - l.length) / 2) * opts.rowGap });
    }),
  );
  // Back edges: every edge whose target is not in a later column.
  for (const [n, next] of out) for (const m of next) if (layer.get(m)! <= layer.get(n)!) back.add(edgeKey(n, m));
  return {
    nodes: placed,
    layers,
    back,
    width: opts.marginX * 2 + (depth - 1) * opts.colGap,
    height: opts.marginY * 2 + (tallest - 1) * opts.rowGap,
  };
}
