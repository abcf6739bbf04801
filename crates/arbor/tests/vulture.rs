//! `arbor vulture` against the real binary: against a healthy server it finds every
//! acknowledged span once (traces in parts, late parts, resent parts, reads from the head
//! and from blocks), and against a server that loses data it reports the loss and fails.

use std::collections::HashMap;
use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use arbor_testkit::TestServer;

const BIN: &str = env!("CARGO_BIN_EXE_arbor");

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The `key=value` fields of vulture's summary line.
fn summary(stdout: &str) -> HashMap<String, String> {
    let line = stdout
        .lines()
        .find(|l| l.starts_with("vulture summary:"))
        .unwrap_or_else(|| panic!("no summary line in:\n{stdout}"));
    line.trim_start_matches("vulture summary:")
        .split_whitespace()
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn num(s: &HashMap<String, String>, key: &str) -> u64 {
    s.get(key)
        .unwrap_or_else(|| panic!("no {key} in the summary {s:?}"))
        .parse()
        .unwrap()
}

fn vulture(server: &TestServer, metrics_port: u16, extra: &[&str]) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.arg("vulture")
        .args(["--endpoint", &server.otlp_http_url()])
        .args(["--url", &server.http_url()])
        .args(["--metrics-listen", &format!("127.0.0.1:{metrics_port}")])
        .args(["--seed", "7"])
        .args(extra)
        .env("ARBOR_LOG_LEVEL", "info")
        .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
        .env_remove("ARBOR_URL")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

fn finish(child: std::process::Child) -> (Option<i32>, String, String) {
    let out = child.wait_with_output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_healthy_server_gives_back_every_acknowledged_span_once() {
    let server = TestServer::start(BIN, &[]).unwrap();
    let port = free_port();
    let child = vulture(
        &server,
        port,
        &[
            "--interval",
            "100ms",
            "--late-after",
            "700ms",
            "--read-ages",
            "300ms,1500ms",
            "--duration",
            "4s",
        ],
    )
    .spawn()
    .unwrap();
    // Midway: cut the head into blocks, so later reads find traces in blocks, and their
    // late parts in the head; and scrape the metrics.
    std::thread::sleep(Duration::from_secs(2));
    server.flush().unwrap();
    let mut metrics = String::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if let Ok(mut resp) = reqwest::blocking::get(format!("http://127.0.0.1:{port}/metrics")) {
            resp.read_to_string(&mut metrics).unwrap();
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        metrics.contains("# TYPE arbor_vulture_missing_spans_total counter"),
        "metrics: {metrics}"
    );
    assert!(metrics.contains("arbor_vulture_checks_total{kind=\"id\"}"));

    let (code, stdout, stderr) = finish(child);
    assert_eq!(code, Some(0), "vulture failed:\n{stdout}\n{stderr}");
    let s = summary(&stdout);
    assert_eq!(s["result"], "ok");
    assert!(num(&s, "traces_written") >= 10, "{s:?}");
    assert!(num(&s, "checks_id") >= num(&s, "traces_written"), "{s:?}");
    assert!(
        num(&s, "checks_search") >= num(&s, "traces_written"),
        "{s:?}"
    );
    assert_eq!(num(&s, "parts_unacknowledged"), 0, "{s:?}");
    for key in [
        "missing_spans",
        "duplicated_spans",
        "wrong_spans",
        "missing_traces_id",
        "missing_traces_search",
        "read_errors_id",
        "read_errors_search",
    ] {
        assert_eq!(num(&s, key), 0, "{key}: {s:?}\n{stderr}");
    }
    // Parts were resent (and the server kept one copy of each: no duplicates above).
    assert!(num(&s, "parts_resent") > 0, "{s:?}");
    assert!(stderr.contains("vulture: started"), "{stderr}");
}

/// A server whose retention deletes blocks a second after their newest span: the traces
/// vulture wrote are gone when it reads them back at 1.5 s and at the end, which it must
/// report.
#[test]
fn a_server_that_loses_traces_is_caught() {
    let server = TestServer::start(
        BIN,
        &[
            "--block-max-age",
            "200ms",
            "--retention-max-age",
            "1s",
            "--retention-interval",
            "200ms",
        ],
    )
    .unwrap();
    let port = free_port();
    let child = vulture(
        &server,
        port,
        &[
            "--interval",
            "200ms",
            "--late-after",
            "400ms",
            "--read-ages",
            "1500ms",
            "--duration",
            "3s",
        ],
    )
    .spawn()
    .unwrap();
    let (code, stdout, stderr) = finish(child);
    let s = summary(&stdout);
    assert_eq!(code, Some(1), "vulture must fail:\n{stdout}\n{stderr}");
    assert_eq!(s["result"], "FAILED");
    assert!(num(&s, "missing_spans") > 0, "{s:?}");
    assert!(num(&s, "missing_traces_id") > 0, "{s:?}");
    assert!(stderr.contains("vulture: trace missing"), "{stderr}");
}
