// TraceQL for the editor (tokens for highlighting, the context of the caret for
// autocompletion) and the query the search form builds.

import { eventConds, FAILED, flagCond } from './console';

export type TokenKind =
  | 'brace'
  | 'op'
  | 'string'
  | 'number'
  | 'duration'
  | 'keyword'
  | 'intrinsic'
  | 'scope'
  | 'attr'
  | 'func'
  | 'space'
  | 'error'
  | 'text';

export interface Token {
  kind: TokenKind;
  text: string;
  start: number;
}

export const INTRINSICS = [
  'name',
  'status',
  'statusMessage',
  'duration',
  'kind',
  'rootName',
  'rootServiceName',
  'traceDuration',
  'event:name',
  'event:timeSinceStart',
  'link:spanID',
  'link:traceID',
  'span:id',
  'span:parentID',
  'span:childCount',
  'trace:id',
  'trace:duration',
  'trace:rootName',
  'trace:rootService',
  'instrumentation:name',
  'instrumentation:version',
  'nestedSetLeft',
  'nestedSetRight',
  'nestedSetParent',
];
export const SCOPES = ['resource.', 'span.', '.', 'event.', 'link.', 'instrumentation.'];
const KEYWORDS = new Set([
  'true',
  'false',
  'nil',
  'error',
  'ok',
  'unset',
  'server',
  'client',
  'producer',
  'consumer',
  'internal',
  'unspecified',
]);
const FUNCS = new Set([
  'count',
  'avg',
  'min',
  'max',
  'sum',
  'by',
  'select',
  'coalesce',
  'rate',
  'count_over_time',
  'min_over_time',
  'max_over_time',
  'avg_over_time',
  'sum_over_time',
  'quantile_over_time',
  'histogram_over_time',
  'compare',
  'topk',
  'bottomk',
  'with',
]);
const SCOPE_RE = /^(resource|span|event|link|instrumentation)?\./;
const OPS = ['&&', '||', '!=', '=~', '!~', '>=', '<=', '>>', '<<', '!>>', '!<<', '!>', '!<', '!~', '=', '>', '<', '~', '!', '|', '+', '-', '*', '/', '%', '^', ','];

/** Splits a query into tokens for display; never fails (unknown text is `error`). */
export function tokenize(src: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  while (i < src.length) {
    const c = src[i]!;
    const start = i;
    if (/\s/.test(c)) {
      while (i < src.length && /\s/.test(src[i]!)) i++;
      out.push({ kind: 'space', text: src.slice(start, i), start });
    } else if (c === '"' || c === '`') {
      i++;
      while (i < src.length && src[i] !== c) i += src[i] === '\\' && c === '"' ? 2 : 1;
      i = Math.min(i + 1, src.length);
      out.push({ kind: 'string', text: src.slice(start, i), start });
    } else if (c === '{' || c === '}' || c === '(' || c === ')') {
      out.push({ kind: 'brace', text: c, start });
      i++;
    } else if (/[0-9]/.test(c) || (c === '-' && /[0-9]/.test(src[i + 1] ?? '') && !/[\w)"]/.test(prevNonSpace(src, i)))) {
      i++;
      while (i < src.length && /[0-9.]/.test(src[i]!)) i++;
      const unit = /^(ns|us|µs|ms|s|m|h|d)(?![\w.])/.exec(src.slice(i));
      if (unit) {
        i += unit[0].length;
        out.push({ kind: 'duration', text: src.slice(start, i), start });
      } else out.push({ kind: 'number', text: src.slice(start, i), start });
    } else if (/[A-Za-z_.:]/.test(c)) {
      i = identEnd(src, i);
      const text = src.slice(start, i);
      const scope = SCOPE_RE.exec(text);
      if (scope && text.length >= scope[0].length) {
        out.push({ kind: 'scope', text: scope[0], start });
        if (text.length > scope[0].length) out.push({ kind: 'attr', text: text.slice(scope[0].length), start: start + scope[0].length });
      } else if (INTRINSICS.includes(text)) out.push({ kind: 'intrinsic', text, start });
      else if (KEYWORDS.has(text)) out.push({ kind: 'keyword', text, start });
      else if (FUNCS.has(text)) out.push({ kind: 'func', text, start });
      else out.push({ kind: 'text', text, start });
    } else {
      const op = OPS.find((o) => src.startsWith(o, i));
      if (op) {
        out.push({ kind: 'op', text: op, start });
        i += op.length;
      } else {
        out.push({ kind: 'error', text: c, start });
        i++;
      }
    }
  }
  return out;
}

function prevNonSpace(src: string, i: number): string {
  for (let j = i - 1; j >= 0; j--) if (!/\s/.test(src[j]!)) return src[j]!;
  return '';
}

/** End of an identifier starting at i: letters, digits, `_ . : -`, and quoted parts (`span."a b"`). */
function identEnd(src: string, i: number): number {
  while (i < src.length) {
    const c = src[i]!;
    if (/[\w.:\-/]/.test(c)) i++;
    else if (c === '"' && src[i - 1] === '.') {
      i++;
      while (i < src.length && src[i] !== '"') i++;
      i++;
    } else break;
  }
  return Math.min(i, src.length);
}

/** What the caret is in, for autocompletion. */
export type Completion =
  | { type: 'field'; from: number; to: number; prefix: string }
  | { type: 'tag'; scope: string; from: number; to: number; prefix: string }
  | { type: 'value'; tag: string; from: number; to: number; prefix: string }
  | { type: 'none' };

export function completionAt(src: string, caret: number): Completion {
  const before = src.slice(0, caret);
  // Inside an unterminated string after `tag op "`.
  const valueStr = /([\w.:"-]+|[A-Za-z_:.]+)\s*(=|!=|=~|!~)\s*"([^"]*)$/.exec(before);
  if (valueStr) {
    const tag = valueStr[1]!;
    const from = caret - valueStr[3]!.length - 1;
    return { type: 'value', tag: normalizeTag(tag), from, to: endOfWord(src, caret, true), prefix: valueStr[3]! };
  }
  const value = /([A-Za-z_.:][\w.:"-]*)\s*(=|!=|>=|<=|>|<)\s*([\w.]*)$/.exec(before);
  if (value && !/^\d/.test(value[3] ?? '')) {
    const tag = value[1]!;
    if (isField(tag)) {
      const from = caret - value[3]!.length;
      return { type: 'value', tag: normalizeTag(tag), from, to: endOfWord(src, caret, false), prefix: value[3]! };
    }
  }
  const word = /([A-Za-z_.:][\w.:-]*)$/.exec(before);
  const prev = prevNonSpace(src, caret - (word?.[1]!.length ?? 0));
  const fieldPosition = prev === '{' || prev === '(' || prev === '&' || prev === '|' || prev === ',' || prev === '';
  if (word) {
    const text = word[1]!;
    const from = caret - text.length;
    const scope = SCOPE_RE.exec(text);
    if (scope) return { type: 'tag', scope: scope[0], from, to: endOfWord(src, caret, false), prefix: text.slice(scope[0].length) };
    if (fieldPosition) return { type: 'field', from, to: endOfWord(src, caret, false), prefix: text };
    return { type: 'none' };
  }
  if (fieldPosition && (prev === '{' || prev === '&' || prev === '|' || prev === '(') && insideBraces(before)) {
    return { type: 'field', from: caret, to: caret, prefix: '' };
  }
  return { type: 'none' };
}

function insideBraces(before: string): boolean {
  let depth = 0;
  for (const t of tokenize(before)) {
    if (t.text === '{') depth++;
    if (t.text === '}') depth--;
  }
  return depth > 0;
}

function endOfWord(src: string, caret: number, inString: boolean): number {
  let i = caret;
  if (inString) {
    while (i < src.length && src[i] !== '"') i++;
    return i < src.length ? i + 1 : i;
  }
  while (i < src.length && /[\w.:-]/.test(src[i]!)) i++;
  return i;
}

function isField(tag: string): boolean {
  return SCOPE_RE.test(tag) || INTRINSICS.includes(tag);
}

function normalizeTag(tag: string): string {
  return tag;
}

/** A value as a TraceQL literal of its type. */
export function literal(value: string, type?: string): string {
  const v = value.trim();
  if (type === 'string') return JSON.stringify(value);
  if (type === 'keyword' || type === 'int' || type === 'float' || type === 'bool' || type === 'duration') return v;
  if (/^".*"$/.test(v)) return v;
  if (/^-?\d+(\.\d+)?$/.test(v) || v === 'true' || v === 'false') return v;
  return JSON.stringify(value);
}

// --- The search form ----------------------------------------------------------------

export interface AttrCond {
  key: string;
  op: string;
  value: string;
}

export interface FormState {
  service: string;
  name: string;
  /** `failed`: status error, or `faas.error` / `faas.error_timeout` true (any shape). */
  status: '' | 'error' | 'ok' | 'unset' | 'failed';
  minDuration: string;
  maxDuration: string;
  attrs: AttrCond[];
  /** event types (console.ts EVENT_TYPES ids) and a substring of event messages */
  events?: string[];
  eventText?: string;
}

export const EMPTY_FORM: FormState = { service: '', name: '', status: '', minDuration: '', maxDuration: '', attrs: [] };

/** Flag attributes, compared as booleans or strings (see console.ts). */
const FLAGS = ['faas.coldstart', 'faas.error', 'faas.error_timeout'];

/** A form key as a TraceQL field: `http.route` → `.http.route`; scoped keys stay. */
export function fieldOf(key: string): string {
  const k = key.trim();
  if (SCOPE_RE.test(k) || INTRINSICS.includes(k)) return k;
  return /^[\w.:-]+$/.test(k) ? `.${k}` : `."${k.replace(/"/g, '\\"')}"`;
}

/** The TraceQL the form means: one spanset filter with every condition joined by `&&`. */
export function buildQuery(f: FormState): string {
  const conds: string[] = [];
  if (f.service) conds.push(`resource.service.name = ${JSON.stringify(f.service)}`);
  if (f.name) conds.push(`name = ${JSON.stringify(f.name)}`);
  if (f.status === 'failed') conds.push(FAILED);
  else if (f.status) conds.push(`status = ${f.status}`);
  if (f.minDuration.trim()) conds.push(`duration >= ${durationLiteral(f.minDuration)}`);
  if (f.maxDuration.trim()) conds.push(`duration <= ${durationLiteral(f.maxDuration)}`);
  for (const a of f.attrs) {
    // A condition counts once its key is a whole name (not `http.` being typed) and it has
    // a value: never `.http. = ""`.
    if (!complete(a)) continue;
    const op = a.op || '=';
    const v = op === '=~' || op === '!~' ? JSON.stringify(a.value) : literal(a.value);
    // A flag is true as a boolean or as Serverless Console's "true".
    if (op === '=' && FLAGS.includes(a.key.trim()) && (v === 'true' || v === 'false')) conds.push(flagCond(a.key.trim(), v === 'true'));
    else conds.push(`${fieldOf(a.key)} ${op} ${v}`);
  }
  conds.push(...eventConds(f.events ?? [], f.eventText ?? ''));
  return conds.length ? `{ ${conds.join(' && ')} }` : '{ }';
}

/** Whether an attribute condition of the form is finished enough to search by. */
export function complete(a: AttrCond): boolean {
  const k = a.key.trim();
  if (!k || k.endsWith('.') || k.endsWith(':') || /\.\./.test(k)) return false;
  return a.value.trim() !== '';
}

function durationLiteral(s: string): string {
  const t = s.trim();
  return /^\d+(\.\d+)?$/.test(t) ? `${t}ms` : t;
}
