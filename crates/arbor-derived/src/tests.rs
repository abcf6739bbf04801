//! Hand-built traces whose figures are worked out by hand.

use arbor_model::otlp::{AnyValue, KeyValue, Link, Span, Status, StatusCode, any_value};

use std::sync::Arc;

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
    assert_eq!(name.function, "resize-image");
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

/// Serverless Console's shape: every value a string, the tags on the root and on each
/// child span, memory in MB, the function's own figures.
#[test]
fn console_format_invocations() {
    let d = derive();
    let r = vec![
        s("service.name", "my-app"),
        s("service.namespace", "my-app"),
    ];
    let tags = |error: &str, cold: &str, timeout: &str| {
        vec![
            s("faas.name", "my-lambda"),
            s("faas.error_timeout", timeout),
            s("faas.coldstart", cold),
            s("faas.error", error),
            s("faas.event_type", "http"),
            s("faas.max_memory", "1024"),
            s("faas.error_exception_message", "object expected"),
        ]
    };
    let inv = |n: u8, dur: u64, error: &str, cold: &str, timeout: &str| {
        let root = with(
            span(n, 1, 0, SpanKind::Server, "my-lambda", dur),
            tags(error, cold, timeout),
        );
        let child = with(
            span(n, 2, 1, SpanKind::Internal, "handler", dur / 2),
            tags(error, cold, timeout),
        );
        [root, child]
    };
    for sp in inv(1, 100, "true", "false", "false") {
        d.observe("t", &r, &sp, 0);
    }
    for sp in inv(2, 200, "false", "true", "false") {
        d.observe("t", &r, &sp, 0);
    }
    // Reported figures win over the span's: 300 ms run, 400 ms billed, 256 MB used.
    let mut third = inv(3, 900, "false", "false", "true");
    third[0].attributes.extend([
        s("faas.duration", "300"),
        s("faas.billed_duration", "400"),
        s("faas.max_memory_used_mb", "256"),
    ]);
    for sp in third {
        d.observe("t", &r, &sp, 0);
    }
    // Memory as a percentage, configured memory in bytes (newer SDKs).
    let mut fourth = inv(4, 500, "false", "false", "false");
    fourth[0]
        .attributes
        .retain(|kv| kv.key != "faas.max_memory");
    fourth[0].attributes.extend([
        i("faas.max_memory", 1024 * 1024 * 1024),
        s("faas.memory_pct", "50"),
    ]);
    for sp in fourth {
        d.observe("t", &r, &sp, 0);
    }
    let snap = d.snapshot("t");
    assert_eq!(snap.functions.len(), 1, "children are not invocations");
    let (name, f) = &snap.functions[0];
    assert_eq!(name.function, "my-lambda");
    assert_eq!(
        (f.invocations, f.errors, f.timeouts, f.cold_starts),
        (4, 2, 1, 1)
    );
    // Used (256 + 512) MB of (1024 + 1024) MB over the two that said.
    assert_eq!(f.memory_samples, 2);
    assert!((f.memory_share() - 0.375).abs() < 1e-12);
    // (0.1 + 0.2 + 0.4 billed + 0.5) s × 1 GB.
    assert!((f.gb_seconds - 1.2).abs() < 1e-9);
    assert!((f.duration.sum - 1.1).abs() < 1e-9, "{}", f.duration.sum);
}

#[test]
fn console_error_messages_come_from_its_tags() {
    let mut sp = span(1, 1, 0, SpanKind::Server, "f", 10);
    sp.attributes = vec![s("faas.error_exception_message", "object expected")];
    assert_eq!(error_message(&sp, false), "object expected");
    sp.attributes = vec![s("faas.error_message", "boom")];
    assert_eq!(error_message(&sp, false), "boom");
    sp.attributes.clear();
    assert_eq!(error_message(&sp, true), "timeout");
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

/// Calls of every span series in the buckets `collect` visits.
fn calls_in(d: &Deriver, tenant: &str, sidecars: &[Arc<Sidecar>]) -> u64 {
    let mut n = 0;
    d.collect(tenant, 0, u64::MAX, sidecars, |_, _, f| {
        n += f.spans.values().map(|s| s.calls).sum::<u64>();
    });
    n
}

#[test]
fn sealed_series_are_counted_once_and_late_figures_go_to_the_next_generation() {
    let d = derive();
    let t = DEFAULT_TENANT;
    let api = res("api");
    d.observe_in(t, 7, &api, &span(1, 1, 0, SpanKind::Server, "GET /", 5), 0);
    let db = with(
        span(1, 2, 1, SpanKind::Client, "SELECT", 2),
        vec![s("db.system", "postgresql"), s("db.name", "orders")],
    );
    d.observe_in(t, 7, &api, &db, 0);
    assert_eq!(calls_in(&d, t, &[]), 2);

    let sealed = Arc::new(sidecar::decode(&d.seal(t, 7).unwrap()).unwrap());
    assert_eq!(sealed.generations, vec![7]);
    // Sealed but not yet released: the live copy is not counted again.
    assert_eq!(calls_in(&d, t, std::slice::from_ref(&sealed)), 2);
    // The database call waits for a server half; its wait ends after the seal, so it
    // goes to the carry, and from there to the next generation.
    d.expire_all();
    let mut edges = 0;
    d.collect(t, 0, u64::MAX, std::slice::from_ref(&sealed), |_, _, f| {
        edges += f.edges.values().map(|e| e.requests).sum::<u64>();
    });
    assert_eq!(
        edges, 2,
        "user -> api in the sidecar, api -> orders carried"
    );
    d.release(t, 7);
    assert_eq!(calls_in(&d, t, std::slice::from_ref(&sealed)), 2);
    assert_eq!(calls_in(&d, t, &[]), 0);

    d.observe_in(t, 8, &api, &span(2, 1, 0, SpanKind::Server, "GET /", 5), 0);
    let next = sidecar::decode(&d.seal(t, 8).unwrap()).unwrap();
    let edges: Vec<(String, u64)> = next
        .frames
        .values()
        .flat_map(|f| f.edges.iter().map(|(k, e)| (k.server.clone(), e.requests)))
        .collect();
    let mut edges = edges;
    edges.sort();
    assert_eq!(edges, vec![("api".into(), 1), ("orders".into(), 1)]);
}

#[test]
fn sidecars_round_trip_and_roll_up_when_merged() {
    let d = derive();
    let t = DEFAULT_TENANT;
    let day = 86_400 * SEC;
    let now = 100 * day;
    let mut old = span(1, 1, 0, SpanKind::Server, "GET /", 5);
    old.start_time_unix_nano = now - 2 * day;
    old.end_time_unix_nano = old.start_time_unix_nano + 5 * MS;
    let mut old2 = old.clone();
    old2.span_id = vec![0, 0, 0, 0, 0, 0, 0, 2];
    old2.start_time_unix_nano += 20 * SEC;
    old2.end_time_unix_nano += 20 * SEC;
    let mut recent = old.clone();
    recent.span_id = vec![0, 0, 0, 0, 0, 0, 0, 3];
    recent.start_time_unix_nano = now - 600 * SEC;
    recent.end_time_unix_nano = recent.start_time_unix_nano + 5 * MS;
    d.observe_in(t, 1, &res("api"), &old, 0);
    d.observe_in(t, 1, &res("api"), &old2, 0);
    let a = d.seal(t, 1).unwrap();
    let live: Timeline = {
        let mut tl = Timeline::new();
        d.collect(t, 0, u64::MAX, &[], |s, w, f| {
            tl.entry((s, w)).or_default().merge(f);
        });
        tl
    };
    assert_eq!(
        sidecar::decode(&a).unwrap().frames,
        live,
        "exact round trip"
    );
    d.observe_in(t, 2, &res("api"), &recent, 0);
    let b = d.seal(t, 2).unwrap();

    let (merged, unreadable) = merge_sidecars(&[&a, &b, b"not a sidecar"], now);
    assert_eq!(unreadable.len(), 1, "{unreadable:?}");
    let m = sidecar::decode(&merged).unwrap();
    assert_eq!(m.generations, vec![1, 2]);
    let widths: Vec<u64> = m.frames.keys().map(|(_, w)| w / SEC).collect();
    // The two old spans (20 s apart, in one 5-minute bucket) roll up; the recent one stays
    // at 15 s.
    assert_eq!(widths, vec![300, 15]);
    let calls: Vec<u64> = m
        .frames
        .values()
        .map(|f| f.spans.values().map(|s| s.calls).sum())
        .collect();
    assert_eq!(calls, vec![2, 1]);
}

/// Frontend calls checkout, which queries a database; users call checkout twice (one 404,
/// one failure). Times are seconds after T0 (a multiple of 15 s).
fn shop() -> (Deriver, u64) {
    let d = derive();
    let t0 = 66_666 * 15 * SEC;
    let at = |mut sp: Span, secs: u64, dur_ms: u64| {
        sp.start_time_unix_nano = t0 + secs * SEC;
        sp.end_time_unix_nano = sp.start_time_unix_nano + dur_ms * MS;
        sp
    };
    let frontend = res("frontend");
    let checkout = vec![
        s("service.name", "checkout"),
        s("service.namespace", "shop"),
        s("deployment.environment", "prod"),
        s("cloud.region", "eu-west-1"),
    ];
    let http = |route: &str, method: &str, status: i64| {
        vec![
            s("http.route", route),
            s("http.request.method", method),
            i("http.response.status_code", status),
        ]
    };
    let g = 1;
    let tn = DEFAULT_TENANT;
    d.observe_in(
        tn,
        g,
        &frontend,
        &at(span(1, 1, 0, SpanKind::Client, "POST", 0), 1, 30),
        0,
    );
    d.observe_in(
        tn,
        g,
        &checkout,
        &at(
            with(
                span(1, 2, 1, SpanKind::Server, "POST /checkout", 0),
                http("/checkout", "POST", 200),
            ),
            1,
            20,
        ),
        0,
    );
    d.observe_in(
        tn,
        g,
        &checkout,
        &at(
            with(
                span(1, 3, 2, SpanKind::Client, "SELECT", 0),
                vec![s("db.system", "postgresql"), s("db.name", "orders")],
            ),
            1,
            5,
        ),
        0,
    );
    d.observe_in(
        tn,
        g,
        &checkout,
        &at(
            with(
                span(2, 1, 0, SpanKind::Server, "GET /missing", 0),
                http("/missing", "GET", 404),
            ),
            31,
            2,
        ),
        0,
    );
    d.observe_in(
        tn,
        g,
        &checkout,
        &at(
            error(with(
                span(3, 1, 0, SpanKind::Server, "POST /checkout", 0),
                http("/checkout", "POST", 500),
            )),
            32,
            40,
        ),
        0,
    );
    d.expire_all();
    (d, t0)
}

fn visit(d: &Deriver) -> impl FnOnce(&mut query::Visit) + '_ {
    move |f| d.collect(DEFAULT_TENANT, 0, u64::MAX, &[], f)
}

#[test]
fn services_answer_counts_entry_spans_per_step() {
    let (d, t0) = shop();
    let r = query::Range {
        from_ns: t0,
        to_ns: t0 + 60 * SEC,
        step_ns: 30 * SEC,
    };
    let a = query::services(&r, &query::Filter::default(), visit(&d));
    let names: Vec<&str> = a.services.iter().map(|s| s.service.as_str()).collect();
    assert_eq!(names, ["checkout", "frontend"]);
    let c = &a.services[0].red;
    // The three SERVER spans: 20 ms, 2 ms (the 404, not an error), 40 ms (failed).
    assert_eq!((c.calls, c.errors), (3, 1));
    assert_eq!(c.series.calls, vec![1, 2]);
    assert_eq!(c.series.errors, vec![0, 1]);
    assert!((c.rate - 3.0 / 60.0).abs() < 1e-12);
    assert!((c.error_rate - 1.0 / 3.0).abs() < 1e-12);
    // By hand: buckets (0,2ms]:1, (16,32ms]:1, (32,64ms]:1; p50 rank 1.5 → 16 + 16·0.5;
    // p95 rank 2.85 → 32 + 32·0.85 (ms).
    assert!((c.p50.unwrap() - 0.024).abs() < 1e-9, "{:?}", c.p50);
    assert!((c.p95.unwrap() - 0.0592).abs() < 1e-9, "{:?}", c.p95);
    // frontend has no SERVER span: all its spans count.
    assert_eq!(a.services[1].red.calls, 1);
    assert!(a.operations.is_none());
    assert_eq!(a.filters.namespace.iter().collect::<Vec<_>>(), vec!["shop"]);

    let only = query::Filter {
        service: Some("checkout".into()),
        ..Default::default()
    };
    let a = query::services(&r, &only, visit(&d));
    let ops: Vec<(String, String, u64, u64)> = a
        .operations
        .unwrap()
        .into_iter()
        .map(|o| (o.name, o.kind, o.red.calls, o.red.errors))
        .collect();
    assert_eq!(
        ops,
        vec![
            ("GET /missing".into(), "SPAN_KIND_SERVER".into(), 1, 0),
            ("POST /checkout".into(), "SPAN_KIND_SERVER".into(), 2, 1),
            ("SELECT".into(), "SPAN_KIND_CLIENT".into(), 1, 0),
        ]
    );
    let placed = query::Filter {
        region: Some("eu-west-1".into()),
        ..Default::default()
    };
    let a = query::services(&r, &placed, visit(&d));
    assert_eq!(a.services.len(), 1);
    let nowhere = query::Filter {
        environment: Some("staging".into()),
        ..Default::default()
    };
    assert!(query::services(&r, &nowhere, visit(&d)).services.is_empty());
}

#[test]
fn service_graph_answer_has_typed_nodes_and_edge_figures() {
    let (d, t0) = shop();
    let r = query::Range {
        from_ns: t0,
        to_ns: t0 + 60 * SEC,
        step_ns: 60 * SEC,
    };
    let g = query::service_graph(&r, &query::Filter::default(), "series", visit(&d));
    let edges: Vec<(&str, &str, &str, u64, u64)> = g
        .edges
        .iter()
        .map(|e| {
            (
                e.client.as_str(),
                e.server.as_str(),
                e.connection_type.as_str(),
                e.requests,
                e.failed,
            )
        })
        .collect();
    assert_eq!(
        edges,
        vec![
            ("checkout", "orders", "database", 1, 0),
            ("frontend", "checkout", "", 1, 0),
            ("user", "checkout", "virtual_node", 2, 1),
        ]
    );
    let nodes: Vec<(&str, &str, u64, u64)> = g
        .nodes
        .iter()
        .map(|n| (n.id.as_str(), n.kind.as_str(), n.requests, n.failed))
        .collect();
    assert_eq!(
        nodes,
        vec![
            ("checkout", "service", 3, 1),
            ("frontend", "service", 0, 0),
            ("orders", "database", 1, 0),
            ("user", "user", 0, 0),
        ]
    );
    let fc = &g.edges[1];
    // Server side 20 ms: bucket (16, 32] ms, one call: p50 = 16 + 16·0.5 ms.
    assert!((fc.p50.unwrap() - 0.024).abs() < 1e-9);
    // Client side 30 ms, same bucket: p95 = 16 + 16·0.95 ms.
    assert!((fc.client_p95.unwrap() - 0.0312).abs() < 1e-9);

    let only = query::Filter {
        service: Some("frontend".into()),
        ..Default::default()
    };
    let g = query::service_graph(&r, &only, "series", visit(&d));
    assert_eq!(g.edges.len(), 1);
    assert_eq!(g.nodes.len(), 2);
}

#[test]
fn serverless_answer_has_functions_and_endpoints_by_status_class() {
    let (d, t0) = shop();
    let f = res("resize");
    let inv = |id: u8, cold: bool, used: i64, dur: u64| {
        let mut sp = with(
            span(9, id, 0, SpanKind::Server, "resize", 0),
            vec![
                s("faas.trigger", "http"),
                b("faas.coldstart", cold),
                i("faas.max_memory", 512),
                i("faas.memory_used", used),
            ],
        );
        sp.start_time_unix_nano = t0 + 5 * SEC;
        sp.end_time_unix_nano = sp.start_time_unix_nano + dur * MS;
        sp
    };
    d.observe_in(DEFAULT_TENANT, 1, &f, &inv(1, true, 128, 100), 0);
    d.observe_in(DEFAULT_TENANT, 1, &f, &inv(2, false, 256, 300), 0);
    let r = query::Range {
        from_ns: t0,
        to_ns: t0 + 60 * SEC,
        step_ns: 15 * SEC,
    };
    let a = query::serverless(&r, &query::Filter::default(), 2.0, visit(&d));
    assert_eq!(a.functions.len(), 1);
    let fr = &a.functions[0];
    assert_eq!(fr.function, "resize");
    assert_eq!((fr.invocations, fr.cold_starts, fr.errors), (2, 1, 0));
    assert_eq!(fr.cold_start_rate, 0.5);
    // (128 + 256) / (512 + 512)
    assert_eq!(fr.memory_share, Some(0.375));
    assert_eq!(fr.memory_used_mb, Some(192.0));
    // 0.1 s · 0.5 GB + 0.3 s · 0.5 GB
    assert!((fr.gb_seconds - 0.2).abs() < 1e-12);
    assert!((fr.cost - 0.4).abs() < 1e-12);
    assert_eq!(fr.series.invocations, vec![2, 0, 0, 0]);
    assert_eq!(fr.series.cold_starts, vec![1, 0, 0, 0]);

    let eps: Vec<(&str, &str, u64, u64, u64, u64, u64)> = a
        .endpoints
        .iter()
        .map(|e| {
            (
                e.method.as_str(),
                e.route.as_str(),
                e.requests,
                e.errors,
                e.status_classes["2xx"],
                e.status_classes["4xx"],
                e.status_classes["5xx"],
            )
        })
        .collect();
    assert_eq!(
        eps,
        vec![
            ("GET", "/missing", 1, 0, 0, 1, 0),
            ("POST", "/checkout", 2, 1, 1, 0, 1),
        ]
    );
    let json = serde_json::to_value(&a).unwrap();
    assert_eq!(json["functions"][0]["coldStartRate"], 0.5);
    assert_eq!(json["endpoints"][0]["statusClasses"]["4xx"], 1);
}

#[test]
fn a_root_servers_caller_can_come_from_an_attribute() {
    let d = Deriver::new(Config {
        caller_attribute: "client.address".into(),
        ..Config::default()
    });
    let api = res("api");
    let with_caller = with(
        span(1, 1, 0, SpanKind::Server, "GET /", 5),
        vec![s("client.address", "10.0.0.7")],
    );
    d.observe(DEFAULT_TENANT, &api, &with_caller, 0);
    d.observe(
        DEFAULT_TENANT,
        &api,
        &span(2, 1, 0, SpanKind::Server, "GET /", 5),
        0,
    );
    let snap = d.snapshot(DEFAULT_TENANT);
    assert_eq!(edge(&snap, "10.0.0.7", "api").requests, 1);
    assert_eq!(edge(&snap, "user", "api").requests, 1);
}

#[test]
fn failed_invocations_keep_their_error_messages_through_a_sidecar() {
    use arbor_model::otlp::Event;
    let d = derive();
    let f = res("resize");
    let mut boom = error(with(
        span(1, 1, 0, SpanKind::Server, "resize", 10),
        vec![s("faas.trigger", "http")],
    ));
    boom.events.push(Event {
        name: "exception".into(),
        attributes: vec![
            s("exception.type", "TypeError"),
            s("exception.message", "x is undefined"),
        ],
        ..Default::default()
    });
    let timed_out = with(
        span(2, 1, 0, SpanKind::Server, "resize", 10),
        vec![s("faas.trigger", "http"), b("faas.error_timeout", true)],
    );
    let fine = with(
        span(3, 1, 0, SpanKind::Server, "resize", 10),
        vec![s("faas.trigger", "http")],
    );
    for sp in [&boom, &boom, &timed_out, &fine] {
        d.observe_in(DEFAULT_TENANT, 4, &f, sp, 0);
    }
    let sealed = sidecar::decode(&d.seal(DEFAULT_TENANT, 4).unwrap()).unwrap();
    let mut got: Vec<(String, String, u64)> = sealed
        .frames
        .values()
        .flat_map(|fr| {
            fr.errors.iter().flat_map(|(k, m)| {
                m.iter()
                    .map(|(msg, n)| (k.function.clone(), msg.clone(), *n))
            })
        })
        .collect();
    got.sort();
    assert_eq!(
        got,
        vec![
            ("resize".into(), "TypeError: x is undefined".into(), 2),
            ("resize".into(), "timeout".into(), 1),
        ]
    );
    let long = "é".repeat(150);
    let mut sp = error(span(4, 1, 0, SpanKind::Server, "x", 1));
    sp.status.as_mut().unwrap().message = long;
    let m = error_message(&sp, false);
    assert!(m.len() <= 200 && m.chars().all(|c| c == 'é'), "{}", m.len());
}
