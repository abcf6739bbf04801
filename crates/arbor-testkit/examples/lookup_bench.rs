//! Trace-by-ID latency with many spans stored: ingests a seeded workload through the real
//! server (OTLP/HTTP), cuts it into blocks, lets compaction settle, then times lookups of
//! present and absent trace IDs over the Tempo API (protobuf) and prints p50/p99, with the
//! storage size per span next to the zstd-compressed OTLP size of the same spans.
//!
//! Then runs a fixed set of TraceQL searches and a metrics query and prints their p50/p99,
//! results, spans inspected and the server's CPU time per query (scan rate per core).
//!
//! cargo build --release -p arbor -p arbor-testkit --examples --bins
//! target/release/examples/lookup_bench target/release/arbor [spans] [lookups] [searches]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use arbor_testkit::{TestServer, spans};
use prost::Message;
use rand::Rng;

const PER_BATCH: usize = 500;
const SENDERS: usize = 4;

fn pct(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let bin = args
        .get(1)
        .cloned()
        .unwrap_or_else(|| "target/release/arbor".into());
    let total: u64 = args.get(2).map_or(10_000_000, |v| v.parse().unwrap());
    let lookups: usize = args.get(3).map_or(2000, |v| v.parse().unwrap());
    let searches: usize = args.get(4).map_or(20, |v| v.parse().unwrap());
    let batches = total.div_ceil(PER_BATCH as u64);
    let start_ns = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_nanos() as u64
        - 3_600_000_000_000;

    let server = TestServer::start(
        &bin,
        &[
            "--wal-sync",
            "none",
            "--head-max-bytes",
            "4GiB",
            "--block-max-head-bytes",
            "512MiB",
            "--log-level",
            "warn",
        ],
    )?;
    let url = format!("{}/v1/traces", server.otlp_http_url());
    let next = Arc::new(AtomicU64::new(0));
    let zstd_bytes = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let handles: Vec<_> = (0..SENDERS)
        .map(|w| {
            let (url, next, zstd_bytes) = (url.clone(), next.clone(), zstd_bytes.clone());
            std::thread::spawn(move || {
                let client = reqwest::blocking::Client::new();
                let mut rng = spans::rng(1000 + w as u64);
                let mut ids = Vec::new();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= batches {
                        break;
                    }
                    let body = spans::load_batch(&mut rng, i, start_ns, PER_BATCH, &mut ids)
                        .encode_to_vec();
                    zstd_bytes.fetch_add(
                        zstd::encode_all(&body[..], 3).unwrap().len() as u64,
                        Ordering::Relaxed,
                    );
                    loop {
                        let r = client
                            .post(&url)
                            .header("Content-Type", "application/x-protobuf")
                            .body(body.clone())
                            .send()
                            .unwrap();
                        match r.status().as_u16() {
                            200 => break,
                            429 | 503 => std::thread::sleep(Duration::from_millis(200)),
                            s => panic!("ingest answered {s}"),
                        }
                    }
                }
                ids
            })
        })
        .collect();
    let mut ids: Vec<[u8; 16]> = Vec::new();
    for h in handles {
        ids.extend(h.join().unwrap());
    }
    let ingest = started.elapsed();
    let spans_sent = batches * PER_BATCH as u64;
    println!(
        "ingested          {spans_sent} spans in {} traces, {:.1} s ({:.0} spans/s)",
        ids.len(),
        ingest.as_secs_f64(),
        spans_sent as f64 / ingest.as_secs_f64()
    );
    // ARBOR_BENCH_HEAD=1 leaves the spans in the head and runs only the searches there.
    if std::env::var_os("ARBOR_BENCH_HEAD").is_some() {
        println!(
            "head              {} spans held",
            server.metric("arbor_head_spans")?
        );
        let client = reqwest::blocking::Client::new();
        return search_queries(&server, &client, searches);
    }
    server.flush()?;
    // Let compaction settle: the block count stops changing.
    let mut last = -1.0;
    let mut stable = 0;
    while stable < 6 {
        std::thread::sleep(Duration::from_secs(5));
        let n = server.metric("arbor_blocks")?;
        if n == last {
            stable += 1
        } else {
            stable = 0
        }
        last = n;
    }
    let block_bytes = server.metric("arbor_block_bytes")?;
    let block_spans = server.metric("arbor_block_spans")?;
    let zstd = zstd_bytes.load(Ordering::Relaxed) as f64;
    println!(
        "blocks            {last} holding {block_spans} spans, {:.1} MiB",
        block_bytes / 1048576.0
    );
    println!(
        "size              {:.1} bytes/span on disk; zstd(3) OTLP protobuf {:.1} bytes/span; ratio {:.2}",
        block_bytes / block_spans,
        zstd / spans_sent as f64,
        block_bytes / zstd
    );

    let client = reqwest::blocking::Client::new();
    let mut rng = spans::rng(7);
    let timed = |id: String, want: u16| -> Duration {
        let t = Instant::now();
        let r = client
            .get(format!("{}/api/traces/{id}", server.http_url()))
            .header("Accept", "application/protobuf")
            .send()
            .unwrap();
        assert_eq!(r.status().as_u16(), want, "{id}");
        let _ = r.bytes().unwrap();
        t.elapsed()
    };
    // Warm the cache (filters are in memory; this warms the OS page cache of the files).
    for _ in 0..200 {
        timed(hex::encode(ids[rng.random_range(0..ids.len())]), 200);
    }
    let mut present: Vec<Duration> = (0..lookups)
        .map(|_| timed(hex::encode(ids[rng.random_range(0..ids.len())]), 200))
        .collect();
    let mut absent: Vec<Duration> = (0..lookups)
        .map(|_| timed(hex::encode(spans::trace_id(&mut rng)), 404))
        .collect();
    present.sort();
    absent.sort();
    println!(
        "lookup present    p50 {:?}  p99 {:?}  ({lookups} lookups)",
        pct(&present, 0.5),
        pct(&present, 0.99)
    );
    println!(
        "lookup absent     p50 {:?}  p99 {:?}",
        pct(&absent, 0.5),
        pct(&absent, 0.99)
    );
    search_queries(&server, &client, searches)?;
    for column in ["duration_nano", "span.user.id"] {
        let (rows, cpu) = decode_floor(server.data_dir(), column)?;
        println!(
            "floor  decode {column:<16} {:.1} M spans/s (parquet alone, one thread, {rows} rows, {:.0} ms CPU)",
            rows as f64 / cpu.as_secs_f64() / 1e6,
            cpu.as_secs_f64() * 1e3
        );
    }
    Ok(())
}

/// The floor for a scan: decoding one column of every block's `spans.parquet` with the
/// parquet crate alone, in this process on one thread (CPU time), as a search reads it.
fn decode_floor(data_dir: &std::path::Path, column: &str) -> anyhow::Result<(u64, Duration)> {
    use parquet::arrow::ProjectionMask;
    use parquet::arrow::arrow_reader::{
        ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReaderBuilder,
    };
    let mut rows = 0u64;
    let started = cpu_time::ThreadTime::now();
    for tenant in std::fs::read_dir(data_dir.join("blocks"))? {
        for block in std::fs::read_dir(tenant?.path())? {
            let dir = block?.path();
            if !dir.join("meta.json").exists() {
                continue;
            }
            // The footer is parsed once per file, as the server caches it per block.
            let file = std::fs::File::open(dir.join("spans.parquet"))?;
            let md = ArrowReaderMetadata::load(&file, ArrowReaderOptions::new())?;
            let Ok(root) = md.schema().index_of(column) else {
                continue;
            };
            let mask = ProjectionMask::roots(md.parquet_schema(), [root]);
            for rg in 0..md.metadata().num_row_groups() {
                let rg_rows = md.metadata().row_group(rg).num_rows() as usize;
                let reader = ParquetRecordBatchReaderBuilder::new_with_metadata(
                    file.try_clone()?,
                    md.clone(),
                )
                .with_projection(mask.clone())
                .with_row_groups(vec![rg])
                .with_batch_size(rg_rows.max(1))
                .build()?;
                for b in reader {
                    rows += b?.num_rows() as u64;
                }
            }
        }
    }
    Ok((rows, started.elapsed()))
}

/// The fixed set of TraceQL queries, timed over the Tempo API.
fn search_queries(
    server: &TestServer,
    client: &reqwest::blocking::Client,
    runs: usize,
) -> anyhow::Result<()> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs();
    let queries: [(&str, &str, &str); 8] = [
        (
            "selective, indexed",
            "/api/search",
            r#"{ resource.service.name = "svc-3" && name = "op-7" }"#,
        ),
        (
            "selective, unindexed",
            "/api/search",
            r#"{ span.user.id = "u-4242" }"#,
        ),
        (
            "matches nothing",
            "/api/search",
            r#"{ span.http.route = "/nowhere" }"#,
        ),
        ("duration >", "/api/search", "{ duration > 4990us }"),
        (
            "structural",
            "/api/search",
            r#"{ name = "op-1" } >> { name = "op-9" && span.cache.hit = true }"#,
        ),
        (
            "unindexed, no match",
            "/api/search",
            r#"{ span.user.id = "nobody" }"#,
        ),
        ("duration, no match", "/api/search", "{ duration > 1h }"),
        (
            "rate() by service, 1h",
            "/api/metrics/query_range",
            "{ } | rate() by (resource.service.name)",
        ),
    ];
    let pid = server.pid().unwrap_or(0);
    // ARBOR_BENCH_ONLY=<text> runs only the queries whose label holds it (for profiling).
    let only = std::env::var("ARBOR_BENCH_ONLY").unwrap_or_default();
    for (label, path, q) in queries.into_iter().filter(|(l, _, _)| l.contains(&only)) {
        let start = (now - 3 * 3600).to_string();
        let end = (now + 60).to_string();
        let mut params: Vec<(&str, &str)> = vec![("q", q), ("start", &start), ("end", &end)];
        if path.contains("metrics") {
            params.push(("step", "60s"));
        }
        let url =
            reqwest::Url::parse_with_params(&format!("{}{path}", server.http_url()), &params)?;
        let mut times = Vec::with_capacity(runs);
        let mut inspected = 0f64;
        let mut found = 0usize;
        let cpu0 = arbor_testkit::process_cpu(pid);
        for _ in 0..runs {
            let t = Instant::now();
            let r = client.get(url.clone()).send()?;
            let status = r.status().as_u16();
            let body: serde_json::Value = r.json()?;
            anyhow::ensure!(status == 200, "{label}: {status} {body}");
            times.push(t.elapsed());
            let m = &body["metrics"]["inspectedSpans"];
            inspected = m
                .as_str()
                .and_then(|s| s.parse().ok())
                .or(m.as_f64())
                .unwrap_or(0.0);
            found = body["traces"]
                .as_array()
                .or(body["series"].as_array())
                .map_or(0, |a| a.len());
        }
        let cpu = arbor_testkit::process_cpu(pid).saturating_sub(cpu0);
        times.sort();
        let per_run = cpu.as_secs_f64() / runs as f64;
        println!(
            "search {label:<24} p50 {:>9.1?}  p99 {:>9.1?}  {found:>3} results  {inspected:>10.0} spans inspected  server CPU {:.1} ms/query{}",
            pct(&times, 0.5),
            pct(&times, 0.99),
            per_run * 1e3,
            if inspected > 0.0 && per_run > 0.0 {
                format!("  {:.1} M spans/s/core", inspected / per_run / 1e6)
            } else {
                String::new()
            },
        );
        println!("       q = {q}");
    }
    Ok(())
}
