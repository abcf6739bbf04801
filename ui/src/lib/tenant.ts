// The tenant the UI reads (`X-Scope-OrgID`, as in Grafana Tempo). The header's control sets
// it; a `tenant` URL parameter overrides it (so a link can carry it) and becomes the current
// one. localStorage keeps it, and the tenants used before (the control's suggestions).
// Requests name a tenant only when it is not the default one, and never a bad one.

import { useEffect, useState } from 'preact/hooks';

export const DEFAULT_TENANT = 'single-tenant';
/** The URL parameter that names the tenant. */
export const TENANT_PARAM = 'tenant';
export const TENANT_HEADER = 'X-Scope-OrgID';
const KEY = 'arbor.tenant';
const RECENT_KEY = 'arbor.tenants';
const MAX_RECENT = 12;
const MAX_LEN = 150;

/**
 * Why `id` is not a tenant ID the server takes (its rule: 1–150 characters of
 * `A-Z a-z 0-9 ! - _ . * ' ( )`, not `.` or `..`), or null when it is one.
 */
export function tenantError(id: string): string | null {
  if (id === '') return 'a tenant ID has at least 1 character';
  if (id === '.' || id === '..') return 'a tenant ID may not be “.” or “..”';
  const bad = [...new Set([...id].filter((c) => !/^[A-Za-z0-9!\-_.*'()]$/.test(c)))];
  if (bad.length) return `${bad.map((c) => (c === ' ' ? 'space' : `“${c}”`)).join(', ')} not allowed: only A–Z a–z 0–9 ! - _ . * ' ( )`;
  if (id.length > MAX_LEN) return `a tenant ID has at most ${MAX_LEN} characters (this one ${id.length})`;
  return null;
}

function load(key: string): string | null {
  try {
    return localStorage.getItem(key);
  } catch {
    return null;
  }
}

function save(key: string, value: string | null) {
  try {
    if (value === null) localStorage.removeItem(key);
    else localStorage.setItem(key, value);
  } catch {
    // storage refused (private mode, quota): the tenant still holds for this page
  }
}

function stored(): string {
  const s = load(KEY)?.trim() ?? '';
  return s && tenantError(s) === null ? s : DEFAULT_TENANT;
}

let current = stored();
const listeners = new Set<() => void>();

/** The tenant requests read now (always a valid ID; the default one when none is set). */
export function currentTenant(): string {
  return current;
}

/** The tenants used before, most recent first (the default one left out). */
export function recentTenants(): string[] {
  try {
    const list = JSON.parse(load(RECENT_KEY) ?? '[]') as unknown;
    return Array.isArray(list) ? list.filter((t): t is string => typeof t === 'string' && t !== DEFAULT_TENANT && tenantError(t) === null).slice(0, MAX_RECENT) : [];
  } catch {
    return [];
  }
}

function remember(t: string) {
  if (t === DEFAULT_TENANT) return;
  save(RECENT_KEY, JSON.stringify([t, ...recentTenants().filter((x) => x !== t)].slice(0, MAX_RECENT)));
}

/** Makes `t` (valid) the current tenant and keeps it; returns whether it changed. */
function adopt(t: string): boolean {
  if (t === current) return false;
  remember(t);
  current = t;
  save(KEY, t === DEFAULT_TENANT ? null : t);
  return true;
}

/**
 * Switches to `text` (trimmed; empty: the default tenant). A bad ID changes nothing: its
 * reason is returned. Listeners (the app, which reloads the page's data) hear of a change.
 */
export function setTenant(text: string): string | null {
  const t = text.trim() || DEFAULT_TENANT;
  const err = tenantError(t);
  if (err) return err;
  if (adopt(t)) for (const l of listeners) l();
  return null;
}

/** Calls `l` whenever the tenant is switched; returns the unsubscribe. */
export function onTenantChange(l: () => void): () => void {
  listeners.add(l);
  return () => void listeners.delete(l);
}

/**
 * Takes the URL's `tenant` parameter, which wins over the kept tenant: a valid one becomes
 * the current tenant (without telling the listeners: the caller is rendering for this
 * URL). Returns the parameter's text when it is not a valid ID (it is then not used), else
 * null. Safe to call on every render.
 */
export function tenantFromUrl(params: URLSearchParams): string | null {
  const raw = params.get(TENANT_PARAM);
  if (raw === null || raw.trim() === '') return null;
  const t = raw.trim();
  if (tenantError(t) !== null) return raw;
  adopt(t);
  return null;
}

/** The header naming the current tenant (or `t`), when it is not the default one. */
export function tenantHeaders(t: string = current): Record<string, string> {
  return t !== DEFAULT_TENANT && tenantError(t) === null ? { [TENANT_HEADER]: t } : {};
}

/**
 * `href` opening in the tenant `t` (a rule's; empty or absent: the default tenant): with
 * `tenant=<t>` when `t` is set, or when the current tenant is another one than `t`.
 */
export function hrefInTenant(href: string, t: string | null | undefined): string {
  const id = t?.trim() || '';
  const target = id || DEFAULT_TENANT;
  if (!id && target === current) return href;
  const q = href.indexOf('?');
  const p = new URLSearchParams(q < 0 ? '' : href.slice(q + 1));
  p.set(TENANT_PARAM, target);
  return `${q < 0 ? href : href.slice(0, q)}?${p}`;
}

/** The current tenant, rendering again whenever it is switched. */
export function useTenant(): string {
  const [, setN] = useState(0);
  useEffect(() => onTenantChange(() => setN((n) => n + 1)), []);
  return current;
}
