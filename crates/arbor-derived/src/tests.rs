//! Hand-built traces whose figures are worked out by hand.

use arbor_model::otlp::{AnyValue, KeyValue, Link, Span, Status, StatusCode, any_value};

use super::*;

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
fn b(k: &str, v: bool) -> KeyValue {
    kv(k, any_value::Value::BoolValue(v))
}
fn res(service: &str) -> Vec<KeyValue> {
    vec![s("service.name", service)]
}

fn span(trace: u8, id: u8, parent: u8, kind: SpanKind, name: &str, dur_ms: u64) -> Span {
    Span {
        trace_id: vec![trace; 16],
        span_id: vec![0, 0, 0, 0, 0, 0, 0, id],
        parent_span_id: if parent == 0 {
            Vec::new()
        } else {
            vec![0, 0, 0, 0, 0, 0, 0, parent]
        },
        name: name.into(),
        kind: kind as i32,
        start_time_unix_nano: 100 * SEC,
        end_time_unix_nano: 100 * SEC + dur_ms * MS,
        ..Default::default()
    }
}

fn with(mut sp: Span, attrs: Vec<KeyValue>) -> Span {
    sp.attributes.extend(attrs);
    sp
}

fn error(mut sp: Span) -> Span {
    sp.status = Some(Status {
        code: StatusCode::Error as i32,
        message: "boom".into(),
    });
    sp
}

fn derive() -> Deriver {
    Deriver::new(Config {
        wait: Duration::from_secs(10),
        max_series: 100,
        ..Config::default()
    })
}

fn edge<'a>(snap: &'a Snapshot, client: &str, server: &str) -> &'a EdgeFigures {
    &snap
        .edges
        .iter()
        .find(|(k, _)| k.client == client && k.server == server)
        .unwrap_or_else(|| panic!("no edge {client} -> {server} in {:?}", snap.edges))
        .1
}

#[test]
fn span_metrics_follow_the_status_rules() {
    let d = derive();
    let r = res("api");
    // SERVER 404 with unset status: not an error. SERVER 503: an error. CLIENT 404: an
    // error. An explicit ERROR status: an error. OK status with a 500: not an error.
    d.observe(
        "t",
        &r,
        &with(
            span(1, 1, 0, SpanKind::Server, "GET /a", 10),
            vec![i("http.response.status_code", 404)],
        ),
        0,
    );
    d.observe(
        "t",
        &r,
        &with(
            span(2, 1, 0, SpanKind::Server, "GET /a", 30),
            vec![i("http.status_code", 503)],
        ),
        0,
    );
    d.observe(
        "t",
        &r,
        &with(
            span(3, 2, 1, SpanKind::Client, "GET", 5),
            vec![i("http.response.status_code", 404)],
        ),
        0,
    );
    d.observe(
        "t",
        &r,
        &error(span(4, 1, 0, SpanKind::Internal, "work", 1)),
        0,
    );
    let mut ok = with(
        span(5, 1, 0, SpanKind::Server, "GET /a", 20),
        vec![i("http.status_code", 500)],
    );
    ok.status = Some(Status {
        code: StatusCode::Ok as i32,
        message: String::new(),
    });
    d.observe("t", &r, &ok, 0);

    let snap = d.snapshot("t");
    let get = |name: &str, kind: &str, status: &str| {
        snap.spans
            .iter()
            .find(|(k, _)| k.span_name == name && k.span_kind == kind && k.status_code == status)
            .map(|(_, f)| f.clone())
    };
    let unset = get("GET /a", "SPAN_KIND_SERVER", "STATUS_CODE_UNSET").unwrap();
    assert_eq!(
        (unset.calls, unset.errors),
        (1, 0),
        "a SERVER 404 is not an error"
    );
    let err = get("GET /a", "SPAN_KIND_SERVER", "STATUS_CODE_ERROR").unwrap();
    assert_eq!((err.calls, err.errors), (1, 1), "a SERVER 503 is");
    assert_eq!(
        get("GET", "SPAN_KIND_CLIENT", "STATUS_CODE_ERROR")
            .unwrap()
            .errors,
        1
    );
    assert_eq!(
        get("work", "SPAN_KIND_INTERNAL", "STATUS_CODE_ERROR")
            .unwrap()
            .errors,
        1
    );
    let okf = get("GET /a", "SPAN_KIND_SERVER", "STATUS_CODE_OK").unwrap();
    assert_eq!(okf.errors, 0, "an OK status wins over the HTTP code");
    // Latency: 10 ms falls in the 0.016 bucket, 30 ms in 0.032.
    assert_eq!(unset.latency.counts[3], 1);
    assert_eq!(err.latency.counts[4], 1);
    assert!((unset.latency.sum - 0.010).abs() < 1e-9);
}

#[test]
fn client_server_pair_across_batches_and_either_order() {
    let d = derive();
    // Client first, server in a later batch (5 s later, inside the wait).
    d.observe(
        "t",
        &res("web"),
        &span(1, 2, 1, SpanKind::Client, "call api", 40),
        0,
    );
    assert_eq!(d.snapshot("t").pending, 1);
    d.observe(
        "t",
        &res("api"),
        &error(span(1, 3, 2, SpanKind::Server, "GET /x", 30)),
        5 * SEC,
    );
    // Server first, then its client.
    d.observe(
        "t",
        &res("api"),
        &span(2, 3, 2, SpanKind::Server, "GET /x", 10),
        6 * SEC,
    );
    d.observe(
        "t",
        &res("web"),
        &span(2, 2, 1, SpanKind::Client, "call api", 12),
        7 * SEC,
    );
    let snap = d.snapshot("t");
    assert_eq!(snap.pending, 0);
    let e = edge(&snap, "web", "api");
    assert_eq!((e.requests, e.failed), (2, 1));
    assert!((e.client_latency.sum - 0.052).abs() < 1e-9);
    assert!((e.server_latency.sum - 0.040).abs() < 1e-9);
}

#[test]
fn a_half_waits_no_longer_than_the_wait() {
    let d = derive();
    d.observe(
        "t",
        &res("web"),
        &span(1, 2, 1, SpanKind::Client, "call", 40),
        0,
    );
    // The server half comes 11 s later: the client half was let go at 10 s.
    d.observe(
        "t",
        &res("api"),
        &span(1, 3, 2, SpanKind::Server, "GET", 30),
        11 * SEC,
    );
    let snap = d.snapshot("t");
    assert!(snap.edges.is_empty(), "{:?}", snap.edges);
    assert_eq!(snap.expired, 1);
    assert_eq!(snap.pending, 1, "the late server half now waits in turn");
}

#[test]
fn producer_consumer_via_a_link_and_virtual_nodes() {
    let d = derive();
    d.observe(
        "t",
        &res("orders"),
        &span(1, 2, 1, SpanKind::Producer, "publish", 2),
        0,
    );
    // The consumer is in another trace, linked to the producer.
    let mut consumer = span(9, 7, 0, SpanKind::Consumer, "process", 50);
    consumer.links.push(Link {
        trace_id: vec![1; 16],
        span_id: vec![0, 0, 0, 0, 0, 0, 0, 2],
        ..Default::default()
    });
    d.observe("t", &res("billing"), &consumer, SEC);
    // A database client span, a peer.service client span, a messaging producer with no
    // consumer, and a root server span.
    d.observe(
        "t",
        &res("orders"),
        &with(
            span(3, 4, 1, SpanKind::Client, "SELECT", 3),
            vec![s("db.system", "postgresql"), s("db.name", "shop")],
        ),
        0,
    );
    d.observe(
        "t",
        &res("orders"),
        &with(
            span(4, 4, 1, SpanKind::Client, "charge", 3),
            vec![s("peer.service", "stripe")],
        ),
        0,
    );
    d.observe(
        "t",
        &res("orders"),
        &with(
            span(5, 4, 1, SpanKind::Producer, "send", 1),
            vec![
                s("messaging.system", "kafka"),
                s("messaging.destination.name", "emails"),
            ],
        ),
        0,
    );
    d.observe(
        "t",
        &res("orders"),
        &span(6, 1, 0, SpanKind::Server, "POST /orders", 80),
        0,
    );
    assert!(
        d.snapshot("t")
            .edges
            .iter()
            .all(|(k, _)| k.connection_type != "database"),
        "the database edge waits"
    );
    d.tick(10 * SEC);
    let snap = d.snapshot("t");
    let types: Vec<(&str, &str, &str)> = snap
        .edges
        .iter()
        .map(|(k, _)| (k.client.as_str(), k.server.as_str(), k.connection_type))
        .collect();
    assert_eq!(
        types,
        vec![
            ("orders", "billing", ""),
            ("orders", "emails", "messaging_system"),
            ("orders", "shop", "database"),
            ("orders", "stripe", "virtual_node"),
            ("user", "orders", "virtual_node"),
        ]
    );
    assert!((edge(&snap, "orders", "billing").server_latency.sum - 0.050).abs() < 1e-9);
}

#[test]
fn serverless_figures() {
    let d = derive();
    let r = vec![
        s("service.name", "resize"),
        s("faas.name", "resize-image"),
        i("faas.max_memory", 1024),
    ];
    let inv = |n: u8, dur: u64, cold: bool, used: i64| {
        with(
            span(n, 1, 0, SpanKind::Server, "resize-image", dur),
            vec![
                s("faas.invocation_id", "x"),
                b("faas.coldstart", cold),
                i("faas.memory_used", used),
            ],
        )
    };
    d.observe("t", &r, &inv(1, 100, true, 512), 0);
    d.observe("t", &r, &inv(2, 200, false, 256), 0);
    d.observe("t", &r, &error(inv(3, 300, false, 256)), 0);
    d.observe(
        "t",
        &r,
        &with(
            inv(4, 400, false, 1024),
            vec![b("faas.error_timeout", true)],
        ),
        0,
    );
    // A span inside the function is not an invocation.
    d.observe(
        "t",
        &r,
        &span(1, 2, 1, SpanKind::Client, "s3.GetObject", 20),
        0,
    );
    let snap = d.snapshot("t");
    assert_eq!(snap.functions.len(), 1);
    let (name, f) = &snap.functions[0];
    assert_eq!(name, "resize-image");
    assert_eq!(
        (f.invocations, f.errors, f.timeouts, f.cold_starts),
        (4, 2, 1, 1)
    );
    assert!((f.cold_start_rate() - 0.25).abs() < 1e-12);
    // (512 + 256 + 256 + 1024) / (4 × 1024) = 0.5
    assert!((f.memory_share() - 0.5).abs() < 1e-12);
    // (0.1 + 0.2 + 0.3 + 0.4) s × 1 GB = 1.0 GB-s
    assert!((f.gb_seconds - 1.0).abs() < 1e-9);
    assert_eq!(f.duration.count, 4);
    assert_eq!(f.duration_warm.count, 3);
}

#[test]
fn quantiles_interpolate_within_buckets() {
    let mut h = Histogram::default();
    for _ in 0..100 {
        h.observe(0.003); // (0.002, 0.004]
    }
    // Rank 50 of 100 in the bucket (0.002, 0.004] → halfway: 0.003.
    assert!((h.quantile(0.5).unwrap() - 0.003).abs() < 1e-12);
    assert_eq!(Histogram::default().quantile(0.5), None);
    h.observe(100.0);
    assert_eq!(h.quantile(1.0), Some(4.10), "+Inf reads as the top bound");
}

#[test]
fn series_past_the_limit_count_in_the_overflow_series() {
    let d = Deriver::new(Config {
        max_series: 3,
        ..Config::default()
    });
    for n in 0..10u8 {
        d.observe(
            "t",
            &res("api"),
            &span(n, 1, 0, SpanKind::Internal, &format!("op{n}"), 1),
            0,
        );
    }
    let snap = d.snapshot("t");
    assert_eq!(snap.spans.len(), 4);
    let (k, f) = snap.spans.last().unwrap();
    assert_eq!(k.service, OVERFLOW);
    assert_eq!(f.calls, 7);
}

#[test]
fn prometheus_text_has_tempos_names() {
    let d = derive();
    d.observe(
        DEFAULT_TENANT,
        &res("web"),
        &span(1, 2, 1, SpanKind::Client, "call \"api\"", 40),
        0,
    );
    d.observe(
        DEFAULT_TENANT,
        &res("api"),
        &span(1, 3, 2, SpanKind::Server, "GET", 3),
        0,
    );
    d.observe(
        "acme",
        &res("api"),
        &span(2, 3, 0, SpanKind::Server, "GET", 3),
        0,
    );
    let mut out = String::new();
    d.render_prometheus(&mut out);
    for line in [
        "# TYPE traces_spanmetrics_calls_total counter",
        "traces_spanmetrics_calls_total{service=\"web\",span_name=\"call \\\"api\\\"\",span_kind=\"SPAN_KIND_CLIENT\",status_code=\"STATUS_CODE_UNSET\"} 1",
        "traces_spanmetrics_latency_bucket{service=\"api\",span_name=\"GET\",span_kind=\"SPAN_KIND_SERVER\",status_code=\"STATUS_CODE_UNSET\",le=\"0.004\"} 1",
        "traces_spanmetrics_latency_count{service=\"api\",span_name=\"GET\",span_kind=\"SPAN_KIND_SERVER\",status_code=\"STATUS_CODE_UNSET\"} 1",
        "traces_service_graph_request_total{client=\"web\",server=\"api\",connection_type=\"\"} 1",
        "traces_service_graph_request_failed_total{client=\"web\",server=\"api\",connection_type=\"\"} 0",
        "traces_service_graph_request_server_seconds_bucket{client=\"web\",server=\"api\",connection_type=\"\",le=\"+Inf\"} 1",
        "traces_service_graph_request_total{tenant=\"acme\",client=\"user\",server=\"api\",connection_type=\"virtual_node\"} 1",
    ] {
        assert!(out.lines().any(|l| l == line), "missing {line}\n{out}");
    }
}
