//! Tests of the block format: exact round trips, pruning, dedicated columns, the index, the
//! version rule, the committed v1 fixture, and (ignored) the size measurement.

mod generate;

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use arbor_model::TraceId;
use arbor_model::otlp::{ResourceSpans, ScopeSpans, TracesData};
use arrow::array::{Array, ListArray, RecordBatch, StructArray};
use bytes::Bytes;
use futures::StreamExt;
use futures::stream::BoxStream;
use object_store::local::LocalFileSystem;
use object_store::memory::InMemory;
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    ObjectStoreExt, PutMultipartOptions, PutOptions, PutPayload, PutResult,
};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use prost::Message;

use super::attrs::StrCol;
use super::meta::{BlockMeta, META_FILE};
use super::*;
use crate::head::{HeadSpan, ResourceEntry, ScopeEntry};
use generate::{Rng, kv, realistic_traces, rich_traces};

type Traces = Vec<(TraceId, Vec<HeadSpan>)>;

fn encode(traces: &Traces, opts: BlockWriteOptions) -> EncodedBlock {
    let mut w = BlockWriter::new("tenant-a", opts);
    for (id, spans) in traces {
        w.push_trace(*id, spans.clone()).unwrap();
    }
    w.finish(None, 0, Vec::new()).unwrap()
}

/// Publishes a block the way the backend does: files first, `meta.json` last.
async fn publish(store: &Arc<dyn ObjectStore>, dir: &Path, block: &EncodedBlock) {
    for (name, bytes) in &block.files {
        store
            .put(
                &dir.clone().join(name.as_str()),
                PutPayload::from(bytes.clone()),
            )
            .await
            .unwrap();
    }
    let meta = serde_json::to_vec_pretty(&block.meta).unwrap();
    store
        .put(&dir.clone().join(META_FILE), PutPayload::from(meta))
        .await
        .unwrap();
}

async fn open(store: Arc<dyn ObjectStore>, dir: &Path) -> BlockReader {
    let meta = store
        .get(&dir.clone().join(META_FILE))
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let meta: BlockMeta = serde_json::from_slice(&meta).unwrap();
    BlockReader::open(store, dir.clone(), meta).await.unwrap()
}

/// What must survive a round trip, byte for byte: the resource, the scope and the span.
fn canonical(s: &HeadSpan) -> (Vec<u8>, Vec<u8>, Vec<u8>) {
    let res = |r: &ResourceEntry| {
        let mut v = vec![r.resource.is_some() as u8];
        v.extend(r.schema_url.as_bytes());
        v.push(0xff);
        if let Some(x) = &r.resource {
            v.extend(x.encode_to_vec());
        }
        v
    };
    let scope = |r: &ScopeEntry| {
        let mut v = vec![r.scope.is_some() as u8];
        v.extend(r.schema_url.as_bytes());
        v.push(0xff);
        if let Some(x) = &r.scope {
            v.extend(x.encode_to_vec());
        }
        v
    };
    (res(&s.resource), scope(&s.scope), s.span.encode_to_vec())
}

/// The spans of a trace in the order a block stores them.
fn stored_order(spans: &[HeadSpan]) -> Vec<(Vec<u8>, Vec<u8>, Vec<u8>)> {
    let mut spans = spans.to_vec();
    spans.sort_by(|a, b| {
        (a.span.start_time_unix_nano, &a.span.span_id)
            .cmp(&(b.span.start_time_unix_nano, &b.span.span_id))
    });
    spans.iter().map(canonical).collect()
}

fn assert_same(got: &[HeadSpan], want: &[HeadSpan], id: &TraceId) {
    let got: Vec<_> = got.iter().map(canonical).collect();
    let want = stored_order(want);
    assert_eq!(got.len(), want.len(), "span count of {id:?}");
    for (k, (g, w)) in got.iter().zip(&want).enumerate() {
        assert!(g == w, "span {k} of {id:?} differs after the round trip");
    }
}

fn read_parquet(block: &EncodedBlock, name: &str) -> Vec<RecordBatch> {
    let bytes = block
        .files
        .iter()
        .find(|(n, _)| n == name)
        .unwrap()
        .1
        .clone();
    ParquetRecordBatchReaderBuilder::try_new(bytes)
        .unwrap()
        .build()
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap()
}

fn absent_ids(traces: &Traces, n: usize, seed: u64) -> Vec<TraceId> {
    let present: std::collections::HashSet<TraceId> = traces.iter().map(|(id, _)| *id).collect();
    let mut r = Rng::new(seed);
    (0..n)
        .map(|_| TraceId(r.nonzero_bytes::<16>()))
        .filter(|id| !present.contains(id))
        .collect()
}

async fn check_round_trip(store: Arc<dyn ObjectStore>, traces: &Traces, opts: BlockWriteOptions) {
    let block = encode(traces, opts.clone());
    let dir = Path::from("tenant-a").join(block.meta.block_id.as_str());
    publish(&store, &dir, &block).await;
    let reader = open(store, &dir).await;
    assert_eq!(reader.meta, block.meta);
    assert_eq!(
        reader.meta.span_count,
        traces.iter().map(|(_, s)| s.len() as u64).sum::<u64>()
    );
    assert_eq!(reader.meta.trace_count, traces.len() as u64);
    for (id, spans) in traces {
        assert!(reader.may_contain(id));
        let got = reader.find_trace(id).await.unwrap();
        assert_same(&got, spans, id);
    }
    let absent = absent_ids(traces, 2_000, 99);
    let mut admitted = 0;
    for id in &absent {
        if reader.may_contain(id) {
            admitted += 1;
        }
        assert!(reader.find_trace(id).await.unwrap().is_empty());
    }
    assert!(
        admitted * 100 <= absent.len() * 5,
        "{admitted} of {} absent IDs admitted",
        absent.len()
    );
    // The scan gives every trace, whole, in ID order.
    let scanned: Vec<_> = reader
        .traces()
        .map(|t| t.unwrap())
        .collect::<Vec<_>>()
        .await;
    assert_eq!(scanned.len(), traces.len());
    for ((sid, sspans), (id, spans)) in scanned.iter().zip(traces) {
        assert_eq!(sid, id);
        assert_same(sspans, spans, id);
    }
}

#[tokio::test]
async fn block_round_trip_rich_spans_in_memory() {
    // Small row groups: many of them, and big traces split across them.
    let traces = rich_traces(1, 400, 60);
    let opts = BlockWriteOptions {
        rows_per_row_group: 97,
        ..Default::default()
    };
    check_round_trip(Arc::new(InMemory::new()), &traces, opts).await;
    // And with the default (one row group).
    check_round_trip(
        Arc::new(InMemory::new()),
        &traces,
        BlockWriteOptions::default(),
    )
    .await;
}

#[tokio::test]
async fn block_round_trip_more_seeds_and_shapes() {
    for seed in 2..6 {
        let traces = rich_traces(seed, 60, 300);
        let opts = BlockWriteOptions {
            rows_per_row_group: 50 + seed as usize * 37,
            max_dedicated_columns: seed as usize - 2,
            index_max_values_per_key: 3,
            zstd_level: 1 + seed as i32,
        };
        check_round_trip(Arc::new(InMemory::new()), &traces, opts).await;
    }
}

#[tokio::test]
async fn block_round_trip_local_filesystem() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn ObjectStore> =
        Arc::new(LocalFileSystem::new_with_prefix(dir.path()).unwrap());
    let traces = rich_traces(7, 150, 30);
    let opts = BlockWriteOptions {
        rows_per_row_group: 300,
        ..Default::default()
    };
    check_round_trip(store, &traces, opts).await;
}

#[tokio::test]
async fn block_row_groups_end_at_trace_boundaries_unless_a_trace_is_huge() {
    let traces = rich_traces(8, 100, 40);
    let block = encode(
        &traces,
        BlockWriteOptions {
            rows_per_row_group: 100,
            ..Default::default()
        },
    );
    let rgs = &block.meta.row_groups;
    assert!(rgs.len() > 5);
    for pair in rgs.windows(2) {
        assert!(
            pair[0].last_trace_id < pair[1].first_trace_id,
            "a small trace was split"
        );
        assert!(pair[0].rows >= 100);
    }
    assert_eq!(
        rgs.iter().map(|r| r.rows).sum::<u64>(),
        block.meta.span_count
    );

    // One trace of 1000 spans with row groups of 100: split, at most 200 rows each.
    let mut r = Rng::new(3);
    let pools = generate::rich_pools(&mut r);
    let id = TraceId([7; 16]);
    let big = vec![(id, generate::rich_trace(&mut r, &pools, id, 1000))];
    let block = encode(
        &big,
        BlockWriteOptions {
            rows_per_row_group: 100,
            ..Default::default()
        },
    );
    assert!(block.meta.row_groups.len() >= 5);
    assert!(block.meta.row_groups.iter().all(|g| g.rows <= 200));
    let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    let dir = Path::from("t/big");
    publish(&store, &dir, &block).await;
    let reader = open(store, &dir).await;
    assert_same(&reader.find_trace(&id).await.unwrap(), &big[0].1, &id);
}

#[tokio::test]
async fn block_writer_refuses_out_of_order_and_bad_spans() {
    let traces = rich_traces(9, 3, 3);
    let mut w = BlockWriter::new("t", BlockWriteOptions::default());
    w.push_trace(traces[1].0, traces[1].1.clone()).unwrap();
    assert!(matches!(
        w.push_trace(traces[0].0, traces[0].1.clone()),
        Err(BlockError::OutOfOrder { .. })
    ));
    assert!(matches!(
        w.push_trace(traces[1].0, traces[1].1.clone()),
        Err(BlockError::OutOfOrder { .. })
    ));
    // A span filed under the wrong trace.
    assert!(matches!(
        w.push_trace(traces[2].0, traces[0].1.clone()),
        Err(BlockError::InvalidSpan { .. })
    ));
    let mut bad = traces[2].1.clone();
    bad[0].span.span_id = vec![1, 2, 3];
    let mut w = BlockWriter::new("t", BlockWriteOptions::default());
    assert!(matches!(
        w.push_trace(traces[2].0, bad),
        Err(BlockError::InvalidSpan { .. })
    ));
}

#[tokio::test]
async fn block_empty_block_is_valid() {
    let mut w = BlockWriter::new("t", BlockWriteOptions::default());
    w.push_trace(TraceId([1; 16]), Vec::new()).unwrap();
    let block = w.finish(None, 0, Vec::new()).unwrap();
    assert_eq!(block.meta.span_count, 0);
    assert_eq!(block.meta.trace_count, 0);
    assert!(block.meta.row_groups.is_empty());
    let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    let dir = Path::from("t/empty");
    publish(&store, &dir, &block).await;
    let reader = open(store.clone(), &dir).await;
    // What callers hold across tasks and threads is Send (and the reader Sync).
    fn send<T: Send>(_: T) {}
    fn send_sync<T: Send + Sync>() {}
    send_sync::<BlockReader>();
    send_sync::<AttributeIndex>();
    send(BlockWriter::new("t", BlockWriteOptions::default()));
    send(reader.find_trace(&TraceId([1; 16])));
    send(reader.index());
    send(reader.traces());
    send(BlockReader::open(store, dir.clone(), block.meta.clone()));
    assert!(!reader.may_contain(&TraceId([1; 16])));
    assert!(
        reader
            .find_trace(&TraceId([1; 16]))
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(reader.traces().count().await, 0);
    assert_eq!(
        reader
            .index()
            .await
            .unwrap()
            .lookup(IndexScope::Span, "a", "b"),
        IndexAnswer::Absent
    );
}

#[tokio::test]
async fn block_meta_is_filled() {
    let traces = rich_traces(10, 50, 10);
    let mut w = BlockWriter::new("tenant-x", BlockWriteOptions::default());
    for (id, spans) in &traces {
        w.push_trace(*id, spans.clone()).unwrap();
    }
    // A trace with no spans is skipped: not counted, not the maximum.
    w.push_trace(TraceId([0xff; 16]), Vec::new()).unwrap();
    let wal = meta::WalCoverage {
        ingester: "ing-1".into(),
        through_segment: 12,
    };
    let block = w
        .finish(Some(wal.clone()), 2, vec!["a".into(), "b".into()])
        .unwrap();
    let m = &block.meta;
    assert_eq!(m.format, meta::FORMAT);
    assert_eq!(m.version, meta::VERSION);
    assert_eq!(
        uuid::Uuid::parse_str(&m.block_id)
            .unwrap()
            .get_version_num(),
        7
    );
    assert_eq!(m.tenant, "tenant-x");
    assert!(m.created_unix_nano > 1_600_000_000_000_000_000);
    let all: Vec<&HeadSpan> = traces.iter().flat_map(|(_, s)| s).collect();
    assert_eq!(
        m.start_unix_nano,
        all.iter()
            .map(|s| s.span.start_time_unix_nano)
            .min()
            .unwrap()
    );
    assert_eq!(
        m.end_unix_nano,
        all.iter().map(|s| s.span.end_time_unix_nano).max().unwrap()
    );
    assert_eq!(m.min_trace_id, traces[0].0.to_hex());
    assert_eq!(m.max_trace_id, traces.last().unwrap().0.to_hex());
    assert_eq!(m.span_count, all.len() as u64);
    assert_eq!(m.trace_count, traces.len() as u64);
    let names: Vec<&str> = m.files.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "spans.parquet",
            "resources.parquet",
            "scopes.parquet",
            "traces.parquet",
            "index.parquet",
            "trace-ids.sbbf"
        ]
    );
    for (f, (name, bytes)) in m.files.iter().zip(&block.files) {
        assert_eq!(&f.name, name);
        assert_eq!(f.bytes, bytes.len() as u64);
    }
    assert_eq!(m.trace_filter.kind, "sbbf");
    assert_eq!(m.trace_filter.file, "trace-ids.sbbf");
    assert_eq!(m.wal, Some(wal));
    assert_eq!(m.compaction_level, 2);
    assert_eq!(m.sources, vec!["a".to_string(), "b".to_string()]);
    // meta.json survives serde.
    let back: BlockMeta = serde_json::from_slice(&serde_json::to_vec(m).unwrap()).unwrap();
    assert_eq!(&back, m);
}

#[tokio::test]
async fn block_resources_and_scopes_are_deduplicated_by_content() {
    let traces = rich_traces(11, 200, 10);
    let block = encode(&traces, BlockWriteOptions::default());
    let distinct = |f: &dyn Fn(&HeadSpan) -> Vec<u8>| {
        let mut v: Vec<Vec<u8>> = traces.iter().flat_map(|(_, s)| s).map(f).collect();
        v.sort();
        v.dedup();
        v.len()
    };
    let resources: usize = read_parquet(&block, "resources.parquet")
        .iter()
        .map(|b| b.num_rows())
        .sum();
    let scopes: usize = read_parquet(&block, "scopes.parquet")
        .iter()
        .map(|b| b.num_rows())
        .sum();
    assert_eq!(resources, distinct(&|s| canonical(s).0));
    assert_eq!(scopes, distinct(&|s| canonical(s).1));
}

#[tokio::test]
async fn block_trace_table_summarises_each_trace() {
    let traces = realistic_traces(12, 3_000);
    let block = encode(&traces, BlockWriteOptions::default());
    let batches = read_parquet(&block, "traces.parquet");
    let mut rows = Vec::new();
    for b in &batches {
        let ids = b
            .column_by_name("trace_id")
            .unwrap()
            .as_any()
            .downcast_ref::<arrow::array::FixedSizeBinaryArray>()
            .unwrap();
        let service = StrCol::new(b.column_by_name("root_service").unwrap().as_ref(), "").unwrap();
        let name = StrCol::new(b.column_by_name("root_name").unwrap().as_ref(), "").unwrap();
        let u64s = |c: &str| {
            b.column_by_name(c)
                .unwrap()
                .as_any()
                .downcast_ref::<arrow::array::UInt64Array>()
                .unwrap()
                .clone()
        };
        let u32s = |c: &str| {
            b.column_by_name(c)
                .unwrap()
                .as_any()
                .downcast_ref::<arrow::array::UInt32Array>()
                .unwrap()
                .clone()
        };
        let (start, end, count, errors) = (
            u64s("start_unix_nano"),
            u64s("end_unix_nano"),
            u32s("span_count"),
            u32s("error_count"),
        );
        for i in 0..b.num_rows() {
            rows.push((
                ids.value(i).to_vec(),
                service.get(i).map(str::to_string),
                name.get(i).map(str::to_string),
                start.value(i),
                end.value(i),
                count.value(i),
                errors.value(i),
            ));
        }
    }
    assert_eq!(rows.len(), traces.len());
    for ((id, spans), row) in traces.iter().zip(&rows) {
        assert_eq!(row.0, id.0.to_vec());
        // The generator's first span is the root.
        let root = &spans[0];
        let svc = root.resource.resource.as_ref().unwrap().attributes[0].clone();
        assert_eq!(svc.key, "service.name");
        assert_eq!(row.1.as_deref(), super::attrs::plain_string(&svc));
        assert_eq!(row.2.as_deref(), Some(root.span.name.as_str()));
        assert_eq!(
            row.3,
            spans
                .iter()
                .map(|s| s.span.start_time_unix_nano)
                .min()
                .unwrap()
        );
        assert_eq!(
            row.4,
            spans
                .iter()
                .map(|s| s.span.end_time_unix_nano)
                .max()
                .unwrap()
        );
        assert_eq!(row.5 as usize, spans.len());
        assert_eq!(
            row.6 as usize,
            spans
                .iter()
                .filter(|s| s.span.status.as_ref().is_some_and(|st| st.code == 2))
                .count()
        );
    }
}

/// Every distinct generic-list key in `spans.parquet`.
fn generic_keys(block: &EncodedBlock) -> std::collections::BTreeSet<String> {
    let mut keys = std::collections::BTreeSet::new();
    for b in read_parquet(block, "spans.parquet") {
        let list = b
            .column_by_name("attributes")
            .unwrap()
            .as_any()
            .downcast_ref::<ListArray>()
            .unwrap();
        let items = list
            .values()
            .as_any()
            .downcast_ref::<StructArray>()
            .unwrap();
        let key = StrCol::new(items.column_by_name("key").unwrap().as_ref(), "key").unwrap();
        let ty = items
            .column_by_name("type")
            .unwrap()
            .as_any()
            .downcast_ref::<arrow::array::Int8Array>()
            .unwrap();
        for i in 0..items.len() {
            keys.insert(format!("{}:{}", key.get_or_empty(i), ty.value(i)));
        }
    }
    keys
}

#[tokio::test]
async fn block_dedicated_columns_are_chosen_by_frequency() {
    // Key kN appears (as a string) in N% of the spans; "num" is frequent but an integer;
    // "bad key!" is frequent but not a usable column name.
    let mut r = Rng::new(13);
    let mut traces: Traces = Vec::new();
    let mut ids: Vec<TraceId> = (0..200).map(|_| TraceId(r.nonzero_bytes::<16>())).collect();
    ids.sort();
    let pools = generate::rich_pools(&mut r);
    let mut n = 0;
    for id in ids {
        let mut spans = generate::rich_trace(&mut r, &pools, id, 10);
        for hs in &mut spans {
            let mut attrs = vec![kv("num", generate::i(5)), kv("bad key!", generate::s("v"))];
            for k in 1..=15u64 {
                if n % 100 < k * 6 {
                    attrs.push(kv(
                        &format!("k{k:02}"),
                        generate::s(&format!("value-{}", n % 7)),
                    ));
                }
            }
            // The first occurrence goes to the column; a repeat stays in the list.
            attrs.push(kv("k15", generate::s("again")));
            hs.span.attributes = attrs;
            n += 1;
        }
        traces.push((id, spans));
    }
    let opts = BlockWriteOptions {
        rows_per_row_group: 500,
        max_dedicated_columns: 4,
        ..Default::default()
    };
    let block = encode(&traces, opts.clone());
    let span_dedicated: Vec<(&str, &str)> = block
        .meta
        .dedicated_columns
        .iter()
        .filter(|d| d.scope == "span")
        .map(|d| (d.key.as_str(), d.column.as_str()))
        .collect();
    assert_eq!(
        span_dedicated,
        [
            ("k15", "span.k15"),
            ("k14", "span.k14"),
            ("k13", "span.k13"),
            ("k12", "span.k12")
        ]
    );
    let resource_dedicated: Vec<&str> = block
        .meta
        .dedicated_columns
        .iter()
        .filter(|d| d.scope == "resource")
        .map(|d| d.column.as_str())
        .collect();
    assert_eq!(
        resource_dedicated,
        [
            "resource.service.name",
            "resource.service.namespace",
            "resource.deployment.environment",
            "resource.deployment.environment.name"
        ]
    );
    // The columns exist, and the Parquet metadata says the same as meta.json.
    let bytes = block.files[0].1.clone();
    let builder = ParquetRecordBatchReaderBuilder::try_new(bytes).unwrap();
    for (_, col) in &span_dedicated {
        assert!(builder.schema().field_with_name(col).is_ok());
    }
    let kv_meta = builder
        .metadata()
        .file_metadata()
        .key_value_metadata()
        .unwrap();
    let find = |k: &str| {
        kv_meta
            .iter()
            .find(|x| x.key == k)
            .unwrap()
            .value
            .clone()
            .unwrap()
    };
    let from_parquet: Vec<meta::DedicatedColumn> =
        serde_json::from_str(&find("arbor.dedicated_columns")).unwrap();
    let span_only: Vec<_> = block
        .meta
        .dedicated_columns
        .iter()
        .filter(|d| d.scope == "span")
        .cloned()
        .collect();
    // The file's copy is written before the rows, so it cannot say which keys also
    // occur in the generic list; meta.json, written last, does.
    let without_flag = |v: &[meta::DedicatedColumn]| -> Vec<meta::DedicatedColumn> {
        v.iter()
            .map(|d| meta::DedicatedColumn {
                also_generic: None,
                ..d.clone()
            })
            .collect()
    };
    assert_eq!(without_flag(&from_parquet), without_flag(&span_only));
    assert!(from_parquet.iter().all(|d| d.also_generic.is_none()));
    let flags: Vec<(&str, Option<bool>)> = span_only
        .iter()
        .map(|d| (d.key.as_str(), d.also_generic))
        .collect();
    assert_eq!(
        flags,
        vec![
            ("k15", Some(true)),
            ("k14", Some(false)),
            ("k13", Some(false)),
            ("k12", Some(false))
        ],
        "k15 is repeated in some spans, so it is also in the generic list"
    );
    assert_eq!(find("arbor.format"), "arbor-block");
    assert_eq!(find("arbor.version"), "1");

    // Dedicated values left the generic list (but the repeated k15 and the others stayed).
    let keys = generic_keys(&block);
    for k in ["k12:1", "k13:1", "k14:1"] {
        assert!(!keys.contains(k), "{k} still in the generic list");
    }
    for k in ["k15:1", "k11:1", "num:3", "bad key!:1"] {
        assert!(keys.contains(k), "{k} missing from the generic list");
    }
    // And everything reads back exactly, in the original attribute order.
    let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    let dir = Path::from("t/ded");
    publish(&store, &dir, &block).await;
    let reader = open(store, &dir).await;
    for (id, spans) in &traces {
        assert_same(&reader.find_trace(id).await.unwrap(), spans, id);
    }
}

#[tokio::test]
async fn block_index_lists_each_services_operations() {
    let traces = realistic_traces(21, 3_000);
    let opts = BlockWriteOptions {
        rows_per_row_group: 500,
        index_max_values_per_key: 1_000,
        ..Default::default()
    };
    let block = encode(&traces, opts);
    let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    let dir = Path::from("t/ops");
    publish(&store, &dir, &block).await;
    let index = open(store, &dir).await.index().await.unwrap();
    let mut truth: std::collections::BTreeMap<String, std::collections::BTreeSet<(i32, String)>> =
        Default::default();
    for (_, spans) in &traces {
        for s in spans {
            let svc = crate::head::service_of(&s.resource);
            truth
                .entry(svc)
                .or_default()
                .insert((s.span.kind, s.span.name.clone()));
        }
    }
    assert!(truth.len() > 1);
    for (svc, ops) in &truth {
        let got: std::collections::BTreeSet<(i32, String)> = index
            .operations(svc)
            .unwrap()
            .into_iter()
            .map(|(k, n)| (k, n.to_string()))
            .collect();
        assert_eq!(&got, ops, "{svc}");
    }
    assert_eq!(index.operations("no-such-service"), Some(Vec::new()));

    // A service with more operations than the per-key limit: the index cannot tell.
    let tight = encode(
        &traces,
        BlockWriteOptions {
            index_max_values_per_key: 1,
            ..Default::default()
        },
    );
    let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    publish(&store, &dir, &tight).await;
    let index = open(store, &dir).await.index().await.unwrap();
    let many = truth.iter().find(|(_, ops)| ops.len() > 1).unwrap().0;
    assert_eq!(index.operations(many), None);
}

#[tokio::test]
async fn block_attribute_index_answers() {
    let traces = realistic_traces(14, 6_000);
    let opts = BlockWriteOptions {
        rows_per_row_group: 1_000,
        index_max_values_per_key: 100,
        ..Default::default()
    };
    let block = encode(&traces, opts);
    let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    let dir = Path::from("t/idx");
    publish(&store, &dir, &block).await;
    let reader = open(store, &dir).await;
    let index = reader.index().await.unwrap();

    // The truth, from the data and the row-group boundaries.
    let mut truth: HashMap<(IndexScope, String, String), std::collections::BTreeSet<usize>> =
        HashMap::new();
    let mut rg = 0;
    let mut in_rg = 0u64;
    for (_, spans) in &traces {
        let mut spans = spans.clone();
        spans.sort_by_key(|s| (s.span.start_time_unix_nano, s.span.span_id.clone()));
        for s in &spans {
            let mut add = |scope, k: &str, v: &str| {
                truth
                    .entry((scope, k.to_string(), v.to_string()))
                    .or_default()
                    .insert(rg);
            };
            add(IndexScope::Intrinsic, "name", &s.span.name);
            for a in &s.span.attributes {
                if let Some(v) = super::attrs::plain_string(a) {
                    add(IndexScope::Span, &a.key, v);
                }
            }
            for a in &s.resource.resource.as_ref().unwrap().attributes {
                if let Some(v) = super::attrs::plain_string(a) {
                    add(IndexScope::Resource, &a.key, v);
                }
            }
            in_rg += 1;
        }
        if in_rg >= 1_000 {
            rg += 1;
            in_rg = 0;
        }
    }
    let mut per_key: HashMap<(IndexScope, String), usize> = HashMap::new();
    for (scope, k, _) in truth.keys() {
        *per_key.entry((*scope, k.clone())).or_default() += 1;
    }
    let mut checked_in = 0;
    let mut checked_not = 0;
    for ((scope, k, v), rgs) in &truth {
        let answer = index.lookup(*scope, k, v);
        if per_key[&(*scope, k.clone())] > 100 {
            assert_eq!(answer, IndexAnswer::NotIndexed, "{scope:?} {k}={v}");
            checked_not += 1;
        } else {
            assert_eq!(
                answer,
                IndexAnswer::InRowGroups(rgs.iter().copied().collect()),
                "{scope:?} {k}={v}"
            );
            checked_in += 1;
        }
    }
    assert!(checked_in > 50 && checked_not > 50);
    // Specific answers.
    assert!(matches!(
        index.lookup(IndexScope::Resource, "service.name", "checkout"),
        IndexAnswer::InRowGroups(v) if v.len() == block.meta.row_groups.len()
    ));
    assert_eq!(
        index.lookup(IndexScope::Resource, "service.name", "no-such-service"),
        IndexAnswer::Absent
    );
    assert_eq!(
        index.lookup(IndexScope::Span, "http.route", "/no/such/route"),
        IndexAnswer::Absent
    );
    assert_eq!(
        index.lookup(IndexScope::Span, "no.such.key", "x"),
        IndexAnswer::Absent
    );
    assert_eq!(
        index.lookup(IndexScope::Span, "request.id", "anything"),
        IndexAnswer::NotIndexed
    );
    // Integers are not strings.
    assert_eq!(
        index.lookup(IndexScope::Span, "http.status_code", "200"),
        IndexAnswer::Absent
    );
    assert!(
        index
            .values(IndexScope::Span, "http.method")
            .unwrap()
            .contains(&"GET")
    );
}

/// An object store that counts the reads going through it.
#[derive(Debug)]
struct CountingStore {
    inner: Arc<dyn ObjectStore>,
    gets: AtomicU64,
    bytes: AtomicU64,
}

impl CountingStore {
    fn new(inner: Arc<dyn ObjectStore>) -> Self {
        Self {
            inner,
            gets: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
        }
    }

    fn take(&self) -> (u64, u64) {
        (
            self.gets.swap(0, Ordering::SeqCst),
            self.bytes.swap(0, Ordering::SeqCst),
        )
    }
}

impl fmt::Display for CountingStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Counting({})", self.inner)
    }
}

#[async_trait::async_trait]
impl ObjectStore for CountingStore {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> object_store::Result<PutResult> {
        self.inner.put_opts(location, payload, opts).await
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> object_store::Result<Box<dyn MultipartUpload>> {
        self.inner.put_multipart_opts(location, opts).await
    }

    async fn get_opts(
        &self,
        location: &Path,
        options: GetOptions,
    ) -> object_store::Result<GetResult> {
        let r = self.inner.get_opts(location, options).await?;
        self.gets.fetch_add(1, Ordering::SeqCst);
        self.bytes
            .fetch_add(r.range.end - r.range.start, Ordering::SeqCst);
        Ok(r)
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, object_store::Result<Path>>,
    ) -> BoxStream<'static, object_store::Result<Path>> {
        self.inner.delete_stream(locations)
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        self.inner.list(prefix)
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> object_store::Result<ListResult> {
        self.inner.list_with_delimiter(prefix).await
    }

    async fn copy_opts(
        &self,
        from: &Path,
        to: &Path,
        options: CopyOptions,
    ) -> object_store::Result<()> {
        self.inner.copy_opts(from, to, options).await
    }
}

struct LookupCost {
    row_groups: usize,
    spans_size: u64,
    first: (u64, u64),
    /// Mean GETs and bytes of a lookup once the footer and tables are cached.
    per_lookup: (f64, f64),
}

async fn measure_lookups(traces: &Traces, rows_per_row_group: usize) -> LookupCost {
    let block = encode(
        traces,
        BlockWriteOptions {
            rows_per_row_group,
            ..Default::default()
        },
    );
    let counting = Arc::new(CountingStore::new(Arc::new(InMemory::new())));
    let store: Arc<dyn ObjectStore> = counting.clone();
    let dir = Path::from("t/prune");
    publish(&store, &dir, &block).await;
    let spans_size = block.meta.files[0].bytes;
    let filter_size = block.meta.files[5].bytes;

    let reader = open(store.clone(), &dir).await;
    let (gets, bytes) = counting.take();
    // meta.json (read by the test) and the filter: nothing else.
    assert_eq!(gets, 2);
    let meta_size = serde_json::to_vec_pretty(&block.meta).unwrap().len() as u64;
    assert_eq!(bytes, filter_size + meta_size);

    // An absent ID costs nothing.
    let absent = absent_ids(traces, 100, 5);
    let absent = absent.iter().find(|id| !reader.may_contain(id)).unwrap();
    assert!(reader.find_trace(absent).await.unwrap().is_empty());
    assert_eq!(counting.take(), (0, 0));

    // The first lookup loads the footer, page index and tables once.
    let (id, spans) = &traces[traces.len() / 2];
    assert_same(&reader.find_trace(id).await.unwrap(), spans, id);
    let first = counting.take();
    let n = 20;
    let (mut gets, mut bytes) = (0, 0);
    for (id, spans) in traces.iter().step_by(traces.len() / n).take(n) {
        assert_same(&reader.find_trace(id).await.unwrap(), spans, id);
        let (g, b) = counting.take();
        gets += g;
        bytes += b;
    }
    // The full scan reads the whole file.
    assert_eq!(reader.traces().count().await, traces.len());
    let (_, scan_bytes) = counting.take();
    assert!(scan_bytes >= spans_size * 9 / 10);
    let cost = LookupCost {
        row_groups: block.meta.row_groups.len(),
        spans_size,
        first,
        per_lookup: (gets as f64 / n as f64, bytes as f64 / n as f64),
    };
    println!(
        "{} spans, {} row groups of {rows_per_row_group} rows: spans.parquet {spans_size} B; \
         first lookup {} GETs {} B; then {:.1} GETs {:.0} B per lookup",
        block.meta.span_count,
        cost.row_groups,
        first.0,
        first.1,
        cost.per_lookup.0,
        cost.per_lookup.1
    );
    cost
}

#[tokio::test]
async fn block_lookup_reads_only_what_can_hold_the_trace() {
    let traces = realistic_traces(15, 40_000);
    // Row-group pruning: a lookup reads about one row group of several.
    let c = measure_lookups(&traces, 8_000).await;
    assert!(c.row_groups >= 4);
    let per_row_group = c.spans_size as f64 / c.row_groups as f64;
    assert!(
        c.per_lookup.1 < per_row_group * 1.2,
        "a lookup reads {} B, a row group is {per_row_group} B",
        c.per_lookup.1
    );
    assert!(c.first.1 < c.spans_size / 2);
    // Page pruning: in one big row group, a lookup reads the pages that can hold the trace.
    let c = measure_lookups(&traces, 100_000).await;
    assert_eq!(c.row_groups, 1);
    assert!(
        c.per_lookup.1 * 2.0 < c.spans_size as f64,
        "a lookup reads {} B of {} B",
        c.per_lookup.1,
        c.spans_size
    );
}

#[tokio::test]
async fn block_unknown_version_is_refused() {
    let traces = rich_traces(16, 5, 5);
    let block = encode(&traces, BlockWriteOptions::default());
    let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    let dir = Path::from("t/v");
    publish(&store, &dir, &block).await;
    let mut meta = block.meta.clone();
    meta.version = 2;
    let err = BlockReader::open(store.clone(), dir.clone(), meta)
        .await
        .unwrap_err();
    assert!(matches!(err, BlockError::UnsupportedVersion { version: 2 }));
    assert!(err.to_string().contains("version 2 is not supported"));
    let mut meta = block.meta.clone();
    meta.format = "something-else".into();
    assert!(matches!(
        BlockReader::open(store.clone(), dir.clone(), meta).await,
        Err(BlockError::Corrupt { .. })
    ));
    // A damaged filter is reported, not trusted.
    store
        .put(
            &dir.clone().join("trace-ids.sbbf"),
            PutPayload::from(vec![0u8; 64]),
        )
        .await
        .unwrap();
    assert!(matches!(
        BlockReader::open(store, dir, block.meta.clone()).await,
        Err(BlockError::Corrupt { .. })
    ));
}

// ---------------------------------------------------------------------------------------
// The committed v1 fixture: a small block written once and read by every later build.

const FIXTURE_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/block-v1");
const FIXTURE_EXPECTED: &str = "expected-spans.pb";

/// The fixture's content: three rich traces.
fn fixture_traces() -> Traces {
    rich_traces(2024, 3, 8)
}

/// Every span as its own `ResourceSpans`, so resources and scopes stay exact.
fn as_traces_data(traces: &Traces) -> TracesData {
    let mut out = TracesData::default();
    for (_, spans) in traces {
        let mut spans = spans.clone();
        spans.sort_by(|a, b| {
            (a.span.start_time_unix_nano, &a.span.span_id)
                .cmp(&(b.span.start_time_unix_nano, &b.span.span_id))
        });
        for s in spans {
            out.resource_spans.push(ResourceSpans {
                resource: s.resource.resource.clone(),
                schema_url: s.resource.schema_url.clone(),
                scope_spans: vec![ScopeSpans {
                    scope: s.scope.scope.clone(),
                    schema_url: s.scope.schema_url.clone(),
                    spans: vec![s.span.clone()],
                }],
            });
        }
    }
    out
}

fn from_traces_data(data: TracesData) -> Traces {
    let mut out: Traces = Vec::new();
    for rs in data.resource_spans {
        let resource = Arc::new(ResourceEntry {
            resource: rs.resource,
            schema_url: rs.schema_url,
        });
        for ss in rs.scope_spans {
            let scope = Arc::new(ScopeEntry {
                scope: ss.scope,
                schema_url: ss.schema_url,
            });
            for span in ss.spans {
                let id = TraceId::from_bytes(&span.trace_id).unwrap();
                let hs = HeadSpan {
                    resource: resource.clone(),
                    scope: scope.clone(),
                    span,
                };
                match out.last_mut() {
                    Some((last, spans)) if *last == id => spans.push(hs),
                    _ => out.push((id, vec![hs])),
                }
            }
        }
    }
    out
}

/// Rewrites the fixture, only with `ARBOR_UPDATE_FIXTURES=1` (run it alone:
/// `ARBOR_UPDATE_FIXTURES=1 cargo test -p arbor-storage block_fixture_v1_regenerate`). Only
/// needed if the fixture is lost: version 1 files must stay readable as they are.
#[test]
fn block_fixture_v1_regenerate() {
    if std::env::var("ARBOR_UPDATE_FIXTURES").as_deref() != Ok("1") {
        return;
    }
    let traces = fixture_traces();
    let block = encode(
        &traces,
        BlockWriteOptions {
            rows_per_row_group: 8,
            max_dedicated_columns: 2,
            index_max_values_per_key: 4,
            zstd_level: 3,
        },
    );
    let dir = std::path::Path::new(FIXTURE_DIR);
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).unwrap();
    for (name, bytes) in &block.files {
        std::fs::write(dir.join(name), bytes).unwrap();
    }
    std::fs::write(
        dir.join(FIXTURE_EXPECTED),
        as_traces_data(&traces).encode_to_vec(),
    )
    .unwrap();
    std::fs::write(
        dir.join(META_FILE),
        serde_json::to_vec_pretty(&block.meta).unwrap(),
    )
    .unwrap();
}

#[tokio::test]
async fn block_fixture_v1_stays_readable() {
    let dir = std::path::Path::new(FIXTURE_DIR);
    let expected = std::fs::read(dir.join(FIXTURE_EXPECTED))
        .expect("the v1 fixture is committed (ARBOR_UPDATE_FIXTURES=1 regenerates it)");
    let expected = from_traces_data(TracesData::decode(&expected[..]).unwrap());
    assert_eq!(expected.len(), 3);
    let store: Arc<dyn ObjectStore> = Arc::new(LocalFileSystem::new_with_prefix(dir).unwrap());
    let reader = open(store, &Path::from("")).await;
    assert_eq!(reader.meta.version, 1);
    assert_eq!(reader.meta.trace_count, 3);
    assert_eq!(
        reader.meta.span_count,
        expected.iter().map(|(_, s)| s.len() as u64).sum::<u64>()
    );
    for (id, spans) in &expected {
        assert!(reader.may_contain(id));
        assert_same(&reader.find_trace(id).await.unwrap(), spans, id);
    }
    let scanned: Vec<_> = reader
        .traces()
        .map(|t| t.unwrap())
        .collect::<Vec<_>>()
        .await;
    assert_eq!(scanned.len(), 3);
    for ((sid, sspans), (id, spans)) in scanned.iter().zip(&expected) {
        assert_eq!(sid, id);
        assert_same(sspans, spans, id);
    }
    assert!(
        reader
            .find_trace(&TraceId([0xab; 16]))
            .await
            .unwrap()
            .is_empty()
    );
    let index = reader.index().await.unwrap();
    let first = &expected[0].1[0].span.name;
    assert!(matches!(
        index.lookup(IndexScope::Intrinsic, "name", first),
        IndexAnswer::InRowGroups(_) | IndexAnswer::NotIndexed
    ));
    assert_eq!(
        index.lookup(IndexScope::Resource, "service.name", "no-such-service"),
        IndexAnswer::Absent
    );
}

// ---------------------------------------------------------------------------------------
// Size measurement (run on demand).

fn otlp_request(spans: &[&HeadSpan]) -> arbor_model::otlp::ExportTraceServiceRequest {
    // Group by resource, then scope, as an SDK exporter does.
    let mut out = arbor_model::otlp::ExportTraceServiceRequest::default();
    let mut by_resource: HashMap<usize, usize> = HashMap::new();
    let mut by_scope: HashMap<(usize, usize), usize> = HashMap::new();
    for s in spans {
        let rk = Arc::as_ptr(&s.resource) as usize;
        let ri = *by_resource.entry(rk).or_insert_with(|| {
            out.resource_spans.push(ResourceSpans {
                resource: s.resource.resource.clone(),
                schema_url: s.resource.schema_url.clone(),
                scope_spans: vec![],
            });
            out.resource_spans.len() - 1
        });
        let sk = (ri, Arc::as_ptr(&s.scope) as usize);
        let rs = &mut out.resource_spans[ri];
        let si = *by_scope.entry(sk).or_insert_with(|| {
            rs.scope_spans.push(ScopeSpans {
                scope: s.scope.scope.clone(),
                schema_url: s.scope.schema_url.clone(),
                spans: vec![],
            });
            rs.scope_spans.len() - 1
        });
        rs.scope_spans[si].spans.push(s.span.clone());
    }
    out
}

/// `cargo test -p arbor-storage --release block_size_vs_otlp -- --ignored --nocapture`
#[tokio::test]
#[ignore]
async fn block_size_vs_otlp() {
    let traces = realistic_traces(42, 100_000);
    let spans: Vec<&HeadSpan> = traces.iter().flat_map(|(_, s)| s).collect();
    let n = spans.len() as f64;

    // The same spans as OTLP protobuf, zstd level 3: one request, and batches of 512 spans
    // in arrival order (start time), as an SDK's batch processor sends them.
    let whole = otlp_request(&spans).encode_to_vec();
    let whole_zstd = zstd::encode_all(&whole[..], 3).unwrap().len();
    let mut by_time = spans.clone();
    by_time.sort_by_key(|s| s.span.end_time_unix_nano);
    let batched_zstd: usize = by_time
        .chunks(512)
        .map(|c| {
            zstd::encode_all(&otlp_request(c).encode_to_vec()[..], 3)
                .unwrap()
                .len()
        })
        .sum();

    for level in [3, 6, 9] {
        let started = std::time::Instant::now();
        let block = encode(
            &traces,
            BlockWriteOptions {
                zstd_level: level,
                ..Default::default()
            },
        );
        let took = started.elapsed();
        let total: u64 = block.meta.size_bytes();
        println!(
            "\nzstd level {level}: block {total} B = {:.1} B/span, written in {took:.2?} ({:.2} µs/span)",
            total as f64 / n,
            took.as_secs_f64() * 1e6 / n
        );
        for f in &block.meta.files {
            println!(
                "  {:<18} {:>10} B  {:>6.2} B/span",
                f.name,
                f.bytes,
                f.bytes as f64 / n
            );
        }
        println!(
            "  ratio to zstd-3 OTLP (one request): {:.3}; to zstd-3 OTLP (512-span batches): {:.3}",
            total as f64 / whole_zstd as f64,
            total as f64 / batched_zstd as f64
        );
        if level == 6 {
            column_sizes(&block.files[0].1);
            // ARBOR_BLOCK_DUMP_DIR=<dir> keeps the block's files, to look at with other tools.
            if let Ok(dir) = std::env::var("ARBOR_BLOCK_DUMP_DIR") {
                let dir = std::path::Path::new(&dir);
                std::fs::create_dir_all(dir).unwrap();
                for (name, bytes) in &block.files {
                    std::fs::write(dir.join(name), bytes).unwrap();
                }
                std::fs::write(
                    dir.join(META_FILE),
                    serde_json::to_vec_pretty(&block.meta).unwrap(),
                )
                .unwrap();
            }
        }
    }
    println!(
        "\n{} spans in {} traces; OTLP protobuf {} B = {:.1} B/span; zstd-3 one request {} B = {:.1} B/span; \
         zstd-3 512-span batches {} B = {:.1} B/span",
        spans.len(),
        traces.len(),
        whole.len(),
        whole.len() as f64 / n,
        whole_zstd,
        whole_zstd as f64 / n,
        batched_zstd,
        batched_zstd as f64 / n
    );
}

/// Prints the compressed size of every column of a spans file.
fn column_sizes(bytes: &Bytes) {
    let builder = ParquetRecordBatchReaderBuilder::try_new(bytes.clone()).unwrap();
    let md = builder.metadata();
    let mut sizes: Vec<(String, i64)> = Vec::new();
    for rg in md.row_groups() {
        for (i, c) in rg.columns().iter().enumerate() {
            let name = c.column_path().string();
            match sizes.get_mut(i) {
                Some(s) => s.1 += c.compressed_size(),
                None => sizes.push((name, c.compressed_size())),
            }
        }
    }
    let rows = md.file_metadata().num_rows() as f64;
    let rg0 = md.row_group(0);
    for (i, (name, size)) in sizes.into_iter().enumerate() {
        let c = rg0.column(i);
        let dict = c
            .dictionary_page_offset()
            .map_or(0, |d| c.data_page_offset() - d);
        println!(
            "    {name:<40} {:>8.2} B/span   (row group 0: {} B, dictionary page {} B)",
            size as f64 / rows,
            c.compressed_size(),
            dict
        );
    }
}

#[tokio::test]
async fn block_typed_index_scopes_answer_and_leave_string_scopes_alone() {
    use crate::tags::{TagType, TagValue};
    let traces = rich_traces(23, 80, 12);
    let opts = BlockWriteOptions {
        rows_per_row_group: 100,
        index_max_values_per_key: 20,
        ..Default::default()
    };
    let block = encode(&traces, opts.clone());
    let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    let dir = Path::from("t/typed");
    publish(&store, &dir, &block).await;
    let index = open(store, &dir).await.index().await.unwrap();

    // The truth: every scalar value per typed scope, with its row groups.
    type Truth = HashMap<(TypedIndexScope, String, TagValue), std::collections::BTreeSet<usize>>;
    let mut truth: Truth = HashMap::new();
    let (mut rg, mut in_rg) = (0usize, 0usize);
    for (_, spans) in &traces {
        for s in spans {
            let mut add = |scope, kv: &arbor_model::otlp::KeyValue, strings: bool| {
                if let Some(v) = TagValue::of_kv(kv)
                    && (strings || v.kind != TagType::String)
                {
                    truth
                        .entry((scope, kv.key.clone(), v))
                        .or_default()
                        .insert(rg);
                }
            };
            for kv in &s.span.attributes {
                add(TypedIndexScope::Span, kv, false);
            }
            for kv in s.resource.resource.iter().flat_map(|r| &r.attributes) {
                add(TypedIndexScope::Resource, kv, false);
            }
            for kv in s.span.events.iter().flat_map(|e| &e.attributes) {
                add(TypedIndexScope::Event, kv, true);
            }
            for kv in s.span.links.iter().flat_map(|l| &l.attributes) {
                add(TypedIndexScope::Link, kv, true);
            }
            for kv in s.scope.scope.iter().flat_map(|sc| &sc.attributes) {
                add(TypedIndexScope::Instrumentation, kv, true);
            }
            in_rg += 1;
        }
        if in_rg >= opts.rows_per_row_group {
            rg += 1;
            in_rg = 0;
        }
    }
    assert_eq!(rg + usize::from(in_rg > 0), block.meta.row_groups.len());
    let mut per_key: HashMap<(TypedIndexScope, String), (usize, bool)> = HashMap::new();
    for (scope, k, v) in truth.keys() {
        let e = per_key.entry((*scope, k.clone())).or_default();
        e.0 += 1;
        e.1 |= v.encode().len() > super::index::MAX_INDEXED_VALUE_BYTES;
    }
    let mut seen_scopes = std::collections::BTreeSet::new();
    let (mut indexed, mut not_indexed) = (0, 0);
    for ((scope, k, v), rgs) in &truth {
        let answer = index.typed_lookup(*scope, k, v);
        let (n, long) = per_key[&(*scope, k.clone())];
        if n > 20 || long {
            assert_eq!(answer, IndexAnswer::NotIndexed, "{scope:?} {k}={v:?}");
            not_indexed += 1;
        } else {
            assert_eq!(
                answer,
                IndexAnswer::InRowGroups(rgs.iter().copied().collect()),
                "{scope:?} {k}={v:?}"
            );
            seen_scopes.insert(*scope);
            indexed += 1;
        }
        assert!(index.typed_keys(*scope).contains(&k.as_str()));
    }
    assert!(
        indexed > 20 && not_indexed > 0,
        "{indexed} indexed, {not_indexed} not"
    );
    assert_eq!(
        seen_scopes.len(),
        TypedIndexScope::ALL.len(),
        "every typed scope holds values: {seen_scopes:?}"
    );
    // A value no span has, and typed entries that read back decoded.
    let (&(scope, ref key, _), _) = truth
        .iter()
        .find(|((s, k, _), _)| per_key[&(*s, k.clone())].0 <= 20 && !per_key[&(*s, k.clone())].1)
        .unwrap();
    assert_eq!(
        index.typed_lookup(scope, key, &TagValue::new(TagType::Int, "-987654321987")),
        IndexAnswer::Absent
    );
    let entries = index.typed_entries(scope, key).unwrap();
    assert!(!entries.is_empty());
    for (v, rgs) in entries {
        assert_eq!(
            rgs.to_vec(),
            truth[&(scope, key.clone(), v)]
                .iter()
                .copied()
                .collect::<Vec<_>>()
        );
    }
    // Typed rows do not leak into the string scopes: an int is not a string there.
    for ((scope, k, v), _) in truth
        .iter()
        .filter(|((s, _, v), _)| *s == TypedIndexScope::Span && v.kind == TagType::Int)
    {
        let _ = scope;
        if !index.keys(IndexScope::Span).contains(&k.as_str()) {
            assert_eq!(
                index.lookup(IndexScope::Span, k, &v.value),
                IndexAnswer::Absent
            );
        }
    }
}
