// Find in trace: the text typed is a list of terms, all of which a span must match.
//
//   error, errors            the span's status is error
//   status=error|ok|unset    its status
//   kind=server|client|…     its kind
//   service=<text>           its service (exact, else a part of it)
//   name=<text>              its name contains it
//   duration>100ms, dur<=2s  its duration (>, >=, <, <=, =)
//   key=value                an attribute of the span or its resource (text match, as before)
//   anything else            text in the name, service, span ID, event names, status
//                            message, attribute keys and values
//
// A term may be quoted ("GET /shop") to keep its spaces.

import { KIND_NAMES, STATUS_NAMES, valueText, type Trace } from './otlp';
import { parseDuration } from './time';

export type Term =
  | { t: 'status'; code: number }
  | { t: 'kind'; kind: number }
  | { t: 'service'; text: string }
  | { t: 'name'; text: string }
  | { t: 'duration'; op: '>' | '>=' | '<' | '<=' | '='; ns: number }
  | { t: 'text'; text: string };

/** Splits on spaces, keeping quoted parts together (the quotes are dropped). */
function words(q: string): string[] {
  const out: string[] = [];
  const re = /(?:[^\s"]+|"[^"]*"?)+/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(q)) !== null) out.push(m[0].replace(/"/g, ''));
  return out.filter((w) => w !== '');
}

export function parseFind(q: string): Term[] {
  const out: Term[] = [];
  for (const w of words(q)) {
    const lw = w.toLowerCase();
    if (lw === 'error' || lw === 'errors') {
      out.push({ t: 'status', code: 2 });
      continue;
    }
    const dur = /^(?:duration|dur)\s*(>=|<=|>|<|=)\s*(.+)$/i.exec(w);
    if (dur) {
      const ns = parseDuration(dur[2]!);
      if (ns !== null) {
        out.push({ t: 'duration', op: dur[1] as '>' | '>=' | '<' | '<=' | '=', ns });
        continue;
      }
    }
    const kv = /^(status|kind|service|name)\s*=\s*(.*)$/i.exec(w);
    if (kv) {
      const key = kv[1]!.toLowerCase();
      const v = kv[2]!.toLowerCase();
      if (key === 'status' && STATUS_NAMES.includes(v)) {
        out.push({ t: 'status', code: STATUS_NAMES.indexOf(v) });
        continue;
      }
      if (key === 'kind' && KIND_NAMES.includes(v)) {
        out.push({ t: 'kind', kind: KIND_NAMES.indexOf(v) });
        continue;
      }
      if (key === 'service') {
        out.push({ t: 'service', text: v });
        continue;
      }
      if (key === 'name') {
        out.push({ t: 'name', text: v });
        continue;
      }
    }
    out.push({ t: 'text', text: lw });
  }
  return out;
}

/** The lower-cased text of each span that text terms search. */
export function spanTexts(trace: Trace): string[] {
  return trace.spans.map((s) => {
    let t = `${s.name}\n${trace.services[s.service]}\n${s.spanId}\n${s.statusMessage}`;
    for (const a of s.attributes) t += `\n${a.key}=${valueText(a.value)}`;
    for (const a of trace.resources[s.resource]!.attributes) t += `\n${a.key}=${valueText(a.value)}`;
    for (const e of s.events) t += `\n${e.name}`;
    return t.toLowerCase();
  });
}

/** Whether span i matches every term. */
export function matches(trace: Trace, texts: string[], i: number, terms: Term[]): boolean {
  const s = trace.spans[i]!;
  for (const term of terms) {
    switch (term.t) {
      case 'status':
        if (s.statusCode !== term.code) return false;
        break;
      case 'kind':
        if (s.kind !== term.kind) return false;
        break;
      case 'service': {
        const svc = trace.services[s.service]!.toLowerCase();
        if (svc !== term.text && !svc.includes(term.text)) return false;
        break;
      }
      case 'name':
        if (!s.name.toLowerCase().includes(term.text)) return false;
        break;
      case 'duration': {
        const d = s.end - s.start;
        const ok = term.op === '>' ? d > term.ns : term.op === '>=' ? d >= term.ns : term.op === '<' ? d < term.ns : term.op === '<=' ? d <= term.ns : d === term.ns;
        if (!ok) return false;
        break;
      }
      case 'text':
        if (!texts[i]!.includes(term.text)) return false;
        break;
    }
  }
  return true;
}

/** The find text with `term` set: a term of the same field is replaced, `''` removes it. */
export function withTerm(q: string, field: string, term: string): string {
  const re = new RegExp(`^(${field})\\s*(=|>=|<=|>|<)`, 'i');
  const kept = words(q).filter((w) => !re.test(w) && !(field === 'status' && /^errors?$/i.test(w)));
  const quoted = kept.map((w) => (/\s/.test(w) ? `"${w}"` : w));
  if (term) quoted.push(term);
  return quoted.join(' ');
}
