//! `arbor gen` and `arbor bench`, run as the built binary: gen's files are the same for the
//! same seed and start, gen delivers every span over each protocol (late parts included),
//! and `arbor bench --quick --json` completes and writes every field the issue lists (a
//! smoke test: no time is asserted).

use std::process::{Command, Output};

use arbor_testkit::TestServer;

const BIN: &str = env!("CARGO_BIN_EXE_arbor");

fn run(args: &[&str]) -> Output {
    let out = Command::new(BIN)
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "arbor {args:?} failed: {}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// The number after `label` in gen's summary (`spans     1,234 sent …`).
fn summary_number(stdout: &str, label: &str) -> u64 {
    let line = stdout
        .lines()
        .find(|l| l.trim_start().starts_with(label))
        .unwrap_or_else(|| panic!("no {label:?} line in:\n{stdout}"));
    line.trim_start()[label.len()..]
        .split_whitespace()
        .next()
        .unwrap()
        .replace(',', "")
        .parse()
        .unwrap()
}

#[test]
fn gen_files_are_deterministic_for_a_seed_and_start() {
    let dir = tempfile::tempdir().unwrap();
    let file = |name: &str, seed: &str, format: &str| {
        let path = dir.path().join(name);
        run(&[
            "gen",
            "--profile",
            "serverless",
            "--seed",
            seed,
            "--traces",
            "300",
            "--start-time",
            "1790000000",
            "--format",
            format,
            "--output",
            path.to_str().unwrap(),
        ]);
        std::fs::read(path).unwrap()
    };
    let a = file("a.pb", "5", "protobuf");
    assert!(a.len() > 10_000);
    assert_eq!(a, file("b.pb", "5", "protobuf"), "same seed, same bytes");
    assert_ne!(
        a,
        file("c.pb", "6", "protobuf"),
        "another seed, other bytes"
    );
    // JSON lines: each line an OTLP/JSON request with faas tags in it.
    let j = String::from_utf8(file("d.jsonl", "5", "jsonl")).unwrap();
    let lines: Vec<&str> = j.lines().collect();
    assert!(!lines.is_empty());
    for l in &lines {
        let v: serde_json::Value = serde_json::from_str(l).unwrap();
        assert!(v["resourceSpans"].as_array().is_some_and(|a| !a.is_empty()));
    }
    assert!(j.contains("faas.coldstart") && j.contains("cloud.region"));
}

#[test]
fn gen_delivers_every_span_over_each_protocol() {
    let server = TestServer::start(BIN, &["--log-level", "warn"]).unwrap();
    let mut expected = 0;
    for (protocol, endpoint, profile) in [
        ("grpc", server.otlp_grpc_url(), "microservices"),
        ("http/protobuf", server.otlp_http_url(), "serverless"),
        ("http/json", server.otlp_http_url(), "microservices"),
    ] {
        let out = run(&[
            "gen",
            "--quiet",
            "--protocol",
            protocol,
            "--endpoint",
            &endpoint,
            "--profile",
            profile,
            "--traces",
            "200",
            "--batch-size",
            "100",
        ]);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(summary_number(&stdout, "traces"), 200, "{stdout}");
        let spans = summary_number(&stdout, "spans");
        assert!(spans >= 200 * 5, "{stdout}");
        expected += spans;
        assert_eq!(
            server.metric("arbor_head_spans").unwrap() as u64,
            expected,
            "{protocol}: every span sent is held"
        );
    }
}

#[test]
fn gen_late_parts_arrive_after_the_rest() {
    let server = TestServer::start(BIN, &["--log-level", "warn"]).unwrap();
    let started = std::time::Instant::now();
    let out = run(&[
        "gen",
        "--quiet",
        "--protocol",
        "http/protobuf",
        "--endpoint",
        &server.otlp_http_url(),
        "--traces",
        "50",
        "--late",
        "--late-fraction",
        "1",
        "--late-after",
        "2s",
    ]);
    assert!(
        started.elapsed() >= std::time::Duration::from_secs(2),
        "gen waits for the late parts"
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("50 with a part sent 2s later"), "{stdout}");
    let spans = summary_number(&stdout, "spans");
    assert_eq!(server.metric("arbor_head_spans").unwrap() as u64, spans);
    assert_eq!(server.metric("arbor_head_traces").unwrap() as u64, 50);
}

/// Every key the issue lists for `--json`, flat at the top.
const KEYS: &[&str] = &[
    "ingest_grpc_spans_per_s",
    "ingest_grpc_server_cpu_us_per_span",
    "ingest_http_spans_per_s",
    "ingest_http_server_cpu_us_per_span",
    "floor_decode_cpu_us_per_span",
    "floor_zstd_bytes_per_span",
    "storage_bytes_per_span_flushed",
    "storage_bytes_per_span_compacted",
    "trace_by_id_p50_ms",
    "trace_by_id_p99_ms",
    "peak_rss_mb",
    "spans_total",
];

#[test]
fn bench_quick_completes_with_every_field() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("out.json");
    let out = run(&[
        "bench",
        "--quick",
        "--quiet",
        "--json",
        json.to_str().unwrap(),
        "--dir",
        dir.path().to_str().unwrap(),
    ]);
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    for k in KEYS {
        assert!(v[k].is_number(), "{k} is a number in {v:#}");
    }
    assert_eq!(v["spans_total"].as_u64().map(|n| n >= 200_000), Some(true));
    let search = v["search"].as_object().expect("search is an object");
    for name in [
        "selective_attribute",
        "matches_nothing",
        "duration_threshold",
        "structural",
        "metrics_rate_1h",
    ] {
        let q = &search[name];
        assert!(q["query"].is_string(), "{name}: {q}");
        assert!(
            q["p50_ms"].is_number() && q["p99_ms"].is_number(),
            "{name}: {q}"
        );
    }
    let m = &v["machine"];
    assert!(m["cores"].as_u64().is_some_and(|c| c >= 1), "{m}");
    for k in ["cpu_model", "date", "git_commit"] {
        assert!(
            m[k].as_str().is_some_and(|s| !s.is_empty()),
            "machine.{k}: {m}"
        );
    }
    assert!(m["memory_gib"].is_number());
    // The table names every phase.
    let stdout = String::from_utf8_lossy(&out.stdout);
    for section in ["ingest", "floors", "storage", "trace by ID", "search"] {
        assert!(stdout.contains(section), "{section} in:\n{stdout}");
    }
    // The fresh data directory is gone unless --keep.
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with("arbor-bench-"))
        .collect();
    assert!(left.is_empty(), "data directory removed");
}

#[test]
fn gen_paces_to_the_rate() {
    let server = TestServer::start(BIN, &["--log-level", "warn"]).unwrap();
    let out = run(&[
        "gen",
        "--quiet",
        "--endpoint",
        &server.otlp_grpc_url(),
        "--rate",
        "2000",
        "--duration",
        "2s",
        "--batch-size",
        "200",
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let spans = summary_number(&stdout, "spans");
    // Paced by spans generated: at most 2 s × 2,000 spans/s, plus the trace under way.
    assert!((1_000..=4_060).contains(&spans), "{spans} spans:\n{stdout}");
    assert_eq!(server.metric("arbor_head_spans").unwrap() as u64, spans);
}
