//! `arbor serve`: bind every listener, replay the log, serve until told to stop.
//!
//! Listeners are bound first, so `/ready` can answer 503 during a long replay and the
//! receivers can push back instead of refusing connections. On shutdown the listeners stop
//! accepting, in-flight requests finish, and the log is synced.

use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use arbor_model::time::now_unix_nanos;
use arbor_storage::block::BlockWriteOptions;
use arbor_storage::compact::CompactionConfig;
use arbor_storage::{Store, StoreConfig, wal::SyncPolicy};
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::config::{Config, WalSync};
use crate::state::AppState;
use crate::{api, ingest};

/// The addresses actually bound (port 0 resolved).
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct BoundAddrs {
    pub http: SocketAddr,
    pub otlp_grpc: SocketAddr,
    pub otlp_http: SocketAddr,
    pub zipkin: SocketAddr,
    pub jaeger: SocketAddr,
}

async fn bind(addr: SocketAddr, what: &str) -> anyhow::Result<TcpListener> {
    TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding the {what} listener to {addr}"))
}

fn write_listen_file(path: &Path, addrs: &BoundAddrs) -> anyhow::Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, serde_json::to_vec(addrs)?)
        .with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("renaming to {}", path.display()))?;
    Ok(())
}

/// Feeds the derived views with the spans the store keeps.
struct DerivedObserver(Arc<arbor_derived::Deriver>);

impl arbor_storage::head::SpanObserver for DerivedObserver {
    fn observe(
        &self,
        tenant: &str,
        generation: u64,
        resource: &arbor_storage::head::ResourceEntry,
        spans: &[arbor_model::otlp::Span],
    ) {
        let attrs = resource
            .resource
            .as_ref()
            .map(|r| r.attributes.as_slice())
            .unwrap_or_default();
        self.0
            .observe_batch(tenant, generation, attrs, spans, now_unix_nanos());
    }

    fn seal(&self, tenant: &str, generation: u64) -> Option<(String, Vec<u8>)> {
        self.0
            .seal(tenant, generation)
            .map(|b| (arbor_derived::sidecar::FILE.to_string(), b))
    }

    fn release(&self, tenant: &str, generation: u64) {
        self.0.release(tenant, generation);
    }

    fn files(&self) -> Vec<String> {
        vec![arbor_derived::sidecar::FILE.to_string()]
    }

    fn merge(&self, file: &str, inputs: &[&[u8]]) -> Option<Vec<u8>> {
        if file != arbor_derived::sidecar::FILE {
            return None;
        }
        let (merged, unreadable) = arbor_derived::merge_sidecars(inputs, now_unix_nanos());
        for e in unreadable {
            tracing::warn!(error = %e, "a block's derived series could not be read; the compacted block goes without them");
        }
        Some(merged)
    }
}

fn store_config(c: &Config, derived: Option<&Arc<arbor_derived::Deriver>>) -> StoreConfig {
    StoreConfig {
        observer: derived
            .map(|d| arbor_storage::head::Observer(Arc::new(DerivedObserver(d.clone())))),
        storage_url: c.storage.url.clone(),
        storage_options: c.storage.options.clone(),
        block: BlockWriteOptions {
            rows_per_row_group: c.block.rows_per_row_group,
            max_dedicated_columns: c.block.max_dedicated_columns,
            ..BlockWriteOptions::default()
        },
        data_dir: c.data_dir.clone(),
        wal_sync: match c.wal.sync {
            WalSync::Batch => SyncPolicy::Batch,
            WalSync::Always => SyncPolicy::Always,
            WalSync::None => SyncPolicy::None,
        },
        wal_sync_interval: c.wal.sync_interval.0,
        wal_segment_bytes: c.wal.segment_size.0,
        // A record holds one decompressed request, plus its framing.
        wal_max_record_bytes: c.limits.max_decompressed_bytes.0.saturating_mul(2),
        head_max_bytes: c.head.max_bytes.as_usize(),
        ingestion_time_slack: c.retention.ingestion_time_slack.0,
    }
}

/// Runs the server until `shutdown` completes.
pub async fn run(config: Config, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
    arbor_storage::block::cache::set_budget(config.query.block_cache_bytes.as_usize());
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("creating data dir {}", config.data_dir.display()))?;
    let http = bind(config.http_listen, "http").await?;
    let grpc = bind(config.otlp_grpc_listen, "otlp grpc").await?;
    let otlp_http = bind(config.otlp_http_listen, "otlp http").await?;
    let zipkin = bind(config.zipkin_listen, "zipkin").await?;
    let jaeger = bind(config.jaeger_listen, "jaeger query").await?;
    let addrs = BoundAddrs {
        http: http.local_addr()?,
        otlp_grpc: grpc.local_addr()?,
        otlp_http: otlp_http.local_addr()?,
        zipkin: zipkin.local_addr()?,
        jaeger: jaeger.local_addr()?,
    };
    tracing::info!(
        http = %addrs.http,
        otlp_grpc = %addrs.otlp_grpc,
        otlp_http = %addrs.otlp_http,
        zipkin = %addrs.zipkin,
        jaeger = %addrs.jaeger,
        data_dir = %config.data_dir.display(),
        "listening"
    );

    let mut app = AppState::new(config.clone());
    let auth = Arc::new(crate::auth::Auth::from_config(&config.auth)?);
    match &auth.tokens {
        Some(file) => tracing::info!(
            tokens_file = %file.path().display(),
            tokens = file.tokens().len(),
            "bearer tokens required"
        ),
        None if config
            .listen_addrs()
            .iter()
            .any(|(_, a)| !a.ip().is_loopback()) =>
        {
            tracing::warn!(
                "serving without authentication on a non-loopback address (--insecure-no-auth): anyone who reaches a listener can read, write and delete"
            )
        }
        None => {}
    }
    app.auth = auth.clone();
    let limits = Arc::new(crate::limits::Limiter::open(&config)?);
    app.limits = limits.clone();
    let tls = crate::tls::Tls::open(&config.tls)?;
    if let Some(t) = &tls {
        tracing::info!(
            cert_file = %t.cert_file().display(),
            client_certificates = t.mutual(),
            "every listener speaks TLS"
        );
    }
    if config.alerts.enabled {
        let alerts = crate::alerts::Alerts::open(
            config.alerts.clone(),
            &config.data_dir,
            config
                .alerts
                .external_url
                .clone()
                .map(|u| u.trim_end_matches('/').to_string())
                .unwrap_or_else(|| {
                    let scheme = if tls.is_some() { "https" } else { "http" };
                    format!("{scheme}://{}", addrs.http)
                }),
        )
        .context("opening the alerts")?;
        app.alerts = Some(Arc::new(alerts));
    }
    let state = Arc::new(app);
    state.memory.watch();
    match state.memory.limit() {
        0 => tracing::info!("no memory limit (limits.memory_limit = 0)"),
        limit => tracing::info!(
            limit_mib = limit >> 20,
            "ingest is refused while resident memory is over limits.memory_limit"
        ),
    }
    let (stop_tx, stop_rx) = watch::channel(false);
    let stopped = |mut rx: watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };

    // Every listener is served by `listener::serve`: connection limits and read timeouts,
    // so stalled clients cannot hold it. The limit on ingest requests processed at once is
    // taken in `ingest::submit`, after the body has arrived.
    let conn_limits = config.limits.conn_limits();
    let mut tasks = tokio::task::JoinSet::new();
    use crate::auth::routes::Listener;
    for (listener, router, name, kind) in [
        (http, api::router(state.clone()), "http", Listener::Http),
        (
            otlp_http,
            ingest::otlp_http::router(state.clone()),
            "otlp http",
            Listener::OtlpHttp,
        ),
        (
            zipkin,
            ingest::zipkin::router(state.clone()).merge(api::zipkin::router(state.clone())),
            "zipkin",
            Listener::Zipkin,
        ),
        (
            jaeger,
            api::jaeger::router(state.clone()),
            "jaeger query",
            Listener::Jaeger,
        ),
        (
            grpc,
            axum::Router::new().fallback_service(ingest::otlp_grpc::service(state.clone())),
            "otlp grpc",
            Listener::OtlpGrpc,
        ),
    ] {
        // Answers of the query APIs are compressed when the client accepts it (gzip or
        // zstd; not server-sent events, gRPC or bodies under 32 bytes).
        let router = match kind {
            Listener::Http | Listener::Jaeger | Listener::Zipkin => {
                router.layer(tower_http::compression::CompressionLayer::new())
            }
            _ => router,
        };
        // Tokens, origins and hosts are checked before any route runs.
        let router = router.layer(axum::middleware::from_fn_with_state(
            crate::auth::guard::Guard {
                auth: auth.clone(),
                listener: kind,
            },
            crate::auth::guard::guard,
        ));
        let rx = stop_rx.clone();
        // Client certificates are asked for on the ingest listeners only.
        let listener_tls = tls.clone().map(|tls| crate::tls::ListenerTls {
            tls,
            ingest: matches!(
                kind,
                Listener::OtlpGrpc | Listener::OtlpHttp | Listener::Zipkin
            ),
        });
        tasks.spawn(async move {
            crate::listener::serve(
                listener,
                router,
                conn_limits,
                name,
                listener_tls,
                stopped(rx),
            )
            .await;
            anyhow::Ok(())
        });
    }

    if let Some(file) = auth.tokens.clone() {
        tokio::spawn(file.watch(stop_rx.clone()));
    }
    tokio::spawn(limits.clone().watch(stop_rx.clone()));
    if let Some(t) = tls {
        tokio::spawn(t.watch(stop_rx.clone()));
    }
    let started = Instant::now();
    let (store, report) = Store::open(store_config(&config, state.derived.as_ref()))
        .await
        .context("opening the storage")?;
    tracing::info!(
        storage = %store.backend().describe(),
        blocks = report.blocks,
        records_in_blocks = report.records_in_blocks,
        records = report.replay.records,
        spans = report.spans_replayed,
        corrupt_regions = report.replay.corrupt_regions.len(),
        torn_tail_bytes = report.replay.torn_tail_truncated_bytes,
        unreadable_records = report.records_unreadable,
        elapsed_ms = started.elapsed().as_millis() as u64,
        "write-ahead log replayed"
    );
    let store = Arc::new(store);
    state.set_ready(store.clone());
    let cutter = tokio::spawn(cut_when_due(store.clone(), config.clone(), stop_rx.clone()));
    let compactor = tokio::spawn(compact_in_background(
        store.clone(),
        config.clone(),
        state.memory.clone(),
        stop_rx.clone(),
    ));
    let retention = tokio::spawn(retain_in_background(
        store.clone(),
        config.clone(),
        limits.clone(),
        stop_rx.clone(),
    ));
    if let Some(derived) = state.derived.clone() {
        // Halves of client/server pairs whose wait is over are let go even when no span
        // arrives.
        let mut stop = stop_rx.clone();
        tokio::spawn(async move {
            let mut every = tokio::time::interval(Duration::from_secs(1));
            loop {
                tokio::select! {
                    _ = every.tick() => derived.tick(now_unix_nanos()),
                    _ = stop.changed() => break,
                }
            }
        });
    }
    if let Some(alerts) = state.alerts.clone() {
        tokio::spawn(crate::alerts::run(
            alerts.clone(),
            store.clone(),
            state.derived.clone(),
            config.query.search_timeout.0,
            stop_rx.clone(),
        ));
        tokio::spawn(crate::alerts::notify::run(alerts, stop_rx.clone()));
    }
    if let Some(path) = &config.listen_file {
        write_listen_file(path, &addrs)?;
    }
    tracing::info!("ready");

    tokio::select! {
        _ = shutdown => tracing::info!("shutting down: finishing in-flight requests"),
        Some(res) = tasks.join_next() => {
            // A listener died on its own: stop the rest and report it.
            let _ = stop_tx.send(true);
            res.context("server task")??;
            anyhow::bail!("a listener stopped unexpectedly");
        }
    }
    let _ = stop_tx.send(true);
    while let Some(res) = tasks.join_next().await {
        res.context("server task")??;
    }
    let _ = cutter.await;
    let _ = compactor.await;
    let _ = retention.await;
    // Pairs still waiting for their other half are settled now, so what they count goes
    // into the blocks cut below.
    if let Some(d) = &state.derived {
        d.expire_all();
    }
    // Nothing is arriving any more: cut what the head holds, so a restart replays little.
    // If the cut fails, the log still holds every span.
    match store.cut().await {
        Ok(r) if !r.blocks.is_empty() => tracing::info!(
            blocks = r.blocks.len(),
            spans = r.spans,
            "head cut on shutdown"
        ),
        Ok(_) => {}
        Err(e) => {
            tracing::warn!(error = %e, "cutting the head on shutdown failed; the write-ahead log keeps its spans")
        }
    }
    tokio::task::spawn_blocking(move || store.sync())
        .await
        .context("final sync task")?
        .context("syncing the write-ahead log")?;
    tracing::info!("stopped");
    Ok(())
}

/// Cuts the head into blocks when it is big or old enough, until told to stop. The size
/// threshold is at most half the head's budget, so a cut starts well before ingest would
/// be pushed back.
async fn cut_when_due(store: Arc<Store>, config: Config, mut stop: watch::Receiver<bool>) {
    let max_bytes = config
        .block
        .max_head_bytes
        .as_usize()
        .min(config.head.max_bytes.as_usize() / 2)
        .max(1);
    let max_age = config.block.max_age.0;
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // After a failed cut (storage full or away), the next try waits longer each time, up to
    // CUT_BACKOFF_MAX, instead of failing every tick.
    let mut backoff = Duration::ZERO;
    let mut not_before = tokio::time::Instant::now();
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.wait_for(|s| *s) => return,
        }
        if tokio::time::Instant::now() < not_before || !store.cut_due(max_bytes, max_age) {
            continue;
        }
        match store.cut().await {
            Ok(r) => {
                backoff = Duration::ZERO;
                tracing::debug!(
                    blocks = r.blocks.len(),
                    spans = r.spans,
                    elapsed_ms = r.elapsed.as_millis() as u64,
                    "head cut"
                );
            }
            Err(e) => {
                backoff = (backoff * 2).clamp(Duration::from_secs(1), CUT_BACKOFF_MAX);
                not_before = tokio::time::Instant::now() + backoff;
                tracing::error!(error = %e, retry_in_s = backoff.as_secs(), "cutting the head failed; retrying later");
            }
        }
    }
}

/// The longest wait between two tries of a failing cut.
const CUT_BACKOFF_MAX: Duration = Duration::from_secs(30);

/// Merges blocks while there is something to merge, looking again every interval.
/// Merges blocks every interval; a round waits while the server's resident memory is over
/// `limits.memory_limit` (a merge holds its output in memory).
async fn compact_in_background(
    store: Arc<Store>,
    config: Config,
    memory: Arc<crate::memory::MemoryGuard>,
    mut stop: watch::Receiver<bool>,
) {
    let interval = config.compaction.interval.0;
    if interval.is_zero() {
        return;
    }
    let cfg = CompactionConfig {
        window: config.compaction.window.0,
        min_inputs: config.compaction.min_inputs,
        max_inputs: config.compaction.max_inputs,
        // Its output is held in memory until written: bounded with the head's budget.
        max_output_bytes: config
            .compaction
            .max_output_bytes
            .map_or(config.head.max_bytes.0 / 2, |b| b.0),
        ..CompactionConfig::default()
    };
    loop {
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
        for tenant in store.block_tenants() {
            // Keep merging this tenant's blocks while there is a group to merge.
            loop {
                if *stop.borrow() {
                    return;
                }
                if memory.over_limit() {
                    tracing::debug!("memory over the limit: compaction waits for the next round");
                    break;
                }
                match store.compact_once(&tenant, &cfg).await {
                    Ok(Some(_)) => continue,
                    Ok(None) => break,
                    Err(e) => {
                        tracing::error!(tenant, error = %e, "compaction failed; retrying later");
                        break;
                    }
                }
            }
        }
    }
}

/// Applies retention every interval.
async fn retain_in_background(
    store: Arc<Store>,
    config: Config,
    limits: Arc<crate::limits::Limiter>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(config.retention.interval.0) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
        // Made for each pass, from the overrides as they are now (without an overrides
        // file: `retention.max_age` and `retention.max_bytes` for every tenant).
        let policy = limits.retention_policy();
        if let Err(e) = store.apply_retention(&policy, UNFINISHED_GRACE).await {
            tracing::error!(error = %e, "retention failed; retrying later");
        }
    }
}

/// A block directory without `meta.json` this old is an abandoned write and is removed.
const UNFINISHED_GRACE: Duration = Duration::from_secs(3600);
