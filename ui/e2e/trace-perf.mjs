// Measuring a large trace in the browser, shared by the performance test
// (e2e/perf.test.mjs, which reports and does not assert the figures) and the UI benchmark
// (bench/ui-bench.mjs): time from the trace's data arriving to the waterfall painted, and
// frame rates while scrolling it.
//
// "Data arrived" is the browser's own responseEnd of the trace request (Resource Timing);
// "painted" is the app's mark in the frame after its first render of the waterfall. Frame
// rates come from requestAnimationFrame timestamps while the waterfall is scrolled by a
// screenful of rows every frame (every row rendered anew each frame), then by jumps of
// 2,500 rows.

/** Scrolls the waterfall `frames` frames, `rowsPerFrame` rows a frame; frame times in ms. */
export function scrollFrames(page, frames, pxPerFrame) {
  return page.evaluate(
    ({ frames, pxPerFrame }) =>
      new Promise((resolve) => {
        const el = document.querySelector('[data-testid=waterfall-body]');
        const times = [];
        let dir = 1;
        const tick = (t) => {
          times.push(t);
          if (times.length > frames) {
            resolve(times);
            return;
          }
          if (el.scrollTop + el.clientHeight + pxPerFrame >= el.scrollHeight) dir = -1;
          if (el.scrollTop - pxPerFrame <= 0) dir = 1;
          el.scrollTop += dir * pxPerFrame;
          requestAnimationFrame(tick);
        };
        requestAnimationFrame(tick);
      }),
    { frames, pxPerFrame },
  );
}

export function frameStats(times) {
  const deltas = times.slice(1).map((t, i) => t - times[i]);
  const elapsed = times[times.length - 1] - times[0];
  const sorted = [...deltas].sort((a, b) => a - b);
  return {
    frames: deltas.length,
    fps: +((deltas.length / elapsed) * 1000).toFixed(1),
    p95FrameMs: +sorted[Math.floor(sorted.length * 0.95)].toFixed(1),
    maxFrameMs: +sorted[sorted.length - 1].toFixed(1),
  };
}

/**
 * Opens `/trace/<id>` (after one warm-up read of it, so the server's first read is not
 * measured), waits for the waterfall of `spans` rows to paint, scrolls it; the figures.
 */
export async function measureTrace(page, baseUrl, id, spans) {
  const warm = await fetch(`${baseUrl}/api/v2/traces/${id}`);
  if (warm.status !== 200) throw new Error(`GET /api/v2/traces/${id}: ${warm.status}`);
  await warm.arrayBuffer();

  await page.goto(`${baseUrl}/trace/${id}`);
  await page.waitForSelector(`[data-testid=waterfall-body][aria-rowcount="${spans}"]`);
  await page.waitForFunction(() => performance.getEntriesByName('arbor:waterfall-painted').length > 0);
  const load = await page.evaluate(() => {
    const res = performance.getEntriesByType('resource').find((e) => e.name.includes('/api/v2/traces/'));
    const mark = (n) => performance.getEntriesByName(n)[0].startTime;
    return {
      responseStart: res.responseStart,
      responseEnd: res.responseEnd,
      bytes: res.encodedBodySize,
      modelBuilt: mark('arbor:trace-model'),
      painted: mark('arbor:waterfall-painted'),
    };
  });
  // A screenful (about 17 rows) a frame, then big jumps across the whole trace.
  await scrollFrames(page, 30, 400); // warm-up
  const steady = frameStats(await scrollFrames(page, 240, 440));
  const jumps = frameStats(await scrollFrames(page, 120, 26 * 2500));
  return {
    spans,
    traceJsonBytes: load.bytes,
    transferMs: +(load.responseEnd - load.responseStart).toFixed(1),
    parseAndTreeMs: +(load.modelBuilt - load.responseEnd).toFixed(1),
    dataToPaintMs: +(load.painted - load.responseEnd).toFixed(1),
    /** From the page's navigation to the waterfall painted: the time to first paint a user sees. */
    navigationToPaintMs: +load.painted.toFixed(1),
    scroll: steady,
    scrollJumps: jumps,
  };
}
