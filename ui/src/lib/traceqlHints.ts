// Hints for a TraceQL query the server refused.

/** Words TraceQL reads as values without quotes: statuses, kinds, booleans, nil. */
const KEYWORDS = new Set(['true', 'false', 'nil', 'error', 'ok', 'unset', 'unspecified', 'internal', 'server', 'client', 'producer', 'consumer']);
const INTRINSIC = /^(span|resource|event|link|instrumentation|trace|parent)?[:.]?(name|status|kind|duration|statusMessage|rootName|rootServiceName|traceDuration|id|nestedSetParent|nestedSetLeft|nestedSetRight)$/;

/**
 * Bare words compared as values (`= checkout`, `!= "x" && .a =~ foo`): the offsets of each
 * in the query. Fields (`.a`, `span.a`, intrinsics), numbers, durations and keywords are not.
 */
export function unquotedValues(query: string): { start: number; end: number }[] {
  const out: { start: number; end: number }[] = [];
  // Skip over string literals so that text inside quotes is never taken for a value.
  const re = /"(?:[^"\\]|\\.)*"|(=~|!~|!=|>=|<=|=|>|<)(\s*)([A-Za-z_][\w-]*(?:\/[\w./-]*)?)(?![\w.:])/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(query)) !== null) {
    if (!m[1]) continue;
    const word = m[3]!;
    if (KEYWORDS.has(word) || INTRINSIC.test(word)) continue;
    const start = m.index + m[1].length + m[2]!.length;
    out.push({ start, end: start + word.length });
  }
  return out;
}
