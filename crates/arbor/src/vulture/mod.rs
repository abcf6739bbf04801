//! `arbor vulture`: a consistency checker that runs against any Arbor. It writes known
//! traces at a steady rate ([`traces`]: each a function of the seed and its write time, sent
//! in parts, some late, some twice — [`write`]), reads each back by ID and by TraceQL search
//! at increasing ages ([`read`]), compares ([`check`]) and counts missing, duplicated and
//! wrong spans as Prometheus metrics ([`metrics`]) and log lines; a summary at exit.
//!
//! Exit status: 0 when every check found what it should, 1 when any found a trace or span
//! missing, duplicated or wrong (reads that failed are not findings), 2 on a usage error.

mod check;
mod ledger;
mod metrics;
mod read;
mod traces;
mod write;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use arbor_server::units::HumanDuration;

use crate::generate::send::Protocol;
use ledger::Ledger;
use metrics::Metrics;
use read::Reader;
use traces::Plan;
use write::Writer;

#[derive(clap::Args)]
pub struct VultureArgs {
    /// Base URL of the OTLP receiver (default: 127.0.0.1, port 4318 for HTTP, 4317 for gRPC).
    #[arg(long, env = "OTEL_EXPORTER_OTLP_ENDPOINT")]
    endpoint: Option<String>,
    /// How to send.
    #[arg(long, value_enum, default_value = "http/protobuf")]
    protocol: Protocol,
    /// Base URL of Arbor's query API.
    #[arg(long, env = "ARBOR_URL", default_value = "http://127.0.0.1:3200")]
    url: String,
    /// Tenant (X-Scope-OrgID).
    #[arg(long, env = "ARBOR_TENANT")]
    tenant: Option<String>,
    /// Traces are a function of the seed and their write time: the same seed writes the same
    /// trace at the same time.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// A new trace every this often.
    #[arg(long, default_value = "1s")]
    interval: HumanDuration,
    /// How long after the rest of its trace a late part is sent.
    #[arg(long, default_value = "5s")]
    late_after: HumanDuration,
    /// The ages at which each trace is read back (comma-separated, increasing).
    #[arg(long, value_delimiter = ',', default_value = "2s,10s,1m,5m")]
    read_ages: Vec<HumanDuration>,
    /// Stop writing after this long; then the waiting parts are sent, every trace is read
    /// back once more, and vulture exits. Runs until interrupted without it.
    #[arg(long)]
    duration: Option<HumanDuration>,
    /// After --duration (or an interrupt), how long to go on sending unacknowledged parts.
    #[arg(long, default_value = "30s")]
    flush_timeout: HumanDuration,
    /// Serve Prometheus metrics on this address (`GET /metrics`).
    #[arg(long, default_value = "127.0.0.1:3281")]
    metrics_listen: SocketAddr,
}

pub fn run(args: VultureArgs) -> anyhow::Result<()> {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("ARBOR_LOG_LEVEL")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .try_init();
    if args.interval.0.is_zero() {
        anyhow::bail!("--interval must be more than 0");
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .worker_threads(2)
        .thread_name("vulture")
        .build()
        .context("starting the async runtime")?;
    let clean = runtime.block_on(run_async(args))?;
    runtime.shutdown_timeout(Duration::from_secs(1));
    if !clean {
        std::process::exit(1);
    }
    Ok(())
}

async fn run_async(args: VultureArgs) -> anyhow::Result<bool> {
    let metrics = Arc::new(Metrics::default());
    let bound = metrics::serve(args.metrics_listen, metrics.clone())
        .await
        .with_context(|| format!("listening on {}", args.metrics_listen))?;
    let plan = Plan {
        seed: args.seed,
        interval: args.interval.0,
        late_after: args.late_after.0,
    };
    let mut ages: Vec<Duration> = args.read_ages.iter().map(|a| a.0).collect();
    ages.sort();
    let endpoint = args
        .endpoint
        .clone()
        .unwrap_or_else(|| args.protocol.default_endpoint().to_string());
    tracing::info!(
        endpoint = %endpoint, url = %args.url, seed = args.seed, interval = ?plan.interval,
        read_ages = ?ages, metrics = %format!("http://{bound}/metrics"),
        "vulture: started"
    );
    let ledger = Arc::new(Ledger::default());
    let reader = Arc::new(Reader::new(
        &args.url,
        args.tenant.clone(),
        metrics.clone(),
    )?);

    let started = Instant::now();
    let stop_at = match args.duration {
        Some(d) => started + d.0,
        // About a century: until interrupted.
        None => started + Duration::from_secs(100 * 365 * 86_400),
    };
    let writer = Writer {
        plan,
        protocol: args.protocol,
        endpoint,
        tenant: args.tenant.clone(),
        ledger: ledger.clone(),
        metrics: metrics.clone(),
    };
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let flush_timeout = args.flush_timeout.0;
    let write_task = tokio::spawn(async move {
        let mut stop_rx = stop_rx;
        let interrupted = async move {
            let _ = stop_rx.wait_for(|s| *s).await;
        };
        tokio::select! {
            _ = writer.run(stop_at, stop_at + flush_timeout) => {}
            _ = interrupted => {}
        }
    });
    let check_task = tokio::spawn(check_loop(plan, ledger.clone(), reader.clone(), ages));
    let mut progress = tokio::time::interval(Duration::from_secs(10));
    progress.tick().await;
    let mut write_task = write_task;
    loop {
        tokio::select! {
            _ = &mut write_task => break,
            _ = tokio::signal::ctrl_c() => {
                tracing::info!("vulture: interrupted; final checks");
                let _ = stop_tx.send(true);
                let _ = (&mut write_task).await;
                break;
            }
            _ = progress.tick() => {
                tracing::info!("vulture: {}", metrics.summary());
            }
        }
    }
    check_task.abort();
    // Every trace once more, now that every part was sent (or given up on).
    for (slot, entry) in ledger.all() {
        reader.check(&plan.trace(slot), entry.acked, "final").await;
    }
    let summary = metrics.summary();
    let clean = metrics.clean();
    tracing::info!(traces = ledger.len(), elapsed = ?started.elapsed(), "vulture: done");
    println!(
        "vulture summary: {} result={}",
        summary,
        if clean { "ok" } else { "FAILED" }
    );
    Ok(clean)
}

/// Reads back every trace whose next age has come, four times a second.
async fn check_loop(plan: Plan, ledger: Arc<Ledger>, reader: Arc<Reader>, ages: Vec<Duration>) {
    loop {
        for (slot, entry) in ledger.due(&ages, Instant::now()) {
            let label = format!("{:?}", ages[entry.checks_done]);
            // The acknowledgements as of now: a part acknowledged meanwhile is not missed.
            let acked = ledger.get(slot).map_or(entry.acked, |e| e.acked);
            reader.check(&plan.trace(slot), acked, &label).await;
            ledger.checked(slot);
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}
