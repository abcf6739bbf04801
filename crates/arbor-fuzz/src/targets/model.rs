//! The wire decoders: OTLP protobuf, OTLP/JSON, Zipkin v2 JSON and protobuf. Whatever a
//! decoder accepts goes on through validation (`validate::normalize`) and into a WAL record,
//! as the receivers do; the checks are those of [`check_batch`], and for OTLP/JSON also that
//! what Arbor encodes decodes back to the same.

use arbor_model::otlp::{ExportTraceServiceRequest, ResourceSpans};
use arbor_model::validate::{self, Limits};
use arbor_model::{SpanId, TraceId, otlp_json, zipkin};
use prost::Message;

use super::{Target, error_outcome};
use crate::engine::outcome;

/// Tokens of protobuf framing: field tags of the OTLP messages with length prefixes.
const PROTO_DICT: &[&[u8]] = &[
    b"\x0a\x00",
    b"\x0a\x7f",
    b"\x12\x10",
    b"\x0a\x10",
    b"\x12\x08",
    b"\x1a\x08",
    b"\x22\x08",
    b"\x39\x00\x00\x00\x00\x00\x00\x00\x00",
    b"\x41\xff\xff\xff\xff\xff\xff\xff\xff",
    b"\xff\xff\xff\xff\x0f",
    b"\x80\x80\x80\x80\x80\x80\x80\x80\x80\x01",
];

const JSON_DICT: &[&[u8]] = &[
    b"\"resourceSpans\"",
    b"\"scopeSpans\"",
    b"\"spans\"",
    b"\"traceId\"",
    b"\"spanId\"",
    b"\"parentSpanId\"",
    b"\"startTimeUnixNano\"",
    b"\"endTimeUnixNano\"",
    b"\"attributes\"",
    b"\"stringValue\"",
    b"\"intValue\"",
    b"\"doubleValue\"",
    b"\"bytesValue\"",
    b"\"arrayValue\"",
    b"\"kvlistValue\"",
    b"\"values\"",
    b"\"kind\"",
    b"\"status\"",
    b"\"code\"",
    b"\"events\"",
    b"\"links\"",
    b"\"5b8efff798038103d269b633813fc60c\"",
    b"\"eee19b7ec3c1b174\"",
    b"\"AAAAAAAAAAAAAAAAAAAAAA==\"",
    b"null",
    b"true",
    b"-1",
    b"1e999",
    b"\"18446744073709551616\"",
    b"[[[[[[[[[[[[[[[[",
    b"{\"a\":{\"b\":{",
    b"\\u0000",
    b"\\ud800",
];

const ZIPKIN_JSON_DICT: &[&[u8]] = &[
    b"\"traceId\"",
    b"\"id\"",
    b"\"parentId\"",
    b"\"name\"",
    b"\"kind\"",
    b"\"CLIENT\"",
    b"\"SERVER\"",
    b"\"timestamp\"",
    b"\"duration\"",
    b"\"localEndpoint\"",
    b"\"remoteEndpoint\"",
    b"\"serviceName\"",
    b"\"ipv4\"",
    b"\"ipv6\"",
    b"\"port\"",
    b"\"annotations\"",
    b"\"value\"",
    b"\"tags\"",
    b"\"shared\"",
    b"\"debug\"",
    b"\"463ac35c9f6413ad48485a3953bb6124\"",
    b"\"a2fb4a1d1a96d312\"",
    b"\"0000000000000000\"",
    b"\"::1\"",
    b"\"300.1.1.1\"",
    b"-1",
    b"1e999",
    b"18446744073709551615",
];

fn seed_requests() -> Vec<ExportTraceServiceRequest> {
    use arbor_testkit::spans;
    let mut rng = spans::rng(17);
    let trace = spans::trace_id(&mut rng);
    let one = spans::batch(
        "checkout",
        spans::chain(&mut rng, trace, 1, 1_700_000_000_000),
    );
    let trace = spans::trace_id(&mut rng);
    let three = spans::batch("cart", spans::chain(&mut rng, trace, 3, 1_700_000_001_000));
    vec![one, three]
}

fn json_body(req: &ExportTraceServiceRequest) -> Vec<u8> {
    let rs: Vec<serde_json::Value> = req
        .resource_spans
        .iter()
        .map(otlp_json::encode_resource_spans)
        .collect();
    serde_json::to_vec(&serde_json::json!({ "resourceSpans": rs })).unwrap()
}

/// Limits small enough that the fuzzer reaches them.
pub const LIMITS: Limits = Limits {
    max_attribute_value_bytes: 48,
    max_spans_per_request: 64,
    max_attributes: 8,
    max_events: 4,
    max_links: 4,
};

/// Validates a decoded batch as the receivers do and checks what must hold of the result:
/// every span counted once as accepted or rejected, every accepted span with well-formed
/// IDs and times, values within the limit, and the WAL record of the batch reading back as
/// the batch.
pub fn check_batch(req: ExportTraceServiceRequest, limits: &Limits) -> u64 {
    let total = validate::span_count(&req) as u64;
    let n = match validate::normalize(req, limits) {
        Ok(n) => n,
        Err(e) => {
            assert!(total > limits.max_spans_per_request as u64, "refused: {e}");
            return outcome("refused whole");
        }
    };
    assert_eq!(
        n.accepted_spans + n.rejected_spans,
        total,
        "every span is accepted or rejected"
    );
    assert_eq!(
        validate::span_count(&n.request) as u64,
        n.accepted_spans,
        "the accepted spans are the request's"
    );
    for rs in &n.request.resource_spans {
        assert!(!rs.scope_spans.is_empty(), "no empty resource is kept");
        check_values(rs, limits);
        for ss in &rs.scope_spans {
            assert!(!ss.spans.is_empty(), "no empty scope is kept");
            for s in &ss.spans {
                TraceId::from_bytes(&s.trace_id).expect("an accepted span's trace ID");
                SpanId::from_bytes(&s.span_id).expect("an accepted span's span ID");
                if !s.parent_span_id.is_empty() {
                    SpanId::from_bytes(&s.parent_span_id).expect("an accepted parent ID");
                }
                assert!(s.end_time_unix_nano >= s.start_time_unix_nano);
                assert!(s.name.len() <= limits.max_attribute_value_bytes);
                assert!(s.events.len() <= limits.max_events, "events over the limit");
                assert!(s.links.len() <= limits.max_links, "links over the limit");
                for l in &s.links {
                    TraceId::from_bytes(&l.trace_id).expect("a kept link's trace ID");
                    SpanId::from_bytes(&l.span_id).expect("a kept link's span ID");
                }
            }
        }
    }
    let payload = arbor_storage::record::encode("fuzz-tenant", &n.request);
    let (tenant, back) = arbor_storage::record::decode(&payload).expect("a record reads back");
    assert_eq!(tenant, "fuzz-tenant");
    assert_eq!(
        back.encode_to_vec(),
        n.request.encode_to_vec(),
        "the WAL record holds the batch"
    );
    outcome(&format!(
        "ok accepted={} rejected={} truncated={} dropped={} reasons={}",
        n.accepted_spans.min(3),
        n.rejected_spans.min(3),
        n.truncated_values.min(3),
        (n.dropped_attributes + n.dropped_events + n.dropped_links).min(3),
        n.reasons.len().min(3)
    ))
}

fn check_values(rs: &ResourceSpans, limits: &Limits) {
    use arbor_model::otlp::{AnyValue, KeyValue, any_value::Value};
    let (max, most) = (limits.max_attribute_value_bytes, limits.max_attributes);
    fn value(v: &AnyValue, max: usize, most: usize) {
        match &v.value {
            Some(Value::StringValue(s)) => assert!(s.len() <= max, "string over the limit"),
            Some(Value::BytesValue(b)) => assert!(b.len() <= max, "bytes over the limit"),
            Some(Value::ArrayValue(a)) => {
                assert!(a.values.len() <= most, "array elements over the limit");
                a.values.iter().for_each(|v| value(v, max, most));
            }
            Some(Value::KvlistValue(kv)) => attrs(&kv.values, max, most),
            _ => {}
        }
    }
    fn attrs(kvs: &[KeyValue], max: usize, most: usize) {
        assert!(kvs.len() <= most, "attributes over the limit");
        for kv in kvs {
            assert!(kv.key.len() <= max, "key over the limit");
            if let Some(v) = &kv.value {
                value(v, max, most);
            }
        }
    }
    if let Some(r) = &rs.resource {
        attrs(&r.attributes, max, most);
    }
    for ss in &rs.scope_spans {
        if let Some(scope) = &ss.scope {
            attrs(&scope.attributes, max, most);
        }
        for s in &ss.spans {
            attrs(&s.attributes, max, most);
            s.events
                .iter()
                .for_each(|e| attrs(&e.attributes, max, most));
            s.links.iter().for_each(|l| attrs(&l.attributes, max, most));
        }
    }
}

fn run_otlp_proto(input: &[u8]) -> u64 {
    match ExportTraceServiceRequest::decode(input) {
        Ok(req) => check_batch(req, &LIMITS),
        Err(e) => error_outcome("proto ", &e.to_string()),
    }
}

pub fn otlp_proto() -> Target {
    Target {
        name: "otlp_proto",
        about: "OTLP protobuf ExportTraceServiceRequest → normalize → WAL record",
        run: run_otlp_proto,
        seeds: || seed_requests().iter().map(|r| r.encode_to_vec()).collect(),
        dict: PROTO_DICT,
        max_len: 64 << 10,
        smoke_iterations: 3_000,
    }
}

fn run_otlp_json(input: &[u8]) -> u64 {
    let decoded = match otlp_json::decode_request(input) {
        Ok(d) => d,
        Err(e) => return error_outcome("json ", &e.to_string()),
    };
    let mut sig = check_batch(decoded.request.clone(), &LIMITS);
    // What Arbor encodes (the query API's answers, `arbor gen`'s JSON) reads back the same.
    if let Ok(n) = validate::normalize(decoded.request, &LIMITS) {
        let body = json_body(&n.request);
        let again = otlp_json::decode_request(&body).unwrap_or_else(|e| {
            panic!(
                "Arbor's own OTLP/JSON does not decode: {e}\n{}",
                String::from_utf8_lossy(&body)
            )
        });
        assert!(
            again.rejected.is_empty(),
            "spans of Arbor's own OTLP/JSON rejected: {:?}",
            again.rejected
        );
        let body_again = json_body(&again.request);
        let (a, b): (serde_json::Value, serde_json::Value) = (
            serde_json::from_slice(&body).unwrap(),
            serde_json::from_slice(&body_again).unwrap(),
        );
        assert_eq!(a, b, "OTLP/JSON encode → decode → encode changed the batch");
        sig ^= decoded.rejected.len().min(3) as u64;
    }
    sig
}

pub fn otlp_json() -> Target {
    Target {
        name: "otlp_json",
        about: "OTLP/JSON decode → normalize → WAL record, and Arbor's JSON encoding round trip",
        run: run_otlp_json,
        seeds: || seed_requests().iter().map(json_body).collect(),
        dict: JSON_DICT,
        max_len: 64 << 10,
        smoke_iterations: 3_000,
    }
}

fn run_zipkin_json(input: &[u8]) -> u64 {
    match zipkin::decode_v2_json(input) {
        Ok(d) => check_batch(d.request, &LIMITS) ^ d.rejected.len().min(3) as u64,
        Err(e) => error_outcome("zipkin json ", &e.to_string()),
    }
}

fn zipkin_json_seeds() -> Vec<Vec<u8>> {
    seed_requests()
        .iter()
        .map(|r| serde_json::to_vec(&arbor_model::zipkin_encode::trace(&r.resource_spans)).unwrap())
        .collect()
}

pub fn zipkin_json() -> Target {
    Target {
        name: "zipkin_json",
        about: "Zipkin v2 JSON decode → normalize → WAL record",
        run: run_zipkin_json,
        seeds: zipkin_json_seeds,
        dict: ZIPKIN_JSON_DICT,
        max_len: 64 << 10,
        smoke_iterations: 3_000,
    }
}

fn run_zipkin_proto(input: &[u8]) -> u64 {
    match zipkin::decode_v2_proto(input) {
        Ok(d) => check_batch(d.request, &LIMITS) ^ d.rejected.len().min(3) as u64,
        Err(e) => error_outcome("zipkin proto ", &e.to_string()),
    }
}

/// Zipkin protobuf seeds: the JSON seeds decoded by Arbor and re-expressed as Zipkin's
/// `ListOfSpans` from the same fields.
fn zipkin_proto_seeds() -> Vec<Vec<u8>> {
    use zipkin::proto::{Annotation, Endpoint, ListOfSpans, Span};
    let mut out = Vec::new();
    for (i, body) in zipkin_json_seeds().iter().enumerate() {
        let value: serde_json::Value = serde_json::from_slice(body).unwrap();
        let mut list = ListOfSpans::default();
        for s in value.as_array().into_iter().flatten() {
            let hex_field = |k: &str| hex_bytes(s[k].as_str().unwrap_or_default());
            let endpoint = |k: &str| {
                s.get(k).map(|e| Endpoint {
                    service_name: e["serviceName"].as_str().unwrap_or_default().into(),
                    port: e["port"].as_i64().unwrap_or(0) as i32,
                    ..Default::default()
                })
            };
            list.spans.push(Span {
                trace_id: hex_field("traceId"),
                parent_id: hex_field("parentId"),
                id: hex_field("id"),
                kind: 1 + (i as i32 % 4),
                name: s["name"].as_str().unwrap_or_default().into(),
                timestamp: s["timestamp"].as_u64().unwrap_or(0),
                duration: s["duration"].as_u64().unwrap_or(0),
                local_endpoint: endpoint("localEndpoint"),
                remote_endpoint: endpoint("remoteEndpoint"),
                annotations: s["annotations"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|a| Annotation {
                        timestamp: a["timestamp"].as_u64().unwrap_or(0),
                        value: a["value"].as_str().unwrap_or_default().into(),
                    })
                    .collect(),
                tags: s["tags"]
                    .as_object()
                    .into_iter()
                    .flatten()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                    .collect(),
                ..Default::default()
            });
        }
        out.push(list.encode_to_vec());
    }
    out
}

fn hex_bytes(s: &str) -> Vec<u8> {
    (0..s.len() / 2)
        .filter_map(|i| u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok())
        .collect()
}

pub fn zipkin_proto() -> Target {
    Target {
        name: "zipkin_proto",
        about: "Zipkin v2 protobuf (ListOfSpans) decode → normalize → WAL record",
        run: run_zipkin_proto,
        seeds: zipkin_proto_seeds,
        dict: PROTO_DICT,
        max_len: 64 << 10,
        smoke_iterations: 3_000,
    }
}
