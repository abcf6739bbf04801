//! Tempo's search and metrics APIs against the real binary: the TraceQL conformance corpus
//! (every valid query 200, every invalid one 400 with a message), exact answers over the
//! head and over blocks, parameters, tenants and errors.

use std::process::Command;

use arbor_model::otlp::{
    AnyValue, ExportTraceServiceRequest, KeyValue, Resource, ResourceSpans, ScopeSpans, Span,
    Status, any_value,
};
use arbor_model::time::now_unix_nanos as now_ns;
use arbor_testkit::TestServer;
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_arbor");
const CONFORMANCE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/conformance/traceql/run.py"
);

fn kv(k: &str, v: any_value::Value) -> KeyValue {
    KeyValue {
        key: k.into(),
        value: Some(AnyValue { value: Some(v) }),
        ..Default::default()
    }
}

fn s(k: &str, v: &str) -> KeyValue {
    kv(k, any_value::Value::StringValue(v.into()))
}

fn i(k: &str, v: i64) -> KeyValue {
    kv(k, any_value::Value::IntValue(v))
}

#[allow(clippy::too_many_arguments)]
fn span(
    trace: u8,
    id: u8,
    parent: u8,
    name: &str,
    kind: i32,
    start: u64,
    dur_ms: u64,
    error: bool,
    attrs: Vec<KeyValue>,
) -> Span {
    Span {
        trace_id: vec![trace; 16],
        span_id: vec![trace, id, 0, 0, 0, 0, 0, 1],
        parent_span_id: if parent == 0 {
            Vec::new()
        } else {
            vec![trace, parent, 0, 0, 0, 0, 0, 1]
        },
        name: name.into(),
        kind,
        start_time_unix_nano: start,
        end_time_unix_nano: start + dur_ms * 1_000_000,
        attributes: attrs,
        status: error.then(|| Status {
            code: 2,
            message: "boom".into(),
        }),
        ..Default::default()
    }
}

fn batch(service: &str, spans: Vec<Span>) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![s("service.name", service)],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                spans,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

/// Three traces a few seconds apart: 1 (oldest) a fast GET with a DB call, 2 a slow
/// failing POST whose checkout calls payments, 3 (newest) a GET from another service.
fn send_fixture(server: &TestServer, base: u64) {
    let t1 = base;
    let t2 = base + 2_000_000_000;
    let t3 = base + 4_000_000_000;
    let api = batch(
        "api",
        vec![
            span(
                1,
                1,
                0,
                "GET /users",
                2,
                t1,
                20,
                false,
                vec![s("http.route", "/users"), i("http.status_code", 200)],
            ),
            span(
                1,
                2,
                1,
                "SELECT users",
                3,
                t1 + 1_000_000,
                5,
                false,
                vec![s("db.system", "postgres")],
            ),
            span(
                2,
                1,
                0,
                "POST /orders",
                2,
                t2,
                1500,
                true,
                vec![s("http.route", "/orders"), i("http.status_code", 500)],
            ),
            span(2, 2, 1, "checkout", 1, t2 + 1_000_000, 1400, true, vec![]),
            span(
                2,
                3,
                2,
                "charge",
                3,
                t2 + 2_000_000,
                1300,
                true,
                vec![s("peer.service", "payments")],
            ),
        ],
    );
    let web = batch(
        "web",
        vec![span(
            3,
            1,
            0,
            "GET /",
            2,
            t3,
            3,
            false,
            vec![s("http.route", "/"), i("http.status_code", 200)],
        )],
    );
    for b in [api, web] {
        let (status, _) = server.export_http(&b).unwrap();
        assert_eq!(status, 200);
    }
}

fn get(server: &TestServer, path: &str, params: &[(&str, &str)]) -> (u16, String) {
    let url =
        reqwest::Url::parse_with_params(&format!("{}{path}", server.http_url()), params).unwrap();
    let resp = reqwest::blocking::get(url).unwrap();
    (resp.status().as_u16(), resp.text().unwrap())
}

fn search(server: &TestServer, params: &[(&str, &str)]) -> Value {
    let (status, body) = get(server, "/api/search", params);
    assert_eq!(status, 200, "{params:?}: {body}");
    serde_json::from_str(&body).unwrap()
}

fn ids(v: &Value) -> Vec<u8> {
    v["traces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            let id = t["traceID"].as_str().unwrap();
            u8::from_str_radix(&id[..2], 16).unwrap()
        })
        .collect()
}

fn q(server: &TestServer, query: &str) -> Vec<u8> {
    ids(&search(server, &[("q", query)]))
}

/// The answers the fixture must give, wherever its spans are.
fn check_answers(server: &TestServer) {
    assert_eq!(q(server, "{}"), vec![3, 2, 1], "most recent first");
    assert_eq!(q(server, r#"{ span.http.route = "/users" }"#), vec![1]);
    assert_eq!(q(server, r#"{ resource.service.name = "web" }"#), vec![3]);
    assert_eq!(q(server, "{ duration > 1s }"), vec![2]);
    assert_eq!(q(server, "{ status = error }"), vec![2]);
    assert_eq!(q(server, "{ span.http.status_code >= 500 }"), vec![2]);
    assert_eq!(q(server, r#"{ name =~ "GET.*" }"#), vec![3, 1]);
    assert_eq!(q(server, "{ kind = server } > { kind = client }"), vec![1]);
    assert_eq!(
        q(server, "{ kind = server } >> { kind = client }"),
        vec![2, 1]
    );
    assert_eq!(
        q(server, "{ kind = server } !>> { kind = client }"),
        Vec::<u8>::new()
    );
    assert_eq!(q(server, "{ } | count() > 2"), vec![2]);
    assert_eq!(q(server, r#"{ span.nope = "x" }"#), Vec::<u8>::new());
    assert_eq!(q(server, "{ trace:duration > 1s }"), vec![2]);
    assert_eq!(q(server, r#"{ trace:rootService = "web" }"#), vec![3]);
    assert_eq!(
        q(server, "{ span:childCount = 1 && kind = internal }"),
        vec![2]
    );

    // The shape Grafana reads.
    let v = search(server, &[("q", "{ status = error }"), ("spss", "2")]);
    let t = &v["traces"][0];
    assert_eq!(t["traceID"], "02020202020202020202020202020202");
    assert_eq!(t["rootServiceName"], "api");
    assert_eq!(t["rootTraceName"], "POST /orders");
    assert_eq!(t["durationMs"], 1500);
    assert!(t["startTimeUnixNano"].is_string());
    assert_eq!(
        t["spanCount"], 3,
        "every span of the trace, not only the matched"
    );
    assert_eq!(t["errorCount"], 3);
    let users = search(server, &[("q", r#"{ span.http.route = "/users" }"#)]);
    assert_eq!(users["traces"][0]["spanCount"], 2);
    assert_eq!(users["traces"][0]["errorCount"], 0);
    let set = &t["spanSets"][0];
    assert_eq!(set["matched"], 3);
    assert_eq!(
        set["spans"].as_array().unwrap().len(),
        2,
        "spss caps the spans"
    );
    assert_eq!(set["spans"][0]["name"], "POST /orders");
    assert_eq!(set["spans"][0]["durationNanos"], "1500000000");
    assert_eq!(t["spanSet"], *set);

    // by(): one spanset per value, labelled.
    let v = search(
        server,
        &[("q", "{ trace:rootService = \"api\" } | by(kind)")],
    );
    let t = v["traces"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["traceID"] == "02020202020202020202020202020202")
        .unwrap();
    let labels: Vec<String> = t["spanSets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            s["attributes"][0]["value"]["stringValue"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(
        labels,
        vec!["client", "internal", "server"],
        "spansets ordered by label"
    );

    // Parameters: limit, minDuration, tags, time range.
    assert_eq!(
        ids(&search(server, &[("q", "{}"), ("limit", "2")])),
        vec![3, 2]
    );
    assert_eq!(ids(&search(server, &[("minDuration", "100ms")])), vec![2]);
    assert_eq!(ids(&search(server, &[("maxDuration", "10ms")])), vec![3]);
    assert_eq!(
        ids(&search(server, &[("tags", "service.name=web")])),
        vec![3]
    );
    assert_eq!(
        ids(&search(server, &[("tags", "http.route=/orders")])),
        vec![2]
    );

    // Time range: traces overlapping [start, end] (Unix seconds).
    let now_s = now_ns() / 1_000_000_000;
    let (later, after) = ((now_s + 3600).to_string(), (now_s + 7200).to_string());
    assert_eq!(
        ids(&search(
            server,
            &[("q", "{}"), ("start", &later), ("end", &after)]
        )),
        Vec::<u8>::new()
    );
    let (before, soon) = ((now_s - 3600).to_string(), (now_s + 60).to_string());
    assert_eq!(
        ids(&search(
            server,
            &[("q", "{}"), ("start", &before), ("end", &soon)]
        )),
        vec![3, 2, 1]
    );
    // A window around trace 1 alone (trace 2 starts 2 s after it).
    let all = search(server, &[("q", "{}")]);
    let t1: u64 = all["traces"][2]["startTimeUnixNano"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let t1_s = t1 / 1_000_000_000;
    let (from, to) = ((t1_s - 1).to_string(), (t1_s + 1).to_string());
    assert_eq!(
        ids(&search(
            server,
            &[("q", "{}"), ("start", &from), ("end", &to)]
        )),
        vec![1]
    );

    // Metrics: the three root spans and their children, counted per service.
    let end = (now_ns() / 1_000_000_000 + 60).to_string();
    let start = (now_ns() / 1_000_000_000 - 3600).to_string();
    let (status, body) = get(
        server,
        "/api/metrics/query",
        &[
            ("q", "{ } | count_over_time() by (resource.service.name)"),
            ("start", &start),
            ("end", &end),
        ],
    );
    assert_eq!(status, 200, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    let mut counts: Vec<(String, f64)> = v["series"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["labels"][0]["value"]["stringValue"]
                    .as_str()
                    .unwrap()
                    .to_string(),
                s["value"].as_f64().unwrap(),
            )
        })
        .collect();
    counts.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(counts, vec![("api".into(), 5.0), ("web".into(), 1.0)]);
    let (status, body) = get(
        server,
        "/api/metrics/query_range",
        &[
            ("q", "{ status = error } | rate()"),
            ("start", &start),
            ("end", &end),
            ("step", "60s"),
        ],
    );
    assert_eq!(status, 200, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    let series = v["series"].as_array().unwrap();
    assert_eq!(series.len(), 1, "{body}");
    let samples = series[0]["samples"].as_array().unwrap();
    let total: f64 = samples
        .iter()
        .map(|s| s["value"].as_f64().unwrap() * 60.0)
        .sum();
    assert!(
        (total - 3.0).abs() < 1e-9,
        "3 error spans, as rates per second over 60 s steps: {body}"
    );
    assert!(!series[0]["exemplars"].as_array().unwrap().is_empty());
}

#[test]
fn search_and_metrics_answer_the_same_over_head_and_blocks() {
    let server = TestServer::start(BIN, &[]).unwrap();
    send_fixture(&server, now_ns() - 30_000_000_000);
    check_answers(&server);
    // In the head, the tag registry answers for a value no span holds.
    let v = search(&server, &[("q", r#"{ span.http.route = "/nowhere" }"#)]);
    assert_eq!(v["metrics"]["inspectedSpans"], "0", "{v}");
    let v = search(
        &server,
        &[("q", r#"{ name = "GET /" || span.http.route = "/nowhere" }"#)],
    );
    assert_eq!(ids(&v), vec![3]);
    server.flush().unwrap();
    assert!(server.metric("arbor_blocks").unwrap() >= 1.0);
    check_answers(&server);
    // A value no block holds is answered from the attribute index, reading no span data.
    let v = search(&server, &[("q", r#"{ span.http.route = "/nowhere" }"#)]);
    assert_eq!(v["traces"].as_array().unwrap().len(), 0);
    assert_eq!(v["metrics"]["inspectedSpans"], "0", "{v}");
    assert_eq!(v["metrics"]["prunedBlocks"], 1, "{v}");
    // A duration no span reaches is answered from the row groups' duration ranges.
    let v = search(&server, &[("q", "{ duration > 1h }")]);
    assert_eq!(v["traces"].as_array().unwrap().len(), 0);
    assert_eq!(v["metrics"]["inspectedSpans"], "0", "{v}");
    assert_eq!(v["metrics"]["prunedBlocks"], 1, "{v}");
    let v = search(&server, &[("q", "{ duration >= 0ms }"), ("limit", "100")]);
    assert!(!v["traces"].as_array().unwrap().is_empty(), "{v}");
}

#[test]
fn errors_name_what_was_wrong() {
    let server = TestServer::start(BIN, &[]).unwrap();
    for (path, params, needle) in [
        ("/api/search", vec![("q", "{ .a = }")], "1:"),
        ("/api/search", vec![("q", "{ 1 = \"a\" }")], ""),
        ("/api/search", vec![("q", "{} | rate()")], "metrics query"),
        ("/api/search", vec![("limit", "x")], "limit"),
        (
            "/api/search",
            vec![("limit", "1000000")],
            "query.max_search_limit",
        ),
        ("/api/search", vec![("minDuration", "fast")], "minDuration"),
        ("/api/search", vec![("start", "10"), ("end", "5")], "start"),
        (
            "/api/metrics/query_range",
            vec![("q", "{ }")],
            "not a metrics query",
        ),
        (
            "/api/metrics/query_range",
            vec![("q", "{ } | rate()"), ("step", "0s")],
            "step",
        ),
        ("/api/metrics/query_range", vec![], "missing q"),
    ] {
        let (status, body) = get(&server, path, &params);
        assert_eq!(status, 400, "{path} {params:?}: {body}");
        assert!(body.contains(needle), "{path} {params:?}: {body}");
    }
}

#[test]
fn tenants_see_only_their_spans() {
    let server = TestServer::start(BIN, &[]).unwrap();
    send_fixture(&server, now_ns() - 30_000_000_000);
    let client = reqwest::blocking::Client::new();
    let body: Value = client
        .get(format!("{}/api/search?q=%7B%7D", server.http_url()))
        .header("X-Scope-OrgID", "other")
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(body["traces"].as_array().unwrap().len(), 0);
}

/// Tempo's own TraceQL corpus through the HTTP API: valid queries 200, invalid ones 400
/// with a message, unsupported ones never 5xx; over data in the head and in blocks, so
/// every valid query also runs against real spans.
#[test]
fn traceql_conformance_corpus() {
    let server = TestServer::start(BIN, &[]).unwrap();
    send_fixture(&server, now_ns() - 30_000_000_000);
    let run = |stage: &str| {
        let out = Command::new("python3")
            .args([CONFORMANCE, "--api", &server.http_url(), "--show-failures"])
            .output()
            .expect("python3 runs the conformance runner");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "conformance over {stage} failed:\n{text}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(text.contains("0 failed"), "{text}");
    };
    run("the head");
    server.flush().unwrap();
    run("blocks");
}
