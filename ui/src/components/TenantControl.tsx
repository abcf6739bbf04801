// The header's tenant control: the tenant whose data the pages read (`X-Scope-OrgID`),
// with the tenants used before as suggestions. Enter (or leaving the field, or picking a
// suggestion) switches; a bad ID shows why and switches nothing; Escape undoes the edit.

import { useEffect, useState } from 'preact/hooks';
import { navigate } from '../lib/router';
import { tokenTenants, useAuth } from '../lib/auth';
import { DEFAULT_TENANT, recentTenants, setTenant, TENANT_PARAM, tenantError } from '../lib/tenant';

export function TenantControl({ tenant, badUrlTenant }: { tenant: string; badUrlTenant: string | null }) {
  const shown = tenant === DEFAULT_TENANT ? '' : tenant;
  const [text, setText] = useState(badUrlTenant ?? shown);
  const [error, setError] = useState<string | null>(null);
  const [recent, setRecent] = useState(recentTenants);
  useEffect(() => {
    setRecent(recentTenants());
    if (badUrlTenant !== null) {
      setText(badUrlTenant);
      setError(`${tenantError(badUrlTenant.trim())} — the link's tenant is not used`);
    } else {
      setText(shown);
      setError(null);
    }
  }, [tenant, badUrlTenant]);

  const check = (value: string) => {
    const t = value.trim();
    return t === '' ? null : tenantError(t);
  };
  const apply = (value: string) => {
    const err = check(value);
    setError(err);
    if (err) return;
    const t = value.trim() || DEFAULT_TENANT;
    setTenant(t);
    // A `tenant` in the URL wins over the one kept: it follows the switch.
    const p = new URLSearchParams(window.location.search);
    if (p.has(TENANT_PARAM)) {
      if (t === DEFAULT_TENANT) p.delete(TENANT_PARAM);
      else p.set(TENANT_PARAM, t);
      const qs = p.toString();
      navigate(`${window.location.pathname}${qs ? `?${qs}` : ''}`, { replace: true });
    }
    setText(t === DEFAULT_TENANT ? '' : t);
  };

  // With a token that names its tenants, those are the choices; else the tenants used before.
  useAuth();
  const granted = tokenTenants();
  const options = granted.length
    ? granted.filter((t) => t !== tenant)
    : [...recent.filter((t) => t !== tenant), ...(tenant === DEFAULT_TENANT ? [] : [DEFAULT_TENANT])];
  return (
    <form
      class={`tenant-control${tenant !== DEFAULT_TENANT ? ' other' : ''}`}
      data-testid="tenant-control"
      data-tenant={tenant}
      onSubmit={(e) => {
        e.preventDefault();
        apply(text);
      }}
    >
      <label title={`Whose data the pages read (X-Scope-OrgID); empty: ${DEFAULT_TENANT}`}>
        <span class="tenant-label">Tenant</span>
        <input
          aria-label="Tenant"
          data-testid="tenant-input"
          list="tenant-options"
          placeholder={DEFAULT_TENANT}
          value={text}
          spellcheck={false}
          autocomplete="off"
          maxLength={200}
          aria-invalid={error !== null}
          aria-describedby={error ? 'tenant-error' : undefined}
          onInput={(e) => {
            const v = e.currentTarget.value;
            setText(v);
            // A suggestion picked from the list switches at once; typing is checked as it goes.
            if (!(e instanceof InputEvent) || e.inputType === 'insertReplacementText') apply(v);
            else setError(check(v));
          }}
          onChange={(e) => apply(e.currentTarget.value)}
          onKeyDown={(e) => {
            if (e.key === 'Escape') {
              setText(shown);
              setError(null);
            }
          }}
        />
      </label>
      <datalist id="tenant-options" data-testid="tenant-options">
        {options.map((t) => (
          <option value={t} />
        ))}
      </datalist>
      {error && (
        <div class="tenant-error" id="tenant-error" role="alert" data-testid="tenant-error">
          {error}
        </div>
      )}
    </form>
  );
}
