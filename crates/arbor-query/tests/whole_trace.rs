//! Whole-trace answers over traces that arrive in parts: every trace is sent in three
//! parts (the first two cut into blocks, the third left in the head), two of them larger
//! than two row groups, and random queries are answered by the engine and by the reference
//! evaluator over the whole traces — equal in every trace, spanset and summary. Then again
//! after the blocks are compacted into one, and after a restart. Seeded, so a failure
//! repeats; the message names the query and the trace.

mod support;

use std::collections::BTreeMap;

use arbor_model::otlp::{ExportTraceServiceRequest, Span};
use arbor_query::search::metrics::MetricsRequest;
use arbor_query::search::{SearchRequest, search_store};
use arbor_query::traceql::{MetricsExpr, Query, QueryKind};
use arbor_storage::Store;
use arbor_storage::head::HeadSpan;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use support::random::{metrics_query, requests, resources, scopes, search_query, trace, trace_of};
use support::{
    TENANT, TraceOut, describe, engine_out, queries, reference_out, reparse, run_search,
    search_pipeline,
};

/// Rows per row group of the test's blocks: small, so the large traces fill several.
const ROWS_PER_ROW_GROUP: usize = 64;
/// Spans of each large trace; its first part alone fills more than two row groups.
const LARGE: usize = 500;

/// Queries of the kinds that went wrong on traces in parts, written out.
const FIXED: &[&str] = &[
    "({ kind = client }) | count() > 5",
    "({ kind = client }) | count() < 3",
    "({ !(kind = server) }) | count() > 2",
    "({ span.a != \"x\" }) > ({ status != error })",
    "{ span.a = \"x\" } && { span.b = \"y\" }",
    "{ name = \"GET /\" } >> { name = \"query\" }",
    "{ } | count() > 30",
    "{ } | avg(duration) > 100ms",
    "{ trace:duration > 3s }",
    "{ trace:duration < 2s && status = error }",
    "{ trace:rootName = \"GET /\" }",
    "{ !(trace:rootService = \"api\") && kind = server }",
    "{ childCount > 2 }",
    "{ nestedSetParent = -1 }",
    "{ status = error } | by(resource.service.name) | count() > 1",
    "{ } | select(span.a)",
];

/// Metrics queries whose answer depends on whole traces.
const FIXED_METRICS: &[&str] = &[
    "({ kind = client }) | count() > 5 | rate()",
    "{ name = \"GET /\" } >> { } | count_over_time() by (resource.service.name)",
    "{ trace:duration > 3s } | rate()",
    "{ span.a = \"x\" } && { status = error } | max_over_time(duration)",
];

struct Data {
    /// Start of the spans' times.
    base_ns: u64,
    /// Requests of each part, in the order they are sent.
    parts: [Vec<ExportTraceServiceRequest>; 3],
    /// Whole traces, by trace ID (hex).
    traces: BTreeMap<String, Vec<HeadSpan>>,
}

fn data(seed: u64, ntraces: usize) -> Data {
    let mut rng = StdRng::seed_from_u64(seed);
    let base_ns = support::window_start_ns();
    let res = resources(&mut rng);
    let sc = scopes(&mut rng);
    let mut parts: [Vec<Vec<(usize, usize, Span)>>; 3] = Default::default();
    for i in 0..ntraces + 2 {
        let large = i >= ntraces;
        let spans = if large {
            trace_of(&mut rng, base_ns, res.len(), sc.len(), LARGE)
        } else {
            trace(&mut rng, base_ns, res.len(), sc.len())
        };
        let mut split: [Vec<(usize, usize, Span)>; 3] = Default::default();
        for (k, s) in spans.into_iter().enumerate() {
            // A large trace's first part holds most of it (more than two row groups).
            let part = if large {
                if k < LARGE * 3 / 5 { 0 } else { 1 + k % 2 }
            } else {
                rng.random_range(0..3)
            };
            split[part].push(s);
        }
        for (p, s) in split.into_iter().enumerate() {
            if !s.is_empty() {
                parts[p].push(s);
            }
        }
    }
    let parts = parts.map(|traces| {
        traces
            .chunks(8)
            .map(|c| requests(c, &res, &sc))
            .collect::<Vec<_>>()
    });
    let all: Vec<ExportTraceServiceRequest> = parts.iter().flatten().cloned().collect();
    Data {
        base_ns,
        traces: support::head_spans(&all),
        parts,
    }
}

async fn open(dir: &std::path::Path) -> Store {
    let mut cfg = support::config(dir);
    cfg.block.rows_per_row_group = ROWS_PER_ROW_GROUP;
    Store::open(cfg).await.unwrap().0
}

/// Every query over every trace, then the first page of each in order.
async fn check(
    store: &Store,
    data: &Data,
    qs: &[Query],
    wants: &[BTreeMap<String, TraceOut>],
    layout: &str,
) -> (usize, usize) {
    let (mut matching, mut matches) = (0, 0);
    let started = std::time::Instant::now();
    for (q, want) in qs.iter().zip(wants) {
        let got = engine_out(q, &run_search(store, q).await);
        matching += usize::from(!want.is_empty());
        matches += want.len();
        if got != *want {
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
        check_first_page(store, q, want, layout).await;
    }
    eprintln!("{layout}: {} queries in {:?}", qs.len(), started.elapsed());
    (matching, matches)
}

/// A small `limit` gives the most recent matches, in order.
async fn check_first_page(
    store: &Store,
    q: &Query,
    want: &BTreeMap<String, TraceOut>,
    layout: &str,
) {
    const LIMIT: usize = 3;
    let mut order: Vec<(&String, &TraceOut)> = want.iter().collect();
    order.sort_by(|a, b| (b.1.start_ns, a.0).cmp(&(a.1.start_ns, b.0)));
    let expected: Vec<String> = order
        .iter()
        .take(LIMIT)
        .map(|(id, _)| (*id).clone())
        .collect();
    let mut req = SearchRequest::new(q).unwrap();
    req.limit = LIMIT;
    let got = search_store(store, TENANT, &req).await.unwrap();
    let got: Vec<String> = got.traces.iter().map(|t| t.trace_id.to_hex()).collect();
    assert_eq!(got, expected, "{layout}: query `{q}` with limit {LIMIT}");
}

/// Metrics queries over the whole traces, in steps of a minute over the spans' ten minutes.
async fn check_metrics(store: &Store, data: &Data, qs: &[Query], layout: &str) {
    let traces: Vec<Vec<HeadSpan>> = data.traces.values().cloned().collect();
    for q in qs {
        let QueryKind::Metrics(expr) = &q.kind else {
            panic!("{q}: a metrics query expected")
        };
        let MetricsExpr::Pipeline(mp) = expr else {
            panic!("{q}: a metrics pipeline expected")
        };
        let req = MetricsRequest {
            sample: Default::default(),
            scope: None,
            expr: expr.clone(),
            start_ns: data.base_ns,
            end_ns: data.base_ns + 610 * SECOND,
            step_ns: 60 * SECOND,
            max_series: 100_000,
            exemplars: 1,
            timeout: std::time::Duration::from_secs(120),
        };
        support::check_metrics(store, &traces, mp, q, &req, layout).await;
    }
}

const SECOND: u64 = 1_000_000_000;

async fn run(seed: u64, ntraces: usize, nqueries: usize) {
    let data = data(seed, ntraces);
    let mut qs: Vec<Query> = FIXED.iter().map(|q| reparse(q).unwrap()).collect();
    qs.extend(queries(seed ^ 0x5eed, nqueries, search_query));
    let mut ms: Vec<Query> = FIXED_METRICS.iter().map(|q| reparse(q).unwrap()).collect();
    ms.extend(queries(seed ^ 0x3e7, nqueries / 6, metrics_query));
    let started = std::time::Instant::now();
    let wants: Vec<BTreeMap<String, TraceOut>> = qs
        .iter()
        .map(|q| reference_out(search_pipeline(q), &data.traces))
        .collect();
    eprintln!(
        "seed {seed}: the reference answered in {:?}",
        started.elapsed()
    );

    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path()).await;
    for (i, part) in data.parts.iter().enumerate() {
        for r in part {
            store.ingest(TENANT, r.clone()).await.unwrap();
        }
        if i < 2 {
            store.cut().await.unwrap();
        }
    }
    let view = store.search_view(TENANT);
    assert_eq!(view.blocks.len(), 2, "two blocks and the head");
    assert!(
        view.blocks.iter().any(|b| b.row_group_count() > 2),
        "a large trace fills more than two row groups"
    );
    let (matching, matches) = check(&store, &data, &qs, &wants, "head and two blocks").await;
    eprintln!(
        "seed {seed}: {} traces in three parts, {matching} of {} queries match, {matches} trace matches",
        data.traces.len(),
        qs.len()
    );
    assert!(matching * 3 > qs.len(), "most queries match something");
    check_metrics(&store, &data, &ms, "head and two blocks").await;

    support::compact_all(&store).await;
    check(&store, &data, &qs, &wants, "head and a compacted block").await;
    check_metrics(&store, &data, &ms, "head and a compacted block").await;

    drop(store);
    let store = open(dir.path()).await;
    assert_eq!(store.search_view(TENANT).blocks.len(), 1);
    check(&store, &data, &qs, &wants, "after a restart").await;
    check_metrics(&store, &data, &ms, "after a restart").await;

    // The head cut too: every part in blocks, the large traces split across row groups.
    store.cut().await.unwrap();
    check(&store, &data, &qs, &wants, "three blocks' worth in two").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whole_traces_seed_1() {
    run(1, 40, 80).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whole_traces_seed_2() {
    run(2, 40, 80).await;
}

/// More seeds on demand: `ARBOR_WHOLE_SEEDS=3..20 cargo test -p arbor-query --test
/// whole_trace more_seeds -- --nocapture`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn more_seeds() {
    let Ok(range) = std::env::var("ARBOR_WHOLE_SEEDS") else {
        return;
    };
    let (a, b) = range.split_once("..").expect("ARBOR_WHOLE_SEEDS=from..to");
    for seed in a.parse::<u64>().unwrap()..b.parse::<u64>().unwrap() {
        run(seed, 40, 80).await;
    }
}
