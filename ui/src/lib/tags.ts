// Tag names and values for autocompletion, fetched once per tenant and cached for the session.

import { tagNames, tagValues, type TagScopes, type TagValue } from './api';
import { currentTenant } from './tenant';

let names: Promise<TagScopes> | null = null;
const values = new Map<string, Promise<TagValue[]>>();
/** The tenant the cache holds the tags of. */
let cachedFor = currentTenant();

/** Starts over when the tenant has been switched since the cache was filled. */
function sameTenant() {
  if (cachedFor !== currentTenant()) {
    resetTags();
    cachedFor = currentTenant();
  }
}

export function allTagNames(): Promise<TagScopes> {
  sameTenant();
  if (!names) {
    names = tagNames().catch((e) => {
      names = null;
      throw e;
    });
  }
  return names;
}

/** Names of one scope (`resource`, `span`, …; `.` lists span and resource names). */
export async function namesOf(scope: string): Promise<string[]> {
  const all = await allTagNames();
  const s = scope.replace(/\.$/, '');
  if (s === '') {
    const set = new Set<string>();
    for (const sc of all.scopes) if (sc.name === 'span' || sc.name === 'resource') for (const t of sc.tags) set.add(t);
    return [...set].sort();
  }
  return all.scopes.find((sc) => sc.name === s)?.tags ?? [];
}

export function valuesOf(tag: string): Promise<TagValue[]> {
  sameTenant();
  let p = values.get(tag);
  if (!p) {
    p = tagValues(tag)
      .then((r) => r.tagValues ?? [])
      .catch((e) => {
        values.delete(tag);
        throw e;
      });
    values.set(tag, p);
  }
  return p;
}

/** Forget what was fetched (after new data arrives, say). */
export function resetTags() {
  names = null;
  values.clear();
}
