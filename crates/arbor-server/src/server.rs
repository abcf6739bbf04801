//! `arbor serve`: bind every listener, replay the log, serve until told to stop.
//!
//! Listeners are bound first, so `/ready` can answer 503 during a long replay and the
//! receivers can push back instead of refusing connections. On shutdown the listeners stop
//! accepting, in-flight requests finish, and the log is synced.

use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use arbor_storage::{Store, StoreConfig, wal::SyncPolicy};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tower::limit::GlobalConcurrencyLimitLayer;

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

fn store_config(c: &Config) -> StoreConfig {
    StoreConfig {
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
    }
}

/// Runs the server until `shutdown` completes.
pub async fn run(config: Config, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("creating data dir {}", config.data_dir.display()))?;
    let http = bind(config.http_listen, "http").await?;
    let grpc = bind(config.otlp_grpc_listen, "otlp grpc").await?;
    let otlp_http = bind(config.otlp_http_listen, "otlp http").await?;
    let zipkin = bind(config.zipkin_listen, "zipkin").await?;
    let addrs = BoundAddrs {
        http: http.local_addr()?,
        otlp_grpc: grpc.local_addr()?,
        otlp_http: otlp_http.local_addr()?,
        zipkin: zipkin.local_addr()?,
    };
    tracing::info!(
        http = %addrs.http,
        otlp_grpc = %addrs.otlp_grpc,
        otlp_http = %addrs.otlp_http,
        zipkin = %addrs.zipkin,
        data_dir = %config.data_dir.display(),
        "listening"
    );

    let state = Arc::new(AppState::new(config.clone()));
    let (stop_tx, stop_rx) = watch::channel(false);
    let stopped = |mut rx: watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };

    // One limit on ingest requests handled at once, shared by every receiver; requests
    // past it wait (the connection's flow control holds the sender back).
    let ingest_limit = Arc::new(tokio::sync::Semaphore::new(
        config.limits.max_concurrent_requests,
    ));
    let limit = || GlobalConcurrencyLimitLayer::with_semaphore(ingest_limit.clone());
    let mut tasks = tokio::task::JoinSet::new();
    for (listener, router, name) in [
        (http, api::router(state.clone()), "http"),
        (
            otlp_http,
            ingest::otlp_http::router(state.clone()).layer(limit()),
            "otlp http",
        ),
        (
            zipkin,
            ingest::zipkin::router(state.clone()).layer(limit()),
            "zipkin",
        ),
    ] {
        let rx = stop_rx.clone();
        tasks.spawn(async move {
            axum::serve(listener, router)
                .with_graceful_shutdown(stopped(rx))
                .await
                .with_context(|| format!("{name} server"))
        });
    }
    {
        let rx = stop_rx.clone();
        let svc = ingest::otlp_grpc::service(state.clone());
        let grpc_limit = limit();
        tasks.spawn(async move {
            tonic::transport::Server::builder()
                .layer(grpc_limit)
                .add_service(svc)
                .serve_with_incoming_shutdown(
                    tokio_stream::wrappers::TcpListenerStream::new(grpc),
                    stopped(rx),
                )
                .await
                .context("otlp grpc server")
        });
    }

    let started = Instant::now();
    let cfg = store_config(&config);
    let (store, report) = tokio::task::spawn_blocking(move || Store::open(cfg))
        .await
        .context("replay task")?
        .context("opening the write-ahead log")?;
    tracing::info!(
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
    tokio::task::spawn_blocking(move || store.sync())
        .await
        .context("final sync task")?
        .context("syncing the write-ahead log")?;
    tracing::info!("stopped");
    Ok(())
}
