//! The server's clock, not the clients', decides retention: blocks record when their spans
//! were received (through the log, a replay, a cut and a compaction), and retention judged
//! at a given "now" (a fake clock: [`Store::apply_retention_at`]) keeps spans stamped 30
//! days ago or ahead for `max_age` after receipt, and deletes them after.

use std::time::Duration;

use arbor_model::TraceId;
use arbor_storage::block::BlockWriteOptions;
use arbor_storage::compact::CompactionConfig;
use arbor_storage::record::now_unix_nano;
use arbor_storage::retention::{RetentionLimits, RetentionPolicy};
use arbor_storage::wal::SyncPolicy;
use arbor_storage::{Store, StoreConfig};
use arbor_testkit::spans;

const DAY: u64 = 86_400_000_000_000;
const HOUR: u64 = 3_600_000_000_000;
const SLACK: Duration = Duration::from_secs(120);

fn config(dir: &std::path::Path) -> StoreConfig {
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
        ingestion_time_slack: SLACK,
    }
}

fn hour_policy() -> RetentionPolicy {
    RetentionPolicy::uniform(RetentionLimits {
        max_age: Duration::from_secs(3600),
        max_total_bytes: None,
    })
}

async fn ingest(store: &Store, tenant: &str, seed: u64, start: u64) -> TraceId {
    let mut rng = spans::rng(seed);
    let t = spans::trace_id(&mut rng);
    store
        .ingest(
            tenant,
            spans::batch("s", spans::chain(&mut rng, t, 3, start)),
        )
        .await
        .unwrap();
    TraceId(t)
}

async fn spans_of(store: &Store, tenant: &str, id: &TraceId) -> usize {
    store.trace(tenant, id).await.unwrap().len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn skewed_spans_are_kept_by_receipt_and_deleted_by_receipt() {
    let dir = tempfile::tempdir().unwrap();
    let before = now_unix_nano();
    let (store, _) = Store::open(config(dir.path())).await.unwrap();
    let past = ingest(&store, "t", 1, before - 30 * DAY).await;
    let future = ingest(&store, "t", 2, before + 30 * DAY).await;
    assert_eq!(
        store
            .activity()
            .spans_clock_skewed
            .load(std::sync::atomic::Ordering::Relaxed),
        6,
        "both batches' spans are off the clock by more than the slack"
    );
    store.cut().await.unwrap();
    let after = now_unix_nano();

    let blocks = store.blocks("t");
    assert_eq!(blocks.len(), 1);
    let meta = &blocks[0];
    let received = meta.received.expect("a new block records its receipt");
    assert!(before <= received.first_unix_nano, "{received:?}");
    assert!(received.first_unix_nano <= received.last_unix_nano);
    assert!(received.last_unix_nano <= after, "{received:?}");
    // The span range stays as stamped: queries for 30 days ago still find the block.
    assert!(meta.start_unix_nano < before - 29 * DAY);
    assert!(meta.end_unix_nano > before + 29 * DAY);

    // A pass now, and one just before max_age (less the slack) has passed since receipt:
    // nothing goes.
    for now in [after, before + HOUR - 3 * 60 * 1_000_000_000] {
        let deleted = store
            .apply_retention_at(&hour_policy(), Duration::from_secs(3600), now)
            .await
            .unwrap();
        assert!(deleted.is_empty(), "deleted {deleted:?} at {now}");
    }
    assert_eq!(spans_of(&store, "t", &past).await, 3);
    assert_eq!(spans_of(&store, "t", &future).await, 3);

    // After a restart the block still knows its receipt.
    drop(store);
    let (store, _) = Store::open(config(dir.path())).await.unwrap();
    assert_eq!(store.blocks("t")[0].received, Some(received));
    assert_eq!(spans_of(&store, "t", &past).await, 3);

    // Past max_age plus the slack since receipt, the block goes, though one of its spans
    // is stamped 30 days ahead.
    let deleted = store
        .apply_retention_at(
            &hour_policy(),
            Duration::from_secs(3600),
            after + HOUR + 3 * 60 * 1_000_000_000,
        )
        .await
        .unwrap();
    assert_eq!(deleted, vec![meta.block_id.clone()]);
    assert_eq!(spans_of(&store, "t", &past).await, 0);
    assert_eq!(spans_of(&store, "t", &future).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_keeps_the_original_receipt() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = Store::open(config(dir.path())).await.unwrap();
    let t = ingest(&store, "t", 3, now_unix_nano() - 30 * DAY).await;
    let acked = now_unix_nano();
    drop(store);
    // Replayed later: the block cut from the replayed head is dated by the log record,
    // not by the replay.
    std::thread::sleep(Duration::from_millis(20));
    let reopened = now_unix_nano();
    let (store, report) = Store::open(config(dir.path())).await.unwrap();
    assert_eq!(report.spans_replayed, 3);
    store.cut().await.unwrap();
    let received = store.blocks("t")[0].received.unwrap();
    assert!(received.last_unix_nano <= acked, "{received:?} vs {acked}");
    assert!(received.last_unix_nano < reopened);
    assert_eq!(spans_of(&store, "t", &t).await, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compaction_merges_receipt_ranges_and_tenants_have_their_own_limits() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = Store::open(config(dir.path())).await.unwrap();
    let now = now_unix_nano();
    ingest(&store, "t", 4, now - 30 * DAY).await;
    store.cut().await.unwrap();
    ingest(&store, "t", 5, now + 30 * DAY).await;
    store.cut().await.unwrap();
    let long = ingest(&store, "long", 6, now).await;
    store.cut().await.unwrap();
    let inputs: Vec<_> = store
        .blocks("t")
        .iter()
        .map(|b| b.received.unwrap())
        .collect();
    assert_eq!(inputs.len(), 2);
    // One window for everything (which blocks share a window is compact.rs's unit
    // tests'): the output's receipt range spans its inputs'.
    let cfg = CompactionConfig {
        min_inputs: 2,
        window: Duration::from_secs(100 * 365 * 86_400),
        ..CompactionConfig::default()
    };
    let out = store
        .compact_once("t", &cfg)
        .await
        .unwrap()
        .expect("merged");
    assert_eq!(out.received, Some(inputs[0].union(inputs[1])));
    assert_eq!(store.blocks("t").len(), 1);

    // "long" keeps a day, everyone else an hour: two hours on, only "long" is left.
    let mut policy = hour_policy();
    policy.per_tenant.insert(
        "long".into(),
        RetentionLimits {
            max_age: Duration::from_secs(86_400),
            max_total_bytes: None,
        },
    );
    store
        .apply_retention_at(
            &policy,
            Duration::from_secs(3600),
            now_unix_nano() + 2 * HOUR,
        )
        .await
        .unwrap();
    assert!(store.blocks("t").is_empty());
    assert_eq!(store.blocks("long").len(), 1);
    assert_eq!(spans_of(&store, "long", &long).await, 3);
}
