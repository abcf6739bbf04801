// One trace from the API, parsed into the trace model and its tree (for pages that need
// no timing marks: the comparison).

import { fetchTraceText, type TraceResponse } from './api';
import { parseTrace, type Trace } from './otlp';
import { buildTree, type Tree } from './tree';

export const TRACE_ID_RE = /^[0-9a-fA-F]{1,32}$/;

export interface LoadedTrace {
  trace: Trace;
  tree: Tree;
  partial: string | null;
}

export async function loadTrace(id: string, signal?: AbortSignal): Promise<LoadedTrace> {
  if (!TRACE_ID_RE.test(id)) throw new Error(`"${id}" is not a trace ID: a trace ID is 1 to 32 hexadecimal digits`);
  const body = JSON.parse(await fetchTraceText(id, signal)) as TraceResponse;
  const trace = parseTrace(id.toLowerCase().padStart(32, '0'), body.trace ?? { resourceSpans: [] });
  const partial = body.status === 'PARTIAL' ? body.message || 'the server returned part of this trace' : null;
  return { trace, tree: buildTree(trace), partial };
}
