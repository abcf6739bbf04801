//! The derived views over time (`/api/derived/…`) on the real binary: figures worked out by
//! hand, the same before and after the head is cut into blocks, after a restart and after
//! compaction; the service graph recomputed from stored spans equals the kept one.

use std::time::{Duration, Instant};

use arbor_model::otlp::{
    AnyValue, ExportTraceServiceRequest, KeyValue, Resource, ResourceSpans, ScopeSpans, Span,
    SpanKind, Status, StatusCode, any_value,
};
use arbor_model::time::now_unix_nanos as now_ns;
use arbor_testkit::TestServer;
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_arbor");
const SEC: u64 = 1_000_000_000;
const MS: u64 = 1_000_000;

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

struct Shop {
    t0: u64,
}

impl Shop {
    #[allow(clippy::too_many_arguments)]
    fn span(
        &self,
        trace: u8,
        id: u8,
        parent: u8,
        kind: SpanKind,
        name: &str,
        at_s: u64,
        dur_ms: u64,
        attrs: Vec<KeyValue>,
    ) -> Span {
        Span {
            trace_id: vec![trace; 16],
            span_id: vec![1, 0, 0, 0, 0, 0, 0, id],
            parent_span_id: if parent == 0 {
                Vec::new()
            } else {
                vec![1, 0, 0, 0, 0, 0, 0, parent]
            },
            name: name.into(),
            kind: kind as i32,
            start_time_unix_nano: self.t0 + at_s * SEC,
            end_time_unix_nano: self.t0 + at_s * SEC + dur_ms * MS,
            attributes: attrs,
            ..Default::default()
        }
    }
}

fn request(parts: Vec<(Vec<KeyValue>, Vec<Span>)>) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest {
        resource_spans: parts
            .into_iter()
            .map(|(attrs, spans)| ResourceSpans {
                resource: Some(Resource {
                    attributes: attrs,
                    ..Default::default()
                }),
                scope_spans: vec![ScopeSpans {
                    spans,
                    ..Default::default()
                }],
                ..Default::default()
            })
            .collect(),
    }
}

fn checkout() -> Vec<KeyValue> {
    vec![
        s("service.name", "checkout"),
        s("service.namespace", "shop"),
        s("deployment.environment", "prod"),
        s("cloud.region", "eu-west-1"),
    ]
}

fn http(route: &str, method: &str, status: i64) -> Vec<KeyValue> {
    vec![
        s("http.route", route),
        s("http.request.method", method),
        i("http.response.status_code", status),
    ]
}

/// Frontend calls checkout, which queries a database (one trace, sent in two batches:
/// the server half first).
fn first(shop: &Shop) -> Vec<ExportTraceServiceRequest> {
    vec![
        request(vec![(
            checkout(),
            vec![
                shop.span(
                    1,
                    2,
                    1,
                    SpanKind::Server,
                    "POST /checkout",
                    1,
                    20,
                    http("/checkout", "POST", 200),
                ),
                shop.span(
                    1,
                    3,
                    2,
                    SpanKind::Client,
                    "SELECT",
                    1,
                    5,
                    vec![s("db.system", "postgresql"), s("db.name", "orders")],
                ),
            ],
        )]),
        request(vec![(
            vec![s("service.name", "frontend")],
            vec![shop.span(1, 1, 0, SpanKind::Client, "POST", 1, 30, vec![])],
        )]),
    ]
}

/// Users call checkout twice: a 404 (not the server's error) and a failure.
fn second(shop: &Shop) -> ExportTraceServiceRequest {
    let mut failed = shop.span(
        3,
        1,
        0,
        SpanKind::Server,
        "POST /checkout",
        32,
        40,
        http("/checkout", "POST", 500),
    );
    failed.status = Some(Status {
        code: StatusCode::Error as i32,
        message: "boom".into(),
    });
    request(vec![(
        checkout(),
        vec![
            shop.span(
                2,
                1,
                0,
                SpanKind::Server,
                "GET /missing",
                31,
                2,
                http("/missing", "GET", 404),
            ),
            failed,
        ],
    )])
}

fn get(server: &TestServer, path: &str) -> Value {
    let resp = server.get(path).unwrap();
    let status = resp.status().as_u16();
    let body = resp.text().unwrap();
    assert_eq!(status, 200, "{path}: {body}");
    serde_json::from_str(&body).unwrap()
}

/// The three answers over the shop's minute.
fn answers(server: &TestServer, t0: u64) -> Vec<Value> {
    let range = format!("start={}&end={}&step=30", t0 / SEC, t0 / SEC + 60);
    vec![
        get(server, &format!("/api/derived/services?{range}")),
        get(
            server,
            &format!("/api/derived/services?{range}&service=checkout"),
        ),
        get(server, &format!("/api/derived/service-graph?{range}")),
        get(server, &format!("/api/derived/serverless?{range}")),
    ]
}

fn edges(graph: &Value) -> Vec<(String, String, String, u64, u64)> {
    graph["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["client"].as_str().unwrap().to_string(),
                e["server"].as_str().unwrap().to_string(),
                e["connectionType"].as_str().unwrap().to_string(),
                e["requests"].as_u64().unwrap(),
                e["failed"].as_u64().unwrap(),
            )
        })
        .collect()
}

fn wait_for(what: &str, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !ok() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn derived_series_are_exact_and_survive_blocks_restart_and_compaction() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let cfg = tmp.path().join("arbor.toml");
    std::fs::write(&cfg, "[derived]\nwait = \"1s\"\n").unwrap();
    let cfg = cfg.to_str().unwrap().to_string();
    // Half an hour ago, on a 15 s boundary.
    let t0 = (now_ns() - 1_800 * SEC) / (15 * SEC) * (15 * SEC);
    let shop = Shop { t0 };

    let mut server = TestServer::start_in(
        BIN,
        &data,
        &["--config", &cfg, "--compaction-interval", "0s"],
        None,
    )
    .unwrap();
    for r in first(&shop) {
        assert_eq!(server.export_http(&r).unwrap().0, 200);
    }
    // The database call's client half waits 1 s for a server half that never comes.
    wait_for("the database edge", || {
        edges(&answers(&server, t0)[2])
            .iter()
            .any(|e| e.1 == "orders")
    });
    server.flush().unwrap();
    assert_eq!(server.export_http(&second(&shop)).unwrap().0, 200);
    let live = answers(&server, t0);

    // By hand (see crates/arbor-derived/src/tests.rs for the same shop worked out).
    let services = &live[0]["services"];
    assert_eq!(services[0]["service"], "checkout");
    assert_eq!(services[0]["calls"], 3);
    assert_eq!(services[0]["errors"], 1);
    assert_eq!(services[0]["series"]["calls"], serde_json::json!([1, 2]));
    assert_eq!(services[0]["series"]["errors"], serde_json::json!([0, 1]));
    assert!((services[0]["p95"].as_f64().unwrap() - 0.0592).abs() < 1e-9);
    assert_eq!(services[1]["service"], "frontend");
    assert_eq!(
        live[0]["filters"]["region"],
        serde_json::json!(["eu-west-1"])
    );
    let ops: Vec<(String, u64)> = live[1]["operations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            (
                o["name"].as_str().unwrap().to_string(),
                o["calls"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        ops,
        vec![
            ("GET /missing".to_string(), 1),
            ("POST /checkout".to_string(), 2),
            ("SELECT".to_string(), 1)
        ]
    );
    let e = |c: &str, s: &str, t: &str, n, f| (c.into(), s.into(), t.into(), n, f);
    assert_eq!(
        edges(&live[2]),
        vec![
            e("checkout", "orders", "database", 1, 0),
            e("frontend", "checkout", "", 1, 0),
            e("user", "checkout", "virtual_node", 2, 1),
        ]
    );
    let endpoints = &live[3]["endpoints"];
    assert_eq!(endpoints[0]["route"], "/missing");
    assert_eq!(endpoints[0]["errors"], 0);
    assert_eq!(endpoints[0]["statusClasses"]["4xx"], 1);
    assert_eq!(endpoints[1]["route"], "/checkout");
    assert_eq!(endpoints[1]["statusClasses"]["5xx"], 1);
    assert_eq!(endpoints[1]["errors"], 1);

    // From the first block's sidecar plus the head: the same.
    server.flush().unwrap();
    assert_eq!(answers(&server, t0), live, "after the second cut");

    // After a restart, from the blocks alone: the same.
    server.stop().unwrap();
    let server = TestServer::start_in(
        BIN,
        &data,
        &[
            "--config",
            &cfg,
            "--compaction-interval",
            "1s",
            "--compaction-min-inputs",
            "2",
            "--compaction-window",
            "24h",
        ],
        None,
    )
    .unwrap();
    assert_eq!(answers(&server, t0), live, "after a restart");

    // Compaction merges the two blocks and their series: the same.
    let deadline = Instant::now() + Duration::from_secs(60);
    while server.metric("arbor_blocks").unwrap() != 1.0 {
        assert!(
            Instant::now() < deadline,
            "no compaction within 60 s:\n{}",
            server.log()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(answers(&server, t0), live, "after compaction");

    // Recomputed from the stored spans: the same edges.
    let range = format!("start={}&end={}", t0 / SEC, t0 / SEC + 60);
    let spans = get(
        &server,
        &format!("/api/derived/service-graph?{range}&source=spans"),
    );
    assert_eq!(spans["source"], "spans");
    assert_eq!(edges(&spans), edges(&live[2]));
    assert_eq!(spans["nodes"], live[2]["nodes"]);

    // Health series: the compaction, the log's fsyncs, and the API requests just made.
    assert_eq!(server.metric("arbor_compactions_total").unwrap(), 1.0);
    assert!(server.metric("arbor_wal_sync_seconds_count").unwrap() >= 0.0);
    let served = server
        .metric("arbor_query_duration_seconds_count{route=\"/api/derived/services\"}")
        .unwrap();
    assert!(served >= 4.0, "{served}");
}

#[test]
fn derived_api_refuses_bad_parameters_with_the_reason() {
    let server = TestServer::start(BIN, &[]).unwrap();
    for (query, expect) in [
        ("start=10&end=5", "must be before end"),
        ("start=abc", "invalid start \"abc\""),
        ("step=7", "multiple of 15"),
        ("start=0&end=1000000&step=15", "at most 11000"),
        ("source=logs", "invalid source"),
    ] {
        let path = format!("/api/derived/service-graph?{query}");
        let resp = server.get(&path).unwrap();
        let status = resp.status().as_u16();
        let body = resp.text().unwrap();
        assert_eq!(status, 400, "{path}: {body}");
        assert!(body.contains(expect), "{path}: {body}");
    }
    let off = TestServer::start(BIN, &["--derived-views", "false"]).unwrap();
    let resp = off.get("/api/derived/services").unwrap();
    assert_eq!(resp.status().as_u16(), 503);
    assert!(resp.text().unwrap().contains("derived.enabled"));
}
