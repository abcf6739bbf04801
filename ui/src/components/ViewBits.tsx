// Pieces the derived-view pages share: loading an answer, the toolbar with the time range
// and filter pickers, and how a failed request is shown.

import type { ComponentChildren } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { errorText } from '../lib/api';
import type { DerivedFilters } from '../lib/derived';
import { resolveRange, type Range } from '../lib/pageState';
import { onLinkClick } from '../lib/router';
import { BellIcon } from './Icons';
import { TimeRangePicker } from './TimeRange';

export type Load<T> = { state: 'loading'; prev: T | null } | { state: 'error'; message: string } | { state: 'done'; data: T };

/**
 * Runs `fetch` over the page's range whenever `key` (everything the request depends on)
 * changes or `runs` is bumped; the previous answer stays shown while the next loads.
 */
export function useLoad<T>(range: Range, key: string, runs: number, fetch: (startSec: number, endSec: number, signal: AbortSignal) => Promise<T>): Load<T> {
  const [load, setLoad] = useState<Load<T>>({ state: 'loading', prev: null });
  useEffect(() => {
    const r = resolveRange(range);
    if ('error' in r) {
      setLoad({ state: 'error', message: r.error });
      return;
    }
    const ctl = new AbortController();
    setLoad((l) => ({ state: 'loading', prev: l.state === 'done' ? l.data : l.state === 'loading' ? l.prev : null }));
    fetch(r.fromMs / 1000, r.toMs / 1000, ctl.signal).then(
      (data) => setLoad({ state: 'done', data }),
      (e) => {
        if ((e as Error).name !== 'AbortError') setLoad({ state: 'error', message: errorText(e) });
      },
    );
    return () => ctl.abort();
  }, [range.from, range.to, key, runs]);
  return load;
}

/** The answer to show: the current one, or the previous one while the next loads. */
export function shown<T>(l: Load<T>): T | null {
  return l.state === 'done' ? l.data : l.state === 'loading' ? l.prev : null;
}

export function ViewToolbar({ title, range, onRange, onRefresh, children }: { title: string; range: Range; onRange: (from: string, to: string) => void; onRefresh: () => void; children?: ComponentChildren }) {
  return (
    <div class="view-toolbar">
      <h1>{title}</h1>
      {children}
      <div class="spacer" />
      <TimeRangePicker from={range.from} to={range.to} onChange={onRange} />
      <button class="button" data-testid="refresh" title="Ask again" onClick={onRefresh}>
        ↻ Refresh
      </button>
    </div>
  );
}

const FILTER_LABEL: Record<string, string> = {
  namespace: 'Namespace',
  environment: 'Environment',
  region: 'Region',
  service: 'Service',
};

/** A picker of one filter, over the values the answer lists (`filters`). */
export function FilterSelect({ name, value, filters, onChange }: { name: keyof DerivedFilters; value: string; filters: DerivedFilters | undefined; onChange: (v: string) => void }) {
  const values = [...(filters?.[name] ?? [])];
  if (value && !values.includes(value)) values.push(value);
  values.sort();
  const label = FILTER_LABEL[name] ?? name;
  return (
    <label class={`filter ${value ? 'on' : ''}`}>
      <span>{label}</span>
      <select value={value} aria-label={label} data-testid={`filter-${name}`} onChange={(e) => onChange(e.currentTarget.value)}>
        <option value="">all</option>
        {values.map((v) => (
          <option value={v}>{v}</option>
        ))}
      </select>
    </label>
  );
}

export function LoadError({ what, message }: { what: string; message: string }) {
  return (
    <div class="message error" role="alert" data-testid="view-error">
      <strong>{what} could not be loaded</strong>
      <pre>{message}</pre>
    </div>
  );
}

/** Rate, error share and quantiles, for a heading. */
export function Stat({ label, value, tone, testid }: { label: string; value: ComponentChildren; tone?: string; testid?: string }) {
  return (
    <div class={`stat ${tone ?? ''}`} data-testid={testid}>
      <dt>{label}</dt>
      <dd>{value}</dd>
    </div>
  );
}

/** "Alert on this": a link to the alerts page's form of a new rule, prefilled. */
export function AlertLink({ href, title, testid, children = 'alert on this' }: { href: string; title: string; testid: string; children?: ComponentChildren }) {
  return (
    <a class="alert-link" href={href} title={title} data-testid={testid} onClick={(e) => onLinkClick(e, href)}>
      <BellIcon /> {children}
    </a>
  );
}
