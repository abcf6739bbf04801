// A function span's facts for the span details' *Function* section, in either tag format
// (OpenTelemetry's or Serverless Console's, see docs/api.md "Serverless tag formats"):
// looked up on the span, then on its resource.

import type { KeyValue } from './api';
import { stringAttr } from './otlp';

/** Memory sizes above this are bytes, others MB (as the server reads them). */
const MEMORY_MB_LIMIT = 65_536;

function mb(v: string | undefined): number | null {
  if (v === undefined || v.trim() === '') return null;
  const n = Number(v);
  if (!Number.isFinite(n)) return null;
  return n > MEMORY_MB_LIMIT ? n / (1024 * 1024) : n;
}

export interface FunctionFact {
  label: string;
  value: string;
  testid: string;
}

/** The facts, or null when the span is not a function's (no `faas.*` attribute). */
export function functionFacts(span: KeyValue[], resource: KeyValue[]): FunctionFact[] | null {
  if (![...span, ...resource].some((a) => a.key.startsWith('faas.'))) return null;
  const get = (...keys: string[]) => {
    for (const k of keys) {
      const v = stringAttr(span, k) ?? stringAttr(resource, k);
      if (v !== undefined && v !== '') return v;
    }
    return undefined;
  };
  const out: FunctionFact[] = [];
  const add = (label: string, testid: string, value: string | undefined) => {
    if (value !== undefined) out.push({ label, value, testid });
  };
  const cold = get('faas.coldstart');
  add('Cold start', 'fn-coldstart', cold === undefined ? undefined : cold.trim().toLowerCase() === 'true' || cold === '1' ? 'yes' : 'no');
  add('Request ID', 'fn-request-id', get('faas.invocation_id', 'faas.execution', 'aws.lambda.request_id', 'aws.request_id'));
  add('Arch', 'fn-arch', get('faas.arch', 'host.arch', 'aws.lambda.arch'));
  const used = mb(get('faas.max_memory_used_mb')) ?? mb(get('faas.memory_used'));
  const max = mb(get('faas.max_memory'));
  const pct = get('faas.memory_pct');
  if (used !== null) add('Memory used', 'fn-memory', `${Math.round(used)} MB${max !== null ? ` of ${Math.round(max)} MB` : ''}`);
  else if (pct !== undefined) add('Memory used', 'fn-memory', `${pct}%${max !== null ? ` of ${Math.round(max)} MB` : ''}`);
  else if (max !== null) add('Memory', 'fn-memory', `${Math.round(max)} MB configured`);
  const billed = get('faas.billed_duration');
  add('Billed', 'fn-billed', billed === undefined ? undefined : `${billed} ms`);
  const reported = get('faas.duration');
  add('Duration (reported)', 'fn-duration', reported === undefined ? undefined : `${reported} ms`);
  return out.length ? out : null;
}
