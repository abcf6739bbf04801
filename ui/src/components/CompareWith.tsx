// "Compare with…" on the trace page: another trace's ID opens the comparison of the two.

import { useState } from 'preact/hooks';
import { navigate } from '../lib/router';

export function CompareWith({ traceId }: { traceId: string }) {
  const [other, setOther] = useState('');
  const [bad, setBad] = useState(false);
  return (
    <form
      class="compare-with"
      onSubmit={(e) => {
        e.preventDefault();
        const id = other.trim().toLowerCase();
        if (!/^[0-9a-f]{1,32}$/.test(id)) {
          setBad(true);
          return;
        }
        navigate(`/trace/${traceId}/compare/${id}`);
      }}
    >
      <input
        aria-label="Compare with trace ID"
        placeholder="Compare with trace ID…"
        data-testid="compare-input"
        value={other}
        spellcheck={false}
        aria-invalid={bad}
        title={bad ? 'a trace ID is 1 to 32 hexadecimal digits' : 'Another trace to compare this one with, span by span'}
        onInput={(e) => {
          setOther(e.currentTarget.value);
          setBad(false);
        }}
      />
      <button class="button subtle" data-testid="compare-go" type="submit">
        Compare
      </button>
    </form>
  );
}
