//! What every handler shares: the configuration, the counters and, once the log has been
//! replayed, the store.

use std::sync::{Arc, OnceLock};

use arbor_storage::Store;

use crate::config::Config;
use crate::ingest::budget::InflightBudget;
use crate::memory::MemoryGuard;
use crate::metrics::{Metrics, StoreGauges};

pub struct AppState {
    pub config: Config,
    pub metrics: Metrics,
    pub inflight: InflightBudget,
    /// Resident memory against `limits.memory_limit` (`crate::memory`).
    pub memory: Arc<MemoryGuard>,
    /// Ingest requests processed at once (`limits.max_concurrent_requests`), over every
    /// receiver. Taken once a request's body has arrived and been decoded, so a client that
    /// never sends its body holds no slot.
    pub ingest_slots: Arc<tokio::sync::Semaphore>,
    /// The derived views; `None` when `derived.enabled` is off.
    pub derived: Option<Arc<arbor_derived::Deriver>>,
    /// Alert rules and their state; `None` when `alerts.enabled` is off.
    pub alerts: Option<Arc<crate::alerts::Alerts>>,
    /// The saved views of every tenant.
    pub views: crate::views::Views,
    /// Acknowledged spans, to live-tail watchers.
    pub tail: crate::tail::Hub,
    /// Searches being walked a page at a time.
    pub cursors: crate::api::search_cursor::Cursors,
    /// Turns for searches and metrics queries (`query.max_concurrent_queries`).
    pub queries: crate::api::admission::Admission,
    /// Tokens and the browser checks (`crate::auth`).
    pub auth: Arc<crate::auth::Auth>,
    /// Per-tenant limits (`crate::limits`).
    pub limits: Arc<crate::limits::Limiter>,
    store: OnceLock<Arc<Store>>,
}

impl AppState {
    pub fn new(config: Config) -> Self {
        let memory = Arc::new(MemoryGuard::new(config.limits.memory_limit.map(|b| b.0)));
        Self {
            inflight: InflightBudget::new(
                config.limits.max_inflight_bytes.as_usize(),
                memory.clone(),
            ),
            memory,
            ingest_slots: Arc::new(tokio::sync::Semaphore::new(
                config.limits.max_concurrent_requests,
            )),
            derived: config.derived.enabled.then(|| {
                Arc::new(arbor_derived::Deriver::new(arbor_derived::Config {
                    wait: config.derived.wait.0,
                    max_series: config.derived.max_series,
                    gb_second_price: config.derived.gb_second_price,
                    dimensions: config.derived.dimensions.clone(),
                    caller_attribute: config.derived.caller_attribute.clone(),
                    ..arbor_derived::Config::default()
                }))
            }),
            alerts: None,
            views: crate::views::Views::new(&config.data_dir),
            tail: crate::tail::Hub::default(),
            cursors: Default::default(),
            queries: crate::api::admission::Admission::new(
                config.query.max_concurrent_queries,
                config.query.queue_timeout.0,
            ),
            auth: Arc::new(crate::auth::Auth::open()),
            limits: Arc::new(crate::limits::Limiter::uniform(&config)),
            config,
            metrics: Metrics::default(),
            store: OnceLock::new(),
        }
    }

    /// The store, or `None` while the write-ahead log is being replayed.
    pub fn store(&self) -> Option<&Arc<Store>> {
        self.store.get()
    }

    pub fn set_ready(&self, store: Arc<Store>) {
        let _ = self.store.set(store);
    }

    pub fn gauges(&self) -> StoreGauges {
        match self.store() {
            Some(s) => {
                let (spans, traces) = s.head().counts();
                let (blocks, block_bytes, block_spans) = s.block_stats();
                StoreGauges {
                    activity: Some(crate::metrics::StoreActivity::of(s.activity())),
                    wal_sync: Some(s.wal_sync_times()),
                    head_bytes: s.head().bytes() as u64,
                    head_max_bytes: s.head().max_bytes() as u64,
                    head_spans: spans,
                    head_traces: traces,
                    inflight_bytes: self.inflight.in_use() as u64,
                    inflight_max_bytes: self.inflight.limit() as u64,
                    memory: self.memory_gauges(),
                    blocks: blocks as u64,
                    block_bytes,
                    block_spans,
                    ready: true,
                }
            }
            None => StoreGauges {
                activity: None,
                wal_sync: None,
                head_bytes: 0,
                head_max_bytes: self.config.head.max_bytes.0,
                head_spans: 0,
                head_traces: 0,
                inflight_bytes: self.inflight.in_use() as u64,
                inflight_max_bytes: self.inflight.limit() as u64,
                memory: self.memory_gauges(),
                blocks: 0,
                block_bytes: 0,
                block_spans: 0,
                ready: false,
            },
        }
    }

    fn memory_gauges(&self) -> crate::metrics::MemoryGauges {
        crate::metrics::MemoryGauges {
            resident_bytes: self.memory.resident(),
            limit_bytes: self.memory.limit(),
            refusals: self.memory.refusals(),
        }
    }
}
