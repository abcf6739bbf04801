//! Row groups skipped by their statistics: a time range, a duration comparison and an
//! equality on a high-cardinality attribute (bloom filters) read only the row groups that
//! can hold a match, and answer as a full read does.

mod support;

use arbor_model::otlp::{
    AnyValue, ExportTraceServiceRequest, KeyValue, ResourceSpans, ScopeSpans, Span, any_value,
};
use arbor_query::search::{SearchRequest, search_store};
use arbor_storage::Store;
use support::{TENANT, reparse};

const MINUTE: u64 = 60_000_000_000;
const TRACES: u64 = 20;
const SPANS: u64 = 50;

fn request(base: u64) -> ExportTraceServiceRequest {
    let mut spans = Vec::new();
    for t in 0..TRACES {
        for i in 0..SPANS {
            let mut tid = [0u8; 16];
            tid[0] = t as u8 + 1;
            let start = base + t * MINUTE + i * 1_000_000;
            // One span of trace 7 lasts ten seconds; every other span a millisecond.
            let dur = if t == 7 && i == 3 {
                10_000_000_000
            } else {
                1_000_000
            };
            spans.push(Span {
                trace_id: tid.to_vec(),
                span_id: vec![t as u8 + 1, i as u8 + 1, 0, 0, 0, 0, 0, 1],
                name: "op".into(),
                // A value per span: too many for the attribute index.
                attributes: vec![KeyValue {
                    key: "user.id".into(),
                    value: Some(AnyValue {
                        value: Some(any_value::Value::StringValue(format!("u-{t}-{i}"))),
                    }),
                    ..Default::default()
                }],
                start_time_unix_nano: start,
                end_time_unix_nano: start + dur,
                ..Default::default()
            });
        }
    }
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            scope_spans: vec![ScopeSpans {
                spans,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

async fn search(store: &Store, q: &str, window: (u64, u64)) -> (Vec<u8>, u64) {
    let mut req = SearchRequest::new(&reparse(q).unwrap()).unwrap();
    req.limit = 1000;
    (req.start_ns, req.end_ns) = window;
    let r = search_store(store, TENANT, &req).await.unwrap();
    let mut firsts: Vec<u8> = r.traces.iter().map(|t| t.trace_id.0[0] - 1).collect();
    firsts.sort();
    (firsts, r.metrics.inspected_spans)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn time_ranges_and_durations_skip_row_groups() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = support::config(dir.path());
    cfg.block.rows_per_row_group = 100; // two traces a row group
    cfg.block.index_max_values_per_key = 50;
    let store = Store::open(cfg).await.unwrap().0;
    let base = support::window_start_ns();
    store.ingest(TENANT, request(base)).await.unwrap();
    store.cut().await.unwrap();
    let rgs = store.search_view(TENANT).blocks[0].row_group_count();
    assert!(rgs >= 5, "several row groups: {rgs}");

    let (all, read_all) = search(&store, "{ }", (0, 0)).await;
    assert_eq!(all.len() as u64, TRACES);
    assert_eq!(read_all, TRACES * SPANS);

    // Traces 4 and 5 only: the row groups of other minutes are not read.
    let (found, read) = search(&store, "{ }", (base + 4 * MINUTE, base + 5 * MINUTE + 1)).await;
    assert_eq!(found, vec![4, 5]);
    assert!(read < read_all / 2, "{read} of {read_all} spans read");

    // Only trace 7 has a span over a second.
    let (found, read) = search(&store, "{ duration > 1s }", (0, 0)).await;
    assert_eq!(found, vec![7]);
    assert!(read <= 4 * SPANS, "{read} spans read");
    let (found, read) = search(&store, "{ duration > 1h }", (0, 0)).await;
    assert!(found.is_empty());
    assert_eq!(read, 0);

    // One user's span: the bloom filters of the other row groups rule them out.
    let index = store.search_view(TENANT).blocks[0].index().await.unwrap();
    assert_eq!(
        index.lookup(arbor_storage::block::IndexScope::Span, "user.id", "u-7-3"),
        arbor_storage::block::IndexAnswer::NotIndexed,
        "too many values to index"
    );
    let (found, read) = search(&store, r#"{ span.user.id = "u-7-3" }"#, (0, 0)).await;
    assert_eq!(found, vec![7]);
    assert!(read <= 2 * 2 * SPANS, "{read} spans read");
    let (found, _) = search(&store, r#"{ span.user.id = "nobody" }"#, (0, 0)).await;
    assert!(found.is_empty());
}
