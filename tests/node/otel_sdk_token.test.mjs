// End-to-end: the OpenTelemetry JS SDK exports to an arbor with a token file, the token
// given the standard way (OTEL_EXPORTER_OTLP_HEADERS="Authorization=Bearer …"), with no
// change to the exporter's code; the same export without the token is refused.
//
// Run: node --test tests/node/*.test.mjs (ARBOR_BIN picks the binary)

import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';

import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';

for (const key of Object.keys(process.env)) {
  if (key.startsWith('OTEL_')) delete process.env[key];
}

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const BINARY = process.env.ARBOR_BIN ? path.resolve(REPO, process.env.ARBOR_BIN) : path.join(REPO, 'target', 'debug', 'arbor');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** `arbor token`: the token (stderr) and its file entry (stdout). */
function mint(name, tenants, grants) {
  const r = spawnSync(BINARY, ['token', '--name', name, '--tenant', tenants, '--grant', grants], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const token = /arbor_[0-9a-f]+/.exec(r.stderr)?.[0];
  assert.ok(token, r.stderr);
  return { token, entry: r.stdout };
}

let dir;
let child;
let addrs;
let writer;
let reader;

before(async () => {
  assert.ok(existsSync(BINARY), `arbor binary not found at ${BINARY}`);
  dir = mkdtempSync(path.join(tmpdir(), 'arbor-node-token-'));
  const w = mint('sdk writer', 'sdk', 'write');
  const r = mint('sdk reader', 'sdk', 'read');
  writer = w.token;
  reader = r.token;
  const tokens = path.join(dir, 'tokens.toml');
  writeFileSync(tokens, w.entry + r.entry);
  const listen = path.join(dir, 'listen.json');
  const log = openSync(path.join(dir, 'arbor.log'), 'a');
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('ARBOR_')));
  child = spawn(
    BINARY,
    ['serve', '--data-dir', path.join(dir, 'data'), '--auth-tokens-file', tokens, '--listen-file', listen,
      ...['--http-listen', '--otlp-grpc-listen', '--otlp-http-listen', '--zipkin-listen', '--jaeger-listen'].flatMap((f) => [f, '127.0.0.1:0'])],
    { stdio: ['ignore', 'ignore', log], env },
  );
  closeSync(log);
  const deadline = Date.now() + 60_000;
  while (!existsSync(listen)) {
    assert.ok(Date.now() < deadline, readFileSync(path.join(dir, 'arbor.log'), 'utf8'));
    assert.equal(child.exitCode, null, readFileSync(path.join(dir, 'arbor.log'), 'utf8'));
    await sleep(20);
  }
  addrs = JSON.parse(readFileSync(listen, 'utf8'));
});

after(async () => {
  if (child && child.exitCode === null) {
    const exited = once(child, 'exit');
    child.kill('SIGTERM');
    await exited;
  }
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** One finished span from the SDK. */
function oneSpan() {
  const memory = new InMemorySpanExporter();
  const provider = new NodeTracerProvider({
    resource: resourceFromAttributes({ 'service.name': 'sdk-with-token' }),
    spanProcessors: [new SimpleSpanProcessor(memory)],
  });
  provider.getTracer('token-test').startSpan('GET /secured').end();
  return memory.getFinishedSpans();
}

/** Exports with a fresh exporter configured only by the environment; the result code. */
async function exportWith(headers) {
  if (headers === undefined) delete process.env.OTEL_EXPORTER_OTLP_HEADERS;
  else process.env.OTEL_EXPORTER_OTLP_HEADERS = headers;
  const exporter = new OTLPTraceExporter({ url: `http://${addrs.otlp_http}/v1/traces` });
  const spans = oneSpan();
  const result = await new Promise((resolve) => exporter.export(spans, resolve));
  await exporter.shutdown();
  return { code: result.code, error: result.error, traceId: spans[0].spanContext().traceId };
}

test('the SDK exports with OTEL_EXPORTER_OTLP_HEADERS and the token tenant reads it back', async () => {
  const refused = await exportWith(undefined);
  assert.notEqual(refused.code, 0, 'no token: refused');
  const wrong = await exportWith('Authorization=Bearer arbor_0000');
  assert.notEqual(wrong.code, 0, 'unknown token: refused');
  const ok = await exportWith(`Authorization=Bearer ${writer}`);
  assert.equal(ok.code, 0, String(ok.error));
  // The writer's only tenant was implied; the reader of that tenant finds the trace.
  const res = await fetch(`http://${addrs.http}/api/traces/${ok.traceId}`, { headers: { Authorization: `Bearer ${reader}` } });
  const body = await res.text();
  assert.equal(res.status, 200, body);
  assert.match(body, /sdk-with-token/);
  const anonymous = await fetch(`http://${addrs.http}/api/traces/${ok.traceId}`);
  assert.equal(anonymous.status, 401);
});
