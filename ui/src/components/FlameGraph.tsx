// The flame graph (icicle) of a trace: the merged call tree from the roots down, each
// frame as wide as the time of the trace spent in it and below it (lib/traceStats). A click
// on a frame zooms to it; the bar above (or *Whole trace*) zooms back out. Frames narrower
// than a pixel are left out, and the page says how many.

import { useMemo, useState } from 'preact/hooks';
import { serviceColor } from '../lib/colors';
import type { Trace } from '../lib/otlp';
import { fmtDuration } from '../lib/time';
import { flameTree, type Frame } from '../lib/traceStats';
import type { Tree } from '../lib/tree';

const ROW_H = 22;
const MIN_PCT = 0.08;

interface Placed {
  f: Frame;
  left: number;
  width: number;
  depth: number;
}

export function FlameGraph({ trace, tree, onFind }: { trace: Trace; tree: Tree; onFind: (f: Frame) => void }) {
  const root = useMemo(() => flameTree(trace, tree), [trace, tree]);
  const [focus, setFocus] = useState<Frame[]>([]); // the path from the root to the zoomed frame
  const top = focus.length > 0 ? focus[focus.length - 1]! : root;
  const { placed, hidden, depth } = useMemo(() => layout(top, focus.length > 0), [top]);
  const total = top.total || 1;
  return (
    <section class="flame" data-testid="flame">
      <div class="flame-head">
        <span class="muted small">
          Time per call path: a frame is as wide as its spans' self time plus the frames below it ({fmtDuration(root.total)} in all). Click to zoom.
        </span>
        {focus.length > 0 && (
          <button class="button subtle" data-testid="flame-reset" onClick={() => setFocus([])}>
            Whole trace
          </button>
        )}
        {hidden > 0 && (
          <span class="muted small" data-testid="flame-hidden">
            {hidden.toLocaleString('en-US')} frames too narrow to draw
          </span>
        )}
      </div>
      <div class="flame-body" style={{ height: `${(depth + 1) * ROW_H + 4}px` }}>
        {placed.map(({ f, left, width, depth: d }) => {
          const pct = (f.total / total) * 100;
          const label = `${f.service}: ${f.name}`;
          return (
            <div
              class={`flame-frame${f.errors > 0 ? ' err' : ''}`}
              data-testid="flame-frame"
              data-service={f.service}
              data-name={f.name}
              data-total-ns={Math.round(f.total)}
              data-self-ns={Math.round(f.self)}
              data-count={f.spans.length}
              style={{ left: `${left}%`, width: `${width}%`, top: `${d * ROW_H}px`, background: f.errors > 0 ? undefined : serviceColor(f.service) }}
              title={`${label}\n${f.spans.length} span${f.spans.length === 1 ? '' : 's'}, ${f.errors} failed\ntotal ${fmtDuration(f.total)} (${pct.toFixed(1)}%), self ${fmtDuration(f.self)}, summed duration ${fmtDuration(f.duration)}\nclick: zoom · double-click: find these spans`}
              onClick={() => {
                if (f === top) return;
                setFocus(pathTo(top, f, focus));
              }}
              onDblClick={() => onFind(f)}
            >
              <span>
                {f.service} <span class="flame-name">{f.name}</span> · {fmtDuration(f.total)}
              </span>
            </div>
          );
        })}
      </div>
    </section>
  );
}

/** Frames at their place, the zoomed frame spanning the width (no recursion: a trace may be 10,000 levels deep). */
function layout(top: Frame, zoomed: boolean): { placed: Placed[]; hidden: number; depth: number } {
  const placed: Placed[] = [];
  let hidden = 0;
  let depth = 0;
  const total = top.total || 1;
  const stack: [Frame, number, number][] = [];
  if (zoomed) {
    placed.push({ f: top, left: 0, width: 100, depth: 0 });
    stack.push([top, 0, 1]);
  } else stack.push([top, 0, 0]);
  while (stack.length > 0) {
    const [f, left, d] = stack.pop()!;
    let x = left;
    for (const c of f.children) {
      const w = (c.total / total) * 100;
      if (w < MIN_PCT) {
        hidden += countFrames(c);
        continue;
      }
      placed.push({ f: c, left: x, width: w, depth: d });
      if (d > depth) depth = d;
      stack.push([c, x, d + 1]);
      x += w;
    }
  }
  placed.sort((a, b) => a.depth - b.depth || a.left - b.left);
  return { placed, hidden, depth };
}

function countFrames(f: Frame): number {
  let n = 0;
  const stack = [f];
  while (stack.length > 0) {
    const g = stack.pop()!;
    n++;
    for (const c of g.children) stack.push(c);
  }
  return n;
}

/** The zoom path after a click on `f`, a frame under the current top (the last of `focus`, or the root). */
function pathTo(from: Frame, f: Frame, focus: Frame[]): Frame[] {
  const parentOf = new Map<Frame, Frame>();
  const stack = [from];
  while (stack.length > 0) {
    const g = stack.pop()!;
    if (g === f) break;
    for (const c of g.children) {
      parentOf.set(c, g);
      stack.push(c);
    }
  }
  const path: Frame[] = [];
  for (let g: Frame | undefined = f; g && g !== from; g = parentOf.get(g)) path.unshift(g);
  return [...focus, ...path];
}
