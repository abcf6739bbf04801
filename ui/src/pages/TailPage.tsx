// Live tail (`/tail?q=<traceql>&limit=<n>`): the spans matching a TraceQL filter as the
// server acknowledges them, read from `GET /api/tail` (server-sent events, over fetch so
// the tenant header goes with it). The server sends at most `limit` spans a second and
// says when it sampled; the page shows that, and keeps the latest 500 spans in arrival
// order.

import { useEffect, useRef, useState } from 'preact/hooks';
import { errorText } from '../lib/api';
import { fmtCount } from '../lib/derived';
import { setParams } from '../lib/pageState';
import { onLinkClick, type Location } from '../lib/router';
import { authHeaders, authNeeded } from '../lib/auth';
import { currentTenant, tenantHeaders } from '../lib/tenant';
import { fmtDuration } from '../lib/time';

const KEEP = 500;

interface TailSpan {
  traceId: string;
  spanId: string;
  name: string;
  service: string;
  startTimeUnixNano: string;
  durationNanos: string;
  status: string;
  attributes: Record<string, unknown>;
}

interface Stats {
  matched?: number;
  sent?: number;
  dropped?: number;
  limit?: number;
  lostBatches?: number;
}

type State = { kind: 'connecting' } | { kind: 'live' } | { kind: 'error'; message: string } | { kind: 'ended' };

/** Reads a server-sent event stream, calling `on(event, data)` for each event. */
async function readEvents(body: ReadableStream<Uint8Array>, on: (event: string, data: string) => void) {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buf = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buf += decoder.decode(value, { stream: true });
    let end;
    while ((end = buf.indexOf('\n\n')) >= 0) {
      const block = buf.slice(0, end);
      buf = buf.slice(end + 2);
      let event = 'message';
      const data: string[] = [];
      for (const line of block.split('\n')) {
        if (line.startsWith('event:')) event = line.slice(6).trim();
        else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
      }
      if (data.length) on(event, data.join('\n'));
    }
  }
}

export function TailPage({ loc }: { loc: Location }) {
  const q = loc.params.get('q') ?? '{ }';
  const limit = loc.params.get('limit') ?? '100';
  const [text, setText] = useState(q);
  const [spans, setSpans] = useState<TailSpan[]>([]);
  const [state, setState] = useState<State>({ kind: 'connecting' });
  const [stats, setStats] = useState<Stats | null>(null);
  const [paused, setPaused] = useState(false);
  const received = useRef(0);
  useEffect(() => {
    document.title = 'Live tail · Arbor';
  }, []);
  useEffect(() => {
    if (paused) return;
    const ctl = new AbortController();
    setSpans([]);
    setStats(null);
    received.current = 0;
    setState({ kind: 'connecting' });
    const url = `/api/tail?${new URLSearchParams({ q, limit })}`;
    (async () => {
      const res = await fetch(url, { signal: ctl.signal, headers: { Accept: 'text/event-stream', ...authHeaders(), ...tenantHeaders(currentTenant()) } });
      if (res.status === 401) authNeeded();
      if (!res.ok || !res.body) throw new Error(`${res.status}: ${(await res.text()).trim()}`);
      await readEvents(res.body, (event, data) => {
        if (event === 'ready') setState({ kind: 'live' });
        else if (event === 'stats') setStats(JSON.parse(data) as Stats);
        else if (event === 'span') {
          received.current += 1;
          const s = JSON.parse(data) as TailSpan;
          setSpans((prev) => (prev.length >= KEEP ? [...prev.slice(prev.length - KEEP + 1), s] : [...prev, s]));
        }
      });
      setState({ kind: 'ended' });
    })().catch((e) => {
      if ((e as Error).name !== 'AbortError') setState({ kind: 'error', message: errorText(e) });
    });
    return () => ctl.abort();
  }, [q, limit, paused]);

  const run = () => setParams('/tail', loc.params, { q: text.trim() || '{ }' });
  return (
    <main class="page tail-page" data-testid="tail-page" data-state={state.kind} data-received={received.current}>
      <div class="view-toolbar">
        <h1>Live tail</h1>
        <form class="tail-query" onSubmit={(e) => { e.preventDefault(); run(); }}>
          <input class="mono" value={text} spellcheck={false} aria-label="TraceQL filter" data-testid="tail-query" onInput={(e) => setText(e.currentTarget.value)} />
          <button class="button primary" type="submit" data-testid="tail-run">Tail</button>
        </form>
        <label class="filter">
          <span>At most</span>
          <select value={limit} data-testid="tail-limit" onChange={(e) => setParams('/tail', loc.params, { limit: e.currentTarget.value })}>
            {['10', '100', '1000'].map((l) => <option value={l}>{l} spans/s</option>)}
          </select>
        </label>
        <button class="button" data-testid="tail-pause" onClick={() => setPaused(!paused)}>{paused ? '▶ Resume' : '❚❚ Pause'}</button>
      </div>
      <p class="hint" data-testid="tail-status">
        {paused ? 'Paused.' : state.kind === 'connecting' ? 'Connecting…' : state.kind === 'live' ? `Live: spans matching the filter appear as they are acknowledged (${fmtCount(spans.length)} shown).` : state.kind === 'ended' ? 'The server ended the stream.' : ''}
      </p>
      {state.kind === 'error' && <div class="message error" role="alert" data-testid="tail-error"><pre>{state.message}</pre></div>}
      {stats && (stats.dropped ?? 0) + (stats.lostBatches ?? 0) > 0 && (
        <p class="message warn" data-testid="tail-sampled">
          Sampled: {fmtCount(stats.sent ?? 0)} of {fmtCount(stats.matched ?? 0)} matching spans shown in the last second (at most {stats.limit}/s)
          {stats.lostBatches ? `; ${stats.lostBatches} batches lost behind` : ''}.
        </p>
      )}
      <table class="data-table tail-table" data-testid="tail-spans">
        <thead><tr><th>Start</th><th>Service</th><th>Span</th><th class="num">Duration</th><th>Status</th><th>Trace</th></tr></thead>
        <tbody>
          {spans.map((s) => {
            const href = `/trace/${s.traceId}?span=${s.spanId}`;
            const startMs = Number(BigInt(s.startTimeUnixNano) / 1_000_000n);
            return (
              <tr class={s.status === 'error' ? 'bad' : ''} data-span={s.spanId} data-name={s.name}>
                <td class="mono small">{new Date(startMs).toISOString().slice(11, 23)}</td>
                <td>{s.service}</td>
                <td>{s.name}</td>
                <td class="num">{fmtDuration(Number(s.durationNanos))}</td>
                <td>{s.status}</td>
                <td class="mono small"><a href={href} onClick={(e) => onLinkClick(e, href)}>{s.traceId.slice(0, 16)}…</a></td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </main>
  );
}
