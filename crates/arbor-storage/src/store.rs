//! The store: write-ahead log + head + blocks, and the cuts that move spans from the first
//! two into the third.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use arbor_model::TraceId;
use arbor_model::otlp::ExportTraceServiceRequest;
use futures::{StreamExt, TryStreamExt};
use parking_lot::RwLock;

use crate::backend::{Backend, BackendError};
use crate::block::meta::{BlockMeta, WalCoverage};
use crate::block::{BlockError, BlockReader, BlockWriteOptions, BlockWriter};
use crate::compact::{self, CompactionConfig};
use crate::head::{self, AppendStats, Head, HeadFull, HeadSpan, TenantHead};
use crate::record;
use crate::view::SearchView;
use crate::wal::{ReplayReport, SyncPolicy, Wal, WalConfig, WalError};
use object_store::ObjectStoreExt as _;

/// The input blocks of a compaction.
fn inputs_all(readers: &[Arc<BlockReader>]) -> Vec<&BlockMeta> {
    readers.iter().map(|r| &r.meta).collect()
}

/// The IDs of the blocks among `metas` that hold `file`.
fn inputs_meta_with(metas: &[&BlockMeta], file: &str) -> Vec<String> {
    metas
        .iter()
        .filter(|m| m.files.iter().any(|f| f.name == file))
        .map(|m| m.block_id.clone())
        .collect()
}

/// What the store has done since it opened, for `/metrics`.
#[derive(Debug, Default)]
pub struct Activity {
    pub cuts: std::sync::atomic::AtomicU64,
    pub cut_failures: std::sync::atomic::AtomicU64,
    pub compactions: std::sync::atomic::AtomicU64,
    pub compaction_failures: std::sync::atomic::AtomicU64,
    pub blocks_deleted_by_retention: std::sync::atomic::AtomicU64,
    /// Retention passes finished (with or without deletions).
    pub retention_runs: std::sync::atomic::AtomicU64,
    /// Spans accepted whose own times are off the server's clock by more than the
    /// ingestion-time slack (see [`Store::ingest`]).
    pub spans_clock_skewed: std::sync::atomic::AtomicU64,
}

/// Settings of the store.
#[derive(Debug, Clone)]
pub struct StoreConfig {
    pub data_dir: PathBuf,
    pub wal_sync: SyncPolicy,
    pub wal_sync_interval: Duration,
    pub wal_segment_bytes: u64,
    pub wal_max_record_bytes: u64,
    pub head_max_bytes: usize,
    /// Where blocks live: empty for `<data_dir>/blocks`, else a path or an object store URL.
    pub storage_url: String,
    pub storage_options: BTreeMap<String, String>,
    pub block: BlockWriteOptions,
    /// Told of every span the head takes in (the derived views), replay included.
    pub observer: Option<crate::head::Observer>,
    /// How far a span's own times may be from when the server received it before the
    /// receipt time bounds them for retention ([`crate::retention`]), and before ingest
    /// counts the span as clock-skewed. Zero: retention by receipt alone, no skew count.
    pub ingestion_time_slack: Duration,
}

/// Why a write was not taken.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// The head is at its memory budget: the client should retry later.
    #[error(transparent)]
    HeadFull(#[from] HeadFull),
    /// The log refused or failed the write.
    #[error(transparent)]
    Wal(#[from] WalError),
}

/// Failures of opening, reading and cutting.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(transparent)]
    Wal(#[from] WalError),
    #[error(transparent)]
    Backend(#[from] BackendError),
    #[error(transparent)]
    Block(#[from] BlockError),
    #[error("{0}")]
    Io(String),
}

/// What opening the store found.
#[derive(Debug, Default, Clone)]
pub struct OpenReport {
    pub replay: ReplayReport,
    pub records_unreadable: u64,
    /// Records skipped because blocks already hold their spans.
    pub records_in_blocks: u64,
    pub spans_replayed: u64,
    pub blocks: usize,
}

/// What a cut did.
#[derive(Debug, Default, Clone)]
pub struct CutReport {
    pub blocks: Vec<BlockMeta>,
    pub spans: u64,
    pub elapsed: Duration,
}

/// A head taken out by a cut, still readable until its block is durable.
struct Frozen {
    tenant: String,
    head: Arc<TenantHead>,
    /// Its records are in log segments from this one up to `through_segment`.
    from_segment: u64,
    through_segment: u64,
}

/// The write-ahead log, the head, and the blocks.
pub struct Store {
    wal: Wal,
    head: Head,
    cut_gate: tokio::sync::RwLock<()>,
    cutting: tokio::sync::Mutex<()>,
    compacting: tokio::sync::Mutex<()>,
    frozen: RwLock<Vec<Arc<Frozen>>>,
    backend: Backend,
    readers: RwLock<HashMap<String, Vec<Arc<BlockReader>>>>,
    ingester: String,
    config: StoreConfig,
    activity: Activity,
    /// When ingest last logged clock-skewed spans (Unix ns), to log at most once a minute.
    skew_logged: std::sync::atomic::AtomicU64,
}

/// Block readers opened at once on start.
const OPEN_CONCURRENCY: usize = 16;

/// This data directory's ingester ID, made once and kept in `<data_dir>/ingester-id`.
fn ingester_id(data_dir: &Path) -> Result<String, StoreError> {
    let path = data_dir.join("ingester-id");
    match std::fs::read_to_string(&path) {
        Ok(s) if !s.trim().is_empty() => Ok(s.trim().to_string()),
        _ => {
            let id = uuid::Uuid::now_v7().to_string();
            let tmp = path.with_extension("tmp");
            // Durable before any block names it: the file, then the rename.
            let write = || -> std::io::Result<()> {
                let mut f = std::fs::File::create(&tmp)?;
                std::io::Write::write_all(&mut f, id.as_bytes())?;
                f.sync_all()?;
                std::fs::rename(&tmp, &path)?;
                std::fs::File::open(data_dir)?.sync_all()
            };
            write().map_err(|e| StoreError::Io(format!("writing {}: {e}", path.display())))?;
            Ok(id)
        }
    }
}

impl Store {
    /// Opens the blocks, then replays the log into a new head, skipping records whose spans
    /// blocks already hold, and releases log segments that are wholly in blocks.
    pub async fn open(config: StoreConfig) -> Result<(Self, OpenReport), StoreError> {
        std::fs::create_dir_all(&config.data_dir)
            .map_err(|e| StoreError::Io(format!("creating {}: {e}", config.data_dir.display())))?;
        let backend = Backend::from_url(
            &config.storage_url,
            &config.data_dir,
            &config.storage_options,
        )?;
        Self::open_with_backend(config, backend).await
    }

    /// [`Store::open`] with the block storage given rather than built from
    /// `config.storage_url` (embedding, and tests that inject storage faults).
    pub async fn open_with_backend(
        config: StoreConfig,
        backend: Backend,
    ) -> Result<(Self, OpenReport), StoreError> {
        std::fs::create_dir_all(&config.data_dir)
            .map_err(|e| StoreError::Io(format!("creating {}: {e}", config.data_dir.display())))?;
        let ingester = ingester_id(&config.data_dir)?;

        // Blocks first: they say which log records are already safe elsewhere.
        let mut readers: HashMap<String, Vec<Arc<BlockReader>>> = HashMap::new();
        let mut covered: HashMap<String, u64> = HashMap::new();
        let mut report = OpenReport::default();
        let mut visible = Vec::new();
        for tenant in backend.list_tenants().await? {
            for meta in backend.list_blocks(&tenant).await?.visible {
                if let Some(w) = meta.wal.as_ref().filter(|w| w.ingester == ingester) {
                    let c = covered.entry(tenant.clone()).or_default();
                    *c = (*c).max(w.through_segment);
                }
                visible.push((tenant.clone(), meta));
            }
        }
        // Opening a reader loads its trace-ID filter: one GET per block, so many at once.
        let opened: Vec<(String, BlockReader)> = futures::stream::iter(visible)
            .map(|(tenant, meta)| {
                let (store, dir) = (backend.store(), backend.block_dir(&tenant, &meta.block_id));
                async move {
                    BlockReader::open(store, dir, meta)
                        .await
                        .map(|r| (tenant, r))
                }
            })
            .buffered(OPEN_CONCURRENCY)
            .try_collect()
            .await?;
        for (tenant, reader) in opened {
            readers.entry(tenant).or_default().push(Arc::new(reader));
            report.blocks += 1;
        }

        let head = Head::with_observer(config.head_max_bytes, config.observer.clone());
        let wal_cfg = WalConfig {
            dir: config.data_dir.join("wal"),
            sync: config.wal_sync,
            sync_interval: config.wal_sync_interval,
            segment_bytes: config.wal_segment_bytes,
            max_record_bytes: config.wal_max_record_bytes,
        };
        let (wal, head, report) = tokio::task::spawn_blocking(move || {
            let mut live_segments = BTreeSet::new();
            let mut seen_segments = BTreeSet::new();
            // Records written before receipt times were recorded count as received now:
            // later than they were, so retention keeps them longer, never shorter.
            let replayed_at = record::now_unix_nano();
            let (wal, replay) = Wal::open(wal_cfg, |lsn, payload: &[u8]| {
                seen_segments.insert(lsn.segment.0);
                let tenant = record::peek_tenant(payload).ok();
                if let Some(t) = tenant
                    && covered
                        .get(t)
                        .is_some_and(|&through| lsn.segment.0 <= through)
                {
                    report.records_in_blocks += 1;
                    return Ok::<(), std::convert::Infallible>(());
                }
                live_segments.insert(lsn.segment.0);
                match record::decode_received(payload) {
                    Ok((tenant, received, req)) => {
                        report.spans_replayed += head
                            .append_received(&tenant, req, received.unwrap_or(replayed_at))
                            .spans_added
                    }
                    Err(e) => {
                        // The checksum passed, so this is a record from a newer or broken
                        // writer; skipping it keeps the rest readable.
                        report.records_unreadable += 1;
                        tracing::warn!(%lsn, error = %e, "skipping unreadable wal record");
                    }
                }
                Ok(())
            })?;
            report.replay = replay;
            // Segments before the first one with a record still needed are wholly in blocks.
            let first_live = live_segments.first().copied();
            if let Some(last_dead) = seen_segments
                .iter()
                .copied()
                .take_while(|s| first_live.is_none_or(|l| *s < l))
                .last()
            {
                wal.release_through(crate::wal::SegmentId(last_dead))?;
            }
            Ok::<_, StoreError>((wal, head, report))
        })
        .await
        .map_err(|e| StoreError::Io(format!("replay task: {e}")))??;

        Ok((
            Self {
                wal,
                head,
                cut_gate: tokio::sync::RwLock::new(()),
                cutting: tokio::sync::Mutex::new(()),
                compacting: tokio::sync::Mutex::new(()),
                frozen: RwLock::new(Vec::new()),
                backend,
                readers: RwLock::new(readers),
                ingester,
                config,
                activity: Activity::default(),
                skew_logged: std::sync::atomic::AtomicU64::new(0),
            },
            report,
        ))
    }

    /// Makes a validated batch durable, then readable. Returns once both are done.
    ///
    /// The batch is stamped with the server's clock now; the log record and the head keep
    /// that receipt time, and the block cut from the head records the range
    /// ([`BlockMeta::received`]). Spans whose own times are off that clock by more than
    /// the slack — ending more than the slack before it, or starting more than the slack
    /// after it — are accepted all the same; they are counted
    /// ([`Activity::spans_clock_skewed`]) and logged at most once a minute.
    pub async fn ingest(
        &self,
        tenant: &str,
        batch: ExportTraceServiceRequest,
    ) -> Result<AppendStats, IngestError> {
        let received = record::now_unix_nano();
        let payload = record::encode_received(tenant, received, &batch);
        let spans = arbor_model::validate::span_count(&batch);
        self.head
            .check_capacity(head::estimate_request_bytes(payload.len(), spans))?;
        let skewed = self.count_clock_skewed(tenant, &batch, received);
        let _gate = self.cut_gate.read().await;
        self.wal.append_async(payload).await?;
        if skewed > 0 {
            self.activity
                .spans_clock_skewed
                .fetch_add(skewed, std::sync::atomic::Ordering::Relaxed);
        }
        Ok(self.head.append_received(tenant, batch, received))
    }

    /// How many spans of `batch` are off the server's clock by more than the slack; logs
    /// them at most once a minute.
    fn count_clock_skewed(
        &self,
        tenant: &str,
        batch: &ExportTraceServiceRequest,
        received: u64,
    ) -> u64 {
        let slack = u64::try_from(self.config.ingestion_time_slack.as_nanos()).unwrap_or(u64::MAX);
        if slack == 0 {
            return 0;
        }
        let (earliest, latest) = (
            received.saturating_sub(slack),
            received.saturating_add(slack),
        );
        let mut skewed = 0;
        let mut example = None;
        for span in batch
            .resource_spans
            .iter()
            .flat_map(|rs| &rs.scope_spans)
            .flat_map(|ss| &ss.spans)
        {
            if span.end_time_unix_nano < earliest || span.start_time_unix_nano > latest {
                skewed += 1;
                example.get_or_insert(span.start_time_unix_nano);
            }
        }
        if let Some(start) = example {
            use std::sync::atomic::Ordering;
            let last = self.skew_logged.load(Ordering::Relaxed);
            if received.saturating_sub(last) >= 60_000_000_000
                && self
                    .skew_logged
                    .compare_exchange(last, received, Ordering::Relaxed, Ordering::Relaxed)
                    .is_ok()
            {
                let off_secs = (i128::from(start) - i128::from(received)) / 1_000_000_000;
                tracing::warn!(
                    tenant,
                    spans = skewed,
                    example_offset_secs = off_secs as i64,
                    slack_secs = self.config.ingestion_time_slack.as_secs(),
                    "accepted spans whose timestamps are off the server's clock by more than the ingestion-time slack; they are kept by receipt time and found by their own times (logged at most once a minute)"
                );
            }
        }
        skewed
    }

    /// Every span held for a trace — head, heads being cut, blocks — without duplicates.
    pub async fn trace(&self, tenant: &str, id: &TraceId) -> Result<Vec<HeadSpan>, StoreError> {
        let mut spans = self.head.trace(tenant, id);
        let frozen: Vec<Arc<Frozen>> = self
            .frozen
            .read()
            .iter()
            .filter(|f| f.tenant == tenant)
            .cloned()
            .collect();
        for f in frozen {
            spans.extend(f.head.trace(id));
        }
        spans.extend(self.trace_in_blocks(tenant, id).await?);
        head::dedupe(&mut spans);
        Ok(spans)
    }

    /// What a search of one tenant reads: the head and the heads being cut (newest first),
    /// and the visible blocks, all taken at one moment.
    pub fn search_view(&self, tenant: &str) -> SearchView {
        let mut heads = Vec::new();
        // Head before frozen heads, as lookups do: a cut moves heads from the one to the
        // other, so reading in this order never misses a head.
        if let Some(h) = self.head.tenant(tenant) {
            heads.push(h);
        }
        heads.extend(
            self.frozen
                .read()
                .iter()
                .rev()
                .filter(|f| f.tenant == tenant)
                .map(|f| f.head.clone()),
        );
        let blocks = self.readers.read().get(tenant).cloned().unwrap_or_default();
        SearchView { heads, blocks }
    }

    pub fn head(&self) -> &Head {
        &self.head
    }

    pub fn backend(&self) -> &Backend {
        &self.backend
    }

    /// Visible blocks of a tenant, as this store knows them.
    pub fn blocks(&self, tenant: &str) -> Vec<BlockMeta> {
        self.readers
            .read()
            .get(tenant)
            .map(|rs| rs.iter().map(|r| r.meta.clone()).collect())
            .unwrap_or_default()
    }

    /// Whether the head should be cut now: past `max_bytes`, or older than `max_age`.
    pub fn cut_due(&self, max_bytes: usize, max_age: Duration) -> bool {
        self.head.bytes() > 0
            && (self.head.bytes() >= max_bytes
                || self.head.oldest_age().is_some_and(|a| a >= max_age))
    }

    /// Cuts every tenant's head into a block, makes the blocks durable, then releases the
    /// log segments they cover. Heads whose block could not be written stay readable and are
    /// retried by the next cut.
    pub async fn cut(&self) -> Result<CutReport, StoreError> {
        let _one = self.cutting.lock().await;
        let started = Instant::now();
        {
            let _gate = self.cut_gate.write().await;
            if !self.head.tenants().is_empty() {
                let from_segment = self.wal.segments().first().map_or(0, |s| s.id.0);
                // Rotation fsyncs the closed segment: a short blocking call, made while no
                // ingest can append, so every record of the heads taken below is at or
                // below it. If it fails, nothing has been taken.
                let through = tokio::task::block_in_place(|| self.wal.rotate())?.0;
                // Taking the heads and freezing them is one step for readers: they look at
                // the head, then the frozen heads, so under this lock a span is always in
                // one of the two.
                let mut frozen = self.frozen.write();
                for (tenant, head) in self.head.take_all() {
                    frozen.push(Arc::new(Frozen {
                        tenant,
                        head,
                        from_segment,
                        through_segment: through,
                    }));
                }
            }
        }
        let pending: Vec<Arc<Frozen>> = self.frozen.read().clone();
        let mut report = CutReport::default();
        let mut first_error = None;
        // A block's log coverage says "every record up to here is in a block". Within a
        // tenant, heads are published oldest first and a failure stops that tenant's later
        // heads: publishing a newer head past a failed older one would let replay skip the
        // older head's records.
        let mut failed_tenants: HashSet<String> = HashSet::new();
        for f in pending {
            if failed_tenants.contains(&f.tenant) {
                continue;
            }
            match self.write_block(&f).await {
                Ok(meta) => {
                    report.spans += meta.span_count;
                    report.blocks.push(meta);
                    self.frozen.write().retain(|x| !Arc::ptr_eq(x, &f));
                    self.head.release(f.head.bytes());
                }
                Err(e) => {
                    failed_tenants.insert(f.tenant.clone());
                    tracing::error!(tenant = %f.tenant, error = %e, "writing a block failed; its spans stay in memory and in the log, and the next cut retries");
                    first_error.get_or_insert(e);
                }
            }
        }
        // Release the log up to just below the oldest segment a pending head still needs.
        let keep_from = self.frozen.read().iter().map(|f| f.from_segment).min();
        let release = match keep_from {
            Some(s) => s.checked_sub(1),
            None => report
                .blocks
                .iter()
                .filter_map(|b| b.wal.as_ref())
                .map(|w| w.through_segment)
                .max(),
        };
        if let Some(s) = release {
            tokio::task::block_in_place(|| self.wal.release_through(crate::wal::SegmentId(s)))?;
        }
        report.elapsed = started.elapsed();
        let counter = if first_error.is_some() {
            &self.activity.cut_failures
        } else {
            &self.activity.cuts
        };
        if first_error.is_some() || !report.blocks.is_empty() {
            counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(report),
        }
    }

    async fn write_block(&self, f: &Frozen) -> Result<BlockMeta, StoreError> {
        let head = f.head.clone();
        let tenant = f.tenant.clone();
        let opts = self.config.block.clone();
        let coverage = WalCoverage {
            ingester: self.ingester.clone(),
            through_segment: f.through_segment,
        };
        // Encoding is CPU work; one trace is decoded at a time, so memory stays near one
        // row group plus the compressed output.
        let encoded = tokio::task::spawn_blocking(move || {
            let mut writer = BlockWriter::new(&tenant, opts);
            for id in head.sorted_trace_ids() {
                writer.push_trace(id, head.trace(&id))?;
            }
            writer.finish(Some(coverage), 0, Vec::new())
        })
        .await
        .map_err(|e| StoreError::Io(format!("block write task: {e}")))??;
        let mut encoded = encoded;
        encoded.meta.received = f.head.received_range();
        let generation = f.head.generation();
        if let Some(o) = &self.config.observer
            && let Some((name, bytes)) = o.0.seal(&f.tenant, generation)
        {
            encoded.add_file(name, bytes.into());
        }
        let meta = encoded.meta.clone();
        self.backend
            .publish_block(&f.tenant, &meta.block_id, encoded.files, &meta)
            .await?;
        self.add_block(meta.clone()).await?;
        if let Some(o) = &self.config.observer {
            o.0.release(&f.tenant, generation);
        }
        tracing::info!(tenant = %f.tenant, block = %meta.block_id, spans = meta.span_count, traces = meta.trace_count, bytes = meta.size_bytes(), "block written");
        Ok(meta)
    }

    /// Makes a newly published block readable here.
    pub async fn add_block(&self, meta: BlockMeta) -> Result<(), StoreError> {
        let dir = self.backend.block_dir(&meta.tenant, &meta.block_id);
        let tenant = meta.tenant.clone();
        let reader = Arc::new(BlockReader::open(self.backend.store(), dir, meta).await?);
        self.readers.write().entry(tenant).or_default().push(reader);
        Ok(())
    }

    /// A trace's spans in the blocks, from one consistent view of the block list. When a
    /// block of that view disappears while it is read (compaction replaced it, retention
    /// deleted it), the lookup starts over with the current view, which holds the
    /// compacted output instead.
    async fn trace_in_blocks(
        &self,
        tenant: &str,
        id: &TraceId,
    ) -> Result<Vec<HeadSpan>, StoreError> {
        // Each retry follows a block really disappearing, so the loop ends as soon as
        // compaction lets a read finish; the bound only keeps a pathological churn finite.
        const ATTEMPTS: usize = 10;
        let mut attempt = 0;
        'view: loop {
            attempt += 1;
            let candidates: Vec<Arc<BlockReader>> = self
                .readers
                .read()
                .get(tenant)
                .map(|rs| rs.iter().filter(|r| r.may_contain(id)).cloned().collect())
                .unwrap_or_default();
            let found =
                futures::future::join_all(candidates.iter().map(|r| r.find_trace(id))).await;
            let mut spans = Vec::new();
            for (reader, result) in candidates.iter().zip(found) {
                match result {
                    Ok(part) => spans.extend(part),
                    Err(_)
                        if !self.has_block(tenant, &reader.meta.block_id) && attempt < ATTEMPTS =>
                    {
                        continue 'view;
                    }
                    Err(e) => return Err(e.into()),
                }
            }
            return Ok(spans);
        }
    }

    fn has_block(&self, tenant: &str, id: &str) -> bool {
        self.readers
            .read()
            .get(tenant)
            .is_some_and(|rs| rs.iter().any(|r| r.meta.block_id == id))
    }

    /// Tenants with blocks.
    pub fn block_tenants(&self) -> Vec<String> {
        let mut t: Vec<String> = self.readers.read().keys().cloned().collect();
        t.sort();
        t
    }

    /// Number, total size and total spans of visible blocks, over all tenants.
    pub fn block_stats(&self) -> (usize, u64, u64) {
        let readers = self.readers.read();
        let blocks = readers.values().flatten();
        blocks.fold((0, 0, 0), |(n, b, s), r| {
            (n + 1, b + r.meta.size_bytes(), s + r.meta.span_count)
        })
    }

    /// Merges one group of a tenant's blocks, if compaction has something to do. One
    /// compaction runs at a time.
    pub async fn compact_once(
        &self,
        tenant: &str,
        cfg: &CompactionConfig,
    ) -> Result<Option<BlockMeta>, StoreError> {
        let result = self.compact_once_inner(tenant, cfg).await;
        let counter = match &result {
            Ok(Some(_)) => &self.activity.compactions,
            Ok(None) => return result,
            Err(_) => &self.activity.compaction_failures,
        };
        counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        result
    }

    async fn compact_once_inner(
        &self,
        tenant: &str,
        cfg: &CompactionConfig,
    ) -> Result<Option<BlockMeta>, StoreError> {
        let _one = self.compacting.lock().await;
        let blocks = self.blocks(tenant);
        let Some(inputs) = compact::plan(&blocks, cfg) else {
            return Ok(None);
        };
        let ids: Vec<String> = inputs.iter().map(|b| b.block_id.clone()).collect();
        let readers: Vec<Arc<BlockReader>> = self
            .readers
            .read()
            .get(tenant)
            .map(|rs| {
                rs.iter()
                    .filter(|r| ids.contains(&r.meta.block_id))
                    .cloned()
                    .collect()
            })
            .unwrap_or_default();
        let started = Instant::now();
        let mut out =
            compact::merge(tenant, &readers, self.config.block.clone(), &self.ingester).await?;
        if let Some(o) = &self.config.observer {
            for name in o.0.files() {
                let mut inputs = Vec::new();
                for b in &inputs_meta_with(&inputs_all(&readers), &name) {
                    match self.read_block_file(tenant, b, &name).await {
                        Ok(bytes) => inputs.push(bytes),
                        Err(e) => {
                            tracing::warn!(tenant, block = %b, file = %name, error = %e, "reading a block's file for compaction failed; merging without it")
                        }
                    }
                }
                let views: Vec<&[u8]> = inputs.iter().map(|b| b.as_ref()).collect();
                if !views.is_empty()
                    && let Some(merged) = o.0.merge(&name, &views)
                {
                    out.add_file(name, merged.into());
                }
            }
        }
        let meta = out.meta.clone();
        self.backend
            .publish_block(tenant, &meta.block_id, out.files, &meta)
            .await?;
        // The output is visible: the inputs are superseded from here on, even after a crash.
        self.add_block(meta.clone()).await?;
        self.remove_blocks(tenant, &ids);
        for id in &ids {
            if let Err(e) = self.backend.delete_block(tenant, id).await {
                tracing::warn!(tenant, block = %id, error = %e, "deleting a compacted block failed; cleanup will retry");
            }
        }
        let in_spans: u64 = inputs.iter().map(|b| b.span_count).sum();
        tracing::info!(
            tenant,
            inputs = ids.len(),
            spans_in = in_spans,
            spans_out = meta.span_count,
            bytes_in = inputs.iter().map(BlockMeta::size_bytes).sum::<u64>(),
            bytes_out = meta.size_bytes(),
            level = meta.compaction_level,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "blocks compacted"
        );
        Ok(Some(meta))
    }

    /// Deletes blocks past retention (by age, then by size, each tenant by its limits in
    /// `policy`; ages by the server's clock, see [`crate::retention`]), and removes what
    /// compaction and interrupted writes left behind.
    pub async fn apply_retention(
        &self,
        policy: &crate::retention::RetentionPolicy,
        unfinished_grace: Duration,
    ) -> Result<Vec<String>, StoreError> {
        let deleted = self
            .apply_retention_at(policy, unfinished_grace, record::now_unix_nano())
            .await;
        if deleted.is_ok() {
            self.activity
                .retention_runs
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        deleted
    }

    /// [`Store::apply_retention`] as if the server's clock said `now_unix_nano`.
    pub async fn apply_retention_at(
        &self,
        policy: &crate::retention::RetentionPolicy,
        unfinished_grace: Duration,
        now_unix_nano: u64,
    ) -> Result<Vec<String>, StoreError> {
        let now = now_unix_nano;
        let mut deleted = Vec::new();
        for tenant in self.backend.list_tenants().await? {
            let blocks = self.blocks(&tenant);
            let ids = crate::retention::plan_retention(
                &blocks,
                now,
                policy.for_tenant(&tenant),
                self.config.ingestion_time_slack,
            );
            if !ids.is_empty() {
                self.remove_blocks(&tenant, &ids);
                for id in &ids {
                    self.backend.delete_block(&tenant, id).await?;
                }
                tracing::info!(tenant, blocks = ids.len(), "blocks deleted by retention");
                self.activity
                    .blocks_deleted_by_retention
                    .fetch_add(ids.len() as u64, std::sync::atomic::Ordering::Relaxed);
                deleted.extend(ids);
            }
            let listing = self.backend.list_blocks(&tenant).await?;
            self.backend
                .cleanup(&tenant, &listing, unfinished_grace)
                .await?;
        }
        Ok(deleted)
    }

    /// What the store has done since it opened.
    pub fn activity(&self) -> &Activity {
        &self.activity
    }

    /// Why the log refuses appends now, if it does (a failed write or fsync, until it
    /// resumes in a new segment by itself).
    pub fn wal_refusing(&self) -> Option<WalError> {
        self.wal.poisoned()
    }

    /// How long the log's group fsyncs took so far.
    pub fn wal_sync_times(&self) -> crate::wal::SyncHistogram {
        self.wal.sync_times()
    }

    /// One file of a block, whole.
    pub async fn read_block_file(
        &self,
        tenant: &str,
        block_id: &str,
        name: &str,
    ) -> Result<bytes::Bytes, StoreError> {
        let path = self.backend.block_dir(tenant, block_id).join(name);
        let got = self
            .backend
            .store()
            .get(&path)
            .await
            .map_err(|e| StoreError::Io(format!("reading {path}: {e}")))?;
        got.bytes()
            .await
            .map_err(|e| StoreError::Io(format!("reading {path}: {e}")))
    }

    /// Forgets blocks (deleted by compaction or retention).
    pub fn remove_blocks(&self, tenant: &str, ids: &[String]) {
        if let Some(rs) = self.readers.write().get_mut(tenant) {
            rs.retain(|r| !ids.contains(&r.meta.block_id));
        }
    }

    /// Forces the log to disk now (graceful shutdown).
    pub fn sync(&self) -> Result<(), WalError> {
        self.wal.sync()
    }
}
