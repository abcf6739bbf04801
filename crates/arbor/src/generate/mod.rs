//! `arbor gen`: a seeded, realistic trace workload (see `arbor-workload`) sent to an OTLP
//! endpoint at a given rate and concurrency, or written to a file; a progress line while it
//! runs and a summary at the end.

pub mod progress;
pub mod send;

use std::collections::VecDeque;
use std::io::Write as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use arbor_model::time::now_unix_nanos as now_ns;
use arbor_server::units::HumanDuration;
use arbor_workload::{Batcher, GenSpan, Generator, Options, Profile};
use bytes::Bytes;
use clap::ValueEnum;
use prost::Message;

use progress::{Progress, thousands};
use send::{Protocol, SendError, Sender};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ProfileArg {
    /// API gateway → Lambda functions (faas.*, cloud.*), DynamoDB, S3, HTTP, SQS.
    Serverless,
    /// Fan-out trees 3–6 deep of 5–60 spans across 10–30 services.
    Microservices,
    /// Single traces of 10,000–50,000 spans.
    Huge,
}

impl From<ProfileArg> for Profile {
    fn from(p: ProfileArg) -> Self {
        match p {
            ProfileArg::Serverless => Profile::Serverless,
            ProfileArg::Microservices => Profile::Microservices,
            ProfileArg::Huge => Profile::Huge,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FileFormat {
    /// One OTLP/JSON ExportTraceServiceRequest per line (as the Collector's file exporter).
    Jsonl,
    /// OTLP protobuf ExportTraceServiceRequests, each prefixed with its varint length.
    Protobuf,
}

#[derive(clap::Args)]
pub struct GenArgs {
    /// The shape of the traces.
    #[arg(long, value_enum, default_value = "microservices")]
    profile: ProfileArg,
    /// The same seed gives the same traces (topology, IDs, attributes; times follow the clock).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// How to send.
    #[arg(
        long,
        value_enum,
        env = "OTEL_EXPORTER_OTLP_PROTOCOL",
        default_value = "grpc"
    )]
    protocol: Protocol,
    /// Base URL of the OTLP receiver (default: 127.0.0.1, port 4317 for gRPC, 4318 for HTTP).
    #[arg(long, env = "OTEL_EXPORTER_OTLP_ENDPOINT")]
    endpoint: Option<String>,
    /// Tenant (X-Scope-OrgID).
    #[arg(long, env = "ARBOR_TENANT")]
    tenant: Option<String>,
    /// Spans per second to aim at; 0 sends as fast as the receiver takes them.
    #[arg(long, default_value_t = 0.0)]
    rate: f64,
    /// Requests in flight at once.
    #[arg(long, default_value_t = 4)]
    concurrency: usize,
    /// Stop generating after this long (e.g. 30s, 5m). Without --duration, --spans or
    /// --traces: 60s when sending, 100,000 spans into a file.
    #[arg(long)]
    duration: Option<HumanDuration>,
    /// Stop after this many spans.
    #[arg(long)]
    spans: Option<u64>,
    /// Stop after this many traces.
    #[arg(long)]
    traces: Option<u64>,
    /// Spans per request.
    #[arg(long, default_value_t = 512)]
    batch_size: usize,
    /// Late mode: hold back a part of some traces and send it --late-after later (when
    /// sending, gen waits for the last late parts before it ends; into a file they go last).
    #[arg(long)]
    late: bool,
    /// With --late, the share of traces that have a late part.
    #[arg(long, default_value_t = 0.2)]
    late_fraction: f64,
    /// With --late, how long after the rest of its trace a late part is sent.
    #[arg(long, default_value = "2m")]
    late_after: HumanDuration,
    /// Write the requests to this file instead of sending them.
    #[arg(long)]
    output: Option<PathBuf>,
    /// Format of --output (default: jsonl for a .json or .jsonl name, else protobuf).
    #[arg(long, value_enum)]
    format: Option<FileFormat>,
    /// With --output, the start time of the first trace in Unix seconds (default: now);
    /// traces are 1 ms apart, so the file is the same for the same seed and start.
    #[arg(long)]
    start_time: Option<u64>,
    /// No progress line.
    #[arg(long, short)]
    quiet: bool,
}

/// When generation stops.
#[derive(Clone, Copy)]
struct Limits {
    duration: Option<Duration>,
    spans: Option<u64>,
    traces: Option<u64>,
}

impl Limits {
    fn reached(&self, started: Instant, spans: u64, traces: u64) -> bool {
        self.duration.is_some_and(|d| started.elapsed() >= d)
            || self.spans.is_some_and(|n| spans >= n)
            || self.traces.is_some_and(|n| traces >= n)
    }

    fn fraction(&self, started: Instant, spans: u64, traces: u64) -> Option<f64> {
        [
            self.duration
                .map(|d| started.elapsed().as_secs_f64() / d.as_secs_f64().max(1e-9)),
            self.spans.map(|n| spans as f64 / n.max(1) as f64),
            self.traces.map(|n| traces as f64 / n.max(1) as f64),
        ]
        .into_iter()
        .flatten()
        .reduce(f64::max)
    }
}

pub fn run(args: GenArgs) -> anyhow::Result<()> {
    if args.batch_size == 0 || args.concurrency == 0 {
        bail!("--batch-size and --concurrency must be at least 1");
    }
    if !(0.0..=1.0).contains(&args.late_fraction) {
        bail!("--late-fraction must be between 0 and 1");
    }
    let options = Options {
        profile: args.profile.into(),
        seed: args.seed,
        late_fraction: if args.late { args.late_fraction } else { 0.0 },
    };
    let unbounded = args.duration.is_none() && args.spans.is_none() && args.traces.is_none();
    let limits = Limits {
        duration: args
            .duration
            .map(|d| d.0)
            .or_else(|| (unbounded && args.output.is_none()).then_some(Duration::from_secs(60))),
        spans: args
            .spans
            .or_else(|| (unbounded && args.output.is_some()).then_some(100_000)),
        traces: args.traces,
    };
    match &args.output {
        Some(path) => to_file(&args, options, limits, path.clone()),
        None => to_endpoint(&args, options, limits),
    }
}

fn to_file(args: &GenArgs, options: Options, limits: Limits, path: PathBuf) -> anyhow::Result<()> {
    let format = args
        .format
        .unwrap_or_else(|| match path.extension().and_then(|e| e.to_str()) {
            Some("json" | "jsonl") => FileFormat::Jsonl,
            _ => FileFormat::Protobuf,
        });
    let file =
        std::fs::File::create(&path).with_context(|| format!("creating {}", path.display()))?;
    let mut out = std::io::BufWriter::new(file);
    let mut generator = Generator::new(options);
    let mut batcher = Batcher::new(args.batch_size);
    let mut late = Vec::new();
    let start_ns = args
        .start_time
        .map_or_else(now_ns, |s| s.saturating_mul(1_000_000_000));
    let started = Instant::now();
    let (mut spans, mut traces, mut requests, mut bytes) = (0u64, 0u64, 0u64, 0u64);
    let mut write = |batch: Vec<GenSpan>, generator: &Generator| -> anyhow::Result<()> {
        let req = generator.request(batch);
        let body = match format {
            FileFormat::Jsonl => {
                let mut b = send::encode_json(&req);
                b.push(b'\n');
                b
            }
            FileFormat::Protobuf => req.encode_length_delimited_to_vec(),
        };
        out.write_all(&body)?;
        requests += 1;
        bytes += body.len() as u64;
        Ok(())
    };
    while !limits.reached(started, spans, traces) {
        let t = generator.next_trace(start_ns + traces * 1_000_000);
        traces += 1;
        spans += t.len() as u64;
        batcher.push(t.spans);
        late.extend(t.late);
        while let Some(b) = batcher.full() {
            write(b, &generator)?;
        }
    }
    let with_late = late.len();
    batcher.push(late);
    while let Some(b) = batcher.full().or_else(|| batcher.rest()) {
        write(b, &generator)?;
    }
    out.flush()?;
    println!(
        "arbor gen: {} (seed {}) → {} ({})",
        options.profile.name(),
        options.seed,
        path.display(),
        match format {
            FileFormat::Jsonl => "OTLP/JSON lines",
            FileFormat::Protobuf => "length-delimited OTLP protobuf",
        }
    );
    println!(
        "  traces    {}\n  spans     {} ({} sent late, at the end)\n  requests  {} of up to {} spans, {:.1} MiB ({:.0} bytes/span)",
        thousands(traces),
        thousands(spans),
        thousands(with_late as u64),
        thousands(requests),
        args.batch_size,
        bytes as f64 / 1048576.0,
        bytes as f64 / spans.max(1) as f64
    );
    Ok(())
}

/// Counters shared by the producer, the senders and the progress line.
#[derive(Default)]
struct Stats {
    generated_spans: AtomicU64,
    traces: AtomicU64,
    late_traces: AtomicU64,
    late_pending: AtomicU64,
    sent_spans: AtomicU64,
    requests: AtomicU64,
    bytes: AtomicU64,
    retries: AtomicU64,
    failed_requests: AtomicU64,
    failed_spans: AtomicU64,
    rejected_spans: AtomicU64,
    generating: AtomicBool,
    /// How long generation ran (ms), set when it stops.
    generated_ms: AtomicU64,
}

struct Job {
    body: Bytes,
    spans: u64,
}

fn to_endpoint(args: &GenArgs, options: Options, limits: Limits) -> anyhow::Result<()> {
    let protocol = args.protocol;
    let endpoint = args
        .endpoint
        .clone()
        .unwrap_or_else(|| protocol.default_endpoint().to_string());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let sender = runtime.block_on(Sender::connect(protocol, &endpoint, args.tenant.clone()))?;
    let stats = Arc::new(Stats::default());
    stats.generating.store(true, Ordering::Relaxed);
    let (tx, rx) = tokio::sync::mpsc::channel::<Job>(args.concurrency * 2);
    let started = Instant::now();

    let producer = {
        let stats = stats.clone();
        let (batch_size, rate, late_after) = (args.batch_size, args.rate, args.late_after.0);
        std::thread::spawn(move || {
            produce(
                options, limits, batch_size, rate, late_after, protocol, &stats, tx,
            )
        })
    };

    let progress = {
        let stats = stats.clone();
        Progress::start(
            "arbor gen",
            args.quiet,
            Box::new(move || {
                let sent = stats.sent_spans.load(Ordering::Relaxed);
                let secs = started.elapsed().as_secs_f64().max(1e-3);
                let generating = stats.generating.load(Ordering::Relaxed);
                let mut text = format!(
                    "{} spans sent, {} traces, {:.0} spans/s, {} retries",
                    thousands(sent),
                    thousands(stats.traces.load(Ordering::Relaxed)),
                    sent as f64 / secs,
                    stats.retries.load(Ordering::Relaxed)
                );
                let pending = stats.late_pending.load(Ordering::Relaxed);
                if !generating && pending > 0 {
                    text.push_str(&format!(" — waiting to send {pending} late parts"));
                }
                let frac = generating
                    .then(|| {
                        limits.fraction(
                            started,
                            stats.generated_spans.load(Ordering::Relaxed),
                            stats.traces.load(Ordering::Relaxed),
                        )
                    })
                    .flatten();
                (frac, text)
            }),
        )
    };

    let rx = Arc::new(tokio::sync::Mutex::new(rx));
    let latencies = Arc::new(std::sync::Mutex::new(Vec::<Duration>::new()));
    let first_error = Arc::new(std::sync::Mutex::new(None::<String>));
    runtime.block_on(async {
        let mut workers = Vec::new();
        for _ in 0..args.concurrency {
            let (rx, stats, latencies, first_error) = (
                rx.clone(),
                stats.clone(),
                latencies.clone(),
                first_error.clone(),
            );
            let mut sender = sender.clone();
            workers.push(tokio::spawn(async move {
                loop {
                    let Some(job) = rx.lock().await.recv().await else {
                        break;
                    };
                    let bytes = job.body.len() as u64;
                    let t = Instant::now();
                    match sender.send_with_retries(job.body, 30).await {
                        Ok((rejected, retries)) => {
                            latencies.lock().unwrap().push(t.elapsed());
                            stats.sent_spans.fetch_add(job.spans, Ordering::Relaxed);
                            stats
                                .rejected_spans
                                .fetch_add(rejected as u64, Ordering::Relaxed);
                            stats.retries.fetch_add(retries as u64, Ordering::Relaxed);
                            stats.requests.fetch_add(1, Ordering::Relaxed);
                            stats.bytes.fetch_add(bytes, Ordering::Relaxed);
                        }
                        Err(e) => {
                            stats.failed_requests.fetch_add(1, Ordering::Relaxed);
                            stats.failed_spans.fetch_add(job.spans, Ordering::Relaxed);
                            let msg = match e {
                                SendError::Retry(_) => "the server kept pushing back".into(),
                                SendError::Failed(m) => m,
                            };
                            first_error.lock().unwrap().get_or_insert(msg);
                        }
                    }
                }
            }));
        }
        for w in workers {
            let _ = w.await;
        }
    });
    let produced = producer
        .join()
        .map_err(|_| anyhow::anyhow!("the generator thread panicked"))?;
    progress.finish();
    produced?;

    let elapsed = started.elapsed().as_secs_f64();
    let mut lat = latencies.lock().unwrap().clone();
    lat.sort_unstable();
    let pct = |p: f64| {
        lat.get(((lat.len().max(1) - 1) as f64 * p).round() as usize)
            .map_or(0.0, |d| d.as_secs_f64() * 1e3)
    };
    let s = |a: &AtomicU64| a.load(Ordering::Relaxed);
    let sent = s(&stats.sent_spans);
    println!(
        "arbor gen: {} (seed {}) → {} {endpoint}",
        options.profile.name(),
        options.seed,
        protocol.name()
    );
    println!(
        "  traces    {}{}",
        thousands(s(&stats.traces)),
        if options.late_fraction > 0.0 {
            format!(
                " ({} with a part sent {} later)",
                thousands(s(&stats.late_traces)),
                args.late_after
            )
        } else {
            String::new()
        }
    );
    println!(
        "  spans     {} sent in {} requests, {:.1} MiB ({:.0} bytes/span)",
        thousands(sent),
        thousands(s(&stats.requests)),
        s(&stats.bytes) as f64 / 1048576.0,
        s(&stats.bytes) as f64 / sent.max(1) as f64
    );
    // The rate is over the time spent generating; waiting for late parts comes after it.
    let generated_s = (s(&stats.generated_ms) as f64 / 1e3).clamp(1e-3, elapsed.max(1e-3));
    println!(
        "  rate      {:.0} spans/s over {generated_s:.1} s of generating{}; {elapsed:.1} s in all",
        s(&stats.generated_spans) as f64 / generated_s,
        if args.rate > 0.0 {
            format!(" (aimed at {:.0})", args.rate)
        } else {
            String::new()
        }
    );
    println!(
        "  requests  p50 {:.1} ms, p99 {:.1} ms; {} retries after push-back; {} spans rejected by the server",
        pct(0.5),
        pct(0.99),
        thousands(s(&stats.retries)),
        thousands(s(&stats.rejected_spans))
    );
    let failed = s(&stats.failed_requests);
    if failed > 0 {
        bail!(
            "{failed} requests ({} spans) failed; the first: {}",
            thousands(s(&stats.failed_spans)),
            first_error.lock().unwrap().clone().unwrap_or_default()
        );
    }
    Ok(())
}

/// The generator thread: makes traces until the limits, paced to `rate` spans/s, holds late
/// parts back for `late_after`, and hands encoded requests to the senders.
#[allow(clippy::too_many_arguments)]
fn produce(
    options: Options,
    limits: Limits,
    batch_size: usize,
    rate: f64,
    late_after: Duration,
    protocol: Protocol,
    stats: &Stats,
    tx: tokio::sync::mpsc::Sender<Job>,
) -> anyhow::Result<()> {
    let mut generator = Generator::new(options);
    let mut batcher = Batcher::new(batch_size);
    let mut late: VecDeque<(Instant, Vec<GenSpan>)> = VecDeque::new();
    let started = Instant::now();
    let (mut spans, mut traces) = (0u64, 0u64);
    let mut last_emit = Instant::now();
    let emit = |batch: Vec<GenSpan>, generator: &Generator, last_emit: &mut Instant| -> bool {
        *last_emit = Instant::now();
        let n = batch.len() as u64;
        let body = protocol.encode(&generator.request(batch));
        tx.blocking_send(Job { body, spans: n }).is_ok()
    };
    loop {
        let now = Instant::now();
        while late.front().is_some_and(|(due, _)| *due <= now) {
            if let Some((_, part)) = late.pop_front() {
                batcher.push(part);
                stats.late_pending.fetch_sub(1, Ordering::Relaxed);
            }
        }
        let generating = !limits.reached(started, spans, traces);
        // Pace the traces themselves, so their timestamps spread as real traffic's do.
        let due = (rate > 0.0).then(|| started + Duration::from_secs_f64(spans as f64 / rate));
        let early = due.and_then(|d| d.checked_duration_since(now));
        let mut generate_now = generating;
        if generating && let Some(wait) = early {
            std::thread::sleep(wait.min(Duration::from_millis(200)));
            // Not due yet: see to late parts and stale batches first.
            generate_now = wait <= Duration::from_millis(200);
        }
        if generate_now {
            let t = generator.next_trace(now_ns());
            traces += 1;
            spans += t.len() as u64;
            stats.traces.store(traces, Ordering::Relaxed);
            stats.generated_spans.store(spans, Ordering::Relaxed);
            if !t.late.is_empty() {
                late.push_back((now + late_after, t.late));
                stats.late_traces.fetch_add(1, Ordering::Relaxed);
                stats.late_pending.fetch_add(1, Ordering::Relaxed);
            }
            batcher.push(t.spans);
        } else if !generating && stats.generating.swap(false, Ordering::Relaxed) {
            stats
                .generated_ms
                .store(started.elapsed().as_millis() as u64, Ordering::Relaxed);
        }
        while let Some(b) = batcher.full() {
            if !emit(b, &generator, &mut last_emit) {
                bail!("the senders stopped");
            }
        }
        // A slow stream still leaves at least once a second, as an SDK's batch processor
        // sends on a schedule.
        let stale = last_emit.elapsed() >= Duration::from_secs(1);
        if !generating || stale {
            // Send what is left now; at the end, wait for the late parts to fall due.
            while let Some(b) = batcher.rest() {
                if !emit(b, &generator, &mut last_emit) {
                    bail!("the senders stopped");
                }
            }
        }
        if !generating {
            match late.front() {
                None => return Ok(()),
                Some((due, _)) => {
                    if let Some(wait) = due.checked_duration_since(Instant::now()) {
                        std::thread::sleep(wait.min(Duration::from_millis(200)));
                    }
                }
            }
        }
    }
}
