// End-to-end: the real OpenTelemetry JS SDK exports over OTLP/HTTP JSON to a
// running arbor, and every span comes back by trace ID with every field intact.
//
// The binary comes from $ARBOR_BIN (default: <repo>/target/debug/arbor). The
// truth is what the SDK itself recorded: an InMemorySpanExporter sits next to
// the OTLP exporter on the same provider.
//
// Run: node --test tests/node/*.test.mjs

import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, openSync, readFileSync, closeSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';

import { ROOT_CONTEXT, SpanKind, SpanStatusCode, TraceFlags, createTraceState, trace } from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { JsonTraceSerializer } from '@opentelemetry/otlp-transformer';
import { defaultResource, resourceFromAttributes } from '@opentelemetry/resources';
import {
  BatchSpanProcessor,
  InMemorySpanExporter,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import { ATTR_SERVICE_NAME } from '@opentelemetry/semantic-conventions';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const START_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 30_000;
const SCOPE_NAME = 'arbor.e2e.node';
const SCOPE_VERSION = '4.5.6';
const SCOPE_SCHEMA = 'https://opentelemetry.io/schemas/1.26.0';
const RESOURCE_SCHEMA = 'https://opentelemetry.io/schemas/1.25.0';

// The exporter falls back to OTEL_* variables for anything left out; the test
// passes everything explicitly and must not pick up the caller's setup.
for (const key of Object.keys(process.env)) {
  if (key.startsWith('OTEL_')) delete process.env[key];
}

function arborBinary() {
  const raw = process.env.ARBOR_BIN;
  if (!raw) return path.join(REPO, 'target', 'debug', 'arbor');
  if (path.isAbsolute(raw) || existsSync(raw)) return path.resolve(raw);
  return path.join(REPO, raw);
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Starts the real binary on port 0 everywhere and waits for its listen file. */
async function startArbor() {
  const binary = arborBinary();
  assert.ok(existsSync(binary), `arbor binary not found at ${binary} (cargo build -p arbor, or set ARBOR_BIN)`);
  const dir = mkdtempSync(path.join(tmpdir(), 'arbor-node-'));
  const listenFile = path.join(dir, 'listen.json');
  const logPath = path.join(dir, 'arbor.log');
  const logFd = openSync(logPath, 'a');
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('ARBOR_')));
  env.ARBOR_LOG_LEVEL = process.env.ARBOR_TEST_LOG ?? 'info';
  env.NO_COLOR = '1';
  const child = spawn(
    binary,
    [
      'serve',
      '--data-dir', path.join(dir, 'data'),
      '--http-listen', '127.0.0.1:0',
      '--otlp-grpc-listen', '127.0.0.1:0',
      '--otlp-http-listen', '127.0.0.1:0',
      '--zipkin-listen', '127.0.0.1:0',
      '--jaeger-listen', '127.0.0.1:0',
      '--listen-file', listenFile,
    ],
    { stdio: ['ignore', 'ignore', logFd], env },
  );
  closeSync(logFd);
  let exit = null;
  child.on('exit', (code, signal) => {
    exit = { code, signal };
  });
  const log = () => {
    try {
      return readFileSync(logPath, 'utf8');
    } catch {
      return '';
    }
  };

  const deadline = Date.now() + START_TIMEOUT_MS;
  for (;;) {
    try {
      const addrs = JSON.parse(readFileSync(listenFile, 'utf8'));
      return { ...addrs, child, dir, log, exited: () => exit };
    } catch {
      // not written yet
    }
    if (exit !== null) {
      throw new Error(`arbor exited during start (${JSON.stringify(exit)}); log:\n${log()}`);
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`arbor did not write ${listenFile} within ${START_TIMEOUT_MS / 1000}s; log:\n${log()}`);
    }
    await sleep(20);
  }
}

/** SIGTERM, then SIGKILL after a grace period; resolves to the exit status. */
async function stopArbor(server) {
  if (server.exited() === null) {
    const exited = once(server.child, 'exit');
    server.child.kill('SIGTERM');
    const timer = setTimeout(() => server.child.kill('SIGKILL'), STOP_TIMEOUT_MS);
    await exited;
    clearTimeout(timer);
  }
  return server.exited();
}

/** Delegates to the OTLP exporter and remembers every result, so that a failed
 * export shows up as such and not as a missing trace. */
class RecordingExporter {
  constructor(inner) {
    this.inner = inner;
    this.results = [];
  }
  export(spans, resultCallback) {
    this.inner.export(spans, (result) => {
      this.results.push(result);
      resultCallback(result);
    });
  }
  forceFlush() {
    return this.inner.forceFlush();
  }
  shutdown() {
    return this.inner.shutdown();
  }
}

// Attributes of every type the API allows, including values that proto3 JSON
// encoders like to drop (0, "", false). JS numbers: integral ones go out as
// intValue, the others as doubleValue.
const ALL_TYPES = {
  str: 'hello, arbor',
  'str.empty': '',
  'str.unicode': 'naïve ☃ 日本',
  int: 42,
  'int.zero': 0,
  'int.negative': -7,
  'int.max_safe': Number.MAX_SAFE_INTEGER,
  float: 3.14159,
  'float.negative': -0.5,
  'float.tiny': 1e-300,
  'bool.true': true,
  'bool.false': false,
  'array.str': ['a', 'b', ''],
  'array.int': [1, -2, 0],
  'array.float': [1.5, -2.25, 0.1],
  'array.bool': [true, false, true],
};

/** Records one trace of several spans with the given tracer; returns its trace ID. */
function emitTrace(tracer, label) {
  const child = (parent) => trace.setSpan(ROOT_CONTEXT, parent);
  const linked = {
    traceId: 'c0ffee00000000000000000000000001',
    spanId: 'beef000000000001',
    traceFlags: TraceFlags.SAMPLED,
    isRemote: true,
    traceState: createTraceState('vendor=v1,other=x'),
  };

  const root = tracer.startSpan(`GET /checkout ${label}`, { kind: SpanKind.SERVER, attributes: ALL_TYPES });
  root.addEvent('request.received', { bytes: 1234, path: '/checkout', ratio: 0.25, cached: false, tags: ['x', 'y'] });
  root.addEvent('no.attributes');

  const client = tracer.startSpan(
    'POST /payments',
    { kind: SpanKind.CLIENT, links: [{ context: linked, attributes: { 'link.reason': 'retry-of', 'link.attempt': 2 } }] },
    child(root),
  );
  client.setAttribute('http.request.method', 'POST');
  client.setAttribute('http.response.status_code', 502);
  client.setStatus({ code: SpanStatusCode.ERROR, message: 'payment gateway returned 502' });

  const internal = tracer.startSpan('validate card', { kind: SpanKind.INTERNAL }, child(client));
  internal.setAttribute('card.checks', ['luhn', 'expiry']);
  internal.recordException(new RangeError('card number fails the Luhn check'));
  internal.setStatus({ code: SpanStatusCode.ERROR, message: 'invalid card' });
  internal.end();
  client.end();

  const producer = tracer.startSpan('orders publish', { kind: SpanKind.PRODUCER }, child(root));
  producer.setAttribute('messaging.system', 'kafka');
  producer.end();
  const consumer = tracer.startSpan('orders process', { kind: SpanKind.CONSUMER }, child(producer));
  consumer.setStatus({ code: SpanStatusCode.OK });
  consumer.end();

  root.setStatus({ code: SpanStatusCode.OK });
  root.end();
  return root.spanContext().traceId;
}

// --- What the query API should answer, computed from the SDK's own records ---

function anyValue(v) {
  if (typeof v === 'boolean') return { boolValue: v };
  if (typeof v === 'number') return Number.isInteger(v) ? { intValue: String(v) } : { doubleValue: v };
  if (typeof v === 'string') return { stringValue: v };
  if (Array.isArray(v)) return { arrayValue: { values: v.map(anyValue) } };
  throw new TypeError(`unexpected attribute value ${v}`);
}

const keyValues = (attrs) => Object.entries(attrs ?? {}).map(([key, value]) => ({ key, value: anyValue(value) }));
const nanos = (hr) => (BigInt(hr[0]) * 1_000_000_000n + BigInt(hr[1])).toString();
const attrsByKey = (kvs) => Object.fromEntries((kvs ?? []).map((kv) => [kv.key, kv.value]));

/** spanId -> { resource, scope, span } across every batch. */
function flatten(batches) {
  const out = new Map();
  for (const rs of batches) {
    const { scopeSpans = [], ...resource } = rs;
    for (const ss of scopeSpans) {
      const { spans = [], ...scope } = ss;
      for (const span of spans) {
        assert.ok(!out.has(span.spanId), `span ${span.spanId} returned twice`);
        out.set(span.spanId, { resource, scope, span });
      }
    }
  }
  return out;
}

/** OTLP/JSON with proto3 defaults left out and 64-bit integers as strings, so
 * that the exporter's JSON and the server's compare field for field. */
function canonical(value, key = '') {
  if (Array.isArray(value)) return value.map((v) => canonical(v));
  if (value !== null && typeof value === 'object') {
    const out = {};
    for (const [k, v] of Object.entries(value)) {
      const c = canonical(v, k);
      if (c === undefined || c === null) continue;
      if (Array.isArray(c) && c.length === 0 && k !== 'values') continue;
      if (c === '' && k !== 'stringValue') continue;
      if (c === 0 && k !== 'doubleValue') continue;
      if (k === 'status' && Object.keys(c).length === 0) continue;
      out[k] = c;
    }
    return out;
  }
  if (['intValue', 'startTimeUnixNano', 'endTimeUnixNano', 'timeUnixNano'].includes(key)) return String(value);
  return value;
}

function sdkEncoding(spans) {
  const request = JSON.parse(new TextDecoder().decode(JsonTraceSerializer.serializeRequest(spans)));
  for (const rs of request.resourceSpans) {
    // The exporter also writes schemaUrl inside `resource`, where OTLP has no such
    // field (it belongs to ResourceSpans, where it is written too); a receiver ignores it.
    delete rs.resource?.schemaUrl;
  }
  return flatten(canonical(request).resourceSpans);
}

function checkTrace(batches, sdkSpans) {
  const got = flatten(batches);
  assert.equal(got.size, sdkSpans.length, `span count: got ${[...got.keys()]}`);

  for (const sdk of sdkSpans) {
    const ctx = sdk.spanContext();
    const what = `span ${JSON.stringify(sdk.name)}`;
    assert.ok(got.has(ctx.spanId), `${what} (${ctx.spanId}) missing`);
    const { resource: res, scope, span } = got.get(ctx.spanId);

    assert.equal(span.traceId, ctx.traceId, what);
    assert.equal(span.name, sdk.name, what);
    assert.equal(span.kind, sdk.kind + 1, `${what}: kind`);
    if (sdk.parentSpanContext) {
      assert.equal(span.parentSpanId, sdk.parentSpanContext.spanId, `${what}: parent`);
    } else {
      assert.ok(!span.parentSpanId, `${what}: root has no parent`);
    }
    assert.equal(span.startTimeUnixNano, nanos(sdk.startTime), `${what}: start`);
    assert.equal(span.endTimeUnixNano, nanos(sdk.endTime), `${what}: end`);
    assert.deepEqual(span.attributes ?? [], keyValues(sdk.attributes), `${what}: attributes`);

    const wantEvents = sdk.events.map((e) => ({
      timeUnixNano: nanos(e.time),
      name: e.name,
      ...(e.attributes && Object.keys(e.attributes).length ? { attributes: keyValues(e.attributes) } : {}),
    }));
    assert.deepEqual(span.events ?? [], wantEvents, `${what}: events`);

    const wantLinks = sdk.links.map((l) => ({
      traceId: l.context.traceId,
      spanId: l.context.spanId,
      ...(l.context.traceState ? { traceState: l.context.traceState.serialize() } : {}),
      ...(l.attributes ? { attributes: keyValues(l.attributes) } : {}),
      // W3C trace flags, SPAN_FLAGS_CONTEXT_HAS_IS_REMOTE (0x100), IS_REMOTE (0x200).
      flags: (l.context.traceFlags & 0xff) | 0x100 | (l.context.isRemote ? 0x200 : 0),
    }));
    assert.deepEqual(span.links ?? [], wantLinks, `${what}: links`);

    const wantStatus = {};
    if (sdk.status.code !== SpanStatusCode.UNSET) wantStatus.code = sdk.status.code;
    if (sdk.status.message) wantStatus.message = sdk.status.message;
    assert.deepEqual(span.status ?? {}, wantStatus, `${what}: status`);

    assert.deepEqual(
      attrsByKey(res.resource?.attributes),
      Object.fromEntries(Object.entries(sdk.resource.attributes).map(([k, v]) => [k, anyValue(v)])),
      `${what}: resource attributes`,
    );
    assert.equal(res.schemaUrl, RESOURCE_SCHEMA, `${what}: resource schema URL`);
    assert.equal(scope.scope?.name, sdk.instrumentationScope.name, `${what}: scope name`);
    assert.equal(scope.scope?.name, SCOPE_NAME, `${what}: scope name`);
    assert.equal(scope.scope?.version, SCOPE_VERSION, `${what}: scope version`);
    assert.equal(scope.schemaUrl, SCOPE_SCHEMA, `${what}: scope schema URL`);
  }

  // And field for field what the exporter itself serialises (flags, trace state, everything).
  const want = sdkEncoding(sdkSpans);
  const have = new Map([...got].map(([id, v]) => [id, canonical(v)]));
  assert.deepEqual(have, want);
}

async function getJson(server, p) {
  const res = await fetch(`http://${server.http}${p}`, { headers: { Accept: 'application/json' } });
  const text = await res.text();
  let body = text;
  try {
    body = JSON.parse(text);
  } catch {
    // leave as text
  }
  return { status: res.status, body };
}

describe('OpenTelemetry JS SDK → arbor (OTLP/HTTP JSON)', () => {
  let server;

  before(async () => {
    server = await startArbor();
  });

  after(async () => {
    if (!server) return;
    const status = await stopArbor(server);
    const log = server.log();
    rmSync(server.dir, { recursive: true, force: true });
    assert.deepEqual(status, { code: 0, signal: null }, `arbor did not exit cleanly on SIGTERM; log:\n${log}`);
  });

  for (const [name, compression, Processor] of [
    ['json', 'none', BatchSpanProcessor],
    ['json-gzip', 'gzip', SimpleSpanProcessor],
  ]) {
    test(`trace round trip: ${name} (${Processor.name})`, async (t) => {
      const resource = defaultResource().merge(
        resourceFromAttributes(
          {
            [ATTR_SERVICE_NAME]: `checkout-node-${name}`,
            'service.namespace': 'shop',
            'deployment.environment': 'e2e',
            'arbor.test.custom': `node-${compression}`,
            'arbor.test.shard': 3,
          },
          { schemaUrl: RESOURCE_SCHEMA },
        ),
      );
      const memory = new InMemorySpanExporter();
      const otlp = new RecordingExporter(
        new OTLPTraceExporter({ url: `http://${server.otlp_http}/v1/traces`, compression, timeoutMillis: 10_000 }),
      );
      const provider = new NodeTracerProvider({
        resource,
        spanProcessors: [new SimpleSpanProcessor(memory), new Processor(otlp)],
      });
      let traceId;
      let sdkSpans;
      try {
        traceId = emitTrace(provider.getTracer(SCOPE_NAME, SCOPE_VERSION, { schemaUrl: SCOPE_SCHEMA }), name);
        await provider.forceFlush();
        sdkSpans = memory.getFinishedSpans(); // before shutdown, which empties it
      } finally {
        await provider.shutdown();
      }
      t.diagnostic(`trace ${traceId}`);

      assert.ok(otlp.results.length > 0, 'nothing was exported');
      for (const r of otlp.results) assert.equal(r.code, 0, `export failed: ${r.error}`);
      assert.equal(sdkSpans.length, 5);
      assert.deepEqual(new Set(sdkSpans.map((s) => s.spanContext().traceId)), new Set([traceId]));

      try {
        const v1 = await getJson(server, `/api/traces/${traceId}`);
        assert.equal(v1.status, 200, JSON.stringify(v1.body));
        assert.deepEqual(Object.keys(v1.body), ['batches']);
        checkTrace(v1.body.batches, sdkSpans);

        const v2 = await getJson(server, `/api/v2/traces/${traceId}`);
        assert.equal(v2.status, 200, JSON.stringify(v2.body));
        assert.equal(v2.body.status, 'COMPLETE');
        checkTrace(v2.body.trace.resourceSpans, sdkSpans);
        assert.deepEqual(
          attrsByKey(v1.body.batches[0].resource.attributes)['arbor.test.custom'],
          { stringValue: `node-${compression}` },
        );
      } catch (err) {
        err.message += `\n--- arbor log ---\n${server.log()}`;
        throw err;
      }
    });
  }

  test('unknown trace ID is a 404', async () => {
    const { status } = await getJson(server, `/api/traces/${'f'.repeat(31)}e`);
    assert.equal(status, 404);
  });
});
