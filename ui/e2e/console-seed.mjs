// Serverless Console's traces as the Console documents them: every tag a string, the same
// tags on the trace's root and on each child span (the data of
// crates/arbor/tests/console.rs): `my-lambda` (service my-app) five invocations, two cold
// and fine (200), three failing (500); `my-worker` (service my-worker) a timeout and a
// success. Sent as raw OTLP/JSON requests, one per service. The browser tests' data adds,
// on each root span, a request ID and the arch, and three events: an uncaught error on
// my-lambda's third invocation, a caught one on its fourth, a warning on my-worker's second.

export const LAMBDA = [0xa0, 0xa1, 0xa2, 0xa3, 0xa4].map((n) => n.toString(16).repeat(16));
export const WORKER = [0xb0, 0xb1].map((n) => n.toString(16).repeat(16));

function tags(fn, namespace, error, cold, status) {
  return {
    'service.namespace': namespace,
    'faas.name': fn,
    'cloud.region': 'us-east1',
    'cloud.provider': 'aws',
    'cloud.platform': 'lambda',
    'deployment.environment': 'prod',
    'faas.error_timeout': 'false',
    'faas.coldstart': String(cold),
    'faas.error': String(error),
    'faas.error_exception_message': 'object expected',
    'faas.max_memory': '1024',
    'faas.event_type': 'http',
    'http.path': '/user/create',
    'http.method': 'POST',
    'http.status_code': String(status),
    'http.domain': 'my-app.com',
  };
}

const attrs = (t) => Object.entries(t).map(([key, v]) => ({ key, value: { stringValue: v } }));

function request(service, invocations, t0Ms) {
  const spans = [];
  invocations.forEach((inv, n) => {
    const start = BigInt(t0Ms + n * 1000) * 1_000_000n;
    const end = start + BigInt(inv.spanMs) * 1_000_000n;
    const id = (k) => `${inv.trace.slice(0, 14)}${String(k).padStart(2, '0')}`;
    const span = (k, parent, kind, name, from, to) => ({
      traceId: inv.trace,
      spanId: id(k),
      parentSpanId: parent ? id(parent) : '',
      name,
      kind,
      startTimeUnixNano: String(from),
      endTimeUnixNano: String(to),
      attributes: attrs(inv.tags),
    });
    const root = span(1, 0, 2, 'my-lambda', start, end);
    root.attributes.push(...attrs({ 'aws.lambda.request_id': `req-${inv.trace.slice(0, 4)}`, 'aws.lambda.arch': 'x86_64' }));
    if (inv.event) root.events = [{ timeUnixNano: String(start + 1_000_000n), name: inv.event.name, attributes: attrs(inv.event.attrs) }];
    spans.push(root);
    spans.push(span(2, 1, 1, 'handler', start + 1_000_000n, end - 1_000_000n));
    spans.push(span(3, 2, 3, 'aws.sdk.dynamodb.putitem', start + 2_000_000n, start + 5_000_000n));
  });
  return {
    resourceSpans: [
      {
        resource: { attributes: [{ key: 'service.name', value: { stringValue: service } }] },
        scopeSpans: [{ scope: { name: 'serverless-sdk' }, spans }],
      },
    ],
  };
}

/** The two requests, their invocations starting at `t0Ms`. */
export function consoleRequests(t0Ms) {
  const lambda = LAMBDA.map((trace, k) => {
    const ok = k < 2;
    const run = 100 * (k + 1);
    const event =
      k === 2
        ? { name: 'telemetry.error.generated.v1', attrs: { 'error.type': '1', 'error.name': 'TypeError', 'error.message': 'object expected' } }
        : k === 3
          ? { name: 'telemetry.error.generated.v1', attrs: { 'error.type': '2', 'error.name': 'Error', 'error.message': 'caught: retrying the write' } }
          : undefined;
    return {
      trace,
      event,
      spanMs: run + 700,
      tags: { ...tags('my-lambda', 'my-app', !ok, ok, ok ? 200 : 500), 'faas.duration': String(run), 'faas.billed_duration': String(run + 50), 'faas.max_memory_used_mb': String(128 * (k + 1)) },
    };
  });
  const worker = [
    { trace: WORKER[0], spanMs: 3000, tags: { ...tags('my-worker', 'jobs', false, false, 504), 'faas.error_timeout': 'true', 'faas.max_memory': '536870912', 'faas.event_type': 'aws.sqs', 'faas.memory_pct': '25' } },
    { trace: WORKER[1], spanMs: 1000, event: { name: 'telemetry.warning.generated.v1', attrs: { 'warning.type': '1', 'warning.message': 'slow downstream queue' } }, tags: { ...tags('my-worker', 'jobs', false, false, 200), 'faas.max_memory': '536870912', 'faas.event_type': 'aws.sqs' } },
  ];
  return [request('my-app', lambda, t0Ms), request('my-worker', worker, t0Ms + 10_000)];
}

/** Sends the requests over OTLP/HTTP JSON. */
export async function sendConsole(otlpHttp, t0Ms, tenant = null) {
  for (const body of consoleRequests(t0Ms)) {
    const res = await fetch(`http://${otlpHttp}/v1/traces`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(tenant === null ? {} : { 'X-Scope-OrgID': tenant }) },
      body: JSON.stringify(body),
    });
    if (res.status !== 200) throw new Error(`OTLP export answered ${res.status}: ${await res.text()}`);
  }
}
