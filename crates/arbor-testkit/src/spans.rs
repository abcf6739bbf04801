//! Span batches for tests: small, seeded, with every kind of field filled.

use arbor_model::otlp::{
    AnyValue, Event, ExportTraceServiceRequest, InstrumentationScope, KeyValue, Link, Resource,
    ResourceSpans, ScopeSpans, Span, Status, any_value, kv_bool, kv_int, kv_str,
};
use rand::{Rng, SeedableRng, rngs::StdRng};

pub fn rng(seed: u64) -> StdRng {
    StdRng::seed_from_u64(seed)
}

pub fn trace_id(rng: &mut impl Rng) -> [u8; 16] {
    let mut id = [0u8; 16];
    rng.fill(&mut id);
    id[0] |= 1;
    id
}

pub fn span_id(rng: &mut impl Rng) -> [u8; 8] {
    let mut id = [0u8; 8];
    rng.fill(&mut id);
    id[0] |= 1;
    id
}

/// A batch of one resource (service) holding `spans`.
pub fn batch(service: &str, spans: Vec<Span>) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![
                    kv_str("service.name", service),
                    kv_str("deployment.environment", "test"),
                ],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                scope: Some(InstrumentationScope {
                    name: "arbor-testkit".into(),
                    version: "1.0".into(),
                    ..Default::default()
                }),
                spans,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

/// A span with attributes of every type, an event and, when given, a parent.
pub fn rich_span(
    rng: &mut impl Rng,
    trace: [u8; 16],
    parent: Option<[u8; 8]>,
    name: &str,
    start_ns: u64,
) -> Span {
    let dur = rng.random_range(1_000..5_000_000u64);
    Span {
        trace_id: trace.to_vec(),
        span_id: span_id(rng).to_vec(),
        parent_span_id: parent.map(|p| p.to_vec()).unwrap_or_default(),
        name: name.to_string(),
        kind: 2,
        start_time_unix_nano: start_ns,
        end_time_unix_nano: start_ns + dur,
        attributes: vec![
            kv_str("http.route", "/orders/{id}"),
            kv_int("http.status_code", 200),
            kv_bool("cache.hit", rng.random()),
            KeyValue {
                key: "ratio".into(),
                value: Some(AnyValue {
                    value: Some(any_value::Value::DoubleValue(0.25)),
                }),
                ..Default::default()
            },
        ],
        events: vec![Event {
            time_unix_nano: start_ns + dur / 2,
            name: "checkpoint".into(),
            attributes: vec![kv_str("step", "half")],
            dropped_attributes_count: 0,
        }],
        links: vec![Link {
            trace_id: trace_id(rng).to_vec(),
            span_id: span_id(rng).to_vec(),
            attributes: vec![kv_str("link.kind", "follows")],
            ..Default::default()
        }],
        status: Some(Status {
            code: 1,
            message: String::new(),
        }),
        ..Default::default()
    }
}

/// `n` spans of one trace as a chain of parents, starting at `start_ns`.
pub fn chain(rng: &mut impl Rng, trace: [u8; 16], n: usize, start_ns: u64) -> Vec<Span> {
    let mut spans: Vec<Span> = Vec::with_capacity(n);
    for i in 0..n {
        let parent = spans
            .last()
            .map(|p| <[u8; 8]>::try_from(&p.span_id[..]).unwrap());
        spans.push(rich_span(
            rng,
            trace,
            parent,
            &format!("op-{i}"),
            start_ns + i as u64 * 1_000,
        ));
    }
    spans
}

/// A load-test batch of `per` spans: traces of 3–11 spans as chains, each span with a user
/// ID and a URL holding a random ID on top of [`rich_span`]'s fields; the service cycles
/// through 20 names. Every trace ID made is pushed to `ids`.
pub fn load_batch(
    rng: &mut impl Rng,
    i: u64,
    start_ns: u64,
    per: usize,
    ids: &mut Vec<[u8; 16]>,
) -> ExportTraceServiceRequest {
    let mut out = Vec::with_capacity(per);
    while out.len() < per {
        let trace = trace_id(rng);
        ids.push(trace);
        let len = rng.random_range(3..12).min(per - out.len());
        let mut spans = chain(rng, trace, len, start_ns + i * 1_000_000);
        for s in &mut spans {
            s.attributes.push(kv_str(
                "user.id",
                &format!("u-{}", rng.random_range(0..100_000)),
            ));
            s.attributes.push(kv_str(
                "http.url",
                &format!("https://shop.example/orders/{}", rng.random::<u32>()),
            ));
        }
        out.extend(spans);
    }
    batch(&format!("svc-{}", i % 20), out)
}
