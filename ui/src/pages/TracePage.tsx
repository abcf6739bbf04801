// The trace page: a header, find-in-trace and the view's switches, the minimap, the
// waterfall and the selected span's details. The selected span, the find text and the
// critical-path switch live in the URL.

import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { CompareWith } from '../components/CompareWith';
import { FlameGraph } from '../components/FlameGraph';
import { Minimap } from '../components/Minimap';
import { TraceHeader } from '../components/TraceHeader';
import { TraceStats } from '../components/TraceStats';
import { SpanDetails } from '../components/SpanDetails';
import { Waterfall } from '../components/Waterfall';
import { ApiError, errorText, fetchTraceText, type TraceResponse } from '../lib/api';
import { FindBar } from '../components/FindBar';
import { matches, parseFind, spanTexts } from '../lib/findQuery';
import { parseTrace, type Trace } from '../lib/otlp';
import { navigate, onLinkClick, type Location } from '../lib/router';
import { TENANT_PARAM } from '../lib/tenant';
import { ancestors, buildTree, criticalPath, matchedRows, orphans, visibleRows, type Tree } from '../lib/tree';
import { distinctColors } from '../lib/colors';

type View = 'waterfall' | 'flame' | 'stats';
const VIEWS: [View, string][] = [
  ['waterfall', 'Waterfall'],
  ['flame', 'Flame graph'],
  ['stats', 'Statistics'],
];
const viewOf = (v: string | null): View => (v === 'flame' || v === 'stats' ? v : 'waterfall');

interface Loaded {
  trace: Trace;
  tree: Tree;
  partial: string | null;
  otlp: unknown;
}
type Load = { state: 'loading' } | { state: 'error'; status: number; message: string } | ({ state: 'done' } & Loaded);

export function TracePage({ id, loc }: { id: string; loc: Location }) {
  const [load, setLoad] = useState<Load>({ state: 'loading' });
  useEffect(() => {
    document.title = `Trace ${id.slice(0, 8)}… · Arbor`;
    const ctl = new AbortController();
    setLoad({ state: 'loading' });
    if (!/^[0-9a-fA-F]{1,32}$/.test(id)) {
      setLoad({ state: 'error', status: 400, message: `"${id}" is not a trace ID: a trace ID is 1 to 32 hexadecimal digits` });
      return;
    }
    fetchTraceText(id, ctl.signal).then(
      (text) => {
        performance.mark('arbor:trace-data');
        let body: TraceResponse;
        try {
          body = JSON.parse(text) as TraceResponse;
        } catch (e) {
          setLoad({ state: 'error', status: 0, message: `the server's answer is not JSON: ${(e as Error).message}` });
          return;
        }
        const otlp = body.trace ?? { resourceSpans: [] };
        const trace = parseTrace(id.toLowerCase().padStart(32, '0'), otlp);
        const tree = buildTree(trace);
        distinctColors(trace.services);
        performance.mark('arbor:trace-model');
        const partial = body.status === 'PARTIAL' ? body.message || 'the server returned part of this trace' : null;
        setLoad({ state: 'done', trace, tree, partial, otlp });
      },
      (e) => {
        if ((e as Error).name === 'AbortError') return;
        setLoad({ state: 'error', status: e instanceof ApiError ? e.status : 0, message: errorText(e) });
      },
    );
    return () => ctl.abort();
  }, [id]);

  if (load.state === 'loading')
    return (
      <main class="page">
        <div class="hint loading" data-testid="trace-loading">
          Loading trace <code>{id}</code>…
        </div>
      </main>
    );
  if (load.state === 'error')
    return (
      <main class="page">
        <div class="message error" role="alert" data-testid="trace-error">
          <strong>{load.status === 404 ? 'Trace not found' : 'The trace could not be loaded'}</strong>
          <pre>{load.message}</pre>
          <p>
            <a href="/search" onClick={(e) => onLinkClick(e, '/search')}>
              Back to search
            </a>
          </p>
        </div>
      </main>
    );
  return <TraceView key={load.trace.traceId} {...load} loc={loc} />;
}

function TraceView({ trace, tree, partial, otlp, loc }: Loaded & { loc: Location }) {
  const n = trace.spans.length;
  const spanIndex = useMemo(() => {
    const m = new Map<string, number>();
    trace.spans.forEach((s, i) => m.set(s.spanId, i));
    return m;
  }, [trace]);
  const initialSpan = spanIndex.get(loc.params.get('span') ?? '') ?? -1;
  const [collapsed, setCollapsed] = useState<Set<number>>(() => new Set());
  const [selected, setSelected] = useState(initialSpan);
  const [critOn, setCritOn] = useState(loc.params.get('cp') !== '0');
  const [findText, setFindText] = useState(loc.params.get('find') ?? '');
  const [findQuery, setFindQuery] = useState(findText);
  const [current, setCurrent] = useState(-1);
  const [view, setView] = useState<View>(viewOf(loc.params.get('view')));
  const [onlyMatches, setOnlyMatches] = useState(loc.params.get('only') === '1');
  const [win, setWin] = useState<[number, number]>([0, 1]);
  // The rows in view change every scrolled frame: kept out of state (no re-render of the
  // page), handed to the minimap's band directly.
  const viewport = useRef<[number, number]>([0, 20]);
  const band = useRef<((first: number, count: number) => void) | null>(null);
  const [scrollRequest, setScrollRequest] = useState<{ row: number; seq: number; center?: boolean } | null>(null);
  const reveal = useRef<{ span: number; center: boolean } | null>(initialSpan >= 0 ? { span: initialSpan, center: true } : null);
  const seq = useRef(0);
  const findInput = useRef<HTMLInputElement>(null);

  // Find: text of each span, built on the first search.
  const texts = useRef<string[] | null>(null);
  const found = useMemo(() => {
    const terms = parseFind(findQuery);
    if (terms.length === 0) return null;
    if (!texts.current) texts.current = spanTexts(trace);
    const flags = new Uint8Array(n);
    const list: number[] = [];
    for (let j = 0; j < n; j++) {
      const i = tree.order[j]!;
      if (matches(trace, texts.current, i, terms)) {
        flags[i] = 1;
        list.push(i);
      }
    }
    return { flags, list };
  }, [findQuery, trace]);

  const filtering = onlyMatches && found !== null;
  const rows = useMemo(() => (onlyMatches && found ? matchedRows(tree, found.flags) : visibleRows(tree, collapsed)), [tree, collapsed, filtering, found]);
  const rowOf = useMemo(() => {
    const pos = new Int32Array(n).fill(-1);
    rows.forEach((i, k) => (pos[i] = k));
    return pos;
  }, [rows, n]);
  const critical = useMemo(() => (critOn ? criticalPath(trace, tree) : null), [trace, tree, critOn]);

  // Painted: the frame after the first render (for the performance test).
  useEffect(() => {
    requestAnimationFrame(() =>
      requestAnimationFrame(() => {
        performance.mark('arbor:waterfall-painted');
      }),
    );
  }, []);

  // The URL follows the view's state (replace: no history entry per click); a link's tenant stays.
  useEffect(() => {
    const p = new URLSearchParams();
    if (selected >= 0) p.set('span', trace.spans[selected]!.spanId);
    if (findQuery) p.set('find', findQuery);
    if (!critOn) p.set('cp', '0');
    if (onlyMatches) p.set('only', '1');
    if (view !== 'waterfall') p.set('view', view);
    const tenant = new URLSearchParams(window.location.search).get(TENANT_PARAM);
    if (tenant !== null) p.set(TENANT_PARAM, tenant);
    const qs = p.toString();
    navigate(`/trace/${trace.traceId}${qs ? `?${qs}` : ''}`, { replace: true });
  }, [selected, findQuery, critOn, onlyMatches, view]);
  useEffect(() => {
    const t = setTimeout(() => setFindQuery(findText), 120);
    return () => clearTimeout(t);
  }, [findText]);
  useEffect(() => {
    if (found && found.list.length > 0) goTo(found.list[0]!, false);
    else setCurrent(-1);
  }, [found]);

  /** Shows span i: expands its collapsed ancestors, scrolls to it. */
  const show = (i: number, center: boolean) => {
    const hidden = filtering ? [] : ancestors(tree, i).filter((a) => collapsed.has(a));
    if (hidden.length > 0) {
      const next = new Set(collapsed);
      for (const a of hidden) next.delete(a);
      reveal.current = { span: i, center };
      setCollapsed(next);
    } else {
      setScrollRequest({ row: rowOf[i]!, seq: ++seq.current, center });
    }
  };
  useEffect(() => {
    const r = reveal.current;
    if (r && rowOf[r.span]! >= 0) {
      reveal.current = null;
      setScrollRequest({ row: rowOf[r.span]!, seq: ++seq.current, center: r.center });
    }
  }, [rowOf]);

  const goTo = (i: number, select: boolean) => {
    setCurrent(i);
    if (select) setSelected(i);
    show(i, true);
  };
  const step = (d: number) => {
    if (!found || found.list.length === 0) return;
    const k = found.list.indexOf(current);
    const next = found.list[(k + d + found.list.length) % found.list.length]!;
    goTo(next, true);
  };

  const toggle = (i: number) => {
    const next = new Set(collapsed);
    if (next.has(i)) next.delete(i);
    else next.add(i);
    setCollapsed(next);
  };
  const select = (i: number) => {
    setSelected(i);
    if (i >= 0) show(i, false);
  };

  const onKey = (e: KeyboardEvent) => {
    const pos = selected >= 0 ? rowOf[selected]! : -1;
    const kids = selected >= 0 ? tree.childStart[selected + 1]! - tree.childStart[selected]! : 0;
    const at = (k: number) => select(rows[Math.min(Math.max(k, 0), rows.length - 1)]!);
    const page = Math.max(viewport.current[1] - 1, 1);
    switch (e.key) {
      case 'ArrowDown':
      case 'j':
        at(pos + 1);
        break;
      case 'ArrowUp':
      case 'k':
        at(pos < 0 ? 0 : pos - 1);
        break;
      case 'PageDown':
        at(pos + page);
        break;
      case 'PageUp':
        at(pos - page);
        break;
      case 'Home':
        at(0);
        break;
      case 'End':
        at(rows.length - 1);
        break;
      case 'ArrowRight':
      case 'l':
        if (selected < 0) at(0);
        else if (collapsed.has(selected)) toggle(selected);
        else if (kids > 0) select(tree.childList[tree.childStart[selected]!]!);
        break;
      case 'ArrowLeft':
      case 'h':
        if (selected < 0) break;
        if (kids > 0 && !collapsed.has(selected)) toggle(selected);
        else if (tree.parent[selected]! >= 0) select(tree.parent[selected]!);
        break;
      case 'Enter':
      case ' ':
        if (selected >= 0 && kids > 0) toggle(selected);
        break;
      case 'Escape':
        setSelected(-1);
        break;
      default:
        return;
    }
    e.preventDefault();
  };

  useEffect(() => {
    const onGlobal = (e: KeyboardEvent) => {
      const tag = (e.target as HTMLElement)?.tagName;
      if (e.key === '/' && tag !== 'INPUT' && tag !== 'TEXTAREA') {
        e.preventDefault();
        findInput.current?.focus();
        findInput.current?.select();
      }
    };
    window.addEventListener('keydown', onGlobal);
    return () => window.removeEventListener('keydown', onGlobal);
  }, []);

  /** From the flame graph or the statistics: the spans of a service (and operation) in the waterfall. */
  const findThese = (service: string, name: string) => {
    const q = (v: string) => (/[\s"]/.test(v) ? `"${v.replace(/"/g, '')}"` : v);
    setFindText(`service=${q(service)}${name ? ` name=${q(name)}` : ''}`);
    setView('waterfall');
  };

  const download = () => {
    const blob = new Blob([JSON.stringify(otlp)], { type: 'application/json' });
    const a = document.createElement('a');
    a.href = URL.createObjectURL(blob);
    a.download = `trace-${trace.traceId}.json`;
    document.body.appendChild(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
  };

  const lost = useMemo(() => orphans(trace, tree), [trace, tree]);
  const lostSet = useMemo(() => new Set(lost), [lost]);
  const zoomed = win[0] > 0 || win[1] < 1;
  const matchCount = found?.list.length ?? 0;
  const matchPos = found && current >= 0 ? found.list.indexOf(current) + 1 : 0;

  return (
    <main class="trace-page">
      <TraceHeader trace={trace} tree={tree} partial={partial} orphans={lost} onFind={setFindText} onSelect={select} />

      <div class="trace-views">
        <div class="tabs" role="tablist" aria-label="View">
          {VIEWS.map(([v, label]) => (
            <button role="tab" aria-selected={view === v} class={view === v ? 'active' : ''} data-testid={`view-${v}`} onClick={() => setView(v)}>
              {label}
            </button>
          ))}
        </div>
        <CompareWith traceId={trace.traceId} />
      </div>

      {view !== 'waterfall' && (
        <div class="trace-body">
          <div class="trace-main trace-alt">
            {view === 'flame' ? (
              <FlameGraph trace={trace} tree={tree} onFind={(f) => findThese(f.service, f.name)} />
            ) : (
              <TraceStats trace={trace} tree={tree} onFind={(r) => findThese(r.service, r.name)} />
            )}
          </div>
        </div>
      )}
      {view === 'waterfall' && <>
      <div class="trace-toolbar">
        <FindBar
          text={findText}
          onText={setFindText}
          onEnter={(back) => {
            setFindQuery(findText);
            step(back ? -1 : 1);
          }}
          onClear={() => {
            setFindText('');
            setFindQuery('');
          }}
          active={findQuery.trim() !== ''}
          count={matchCount}
          pos={matchPos}
          onStep={step}
          onlyMatches={onlyMatches}
          onOnlyMatches={setOnlyMatches}
          services={trace.services}
          inputRef={findInput}
        />
        <label class="switch" title="The chain of spans the end-to-end latency waited on">
          <input type="checkbox" checked={critOn} data-testid="critical-toggle" onChange={(e) => setCritOn(e.currentTarget.checked)} />
          Critical path
        </label>
        <button class="button subtle" data-testid="expand-all" onClick={() => setCollapsed(new Set())}>
          Expand all
        </button>
        <button
          class="button subtle"
          data-testid="collapse-all"
          onClick={() => {
            const all = new Set<number>();
            for (let i = 0; i < n; i++) if (tree.childStart[i + 1]! > tree.childStart[i]!) all.add(i);
            setCollapsed(all);
          }}
        >
          Collapse all
        </button>
        {zoomed && (
          <button class="button subtle" data-testid="reset-zoom" onClick={() => setWin([0, 1])}>
            Reset zoom
          </button>
        )}
        <div class="spacer" />
        <span class="muted small" data-testid="row-count">
          {rows.length.toLocaleString('en-US')} of {n.toLocaleString('en-US')} rows
        </span>
        <button class="button" data-testid="download" onClick={download} title="Download the trace as OTLP JSON">
          ⤓ OTLP JSON
        </button>
      </div>

      <div class="trace-body">
        <div class="trace-main">
          <Minimap
            trace={trace}
            rows={rows}
            window={win}
            viewport={viewport}
            band={band}
            onWindow={setWin}
            onScrollTo={(k) => setScrollRequest({ row: Math.min(Math.max(k, 0), rows.length - 1), seq: ++seq.current })}
          />
          <Waterfall
            trace={trace}
            tree={tree}
            rows={rows}
            collapsed={collapsed}
            selected={selected}
            matches={found?.flags ?? null}
            orphans={lostSet}
            current={current}
            critical={critical}
            window={win}
            scrollRequest={scrollRequest}
            onToggle={toggle}
            onSelect={(i) => setSelected(i === selected ? -1 : i)}
            onKey={onKey}
            onViewport={(a, b) => {
              viewport.current = [a, b];
              band.current?.(a, b);
            }}
          />
        </div>
        {selected >= 0 && (
          <SpanDetails trace={trace} tree={tree} index={selected} onClose={() => setSelected(-1)} onSelect={select} onCritical={critical?.has(selected) ?? false} />
        )}
      </div>
      </>}
    </main>
  );
}
