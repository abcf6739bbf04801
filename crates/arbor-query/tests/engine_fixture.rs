//! The search engine on ten hand-written traces (`fixtures/traces.json`, OTLP/JSON) with
//! exact expected results: trace and span names per query in
//! `snapshots/engine_fixture.snap`, each reviewed by hand. The same queries run over the
//! head, over fresh blocks (two cuts) and over the block compacted from them, and must
//! answer the same; they must also agree with the reference evaluator.
//! `ARBOR_UPDATE_SNAPSHOTS=1 cargo test -p arbor-query --test engine_fixture` rewrites the
//! snapshot (review the diff before committing it).
//!
//! The traces (times from 2024-01-01T10:00:00Z, one trace per minute):
//! t01 a checkout nine spans deep across frontend, cart and postgres; t02 a failed payment
//! with a link and events; t03 one span without a service; t04 two spans whose parents are
//! not in the trace; t05 `http.status_code` as a string and as an int; t06 a producer, its
//! consumer and three sibling workers; t07 unspecified kinds; t08 a slow chain; t09, t10
//! more checkouts.

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use arbor_model::otlp::{ExportTraceServiceRequest, ResourceSpans, ScopeSpans};
use arbor_query::search::SearchResult;
use arbor_query::search::metrics::{MetricsRequest, query_range};
use arbor_query::traceql::{MetricsExpr, Query, QueryKind};
use arbor_storage::Store;
use arbor_storage::compact::CompactionConfig;
use support::reference;
use support::{TENANT, engine_out, reference_out, reparse, run_search, search_pipeline};

const SNAPSHOT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/snapshots/engine_fixture.snap"
);
/// 2024-01-01T10:00:00Z: the fixture's first span.
const T0: u64 = 1_704_103_200_000_000_000;
const MINUTE: u64 = 60_000_000_000;

const SEARCHES: &[&str] = &[
    // Intrinsics.
    r#"{ name = "auth" }"#,
    "{ duration > 1s }",
    "{ status = error }",
    "{ status != unset }",
    r#"{ statusMessage = "deadlock" }"#,
    "{ kind = consumer || kind = producer }",
    "{ kind = unspecified }",
    "{ childCount >= 3 }",
    "{ trace:duration > 5s }",
    r#"{ trace:rootName = "early-root" }"#,
    r#"{ trace:rootService = "cart" }"#,
    r#"{ trace:id = "00000000000000000000000000000003" }"#,
    r#"{ span:id = "0102000000000000" }"#,
    r#"{ span:parentID = "0602000000000000" }"#,
    r#"{ event:name = "exception" }"#,
    "{ event:timeSinceStart > 200us }",
    r#"{ link:spanID = "0101000000000000" }"#,
    r#"{ link:traceID = "00000000000000000000000000000001" }"#,
    r#"{ instrumentation:name = "db-lib" }"#,
    r#"{ instrumentation:version = "" }"#,
    "{ nestedSetParent = -1 }",
    "{ nestedSetLeft > 4 && nestedSetParent = -1 }",
    // Scopes and types.
    r#"{ resource.service.name = "postgres" }"#,
    "{ span.http.status_code >= 500 }",
    r#"{ span.http.status_code = "200" }"#,
    "{ span.http.status_code != 200 }",
    "{ .a = 1 }",
    r#"{ .a = "y" }"#,
    r#"{ .a = "x" }"#,
    "{ span.a != nil }",
    r#"{ resource.region != nil && resource.region != "eu" }"#,
    r#"{ event.exception.type = "Deadlock" }"#,
    "{ event.attempt = 2 }",
    r#"{ link.link.kind = "follows" }"#,
    r#"{ instrumentation.lib.lang = "go" && resource.service.name = "payment" }"#,
    "{ span.amount > 10 && span.amount < 50.5 }",
    "{ span.score = 0.7 }",
    "{ span.retry = true }",
    "{ span.flag }",
    "{ !span.flag }",
    // Regexes (anchored).
    r#"{ name =~ "GET /.*" }"#,
    r#"{ name =~ "GET" }"#,
    r#"{ span.http.method !~ "GET|POST" }"#,
    r#"{ span.db.statement =~ "select .*" }"#,
    // Arithmetic.
    "{ span.db.rows * 2 > 5 }",
    "{ duration - 100ms >= 1s }",
    "{ span.http.status_code / 100 = 5 }",
    // Nil.
    "{ span.http.method != nil && !(span.http.status_code != nil) }",
    // Spanset operators.
    r#"{ name = "auth" } && { status = error }"#,
    r#"{ name = "cron.tick" } || { name = "notify" }"#,
    r#"{ name = "GET /checkout" } > { }"#,
    r#"{ name = "GET /checkout" } >> { resource.service.name = "postgres" }"#,
    r#"{ name = "pg.lock" } << { }"#,
    r#"{ name = "pg.exec" } < { }"#,
    r#"{ name = "cart.query" } ~ { }"#,
    r#"{ name = "worker.a" } ~ { }"#,
    "{ kind = server } !> { kind = internal }",
    r#"{ name = "cart.get" } !>> { resource.service.name = "postgres" }"#,
    "{ status = error } !< { }",
    r#"{ name = "batch.validate" } !<< { trace:rootName = "batch" }"#,
    r#"{ name = "worker.a" } !~ { kind = internal }"#,
    r#"{ name = "cart.handle" } &> { }"#,
    r#"{ name = "batch.parse" } &<< { }"#,
    r#"{ name = "worker.b" } &~ { }"#,
    r#"{ name = "pg.lock" } &< { }"#,
    r#"{ name = "GET /checkout" } &>> { status = error }"#,
    r#"{ name = "GET /checkout" } > { name = "cart.get" } > { name = "cart.handle" } > { }"#,
    r#"({ name = "batch" } >> { status = error }) && { name = "batch.store" }"#,
    // Pipelines.
    "{ } | count() > 4",
    "{ kind = server } | avg(duration) > 1s",
    "{ } | max(duration) < 100ms",
    "{ span.db.rows != nil } | sum(span.db.rows) = 3",
    "{ } | min(span.amount) < 50",
    "{ } | by(resource.service.name) | count() > 3",
    "{ status = error } | by(resource.service.name)",
    r#"{ name =~ "items.*" } | by(span.flag)"#,
    r#"{ trace:rootName = "GET /items" } | by(span.db.rows)"#,
    r#"{ trace:rootName = "GET /items" } | by(.a)"#,
    "{ kind = internal } | by(resource.service.name) | coalesce()",
    r#"{ name = "charge" } | select(span.amount, resource.region)"#,
    "({ } | count() = 2) && ({ status = error })",
];

const METRICS: &[&str] = &[
    r#"{ name = "GET /checkout" } | count_over_time()"#,
    "{ } | count_over_time() by (resource.service.name)",
    "{ } | rate()",
    "{ kind = server } | max_over_time(duration) by (resource.service.name)",
    r#"{ name = "auth" } | avg_over_time(duration)"#,
    "{ } | sum_over_time(span.db.rows)",
    "{ } | min_over_time(span.http.status_code) by (span.http.method)",
];

/// The fixture's requests, one per trace, and the names of trace and span IDs.
struct Fixture {
    per_trace: Vec<ExportTraceServiceRequest>,
    /// Trace ID (hex) → `t01`…; span ID (hex) → span name.
    trace_names: BTreeMap<String, String>,
    span_names: BTreeMap<String, String>,
}

fn fixture() -> Fixture {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/traces.json");
    let body = std::fs::read(path).unwrap();
    let (req, rejected) = arbor_model::otlp_json::decode_request(&body)
        .unwrap()
        .into_parts();
    assert!(rejected.is_empty(), "{rejected:?}");
    let mut by_trace: BTreeMap<Vec<u8>, ExportTraceServiceRequest> = BTreeMap::new();
    let mut span_names = BTreeMap::new();
    for rs in &req.resource_spans {
        for ss in &rs.scope_spans {
            for span in &ss.spans {
                span_names.insert(hex::encode(&span.span_id), span.name.clone());
                let out = by_trace.entry(span.trace_id.clone()).or_default();
                out.resource_spans.push(ResourceSpans {
                    resource: rs.resource.clone(),
                    scope_spans: vec![ScopeSpans {
                        scope: ss.scope.clone(),
                        spans: vec![span.clone()],
                        schema_url: ss.schema_url.clone(),
                    }],
                    schema_url: rs.schema_url.clone(),
                });
            }
        }
    }
    let trace_names = by_trace
        .keys()
        .map(|id| (hex::encode(id), format!("t{:02}", id[15])))
        .collect();
    Fixture {
        per_trace: by_trace.into_values().collect(),
        trace_names,
        span_names,
    }
}

/// A search's result as text: per trace, per spanset, the spans' names in span ID order
/// (the fixture numbers spans in the order it lists them).
fn render_search(f: &Fixture, q: &Query, r: &SearchResult) -> String {
    let mut out = String::new();
    let got = engine_out(q, r);
    if got.is_empty() {
        out.push_str("  (no traces)\n");
    }
    for (id, t) in &got {
        for (labels, spans) in &t.sets {
            let names: Vec<&str> = spans.iter().map(|s| f.span_names[s].as_str()).collect();
            let labels = if labels.is_empty() {
                String::new()
            } else {
                format!(" [{labels}]")
            };
            out.push_str(&format!(
                "  {}{labels}: {}\n",
                f.trace_names[id],
                names.join(", ")
            ));
        }
    }
    if q.to_string().contains("select(") {
        for t in &r.traces {
            for s in t.span_sets.iter().flat_map(|s| &s.spans) {
                let attrs: Vec<String> = s
                    .attributes
                    .iter()
                    .map(|(k, v)| format!("{k}={v:?}"))
                    .collect();
                out.push_str(&format!("    {} returns {}\n", s.name, attrs.join(" ")));
            }
        }
    }
    out
}

fn number(v: f64) -> String {
    if v.is_nan() {
        ".".into()
    } else {
        let s = format!("{v:.6}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

async fn run_metrics(store: &Store, q: &Query) -> String {
    let QueryKind::Metrics(expr) = &q.kind else {
        panic!("{q}: metrics expected")
    };
    let req = MetricsRequest {
        sample: Default::default(),
        scope: None,
        expr: expr.clone(),
        start_ns: T0,
        end_ns: T0 + 10 * MINUTE,
        step_ns: MINUTE,
        max_series: 1000,
        exemplars: 0,
        timeout: Duration::from_secs(30),
    };
    let r = query_range(&store.search_view(TENANT), &req)
        .await
        .unwrap_or_else(|e| panic!("{q}: {e}"));
    let mut lines: Vec<String> = r
        .series
        .iter()
        .map(|s| {
            let values: Vec<String> = s.values.iter().map(|v| number(*v)).collect();
            format!(
                "  {{{}}}: {}\n",
                support::labels_text(&s.labels),
                values.join(" ")
            )
        })
        .collect();
    lines.sort();
    lines.concat()
}

/// Every query's answer from what the store holds now.
async fn answers(f: &Fixture, store: &Store, searches: &[Query], metrics: &[Query]) -> String {
    let mut out = String::new();
    for q in searches {
        let r = run_search(store, q).await;
        out.push_str(&format!("search: {q}\n{}\n", render_search(f, q, &r)));
    }
    for q in metrics {
        out.push_str(&format!(
            "metrics (steps of 1m from 10:00): {q}\n{}\n",
            run_metrics(store, q).await
        ));
    }
    out
}

fn parsed(texts: &[&str]) -> Vec<Query> {
    texts
        .iter()
        .map(|t| reparse(t).unwrap_or_else(|| panic!("{t:?} does not validate")))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fixture_queries_in_head_blocks_and_compacted_blocks() {
    let f = fixture();
    let searches = parsed(SEARCHES);
    let metrics = parsed(METRICS);

    // The head.
    let dir = tempfile::tempdir().unwrap();
    let store = support::open(dir.path()).await;
    for r in &f.per_trace[..5] {
        store.ingest(TENANT, r.clone()).await.unwrap();
    }
    store.cut().await.unwrap();
    for r in &f.per_trace[5..] {
        store.ingest(TENANT, r.clone()).await.unwrap();
    }
    let in_blocks_and_head = answers(&f, &store, &searches, &metrics).await;

    let head_dir = tempfile::tempdir().unwrap();
    let head = support::open(head_dir.path()).await;
    for r in &f.per_trace {
        head.ingest(TENANT, r.clone()).await.unwrap();
    }
    let in_head = answers(&f, &head, &searches, &metrics).await;

    // The reference evaluator agrees with every search answer.
    let traces = support::head_spans(&f.per_trace);
    for q in &searches {
        let got = engine_out(q, &run_search(&head, q).await);
        let want = reference_out(search_pipeline(q), &traces);
        assert_eq!(got, want, "{q}: the engine and the reference differ");
    }
    let all: Vec<_> = traces.values().cloned().collect();
    for q in &metrics {
        let QueryKind::Metrics(MetricsExpr::Pipeline(mp)) = &q.kind else {
            panic!("{q}: a metrics pipeline expected")
        };
        let want = reference::metrics(mp, &all, T0, T0 + 10 * MINUTE, MINUTE).unwrap();
        let mut lines: Vec<String> = want
            .iter()
            .map(|s| {
                let values: Vec<String> = s.values.iter().map(|v| number(*v)).collect();
                format!(
                    "  {{{}}}: {}\n",
                    support::labels_text(&s.labels),
                    values.join(" ")
                )
            })
            .collect();
        lines.sort();
        assert_eq!(
            run_metrics(&head, q).await,
            lines.concat(),
            "{q}: the engine and the reference differ"
        );
    }

    // Fresh blocks (two cuts), then the block compacted from them.
    store.cut().await.unwrap();
    assert_eq!(store.search_view(TENANT).blocks.len(), 2);
    let in_blocks = answers(&f, &store, &searches, &metrics).await;
    let cfg = CompactionConfig {
        min_inputs: 2,
        ..CompactionConfig::default()
    };
    store.compact_once(TENANT, &cfg).await.unwrap().unwrap();
    assert_eq!(store.search_view(TENANT).blocks.len(), 1);
    let in_compacted = answers(&f, &store, &searches, &metrics).await;

    if std::env::var_os("ARBOR_UPDATE_SNAPSHOTS").is_some() {
        std::fs::write(SNAPSHOT, &in_head).unwrap();
    } else {
        let expected = std::fs::read_to_string(SNAPSHOT).unwrap_or_else(|e| {
            panic!("no snapshot {SNAPSHOT} ({e}); ARBOR_UPDATE_SNAPSHOTS=1 writes it")
        });
        assert!(
            expected == in_head,
            "the head's answers differ from {SNAPSHOT} (ARBOR_UPDATE_SNAPSHOTS=1 rewrites it)\n{}",
            first_difference(&expected, &in_head)
        );
    }
    for (layout, got) in [
        ("a block and the head", &in_blocks_and_head),
        ("fresh blocks", &in_blocks),
        ("a compacted block", &in_compacted),
    ] {
        assert!(
            *got == in_head,
            "{layout} answer differently from the head\n{}",
            first_difference(&in_head, got)
        );
    }
}

fn first_difference(expected: &str, actual: &str) -> String {
    let e: Vec<&str> = expected.split("\n\n").collect();
    let a: Vec<&str> = actual.split("\n\n").collect();
    for (x, y) in e.iter().zip(&a) {
        if x != y {
            return format!("--- expected\n{x}\n--- actual\n{y}");
        }
    }
    format!("{} blocks expected, {} found", e.len(), a.len())
}
