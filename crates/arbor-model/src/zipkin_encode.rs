//! OTLP → Zipkin v2 JSON, for the Zipkin query API.
//!
//! The reverse of [`crate::zipkin`]'s mapping, so spans sent in Zipkin's format come back as
//! they were sent, and the mapping of OpenTelemetry's Zipkin exporter for spans sent over OTLP:
//! - `traceId` with 16 hex digits when its high 8 bytes are zero, else 32; `id`, `parentId`.
//! - `kind` `CLIENT`/`SERVER`/`PRODUCER`/`CONSUMER`; none for internal or unspecified spans.
//! - `timestamp` and `duration` in microseconds (a duration under 1 µs is written as 1, as
//!   Zipkin drops a zero duration).
//! - `localEndpoint`: `serviceName` from the resource's `service.name`, `ipv4`/`ipv6`/`port`
//!   from `net.host.ip`/`net.host.ipv6`/`net.host.port`; `remoteEndpoint` from
//!   `peer.service`, `net.peer.ip`, `net.peer.ipv6`, `net.peer.port`.
//! - `annotations` from events: the event name, or with attributes `{"<name>":{…}}` as JSON.
//! - `tags`: every other span attribute as text, resource attributes other than
//!   `service.name`, `otel.scope.name`/`otel.scope.version`, `otel.status_code` (and
//!   `otel.status_description`) for a set status, `error` for an error status without an
//!   `error` attribute (its message, or empty), `w3c.tracestate`. An error status beside an
//!   `error` attribute (how Zipkin marks errors, and how they arrive from Zipkin) is left to
//!   that tag.
//! - `zipkin.debug` and `zipkin.shared` attributes become `debug` and `shared`.

use std::net::IpAddr;

use serde_json::{Map, Value, json};

use crate::jaeger::{plain_json, trace_id_text, value_text};
use crate::otlp::{AnyValue, KeyValue, ResourceSpans, Span, SpanKind, StatusCode, any_value};

const LOCAL: [&str; 3] = ["net.host.ip", "net.host.ipv6", "net.host.port"];
const REMOTE: [&str; 4] = [
    "peer.service",
    "net.peer.ip",
    "net.peer.ipv6",
    "net.peer.port",
];
const FLAGS: [&str; 2] = ["zipkin.debug", "zipkin.shared"];

/// The Zipkin `kind` of a span kind.
pub fn kind_name(kind: i32) -> Option<&'static str> {
    match SpanKind::try_from(kind).ok()? {
        SpanKind::Server => Some("SERVER"),
        SpanKind::Client => Some("CLIENT"),
        SpanKind::Producer => Some("PRODUCER"),
        SpanKind::Consumer => Some("CONSUMER"),
        SpanKind::Internal | SpanKind::Unspecified => None,
    }
}

fn attr<'a>(attrs: &'a [KeyValue], key: &str) -> Option<&'a AnyValue> {
    attrs.iter().find(|kv| kv.key == key)?.value.as_ref()
}

fn is_true(v: Option<&AnyValue>) -> bool {
    match v.and_then(|v| v.value.as_ref()) {
        Some(any_value::Value::BoolValue(b)) => *b,
        Some(any_value::Value::StringValue(s)) => s == "true",
        _ => false,
    }
}

/// An endpoint object from the attributes under `keys` (`[service?, ip, ipv6, port]`);
/// `None` when none is set.
fn endpoint(
    service: Option<String>,
    attrs: &[KeyValue],
    ip: &str,
    ipv6: &str,
    port: &str,
) -> Option<Value> {
    let mut out = Map::new();
    if let Some(s) = service.filter(|s| !s.is_empty()) {
        out.insert("serviceName".into(), Value::String(s));
    }
    if let Some(v) = attr(attrs, ip).map(value_text) {
        match v.parse::<IpAddr>() {
            Ok(IpAddr::V6(_)) => {
                out.insert("ipv6".into(), Value::String(v));
            }
            _ => {
                out.insert("ipv4".into(), Value::String(v));
            }
        }
    }
    if let Some(v) = attr(attrs, ipv6).map(value_text) {
        out.insert("ipv6".into(), Value::String(v));
    }
    if let Some(p) = attr(attrs, port).and_then(|v| value_text(v).parse::<u16>().ok()) {
        out.insert("port".into(), Value::from(p));
    }
    (!out.is_empty()).then_some(Value::Object(out))
}

/// One span in Zipkin v2 JSON.
pub fn span(span: &Span, resource: &[KeyValue], scope_name: &str, scope_version: &str) -> Value {
    let mut out = Map::new();
    out.insert(
        "traceId".into(),
        Value::String(trace_id_text(&span.trace_id)),
    );
    if !span.parent_span_id.is_empty() && span.parent_span_id.iter().any(|b| *b != 0) {
        out.insert(
            "parentId".into(),
            Value::String(hex::encode(&span.parent_span_id)),
        );
    }
    out.insert("id".into(), Value::String(hex::encode(&span.span_id)));
    if let Some(k) = kind_name(span.kind) {
        out.insert("kind".into(), Value::String(k.into()));
    }
    out.insert("name".into(), Value::String(span.name.clone()));
    out.insert(
        "timestamp".into(),
        Value::from(span.start_time_unix_nano / 1_000),
    );
    let dur = span
        .end_time_unix_nano
        .saturating_sub(span.start_time_unix_nano)
        / 1_000;
    out.insert("duration".into(), Value::from(dur.max(1)));
    // `service.name` when it is a string, as `otlp::service_name` reads it (without
    // copying the resource's attributes for every span).
    let service = attr(resource, "service.name").and_then(|v| match v.value.as_ref()? {
        any_value::Value::StringValue(s) => Some(s.clone()),
        _ => None,
    });
    let a = &span.attributes;
    if let Some(e) = endpoint(service, a, LOCAL[0], LOCAL[1], LOCAL[2]) {
        out.insert("localEndpoint".into(), e);
    }
    let peer = attr(a, REMOTE[0]).map(value_text);
    if let Some(e) = endpoint(peer, a, REMOTE[1], REMOTE[2], REMOTE[3]) {
        out.insert("remoteEndpoint".into(), e);
    }
    let annotations: Vec<Value> = span
        .events
        .iter()
        .map(|e| {
            let value = if e.attributes.is_empty() {
                e.name.clone()
            } else {
                let attrs: Map<String, Value> = e
                    .attributes
                    .iter()
                    .map(|kv| {
                        (
                            kv.key.clone(),
                            kv.value.as_ref().map_or(Value::Null, plain_json),
                        )
                    })
                    .collect();
                json!({ e.name.clone(): attrs }).to_string()
            };
            json!({"timestamp": e.time_unix_nano / 1_000, "value": value})
        })
        .collect();
    if !annotations.is_empty() {
        out.insert("annotations".into(), Value::Array(annotations));
    }
    let mut tags = Map::new();
    for kv in resource.iter().filter(|kv| kv.key != "service.name") {
        tags.insert(
            kv.key.clone(),
            Value::String(kv.value.as_ref().map(value_text).unwrap_or_default()),
        );
    }
    if !scope_name.is_empty() {
        tags.insert("otel.scope.name".into(), Value::String(scope_name.into()));
    }
    if !scope_version.is_empty() {
        tags.insert(
            "otel.scope.version".into(),
            Value::String(scope_version.into()),
        );
    }
    for kv in a {
        let k = kv.key.as_str();
        if LOCAL.contains(&k) || REMOTE.contains(&k) || FLAGS.contains(&k) {
            continue;
        }
        tags.insert(
            kv.key.clone(),
            Value::String(kv.value.as_ref().map(value_text).unwrap_or_default()),
        );
    }
    // An error status next to an `error` attribute came from that tag (Zipkin's way of
    // marking errors): the tag alone says it, as it was sent.
    let from_error_tag = attr(a, "error").is_some();
    if let Some(st) = span
        .status
        .as_ref()
        .filter(|st| !(from_error_tag && st.code == StatusCode::Error as i32))
    {
        match StatusCode::try_from(st.code) {
            Ok(StatusCode::Ok) => {
                tags.insert("otel.status_code".into(), Value::String("OK".into()));
            }
            Ok(StatusCode::Error) => {
                tags.insert("otel.status_code".into(), Value::String("ERROR".into()));
                tags.entry("error")
                    .or_insert_with(|| Value::String(st.message.clone()));
            }
            _ => {}
        }
        if !st.message.is_empty() {
            tags.insert(
                "otel.status_description".into(),
                Value::String(st.message.clone()),
            );
        }
    }
    if !span.trace_state.is_empty() {
        tags.insert(
            "w3c.tracestate".into(),
            Value::String(span.trace_state.clone()),
        );
    }
    if !tags.is_empty() {
        out.insert("tags".into(), Value::Object(tags));
    }
    if is_true(attr(a, "zipkin.debug")) {
        out.insert("debug".into(), Value::Bool(true));
    }
    if is_true(attr(a, "zipkin.shared")) {
        out.insert("shared".into(), Value::Bool(true));
    }
    Value::Object(out)
}

/// Every span of a trace's `ResourceSpans`, in order.
pub fn trace(resource_spans: &[ResourceSpans]) -> Vec<Value> {
    let mut out = Vec::new();
    for rs in resource_spans {
        let resource = rs
            .resource
            .as_ref()
            .map(|r| r.attributes.as_slice())
            .unwrap_or_default();
        for ss in &rs.scope_spans {
            let (name, version) = ss
                .scope
                .as_ref()
                .map_or(("", ""), |s| (s.name.as_str(), s.version.as_str()));
            out.extend(ss.spans.iter().map(|s| span(s, resource, name, version)));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zipkin_json_survives_a_round_trip() {
        let sent = json!([
            {"traceId":"5af7183fb1d4cf5f","parentId":"6b221d5bc9e6496c","id":"352bff9a74ca9ad2",
             "kind":"CLIENT","name":"get /api","timestamp":1556604172355737u64,"duration":1431,
             "localEndpoint":{"serviceName":"frontend","ipv4":"192.168.99.1","port":3306},
             "remoteEndpoint":{"serviceName":"backend","ipv4":"172.19.0.2","port":9000},
             "annotations":[{"timestamp":1556604172355800u64,"value":"ws"}],
             "tags":{"http.method":"GET","http.path":"/api","error":"timeout"},
             "shared":true}
        ]);
        let decoded = crate::zipkin::decode_v2_json(sent.to_string().as_bytes()).unwrap();
        assert!(decoded.rejected.is_empty());
        let back = trace(&decoded.request.resource_spans);
        assert_eq!(back, vec![sent[0].clone()]);
    }
}
