//! The live tail on the real binary: `GET /api/tail` (server-sent events) sends the spans
//! matching its filter that are acknowledged after it is ready, in order; a burst past its
//! limit is sampled and a `stats` event says so; `arbor tail` prints the same spans as
//! lines. Arrival and order are asserted, never a time: the latency seen is printed.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use arbor_model::time::now_unix_nanos as now_ns;
use arbor_testkit::TestServer;
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_arbor");
/// Long enough for a loaded machine; the test never asserts a time.
const PATIENCE: Duration = Duration::from_secs(30);

fn request(service: &str, names: &[&str], first_id: u64) -> Value {
    let spans: Vec<Value> = names
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let id = format!("{:016x}", first_id + i as u64);
            let start = now_ns();
            json!({"traceId": id.repeat(2), "spanId": id, "name": name, "kind": 2,
                   "startTimeUnixNano": start.to_string(),
                   "endTimeUnixNano": (start + 5_000_000).to_string()})
        })
        .collect();
    json!({"resourceSpans": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": service}}]},
        "scopeSpans": [{"spans": spans}],
    }]})
}

fn send(server: &TestServer, body: &Value) {
    let (status, _, answer) = server
        .post(
            &format!("{}/v1/traces", server.otlp_http_url()),
            serde_json::to_vec(body).unwrap(),
            &[("Content-Type", "application/json")],
        )
        .unwrap();
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&answer));
}

/// Reads `/api/tail` on a thread: (event, data) pairs as they come.
fn subscribe(server: &TestServer, q: &str, limit: u32) -> mpsc::Receiver<(String, Value)> {
    let url = reqwest::Url::parse_with_params(
        &format!("{}/api/tail", server.http_url()),
        &[("q", q), ("limit", &limit.to_string())],
    )
    .unwrap();
    let resp = reqwest::blocking::Client::builder()
        .timeout(None)
        .build()
        .unwrap()
        .get(url)
        .send()
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "text/event-stream");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut event = String::new();
        for line in BufReader::new(resp).lines() {
            let Ok(line) = line else { return };
            if let Some(e) = line.strip_prefix("event: ") {
                event = e.to_string();
            } else if let Some(d) = line.strip_prefix("data: ") {
                let v = serde_json::from_str(d).unwrap();
                if tx.send((std::mem::take(&mut event), v)).is_err() {
                    return;
                }
            }
        }
    });
    rx
}

fn next_event(rx: &mpsc::Receiver<(String, Value)>, kind: &str) -> Value {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let (e, v) = rx
            .recv_timeout(left)
            .unwrap_or_else(|_| panic!("no {kind} event"));
        if e == kind {
            return v;
        }
    }
}

#[test]
fn tail_streams_matching_spans_in_order_and_samples_a_burst() {
    let server = TestServer::start(BIN, &[]).unwrap();
    let rx = subscribe(&server, r#"{ resource.service.name = "tail-a" }"#, 10);
    assert_eq!(next_event(&rx, "ready")["limit"], 10);

    let sent = Instant::now();
    send(&server, &request("tail-a", &["first", "second"], 1));
    send(&server, &request("tail-b", &["not this"], 10));
    send(&server, &request("tail-a", &["third"], 20));
    let names: Vec<String> = (0..3)
        .map(|_| {
            next_event(&rx, "span")["name"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    println!(
        "tail: three spans arrived {:?} after the first send",
        sent.elapsed()
    );
    assert_eq!(names, ["first", "second", "third"], "order and filter");

    // 300 matching spans in one request: matched in one go, 10 sent, the rest said.
    let burst: Vec<String> = (0..300).map(|i| format!("burst-{i}")).collect();
    let burst: Vec<&str> = burst.iter().map(String::as_str).collect();
    send(&server, &request("tail-a", &burst, 1000));
    // Every burst span is either sent or counted as dropped by a stats event; the spans of
    // the window the burst fell in (with those before it, if no second ended between) are
    // bounded by the limit, and the admitted ones are the burst's first, in order.
    let mut admitted = Vec::new();
    let mut dropped = 0;
    while admitted.len() + dropped < 300 {
        let (e, v) = rx
            .recv_timeout(PATIENCE)
            .expect("the burst is not accounted for");
        match e.as_str() {
            "span" => admitted.push(v["name"].as_str().unwrap().to_string()),
            "stats" => {
                assert_eq!(v["sampled"], true, "{v}");
                assert_eq!(v["limit"], 10, "{v}");
                assert!(v["sent"].as_u64().unwrap() <= 10, "past the limit: {v}");
                assert_eq!(
                    v["matched"].as_u64().unwrap(),
                    v["sent"].as_u64().unwrap() + v["dropped"].as_u64().unwrap(),
                    "{v}"
                );
                dropped += v["dropped"].as_u64().unwrap() as usize;
            }
            _ => {}
        }
    }
    assert_eq!(admitted.len() + dropped, 300);
    assert!(
        !admitted.is_empty() && admitted.len() <= 10,
        "{} sent",
        admitted.len()
    );
    let want: Vec<String> = (0..admitted.len()).map(|i| format!("burst-{i}")).collect();
    assert_eq!(admitted, want);
}

#[test]
fn tail_refuses_what_is_not_one_filter() {
    let server = TestServer::start(BIN, &[]).unwrap();
    for (q, want) in [("{ } >> { }", "one spanset filter"), ("{ .a = }", "q:")] {
        let url = reqwest::Url::parse_with_params(
            &format!("{}/api/tail", server.http_url()),
            &[("q", q)],
        )
        .unwrap();
        let resp = reqwest::blocking::get(url).unwrap();
        assert_eq!(resp.status(), 400, "{q}");
        let body = resp.text().unwrap();
        assert!(body.contains(want), "{q}: {body}");
    }
    let resp = reqwest::blocking::get(format!("{}/api/tail?limit=0", server.http_url())).unwrap();
    assert_eq!(resp.status(), 400);
}

#[test]
fn arbor_tail_prints_matching_spans() {
    let server = TestServer::start(BIN, &[]).unwrap();
    let mut child = Command::new(BIN)
        .args([
            "tail",
            "--url",
            &server.http_url(),
            r#"{ name =~ "job-.*" }"#,
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Its "tailing" line on stderr says it is subscribed.
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    err.read_line(&mut line).unwrap();
    assert!(line.starts_with("tailing"), "{line}");
    send(&server, &request("worker", &["job-1", "other", "job-2"], 1));
    let mut out = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = out.next().unwrap().unwrap();
    let second = out.next().unwrap().unwrap();
    child.kill().unwrap();
    let _ = child.wait();
    assert!(
        first.contains("worker") && first.contains("job-1"),
        "{first}"
    );
    assert!(first.contains(&"0000000000000001".repeat(2)), "{first}");
    assert!(second.contains("job-2"), "{second}");
}
