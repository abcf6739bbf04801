//! Lookups racing cuts and compactions: every lookup of a known trace returns all of it,
//! whichever step of a cut or a compaction it lands in.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use arbor_model::TraceId;
use arbor_storage::block::BlockWriteOptions;
use arbor_storage::compact::CompactionConfig;
use arbor_storage::wal::SyncPolicy;
use arbor_storage::{Store, StoreConfig};
use arbor_testkit::spans;
use rand::Rng;

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
        ingestion_time_slack: arbor_storage::retention::DEFAULT_SLACK,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn lookups_see_whole_traces_during_cuts_and_compactions() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = Store::open(config(dir.path())).await.unwrap();
    let store = Arc::new(store);
    let mut rng = spans::rng(5);
    let mut known: Vec<(TraceId, usize)> = Vec::new();
    for _ in 0..50 {
        let t = spans::trace_id(&mut rng);
        store
            .ingest("t", spans::batch("s", spans::chain(&mut rng, t, 4, 1)))
            .await
            .unwrap();
        known.push((TraceId(t), 4));
    }
    let stop = Arc::new(AtomicBool::new(false));
    let rounds = Arc::new(AtomicUsize::new(0));
    let churn = {
        let (store, stop, rounds) = (store.clone(), stop.clone(), rounds.clone());
        tokio::spawn(async move {
            let cfg = CompactionConfig {
                min_inputs: 2,
                ..CompactionConfig::default()
            };
            let mut rng = spans::rng(6);
            while !stop.load(Ordering::Relaxed) {
                let t = spans::trace_id(&mut rng);
                store
                    .ingest("t", spans::batch("s", spans::chain(&mut rng, t, 2, 1)))
                    .await
                    .unwrap();
                store.cut().await.unwrap();
                store.compact_once("t", &cfg).await.unwrap();
                rounds.fetch_add(1, Ordering::Relaxed);
            }
        })
    };
    let mut lookups = 0;
    while rounds.load(Ordering::Relaxed) < 30 {
        let (id, n) = known[rng.random_range(0..known.len())];
        let got = store.trace("t", &id).await.unwrap();
        assert_eq!(
            got.len(),
            n,
            "trace {id} read back {} of {n} spans",
            got.len()
        );
        lookups += 1;
    }
    stop.store(true, Ordering::Relaxed);
    churn.await.unwrap();
    let rounds = rounds.load(Ordering::Relaxed);
    eprintln!("{lookups} lookups over {rounds} cut and compaction rounds");
}
