//! Arbor's storage: what makes an acknowledged span durable and readable.
//!
//! The write path is `Store::ingest`: the normalised batch is appended to the write-ahead
//! log ([`wal`]) and, once the record is durable under the configured sync policy, added to
//! the in-memory [`head`]. Only then is the client acknowledged, so every acknowledged span
//! survives a crash: on open, the log is replayed into the head.
//!
//! A cut gate orders ingest against the (upcoming) cutting of the head into blocks: ingest
//! holds it shared from its log append until its head append, a cut holds it exclusively
//! while it rotates the log and swaps the head, so a record and its spans always land on
//! the same side of a cut.

pub mod head;
pub mod record;
pub mod wal;

use std::path::PathBuf;
use std::time::Duration;

use arbor_model::TraceId;
use arbor_model::otlp::ExportTraceServiceRequest;

use head::{AppendStats, Head, HeadFull, HeadSpan};
use wal::{SyncPolicy, Wal, WalConfig, WalError};

/// Settings of the store.
#[derive(Debug, Clone)]
pub struct StoreConfig {
    pub data_dir: PathBuf,
    pub wal_sync: SyncPolicy,
    pub wal_sync_interval: Duration,
    pub wal_segment_bytes: u64,
    pub wal_max_record_bytes: u64,
    pub head_max_bytes: usize,
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

/// What opening the store found in the log.
#[derive(Debug, Default, Clone)]
pub struct OpenReport {
    pub replay: wal::ReplayReport,
    pub records_unreadable: u64,
    pub spans_replayed: u64,
}

/// The write-ahead log and the head, together.
pub struct Store {
    wal: Wal,
    head: Head,
    cut_gate: tokio::sync::RwLock<()>,
}

impl Store {
    /// Opens the log under `data_dir/wal`, replaying every record into a new head.
    pub fn open(cfg: StoreConfig) -> Result<(Self, OpenReport), WalError> {
        let head = Head::new(cfg.head_max_bytes);
        let mut report = OpenReport::default();
        let wal_cfg = WalConfig {
            dir: cfg.data_dir.join("wal"),
            sync: cfg.wal_sync,
            sync_interval: cfg.wal_sync_interval,
            segment_bytes: cfg.wal_segment_bytes,
            max_record_bytes: cfg.wal_max_record_bytes,
        };
        let (wal, replay) = Wal::open(wal_cfg, |lsn, payload: &[u8]| {
            match record::decode(payload) {
                Ok((tenant, req)) => {
                    report.spans_replayed += head.append(&tenant, req).spans_added;
                }
                Err(e) => {
                    // The WAL's checksum passed, so this is a record from a newer or
                    // broken writer; skipping it keeps the rest readable.
                    report.records_unreadable += 1;
                    tracing::warn!(?lsn, error = %e, "skipping unreadable wal record");
                }
            }
            Ok::<(), std::convert::Infallible>(())
        })?;
        report.replay = replay;
        Ok((
            Self {
                wal,
                head,
                cut_gate: tokio::sync::RwLock::new(()),
            },
            report,
        ))
    }

    /// Makes a validated batch durable, then readable. Returns once both are done.
    pub async fn ingest(
        &self,
        tenant: &str,
        batch: ExportTraceServiceRequest,
    ) -> Result<AppendStats, IngestError> {
        self.head
            .check_capacity(head::estimate_request_bytes(&batch))?;
        let payload = record::encode(tenant, &batch);
        let _gate = self.cut_gate.read().await;
        self.wal.append_async(payload).await?;
        Ok(self.head.append(tenant, batch))
    }

    /// Every span held for a trace.
    pub fn trace(&self, tenant: &str, id: &TraceId) -> Vec<HeadSpan> {
        self.head.trace(tenant, id)
    }

    pub fn head(&self) -> &Head {
        &self.head
    }

    /// Forces the log to disk now (graceful shutdown).
    pub fn sync(&self) -> Result<(), WalError> {
        self.wal.sync()
    }
}
