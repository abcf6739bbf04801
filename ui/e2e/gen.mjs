// Workloads from `arbor gen` for the UI tests: one run of a profile written to OTLP/JSON
// lines, its traces spread over the last minutes (so the derived views have a shape over
// time, not one spike), then sent over OTLP/HTTP JSON.

import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { arborBinary } from './harness.mjs';
import { rng } from './seed.mjs';

/**
 * Generates `traces` traces of `profile` (`arbor gen --profile … --traces … --seed …
 * --output x.jsonl --start-time now`) and sends them to `otlpHttp`, each trace moved to a
 * start within the last `spreadS` seconds (busier in the middle), its spans, events and
 * parts moved together. Answers the spans sent.
 */
export async function genSpread(otlpHttp, { profile, traces, seed = 1, spreadS = 1200 }) {
  const dir = mkdtempSync(path.join(tmpdir(), 'arbor-ui-gen-'));
  try {
    const file = path.join(dir, `${profile}.jsonl`);
    const nowS = Math.floor(Date.now() / 1000);
    execFileSync(arborBinary(), ['gen', '--profile', profile, '--traces', String(traces), '--seed', String(seed), '--output', file, '--format', 'jsonl', '--start-time', String(nowS), '--quiet'], {
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    const rand = rng(seed * 7919);
    const shift = new Map(); // trace ID → ns to add
    const nowNs = BigInt(Date.now()) * 1_000_000n;
    const move = (traceId, startNs) => {
      let d = shift.get(traceId);
      if (d === undefined) {
        const u = (rand() + rand()) / 2; // triangular: more traffic mid-way
        const target = nowNs - BigInt(Math.round(spreadS * (1 - u) * 1e9)) - 5_000_000_000n;
        d = target - startNs;
        shift.set(traceId, d);
      }
      return d;
    };
    let spans = 0;
    for (const line of readFileSync(file, 'utf8').split('\n')) {
      if (!line.trim()) continue;
      const req = JSON.parse(line);
      for (const rs of req.resourceSpans ?? [])
        for (const ss of rs.scopeSpans ?? [])
          for (const s of ss.spans ?? []) {
            const d = move(s.traceId, BigInt(s.startTimeUnixNano));
            s.startTimeUnixNano = String(BigInt(s.startTimeUnixNano) + d);
            s.endTimeUnixNano = String(BigInt(s.endTimeUnixNano) + d);
            for (const e of s.events ?? []) e.timeUnixNano = String(BigInt(e.timeUnixNano) + d);
            spans++;
          }
      const res = await fetch(`http://${otlpHttp}/v1/traces`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(req) });
      const text = await res.text();
      if (res.status !== 200) throw new Error(`OTLP export answered ${res.status}: ${text}`);
    }
    return spans;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
