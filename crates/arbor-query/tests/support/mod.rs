//! What the engine tests share: a store in a temporary directory, the spans of a request
//! grouped by trace as the reference evaluator reads them, and search results of the engine
//! and of the reference in one comparable shape.

#![allow(dead_code)]

pub mod random;
pub mod reference;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use arbor_model::otlp::ExportTraceServiceRequest;
use arbor_query::search::value::Owned;
use arbor_query::search::{SearchRequest, SearchResult, search};
use arbor_query::traceql::{Pipeline, Query, QueryKind, parse_and_validate};
use arbor_storage::block::BlockWriteOptions;
use arbor_storage::head::{HeadSpan, ResourceEntry, ScopeEntry};
use arbor_storage::wal::SyncPolicy;
use arbor_storage::{Store, StoreConfig};
use rand::SeedableRng;
use rand::rngs::StdRng;
use reference::RefSpanset;

pub const TENANT: &str = "t";

pub fn config(dir: &std::path::Path) -> StoreConfig {
    StoreConfig {
        data_dir: dir.to_path_buf(),
        wal_sync: SyncPolicy::None,
        wal_sync_interval: Duration::from_millis(5),
        wal_segment_bytes: 1 << 20,
        wal_max_record_bytes: 16 << 20,
        head_max_bytes: 1 << 30,
        storage_url: String::new(),
        storage_options: Default::default(),
        block: BlockWriteOptions::default(),
        observer: None,
        ingestion_time_slack: arbor_storage::retention::DEFAULT_SLACK,
    }
}

pub async fn open(dir: &std::path::Path) -> Store {
    Store::open(config(dir)).await.unwrap().0
}

/// The start of the previous hour plus a minute (Unix ns): spans from there on, for less
/// than an hour, stay in one compaction window and are never in the future.
pub fn window_start_ns() -> u64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    (now / 3600 * 3600 - 3600 + 60) * 1_000_000_000
}

/// The spans of `reqs`, by trace ID (hex), as the head holds them.
pub fn head_spans(reqs: &[ExportTraceServiceRequest]) -> BTreeMap<String, Vec<HeadSpan>> {
    let mut out: BTreeMap<String, Vec<HeadSpan>> = BTreeMap::new();
    for req in reqs {
        for rs in &req.resource_spans {
            let resource = Arc::new(ResourceEntry {
                resource: rs.resource.clone(),
                schema_url: rs.schema_url.clone(),
            });
            for ss in &rs.scope_spans {
                let scope = Arc::new(ScopeEntry {
                    scope: ss.scope.clone(),
                    schema_url: ss.schema_url.clone(),
                });
                for span in &ss.spans {
                    out.entry(hex::encode(&span.trace_id))
                        .or_default()
                        .push(HeadSpan {
                            resource: resource.clone(),
                            scope: scope.clone(),
                            span: span.clone(),
                        });
                }
            }
        }
    }
    out
}

pub fn search_pipeline(q: &Query) -> &Pipeline {
    match &q.kind {
        QueryKind::Search(p) => p,
        QueryKind::Metrics(_) => panic!("a search query expected"),
    }
}

/// Parses and validates `text`, prints it, and parses the printed text again: the query the
/// tests run is the re-parsed one, so the printer is checked on every query too.
pub fn reparse(text: &str) -> Option<Query> {
    let first = parse_and_validate(text).ok()?;
    let printed = first.to_string();
    let again = parse_and_validate(&printed).unwrap_or_else(|e| {
        panic!("{text:?} prints as {printed:?}, which does not parse again: {e}")
    });
    assert_eq!(
        again.to_string(),
        printed,
        "printing {text:?} is not stable"
    );
    Some(again)
}

/// One matching trace in a comparable shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceOut {
    pub root_name: Option<String>,
    pub root_service: Option<String>,
    pub start_ns: u64,
    pub end_ns: u64,
    pub span_count: u64,
    pub error_count: u64,
    /// Spansets by their labels (rendered): span IDs in hex.
    pub sets: BTreeMap<String, BTreeSet<String>>,
}

pub fn labels_text(labels: &[(String, Owned)]) -> String {
    labels
        .iter()
        .map(|(k, v)| format!("{k}={v:?}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Runs a search over everything the store holds for the tenant.
pub async fn run_search(store: &Store, q: &Query) -> SearchResult {
    let mut req = SearchRequest::new(q).unwrap();
    req.limit = 100_000;
    req.spss = 100_000;
    search(&store.search_view(TENANT), &req)
        .await
        .unwrap_or_else(|e| panic!("{q}: {e}"))
}

/// The engine's result by trace ID; checks each spanset returned all of its spans.
pub fn engine_out(q: &Query, r: &SearchResult) -> BTreeMap<String, TraceOut> {
    let mut out = BTreeMap::new();
    for t in &r.traces {
        let mut sets = BTreeMap::new();
        for s in &t.span_sets {
            assert_eq!(
                s.matched,
                s.spans.len(),
                "{q}: trace {}: matched counts {} spans, {} returned",
                t.trace_id.to_hex(),
                s.matched,
                s.spans.len()
            );
            let ids: BTreeSet<String> = s.spans.iter().map(|x| x.span_id.clone()).collect();
            assert_eq!(ids.len(), s.spans.len(), "{q}: a span returned twice");
            let prev = sets.insert(labels_text(&s.labels), ids);
            assert!(prev.is_none(), "{q}: two spansets with the same labels");
        }
        out.insert(
            t.trace_id.to_hex(),
            TraceOut {
                root_name: t.root_name.clone(),
                root_service: t.root_service.clone(),
                start_ns: t.start_ns,
                end_ns: t.end_ns,
                span_count: t.span_count,
                error_count: t.error_count,
                sets,
            },
        );
    }
    out
}

/// The reference evaluator's result by trace ID.
pub fn reference_out(
    p: &Pipeline,
    traces: &BTreeMap<String, Vec<HeadSpan>>,
) -> BTreeMap<String, TraceOut> {
    let mut out = BTreeMap::new();
    for (id, spans) in traces {
        let found: Vec<RefSpanset> = reference::search(p, spans);
        if found.is_empty() {
            continue;
        }
        let root = reference::root(spans);
        let root_service = root.and_then(|r| {
            let res = spans[r].resource.resource.as_ref()?;
            arbor_model::otlp::service_name(Some(res)).map(str::to_string)
        });
        let mut sets = BTreeMap::new();
        for s in found {
            sets.insert(labels_text(&s.labels), s.span_ids);
        }
        out.insert(
            id.clone(),
            TraceOut {
                root_name: root.map(|r| spans[r].span.name.clone()),
                root_service,
                start_ns: spans
                    .iter()
                    .map(|s| s.span.start_time_unix_nano)
                    .min()
                    .unwrap(),
                end_ns: spans
                    .iter()
                    .map(|s| s.span.end_time_unix_nano)
                    .max()
                    .unwrap(),
                span_count: spans.len() as u64,
                error_count: spans
                    .iter()
                    .filter(|s| s.span.status.as_ref().is_some_and(|st| st.code == 2))
                    .count() as u64,
                sets,
            },
        );
    }
    out
}

/// Spans, one a line, for a failure message.
pub fn describe(spans: &[HeadSpan]) -> String {
    spans
        .iter()
        .map(|s| {
            format!(
                "  {} parent={} name={:?} start=+{}ms dur={}ns kind={} status={:?} attrs={:?} res={:?}\n",
                hex::encode(&s.span.span_id),
                hex::encode(&s.span.parent_span_id),
                s.span.name,
                (s.span.start_time_unix_nano % 3_600_000_000_000) / 1_000_000,
                s.span.end_time_unix_nano - s.span.start_time_unix_nano,
                s.span.kind,
                s.span.status.as_ref().map(|x| x.code),
                s.span
                    .attributes
                    .iter()
                    .map(|kv| (kv.key.as_str(), kv.value.as_ref().and_then(|v| v.value.clone())))
                    .collect::<Vec<_>>(),
                s.resource
                    .resource
                    .as_ref()
                    .map(|r| r
                        .attributes
                        .iter()
                        .map(|kv| (kv.key.as_str(), kv.value.as_ref().and_then(|v| v.value.clone())))
                        .collect::<Vec<_>>()),
            )
        })
        .collect()
}

/// `n` queries from a generator that parse, validate and print back (seeded).
pub fn queries(seed: u64, n: usize, gen_fn: fn(&mut StdRng) -> String) -> Vec<Query> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut out = Vec::new();
    let mut tries = 0;
    while out.len() < n {
        tries += 1;
        assert!(tries < n * 20, "too few generated queries validate");
        if let Some(q) = reparse(&gen_fn(&mut rng)) {
            out.push(q);
        }
    }
    out
}

/// Whether two metric values agree (NaN for "nothing counted" on both sides).
pub fn close(a: f64, b: f64) -> bool {
    (a.is_nan() && b.is_nan()) || a == b || (a - b).abs() <= 1e-9 * a.abs().max(b.abs())
}

/// Runs metrics request `req` (of pipeline `mp`, query `q`) and checks every series
/// against the reference over the whole `traces`; the engine's answer and the number of
/// series.
pub async fn check_metrics(
    store: &Store,
    traces: &[Vec<HeadSpan>],
    mp: &arbor_query::traceql::MetricsPipeline,
    q: &Query,
    req: &arbor_query::search::metrics::MetricsRequest,
    layout: &str,
) -> (arbor_query::search::metrics::MetricsResult, usize) {
    let got = arbor_query::search::metrics::query_range(&store.search_view(TENANT), req)
        .await
        .unwrap_or_else(|e| panic!("{q}: {e}"));
    let want = reference::metrics(mp, traces, req.start_ns, req.end_ns, req.step_ns)
        .expect("a function the reference implements");
    let got_map: BTreeMap<String, &Vec<f64>> = got
        .series
        .iter()
        .map(|s| (labels_text(&s.labels), &s.values))
        .collect();
    let want_map: BTreeMap<String, &Vec<f64>> = want
        .iter()
        .map(|s| (labels_text(&s.labels), &s.values))
        .collect();
    assert_eq!(
        got_map.keys().collect::<Vec<_>>(),
        want_map.keys().collect::<Vec<_>>(),
        "{layout}: metrics query `{q}`: series differ"
    );
    for (k, g) in &got_map {
        let w = want_map[k];
        assert!(
            g.len() == w.len() && g.iter().zip(w.iter()).all(|(a, b)| close(*a, *b)),
            "{layout}: metrics query `{q}`, series {k}\nengine:    {g:?}\nreference: {w:?}"
        );
    }
    let n = want.len();
    (got, n)
}

/// Compacts the tenant's blocks into one.
pub async fn compact_all(store: &Store) {
    let cfg = arbor_storage::compact::CompactionConfig {
        min_inputs: 2,
        ..Default::default()
    };
    store
        .compact_once(TENANT, &cfg)
        .await
        .unwrap()
        .expect("the blocks compact");
    assert_eq!(store.search_view(TENANT).blocks.len(), 1);
}
