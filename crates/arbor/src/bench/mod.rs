//! `arbor bench`: starts a real `arbor serve` on a fresh data directory and measures it,
//! each figure next to a floor taken in the same run:
//!
//! 1. floors before the server starts: the data disk's sequential write speed;
//! 2. ingest over OTLP/gRPC, then OTLP/HTTP protobuf (half the spans each): spans/s, the
//!    server's CPU time per span (from `/proc/<pid>/stat`, over the sending windows), its
//!    peak RSS; floors on the same payloads: prost decode CPU per span, zstd size per span;
//! 3. storage: bytes per span in blocks after a flush and after compaction has settled, as
//!    a ratio to the zstd floor. Compaction is off while ingesting and flushing (so those
//!    CPU figures hold no merging); a second server is then started on the same data
//!    directory with compaction on, and the reads run against it once it has settled;
//! 4. trace by ID: p50/p99 over random present and absent IDs;
//! 5. search: p50/p99 of a fixed, named set of TraceQL queries and a metrics query.
//!
//! The workload is `arbor gen`'s `microservices` profile, seeded.

mod ingest;
mod machine;
mod reads;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, ensure};
use arbor_testkit::{TestServer, process_cpu};
use serde_json::{Value, json};

use crate::generate::progress::{Progress, thousands};
use crate::generate::send::Protocol;

#[derive(clap::Args)]
pub struct BenchArgs {
    /// A short run, under 2 minutes: 200,000 spans, fewer lookups and query runs.
    #[arg(long)]
    quick: bool,
    /// Spans to ingest, half over OTLP/gRPC and half over OTLP/HTTP (default 10,000,000;
    /// 200,000 with --quick).
    #[arg(long)]
    spans: Option<u64>,
    /// Write the figures to this file as JSON.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Seed of the workload.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// The server's wal.sync policy during the run.
    #[arg(long, default_value = "batch", value_parser = ["batch", "always", "none"])]
    wal_sync: String,
    /// Requests in flight at once while ingesting.
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
    /// Spans per ingest request.
    #[arg(long, default_value_t = 500)]
    batch_size: usize,
    /// Directory in which to make the fresh data directory (default: the system's temporary
    /// directory); the disk floor is measured there too.
    #[arg(long)]
    dir: Option<PathBuf>,
    /// The arbor binary to run as the server (default: this one).
    #[arg(long)]
    server: Option<PathBuf>,
    /// Keep the data directory afterwards (its path is printed).
    #[arg(long)]
    keep: bool,
    /// No progress line.
    #[arg(long, short)]
    quiet: bool,
}

/// Sizes of a run.
struct Plan {
    spans: u64,
    chunk_spans: u64,
    disk_floor_bytes: u64,
    lookups: usize,
    warm_lookups: usize,
    search_runs: usize,
    compaction_interval: Duration,
    settle_max: Duration,
    /// Arguments of both servers; the compaction interval comes on top (off while
    /// ingesting, `compaction_interval` after).
    server_args: Vec<String>,
}

impl Plan {
    fn args_with_compaction(&self, interval: Duration) -> Vec<String> {
        let mut a = self.server_args.clone();
        a.push("--compaction-interval".into());
        a.push(format!("{}ms", interval.as_millis()));
        a
    }
}

impl Plan {
    fn new(args: &BenchArgs) -> Self {
        let mut server_args: Vec<String> = ["--wal-sync", &args.wal_sync, "--log-level", "warn"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let (interval, quick_extra): (Duration, &[&str]) = if args.quick {
            // Small cuts, so the few spans of a quick run still make blocks to compact.
            (
                Duration::from_secs(1),
                &[
                    "--block-max-head-bytes",
                    "8MiB",
                    "--compaction-min-inputs",
                    "2",
                ],
            )
        } else {
            (Duration::from_secs(5), &[])
        };
        server_args.extend(quick_extra.iter().map(|s| s.to_string()));
        let spans = args
            .spans
            .unwrap_or(if args.quick { 200_000 } else { 10_000_000 });
        Plan {
            spans,
            chunk_spans: 1_000_000,
            disk_floor_bytes: if args.quick { 64 << 20 } else { 1 << 30 },
            lookups: if args.quick { 100 } else { 2000 },
            warm_lookups: if args.quick { 20 } else { 200 },
            search_runs: if args.quick { 3 } else { 10 },
            compaction_interval: interval,
            settle_max: if args.quick {
                Duration::from_secs(20)
            } else {
                Duration::from_secs(900)
            },
            server_args,
        }
    }
}

#[derive(Default)]
struct Phase {
    spans: u64,
    wall: Duration,
    server_cpu: Duration,
    retries: u64,
    rejected: i64,
}

impl Phase {
    fn spans_per_s(&self) -> f64 {
        self.spans as f64 / self.wall.as_secs_f64().max(1e-9)
    }
    fn cpu_us_per_span(&self) -> f64 {
        self.server_cpu.as_secs_f64() * 1e6 / self.spans.max(1) as f64
    }
}

#[derive(Default)]
struct Floors {
    spans: u64,
    decode_cpu: Duration,
    zstd_bytes: u64,
    protobuf_bytes: u64,
}

struct Storage {
    blocks: f64,
    bytes: f64,
    spans: f64,
}

impl Storage {
    fn read(server: &TestServer) -> anyhow::Result<Self> {
        Ok(Self {
            blocks: server.metric("arbor_blocks")?,
            bytes: server.metric("arbor_block_bytes")?,
            spans: server.metric("arbor_block_spans")?,
        })
    }
    fn per_span(&self) -> f64 {
        self.bytes / self.spans.max(1.0)
    }
}

/// The server's peak resident set (VmHWM), in MiB.
fn peak_rss_mib(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse::<f64>().ok())
        .map_or(0.0, |kib| kib / 1024.0)
}

/// Shared with the progress line.
struct Status {
    phase: String,
    fraction: Option<f64>,
}

pub fn run(args: BenchArgs) -> anyhow::Result<()> {
    ensure!(
        args.concurrency > 0 && args.batch_size > 0,
        "--concurrency and --batch-size must be at least 1"
    );
    let run_started = Instant::now();
    let plan = Plan::new(&args);
    ensure!(plan.spans >= 2, "--spans must be at least 2");
    let machine = machine::machine();
    let status = Arc::new(Mutex::new(Status {
        phase: "starting".into(),
        fraction: None,
    }));
    // At a terminal the progress bar shows the phase; into a log, each phase gets a line.
    let log_phases = !args.quiet && !std::io::IsTerminal::is_terminal(&std::io::stderr());
    let progress = {
        let status = status.clone();
        Progress::start(
            "arbor bench",
            args.quiet || log_phases,
            Box::new(move || {
                let s = status.lock().unwrap();
                (s.fraction, s.phase.clone())
            }),
        )
    };
    let set = |phase: String, fraction: Option<f64>| {
        if log_phases {
            eprintln!("arbor bench: {phase}");
        }
        let mut s = status.lock().unwrap();
        s.phase = phase;
        s.fraction = fraction;
    };

    let parent = args.dir.clone().unwrap_or_else(std::env::temp_dir);
    std::fs::create_dir_all(&parent)?;
    let tmp = tempfile::Builder::new()
        .prefix("arbor-bench-")
        .tempdir_in(&parent)
        .with_context(|| format!("making a directory in {}", parent.display()))?;
    let data_dir = tmp.path().join("data");

    set("floor: sequential write to the data disk".into(), None);
    let disk_mb_s = machine::disk_write_mb_per_s(tmp.path(), plan.disk_floor_bytes)?;

    let binary = match &args.server {
        Some(p) => p.clone(),
        None => std::env::current_exe().context("locating this binary")?,
    };
    set(
        format!(
            "starting {} serve on {}",
            binary.display(),
            data_dir.display()
        ),
        None,
    );
    // Compaction is off while ingesting and flushing, so their CPU figures are theirs alone;
    // a second server on the same data directory compacts afterwards.
    let server_args = plan.args_with_compaction(Duration::ZERO);
    let server_args: Vec<&str> = server_args.iter().map(String::as_str).collect();
    let mut server =
        TestServer::start_in(&binary.to_string_lossy(), &data_dir, &server_args, None)?;
    let pid = server.pid().context("the server has no pid")?;

    // Ingest: half over gRPC, then half over HTTP.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let threads = machine.cores.clamp(1, 4);
    let mut floors = Floors::default();
    let mut ids: Vec<[u8; 16]> = Vec::new();
    let mut phases = Vec::new();
    let mut chunk_no = 0u64;
    let grpc_share = plan.spans / 2;
    for (protocol, endpoint, share) in [
        (Protocol::Grpc, server.otlp_grpc_url(), grpc_share),
        (
            Protocol::HttpProtobuf,
            server.otlp_http_url(),
            plan.spans - grpc_share,
        ),
    ] {
        let mut phase = Phase::default();
        while phase.spans < share {
            let want = (share - phase.spans).min(plan.chunk_spans);
            let frac = Some(phase.spans as f64 / share as f64);
            set(
                format!(
                    "generating {} spans for OTLP/{} ({} of {} sent)",
                    thousands(want),
                    protocol.name(),
                    thousands(phase.spans),
                    thousands(share)
                ),
                frac,
            );
            let chunk = ingest::generate(args.seed + chunk_no * 16, want, threads, args.batch_size);
            chunk_no += 1;
            set(
                format!(
                    "sending {} spans over OTLP/{} ({} of {} sent)",
                    thousands(chunk.spans),
                    protocol.name(),
                    thousands(phase.spans),
                    thousands(share)
                ),
                frac,
            );
            let cpu0 = process_cpu(pid);
            let sent = ingest::send(&runtime, protocol, &endpoint, args.concurrency, &chunk)?;
            phase.server_cpu += process_cpu(pid).saturating_sub(cpu0);
            phase.wall += sent.wall;
            phase.retries += sent.retries;
            phase.rejected += sent.rejected;
            phase.spans += chunk.spans;
            floors.spans += chunk.spans;
            floors.decode_cpu += chunk.decode_cpu;
            floors.zstd_bytes += chunk.zstd_bytes;
            floors.protobuf_bytes += chunk.protobuf_bytes;
            ids.extend(chunk.trace_ids);
        }
        ensure!(
            phase.rejected == 0,
            "the server rejected {} spans over {}",
            phase.rejected,
            protocol.name()
        );
        phases.push((protocol, phase));
    }
    let spans_total = floors.spans;
    let peak_rss_ingest = peak_rss_mib(pid);

    set("flushing the head into blocks".into(), None);
    let head_spans = server.metric("arbor_head_spans")?;
    let blocks_before_flush = server.metric("arbor_blocks")?;
    let flush_started = Instant::now();
    let cpu0 = process_cpu(pid);
    server.flush()?;
    let flush_wall = flush_started.elapsed();
    let flush_cpu = process_cpu(pid).saturating_sub(cpu0);
    let flushed = Storage::read(&server)?;

    let peak_rss_flush = peak_rss_mib(pid);
    let code = server.stop()?;
    ensure!(
        code == Some(0),
        "the server exited with {code:?} after SIGTERM"
    );

    set(
        "restarting the server with compaction on; waiting for it to settle".into(),
        None,
    );
    let server_args = plan.args_with_compaction(plan.compaction_interval);
    let server_args: Vec<&str> = server_args.iter().map(String::as_str).collect();
    let mut server =
        TestServer::start_in(&binary.to_string_lossy(), &data_dir, &server_args, None)?;
    let pid = server.pid().context("the server has no pid")?;
    // Settled: for three compaction intervals in a row the block count has not changed and
    // the server was idle (under 2 % of a core: compaction shows as CPU time long before a
    // merged block appears).
    let settle_started = Instant::now();
    let mut last = server.metric("arbor_blocks")?;
    let mut stable = 0;
    let mut cpu_before = process_cpu(pid);
    while stable < 3 && settle_started.elapsed() < plan.settle_max {
        std::thread::sleep(plan.compaction_interval);
        let n = server.metric("arbor_blocks")?;
        let cpu = process_cpu(pid);
        let idle = cpu.saturating_sub(cpu_before) < plan.compaction_interval / 50;
        cpu_before = cpu;
        stable = if n == last && idle { stable + 1 } else { 0 };
        last = n;
    }
    let settled = stable >= 3;
    let compacted = Storage::read(&server)?;
    let settle_wall = settle_started.elapsed();
    let compaction_cpu = process_cpu(pid);

    set(
        format!(
            "trace by ID: {} present and {} absent IDs",
            plan.lookups, plan.lookups
        ),
        None,
    );
    let lookups = reads::trace_by_id(
        &server,
        &ids,
        plan.lookups,
        plan.warm_lookups,
        args.seed ^ 0x5eed,
    )?;

    set(
        format!(
            "search: {} queries, {} runs each",
            reads::QUERIES.len(),
            plan.search_runs
        ),
        None,
    );
    let searches = reads::searches(&server, plan.search_runs)?;
    let peak_rss_run = peak_rss_mib(pid).max(peak_rss_flush);
    set("stopping the server".into(), None);
    let code = server.stop()?;
    ensure!(
        code == Some(0),
        "the server exited with {code:?} after SIGTERM"
    );
    drop(progress);

    let data_dir_note = if args.keep {
        let kept = tmp.keep();
        Some(kept.join("data"))
    } else {
        None
    };

    let floor_decode = floors.decode_cpu.as_secs_f64() * 1e6 / spans_total.max(1) as f64;
    let floor_zstd = floors.zstd_bytes as f64 / spans_total.max(1) as f64;
    let r3 = |v: f64| (v * 1000.0).round() / 1000.0;
    let (grpc, http) = (&phases[0].1, &phases[1].1);
    let ingest_rate = spans_total as f64 / (grpc.wall + http.wall).as_secs_f64().max(1e-9);
    let search_json: serde_json::Map<String, Value> = searches
        .iter()
        .map(|s| {
            (
                s.key.to_string(),
                json!({
                    "query": s.query,
                    "p50_ms": r3(reads::pct_ms(&s.times, 0.5)),
                    "p99_ms": r3(reads::pct_ms(&s.times, 0.99)),
                    "runs": s.times.len(),
                    "results": s.results,
                    "inspected_spans": s.inspected_spans,
                }),
            )
        })
        .collect();
    let fields: Vec<(&str, Value)> = vec![
        ("ingest_grpc_spans_per_s", json!(r3(grpc.spans_per_s()))),
        (
            "ingest_grpc_server_cpu_us_per_span",
            json!(r3(grpc.cpu_us_per_span())),
        ),
        ("ingest_http_spans_per_s", json!(r3(http.spans_per_s()))),
        (
            "ingest_http_server_cpu_us_per_span",
            json!(r3(http.cpu_us_per_span())),
        ),
        ("floor_decode_cpu_us_per_span", json!(r3(floor_decode))),
        ("floor_zstd_bytes_per_span", json!(r3(floor_zstd))),
        (
            "storage_bytes_per_span_flushed",
            json!(r3(flushed.per_span())),
        ),
        (
            "storage_bytes_per_span_compacted",
            json!(r3(compacted.per_span())),
        ),
        (
            "trace_by_id_p50_ms",
            json!(r3(reads::pct_ms(&lookups.all, 0.5))),
        ),
        (
            "trace_by_id_p99_ms",
            json!(r3(reads::pct_ms(&lookups.all, 0.99))),
        ),
        ("peak_rss_mb", json!(r3(peak_rss_ingest))),
        ("spans_total", json!(spans_total)),
        ("ingest_grpc_spans", json!(grpc.spans)),
        ("ingest_http_spans", json!(http.spans)),
        ("ingest_retries", json!(grpc.retries + http.retries)),
        ("ingest_concurrency", json!(args.concurrency)),
        ("ingest_batch_spans", json!(args.batch_size)),
        ("wal_sync", json!(args.wal_sync)),
        (
            "floor_protobuf_bytes_per_span",
            json!(r3(floors.protobuf_bytes as f64 / spans_total.max(1) as f64)),
        ),
        ("floor_disk_write_mb_per_s", json!(r3(disk_mb_s))),
        (
            "storage_ratio_flushed_to_zstd",
            json!(r3(flushed.per_span() / floor_zstd.max(1e-9))),
        ),
        (
            "storage_ratio_compacted_to_zstd",
            json!(r3(compacted.per_span() / floor_zstd.max(1e-9))),
        ),
        ("storage_blocks_flushed", json!(flushed.blocks)),
        ("storage_blocks_compacted", json!(compacted.blocks)),
        ("storage_spans_in_blocks", json!(compacted.spans)),
        ("flush_s", json!(r3(flush_wall.as_secs_f64()))),
        ("flush_server_cpu_s", json!(r3(flush_cpu.as_secs_f64()))),
        ("flush_head_spans", json!(head_spans)),
        (
            "flush_server_cpu_us_per_span",
            json!(r3(flush_cpu.as_secs_f64() * 1e6 / head_spans.max(1.0))),
        ),
        ("blocks_cut_while_ingesting", json!(blocks_before_flush)),
        ("compaction_settle_s", json!(r3(settle_wall.as_secs_f64()))),
        ("compaction_settled", json!(settled)),
        (
            "compaction_server_cpu_s",
            json!(r3(compaction_cpu.as_secs_f64())),
        ),
        (
            "trace_by_id_present_p50_ms",
            json!(r3(reads::pct_ms(&lookups.present, 0.5))),
        ),
        (
            "trace_by_id_present_p99_ms",
            json!(r3(reads::pct_ms(&lookups.present, 0.99))),
        ),
        (
            "trace_by_id_absent_p50_ms",
            json!(r3(reads::pct_ms(&lookups.absent, 0.5))),
        ),
        (
            "trace_by_id_absent_p99_ms",
            json!(r3(reads::pct_ms(&lookups.absent, 0.99))),
        ),
        ("trace_by_id_lookups", json!(lookups.all.len())),
        ("peak_rss_mb_whole_run", json!(r3(peak_rss_run))),
        ("ingest_spans_per_s_during_peak_rss", json!(r3(ingest_rate))),
        ("profile", json!("microservices")),
        ("seed", json!(args.seed)),
        ("quick", json!(args.quick)),
        ("run_s", json!(r3(run_started.elapsed().as_secs_f64()))),
        ("search", Value::Object(search_json)),
        (
            "machine",
            json!({
                "cores": machine.cores,
                "memory_gib": r3(machine.memory_gib),
                "cpu_model": machine.cpu_model,
                "os": machine.os,
                "date": machine.date,
                "git_commit": machine.git_commit,
            }),
        ),
    ];
    if let Some(path) = &args.json {
        std::fs::write(path, ordered_json(&fields))
            .with_context(|| format!("writing {}", path.display()))?;
    }

    // The table.
    let ratio = |v: f64, floor: f64| format!("{:.1}×", v / floor.max(1e-9));
    println!(
        "arbor bench: {} spans (microservices, seed {}), wal.sync = {}, {} requests in flight, {} spans per request{}",
        thousands(spans_total),
        args.seed,
        args.wal_sync,
        args.concurrency,
        args.batch_size,
        if args.quick { ", --quick" } else { "" }
    );
    println!(
        "machine: {} cores, {:.1} GiB, {}, {}; {}; commit {}\n",
        machine.cores,
        machine.memory_gib,
        machine.cpu_model,
        machine.os,
        machine.date,
        machine.git_commit
    );
    println!(
        "{:<34} {:>12} {:>12} {:>20} {:>16}",
        "ingest", "spans", "spans/s", "server CPU µs/span", "× prost floor"
    );
    for (protocol, p) in &phases {
        println!(
            "  {:<32} {:>12} {:>12} {:>20.2} {:>16}",
            match protocol {
                Protocol::Grpc => "OTLP/gRPC",
                Protocol::HttpProtobuf => "OTLP/HTTP protobuf",
                Protocol::HttpJson => "OTLP/HTTP JSON",
            },
            thousands(p.spans),
            thousands(p.spans_per_s() as u64),
            p.cpu_us_per_span(),
            ratio(p.cpu_us_per_span(), floor_decode)
        );
    }
    println!(
        "  {:<32} {:>12.0} MiB, ingesting {} spans/s ({:.0} MiB over the whole run)",
        "server peak RSS",
        peak_rss_ingest,
        thousands(ingest_rate as u64),
        peak_rss_run
    );
    println!("\nfloors, same run, same payloads");
    println!(
        "  {:<32} {:>12.2} µs/span (one thread)",
        "prost decode", floor_decode
    );
    println!(
        "  {:<32} {:>12.1} bytes/span ({:.1} bytes/span as protobuf)",
        "zstd(3) of the OTLP protobuf",
        floor_zstd,
        floors.protobuf_bytes as f64 / spans_total.max(1) as f64
    );
    println!(
        "  {:<32} {:>12.0} MB/s",
        "sequential write, data disk", disk_mb_s
    );
    println!(
        "\ncutting blocks: {} blocks cut while ingesting (their CPU is in the ingest figures); the flush cut {} spans at {:.2} µs/span of server CPU",
        blocks_before_flush,
        thousands(head_spans as u64),
        flush_cpu.as_secs_f64() * 1e6 / head_spans.max(1.0)
    );
    println!(
        "compaction (a second server on the same data, compaction on): {:.1} s of server CPU, {}",
        compaction_cpu.as_secs_f64(),
        if settled {
            "settled"
        } else {
            "still running when the wait ended"
        }
    );
    println!(
        "\n{:<34} {:>12} {:>8} {:>16}",
        "storage (blocks)", "bytes/span", "blocks", "× zstd floor"
    );
    let settle_label = if settled {
        "after compaction"
    } else {
        "compaction still running"
    };
    for (label, s, wall) in [
        ("after flush", &flushed, flush_wall),
        (settle_label, &compacted, settle_wall),
    ] {
        println!(
            "  {:<32} {:>12.1} {:>8} {:>16}   ({:.1} s)",
            label,
            s.per_span(),
            s.blocks,
            ratio(s.per_span(), floor_zstd),
            wall.as_secs_f64()
        );
    }
    println!("\n{:<34} {:>12} {:>12}", "trace by ID", "p50 ms", "p99 ms");
    for (label, v) in [
        ("present and absent", &lookups.all),
        ("present", &lookups.present),
        ("absent", &lookups.absent),
    ] {
        println!(
            "  {:<32} {:>12.2} {:>12.2}",
            format!("{label} ({})", v.len()),
            reads::pct_ms(v, 0.5),
            reads::pct_ms(v, 0.99)
        );
    }
    println!(
        "\n{:<34} {:>12} {:>12} {:>8} {:>16}",
        "search", "p50 ms", "p99 ms", "results", "spans inspected"
    );
    for s in &searches {
        println!(
            "  {:<32} {:>12.2} {:>12.2} {:>8} {:>16}",
            s.key,
            reads::pct_ms(&s.times, 0.5),
            reads::pct_ms(&s.times, 0.99),
            s.results,
            thousands(s.inspected_spans as u64)
        );
        println!("      {}", s.query);
    }
    println!(
        "\ntook {:.0} s{}{}",
        run_started.elapsed().as_secs_f64(),
        args.json
            .as_ref()
            .map_or(String::new(), |p| format!("; figures in {}", p.display())),
        data_dir_note.map_or(String::new(), |d| format!("; data kept in {}", d.display()))
    );
    Ok(())
}

/// A JSON object with its keys in the given order (serde_json's map sorts them).
fn ordered_json(fields: &[(&str, Value)]) -> String {
    let mut out = String::from("{\n");
    for (i, (k, v)) in fields.iter().enumerate() {
        let value = serde_json::to_string_pretty(v).unwrap_or_default();
        let value = value.replace('\n', "\n  ");
        out.push_str(&format!(
            "  {}: {value}{}\n",
            Value::String(k.to_string()),
            if i + 1 < fields.len() { "," } else { "" }
        ));
    }
    out.push_str("}\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordered_json_keeps_order_and_parses() {
        let text = ordered_json(&[("b", json!(1)), ("a", json!({"y": [1, 2], "x": "s"}))]);
        assert!(text.find("\"b\"").unwrap() < text.find("\"a\"").unwrap());
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["a"]["y"][1], 2);
        assert_eq!(v["b"], 1);
    }
}
