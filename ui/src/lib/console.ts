// Flags read in every shape the data may hold them: OpenTelemetry's booleans and
// Serverless Console's strings ("true"). The same conditions the server's views use
// (crates/arbor-server/src/views/filters.rs).

/** A flag attribute equal to `on`, as a boolean or as a string. */
export function flagCond(key: string, on = true): string {
  return `(.${key} = ${on} || .${key} = "${on}")`;
}

/** Failed spans: status error, or `faas.error` / `faas.error_timeout` true. */
export const FAILED = '(status = error || .faas.error = true || .faas.error = "true" || .faas.error_timeout = true || .faas.error_timeout = "true")';

/** Cold starts. */
export const COLD = flagCond('faas.coldstart');

/**
 * The Console's event types, as span events: OpenTelemetry's `exception` events (uncaught
 * when `exception.escaped` is true) and the Serverless SDK's
 * `telemetry.error.generated.v1` (`error.type`: 1 uncaught, 2 caught, 3 and 4 the SDK's)
 * and `telemetry.warning.generated.v1` (`warning.type`: 1 yours, 2 and 3 the SDK's).
 */
const ERROR_EVENT = 'event:name = "telemetry.error.generated.v1"';
const WARNING_EVENT = 'event:name = "telemetry.warning.generated.v1"';
const typeIs = (key: string, codes: number[]) => `(${codes.flatMap((c) => [`event.${key} = ${c}`, `event.${key} = "${c}"`]).join(' || ')})`;

export const EVENT_TYPES: { id: string; label: string; cond: string }[] = [
  { id: 'uncaught', label: 'Uncaught error', cond: `((event:name = "exception" && event.exception.escaped = true) || (${ERROR_EVENT} && ${typeIs('error.type', [1])}))` },
  { id: 'caught', label: 'Caught error', cond: `((event:name = "exception" && !(event.exception.escaped = true)) || (${ERROR_EVENT} && ${typeIs('error.type', [2])}))` },
  { id: 'warning', label: 'Warning', cond: `(${WARNING_EVENT} && ${typeIs('warning.type', [1])})` },
  { id: 'sdk-error', label: 'SDK error', cond: `(${ERROR_EVENT} && ${typeIs('error.type', [3, 4])})` },
  { id: 'sdk-warning', label: 'SDK warning', cond: `(${WARNING_EVENT} && ${typeIs('warning.type', [2, 3])})` },
];

/** The keys an event's message is in. */
const MESSAGE_KEYS = ['exception.message', 'error.message', 'warning.message'];

/** A regular expression matching `text` literally anywhere. */
function containsRegex(text: string): string {
  return `.*${text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}.*`;
}

/** Spans with an event of any of `types` (by id) and whose event message contains `text`. */
export function eventConds(types: string[], text: string): string[] {
  const out: string[] = [];
  const picked = EVENT_TYPES.filter((t) => types.includes(t.id));
  if (picked.length) out.push(picked.length === 1 ? picked[0]!.cond : `(${picked.map((t) => t.cond).join(' || ')})`);
  if (text.trim()) out.push(`(${MESSAGE_KEYS.map((k) => `event.${k} =~ ${JSON.stringify(containsRegex(text.trim()))}`).join(' || ')})`);
  return out;
}
