// After a failed TraceQL search: when the query compares a field with a bare word
// (`resource.service.name = checkout`), says that text values are quoted, marks the word
// in the query and offers the quoted query.

import { unquotedValues } from '../lib/traceqlHints';

export function QuoteHint({ query, onFix }: { query: string; onFix: (fixed: string) => void }) {
  const spots = unquotedValues(query);
  if (spots.length === 0) return null;
  let fixed = '';
  let at = 0;
  const marked = [];
  for (const s of spots) {
    marked.push(query.slice(at, s.start), <mark data-testid="unquoted-value">{query.slice(s.start, s.end)}</mark>);
    fixed += `${query.slice(at, s.start)}"${query.slice(s.start, s.end)}"`;
    at = s.end;
  }
  marked.push(query.slice(at));
  fixed += query.slice(at);
  const first = query.slice(spots[0]!.start, spots[0]!.end);
  return (
    <div class="quote-hint" data-testid="quote-hint">
      <p>
        Text values are quoted in TraceQL: <code>{first}</code> reads as a name, not a value. Did you mean <code>"{first}"</code>?
      </p>
      <pre class="query-marked">{marked}</pre>
      <button class="button" data-testid="use-quoted" onClick={() => onFix(fixed)}>
        Search <code>{fixed}</code>
      </button>
    </div>
  );
}
