import { Fragment } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { SignIn, SignedIn } from './components/SignIn';
import { TenantControl } from './components/TenantControl';
import { navigate, onLinkClick, useLocation } from './lib/router';
import { tenantFromUrl, useTenant } from './lib/tenant';
import { AlertsPage } from './pages/AlertsPage';
import { ComparePage } from './pages/ComparePage';
import { NotFound } from './pages/NotFound';
import { setTheme, useTheme } from './lib/theme';
import { localOffset, setZone, zoneName, type Zone } from './lib/time';
import { SearchPage } from './pages/SearchPage';
import { ServerlessPage } from './pages/ServerlessPage';
import { ServiceMapPage } from './pages/ServiceMapPage';
import { ServicesPage } from './pages/ServicesPage';
import { TailPage } from './pages/TailPage';
import { TracePage } from './pages/TracePage';
import { ViewsPage } from './pages/ViewsPage';

/** The pages in the header, by path. */
const NAV: [string, string][] = [
  ['/search', 'Search'],
  ['/map', 'Service map'],
  ['/services', 'Services'],
  ['/serverless', 'Serverless'],
  ['/views', 'Views'],
  ['/tail', 'Live tail'],
  ['/alerts', 'Alerts'],
];

export function App() {
  const loc = useLocation();
  // The time zone shown: `tz=utc` in the URL (kept across the app's links), else local.
  const zone: Zone = loc.params.get('tz') === 'utc' ? 'utc' : 'local';
  setZone(zone);
  // A `tenant` in the URL wins (and is kept); a bad one is shown, not used.
  const badUrlTenant = tenantFromUrl(loc.params);
  const tenant = useTenant();
  useEffect(() => {
    if (loc.path === '/' || loc.path === '/index.html') navigate('/search', { replace: true });
  }, [loc.path]);
  const trace = /^\/trace\/([^/]+)\/?$/.exec(loc.path);
  const compare = /^\/trace\/([^/]+)\/compare\/([^/]*)\/?$/.exec(loc.path);
  let page;
  let active = '';
  if (loc.path === '/search' || loc.path === '/search/') {
    page = <SearchPage loc={loc} />;
    active = '/search';
  } else if (trace) page = <TracePage id={decodeURIComponent(trace[1]!)} loc={loc} />;
  else if (compare) page = <ComparePage a={decodeURIComponent(compare[1]!)} b={decodeURIComponent(compare[2]!)} />;
  else if (loc.path === '/map') {
    page = <ServiceMapPage loc={loc} />;
    active = '/map';
  } else if (loc.path === '/services') {
    page = <ServicesPage loc={loc} />;
    active = '/services';
  } else if (loc.path === '/serverless') {
    page = <ServerlessPage loc={loc} />;
    active = '/serverless';
  } else if (loc.path === '/views' || loc.path.startsWith('/views/')) {
    page = <ViewsPage loc={loc} />;
    active = '/views';
  } else if (loc.path === '/tail') {
    page = <TailPage loc={loc} />;
    active = '/tail';
  } else if (loc.path === '/alerts') {
    page = <AlertsPage loc={loc} />;
    active = '/alerts';
  } else if (loc.path === '/' || loc.path === '/index.html') page = null;
  else page = <NotFound path={loc.path} />;
  return (
    <div class="app">
      <TopBar active={active} tenant={tenant} badUrlTenant={badUrlTenant} zone={zone} />
      {/* Pages that read spans start over (their data asked again) in another tenant; the
          alert rules are global, their page only links differently. */}
      {active === '/alerts' ? page : <Fragment key={tenant}>{page}</Fragment>}
      <SignIn />
    </div>
  );
}

/** The current URL with the time zone changed (`tz=utc`, or none for local). */
function withZone(z: Zone): string {
  const p = new URLSearchParams(window.location.search);
  if (z === 'utc') p.set('tz', 'utc');
  else p.delete('tz');
  const qs = p.toString();
  return window.location.pathname + (qs ? `?${qs}` : '');
}

function TopBar({ active, tenant, badUrlTenant, zone }: { active: string; tenant: string; badUrlTenant: string | null; zone: Zone }) {
  const theme = useTheme();
  const [id, setId] = useState('');
  const [bad, setBad] = useState<string | null>(null);
  const valid = /^[0-9a-fA-F]{1,32}$/.test(id.trim());
  return (
    <header class="topbar">
      <a class="brand" href="/search" onClick={(e) => onLinkClick(e, '/search')}>
        <svg viewBox="0 0 32 32" width="22" height="22" aria-hidden="true">
          <rect width="32" height="32" rx="7" fill="var(--accent)" />
          <g fill="var(--accent-fg)">
            <rect x="7" y="8" width="14" height="3" rx="1.5" />
            <rect x="11" y="14" width="12" height="3" rx="1.5" />
            <rect x="15" y="20" width="10" height="3" rx="1.5" />
          </g>
        </svg>
        Arbor
      </a>
      <nav>
        {NAV.map(([href, label]) => (
          <a class={active === href ? 'active' : ''} href={href} data-testid={`nav-${href.slice(1)}`} aria-current={active === href ? 'page' : undefined} onClick={(e) => onLinkClick(e, href)}>
            {label}
          </a>
        ))}
      </nav>
      <form
        class="lookup"
        onSubmit={(e) => {
          e.preventDefault();
          if (valid) {
            navigate(`/trace/${id.trim().toLowerCase()}`);
            setId('');
            setBad(null);
          } else if (id.trim() !== '') setBad(`"${id.trim()}" is not a trace ID: a trace ID is 1 to 32 hexadecimal digits (0-9, a-f)`);
        }}
      >
        <input
          aria-label="Trace ID"
          placeholder="Go to trace ID…"
          value={id}
          spellcheck={false}
          aria-invalid={bad !== null}
          onInput={(e) => {
            setId(e.currentTarget.value);
            setBad(null);
          }}
        />
        {bad && (
          <div class="lookup-error" role="alert" data-testid="lookup-error">
            {bad}
          </div>
        )}
      </form>
      <label class="zone-select">
        <select
          data-testid="tz-select"
          aria-label="Time zone"
          title={`Times are shown in ${zoneName(zone)}`}
          value={zone}
          onChange={(e) => navigate(withZone(e.currentTarget.value as Zone), { replace: true, exact: true })}
        >
          <option value="local">Local {localOffset()}</option>
          <option value="utc">UTC</option>
        </select>
      </label>
      <TenantControl tenant={tenant} badUrlTenant={badUrlTenant} />
      <SignedIn />
      <button
        class="icon-button"
        title={theme === 'dark' ? 'Light theme' : 'Dark theme'}
        aria-label="Toggle theme"
        data-testid="theme-toggle"
        onClick={() => setTheme(theme === 'dark' ? 'light' : 'dark')}
      >
        {theme === 'dark' ? '☀' : '☾'}
      </button>
    </header>
  );
}
