// Signing in: when the server asks for a token (any API answer 401), the app shows a sign-in
// form; the token is kept in sessionStorage (for this tab's session, never on disk past it)
// and sent as `Authorization: Bearer …` with every API request. `/api/whoami` says what the
// token grants, and its tenants become the tenant control's choices.

import { useEffect, useState } from 'preact/hooks';
import { currentTenant, setTenant } from './tenant';

const KEY = 'arbor.token';

/** What `/api/whoami` answers. */
export interface Whoami {
  auth: boolean;
  name?: string;
  tenants?: string[] | '*';
  grants?: string[];
  /** The resource filter a narrowed read token sees spans through. */
  scope?: string | null;
}

function load(): string | null {
  try {
    return sessionStorage.getItem(KEY);
  } catch {
    return null;
  }
}

let token: string | null = load();
let needed = false;
let who: Whoami | null = null;
const listeners = new Set<() => void>();
/** Bumped at every change, so a component can tell one it rendered before listening. */
let version = 0;
const tell = () => {
  version++;
  for (const l of listeners) l();
};

/** Takes what the server says the token grants; a tenant it does not grant is left for its first. */
function learn(w: Whoami) {
  who = w;
  const granted = tokenTenants();
  if (granted.length && !granted.includes(currentTenant())) setTenant(granted[0]!);
}

/** The headers that carry the token, when there is one. */
export function authHeaders(): Record<string, string> {
  return token ? { Authorization: `Bearer ${token}` } : {};
}

/** An API answer was 401: the app asks for a token. */
export function authNeeded() {
  if (!needed) {
    needed = true;
    tell();
  }
}

/** Checks `t` with `/api/whoami`; keeps it when the server takes it. Returns an error or null. */
export async function signIn(t: string): Promise<string | null> {
  const candidate = t.trim();
  if (!candidate) return 'paste a token';
  let res: Response;
  try {
    res = await fetch('/api/whoami', { headers: { Accept: 'application/json', Authorization: `Bearer ${candidate}` } });
  } catch (e) {
    return `could not reach the server: ${(e as Error).message}`;
  }
  if (!res.ok) return (await res.text().catch(() => '')).trim() || `${res.status} ${res.statusText}`;
  token = candidate;
  try {
    sessionStorage.setItem(KEY, candidate);
  } catch {
    // storage refused: the token holds for this page only
  }
  learn((await res.json()) as Whoami);
  needed = false;
  tell();
  return null;
}

export function signOut() {
  token = null;
  who = null;
  try {
    sessionStorage.removeItem(KEY);
  } catch {
    // nothing kept
  }
  tell();
}

/** What the kept token grants (asked once per page load). */
async function refresh() {
  if (!token) return;
  try {
    const res = await fetch('/api/whoami', { headers: { Accept: 'application/json', ...authHeaders() } });
    if (res.status === 401) {
      signOut();
      authNeeded();
      return;
    }
    if (res.ok) {
      learn((await res.json()) as Whoami);
      tell();
    }
  } catch {
    // the pages' own requests will say what is wrong
  }
}
void refresh();

/** The sign-in state, rendering again when it changes. */
export function useAuth(): { needed: boolean; who: Whoami | null; signedIn: boolean } {
  const [, setN] = useState(0);
  const rendered = version;
  useEffect(() => {
    const l = () => setN((n) => n + 1);
    listeners.add(l);
    // A change between this render and now (the page-load `/api/whoami` answering before
    // the effect ran) told no one: render again to show it.
    if (version !== rendered) l();
    return () => void listeners.delete(l);
  }, []);
  return { needed, who, signedIn: token !== null };
}

/** The tenants the token grants, when it names them (not `*`). */
export function tokenTenants(): string[] {
  return who && Array.isArray(who.tenants) ? who.tenants : [];
}
