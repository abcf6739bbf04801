#!/usr/bin/env node
// The UI benchmark: time to first paint and scrolling frame rate of a 50,000-span trace in
// Chromium, against the real arbor binary. A measure, not a test: it prints the figures of
// each run and their median, min and max (and writes them to ui/test-results/ui-bench.json),
// and never fails on a time or a rate.
//
//   cd ui && node bench/ui-bench.mjs [--runs 5] [--spans 50000]
//
// ARBOR_BIN names the server binary (default target/debug/arbor, as for the tests; a
// release build answers the trace faster but the browser's figures are its own). Each run
// opens the trace in a fresh page of one browser (fresh profile), after a warm-up read of
// the trace by the server. See e2e/trace-perf.mjs for what is measured.

import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';

import { UI_DIR, arborBinary, launchBrowser, startArbor, stopArbor } from '../e2e/harness.mjs';
import { BIG, bigTrace, send } from '../e2e/seed.mjs';
import { measureTrace } from '../e2e/trace-perf.mjs';

const { values } = parseArgs({ options: { runs: { type: 'string', default: '5' }, spans: { type: 'string', default: '50000' } } });
const runs = Math.max(1, parseInt(values.runs, 10));
const spans = Math.max(1, parseInt(values.spans, 10));

const summary = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return { median: s[Math.floor((s.length - 1) / 2)], min: s[0], max: s[s.length - 1] };
};

const server = await startArbor();
let browser;
try {
  await send(server.otlp_http, bigTrace(BigInt(Date.now() - 120_000) * 1_000_000n, spans));
  browser = await launchBrowser();
  const results = [];
  for (let i = 0; i < runs; i++) {
    const page = await browser.context.newPage();
    page.setDefaultTimeout(120_000);
    const r = await measureTrace(page, server.url, BIG, spans);
    await page.close();
    results.push(r);
    console.log(`run ${i + 1}/${runs}: painted ${r.navigationToPaintMs} ms after navigation, ${r.dataToPaintMs} ms after the data (parse and tree ${r.parseAndTreeMs} ms, transfer ${r.transferMs} ms), scroll ${r.scroll.fps} fps (p95 frame ${r.scroll.p95FrameMs} ms), jumps ${r.scrollJumps.fps} fps`);
  }
  const out = {
    spans,
    traceJsonBytes: results[0].traceJsonBytes,
    runs,
    binary: arborBinary(),
    machine: { cpus: os.cpus().length, loadAverage: os.loadavg().map((x) => +x.toFixed(2)) },
    navigationToPaintMs: summary(results.map((r) => r.navigationToPaintMs)),
    dataToPaintMs: summary(results.map((r) => r.dataToPaintMs)),
    parseAndTreeMs: summary(results.map((r) => r.parseAndTreeMs)),
    transferMs: summary(results.map((r) => r.transferMs)),
    scrollFps: summary(results.map((r) => r.scroll.fps)),
    scrollP95FrameMs: summary(results.map((r) => r.scroll.p95FrameMs)),
    jumpFps: summary(results.map((r) => r.scrollJumps.fps)),
    goals: { dataToPaintMs: 1500, fps: 50 },
    results,
  };
  const dir = path.join(UI_DIR, 'test-results');
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, 'ui-bench.json'), `${JSON.stringify(out, null, 2)}\n`);
  console.log(`ui bench: ${JSON.stringify({ ...out, results: undefined })}`);
} finally {
  await browser?.close();
  await stopArbor(server);
}
