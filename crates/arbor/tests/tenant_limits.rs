//! Per-tenant limits from the overrides file (`limits.overrides_file`), against the real
//! binary: ingest rate and burst (429 with `Retry-After` for one tenant while another is
//! unaffected), spans and bytes per trace (the rest refused, the trace flagged), attributes
//! per span and key length, search range and concurrency, `/metrics` per tenant, and the
//! file read again while running (a bad edit keeps the limits in force; a bad file at start
//! stops it). Rates are tiny (1 byte a second) so that no figure depends on speed.

use std::path::Path;
use std::time::Duration;

use arbor_model::otlp::grpc::TraceServiceClient;
use arbor_model::otlp::{ExportTraceServiceRequest, KeyValue, Span};
use arbor_testkit::{HttpAnswer, TestServer, eventually};
use prost::Message;

const BIN: &str = env!("CARGO_BIN_EXE_arbor");

fn kv(key: &str, value: &str) -> KeyValue {
    arbor_model::otlp::kv_str(key, value)
}

fn span(trace: [u8; 16], n: u8, attributes: Vec<KeyValue>) -> Span {
    let now = arbor_model::time::now_unix_nanos();
    Span {
        trace_id: trace.to_vec(),
        span_id: vec![n, 1, 2, 3, 4, 5, 6, 7],
        name: format!("op-{n}"),
        start_time_unix_nano: now - 1_000_000,
        end_time_unix_nano: now,
        attributes,
        ..Default::default()
    }
}

fn batch(trace: [u8; 16], spans: std::ops::Range<u8>) -> ExportTraceServiceRequest {
    arbor_testkit::spans::batch(
        "svc",
        spans.map(|n| span(trace, n, vec![kv("k", "v")])).collect(),
    )
}

fn start(overrides: &str) -> (TestServer, tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("overrides.toml");
    std::fs::write(&file, overrides).unwrap();
    let s = TestServer::start(BIN, &["--overrides-file", file.to_str().unwrap()]).unwrap();
    assert!(
        eventually(Duration::from_secs(60), || s
            .get("/ready")
            .is_ok_and(|r| r.status().is_success())),
        "not ready:\n{}",
        s.log()
    );
    (s, dir, file)
}

/// OTLP/HTTP protobuf for a tenant: status, headers, body.
fn export(s: &TestServer, tenant: &str, req: &ExportTraceServiceRequest) -> HttpAnswer {
    s.post(
        &format!("{}/v1/traces", s.otlp_http_url()),
        req.encode_to_vec(),
        &[
            ("Content-Type", "application/x-protobuf"),
            ("X-Scope-OrgID", tenant),
        ],
    )
    .unwrap()
}

fn header<'a>(a: &'a HttpAnswer, name: &str) -> Option<&'a str> {
    a.1.iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// The OTLP answer's partial success: (rejected spans, message).
fn partial(a: &HttpAnswer) -> (i64, String) {
    assert_eq!(a.0, 200, "{}", String::from_utf8_lossy(&a.2));
    let r = arbor_model::otlp::ExportTraceServiceResponse::decode(&a.2[..]).unwrap();
    r.partial_success
        .map(|p| (p.rejected_spans, p.error_message))
        .unwrap_or_default()
}

fn grpc_export(
    url: String,
    tenant: &str,
    req: ExportTraceServiceRequest,
) -> Result<(), tonic::Status> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut client = TraceServiceClient::connect(url).await.unwrap();
        let mut r = tonic::Request::new(req);
        r.metadata_mut()
            .insert("x-scope-orgid", tenant.parse().unwrap());
        client.export(r).await.map(|_| ())
    })
}

/// A trace by ID over Tempo's v2 API for a tenant: (status, headers, JSON).
fn trace_v2(
    s: &TestServer,
    tenant: &str,
    id: &str,
) -> (u16, reqwest::header::HeaderMap, serde_json::Value) {
    let resp = reqwest::blocking::Client::new()
        .get(format!("{}/api/v2/traces/{id}", s.http_url()))
        .header("X-Scope-OrgID", tenant)
        .send()
        .unwrap();
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    (status, headers, resp.json().unwrap_or_default())
}

fn span_count(v: &serde_json::Value) -> usize {
    v["trace"]["resourceSpans"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|rs| rs["scopeSpans"].as_array().into_iter().flatten())
        .map(|ss| ss["spans"].as_array().map_or(0, |a| a.len()))
        .sum()
}

/// The value of a metric line starting with `prefix` (name and labels).
fn metric(s: &TestServer, prefix: &str) -> Option<f64> {
    let text = s.get("/metrics").unwrap().text().unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(prefix).and_then(|r| r.strip_prefix(' ')))
        .and_then(|v| v.trim().parse().ok())
}

#[test]
fn a_tenant_over_its_rate_gets_429_and_another_is_unaffected() {
    let first = batch([1; 16], 1..3);
    let size = first.encoded_len();
    // Room for the first request and 10 bytes more, refilled at 1 byte a second: the
    // second request waits minutes, however slow or fast the machine is.
    let burst = size + 10;
    let (s, _dir, _file) = start(&format!(
        "[tenants.slow]\ningestion_rate_limit_bytes = 1\ningestion_burst_size_bytes = {burst}\n"
    ));
    println!("request of {size} bytes; tenant slow: 1 byte/s, burst {burst} bytes");
    let a = export(&s, "slow", &first);
    assert_eq!(a.0, 200, "{}", String::from_utf8_lossy(&a.2));

    let second = batch([2; 16], 1..3);
    let refused = export(&s, "slow", &second);
    let retry: u64 = header(&refused, "retry-after").unwrap().parse().unwrap();
    let body = String::from_utf8_lossy(&refused.2).to_string();
    println!(
        "OTLP/HTTP over the rate: {} Retry-After {retry}: {body}",
        refused.0
    );
    assert_eq!(refused.0, 429);
    assert!(retry >= 10, "Retry-After {retry} comes from the bucket");
    assert!(
        body.contains("\"slow\"")
            && body.contains("1 bytes/s")
            && body.contains(&format!("{burst} bytes")),
        "{body}"
    );

    // Another tenant is not slowed.
    for i in 0..5u8 {
        let a = export(&s, "fast", &batch([10 + i; 16], 1..3));
        assert_eq!(a.0, 200, "{}", String::from_utf8_lossy(&a.2));
    }

    // Zipkin and gRPC answer in their own shapes.
    let zipkin = format!(
        r#"[{{"traceId":"{}","id":"0102030405060708","name":"z","timestamp":{},"duration":10,"localEndpoint":{{"serviceName":"z"}}}}]"#,
        "03".repeat(16),
        arbor_model::time::now_unix_nanos() / 1000
    );
    let z = s
        .post(
            &format!("{}/api/v2/spans", s.zipkin_url()),
            zipkin.clone().into_bytes(),
            &[
                ("Content-Type", "application/json"),
                ("X-Scope-OrgID", "slow"),
            ],
        )
        .unwrap();
    println!(
        "Zipkin over the rate: {} Retry-After {:?}: {}",
        z.0,
        header(&z, "retry-after"),
        String::from_utf8_lossy(&z.2)
    );
    assert_eq!(z.0, 429);
    assert!(header(&z, "retry-after").is_some());
    let z = s
        .post(
            &format!("{}/api/v2/spans", s.zipkin_url()),
            zipkin.into_bytes(),
            &[
                ("Content-Type", "application/json"),
                ("X-Scope-OrgID", "fast"),
            ],
        )
        .unwrap();
    assert_eq!(z.0, 202);
    let err = grpc_export(s.otlp_grpc_url(), "slow", batch([4; 16], 1..3)).unwrap_err();
    println!("gRPC over the rate: {:?} {}", err.code(), err.message());
    assert_eq!(err.code(), tonic::Code::ResourceExhausted);
    assert!(err.message().contains("\"slow\""), "{}", err.message());
    grpc_export(s.otlp_grpc_url(), "fast", batch([5; 16], 1..3)).unwrap();

    // Larger than the burst: never taken, 413.
    let big = batch([6; 16], 1..60);
    let a = export(&s, "slow", &big);
    println!(
        "{} bytes, over the burst: {} {}",
        big.encoded_len(),
        a.0,
        String::from_utf8_lossy(&a.2)
    );
    assert_eq!(a.0, 413);

    // What was acknowledged is readable; what was refused was refused whole.
    let (status, _, v) = trace_v2(&s, "slow", &"01".repeat(16));
    assert_eq!((status, span_count(&v)), (200, 2), "{v}");
    assert_eq!(trace_v2(&s, "slow", &"02".repeat(16)).0, 404);

    let limited = metric(
        &s,
        "arbor_tenant_rate_limited_requests_total{tenant=\"slow\"}",
    );
    let fast_limited = metric(
        &s,
        "arbor_tenant_rate_limited_requests_total{tenant=\"fast\"}",
    );
    let fast_spans = metric(&s, "arbor_tenant_spans_received_total{tenant=\"fast\"}");
    println!(
        "metrics: slow rate-limited {limited:?}, fast rate-limited {fast_limited:?}, fast spans {fast_spans:?}"
    );
    assert_eq!(limited, Some(4.0));
    assert_eq!(fast_limited, Some(0.0));
    assert_eq!(fast_spans, Some(13.0));
    assert!(
        metric(
            &s,
            "arbor_tenant_refused_total{tenant=\"slow\",reason=\"rate\"}"
        )
        .unwrap()
            > 0.0
    );
}

#[test]
fn a_trace_past_its_limits_has_the_rest_refused_and_is_flagged() {
    let one = span([9; 16], 1, vec![kv("k", "v")]).encoded_len() as u64;
    let (mut s, _dir, _file) = start(&format!(
        "[tenants.capped]\nmax_spans_per_trace = 3\n\n[tenants.small]\nmax_bytes_per_trace = {}\n",
        // Room for two of these spans, not three.
        one * 5 / 2
    ));
    let id = "07".repeat(16);
    assert_eq!(
        partial(&export(&s, "capped", &batch([7; 16], 1..3))),
        (0, String::new())
    );
    let (rejected, message) = partial(&export(&s, "capped", &batch([7; 16], 3..6)));
    println!("past max_spans_per_trace: {rejected} rejected: {message}");
    assert_eq!(rejected, 2);
    assert!(
        message.contains(&id) && message.contains("max_spans_per_trace = 3"),
        "{message}"
    );
    // Later spans of the trace are refused too; other traces and tenants are not.
    assert_eq!(partial(&export(&s, "capped", &batch([7; 16], 9..10))).0, 1);
    assert_eq!(partial(&export(&s, "capped", &batch([8; 16], 1..4))).0, 0);
    assert_eq!(partial(&export(&s, "other", &batch([7; 16], 1..8))).0, 0);

    let (status, headers, v) = trace_v2(&s, "capped", &id);
    println!(
        "trace by ID: {status} status {} message {}",
        v["status"], v["message"]
    );
    assert_eq!(
        (status, span_count(&v)),
        (200, 3),
        "the earlier spans are readable"
    );
    assert_eq!(v["status"], "PARTIAL");
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .contains("max_spans_per_trace"),
        "{v}"
    );
    assert!(headers.contains_key("x-arbor-partial"));
    let (_, headers, v) = trace_v2(&s, "other", &id);
    assert_eq!(
        (v["status"].as_str(), span_count(&v)),
        (Some("COMPLETE"), 7)
    );
    assert!(!headers.contains_key("x-arbor-partial"));

    // By bytes.
    let (rejected, message) = partial(&export(&s, "small", &batch([9; 16], 1..4)));
    println!("past max_bytes_per_trace: {rejected} rejected: {message}");
    assert_eq!(rejected, 1);
    assert!(message.contains("max_bytes_per_trace"), "{message}");

    assert_eq!(
        metric(
            &s,
            "arbor_tenant_refused_total{tenant=\"capped\",reason=\"trace_size\"}"
        ),
        Some(3.0)
    );

    // Still flagged after a restart (the head rebuilt from the log, the flag from its file).
    s.restart().unwrap();
    assert!(eventually(Duration::from_secs(60), || s
        .get("/ready")
        .is_ok_and(|r| r.status().is_success())));
    let (status, _, v) = trace_v2(&s, "capped", &id);
    assert_eq!(
        (status, v["status"].as_str(), span_count(&v)),
        (200, Some("PARTIAL"), 3)
    );
    assert_eq!(partial(&export(&s, "capped", &batch([7; 16], 20..21))).0, 1);
}

/// One span with attributes `keys`; the span as read back by the tenant.
fn send_attrs(
    s: &TestServer,
    tenant: &str,
    trace: u8,
    keys: &[&str],
) -> ((i64, String), serde_json::Value) {
    let attrs = keys.iter().map(|k| kv(k, "v")).collect();
    let req = arbor_testkit::spans::batch("svc", vec![span([trace; 16], 1, attrs)]);
    let answer = partial(&export(s, tenant, &req));
    let (_, _, v) = trace_v2(s, tenant, &format!("{trace:02x}").repeat(16));
    let span = v["trace"]["resourceSpans"][0]["scopeSpans"][0]["spans"][0].clone();
    (answer, span)
}

fn keys_of(span: &serde_json::Value) -> Vec<String> {
    span["attributes"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|a| a["key"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn attributes_per_span_and_key_length_per_tenant() {
    let (s, _dir, _file) =
        start("[tenants.tight]\nmax_attributes_per_span = 2\nmax_attribute_key_bytes = 8\n");
    let keys = ["a", "a.much.longer.key", "b", "c"];
    let ((rejected, message), span) = send_attrs(&s, "tight", 0x21, &keys);
    println!("tight: {message}; kept {:?}", keys_of(&span));
    assert_eq!(rejected, 0, "the span is kept");
    assert!(
        message.contains("max_attribute_key_bytes = 8")
            && message.contains("max_attributes_per_span = 2")
            && message.contains("\"tight\""),
        "{message}"
    );
    assert_eq!(keys_of(&span), ["a", "b"]);
    assert_eq!(span["droppedAttributesCount"], 2, "{span}");
    let ((_, message), span) = send_attrs(&s, "loose", 0x22, &keys);
    assert_eq!(message, "");
    assert_eq!(keys_of(&span), keys);
    assert_eq!(
        metric(
            &s,
            "arbor_tenant_refused_total{tenant=\"tight\",reason=\"attributes\"}"
        ),
        Some(2.0)
    );
}

#[test]
fn search_range_per_tenant() {
    let (s, _dir, _file) = start("[tenants.narrow]\nmax_search_duration = \"1h\"\n");
    let now = arbor_model::time::now_unix_nanos() / 1_000_000_000;
    let get = |url: String, tenant: &str| {
        let resp = reqwest::blocking::Client::new()
            .get(url)
            .header("X-Scope-OrgID", tenant)
            .send()
            .unwrap();
        (resp.status().as_u16(), resp.text().unwrap())
    };
    let search = |tenant: &str, from: u64| {
        get(
            format!("{}/api/search?start={from}&end={now}", s.http_url()),
            tenant,
        )
    };
    let metrics = |tenant: &str, from: u64| {
        get(
            format!(
                "{}/api/metrics/query_range?q=%7B%20%7D%20%7C%20rate()&start={from}&end={now}&step=60",
                s.http_url()
            ),
            tenant,
        )
    };
    // Jaeger's find: start and end in microseconds.
    let find = |tenant: &str, from: u64| {
        get(
            format!(
                "{}/api/traces?service=x&start={}&end={}",
                s.jaeger_url(),
                from * 1_000_000,
                now * 1_000_000
            ),
            tenant,
        )
    };
    for (what, ask) in [
        ("search", &search as &dyn Fn(&str, u64) -> (u16, String)),
        ("metrics", &metrics),
        ("jaeger find", &find),
    ] {
        let (status, body) = ask("narrow", now - 7200);
        println!("{what}, 2h for narrow: {status} {body}");
        assert_eq!(status, 400, "{what}");
        // Jaeger's envelope escapes the quotes.
        let named = body.contains(r#"tenant "narrow""#) || body.contains(r#"tenant \"narrow\""#);
        assert!(
            body.contains("max_search_duration") && named,
            "{what}: {body}"
        );
        assert_eq!(ask("narrow", now - 1800).0, 200, "{what}");
        assert_eq!(ask("wide", now - 7200).0, 200, "{what}");
    }
}

#[test]
fn the_file_is_read_again_and_a_bad_edit_keeps_the_limits() {
    let (s, _dir, file) = start("[tenants.t]\nmax_attributes_per_span = 5\n");
    let keys = ["a", "b", "c", "d"];
    assert_eq!(keys_of(&send_attrs(&s, "t", 0x31, &keys).1).len(), 4);
    std::fs::write(
        &file,
        "[tenants.t]\nmax_attributes_per_span = 2\n# lowered\n",
    )
    .unwrap();
    let mut n = 0x40u8;
    assert!(
        eventually(Duration::from_secs(60), || {
            n += 1;
            keys_of(&send_attrs(&s, "t", n, &keys).1).len() == 2
        }),
        "the lowered limit never applied:\n{}",
        s.log()
    );
    // A broken edit: logged, and the limits read before stay in force.
    std::fs::write(&file, "[tenants.t]\nmax_attributes_per_spann = 10\n").unwrap();
    assert!(
        eventually(Duration::from_secs(60), || s
            .log()
            .contains("the overrides file changed but does not read")),
        "{}",
        s.log()
    );
    let log = s.log();
    assert!(log.contains("max_attributes_per_spann"), "{log}");
    assert_eq!(keys_of(&send_attrs(&s, "t", 0x90, &keys).1).len(), 2);
}

#[test]
fn a_bad_file_at_start_stops_it_naming_file_line_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("overrides.toml");
    std::fs::write(
        &file,
        "[defaults]\nmax_spans_per_trace = 10\n\n[tenants.a]\nretention = \"0s\"\n",
    )
    .unwrap();
    let out = arbor_testkit::serve_command(Path::new(BIN), &dir.path().join("data"))
        .args(["--overrides-file", file.to_str().unwrap()])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    println!("{err}");
    assert!(!out.status.success());
    assert!(
        err.contains("overrides.toml")
            && err.contains("line 5")
            && err.contains("tenants.a.retention"),
        "{err}"
    );
}
