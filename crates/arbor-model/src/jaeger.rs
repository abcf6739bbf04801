//! OTLP → Jaeger's JSON trace model, the one Jaeger UI reads from `/api/traces`.
//!
//! The mapping is the usual one of Jaeger and the OpenTelemetry Collector:
//! - IDs as lowercase hex; a trace ID whose high 8 bytes are zero is written with 16 digits
//!   (as Jaeger does for 64-bit IDs), any other with 32.
//! - `startTime` and `duration` in microseconds; a span that ends before it starts has
//!   duration 0.
//! - One *process* per distinct resource (service name and resource attributes), named
//!   `p1`, `p2`, … in order of first use; the resource attributes other than `service.name`
//!   are its tags.
//! - `references`: the parent as `CHILD_OF`, then each link as `CHILD_OF` when its attribute
//!   `opentracing.ref_type` is `child_of`, else `FOLLOWS_FROM` (as Jaeger's OTLP translator
//!   writes and reads them).
//! - Tags: the span's attributes, then `otel.scope.name`, `otel.scope.version`, `span.kind`
//!   (`client`, `server`, `producer`, `consumer`, `internal`), `otel.status_code` (`OK`,
//!   `ERROR`) with `otel.status_description`, `error = true` for an error status, and
//!   `w3c.tracestate`. Types: `string`, `bool`, `int64`, `float64`, `binary` (base64).
//!   Integers beyond ±2^53 are written as strings, which JavaScript reads without loss;
//!   arrays and maps become their JSON text.
//! - Events become `logs`: the event name as field `event`, then its attributes.
//! - The span attribute `@jaeger@warnings` (a list of strings) becomes the span's `warnings`.
//! - Zipkin's shared spans (a client and a server span with the same span ID) are told apart
//!   as Jaeger does: the server span gets a new, unused span ID and the client span as parent.

use std::collections::{HashMap, HashSet};

use base64::Engine as _;
use serde_json::{Map, Value, json};

use crate::otlp::{AnyValue, KeyValue, ResourceSpans, Span, SpanKind, StatusCode, any_value};

/// Attribute holding warnings about a span, as Jaeger names it.
pub const WARNINGS_ATTRIBUTE: &str = "@jaeger@warnings";

/// Largest integer JavaScript holds exactly.
const MAX_SAFE_INTEGER: i64 = (1 << 53) - 1;

/// A trace ID in Jaeger's text form.
pub fn trace_id_text(id: &[u8]) -> String {
    if id.len() == 16 && id[..8].iter().all(|b| *b == 0) {
        hex::encode(&id[8..])
    } else {
        hex::encode(id)
    }
}

/// The text of a value, as Jaeger compares tag values in searches: strings as they are,
/// booleans `true`/`false`, integers in decimal, floats in their shortest form (`72.5`,
/// `1e+21` is written `1000000000000000000000`), bytes in base64, arrays and maps as JSON.
pub fn value_text(v: &AnyValue) -> String {
    match &v.value {
        Some(any_value::Value::StringValue(s)) => s.clone(),
        Some(any_value::Value::BoolValue(b)) => b.to_string(),
        Some(any_value::Value::IntValue(i)) => i.to_string(),
        Some(any_value::Value::DoubleValue(d)) => float_text(*d),
        Some(any_value::Value::BytesValue(b)) => {
            base64::engine::general_purpose::STANDARD.encode(b)
        }
        Some(any_value::Value::ArrayValue(_) | any_value::Value::KvlistValue(_)) => {
            plain_json(v).to_string()
        }
        // Dictionary references are resolved before spans are stored.
        Some(any_value::Value::StringValueStrindex(_)) | None => String::new(),
    }
}

/// A value as plain JSON (`["a",1]`, `{"k":"v"}`), as arrays and maps are shown as text.
pub fn plain_json(v: &AnyValue) -> Value {
    match &v.value {
        Some(any_value::Value::StringValue(s)) => Value::String(s.clone()),
        Some(any_value::Value::BoolValue(b)) => Value::Bool(*b),
        Some(any_value::Value::IntValue(i)) => Value::from(*i),
        Some(any_value::Value::DoubleValue(d)) => serde_json::Number::from_f64(*d)
            .map_or_else(|| Value::String(float_text(*d)), Value::Number),
        Some(any_value::Value::BytesValue(_)) => Value::String(value_text(v)),
        Some(any_value::Value::ArrayValue(a)) => {
            Value::Array(a.values.iter().map(plain_json).collect())
        }
        Some(any_value::Value::KvlistValue(l)) => Value::Object(
            l.values
                .iter()
                .map(|kv| {
                    (
                        kv.key.clone(),
                        kv.value.as_ref().map_or(Value::Null, plain_json),
                    )
                })
                .collect(),
        ),
        Some(any_value::Value::StringValueStrindex(_)) | None => Value::Null,
    }
}

/// A float as Go's `strconv.FormatFloat(f, 'f', -1, 64)` writes it.
fn float_text(d: f64) -> String {
    if d.is_nan() {
        "NaN".into()
    } else if d.is_infinite() {
        if d > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        }
    } else {
        // Rust's Display is the shortest round-tripping form, without exponent.
        d.to_string()
    }
}

/// The keyword of a span kind in the `span.kind` tag; `None` for unspecified.
pub fn kind_keyword(kind: i32) -> Option<&'static str> {
    match SpanKind::try_from(kind).ok()? {
        SpanKind::Internal => Some("internal"),
        SpanKind::Server => Some("server"),
        SpanKind::Client => Some("client"),
        SpanKind::Producer => Some("producer"),
        SpanKind::Consumer => Some("consumer"),
        SpanKind::Unspecified => None,
    }
}

fn tag(key: &str, v: &AnyValue) -> Value {
    let (ty, value) = match &v.value {
        Some(any_value::Value::StringValue(s)) => ("string", Value::String(s.clone())),
        Some(any_value::Value::BoolValue(b)) => ("bool", Value::Bool(*b)),
        Some(any_value::Value::IntValue(i)) if i.unsigned_abs() > MAX_SAFE_INTEGER as u64 => {
            ("int64", Value::String(i.to_string()))
        }
        Some(any_value::Value::IntValue(i)) => ("int64", Value::from(*i)),
        Some(any_value::Value::DoubleValue(d)) => match serde_json::Number::from_f64(*d) {
            Some(n) => ("float64", Value::Number(n)),
            None => ("float64", Value::String(float_text(*d))),
        },
        Some(any_value::Value::BytesValue(_)) => ("binary", Value::String(value_text(v))),
        _ => ("string", Value::String(value_text(v))),
    };
    json!({"key": key, "type": ty, "value": value})
}

fn str_tag(key: &str, value: &str) -> Value {
    json!({"key": key, "type": "string", "value": value})
}

fn tags(attrs: &[KeyValue], skip: &[&str]) -> Vec<Value> {
    attrs
        .iter()
        .filter(|kv| !skip.contains(&kv.key.as_str()))
        .map(|kv| tag(&kv.key, kv.value.as_ref().unwrap_or(&AnyValue::default())))
        .collect()
}

fn micros(ns: u64) -> u64 {
    ns / 1_000
}

fn span_id_u64(id: &[u8]) -> u64 {
    <[u8; 8]>::try_from(id).map_or(0, u64::from_be_bytes)
}

/// One span with where it came from.
struct Flat<'a> {
    span: &'a Span,
    process: usize,
    scope_name: &'a str,
    scope_version: &'a str,
    /// Replaced IDs (shared-span adjustment).
    span_id: u64,
    parent_id: u64,
}

/// A process: service name and tags, with the resource it was made from.
struct Process {
    service: String,
    tags: Vec<Value>,
}

/// Converts the `ResourceSpans` of one trace (as collated by trace lookup) into Jaeger's
/// trace object: `{traceID, spans, processes, warnings}`.
pub fn trace(resource_spans: &[ResourceSpans]) -> Value {
    let mut processes: Vec<Process> = Vec::new();
    let mut flat: Vec<Flat> = Vec::new();
    for rs in resource_spans {
        let attrs = rs
            .resource
            .as_ref()
            .map(|r| r.attributes.as_slice())
            .unwrap_or_default();
        let service = crate::otlp::service_name(rs.resource.as_ref())
            .unwrap_or("unknown_service")
            .to_string();
        let ptags = tags(attrs, &["service.name"]);
        let process = match processes
            .iter()
            .position(|p| p.service == service && p.tags == ptags)
        {
            Some(i) => i,
            None => {
                processes.push(Process {
                    service,
                    tags: ptags,
                });
                processes.len() - 1
            }
        };
        for ss in &rs.scope_spans {
            let (scope_name, scope_version) = ss
                .scope
                .as_ref()
                .map_or(("", ""), |s| (s.name.as_str(), s.version.as_str()));
            for span in &ss.spans {
                flat.push(Flat {
                    span,
                    process,
                    scope_name,
                    scope_version,
                    span_id: span_id_u64(&span.span_id),
                    parent_id: span_id_u64(&span.parent_span_id),
                });
            }
        }
    }
    dedupe_shared_ids(&mut flat);

    // Processes are numbered in order of first use by a span.
    let mut numbering: HashMap<usize, usize> = HashMap::new();
    for f in &flat {
        let next = numbering.len() + 1;
        numbering.entry(f.process).or_insert(next);
    }
    let trace_id = flat
        .first()
        .map(|f| trace_id_text(&f.span.trace_id))
        .unwrap_or_default();
    let spans: Vec<Value> = flat
        .iter()
        .map(|f| span(f, &trace_id, numbering[&f.process]))
        .collect();
    let mut procs = Map::new();
    let mut order: Vec<(usize, usize)> = numbering.into_iter().collect();
    order.sort_by_key(|(_, n)| *n);
    for (p, n) in order {
        procs.insert(
            format!("p{n}"),
            json!({"serviceName": processes[p].service, "tags": processes[p].tags}),
        );
    }
    json!({
        "traceID": trace_id,
        "spans": spans,
        "processes": procs,
        "warnings": Value::Null,
    })
}

/// Gives each server span sharing its ID with a client span a new unused ID, parented to
/// the client span. Other spans sharing an ID are left as they are, as Jaeger does.
fn dedupe_shared_ids(flat: &mut [Flat]) {
    let mut by_id: HashMap<u64, Vec<usize>> = HashMap::new();
    for (i, f) in flat.iter().enumerate() {
        by_id.entry(f.span_id).or_default().push(i);
    }
    let mut used: HashSet<u64> = by_id.keys().copied().collect();
    let mut next = used.iter().copied().max().unwrap_or(0);
    let mut dup: Vec<(u64, Vec<usize>)> = by_id.into_iter().filter(|(_, v)| v.len() > 1).collect();
    dup.sort_unstable_by_key(|(id, _)| *id);
    for (id, idx) in dup {
        let client = idx
            .iter()
            .any(|&i| flat[i].span.kind == SpanKind::Client as i32);
        if !client {
            continue;
        }
        for &i in &idx {
            if flat[i].span.kind == SpanKind::Server as i32 {
                let fresh = loop {
                    next = next.wrapping_add(1);
                    if next != 0 && used.insert(next) {
                        break next;
                    }
                };
                flat[i].span_id = fresh;
                flat[i].parent_id = id;
            }
        }
    }
}

fn span(f: &Flat, trace_id: &str, process: usize) -> Value {
    let s = f.span;
    let mut references = Vec::new();
    if f.parent_id != 0 {
        references.push(json!({
            "refType": "CHILD_OF",
            "traceID": trace_id,
            "spanID": format!("{:016x}", f.parent_id),
        }));
    }
    for l in &s.links {
        let child_of = l.attributes.iter().any(|kv| {
            kv.key == "opentracing.ref_type"
                && kv
                    .value
                    .as_ref()
                    .is_some_and(|v| value_text(v) == "child_of")
        });
        references.push(json!({
            "refType": if child_of { "CHILD_OF" } else { "FOLLOWS_FROM" },
            "traceID": trace_id_text(&l.trace_id),
            "spanID": hex::encode(&l.span_id),
        }));
    }
    let mut t = tags(&s.attributes, &[WARNINGS_ATTRIBUTE]);
    if !f.scope_name.is_empty() {
        t.push(str_tag("otel.scope.name", f.scope_name));
    }
    if !f.scope_version.is_empty() {
        t.push(str_tag("otel.scope.version", f.scope_version));
    }
    if let Some(k) = kind_keyword(s.kind) {
        t.push(str_tag("span.kind", k));
    }
    if let Some(st) = &s.status {
        match StatusCode::try_from(st.code) {
            Ok(StatusCode::Ok) => t.push(str_tag("otel.status_code", "OK")),
            Ok(StatusCode::Error) => {
                t.push(str_tag("otel.status_code", "ERROR"));
                if !s.attributes.iter().any(|kv| kv.key == "error") {
                    t.push(json!({"key": "error", "type": "bool", "value": true}));
                }
            }
            _ => {}
        }
        if !st.message.is_empty() {
            t.push(str_tag("otel.status_description", &st.message));
        }
    }
    if !s.trace_state.is_empty() {
        t.push(str_tag("w3c.tracestate", &s.trace_state));
    }
    let logs: Vec<Value> = s
        .events
        .iter()
        .map(|e| {
            let mut fields = Vec::with_capacity(e.attributes.len() + 1);
            if !e.name.is_empty() {
                fields.push(str_tag("event", &e.name));
            }
            fields.extend(tags(&e.attributes, &[]));
            json!({"timestamp": micros(e.time_unix_nano), "fields": fields})
        })
        .collect();
    let warnings: Vec<String> = s
        .attributes
        .iter()
        .filter(|kv| kv.key == WARNINGS_ATTRIBUTE)
        .flat_map(
            |kv| match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
                Some(any_value::Value::ArrayValue(a)) => a.values.iter().map(value_text).collect(),
                Some(_) => vec![value_text(kv.value.as_ref().expect("matched"))],
                None => Vec::new(),
            },
        )
        .collect();
    let mut out = Map::new();
    out.insert("traceID".into(), Value::String(trace_id.to_string()));
    out.insert(
        "spanID".into(),
        Value::String(format!("{:016x}", f.span_id)),
    );
    let flags = s.flags & 0xff;
    if flags != 0 {
        out.insert("flags".into(), Value::from(flags));
    }
    out.insert("operationName".into(), Value::String(s.name.clone()));
    out.insert("references".into(), Value::Array(references));
    out.insert(
        "startTime".into(),
        Value::from(micros(s.start_time_unix_nano)),
    );
    out.insert(
        "duration".into(),
        Value::from(micros(
            s.end_time_unix_nano.saturating_sub(s.start_time_unix_nano),
        )),
    );
    out.insert("tags".into(), Value::Array(t));
    out.insert("logs".into(), Value::Array(logs));
    out.insert("processID".into(), Value::String(format!("p{process}")));
    out.insert(
        "warnings".into(),
        if warnings.is_empty() {
            Value::Null
        } else {
            json!(warnings)
        },
    );
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::otlp::{
        ArrayValue, Event, InstrumentationScope, Link, Resource, ScopeSpans, Status, kv_int, kv_str,
    };

    fn rs(service: &str, spans: Vec<Span>) -> ResourceSpans {
        ResourceSpans {
            resource: Some(Resource {
                attributes: vec![kv_str("service.name", service), kv_str("host.name", "h1")],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                scope: Some(InstrumentationScope {
                    name: "lib".into(),
                    version: "1.2".into(),
                    ..Default::default()
                }),
                spans,
                ..Default::default()
            }],
            ..Default::default()
        }
    }

    fn span(id: u8, parent: u8, kind: SpanKind) -> Span {
        let mut trace_id = vec![0u8; 16];
        trace_id[15] = 1;
        Span {
            trace_id,
            span_id: vec![0, 0, 0, 0, 0, 0, 0, id],
            parent_span_id: if parent == 0 {
                vec![]
            } else {
                vec![0, 0, 0, 0, 0, 0, 0, parent]
            },
            name: format!("op{id}"),
            kind: kind as i32,
            start_time_unix_nano: 1_485_467_191_639_875_139,
            end_time_unix_nano: 1_485_467_191_639_875_139 + 5_000,
            ..Default::default()
        }
    }

    #[test]
    fn maps_fields_tags_logs_and_references() {
        let mut s = span(2, 0, SpanKind::Server);
        s.attributes = vec![
            kv_int("big", 9_223_372_036_854_775_222),
            kv_int("small", 23456),
            KeyValue {
                key: WARNINGS_ATTRIBUTE.into(),
                value: Some(AnyValue {
                    value: Some(any_value::Value::ArrayValue(ArrayValue {
                        values: vec![AnyValue {
                            value: Some(any_value::Value::StringValue("w1".into())),
                        }],
                    })),
                }),
                ..Default::default()
            },
        ];
        s.status = Some(Status {
            code: StatusCode::Error as i32,
            message: "boom".into(),
        });
        s.events = vec![Event {
            time_unix_nano: 1_485_467_191_639_875_139,
            name: "some-event".into(),
            attributes: vec![kv_str("x", "y")],
            ..Default::default()
        }];
        let mut c = span(3, 2, SpanKind::Client);
        c.links = vec![Link {
            trace_id: vec![0xff; 16],
            span_id: vec![0xff; 8],
            attributes: vec![kv_str("opentracing.ref_type", "child_of")],
            ..Default::default()
        }];
        let t = trace(&[rs("svc-a", vec![s]), rs("svc-b", vec![c])]);
        assert_eq!(t["traceID"], "0000000000000001");
        let s0 = &t["spans"][0];
        assert_eq!(s0["startTime"], 1_485_467_191_639_875u64);
        assert_eq!(s0["duration"], 5);
        assert_eq!(s0["processID"], "p1");
        assert_eq!(s0["warnings"], json!(["w1"]));
        let tags = s0["tags"].as_array().unwrap();
        assert_eq!(
            tags[0],
            json!({"key":"big","type":"int64","value":"9223372036854775222"})
        );
        assert_eq!(tags[1], json!({"key":"small","type":"int64","value":23456}));
        let keys: Vec<&str> = tags.iter().map(|t| t["key"].as_str().unwrap()).collect();
        assert_eq!(
            keys,
            [
                "big",
                "small",
                "otel.scope.name",
                "otel.scope.version",
                "span.kind",
                "otel.status_code",
                "error",
                "otel.status_description"
            ]
        );
        assert_eq!(
            s0["logs"][0]["fields"],
            json!([{"key":"event","type":"string","value":"some-event"},{"key":"x","type":"string","value":"y"}])
        );
        let s1 = &t["spans"][1];
        assert_eq!(
            s1["references"],
            json!([
                {"refType":"CHILD_OF","traceID":"0000000000000001","spanID":"0000000000000002"},
                {"refType":"CHILD_OF","traceID":"ffffffffffffffffffffffffffffffff","spanID":"ffffffffffffffff"}
            ])
        );
        assert_eq!(s1["processID"], "p2");
        assert_eq!(t["processes"]["p1"]["serviceName"], "svc-a");
        assert_eq!(
            t["processes"]["p2"]["tags"],
            json!([{"key":"host.name","type":"string","value":"h1"}])
        );
        assert_eq!(t["warnings"], Value::Null);
    }

    #[test]
    fn shared_server_span_gets_a_new_id_under_its_client() {
        let client = span(5, 1, SpanKind::Client);
        let server = span(5, 1, SpanKind::Server);
        let t = trace(&[rs("a", vec![client]), rs("b", vec![server])]);
        let spans = t["spans"].as_array().unwrap();
        assert_eq!(spans[0]["spanID"], "0000000000000005");
        assert_ne!(spans[1]["spanID"], "0000000000000005");
        assert_eq!(spans[1]["references"][0]["spanID"], "0000000000000005");
    }

    #[test]
    fn value_text_is_jaegers() {
        let v = |x| AnyValue { value: Some(x) };
        assert_eq!(value_text(&v(any_value::Value::DoubleValue(72.5))), "72.5");
        assert_eq!(value_text(&v(any_value::Value::DoubleValue(3.0))), "3");
        assert_eq!(value_text(&v(any_value::Value::IntValue(-123))), "-123");
        assert_eq!(value_text(&v(any_value::Value::BoolValue(true))), "true");
    }
}
