//! The server's life: health endpoints, graceful shutdown, and the `arbor trace` CLI.

use std::process::Command;

use arbor_testkit::{TestServer, spans};

const BIN: &str = env!("CARGO_BIN_EXE_arbor");

#[test]
fn health_endpoints() {
    let s = TestServer::start(BIN, &[]).unwrap();
    assert_eq!(s.get("/ready").unwrap().text().unwrap().trim(), "ready");
    assert_eq!(s.get("/api/echo").unwrap().text().unwrap(), "echo");
    let info: serde_json::Value = s.get("/api/status/buildinfo").unwrap().json().unwrap();
    assert_eq!(info["version"], env!("CARGO_PKG_VERSION"));
    let metrics = s.get("/metrics").unwrap().text().unwrap();
    assert!(metrics.contains("# TYPE arbor_receiver_spans_accepted_total counter"));
    assert!(metrics.contains("arbor_ready 1"));
    let missing = s.get("/nope").unwrap();
    assert_eq!(missing.status(), 404);
}

#[test]
fn sigterm_finishes_cleanly_and_keeps_data() {
    let mut s = TestServer::start(BIN, &["--wal-sync", "none"]).unwrap();
    let mut rng = spans::rng(11);
    let trace = spans::trace_id(&mut rng);
    assert_eq!(
        s.export_http(&spans::batch("x", spans::chain(&mut rng, trace, 4, 1)))
            .unwrap()
            .0,
        200
    );
    assert_eq!(s.stop().unwrap(), Some(0), "clean exit:\n{}", s.log());
    assert!(s.log().contains("stopped"), "{}", s.log());
    s.restart().unwrap();
    assert!(s.trace(&hex::encode(trace)).unwrap().is_some());
}

#[test]
fn trace_command_prints_a_waterfall() {
    let s = TestServer::start(BIN, &[]).unwrap();
    let mut rng = spans::rng(12);
    let trace = spans::trace_id(&mut rng);
    let mut chain = spans::chain(&mut rng, trace, 3, 1_700_000_000_000_000_000);
    chain[2].status = Some(arbor_model::otlp::Status {
        code: 2,
        message: "boom".into(),
    });
    assert_eq!(
        s.export_http(&spans::batch("payments", chain)).unwrap().0,
        200
    );
    let out = Command::new(BIN)
        .args([
            "trace",
            &hex::encode(trace),
            "--url",
            &s.http_url(),
            "--color",
            "never",
            "--width",
            "100",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    for name in ["op-0", "op-1", "op-2", "payments"] {
        assert!(text.contains(name), "{name} missing from:\n{text}");
    }
    assert!(
        !text.contains('\u{1b}'),
        "no escape codes with --color never"
    );
    assert!(text.lines().all(|l| l.chars().count() <= 100), "{text}");

    let out = Command::new(BIN)
        .args(["trace", "123", "--url", &s.http_url()])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("404"));
}

#[test]
fn bad_config_is_reported() {
    let dir = tempfile_dir();
    let cfg = dir.join("arbor.toml");
    std::fs::write(&cfg, "[wal]\nsink = \"batch\"\n").unwrap();
    let out = Command::new(BIN)
        .args(["serve", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("sink"), "{err}");
}

fn tempfile_dir() -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("arbor-test-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}
