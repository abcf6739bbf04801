// A small router over the History API: the URL is the app's state.

import { useEffect, useState } from 'preact/hooks';

export interface Location {
  path: string;
  params: URLSearchParams;
}

const listeners = new Set<() => void>();

function current(): Location {
  return { path: window.location.pathname, params: new URLSearchParams(window.location.search) };
}

/**
 * URL parameters every page keeps when it links to another (`tz`, the time zone shown):
 * carried over unless the link names its own.
 */
const KEPT = ['tz'];

function withKept(url: string): string {
  const cur = new URLSearchParams(window.location.search);
  const i = url.indexOf('?');
  const path = i < 0 ? url : url.slice(0, i);
  const p = new URLSearchParams(i < 0 ? '' : url.slice(i + 1));
  let changed = false;
  for (const k of KEPT) {
    const v = cur.get(k);
    if (v !== null && !p.has(k)) {
      p.set(k, v);
      changed = true;
    }
  }
  return changed ? `${path}?${p}` : url;
}

/** Goes to `to` (with the kept parameters, unless `exact`). */
export function navigate(to: string, opts: { replace?: boolean; exact?: boolean } = {}) {
  const url = opts.exact ? to : withKept(to);
  const now = window.location.pathname + window.location.search;
  if (url === now) return;
  if (opts.replace) history.replaceState(null, '', url);
  else history.pushState(null, '', url);
  for (const l of listeners) l();
}

window.addEventListener('popstate', () => {
  for (const l of listeners) l();
});

export function useLocation(): Location {
  const [loc, setLoc] = useState(current);
  useEffect(() => {
    const l = () => setLoc(current());
    listeners.add(l);
    return () => void listeners.delete(l);
  }, []);
  return loc;
}

/** Links within the app navigate without a reload (modifier clicks open a new tab). */
export function onLinkClick(e: MouseEvent, href: string) {
  if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
  e.preventDefault();
  navigate(href);
}
