// Focus on one node of the service graph: the node, every node upstream of it (its callers,
// their callers, …) and every node downstream (what it calls, and so on), with the edges
// along those paths.

import type { GraphEdge, GraphNode } from './derived';

export function focusGraph(nodes: GraphNode[], edges: GraphEdge[], focus: string): { nodes: GraphNode[]; edges: GraphEdge[] } {
  if (!nodes.some((n) => n.id === focus)) return { nodes, edges };
  const walk = (next: (e: GraphEdge) => [string, string]) => {
    const seen = new Set([focus]);
    const queue = [focus];
    while (queue.length > 0) {
      const at = queue.shift()!;
      for (const e of edges) {
        const [from, to] = next(e);
        if (from === at && !seen.has(to)) {
          seen.add(to);
          queue.push(to);
        }
      }
    }
    return seen;
  };
  const down = walk((e) => [e.client, e.server]);
  const up = walk((e) => [e.server, e.client]);
  const keep = new Set([...down, ...up]);
  return {
    nodes: nodes.filter((n) => keep.has(n.id)),
    // Edges on a path through the focus: within the downstream side or within the upstream side.
    edges: edges.filter((e) => (down.has(e.client) && down.has(e.server)) || (up.has(e.client) && up.has(e.server))),
  };
}
