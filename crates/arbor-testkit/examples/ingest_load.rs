//! A simple local ingest load against the real binary: pre-encoded OTLP batches sent over
//! OTLP/HTTP protobuf or OTLP/gRPC by concurrent senders. Prints spans/s, the server's CPU
//! time per span (from /proc), its peak RSS, and, as a floor measured in the same run, the
//! CPU time to decode the same payloads with prost alone.
//!
//! cargo build --release -p arbor
//! cargo run --release -p arbor-testkit --example ingest_load -- target/release/arbor [http|grpc] [batches] [spans-per-batch] [concurrency] [wal-sync]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use arbor_model::otlp::ExportTraceServiceRequest;
use arbor_model::otlp::grpc::TraceServiceClient;
use arbor_testkit::{TestServer, spans};
use prost::Message;

fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn make_batches(n: usize, per: usize) -> Vec<ExportTraceServiceRequest> {
    let mut rng = spans::rng(42);
    let mut ids = Vec::new();
    (0..n)
        .map(|i| spans::load_batch(&mut rng, i as u64, 1_700_000_000_000_000_000, per, &mut ids))
        .collect()
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let bin = args
        .get(1)
        .cloned()
        .unwrap_or_else(|| "target/release/arbor".into());
    let protocol = args.get(2).cloned().unwrap_or_else(|| "http".into());
    let batches: usize = args.get(3).map_or(2000, |v| v.parse().unwrap());
    let per: usize = args.get(4).map_or(100, |v| v.parse().unwrap());
    let conc: usize = args.get(5).map_or(8, |v| v.parse().unwrap());
    let sync = args.get(6).cloned().unwrap_or_else(|| "batch".into());

    let reqs = make_batches(batches, per);
    let payloads: Arc<Vec<Vec<u8>>> = Arc::new(reqs.iter().map(|r| r.encode_to_vec()).collect());
    let total_spans = batches * per;
    let bytes: usize = payloads.iter().map(Vec::len).sum();

    // Floor: decoding the same payloads with prost alone, one thread.
    let t = cpu_time::ThreadTime::now();
    let mut n = 0;
    for p in payloads.iter() {
        n += ExportTraceServiceRequest::decode(&p[..])
            .unwrap()
            .resource_spans
            .len();
    }
    let floor = t.elapsed().as_secs_f64();
    assert_eq!(n, batches);

    let server = TestServer::start(
        &bin,
        &[
            "--wal-sync",
            &sync,
            "--head-max-bytes",
            "8GiB",
            "--log-level",
            "warn",
        ],
    )?;
    let pid = server.pid().unwrap();
    let cpu0 = arbor_testkit::process_cpu(pid).as_secs_f64();
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut handles = Vec::new();
    for _ in 0..conc {
        let (next, payloads) = (next.clone(), payloads.clone());
        let (http_url, grpc_url) = (
            format!("{}/v1/traces", server.otlp_http_url()),
            server.otlp_grpc_url(),
        );
        let protocol = protocol.clone();
        handles.push(std::thread::spawn(move || {
            if protocol == "grpc" {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                rt.block_on(async {
                    let mut client = TraceServiceClient::connect(grpc_url).await.unwrap();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(p) = payloads.get(i) else { break };
                        let req = ExportTraceServiceRequest::decode(&p[..]).unwrap();
                        client.export(req).await.unwrap();
                    }
                });
            } else {
                let client = reqwest::blocking::Client::new();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(p) = payloads.get(i) else { break };
                    let r = client
                        .post(&http_url)
                        .header("Content-Type", "application/x-protobuf")
                        .body(p.clone())
                        .send()
                        .unwrap();
                    assert_eq!(r.status(), 200);
                }
            }
        }));
    }
    for h in handles {
        h.join().unwrap();
    }
    let wall = started.elapsed().as_secs_f64();
    let cpu = arbor_testkit::process_cpu(pid).as_secs_f64() - cpu0;
    let rss = peak_rss_kib(pid);
    let metrics = server.get("/metrics")?.text()?;
    let head_bytes: f64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("arbor_head_bytes "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0.0);
    println!("protocol            {protocol} (wal.sync = {sync}, {conc} senders)");
    println!(
        "spans               {total_spans} in {batches} batches of {per}, {:.1} MiB protobuf",
        bytes as f64 / 1048576.0
    );
    println!(
        "throughput          {:.0} spans/s ({wall:.2} s wall)",
        total_spans as f64 / wall
    );
    println!(
        "server CPU          {:.2} µs/span ({cpu:.2} s)",
        cpu * 1e6 / total_spans as f64
    );
    println!(
        "floor: prost decode {:.2} µs/span  (server CPU = {:.1}x floor)",
        floor * 1e6 / total_spans as f64,
        cpu / floor
    );
    println!("server peak RSS     {:.0} MiB", rss as f64 / 1024.0);
    println!(
        "head estimate       {:.0} MiB ({:.0} bytes/span)",
        head_bytes / 1048576.0,
        head_bytes / total_spans as f64
    );
    Ok(())
}
