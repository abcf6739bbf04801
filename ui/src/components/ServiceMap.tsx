// The service graph drawn as a map: columns by call depth (see graphLayout), nodes sized
// by request rate and shaped by type, edges as curves labelled with rate, error % and
// p95, red when some calls fail (strong red past 5 %). Hover shows a node's or an edge's
// figures; a click calls `onNode` / `onEdge`.

import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { serviceColor } from '../lib/colors';
import { errorLevel, fmtCount, fmtPercent, fmtRate, fmtSeconds, type GraphEdge, type GraphNode } from '../lib/derived';
import { edgeKey, layoutGraph } from '../lib/graphLayout';

const COL_GAP = 270;
const ROW_GAP = 104;
const MARGIN_X = 80;
const MARGIN_Y = 56;
const R_MIN = 13;
const R_MAX = 30;

export const TYPE_LABEL: Record<string, string> = {
  service: 'service',
  user: 'user (callers from outside)',
  database: 'database',
  messaging_system: 'messaging system',
  virtual_node: 'uninstrumented peer',
};

type Hover = { kind: 'node'; id: string; x: number; y: number } | { kind: 'edge'; key: string; x: number; y: number } | null;

interface Pt {
  x: number;
  y: number;
}

type Curve = [Pt, Pt, Pt, Pt];

/** The point of a cubic Bézier curve at t. */
function at([p0, p1, p2, p3]: Curve, t: number): Pt {
  const u = 1 - t;
  const a = u * u * u;
  const b = 3 * u * u * t;
  const c = 3 * u * t * t;
  const d = t * t * t;
  return { x: a * p0.x + b * p1.x + c * p2.x + d * p3.x, y: a * p0.y + b * p1.y + c * p2.y + d * p3.y };
}

interface Box {
  x0: number;
  y0: number;
  x1: number;
  y1: number;
}
const overlap = (a: Box, b: Box) => Math.max(0, Math.min(a.x1, b.x1) - Math.max(a.x0, b.x0)) * Math.max(0, Math.min(a.y1, b.y1) - Math.max(a.y0, b.y0));
/** Where along its curve a label may sit, best first. */
const LABEL_TS = [0.5, 0.42, 0.58, 0.34, 0.66, 0.26, 0.74, 0.18, 0.82];

export function ServiceMap({ nodes, edges, onNode, onEdge }: { nodes: GraphNode[]; edges: GraphEdge[]; onNode: (n: GraphNode) => void; onEdge: (e: GraphEdge) => void }) {
  const box = useRef<HTMLDivElement>(null);
  const [hover, setHover] = useState<Hover>(null);
  const [boxW, setBoxW] = useState(1200);
  // Zoom on top of the fitted scale (the buttons); a drag on the background pans (scrolls).
  const [zoom, setZoom] = useState(1);
  useEffect(() => {
    const el = box.current;
    if (!el) return;
    const ro = new ResizeObserver(() => setBoxW(el.clientWidth));
    ro.observe(el);
    setBoxW(el.clientWidth);
    return () => ro.disconnect();
  }, []);
  const byId = useMemo(() => {
    const m = new Map(nodes.map((n) => [n.id, n]));
    // An edge may name a node the answer left out: draw it as a service.
    for (const e of edges)
      for (const id of [e.client, e.server])
        if (!m.has(id)) m.set(id, { id, type: id === 'user' ? 'user' : 'service', requests: 0, failed: 0, rate: 0, errorRate: 0, p50: null, p95: null, p99: null });
    return m;
  }, [nodes, edges]);
  const layout = useMemo(
    () => layoutGraph([...byId.keys()], edges.map((e) => ({ from: e.client, to: e.server })), { colGap: COL_GAP, rowGap: ROW_GAP, marginX: MARGIN_X, marginY: MARGIN_Y }),
    [byId, edges],
  );
  // A node's size follows the rate of the calls it received (or, for a caller such as
  // `user`, made).
  const outRate = new Map<string, number>();
  for (const e of edges) outRate.set(e.client, (outRate.get(e.client) ?? 0) + e.rate);
  const sizeRate = (n: GraphNode) => (n.rate > 0 ? n.rate : outRate.get(n.id) ?? 0);
  const maxRate = Math.max(1e-12, ...[...byId.values()].map(sizeRate));
  const radius = (n: GraphNode) => R_MIN + (R_MAX - R_MIN) * Math.sqrt(sizeRate(n) / maxRate);
  const maxEdge = Math.max(1e-12, ...edges.map((e) => e.rate));

  const hoveredNode = hover?.kind === 'node' ? hover.id : null;
  const hoveredEdge = hover?.kind === 'edge' ? hover.key : null;
  const touches = (e: GraphEdge) => hoveredNode !== null && (e.client === hoveredNode || e.server === hoveredNode);
  const dim = (e: GraphEdge) => (hoveredNode !== null && !touches(e)) || (hoveredEdge !== null && hoveredEdge !== edgeKey(e.client, e.server));

  const place = (e: MouseEvent): { x: number; y: number } => {
    const r = box.current!.getBoundingClientRect();
    return { x: e.clientX - r.left + box.current!.scrollLeft, y: e.clientY - r.top + box.current!.scrollTop };
  };

  // Forward edges leave a node from points spread over its right side (and arrive spread
  // over the left), ordered by the other end's height, so fans of edges stay apart.
  const isForward = (e: GraphEdge) => e.client !== e.server && !layout.back.has(edgeKey(e.client, e.server));
  const ports = new Map<string, number>();
  const spread = (list: GraphEdge[], other: (e: GraphEdge) => string, side: 'out' | 'in') => {
    const sorted = [...list].sort((x, y) => layout.nodes.get(other(x))!.y - layout.nodes.get(other(y))!.y || (other(x) < other(y) ? -1 : 1));
    const k = sorted.length;
    const stepAngle = k > 1 ? Math.min(0.3, 1.3 / (k - 1)) : 0;
    sorted.forEach((e, i) => ports.set(`${side} ${edgeKey(e.client, e.server)}`, (i - (k - 1) / 2) * stepAngle));
  };
  for (const id of byId.keys()) {
    spread(edges.filter((e) => isForward(e) && e.client === id), (e) => e.server, 'out');
    spread(edges.filter((e) => isForward(e) && e.server === id), (e) => e.client, 'in');
  }
  const drawnEdges = edges.map((e) => {
    const a = layout.nodes.get(e.client)!;
    const b = layout.nodes.get(e.server)!;
    const ra = radius(byId.get(e.client)!);
    const rb = radius(byId.get(e.server)!);
    let c: Curve;
    if (e.client === e.server) {
      // A service calling itself: a loop above it.
      c = [
        { x: a.x - ra * 0.5, y: a.y - ra * 0.9 },
        { x: a.x - ra * 1.2, y: a.y - ra * 2.4 - 10 },
        { x: a.x + ra * 1.2, y: a.y - ra * 2.4 - 10 },
        { x: a.x + ra * 0.5, y: a.y - ra * 0.9 - 6 },
      ];
    } else if (layout.back.has(edgeKey(e.client, e.server))) {
      // Back to an earlier (or the same) column: a curve below both.
      const p0 = { x: a.x, y: a.y + ra + 2 };
      const p3 = { x: b.x, y: b.y + rb + 8 };
      const low = Math.max(p0.y, p3.y) + 70 + Math.abs(a.x - b.x) * 0.15;
      c = [p0, { x: a.x, y: low }, { x: b.x, y: low }, p3];
    } else {
      const ta = ports.get(`out ${edgeKey(e.client, e.server)}`) ?? 0;
      const tb = ports.get(`in ${edgeKey(e.client, e.server)}`) ?? 0;
      const p0 = { x: a.x + (ra + 2) * Math.cos(ta), y: a.y + (ra + 2) * Math.sin(ta) };
      const p3 = { x: b.x - (rb + 8) * Math.cos(tb), y: b.y + (rb + 8) * Math.sin(tb) };
      const dx = (p3.x - p0.x) / 2;
      c = [p0, { x: p0.x + dx, y: p0.y }, { x: p3.x - dx, y: p3.y }, p3];
    }
    const d = `M${c[0].x},${c[0].y} C${c[1].x},${c[1].y} ${c[2].x},${c[2].y} ${c[3].x},${c[3].y}`;
    return { e, c, d, m: at(c, 0.5), label: true, level: errorLevel(e.errorRate), w: 1.4 + 4 * Math.sqrt(e.rate / maxEdge) };
  });
  // Labels along their edges where they overlap nothing drawn so far (nodes and their
  // names first, then the busiest edges' labels), else at the middle.
  const taken: Box[] = [...byId.values()].map((n) => {
    const p = layout.nodes.get(n.id)!;
    const r = radius(n);
    const half = Math.max(r, n.id.length * 3.6);
    return { x0: p.x - half, y0: p.y - r, x1: p.x + half, y1: p.y + r + 32 };
  });
  // Other edges' lines count against a place too (sampled along each curve).
  const samples = drawnEdges.map((de) => Array.from({ length: 25 }, (_, i) => at(de.c, i / 24)));
  const crossings = (b: Box, self: number) => {
    let n = 0;
    samples.forEach((pts, i) => {
      if (i !== self) for (const p of pts) if (p.x >= b.x0 && p.x <= b.x1 && p.y >= b.y0 && p.y <= b.y1) n++;
    });
    return n * 60;
  };
  // On a dense map a label that would still cover another label, a node or another edge
  // is left out (the tooltip and the table have its figures).
  const dense = edges.length > 20;
  for (const de of [...drawnEdges].sort((x, y) => y.e.rate - x.e.rate || (edgeKey(x.e.client, x.e.server) < edgeKey(y.e.client, y.e.server) ? -1 : 1))) {
    const chars = Math.max(fmtRate(de.e.rate).length, `${fmtPercent(de.e.errorRate)} · p95 ${fmtSeconds(de.e.p95)}`.length);
    const half = chars * 3.3 + 6;
    const box = (m: Pt): Box => ({ x0: m.x - half, y0: m.y - 17, x1: m.x + half, y1: m.y + 16 });
    const self = de.e.client === de.e.server;
    // A loop's label goes above it or beside it; another edge's along its curve.
    const top = at(de.c, 0.5);
    const candidates = self ? [{ x: top.x, y: top.y - 14 }, { x: top.x + half + 10, y: top.y + 6 }, { x: top.x - half - 10, y: top.y + 6 }] : LABEL_TS.map((t) => at(de.c, t));
    let best = candidates[0]!;
    let bestCost = Infinity;
    for (const m of candidates) {
      const cost = taken.reduce((s, b) => s + overlap(box(m), b), 0) + crossings(box(m), drawnEdges.indexOf(de));
      if (cost < bestCost - 1e-6) {
        best = m;
        bestCost = cost;
      }
      if (cost === 0) break;
    }
    de.m = best;
    de.label = !dense || bestCost === 0;
    if (de.label) taken.push(box(best));
  }

  // The drawing's extent: nodes with their names, labels, and every curve (loops and
  // back edges reach beyond the nodes).
  const xs: number[] = [0, layout.width];
  const ys: number[] = [0, layout.height + 20];
  for (const b of taken) {
    xs.push(b.x0 - 6, b.x1 + 6);
    ys.push(b.y0 - 6, b.y1 + 6);
  }
  for (const de of drawnEdges)
    for (const p of de.c) {
      xs.push(p.x);
      ys.push(p.y - 4, p.y + 4);
    }
  const minX = Math.min(...xs);
  const minY = Math.min(...ys);
  const width = Math.max(Math.max(...xs) - minX, 320);
  const fullH = Math.max(...ys) - minY;

  // A map larger than the view shrinks to fit (down to 60 %; past that it scrolls).
  const maxH = Math.max(440, window.innerHeight - 250);
  const scale = Math.max(0.6, Math.min(1, (boxW - 4) / width, maxH / fullH)) * zoom;
  const onPanStart = (e: MouseEvent) => {
    const el = box.current;
    if (!el || e.button !== 0 || (e.target as Element).closest('g.node, g.edge, .map-zoom')) return;
    e.preventDefault();
    const x0 = e.clientX;
    const y0 = e.clientY;
    const l0 = el.scrollLeft;
    const t0 = el.scrollTop;
    const move = (ev: MouseEvent) => {
      el.scrollLeft = l0 - (ev.clientX - x0);
      el.scrollTop = t0 - (ev.clientY - y0);
    };
    const up = () => {
      window.removeEventListener('mousemove', move);
      window.removeEventListener('mouseup', up);
    };
    window.addEventListener('mousemove', move);
    window.addEventListener('mouseup', up);
  };

  const hn = hoveredNode ? byId.get(hoveredNode) : null;
  const he = hoveredEdge ? edges.find((e) => edgeKey(e.client, e.server) === hoveredEdge) : null;
  const hidden = drawnEdges.filter((de) => !de.label).length;
  return (
    <>
      <div class="map-zoom" role="group" aria-label="Zoom">
        <button class="icon-button" aria-label="Zoom in" data-testid="map-zoom-in" disabled={zoom >= 4} onClick={() => setZoom((z) => Math.min(z * 1.5, 4))}>
          +
        </button>
        <button class="icon-button" aria-label="Zoom out" data-testid="map-zoom-out" disabled={zoom <= 0.5} onClick={() => setZoom((z) => Math.max(z / 1.5, 0.5))}>
          −
        </button>
        <button class="icon-button" aria-label="Fit" title="Fit the map to the page" data-testid="map-zoom-fit" disabled={zoom === 1} onClick={() => setZoom(1)}>
          ⤢
        </button>
      </div>
      <div class={`map-box${zoom > 1 ? ' pannable' : ''}`} ref={box} data-testid="service-map" onMouseDown={onPanStart}>
        <svg class="map" width={width * scale} height={fullH * scale} viewBox={`${minX} ${minY} ${width} ${fullH}`} role="img" aria-label="Service map" data-scale={scale.toFixed(3)}>
          <defs>
            {['', 'low', 'warn', 'bad', 'hi'].map((l) => (
              <marker id={`arrow${l ? `-${l}` : ''}`} class={`arrow ${l}`} viewBox="0 0 10 10" refX="8" refY="5" markerUnits="userSpaceOnUse" markerWidth="11" markerHeight="11" orient="auto-start-reverse">
                <path d="M0,0 L10,5 L0,10 z" />
              </marker>
            ))}
          </defs>
          {drawnEdges.map(({ e, d, level, w }) => {
            const key = edgeKey(e.client, e.server);
            const hi = hoveredEdge === key || touches(e);
            return (
              <g class={`edge ${level} ${dim(e) ? 'dim' : ''} ${hi ? 'hi' : ''}`} data-edge={key} data-client={e.client} data-server={e.server}>
                <path class="edge-line" d={d} stroke-width={w} marker-end={`url(#arrow${level ? `-${level}` : hi ? '-hi' : ''})`} />
                <path
                  class="edge-hit"
                  d={d}
                  onMouseEnter={(ev) => setHover({ kind: 'edge', key, ...place(ev) })}
                  onMouseMove={(ev) => setHover({ kind: 'edge', key, ...place(ev) })}
                  onMouseLeave={() => setHover(null)}
                  onClick={() => onEdge(e)}
                >
                  <title>{`${e.client} → ${e.server}: search these calls`}</title>
                </path>
              </g>
            );
          })}
          {drawnEdges.map(({ e, m, level, label }) => {
            const key = edgeKey(e.client, e.server);
            if (!label && hoveredEdge !== key) return null;
            return (
              <text
                class={`edge-label ${level} ${dim(e) ? 'dim' : ''}`}
                data-edge-label={key}
                text-anchor="middle"
                onMouseEnter={(ev) => setHover({ kind: 'edge', key, ...place(ev) })}
                onMouseLeave={() => setHover(null)}
                onClick={() => onEdge(e)}
              >
                {/* The rate above the line, the error share and p95 below it. */}
                <tspan class="edge-rate" x={m.x} y={m.y - 6}>
                  {fmtRate(e.rate)}
                </tspan>
                <tspan class="edge-err" x={m.x} y={m.y + 13}>
                  {fmtPercent(e.errorRate)}
                </tspan>
                <tspan class="edge-p95"> · p95 {fmtSeconds(e.p95)}</tspan>
              </text>
            );
          })}
          {[...byId.values()].map((n) => {
            const p = layout.nodes.get(n.id)!;
            const r = radius(n);
            const level = errorLevel(n.errorRate);
            const faded = hoveredNode !== null && hoveredNode !== n.id && !edges.some((e) => (e.client === hoveredNode && e.server === n.id) || (e.server === hoveredNode && e.client === n.id));
            return (
              <g
                class={`node type-${n.type} ${level} ${faded ? 'dim' : ''} ${hoveredNode === n.id ? 'hi' : ''}`}
                data-node={n.id}
                data-type={n.type}
                transform={`translate(${p.x},${p.y})`}
                tabIndex={0}
                role="link"
                aria-label={`${n.id}, ${TYPE_LABEL[n.type] ?? n.type}: search its spans`}
                onMouseEnter={(ev) => setHover({ kind: 'node', id: n.id, ...place(ev) })}
                onMouseLeave={() => setHover(null)}
                onClick={() => onNode(n)}
                onKeyDown={(ev) => {
                  if (ev.key === 'Enter' || ev.key === ' ') {
                    ev.preventDefault();
                    onNode(n);
                  }
                }}
              >
                <title>{`${n.id} (${TYPE_LABEL[n.type] ?? n.type}): search its spans`}</title>
                <NodeShape type={n.type} r={r} color={n.type === 'service' ? serviceColor(n.id) : undefined} />
                <text class="node-name" y={r + 15} text-anchor="middle">
                  {n.id}
                </text>
                <text class="node-figures" y={r + 29} text-anchor="middle">
                  {n.requests > 0 || !outRate.has(n.id) ? `${fmtRate(n.rate)} · ${fmtPercent(n.errorRate)}` : `${fmtRate(outRate.get(n.id) ?? 0)} out`}
                </text>
              </g>
            );
          })}
        </svg>
        {hn && hover && (
          <div class="map-tip" data-testid="map-tip" style={{ left: `${hover.x + 14}px`, top: `${hover.y + 10}px` }}>
            <strong>{hn.id}</strong> <span class="muted">{TYPE_LABEL[hn.type] ?? hn.type}</span>
            <Figures requests={hn.requests} failed={hn.failed} rate={hn.rate} errorRate={hn.errorRate} p50={hn.p50} p95={hn.p95} p99={hn.p99} />
            <span class="muted small">Click: search its spans</span>
          </div>
        )}
        {he && hover && (
          <div class="map-tip" data-testid="map-tip" style={{ left: `${hover.x + 14}px`, top: `${hover.y + 10}px` }}>
            <strong>
              {he.client} → {he.server}
            </strong>{' '}
            {he.connectionType && <span class="muted">{he.connectionType}</span>}
            <Figures requests={he.requests} failed={he.failed} rate={he.rate} errorRate={he.errorRate} p50={he.p50} p95={he.p95} p99={he.p99} clientP95={he.clientP95} />
            <span class="muted small">Click: search these calls</span>
          </div>
        )}
      </div>
      {hidden > 0 && (
        <p class="hint map-hint" data-testid="map-hidden-labels">
          {hidden} of {edges.length} edge labels are left out where they would cover others: hover an edge, or see the table below.
        </p>
      )}
    </>
  );
}

function Figures(f: { requests: number; failed: number; rate: number; errorRate: number; p50: number | null; p95: number | null; p99: number | null; clientP95?: number | null }) {
  return (
    <dl class="tip-figures">
      <dt>requests</dt>
      <dd>
        {fmtCount(f.requests)} ({fmtRate(f.rate)})
      </dd>
      <dt>failed</dt>
      <dd class={errorLevel(f.errorRate)}>
        {fmtCount(f.failed)} ({fmtPercent(f.errorRate)})
      </dd>
      <dt>p50 / p95 / p99</dt>
      <dd>
        {fmtSeconds(f.p50)} / {fmtSeconds(f.p95)} / {fmtSeconds(f.p99)}
      </dd>
      {f.clientP95 !== undefined && (
        <>
          <dt>client p95</dt>
          <dd>{fmtSeconds(f.clientP95)}</dd>
        </>
      )}
    </dl>
  );
}

/** A node's shape, centred on 0,0: services are circles, the rest say what they are. */
export function NodeShape({ type, r, color }: { type: string; r: number; color?: string | undefined }) {
  const fill = color ? { fill: color } : undefined;
  switch (type) {
    case 'user':
      return (
        <g class="shape">
          <circle class="body" r={r} />
          <circle class="glyph" cy={-r * 0.25} r={r * 0.26} />
          <path class="glyph" d={`M${-r * 0.5},${r * 0.55} a${r * 0.5},${r * 0.45} 0 0 1 ${r},0 z`} />
        </g>
      );
    case 'database': {
      const w = r * 0.9;
      const e = r * 0.28;
      return (
        <g class="shape">
          <path class="body" d={`M${-w},${-r + e} a${w},${e} 0 0 1 ${2 * w},0 v${2 * r - 2 * e} a${w},${e} 0 0 1 ${-2 * w},0 z`} />
          <path class="rim" d={`M${-w},${-r + e} a${w},${e} 0 0 0 ${2 * w},0`} />
        </g>
      );
    }
    case 'messaging_system': {
      const w = r * 1.1;
      const h = r * 0.75;
      return (
        <g class="shape">
          <rect class="body" x={-w} y={-h} width={2 * w} height={2 * h} rx={4} />
          {[-0.45, 0, 0.45].map((f) => (
            <rect class="glyph" x={f * w - w * 0.12} y={-h * 0.55} width={w * 0.24} height={h * 1.1} rx={1.5} />
          ))}
        </g>
      );
    }
    case 'virtual_node': {
      const pts = Array.from({ length: 6 }, (_, i) => {
        const a = (Math.PI / 3) * i + Math.PI / 6;
        return `${(Math.cos(a) * r).toFixed(1)},${(Math.sin(a) * r).toFixed(1)}`;
      }).join(' ');
      return (
        <g class="shape">
          <polygon class="body" points={pts} />
        </g>
      );
    }
    default:
      return (
        <g class="shape">
          <circle class="body service" r={r} style={fill} />
        </g>
      );
  }
}
