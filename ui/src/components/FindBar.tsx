// Find in trace and its filters: the text box (terms, see lib/findQuery), pickers for
// status, kind, service and a minimum duration that write their terms into it, the match
// count with previous / next, and "only matches".

import type { Ref } from 'preact';
import { KIND_NAMES } from '../lib/otlp';
import { parseFind, withTerm } from '../lib/findQuery';
import { fmtDuration } from '../lib/time';

export interface FindBarProps {
  text: string;
  onText: (t: string) => void;
  onEnter: (back: boolean) => void;
  onClear: () => void;
  active: boolean;
  count: number;
  pos: number;
  onStep: (d: number) => void;
  onlyMatches: boolean;
  onOnlyMatches: (v: boolean) => void;
  services: string[];
  inputRef: Ref<HTMLInputElement>;
}

export function FindBar(p: FindBarProps) {
  const terms = parseFind(p.text);
  const status = terms.find((t) => t.t === 'status');
  const kind = terms.find((t) => t.t === 'kind');
  const service = terms.find((t) => t.t === 'service');
  const minDur = terms.find((t) => t.t === 'duration' && (t.op === '>=' || t.op === '>'));
  const set = (field: string, term: string) => p.onText(withTerm(p.text, field, term));
  return (
    <div class="find-bar">
      <div class="find">
        <input
          ref={p.inputRef}
          value={p.text}
          placeholder="Find: text, error, status=error, kind=client, service=x, duration>100ms, key=value  ( / )"
          title="Terms, all of which a span matches: text; error (or status=error|ok|unset); kind=server|client|producer|consumer|internal; service=…; name=…; duration>100ms (also >=, <, <=); key=value for an attribute"
          aria-label="Find in trace"
          data-testid="find-input"
          spellcheck={false}
          onInput={(e) => p.onText(e.currentTarget.value)}
          onKeyDown={(e) => {
            if (e.key === 'Enter') {
              e.preventDefault();
              p.onEnter(e.shiftKey);
            } else if (e.key === 'Escape') p.onClear();
          }}
        />
        {p.active && (
          <span class="find-count" data-testid="find-count">
            {p.count === 0 ? 'no match' : `${p.pos} of ${p.count.toLocaleString('en-US')}`}
          </span>
        )}
        <button class="icon-button" aria-label="Previous match" disabled={p.count === 0} onClick={() => p.onStep(-1)}>
          ↑
        </button>
        <button class="icon-button" aria-label="Next match" disabled={p.count === 0} onClick={() => p.onStep(1)}>
          ↓
        </button>
      </div>
      <div class="find-filters" data-testid="find-filters">
        <select aria-label="Status" data-testid="filter-status" value={status?.t === 'status' ? ['unset', 'ok', 'error'][status.code] : ''} onChange={(e) => set('status', e.currentTarget.value ? `status=${e.currentTarget.value}` : '')}>
          <option value="">any status</option>
          <option value="error">error</option>
          <option value="ok">ok</option>
          <option value="unset">unset</option>
        </select>
        <select aria-label="Kind" data-testid="filter-kind" value={kind?.t === 'kind' ? KIND_NAMES[kind.kind] : ''} onChange={(e) => set('kind', e.currentTarget.value ? `kind=${e.currentTarget.value}` : '')}>
          <option value="">any kind</option>
          {KIND_NAMES.slice(1).map((k) => (
            <option value={k}>{k}</option>
          ))}
        </select>
        <select aria-label="Service" data-testid="filter-service" value={service?.t === 'service' ? (p.services.find((s) => s.toLowerCase() === service.text) ?? '') : ''} onChange={(e) => set('service', e.currentTarget.value ? `service=${quote(e.currentTarget.value)}` : '')}>
          <option value="">any service</option>
          {p.services.map((s) => (
            <option value={s}>{s}</option>
          ))}
        </select>
        <select
          aria-label="Minimum duration"
          data-testid="filter-duration"
          value={minDur?.t === 'duration' ? durationText(minDur.ns) : ''}
          onChange={(e) => set('duration', e.currentTarget.value ? `duration>=${e.currentTarget.value}` : '')}
        >
          <option value="">any duration</option>
          {['1ms', '10ms', '50ms', '100ms', '500ms', '1s', '5s'].map((d) => (
            <option value={d}>≥ {d}</option>
          ))}
          {minDur?.t === 'duration' && !['1ms', '10ms', '50ms', '100ms', '500ms', '1s', '5s'].includes(durationText(minDur.ns)) && <option value={durationText(minDur.ns)}>≥ {fmtDuration(minDur.ns)}</option>}
        </select>
        <label class="switch" title="Show only the matching spans and the spans above them">
          <input type="checkbox" checked={p.onlyMatches} data-testid="only-matches" onChange={(e) => p.onOnlyMatches(e.currentTarget.checked)} />
          Only matches
        </label>
      </div>
    </div>
  );
}

const quote = (s: string) => (/\s/.test(s) ? `"${s}"` : s);

function durationText(ns: number): string {
  for (const [u, f] of [['s', 1e9], ['ms', 1e6]] as const) if (ns >= f && ns % f === 0) return `${ns / f}${u}`;
  return `${ns / 1e6}ms`;
}
