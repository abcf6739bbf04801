//! Block storage failing under the store: spans stay readable and in the log, and a newer
//! head is never published past an older one that failed — otherwise replay, which skips
//! what blocks cover, would skip the older head's records after a crash.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use arbor_model::TraceId;
use arbor_storage::backend::Backend;
use arbor_storage::block::BlockWriteOptions;
use arbor_storage::wal::SyncPolicy;
use arbor_storage::{Store, StoreConfig};
use arbor_testkit::spans;
use futures::stream::BoxStream;
use object_store::memory::InMemory;
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    PutMultipartOptions, PutOptions, PutPayload, PutResult,
};

/// An object store whose next `fail_writes` writes fail.
#[derive(Debug)]
struct Flaky {
    inner: InMemory,
    fail_writes: AtomicUsize,
}

impl fmt::Display for Flaky {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Flaky(memory)")
    }
}

impl Flaky {
    fn check(&self) -> object_store::Result<()> {
        let failing = self
            .fail_writes
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        if failing {
            return Err(object_store::Error::Generic {
                store: "flaky",
                source: "injected write failure".into(),
            });
        }
        Ok(())
    }
}

#[async_trait::async_trait]
impl ObjectStore for Flaky {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> object_store::Result<PutResult> {
        self.check()?;
        self.inner.put_opts(location, payload, opts).await
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> object_store::Result<Box<dyn MultipartUpload>> {
        self.check()?;
        self.inner.put_multipart_opts(location, opts).await
    }

    async fn get_opts(
        &self,
        location: &Path,
        options: GetOptions,
    ) -> object_store::Result<GetResult> {
        self.inner.get_opts(location, options).await
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
        self.check()?;
        self.inner.copy_opts(from, to, options).await
    }
}

fn config(dir: &std::path::Path) -> StoreConfig {
    StoreConfig {
        data_dir: dir.to_path_buf(),
        wal_sync: SyncPolicy::Batch,
        wal_sync_interval: Duration::from_millis(1),
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_block_writes_keep_spans_and_order() {
    let dir = tempfile::tempdir().unwrap();
    let flaky = Arc::new(Flaky {
        inner: InMemory::new(),
        fail_writes: AtomicUsize::new(0),
    });
    let backend = || Backend::from_store(flaky.clone(), "flaky");
    let (store, _) = Store::open_with_backend(config(dir.path()), backend())
        .await
        .unwrap();
    let mut rng = spans::rng(9);
    let a = spans::trace_id(&mut rng);
    let b = spans::trace_id(&mut rng);

    store
        .ingest("t", spans::batch("s", spans::chain(&mut rng, a, 3, 1)))
        .await
        .unwrap();
    flaky.fail_writes.store(1, Ordering::SeqCst);
    assert!(store.cut().await.is_err(), "the first cut fails");
    store
        .ingest("t", spans::batch("s", spans::chain(&mut rng, b, 2, 1)))
        .await
        .unwrap();
    // One more failure: the older head's write fails again, and the newer one's would
    // succeed — it must not be tried.
    flaky.fail_writes.store(1, Ordering::SeqCst);
    assert!(store.cut().await.is_err(), "the older head still fails");
    assert!(
        store.blocks("t").is_empty(),
        "the newer head is not published past the failed older one"
    );
    assert_eq!(
        store.trace("t", &TraceId(a)).await.unwrap().len(),
        3,
        "a failed head stays readable"
    );
    assert_eq!(store.trace("t", &TraceId(b)).await.unwrap().len(), 2);

    let report = store.cut().await.unwrap();
    assert_eq!(report.blocks.len(), 2, "both heads, oldest first");
    let covers: Vec<u64> = report
        .blocks
        .iter()
        .map(|b| b.wal.as_ref().unwrap().through_segment)
        .collect();
    assert!(covers[0] < covers[1], "{covers:?}");
    drop(store);

    // A restart: everything comes from the blocks, nothing from the log, nothing twice.
    let (store, report) = Store::open_with_backend(config(dir.path()), backend())
        .await
        .unwrap();
    assert_eq!(report.spans_replayed, 0, "{report:?}");
    assert_eq!(store.trace("t", &TraceId(a)).await.unwrap().len(), 3);
    assert_eq!(store.trace("t", &TraceId(b)).await.unwrap().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spans_of_failed_writes_come_back_from_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let flaky = Arc::new(Flaky {
        inner: InMemory::new(),
        fail_writes: AtomicUsize::new(usize::MAX),
    });
    let (store, _) = Store::open_with_backend(
        config(dir.path()),
        Backend::from_store(flaky.clone(), "flaky"),
    )
    .await
    .unwrap();
    let mut rng = spans::rng(10);
    let a = spans::trace_id(&mut rng);
    store
        .ingest("t", spans::batch("s", spans::chain(&mut rng, a, 4, 1)))
        .await
        .unwrap();
    assert!(store.cut().await.is_err());
    drop(store);
    let (store, report) = Store::open_with_backend(
        config(dir.path()),
        Backend::from_store(flaky.clone(), "flaky"),
    )
    .await
    .unwrap();
    assert_eq!(report.spans_replayed, 4);
    assert_eq!(store.trace("t", &TraceId(a)).await.unwrap().len(), 4);
}
