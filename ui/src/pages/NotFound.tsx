// The page of a path the UI has no page for.

import { useEffect } from 'preact/hooks';
import { onLinkClick } from '../lib/router';

export function NotFound({ path }: { path: string }) {
  useEffect(() => {
    document.title = 'Page not found · Arbor';
  }, [path]);
  return (
    <main class="page">
      <div class="message error not-found" role="alert" data-testid="not-found">
        <strong>Page not found</strong>
        <p>
          Nothing lives at <code>{path}</code>. The pages are{' '}
          {[
            ['/search', 'Search'],
            ['/map', 'Service map'],
            ['/services', 'Services'],
            ['/serverless', 'Serverless'],
            ['/views', 'Views'],
            ['/tail', 'Live tail'],
            ['/alerts', 'Alerts'],
          ].map(([href, label], k) => (
            <>
              {k > 0 && ', '}
              <a href={href} onClick={(e) => onLinkClick(e, href!)}>
                {label}
              </a>
            </>
          ))}
          ; a trace is at <code>/trace/&lt;trace ID&gt;</code>.
        </p>
      </div>
    </main>
  );
}
