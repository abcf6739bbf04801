//! The search engine against the reference evaluator (`search::reference`), on random traces
//! and random queries, over every storage layout: the head, fresh blocks after cuts, and a
//! block compacted from several. Seeded, so a failure repeats; the message names the query
//! and the trace.

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use arbor_model::otlp::{ExportTraceServiceRequest, Span};
use arbor_query::search::metrics::{MetricsRequest, MetricsResult, query_range, query_range_many};
use arbor_query::traceql::{MetricsExpr, Query, QueryKind};
use arbor_storage::Store;
use arbor_storage::head::HeadSpan;
use rand::SeedableRng;
use rand::rngs::StdRng;
use support::close;
use support::random::{metrics_query, requests, resources, scopes, search_query, trace};
use support::{
    TENANT, TraceOut, describe, engine_out, queries, reference_out, run_search, search_pipeline,
};

// ---------------------------------------------------------------------------------------
// The comparison

struct Data {
    /// Requests in the order they are ingested (one per group of traces).
    reqs: Vec<ExportTraceServiceRequest>,
    traces: BTreeMap<String, Vec<HeadSpan>>,
    base_ns: u64,
}

fn data(seed: u64, ntraces: usize, groups: usize) -> Data {
    let mut rng = StdRng::seed_from_u64(seed);
    let base_ns = support::window_start_ns();
    let res = resources(&mut rng);
    let sc = scopes(&mut rng);
    let all: Vec<Vec<(usize, usize, Span)>> = (0..ntraces)
        .map(|_| trace(&mut rng, base_ns, res.len(), sc.len()))
        .collect();
    let reqs: Vec<ExportTraceServiceRequest> = all
        .chunks(ntraces.div_ceil(groups))
        .map(|c| requests(c, &res, &sc))
        .collect();
    let traces = support::head_spans(&reqs);
    Data {
        reqs,
        traces,
        base_ns,
    }
}

#[derive(Default)]
struct Stats {
    queries: usize,
    matching: usize,
    traces_matched: usize,
}

/// The reference's answers, computed once for every layout.
fn expected(data: &Data, queries: &[Query]) -> Vec<BTreeMap<String, TraceOut>> {
    queries
        .iter()
        .map(|q| reference_out(search_pipeline(q), &data.traces))
        .collect()
}

async fn check_searches(
    store: &Store,
    data: &Data,
    queries: &[Query],
    wants: &[BTreeMap<String, TraceOut>],
    layout: &str,
) -> Stats {
    let mut stats = Stats::default();
    for (q, want) in queries.iter().zip(wants) {
        let got = engine_out(q, &run_search(store, q).await);
        stats.queries += 1;
        stats.matching += usize::from(!want.is_empty());
        stats.traces_matched += want.len();
        if got == *want {
            continue;
        }
        let ids: std::collections::BTreeSet<&String> = got.keys().chain(want.keys()).collect();
        for id in ids {
            let (g, w) = (got.get(id), want.get(id));
            if g != w {
                panic!(
                    "{layout}: query `{q}`, trace {id}\nengine:    {g:?}\nreference: {w:?}\nspans:\n{}",
                    describe(&data.traces[id])
                );
            }
        }
    }
    stats
}

async fn check_metrics(store: &Store, data: &Data, queries: &[Query], layout: &str) -> usize {
    let mut series = 0;
    let mut alone: Vec<(MetricsRequest, MetricsResult)> = Vec::new();
    for (i, q) in queries.iter().enumerate() {
        let QueryKind::Metrics(MetricsExpr::Pipeline(mp)) = &q.kind else {
            panic!("{q}: a metrics pipeline expected");
        };
        // Steps of 7 s to 2 min over the 10 minutes the spans start in.
        let step_ns = [7, 30, 60, 120][i % 4] * 1_000_000_000;
        let (start_ns, end_ns) = (data.base_ns, data.base_ns + 610 * 1_000_000_000);
        let req = MetricsRequest {
            sample: Default::default(),
            scope: None,
            expr: q.kind_metrics().clone(),
            start_ns,
            end_ns,
            step_ns,
            max_series: 100_000,
            exemplars: 1,
            timeout: Duration::from_secs(60),
        };
        let traces: Vec<Vec<HeadSpan>> = data.traces.values().cloned().collect();
        let (got, n) = support::check_metrics(store, &traces, mp, q, &req, layout).await;
        alone.push((req.clone(), got));
        series += n;
    }
    // All of them in one scan (each with its own step, and ranges that differ) answer as
    // each does alone.
    let reqs: Vec<MetricsRequest> = alone
        .iter()
        .enumerate()
        .map(|(i, (r, _))| {
            let mut r = r.clone();
            r.start_ns += (i as u64 % 3) * 60_000_000_000;
            r
        })
        .collect();
    let together = query_range_many(&store.search_view(TENANT), &reqs).await;
    assert_eq!(together.len(), reqs.len());
    for (i, ((req, got), (q, (_, whole)))) in reqs
        .iter()
        .zip(together)
        .zip(queries.iter().zip(&alone))
        .enumerate()
    {
        let got = got.unwrap_or_else(|e| panic!("{q} with others: {e}"));
        let want = if i % 3 == 0 {
            whole.clone()
        } else {
            query_range(&store.search_view(TENANT), req).await.unwrap()
        };
        assert_eq!(
            got.timestamps_ms, want.timestamps_ms,
            "{layout}: `{q}` with others"
        );
        assert_eq!(
            got.series.len(),
            want.series.len(),
            "{layout}: `{q}` with others: series"
        );
        for (g, w) in got.series.iter().zip(&want.series) {
            assert_eq!(g.labels, w.labels, "{layout}: `{q}` with others");
            assert!(
                g.values.iter().zip(&w.values).all(|(a, b)| close(*a, *b)),
                "{layout}: `{q}` with others, series {:?}\ntogether: {:?}\nalone:    {:?}",
                g.labels,
                g.values,
                w.values
            );
        }
    }
    series
}

trait MetricsKind {
    fn kind_metrics(&self) -> &MetricsExpr;
}

impl MetricsKind for Query {
    fn kind_metrics(&self) -> &MetricsExpr {
        match &self.kind {
            QueryKind::Metrics(m) => m,
            QueryKind::Search(_) => panic!("a metrics query expected"),
        }
    }
}

/// Runs every query over one data set in each layout.
async fn run(seed: u64, ntraces: usize, nsearch: usize, nmetrics: usize) {
    let data = data(seed, ntraces, 4);
    let searches = queries(seed ^ 0x5eed, nsearch, search_query);
    let metrics = queries(seed ^ 0x3e7, nmetrics, metrics_query);
    let wants = expected(&data, &searches);

    // The head, then one fresh block.
    let dir = tempfile::tempdir().unwrap();
    let store = support::open(dir.path()).await;
    for r in &data.reqs {
        store.ingest(TENANT, r.clone()).await.unwrap();
    }
    let s = check_searches(&store, &data, &searches, &wants, "head").await;
    eprintln!(
        "seed {seed}: {} of {} queries match, {} trace matches",
        s.matching, s.queries, s.traces_matched
    );
    let n = check_metrics(&store, &data, &metrics, "head").await;
    eprintln!("seed {seed}: {} metrics queries, {n} series", metrics.len());
    store.cut().await.unwrap();
    assert_eq!(store.search_view(TENANT).blocks.len(), 1);
    check_searches(&store, &data, &searches, &wants, "one block").await;
    check_metrics(&store, &data, &metrics, "one block").await;

    // Several blocks, one per request, then those compacted into one.
    let dir = tempfile::tempdir().unwrap();
    let store = support::open(dir.path()).await;
    for r in &data.reqs {
        store.ingest(TENANT, r.clone()).await.unwrap();
        store.cut().await.unwrap();
    }
    assert_eq!(store.search_view(TENANT).blocks.len(), data.reqs.len());
    check_searches(&store, &data, &searches, &wants, "blocks").await;
    check_metrics(&store, &data, &metrics, "blocks").await;
    support::compact_all(&store).await;
    check_searches(&store, &data, &searches, &wants, "compacted").await;
    check_metrics(&store, &data, &metrics, "compacted").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn engine_matches_reference_seed_1() {
    run(1, 40, 150, 20).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn engine_matches_reference_seed_2() {
    run(2, 40, 150, 20).await;
}

/// More seeds on demand: `ARBOR_ENGINE_SEEDS=3..40 cargo test -p arbor-query --test
/// engine_property more_seeds -- --nocapture`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn more_seeds() {
    let Ok(range) = std::env::var("ARBOR_ENGINE_SEEDS") else {
        return;
    };
    let (a, b) = range.split_once("..").expect("ARBOR_ENGINE_SEEDS=from..to");
    for seed in a.parse::<u64>().unwrap()..b.parse::<u64>().unwrap() {
        run(seed, 40, 150, 20).await;
    }
}
