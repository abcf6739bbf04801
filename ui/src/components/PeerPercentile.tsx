// In span details: where this span's duration falls among the spans of the same service and
// operation over the last hour, with a link to a search for the slower ones.

import { useEffect, useState } from 'preact/hooks';
import { errorText } from '../lib/api';
import { fetchPeers, PEER_WINDOW, type Peers } from '../lib/peers';
import { onLinkClick } from '../lib/router';
import { encodeSearch, emptySearch } from '../lib/searchState';
import { fmtDuration } from '../lib/time';

type State = { state: 'loading' } | { state: 'error'; message: string } | ({ state: 'done' } & Peers);

export function PeerPercentile({ service, name, durationNs }: { service: string; name: string; durationNs: number }) {
  const [st, setSt] = useState<State>({ state: 'loading' });
  useEffect(() => {
    const ctl = new AbortController();
    setSt({ state: 'loading' });
    fetchPeers(service, name, durationNs, ctl.signal).then(
      (p) => setSt({ state: 'done', ...p }),
      (e) => (e as Error).name !== 'AbortError' && setSt({ state: 'error', message: errorText(e) }),
    );
    return () => ctl.abort();
  }, [service, name, durationNs]);
  if (st.state === 'loading') return <p class="muted small">Comparing with its peers…</p>;
  if (st.state === 'error') return <p class="error-text small" data-testid="peers-error">Peers: {st.message}</p>;
  if (st.total === 0) return <p class="muted small" data-testid="peers-none">No spans of {service} › {name} in the last hour.</p>;
  const href = encodeSearch({ ...emptySearch(), mode: 'traceql', q: st.slowerQuery, from: PEER_WINDOW });
  const p = Math.floor(st.percentile);
  return (
    <div class="peers" data-testid="peers" data-percentile={p} data-total={st.total} data-slower={st.slower}>
      <div class="peers-bar" title={`${p} % of the peers took at most as long`}>
        <div class="peers-fill" style={{ width: `${st.percentile}%` }} />
      </div>
      <p class="small">
        <strong data-testid="peers-percentile">p{p}</strong>: at least as slow as {st.total - st.slower} of the {st.total} spans of <span class="mono">{service}</span> › <span class="mono">{name}</span> in the last hour.{' '}
        {st.slower > 0 ? (
          <a href={href} data-testid="peers-slower" onClick={(e) => onLinkClick(e, href)}>
            The {st.slower} slower {st.slower === 1 ? 'one' : 'ones'} →
          </a>
        ) : (
          <span class="muted">None was slower.</span>
        )}
      </p>
      {st.quantiles.length > 0 && (
        <p class="muted small" data-testid="peers-quantiles">
          {st.quantiles.map((q) => `p${Math.round(Number(q.p) * 100)} ${fmtDuration(q.seconds * 1e9)}`).join(' · ')}
        </p>
      )}
    </div>
  );
}
