//! What an attacker or a bad day does to a running server, against the real binary: values
//! that overflow time arithmetic, a rules file that used to stop alerting for good, clients
//! that open connections and send nothing, a log that cannot be written, a span with half a
//! million attributes, a Zipkin answer cut to the span limit, and a refusal the client must
//! be able to read. A full disk that is freed again is in `disk_full.rs`.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::Duration;

use arbor_model::otlp::{AnyValue, KeyValue, any_value};
use arbor_testkit::{TestServer, eventually, serve_command, spans};
use prost::Message;
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_arbor");

fn get(s: &TestServer, path: &str) -> (u16, String) {
    let r = s.get(path).unwrap();
    (r.status().as_u16(), r.text().unwrap())
}

#[test]
fn huge_durations_are_refused_with_a_message_not_a_panic() {
    let s = TestServer::start(BIN, &[]).unwrap();
    for path in [
        "/api/search?q=%7B%7D&minDuration=1e20",
        "/api/search?q=%7B%7D&maxDuration=99999999999999999999h",
        "/api/search?q=%7B%7D&minDuration=36501d",
        "/api/metrics/query_range?q=%7B%7D%20%7C%20rate()&step=1e20",
        "/api/metrics/query_range?q=%7B%7D%20%7C%20rate()&since=99999999999999999999s",
    ] {
        let (status, body) = get(&s, path);
        assert_eq!(status, 400, "{path}: {body}");
        assert!(
            body.contains("too long") && body.contains("36500d"),
            "{path}: {body}"
        );
    }
    let http = reqwest::blocking::Client::new();
    let rule = serde_json::json!({
        "name": "huge", "kind": "traceql", "query": "{ }", "window": "99999999999999999999s", "above": 1
    });
    let r = http
        .post(format!("{}/api/alerts/rules", s.http_url()))
        .json(&rule)
        .send()
        .unwrap();
    let status = r.status().as_u16();
    let body = r.text().unwrap();
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("too long"), "{body}");
    // A rule to silence, then a silence "for" that long.
    let ok_rule = serde_json::json!({"name": "ok", "kind": "traceql", "query": "{ }", "window": "1m", "above": 1});
    let r = http
        .post(format!("{}/api/alerts/rules", s.http_url()))
        .json(&ok_rule)
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 201, "{}", r.text().unwrap());
    let r = http
        .post(format!("{}/api/alerts/rules/ok/silence", s.http_url()))
        .json(&serde_json::json!({"for": "99999999999999999999s"}))
        .send()
        .unwrap();
    let status = r.status().as_u16();
    let body = r.text().unwrap();
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("too long"), "{body}");
    // Every answer came from a live server.
    assert_eq!(get(&s, "/ready").0, 200);
    assert!(!s.log().contains("panicked"), "{}", s.log());
}

#[test]
fn huge_durations_in_flags_and_rules_files_stop_the_start_with_a_message() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(BIN)
        .args(["serve", "--block-max-age", "99999999999999999999s"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("too long"), "{err}");

    let rules = dir.path().join("rules.toml");
    std::fs::write(
        &rules,
        "[[rules]]\nname = \"x\"\nkind = \"traceql\"\nquery = '{ }'\nwindow = \"99999999999999999999s\"\nabove = 1\n",
    )
    .unwrap();
    let out = Command::new(BIN)
        .arg("check-rules")
        .arg(&rules)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("too long"), "{err}");

    let out = serve_command(BIN.as_ref(), &dir.path().join("data"))
        .arg("--alerts-rules-file")
        .arg(&rules)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "not a panic (101): {err}");
    assert!(err.contains("too long"), "{err}");
}

/// The newest `evaluatedAt` of any rule.
fn evaluated_at(s: &TestServer) -> (i64, Value) {
    let v: Value = s
        .get("/api/alerts/rules")
        .unwrap()
        .json()
        .unwrap_or(Value::Null);
    let at = v["rules"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r["evaluatedAt"].as_i64())
        .max()
        .unwrap_or(0);
    (at, v)
}

fn hangup(s: &TestServer) {
    let pid = s.pid().unwrap().to_string();
    assert!(
        Command::new("kill")
            .args(["-HUP", &pid])
            .status()
            .unwrap()
            .success()
    );
}

#[test]
fn a_rules_file_gone_bad_on_sighup_keeps_alerting_alive() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules.toml");
    let good = "[[rules]]\nname = \"any spans\"\nkind = \"traceql\"\nquery = '{ }'\nwindow = \"1m\"\nabove = 1000000\n";
    std::fs::write(&rules, good).unwrap();
    let s = TestServer::start(
        BIN,
        &[
            "--alerts-interval",
            "200ms",
            "--alerts-rules-file",
            rules.to_str().unwrap(),
        ],
    )
    .unwrap();
    assert!(
        eventually(Duration::from_secs(60), || evaluated_at(&s).0 > 0),
        "the rule was never evaluated\n{}",
        s.log()
    );

    std::fs::write(
        &rules,
        good.replace("window = \"1m\"", "window = \"99999999999999999999s\""),
    )
    .unwrap();
    hangup(&s);
    assert!(
        eventually(Duration::from_secs(60), || {
            let (_, v) = evaluated_at(&s);
            v["fileError"]
                .as_str()
                .is_some_and(|e| e.contains("too long"))
        }),
        "the bad file was not reported: {}\n{}",
        evaluated_at(&s).1,
        s.log()
    );
    assert_eq!(s.metric("arbor_alert_rules_file_valid").unwrap(), 0.0);
    // The rules in force go on being evaluated.
    let before = evaluated_at(&s).0;
    assert!(
        eventually(Duration::from_secs(60), || evaluated_at(&s).0 > before),
        "evaluation stopped after the bad file\n{}",
        s.log()
    );
    assert_eq!(
        s.metric("arbor_alert_evaluation_panics_total").unwrap(),
        0.0
    );

    // Fixed and read again.
    std::fs::write(&rules, good.replace("any spans", "any spans again")).unwrap();
    hangup(&s);
    assert!(
        eventually(Duration::from_secs(60), || {
            let (_, v) = evaluated_at(&s);
            v["fileError"].is_null()
                && v["rules"]
                    .as_array()
                    .is_some_and(|r| r.iter().any(|r| r["name"] == "any spans again"))
        }),
        "the fixed file was not read\n{}",
        s.log()
    );
    assert_eq!(s.metric("arbor_alert_rules_file_valid").unwrap(), 1.0);
    assert!(
        s.metric("arbor_alert_last_evaluation_timestamp_seconds")
            .unwrap()
            > 0.0
    );
    assert!(!s.log().contains("panicked"), "{}", s.log());
}

/// A connection that sent `head` and now waits: what it reads until the server closes it.
fn read_until_closed(mut c: TcpStream, limit: Duration) -> Result<String, String> {
    c.set_read_timeout(Some(limit)).unwrap();
    let mut got = Vec::new();
    match c.read_to_end(&mut got) {
        Ok(_) => Ok(String::from_utf8_lossy(&got).into_owned()),
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {
            Ok(String::from_utf8_lossy(&got).into_owned())
        }
        Err(e) => Err(format!(
            "still open after {limit:?} ({e}); read {:?}",
            String::from_utf8_lossy(&got)
        )),
    }
}

#[test]
fn stalled_uploads_and_silent_connections_do_not_stop_ingest_and_are_closed() {
    let s = TestServer::start(
        BIN,
        &[
            "--header-read-timeout",
            "2s",
            "--body-read-timeout",
            "2s",
            "--max-concurrent-requests",
            "4",
        ],
    )
    .unwrap();
    // 70 uploads that promise a megabyte and send nothing (more than the concurrency
    // limit: before, each held a slot), 20 connections to the query port with half their
    // headers, 10 that send nothing at all.
    let mut stalled = Vec::new();
    for _ in 0..70 {
        let mut c = TcpStream::connect(&s.addrs.otlp_http).unwrap();
        write!(
            c,
            "POST /v1/traces HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-protobuf\r\nContent-Length: 1000000\r\n\r\n"
        )
        .unwrap();
        stalled.push(c);
    }
    let mut half = Vec::new();
    for _ in 0..20 {
        let mut c = TcpStream::connect(&s.addrs.http).unwrap();
        write!(c, "GET /api/search HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Wait:").unwrap();
        half.push(c);
    }
    let silent: Vec<TcpStream> = (0..10)
        .map(|_| TcpStream::connect(&s.addrs.otlp_grpc).unwrap())
        .collect();

    // Ingest goes on meanwhile, over HTTP and gRPC.
    let mut rng = spans::rng(17);
    let trace = spans::trace_id(&mut rng);
    let req = spans::batch("x", spans::chain(&mut rng, trace, 3, 1));
    let (status, _) = s.export_http(&req).unwrap();
    assert_eq!(status, 200, "{}", s.log());
    let rt = tokio::runtime::Runtime::new().unwrap();
    let grpc = rt.block_on(async {
        let mut client =
            arbor_model::otlp::grpc::TraceServiceClient::connect(s.otlp_grpc_url()).await?;
        let mut r = tonic::Request::new(spans::batch("y", spans::chain(&mut rng, trace, 2, 5)));
        r.set_timeout(Duration::from_secs(30));
        client.export(r).await.map_err(anyhow::Error::from)
    });
    assert!(grpc.is_ok(), "{grpc:?}\n{}", s.log());
    assert_eq!(
        s.trace(&hex::encode(trace))
            .unwrap()
            .map(|t| arbor_testkit::flatten(&t).len()),
        Some(5)
    );

    // Each stalled upload is answered 408, naming the limits, and closed.
    for c in stalled {
        let got = read_until_closed(c, Duration::from_secs(60)).unwrap();
        assert!(got.starts_with("HTTP/1.1 408"), "{got}");
        assert!(got.contains("limits.body_read_timeout"), "{got}");
    }
    for c in half.into_iter().chain(silent) {
        read_until_closed(c, Duration::from_secs(60)).unwrap();
    }
    assert_eq!(get(&s, "/ready").0, 200);
}

#[test]
fn a_refusal_under_overload_is_read_not_a_broken_pipe() {
    let s = TestServer::start(
        BIN,
        &[
            "--max-request-bytes",
            "8MiB",
            "--max-decompressed-bytes",
            "8MiB",
            "--max-inflight-bytes",
            "1MiB",
        ],
    )
    .unwrap();
    // A slow upload holds most of the in-flight budget.
    let mut slow = TcpStream::connect(&s.addrs.otlp_http).unwrap();
    write!(
        slow,
        "POST /v1/traces HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-protobuf\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n",
        900 * 1024
    )
    .unwrap();
    slow.write_all(&vec![0u8; 900 * 1024]).unwrap();
    slow.write_all(b"\r\n").unwrap();
    assert!(
        eventually(Duration::from_secs(30), || s
            .metric("arbor_receiver_inflight_bytes")
            .is_ok_and(|b| b >= 900.0 * 1024.0)),
        "the slow upload never held the budget\n{}",
        s.log()
    );
    // Refused uploads of 4 MiB: the client writes it all and reads a 429.
    for _ in 0..5 {
        let mut c = TcpStream::connect(&s.addrs.otlp_http).unwrap();
        let body = vec![7u8; 4 << 20];
        write!(
            c,
            "POST /v1/traces HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-protobuf\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        )
        .unwrap();
        c.write_all(&body)
            .expect("the server reads a refused body instead of resetting the connection");
        let got = read_until_closed(c, Duration::from_secs(60)).unwrap();
        assert!(got.starts_with("HTTP/1.1 429"), "{got}");
        assert!(got.to_ascii_lowercase().contains("retry-after: 1"), "{got}");
        assert!(got.contains("limits.max_inflight_bytes"), "{got}");
    }
    drop(slow);
}

#[test]
fn a_log_that_cannot_be_written_does_not_stop_the_server() {
    // stderr is /dev/full (every write fails), then a pipe whose reader is gone.
    for target in ["full", "closed pipe"] {
        let dir = tempfile::tempdir().unwrap();
        let listen = dir.path().join("listen.json");
        let mut cmd = serve_command(BIN.as_ref(), &dir.path().join("data"));
        cmd.args(["--log-level", "debug"])
            .arg("--listen-file")
            .arg(&listen)
            .stdin(Stdio::null())
            .stdout(Stdio::null());
        if target == "full" {
            cmd.stderr(
                std::fs::OpenOptions::new()
                    .write(true)
                    .open("/dev/full")
                    .unwrap(),
            );
        } else {
            cmd.stderr(Stdio::piped());
        }
        let mut child = cmd.spawn().unwrap();
        drop(child.stderr.take());
        assert!(
            eventually(Duration::from_secs(60), || listen.exists()
                || child.try_wait().unwrap().is_some()),
            "{target}: never listened"
        );
        assert!(
            child.try_wait().unwrap().is_none(),
            "{target}: exited at start"
        );
        let addrs: Value = serde_json::from_slice(&std::fs::read(&listen).unwrap()).unwrap();
        let http = format!("http://{}", addrs["http"].as_str().unwrap());
        let otlp = format!("http://{}/v1/traces", addrs["otlp_http"].as_str().unwrap());
        let client = reqwest::blocking::Client::new();
        let mut rng = spans::rng(5);
        let trace = spans::trace_id(&mut rng);
        let r = client
            .post(&otlp)
            .header("Content-Type", "application/x-protobuf")
            .body(spans::batch("x", spans::chain(&mut rng, trace, 3, 1)).encode_to_vec())
            .send()
            .unwrap();
        assert_eq!(r.status().as_u16(), 200, "{target}");
        let r = client
            .post(format!("{http}/flush"))
            .timeout(Duration::from_secs(60))
            .send()
            .unwrap();
        assert_eq!(r.status().as_u16(), 204, "{target}");
        let r = client
            .get(format!("{http}/api/traces/{}", hex::encode(trace)))
            .send()
            .unwrap();
        assert_eq!(r.status().as_u16(), 200, "{target}");
        let metrics = client
            .get(format!("{http}/metrics"))
            .send()
            .unwrap()
            .text()
            .unwrap();
        let failures: f64 = metrics
            .lines()
            .find_map(|l| l.strip_prefix("arbor_log_write_failures_total "))
            .and_then(|v| v.trim().parse().ok())
            .unwrap();
        assert!(failures > 0.0, "{target}: {failures}");
        let pid = child.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        let mut code = None;
        assert!(
            eventually(Duration::from_secs(60), || {
                code = child.try_wait().unwrap().map(|s| s.code());
                code.is_some()
            }),
            "{target}: did not stop on SIGTERM"
        );
        assert_eq!(code, Some(Some(0)), "{target}");
    }
}

#[test]
fn a_span_with_half_a_million_attributes_keeps_the_limit_and_says_so() {
    let s = TestServer::start(BIN, &[]).unwrap();
    let mut rng = spans::rng(9);
    let trace = spans::trace_id(&mut rng);
    let mut req = spans::batch("x", spans::chain(&mut rng, trace, 1, 1));
    let span = &mut req.resource_spans[0].scope_spans[0].spans[0];
    span.attributes = (0..500_000)
        .map(|i| KeyValue {
            key: format!("k{i}"),
            value: Some(AnyValue {
                value: Some(any_value::Value::IntValue(i)),
            }),
            ..Default::default()
        })
        .collect();
    let (status, answer) = s.export_http(&req).unwrap();
    assert_eq!(status, 200);
    let partial = answer.unwrap().partial_success.unwrap();
    assert_eq!(partial.rejected_spans, 0);
    assert!(
        partial
            .error_message
            .contains("499000 attributes dropped past the limit (limits.max_attributes_per_span)"),
        "{}",
        partial.error_message
    );
    let (status, v) = s.trace_json(&hex::encode(trace)).unwrap();
    assert_eq!(status, 200);
    let span = &v["batches"][0]["scopeSpans"][0]["spans"][0];
    assert_eq!(span["attributes"].as_array().unwrap().len(), 1000);
    assert_eq!(span["droppedAttributesCount"], 499_000);
}

/// A server that reads at most 50 spans of a trace, holding a trace of 120 (service `x`),
/// and that trace's ID.
fn a_trace_over_the_span_limit(seed: u64) -> (TestServer, String) {
    let s = TestServer::start(BIN, &["--max-trace-spans", "50"]).unwrap();
    let mut rng = spans::rng(seed);
    let trace = spans::trace_id(&mut rng);
    let (status, _) = s
        .export_http(&spans::batch("x", spans::chain(&mut rng, trace, 120, 1)))
        .unwrap();
    assert_eq!(status, 200);
    (s, hex::encode(trace))
}

#[test]
fn a_zipkin_trace_cut_to_the_span_limit_says_so() {
    let (s, id) = a_trace_over_the_span_limit(11);
    for path in [
        format!("/api/v2/trace/{id}"),
        format!("/api/v2/traceMany?traceIds={id}"),
    ] {
        let r = reqwest::blocking::get(format!("{}{path}", s.zipkin_url())).unwrap();
        let partial = r
            .headers()
            .get("x-arbor-partial")
            .map(|v| v.to_str().unwrap().to_string());
        let v: Value = r.json().unwrap();
        let spans = if path.contains("traceMany") {
            v[0].as_array().unwrap().len()
        } else {
            v.as_array().unwrap().len()
        };
        assert_eq!(spans, 50, "{path}");
        let partial = partial.unwrap_or_else(|| panic!("{path}: no x-arbor-partial header"));
        assert!(
            partial.contains("120 spans") && partial.contains("query.max_trace_spans"),
            "{partial}"
        );
    }
}

#[test]
fn a_jaeger_trace_cut_to_the_span_limit_says_so() {
    let (s, id) = a_trace_over_the_span_limit(12);
    for path in [
        format!("/api/traces/{id}"),
        format!("/api/traces?traceID={id}"),
    ] {
        let v: Value = reqwest::blocking::get(format!("{}{path}", s.jaeger_url()))
            .unwrap()
            .json()
            .unwrap();
        assert_eq!(v["total"], 1, "{path}: {v}");
        let t = &v["data"][0];
        let spans = t["spans"].as_array().unwrap();
        assert_eq!(spans.len(), 50, "{path}");
        let warnings = t["warnings"].as_array().expect("warnings");
        assert!(
            warnings.iter().any(|w| {
                let w = w.as_str().unwrap();
                w.contains("120 spans") && w.contains("query.max_trace_spans")
            }),
            "{path}: {warnings:?}"
        );
        // Every span is in the trace and in a process that exists.
        for sp in spans {
            assert_eq!(sp["traceID"], t["traceID"]);
            let p = sp["processID"].as_str().unwrap();
            assert_eq!(t["processes"][p]["serviceName"], "x", "{path}");
            assert_eq!(sp["spanID"].as_str().unwrap().len(), 16);
        }
    }
}
