//! `arbor query` against a stand-in HTTP server answering canned Tempo-shaped JSON (what is
//! asked, what is printed, exit codes), and against the real server.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const BIN: &str = env!("CARGO_BIN_EXE_arbor");

const PARSE_ERROR: &str = "parse error at 1:5: expected an attribute, found `}`";

/// One request the stand-in received.
#[derive(Debug, Clone)]
struct Request {
    path: String,
    params: HashMap<String, String>,
    headers: HashMap<String, String>,
}

/// A stand-in for Arbor's query API on a free loopback port, answering each connection on
/// a thread: `/api/search` (400 when the query contains `bad`, 500 when it contains `boom`),
/// `/api/metrics/query_range` (samples placed on the steps asked for), 404 otherwise.
struct FakeServer {
    url: String,
    requests: Arc<Mutex<Vec<Request>>>,
}

impl FakeServer {
    fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let requests = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&requests);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let seen = Arc::clone(&seen);
                std::thread::spawn(move || answer(stream, &seen));
            }
        });
        FakeServer { url, requests }
    }

    fn requests(&self) -> Vec<Request> {
        self.requests.lock().unwrap().clone()
    }

    fn last(&self) -> Request {
        self.requests().pop().expect("a request")
    }
}

fn answer(stream: TcpStream, seen: &Mutex<Vec<Request>>) {
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).is_err() {
        return;
    }
    let mut headers = HashMap::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 || line.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = line.split_once(':') {
            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
        }
    }
    let target = request_line.split(' ').nth(1).unwrap_or("/");
    let url = reqwest::Url::parse(&format!("http://stand-in{target}")).unwrap();
    let params: HashMap<String, String> = url.query_pairs().into_owned().collect();
    let req = Request {
        path: url.path().to_string(),
        params,
        headers,
    };
    seen.lock().unwrap().push(req.clone());

    let q = req.params.get("q").cloned().unwrap_or_default();
    let (status, content_type, body) = match req.path.as_str() {
        "/api/search" if q.contains("bad") => (400, "text/plain", PARSE_ERROR.to_string()),
        "/api/search" if q.contains("boom") => (500, "text/plain", "internal error".to_string()),
        "/api/search" => (200, "application/json", search_json()),
        "/api/metrics/query_range" => (200, "application/json", metrics_json(&req.params)),
        _ => (404, "text/plain", "404 page not found".to_string()),
    };
    let mut stream = stream;
    let _ = write!(
        stream,
        "HTTP/1.1 {status} X\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
}

fn search_json() -> String {
    serde_json::json!({
        "traces": [{
            "traceID": "4bf92f3577b34da6a3ce929d0e0e4736",
            "rootServiceName": "frontend",
            "rootTraceName": "GET /checkout",
            "startTimeUnixNano": "1700000000000000000",
            "durationMs": 1240,
            "spanSets": [{
                "spans": [{
                    "spanID": "00f067aa0ba902b7",
                    "name": "SELECT orders",
                    "startTimeUnixNano": "1700000000012000000",
                    "durationNanos": "340000000",
                    "attributes": [{"key": "db.system", "value": {"stringValue": "postgresql"}}]
                }],
                "matched": 1
            }]
        }, {
            "traceID": "2f3577b34da6a3ce",
            "rootServiceName": "cart",
            "rootTraceName": "GetCart",
            "startTimeUnixNano": 1700000001000000000u64,
            "spanSet": {"spans": [], "matched": 2}
        }],
        "metrics": {"inspectedTraces": 9, "inspectedBytes": "2048", "inspectedSpans": "1234", "totalBlocks": 3}
    })
    .to_string()
}

/// Two series, one sample per step asked for except the third (a gap).
fn metrics_json(params: &HashMap<String, String>) -> String {
    let start: u64 = params["start"].parse().unwrap();
    let step: u64 = params["step"].trim_end_matches('m').parse::<u64>().unwrap() * 60;
    let samples: Vec<serde_json::Value> = (0..10u64)
        .filter(|&i| i != 2)
        .map(|i| serde_json::json!({"timestampMs": ((start + i * step) * 1000).to_string(), "value": i as f64}))
        .collect();
    serde_json::json!({
        "series": [
            {
                "labels": [{"key": "resource.service.name", "value": {"stringValue": "api"}}],
                "promLabels": "{resource.service.name=\"api\"}",
                "samples": samples
            },
            {
                "labels": [{"key": "resource.service.name", "value": {"stringValue": "db"}}],
                "samples": [{"timestampMs": (start * 1000), "value": 0.5}]
            }
        ],
        "metrics": {"inspectedSpans": 99}
    })
    .to_string()
}

fn run(args: &[&str]) -> Output {
    Command::new(BIN)
        .arg("query")
        .args(args)
        .env_remove("ARBOR_URL")
        .env_remove("ARBOR_TENANT")
        .output()
        .unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8(o.stderr.clone()).unwrap()
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[test]
fn search_prints_a_table_and_asks_what_was_given() {
    let server = FakeServer::start();
    let q = r#"{ resource.service.name = "frontend" && span.http.route = "/a b" }"#;
    let before = now();
    let out = run(&[
        q,
        "--url",
        &server.url,
        "--since",
        "2h",
        "--tenant",
        "acme",
        "--color",
        "never",
        "--width",
        "120",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("TRACE ID"), "{text}");
    assert!(
        lines[1].starts_with(
            "4bf92f3577b34da6a3ce929d0e0e4736  2023-11-14T22:13:20Z  frontend  GET /checkout"
        ),
        "{text}"
    );
    assert!(lines[1].ends_with("1.24s        1"), "{text}");
    assert!(lines[2].starts_with("2f3577b34da6a3ce"), "{text}");
    assert!(lines[2].ends_with("<1ms        2"), "{text}");
    assert!(
        lines[3].starts_with("2 traces · inspected 9 traces, 1,234 spans, 2.0 KiB, 3 blocks · "),
        "{text}"
    );
    assert_eq!(lines.len(), 4, "{text}");
    assert!(!text.contains('\u{1b}'), "--color never: {text:?}");

    let req = server.last();
    assert_eq!(req.path, "/api/search");
    assert_eq!(req.params["q"], q);
    assert_eq!(req.params["limit"], "20");
    assert_eq!(req.params["spss"], "3");
    let start: u64 = req.params["start"].parse().unwrap();
    let end: u64 = req.params["end"].parse().unwrap();
    assert_eq!(end - start, 7_200);
    assert!(end >= before && end <= now(), "end is now: {end}");
    assert_eq!(req.headers["x-scope-orgid"], "acme");
}

#[test]
fn search_with_spans_limit_and_absolute_range() {
    let server = FakeServer::start();
    let out = run(&[
        "{ }",
        "--url",
        &format!("{}/", server.url),
        "--spans",
        "--limit",
        "2",
        "--spss",
        "1",
        "--start",
        "2023-11-14T22:00:00Z",
        "--end",
        "1700000000",
        "--color",
        "never",
        "--width",
        "100",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("  └─ SELECT orders     340ms  +12.0ms    db.system=postgresql\n"),
        "{text}"
    );
    assert!(
        text.contains("  └─ … 2 more matched spans not returned (--spss)\n"),
        "{text}"
    );
    assert!(
        text.contains("2 traces (the limit; --limit for more)"),
        "{text}"
    );
    let req = server.last();
    assert_eq!(req.params["limit"], "2");
    assert_eq!(req.params["spss"], "1");
    assert_eq!(req.params["start"], "1699999200");
    assert_eq!(req.params["end"], "1700000000");
    assert!(!req.headers.contains_key("x-scope-orgid"));
}

#[test]
fn metrics_query_prints_series_with_sparklines() {
    let server = FakeServer::start();
    let q = "{ } | rate() by (resource.service.name)";
    let out = run(&[
        q,
        "--url",
        &server.url,
        "--color",
        "never",
        "--width",
        "140",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("SERIES"), "{text}");
    assert!(lines[0].contains("step 1m"), "{text}");
    assert!(
        lines[0].ends_with("MIN       AVG       MAX      LAST"),
        "{text}"
    );
    // Samples at steps 0..10 but 2, valued by their step: rising, a gap at the third.
    assert!(
        lines[1].starts_with("{resource.service.name=api}  ▁▂ ▃▄▅▆▆▇█"),
        "{text}"
    );
    assert!(
        lines[1].ends_with("0      4.78         9         9"),
        "{text}"
    );
    assert!(
        lines[2].starts_with("{resource.service.name=db}   ▄"),
        "{text}"
    );
    assert!(
        lines[2].ends_with("0.5       0.5       0.5       0.5"),
        "{text}"
    );
    assert!(
        lines[3].starts_with("2 series · step 1m · inspected 99 spans · "),
        "{text}"
    );

    let req = server.last();
    assert_eq!(req.path, "/api/metrics/query_range");
    assert_eq!(req.params["q"], q);
    assert_eq!(req.params["step"], "1m");
    let start: u64 = req.params["start"].parse().unwrap();
    let end: u64 = req.params["end"].parse().unwrap();
    assert_eq!(start % 60, 0, "aligned to the step");
    assert_eq!(end % 60, 0, "aligned to the step");
    assert!((3_600..=3_660).contains(&(end - start)), "{start}..{end}");

    // --metrics sends anything to the metrics API; --step is passed on.
    let out = run(&[
        "{ }",
        "--metrics",
        "--step",
        "5m",
        "--since",
        "1d",
        "--url",
        &server.url,
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let req = server.last();
    assert_eq!(req.path, "/api/metrics/query_range");
    assert_eq!(req.params["step"], "5m");
}

#[test]
fn json_prints_the_answer_as_it_came() {
    let server = FakeServer::start();
    let out = run(&["{ }", "--url", &server.url, "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), format!("{}\n", search_json()));
}

#[test]
fn bad_query_prints_the_server_message_and_exits_2() {
    let server = FakeServer::start();
    let out = run(&["{ bad }", "--url", &server.url]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(stderr(&out), format!("{PARSE_ERROR}\n"));
    assert_eq!(stdout(&out), "");
}

#[test]
fn server_failures_exit_1() {
    let server = FakeServer::start();
    let out = run(&["{ boom }", "--url", &server.url]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("500"), "{}", stderr(&out));
    assert!(stderr(&out).contains("internal error"), "{}", stderr(&out));

    // A server without the API: says which path it does not answer.
    let out = run(&["{ }", "--url", &format!("{}/elsewhere", server.url)]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("answer /api/search"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn unreachable_server_is_named_and_exits_1() {
    // A port that was free a moment ago: nothing listens there.
    let addr = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let url = format!("http://{addr}");
    let out = run(&["{ }", "--url", &url]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains(&format!("cannot reach arbor at {url}")),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");

    // ARBOR_URL is honoured.
    let out = Command::new(BIN)
        .args(["query", "{ }"])
        .env("ARBOR_URL", &url)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains(&url), "{}", stderr(&out));
}

#[test]
fn bad_arguments_exit_2() {
    for args in [
        &["{ }", "--since", "soon"][..],
        &["{ }", "--start", "yesterday"],
        &["{ }", "--start", "1700000000", "--end", "1690000000"],
        &["{ }", "--metrics", "--step", "0s"],
        &["{ }", "--since", "1h", "--start", "1700000000"],
    ] {
        let out = run(&[args, &["--url", "http://127.0.0.1:9"]].concat());
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(!stderr(&out).is_empty(), "{args:?}");
    }
}

/// Spans sent over OTLP are found by a TraceQL search through the real server.
#[test]
fn finds_spans_in_the_real_server() {
    use arbor_testkit::{TestServer, spans};

    let server = TestServer::start(BIN, &[]).unwrap();
    let mut rng = spans::rng(7);
    let trace = spans::trace_id(&mut rng);
    let start_ns = (now() - 60) * 1_000_000_000;
    let req = spans::batch("query-cli", spans::chain(&mut rng, trace, 3, start_ns));
    let (status, _) = server.export_http(&req).unwrap();
    assert_eq!(status, 200);

    let id = hex::encode(trace);
    let out = run(&[
        r#"{ resource.service.name = "query-cli" }"#,
        "--url",
        &server.http_url(),
        "--since",
        "10m",
        "--spans",
        "--color",
        "never",
        "--width",
        "160",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let row = text
        .lines()
        .find(|l| {
            let first = l.split(' ').next().unwrap();
            !first.is_empty() && id.ends_with(first)
        })
        .unwrap_or_else(|| panic!("trace {id} listed:\n{text}"));
    assert!(row.contains("query-cli"), "{text}");
    assert!(row.contains("op-0"), "{text}");
    assert!(text.contains("1 trace"), "{text}");

    let out = run(&["{ nope", "--url", &server.http_url()]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(!stderr(&out).is_empty());
}
