// End-to-end: the OpenTelemetry JS SDK exports over TLS to an arbor with a token file, set
// up by the environment only: OTEL_EXPORTER_OTLP_HEADERS="Authorization=Bearer …" and
// OTEL_EXPORTER_OTLP_CERTIFICATE (the test CA, trusted explicitly; verification stays on).
// Without the token the export is refused; without trusting the CA it fails; the reader
// token reads the spans back over TLS. The certificates are made by `openssl` at test time.
//
// Run: node --test tests/node/*.test.mjs (ARBOR_BIN picks the binary)

import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import https from 'node:https';
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

function mint(name, tenants, grants) {
  const r = spawnSync(BINARY, ['token', '--name', name, '--tenant', tenants, '--grant', grants], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const token = /arbor_[0-9a-f]+/.exec(r.stderr)?.[0];
  assert.ok(token, r.stderr);
  return { token, entry: r.stdout };
}

function openssl(dir, ...args) {
  const r = spawnSync('openssl', args, { cwd: dir, encoding: 'utf8' });
  assert.equal(r.status, 0, `openssl ${args.join(' ')} (the openssl command makes the test certificates):\n${r.stderr ?? r.error}`);
}

/** A CA and a server certificate for 127.0.0.1 and localhost. */
function makeCerts(dir, prefix) {
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  openssl(dir, 'req', '-x509', ...ec, '-keyout', `${prefix}ca.key`, '-out', `${prefix}ca.pem`, '-days', '2', '-subj', '/CN=arbor node test CA');
  openssl(dir, 'req', ...ec, '-keyout', `${prefix}server.key`, '-out', `${prefix}server.csr`, '-subj', '/CN=arbor');
  writeFileSync(path.join(dir, 'ext.cnf'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\nkeyUsage=digitalSignature\nbasicConstraints=CA:FALSE\n');
  openssl(dir, 'x509', '-req', '-in', `${prefix}server.csr`, '-CA', `${prefix}ca.pem`, '-CAkey', `${prefix}ca.key`, '-CAcreateserial',
    '-out', `${prefix}server.pem`, '-days', '2', '-extfile', 'ext.cnf');
  return { ca: path.join(dir, `${prefix}ca.pem`), cert: path.join(dir, `${prefix}server.pem`), key: path.join(dir, `${prefix}server.key`) };
}

let dir;
let child;
let addrs;
let writer;
let reader;
let certs;
let otherCa;

before(async () => {
  assert.ok(existsSync(BINARY), `arbor binary not found at ${BINARY}`);
  dir = mkdtempSync(path.join(tmpdir(), 'arbor-node-tls-'));
  certs = makeCerts(dir, '');
  otherCa = makeCerts(dir, 'other-').ca;
  const w = mint('node writer', 'node', 'write');
  const r = mint('node reader', 'node', 'read');
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
      '--tls-cert-file', certs.cert, '--tls-key-file', certs.key,
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

function oneSpan() {
  const memory = new InMemorySpanExporter();
  const provider = new NodeTracerProvider({
    resource: resourceFromAttributes({ 'service.name': 'sdk-over-tls' }),
    spanProcessors: [new SimpleSpanProcessor(memory)],
  });
  provider.getTracer('tls-test').startSpan('GET /secured-over-tls').end();
  return memory.getFinishedSpans();
}

/** Exports with a fresh exporter configured only by the environment; the result code. */
async function exportWith({ headers, ca }) {
  for (const [k, v] of [['OTEL_EXPORTER_OTLP_HEADERS', headers], ['OTEL_EXPORTER_OTLP_CERTIFICATE', ca]]) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
  const exporter = new OTLPTraceExporter({ url: `https://${addrs.otlp_http}/v1/traces` });
  const spans = oneSpan();
  const result = await new Promise((resolve) => exporter.export(spans, resolve));
  await exporter.shutdown();
  return { code: result.code, error: result.error, traceId: spans[0].spanContext().traceId };
}

/** GET over TLS trusting the test CA: status and body. */
function get(url, headers) {
  return new Promise((resolve, reject) => {
    https
      .get(url, { ca: readFileSync(certs.ca), headers }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode, body }));
      })
      .on('error', reject);
  });
}

test('the SDK exports over TLS with a token, both from the environment', async () => {
  const noToken = await exportWith({ ca: certs.ca });
  assert.notEqual(noToken.code, 0, 'no token: refused');
  const untrusted = await exportWith({ headers: `Authorization=Bearer ${writer}`, ca: otherCa });
  assert.notEqual(untrusted.code, 0, 'a CA that did not sign the server certificate: the export fails');
  const ok = await exportWith({ headers: `Authorization=Bearer ${writer}`, ca: certs.ca });
  assert.equal(ok.code, 0, String(ok.error));
  const url = `https://${addrs.http}/api/traces/${ok.traceId}`;
  let res = await get(url, { Authorization: `Bearer ${reader}` });
  const deadline = Date.now() + 30_000; // a bound against a hang, not a speed
  while (res.status !== 200 && Date.now() < deadline) {
    await sleep(100);
    res = await get(url, { Authorization: `Bearer ${reader}` });
  }
  assert.equal(res.status, 200, res.body);
  assert.match(res.body, /sdk-over-tls/);
  assert.equal((await get(url, {})).status, 401);
});
