//! Serverless Console's traces on the real binary: invocations sent over OTLP/JSON with the
//! tags as the Console documents them (every value a string, the same tags on the trace's
//! root and on each child span) read back as exact figures — functions, errors, timeouts,
//! cold starts, memory share, p95, cost — and found by each of the Console's filters (as
//! TraceQL and as the views build them), in the head, in blocks and after a restart; the
//! search summaries count `faas.error: "true"` as errors.

use arbor_model::time::now_unix_nanos as now_ns;
use arbor_testkit::TestServer;
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_arbor");
const MS: u64 = 1_000_000;
const SEC: u64 = 1_000_000_000;
/// $ per GB-second, x86 (the default `derived.gb_second_price`).
const PRICE: f64 = 0.000_016_666_7;

/// One invocation: a root SERVER span and two children, every span with the same tags.
struct Invocation {
    trace: u8,
    tags: Vec<(&'static str, String)>,
    /// The span's own duration (the function's reported `faas.duration` may differ).
    span_ms: u64,
}

fn trace_hex(n: u8) -> String {
    format!("{n:02x}").repeat(16)
}

/// The tags of the issue's measurement, as strings.
fn console_tags(
    function: &str,
    namespace: &str,
    error: bool,
    cold: bool,
    status: u16,
) -> Vec<(&'static str, String)> {
    vec![
        ("service.namespace", namespace.into()),
        ("faas.name", function.into()),
        ("cloud.region", "us-east1".into()),
        ("cloud.provider", "aws".into()),
        ("cloud.platform", "lambda".into()),
        ("deployment.environment", "prod".into()),
        ("faas.error_timeout", "false".into()),
        ("faas.coldstart", cold.to_string()),
        ("faas.error", error.to_string()),
        ("faas.error_exception_message", "object expected".into()),
        ("faas.max_memory", "1024".into()),
        ("faas.event_type", "http".into()),
        ("http.path", "/user/create".into()),
        ("http.method", "POST".into()),
        ("http.status_code", status.to_string()),
        ("http.domain", "my-app.com".into()),
    ]
}

fn set(tags: &mut Vec<(&'static str, String)>, key: &'static str, value: &str) {
    tags.retain(|(k, _)| *k != key);
    tags.push((key, value.into()));
}

fn attrs(tags: &[(&'static str, String)]) -> Value {
    tags.iter()
        .map(|(k, v)| json!({"key": k, "value": {"stringValue": v}}))
        .collect()
}

/// The invocations as one OTLP/JSON request per service, starting at `t0`.
fn body(service: &str, invocations: &[Invocation], t0: u64) -> Value {
    let mut spans = Vec::new();
    for (n, inv) in invocations.iter().enumerate() {
        let start = t0 + n as u64 * SEC;
        let span = |id: u8, parent: Option<u8>, kind: u8, name: &str, from: u64, to: u64| {
            json!({
                "traceId": trace_hex(inv.trace),
                "spanId": format!("{:016x}", u64::from(inv.trace) << 8 | u64::from(id)),
                "parentSpanId": parent
                    .map(|p| format!("{:016x}", u64::from(inv.trace) << 8 | u64::from(p)))
                    .unwrap_or_default(),
                "name": name,
                "kind": kind,
                "startTimeUnixNano": from.to_string(),
                "endTimeUnixNano": to.to_string(),
                "attributes": attrs(&inv.tags),
            })
        };
        let end = start + inv.span_ms * MS;
        spans.push(span(1, None, 2, "my-lambda", start, end));
        spans.push(span(2, Some(1), 1, "handler", start + MS, end - MS));
        spans.push(span(
            3,
            Some(2),
            3,
            "aws.sdk.dynamodb.putitem",
            start + 2 * MS,
            start + 5 * MS,
        ));
    }
    json!({"resourceSpans": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": service}}]},
        "scopeSpans": [{"scope": {"name": "serverless-sdk"}, "spans": spans}],
    }]})
}

/// The issue's five invocations of `my-lambda` (two cold and fine, three failing with a
/// 500), with the Console's FAAS metrics: run 100…500 ms, billed 50 ms more, 128…640 MB
/// used; the spans themselves last 700 ms longer than the run.
fn my_lambda() -> Vec<Invocation> {
    (0..5u8)
        .map(|k| {
            let ok = k < 2;
            let mut tags = console_tags("my-lambda", "my-app", !ok, ok, if ok { 200 } else { 500 });
            let run = 100 * (u64::from(k) + 1);
            tags.push(("faas.duration", run.to_string()));
            tags.push(("faas.billed_duration", (run + 50).to_string()));
            tags.push((
                "faas.max_memory_used_mb",
                (128 * (u64::from(k) + 1)).to_string(),
            ));
            Invocation {
                trace: 0xa0 + k,
                tags,
                span_ms: run + 700,
            }
        })
        .collect()
}

/// Another function: a timeout (3 s, memory as a percentage) and a success (1 s), its
/// memory in bytes as newer Serverless SDKs send it, no reported durations.
fn my_worker() -> Vec<Invocation> {
    let mut timeout = console_tags("my-worker", "jobs", false, false, 504);
    set(&mut timeout, "faas.error_timeout", "true");
    set(&mut timeout, "faas.max_memory", "536870912");
    set(&mut timeout, "faas.event_type", "aws.sqs");
    timeout.push(("faas.memory_pct", "25".into()));
    let mut fine = console_tags("my-worker", "jobs", false, false, 200);
    set(&mut fine, "faas.max_memory", "536870912");
    set(&mut fine, "faas.event_type", "aws.sqs");
    vec![
        Invocation {
            trace: 0xb0,
            tags: timeout,
            span_ms: 3000,
        },
        Invocation {
            trace: 0xb1,
            tags: fine,
            span_ms: 1000,
        },
    ]
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

fn get(server: &TestServer, path: &str, params: &[(&str, &str)]) -> Value {
    let url =
        reqwest::Url::parse_with_params(&format!("{}{path}", server.http_url()), params).unwrap();
    let resp = reqwest::blocking::get(url).unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().unwrap();
    assert_eq!(status, 200, "{path} {params:?}: {text}");
    serde_json::from_str(&text).unwrap()
}

fn close(a: &Value, b: f64, what: &str) {
    let a = a
        .as_f64()
        .unwrap_or_else(|| panic!("{what}: {a} is not a number"));
    assert!(
        (a - b).abs() <= 1e-9 * b.abs().max(1.0),
        "{what}: {a} != {b}"
    );
}

/// Trace IDs (first byte) a TraceQL query finds, sorted; and each one's errorCount.
fn found(server: &TestServer, q: &str, t0: u64) -> Vec<(u8, u64)> {
    let (start, end) = ((t0 / SEC - 60).to_string(), (t0 / SEC + 60).to_string());
    let v = get(
        server,
        "/api/search",
        &[("q", q), ("start", &start), ("end", &end), ("limit", "100")],
    );
    let mut out: Vec<(u8, u64)> = v["traces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            let id = t["traceID"].as_str().unwrap();
            (
                u8::from_str_radix(&id[id.len() - 2..], 16).unwrap(),
                t["errorCount"].as_u64().unwrap_or(0),
            )
        })
        .collect();
    out.sort();
    out
}

fn ids(server: &TestServer, q: &str, t0: u64) -> Vec<u8> {
    found(server, q, t0).into_iter().map(|(id, _)| id).collect()
}

fn check_figures(server: &TestServer, t0: u64) {
    let range = [
        ("start", (t0 / SEC - 60).to_string()),
        ("end", (t0 / SEC + 60).to_string()),
    ];
    let params: Vec<(&str, &str)> = range.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let v = get(server, "/api/derived/serverless", &params);
    let functions = v["functions"].as_array().unwrap();
    assert_eq!(functions.len(), 2, "{v}");
    let f = functions
        .iter()
        .find(|f| f["function"] == "my-lambda")
        .unwrap();
    assert_eq!(f["service"], "my-app");
    assert_eq!(
        (&f["namespace"], &f["environment"], &f["region"]),
        (&json!("my-app"), &json!("prod"), &json!("us-east1")),
        "the place from the span's tags"
    );
    assert_eq!(
        f["invocations"], 5,
        "the child spans are not invocations: {f}"
    );
    assert_eq!(f["errors"], 3);
    assert_eq!(f["timeouts"], 0);
    assert_eq!(f["coldStarts"], 2);
    close(&f["coldStartRate"], 0.4, "cold start rate");
    // (128 + 256 + 384 + 512 + 640) MB used of 5 × 1024 MB.
    close(&f["memoryShare"], 0.375, "memory share");
    close(&f["memoryUsedMb"], 384.0, "memory used");
    close(&f["memoryConfiguredMb"], 1024.0, "memory configured");
    // The reported durations 0.1 … 0.5 s: buckets (0.064, 0.128], (0.128, 0.256] and three
    // in (0.256, 0.512]; rank 4.75 lies 2.75/3 into the last.
    close(&f["p95"], 0.256 + 0.256 * 2.75 / 3.0, "p95");
    // Billed 0.15 + 0.25 + 0.35 + 0.45 + 0.55 s at 1 GB.
    close(&f["gbSeconds"], 1.75, "GB-seconds");
    close(&f["cost"], 1.75 * PRICE, "cost");

    let w = functions
        .iter()
        .find(|f| f["function"] == "my-worker")
        .unwrap();
    assert_eq!(w["invocations"], 2);
    assert_eq!(w["errors"], 1, "a timeout is an error");
    assert_eq!(w["timeouts"], 1);
    assert_eq!(w["coldStarts"], 0);
    close(&w["coldStartRate"], 0.0, "cold start rate");
    // 25 % of 536870912 bytes = 128 of 512 MB, from the one that said.
    close(&w["memoryShare"], 0.25, "memory share");
    close(&w["memoryConfiguredMb"], 512.0, "memory in bytes");
    // Span durations 1 s in (0.512, 1.02], 3 s in (2.05, 4.10]: rank 1.9, 0.9 into it.
    close(&w["p95"], 2.05 + 2.05 * 0.9, "p95");
    close(&w["gbSeconds"], (3.0 + 1.0) * 0.5, "GB-seconds");
    close(&w["cost"], 2.0 * PRICE, "cost");

    // The API scope: the endpoint with its status classes (roots are SERVER spans).
    let e = v["endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["service"] == "my-app")
        .unwrap_or_else(|| panic!("no endpoint of my-app: {v}"));
    assert_eq!(
        (&e["method"], &e["route"]),
        (&json!("POST"), &json!("/user/create"))
    );
    assert_eq!(e["requests"], 5);
    assert_eq!(e["errors"], 3);
    assert_eq!(e["statusClasses"]["2xx"], 2);
    assert_eq!(e["statusClasses"]["5xx"], 3);
}

fn check_search(server: &TestServer, t0: u64) {
    // Every span of a failed invocation carries `faas.error: "true"`: 3 errors each.
    assert_eq!(
        found(server, r#"{ .faas.name = "my-lambda" }"#, t0),
        vec![(0xa0, 0), (0xa1, 0), (0xa2, 3), (0xa3, 3), (0xa4, 3)]
    );
    assert_eq!(
        found(server, r#"{ .faas.name = "my-worker" }"#, t0),
        vec![(0xb0, 3), (0xb1, 0)],
        "a timeout counts as an error"
    );
    let lambda = vec![0xa0, 0xa1, 0xa2, 0xa3, 0xa4];
    let all: Vec<u8> = lambda.iter().copied().chain([0xb0, 0xb1]).collect();
    // Service filters.
    assert_eq!(
        ids(server, r#"{ resource.service.name = "my-app" }"#, t0),
        lambda
    );
    assert_eq!(
        ids(server, r#"{ .service.namespace = "my-app" }"#, t0),
        lambda
    );
    assert_eq!(
        ids(server, r#"{ .deployment.environment = "prod" }"#, t0),
        all
    );
    assert_eq!(ids(server, r#"{ .cloud.region = "us-east1" }"#, t0), all);
    // API filters: endpoint, method, status code (a string, as the data holds it), duration.
    assert_eq!(ids(server, r#"{ .http.path = "/user/create" }"#, t0), all);
    assert_eq!(ids(server, r#"{ .http.method = "POST" }"#, t0), all);
    assert_eq!(
        ids(server, r#"{ .http.status_code = "500" }"#, t0),
        vec![0xa2, 0xa3, 0xa4]
    );
    assert_eq!(
        ids(server, "{ duration >= 1050ms }", t0),
        vec![0xa3, 0xa4, 0xb0],
        "span durations 0.8 … 1.2 s, 3 s and 1 s"
    );
    // Function filters: name, errors, cold start, duration (as the search page builds them).
    assert_eq!(ids(server, r#"{ .faas.name = "my-lambda" }"#, t0), lambda);
    assert_eq!(
        ids(
            server,
            r#"{ (status = error || .faas.error = true || .faas.error = "true" || .faas.error_timeout = true || .faas.error_timeout = "true") }"#,
            t0
        ),
        vec![0xa2, 0xa3, 0xa4, 0xb0]
    );
    assert_eq!(
        ids(
            server,
            r#"{ (.faas.coldstart = true || .faas.coldstart = "true") }"#,
            t0
        ),
        vec![0xa0, 0xa1]
    );
    assert_eq!(
        ids(
            server,
            r#"{ .faas.name = "my-lambda" && duration >= 1050ms }"#,
            t0
        ),
        vec![0xa3, 0xa4]
    );
}

/// The TraceQL the server builds for a view (`POST /api/views/query`, as the views page
/// asks), and the traces it finds.
fn view_ids(server: &TestServer, scope: &str, filters: Value, t0: u64) -> Vec<u8> {
    let resp = reqwest::blocking::Client::new()
        .post(format!("{}/api/views/query", server.http_url()))
        .json(&json!({"scope": scope, "filters": filters}))
        .send()
        .unwrap();
    assert_eq!(resp.status(), 200);
    let q: Value = resp.json().unwrap();
    ids(server, q["traceql"].as_str().unwrap(), t0)
}

/// Each of the Console's filters, as the views build them, over both scopes.
fn check_view_filters(server: &TestServer, t0: u64) {
    let lambda = vec![0xa0, 0xa1, 0xa2, 0xa3, 0xa4];
    let all: Vec<u8> = lambda.iter().copied().chain([0xb0, 0xb1]).collect();
    for scope in ["api", "functions"] {
        // Every span of the Console carries both scopes' tags.
        assert_eq!(view_ids(server, scope, json!({}), t0), all, "{scope}");
        assert_eq!(
            view_ids(server, scope, json!({"service": "my-app"}), t0),
            lambda
        );
        assert_eq!(
            view_ids(server, scope, json!({"namespace": "jobs"}), t0),
            vec![0xb0, 0xb1]
        );
        assert_eq!(
            view_ids(server, scope, json!({"environment": "prod"}), t0),
            all
        );
        assert_eq!(
            view_ids(server, scope, json!({"region": "us-east1"}), t0),
            all
        );
        assert_eq!(
            view_ids(server, scope, json!({"duration": "1050ms"}), t0),
            vec![0xa3, 0xa4, 0xb0]
        );
    }
    let api = |f: Value| view_ids(server, "api", f, t0);
    assert_eq!(api(json!({"endpoint": "/user/create"})), all);
    assert_eq!(api(json!({"method": "POST"})), all);
    assert_eq!(api(json!({"method": "GET"})), Vec::<u8>::new());
    assert_eq!(api(json!({"status": "500"})), vec![0xa2, 0xa3, 0xa4]);
    assert_eq!(api(json!({"status": "5xx"})), vec![0xa2, 0xa3, 0xa4, 0xb0]);
    assert_eq!(api(json!({"status": "2xx"})), vec![0xa0, 0xa1, 0xb1]);
    let functions = |f: Value| view_ids(server, "functions", f, t0);
    assert_eq!(functions(json!({"function": "my-lambda"})), lambda);
    assert_eq!(
        functions(json!({"errors": "true"})),
        vec![0xa2, 0xa3, 0xa4, 0xb0]
    );
    assert_eq!(
        functions(json!({"errors": "false"})),
        vec![0xa0, 0xa1, 0xb1]
    );
    assert_eq!(functions(json!({"coldstart": "true"})), vec![0xa0, 0xa1]);
    assert_eq!(
        functions(json!({"function": "my-worker", "errors": "true"})),
        vec![0xb0]
    );
}

#[test]
fn console_format_invocations_read_back_as_exact_figures() {
    let mut server = TestServer::start(BIN, &[]).unwrap();
    // Well inside one minute, recent enough for the default retention.
    let t0 = (now_ns() - 120 * SEC) / (60 * SEC) * (60 * SEC);
    send(&server, &body("my-app", &my_lambda(), t0));
    send(&server, &body("my-worker", &my_worker(), t0 + 10 * SEC));

    check_figures(&server, t0);
    check_search(&server, t0);
    check_view_filters(&server, t0);
    // The same from blocks, and after a restart.
    server.flush().unwrap();
    check_figures(&server, t0);
    check_search(&server, t0);
    server.restart().unwrap();
    check_figures(&server, t0);
    check_search(&server, t0);
    check_view_filters(&server, t0);
}
