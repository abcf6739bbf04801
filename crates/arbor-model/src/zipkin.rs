//! Zipkin v2 → OTLP.
//!
//! Reads a Zipkin v2 span list, as JSON ([`decode_v2_json`], the body of `POST /api/v2/spans`)
//! or as protobuf `zipkin.proto3.ListOfSpans` ([`decode_v2_proto`]), into an OTLP request.
//! The mapping follows the OpenTelemetry Collector's Zipkin receiver, with the choices below
//! made so that everything Zipkin sends survives as something queryable.
//!
//! # Grouping
//! - One `ResourceSpans` per distinct `localEndpoint.serviceName`, in order of first
//!   appearance, whose resource has the single attribute `service.name`. A span without a local
//!   service name goes to `service.name = "unknown_service"` ([`UNKNOWN_SERVICE`], the OTel SDK
//!   default), so it stays findable by service.
//! - Each resource holds one `ScopeSpans` with no scope: Zipkin has no instrumentation scope and
//!   none is invented. (Tags such as `otel.library.name` stay span attributes.)
//!
//! # Identifiers
//! - `traceId`: JSON hex of 1–32 digits, left-padded with zeros to 16 bytes (so a 64-bit ID of
//!   16 digits becomes `0000000000000000` + the ID); protobuf 8 or 16 bytes, 8 padded the same.
//! - `id`: hex of 1–16 digits (protobuf: 8 bytes), left-padded to 8 bytes.
//! - `parentId`: same form; absent, empty or all zeros means a root span, and a parent equal
//!   to the span's own ID is dropped (it would make the span its own ancestor).
//! - A span whose IDs cannot be read (not hex, too long, missing, all-zero trace or span ID) is
//!   left out with a reason in [`Decoded::rejected`] (`spans[3]: traceId is not hex: "zz"`);
//!   its neighbours are kept. So is a span without `timestamp` (Zipkin's "late data" that a
//!   Zipkin server merges with another part of the span; a stored span needs a start time).
//!
//! # Span fields
//! - `name` → name. `timestamp` (µs since epoch) → start time in ns; start + `duration` (µs) →
//!   end time.
//! - `kind`: CLIENT/SERVER/PRODUCER/CONSUMER (any case) → Client/Server/Producer/Consumer.
//!   Absent → `SPAN_KIND_UNSPECIFIED`, as the Collector does (Zipkin has no "internal", and an
//!   absent kind may also mean incomplete data), except that the tag `span.kind` with one of
//!   internal/client/server/producer/consumer (written by OTel's Zipkin exporter) sets the kind
//!   and is removed. Any other kind → unspecified, with the value kept in attribute `zipkin.kind`.
//! - `tags` → string attributes, in the order sent (JSON numbers and booleans in tags, which
//!   some clients send, are kept as their text). Removed because they become OTLP fields:
//!   `otel.status_code`, `otel.status_description`, `w3c.tracestate` (→ trace state), and
//!   `span.kind` as above.
//! - Status: `otel.status_code` (`OK`/`ERROR`/`UNSET`, or `STATUS_CODE_…`, any case) with
//!   `otel.status_description` as message, if present and recognised. Otherwise a tag `error`
//!   (any value) → `STATUS_CODE_ERROR` with the tag's value as message, except that `""` and
//!   `"true"` (a flag, not a message) give an empty message. The `error` tag is *kept* as an
//!   attribute, since Zipkin users search by it. Otherwise no status.
//! - `annotations` → events: timestamp µs → ns, value → event name.
//! - `localEndpoint` ipv4/ipv6/port → span attributes `net.host.ip` / `net.host.port`, and
//!   `remoteEndpoint` serviceName/ipv4/ipv6/port → `peer.service`, `net.peer.ip`,
//!   `net.peer.port` (the Collector's names). `*.ip` holds the IPv4 address, or the IPv6 one if
//!   there is no IPv4; when both are sent the IPv6 one goes to `net.host.ipv6` /
//!   `net.peer.ipv6`. Ports are integers and only written when positive. They are span
//!   attributes, not resource attributes, because spans of one service share a resource.
//! - `debug: true` → attribute `zipkin.debug = true`; `shared: true` → `zipkin.shared = true`.
//!
//! # Errors
//! A body that is not a JSON array of spans (or not a `ListOfSpans`) is a [`ZipkinError`] that
//! says where. JSON `null` for a field means absent; unknown fields are ignored.

use std::collections::HashMap;
use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

use prost::Message as _;
use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, Visitor};

use crate::ids::{IdError, SpanId, TraceId};
use crate::otlp::{
    AnyValue, Event, ExportTraceServiceRequest, KeyValue, Resource, ResourceSpans, ScopeSpans,
    Span, SpanKind, Status, StatusCode, any_value, kv_bool, kv_int, kv_str,
};
use crate::otlp_json::{Int, from_json_slice, int_or_zero};

pub use crate::otlp_json::{Decoded, JsonError, RejectedSpan};

/// `service.name` of spans whose local endpoint has no service name.
pub const UNKNOWN_SERVICE: &str = "unknown_service";

/// A body that could not be decoded at all.
#[derive(thiserror::Error, Debug)]
pub enum ZipkinError {
    #[error("Zipkin v2 JSON: {0}")]
    Json(JsonError),
    #[error("malformed Zipkin v2 protobuf (ListOfSpans): {0}")]
    Proto(prost::DecodeError),
}

/// Decodes a JSON array of Zipkin v2 spans.
pub fn decode_v2_json(body: &[u8]) -> Result<Decoded, ZipkinError> {
    let spans: Vec<JsonSpan> = from_json_slice(body).map_err(ZipkinError::Json)?;
    Ok(assemble(spans.into_iter().map(ZipkinSpan::from_json)))
}

/// Decodes a protobuf `zipkin.proto3.ListOfSpans`.
pub fn decode_v2_proto(body: &[u8]) -> Result<Decoded, ZipkinError> {
    let list = proto::ListOfSpans::decode(body).map_err(ZipkinError::Proto)?;
    Ok(assemble(list.spans.into_iter().map(ZipkinSpan::from_proto)))
}

/// The protobuf messages of Zipkin's `zipkin.proto3` package, written by hand.
pub mod proto {
    use std::collections::BTreeMap;

    /// A list of spans with possibly different trace IDs.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ListOfSpans {
        #[prost(message, repeated, tag = "1")]
        pub spans: Vec<Span>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Span {
        /// 8 or 16 bytes, big endian.
        #[prost(bytes = "vec", tag = "1")]
        pub trace_id: Vec<u8>,
        /// Empty for a root span, else 8 bytes.
        #[prost(bytes = "vec", tag = "2")]
        pub parent_id: Vec<u8>,
        /// 8 bytes.
        #[prost(bytes = "vec", tag = "3")]
        pub id: Vec<u8>,
        #[prost(enumeration = "Kind", tag = "4")]
        pub kind: i32,
        #[prost(string, tag = "5")]
        pub name: String,
        /// Epoch microseconds.
        #[prost(fixed64, tag = "6")]
        pub timestamp: u64,
        /// Microseconds.
        #[prost(uint64, tag = "7")]
        pub duration: u64,
        #[prost(message, optional, tag = "8")]
        pub local_endpoint: Option<Endpoint>,
        #[prost(message, optional, tag = "9")]
        pub remote_endpoint: Option<Endpoint>,
        #[prost(message, repeated, tag = "10")]
        pub annotations: Vec<Annotation>,
        #[prost(btree_map = "string, string", tag = "11")]
        pub tags: BTreeMap<String, String>,
        #[prost(bool, tag = "12")]
        pub debug: bool,
        #[prost(bool, tag = "13")]
        pub shared: bool,
    }

    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
    #[repr(i32)]
    pub enum Kind {
        Unspecified = 0,
        Client = 1,
        Server = 2,
        Producer = 3,
        Consumer = 4,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Endpoint {
        #[prost(string, tag = "1")]
        pub service_name: String,
        /// 4 bytes.
        #[prost(bytes = "vec", tag = "2")]
        pub ipv4: Vec<u8>,
        /// 16 bytes.
        #[prost(bytes = "vec", tag = "3")]
        pub ipv6: Vec<u8>,
        #[prost(int32, tag = "4")]
        pub port: i32,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Annotation {
        /// Epoch microseconds.
        #[prost(fixed64, tag = "1")]
        pub timestamp: u64,
        #[prost(string, tag = "2")]
        pub value: String,
    }
}

// ---------------------------------------------------------------------------------------------
// The JSON form as sent
// ---------------------------------------------------------------------------------------------

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct JsonSpan {
    trace_id: Option<String>,
    id: Option<String>,
    parent_id: Option<String>,
    name: Option<String>,
    kind: Option<String>,
    timestamp: Option<Int<u64>>,
    duration: Option<Int<u64>>,
    debug: Option<bool>,
    shared: Option<bool>,
    local_endpoint: Option<JsonEndpoint>,
    remote_endpoint: Option<JsonEndpoint>,
    annotations: Option<Vec<JsonAnnotation>>,
    tags: Option<Tags>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct JsonEndpoint {
    service_name: Option<String>,
    ipv4: Option<String>,
    ipv6: Option<String>,
    port: Option<Int<i32>>,
}

#[derive(Deserialize)]
struct JsonAnnotation {
    timestamp: Option<Int<u64>>,
    value: Option<String>,
}

/// Tags in the order sent. Values are strings in the spec; numbers and booleans are taken as
/// their text and `null` as no tag, since clients send them.
struct Tags(Vec<(String, String)>);

impl<'de> Deserialize<'de> for Tags {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(TagsVisitor)
    }
}

struct TagsVisitor;

impl<'de> Visitor<'de> for TagsVisitor {
    type Value = Tags;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object of string tags")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Tags, A::Error> {
        let mut tags = Vec::with_capacity(map.size_hint().unwrap_or(0));
        while let Some(key) = map.next_key::<String>()? {
            if let Some(TagValue(value)) = map.next_value::<Option<TagValue>>()? {
                tags.push((key, value));
            }
        }
        Ok(Tags(tags))
    }
}

struct TagValue(String);

impl<'de> Deserialize<'de> for TagValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(TagValueVisitor).map(TagValue)
    }
}

struct TagValueVisitor;

impl<'de> Visitor<'de> for TagValueVisitor {
    type Value = String;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a string tag value")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<String, E> {
        Ok(v.to_string())
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<String, E> {
        Ok(v)
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<String, E> {
        Ok(v.to_string())
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<String, E> {
        Ok(v.to_string())
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<String, E> {
        Ok(v.to_string())
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<String, E> {
        Ok(v.to_string())
    }
}

// ---------------------------------------------------------------------------------------------
// One span, whichever encoding it came in
// ---------------------------------------------------------------------------------------------

struct ZipkinSpan {
    trace_id: TraceId,
    span_id: SpanId,
    parent_id: Option<SpanId>,
    name: String,
    kind: ZipkinKind,
    timestamp_us: u64,
    duration_us: u64,
    local: Endpoint,
    remote: Option<Endpoint>,
    annotations: Vec<(u64, String)>,
    tags: Vec<(String, String)>,
    debug: bool,
    shared: bool,
}

enum ZipkinKind {
    Absent,
    Known(SpanKind),
    Unknown(String),
}

#[derive(Default)]
struct Endpoint {
    service_name: String,
    ipv4: Option<String>,
    ipv6: Option<String>,
    port: i32,
}

impl ZipkinSpan {
    fn from_json(s: JsonSpan) -> Result<Self, String> {
        let trace_id = trace_id_from_hex(s.trace_id.as_deref())?;
        let span_id = span_id_from_hex("id", s.id.as_deref())?.ok_or("id is missing")?;
        let parent_id = parent_id_from_hex(s.parent_id.as_deref())?;
        Ok(Self {
            trace_id,
            span_id,
            parent_id: parent_id.filter(|p| *p != span_id),
            name: s.name.unwrap_or_default(),
            kind: kind_from_name(s.kind),
            timestamp_us: required_timestamp(int_or_zero(s.timestamp))?,
            duration_us: int_or_zero(s.duration),
            local: s.local_endpoint.map(endpoint_from_json).unwrap_or_default(),
            remote: s.remote_endpoint.map(endpoint_from_json),
            annotations: s
                .annotations
                .unwrap_or_default()
                .into_iter()
                .map(|a| (int_or_zero(a.timestamp), a.value.unwrap_or_default()))
                .collect(),
            tags: s.tags.map(|t| t.0).unwrap_or_default(),
            debug: s.debug.unwrap_or(false),
            shared: s.shared.unwrap_or(false),
        })
    }

    fn from_proto(s: proto::Span) -> Result<Self, String> {
        let trace_id = trace_id_from_bytes(&s.trace_id)?;
        let span_id = span_id_from_bytes(&s.id)?;
        let parent_id = parent_id_from_bytes(&s.parent_id)?;
        Ok(Self {
            trace_id,
            span_id,
            parent_id: parent_id.filter(|p| *p != span_id),
            name: s.name,
            kind: kind_from_proto(s.kind),
            timestamp_us: required_timestamp(s.timestamp)?,
            duration_us: s.duration,
            local: s
                .local_endpoint
                .map(endpoint_from_proto)
                .unwrap_or_default(),
            remote: s.remote_endpoint.map(endpoint_from_proto),
            annotations: s
                .annotations
                .into_iter()
                .map(|a| (a.timestamp, a.value))
                .collect(),
            tags: s.tags.into_iter().collect(),
            debug: s.debug,
            shared: s.shared,
        })
    }
}

fn required_timestamp(timestamp_us: u64) -> Result<u64, String> {
    if timestamp_us == 0 {
        return Err("timestamp is missing".to_string());
    }
    Ok(timestamp_us)
}

fn id_reason(field: &str, e: IdError) -> String {
    match e {
        IdError::NotHex { input, .. } => format!("{field} is not hex: {input:?}"),
        IdError::TooLong { got, max, .. } => {
            format!("{field} has {got} hex digits, at most {max} allowed")
        }
        IdError::Zero { .. } => format!("{field} is all zeros"),
        IdError::WrongLength { expected, got, .. } => {
            format!("{field} must be {expected} bytes, got {got}")
        }
    }
}

fn trace_id_from_hex(hex: Option<&str>) -> Result<TraceId, String> {
    match hex {
        None | Some("") => Err("traceId is missing".to_string()),
        Some(hex) => TraceId::from_hex(hex).map_err(|e| id_reason("traceId", e)),
    }
}

/// A span ID, or none when the field is absent or empty.
fn span_id_from_hex(field: &str, hex: Option<&str>) -> Result<Option<SpanId>, String> {
    match hex {
        None | Some("") => Ok(None),
        Some(hex) => SpanId::from_hex(hex)
            .map(Some)
            .map_err(|e| id_reason(field, e)),
    }
}

/// All zeros is how some tracers write "no parent".
fn parent_id_from_hex(hex: Option<&str>) -> Result<Option<SpanId>, String> {
    match span_id_from_hex("parentId", hex) {
        Err(_) if hex.is_some_and(is_all_zero_hex) => Ok(None),
        other => other,
    }
}

fn is_all_zero_hex(s: &str) -> bool {
    s.trim().bytes().all(|b| b == b'0')
}

fn trace_id_from_bytes(bytes: &[u8]) -> Result<TraceId, String> {
    let mut full = [0u8; TraceId::LEN];
    match bytes.len() {
        0 => return Err("traceId is missing".to_string()),
        8 => full[8..].copy_from_slice(bytes),
        16 => full.copy_from_slice(bytes),
        n => return Err(format!("traceId must be 8 or 16 bytes, got {n}")),
    }
    TraceId::from_bytes(&full).map_err(|e| id_reason("traceId", e))
}

fn span_id_from_bytes(bytes: &[u8]) -> Result<SpanId, String> {
    if bytes.is_empty() {
        return Err("id is missing".to_string());
    }
    SpanId::from_bytes(bytes).map_err(|e| id_reason("id", e))
}

fn parent_id_from_bytes(bytes: &[u8]) -> Result<Option<SpanId>, String> {
    if bytes.iter().all(|b| *b == 0) {
        // Empty, or all zeros: a root span.
        return Ok(None);
    }
    SpanId::from_bytes(bytes)
        .map(Some)
        .map_err(|e| id_reason("parentId", e))
}

fn kind_from_name(name: Option<String>) -> ZipkinKind {
    let Some(name) = name.filter(|n| !n.is_empty()) else {
        return ZipkinKind::Absent;
    };
    let known = [
        ("CLIENT", SpanKind::Client),
        ("SERVER", SpanKind::Server),
        ("PRODUCER", SpanKind::Producer),
        ("CONSUMER", SpanKind::Consumer),
    ];
    match known.iter().find(|(n, _)| n.eq_ignore_ascii_case(&name)) {
        Some((_, kind)) => ZipkinKind::Known(*kind),
        None => ZipkinKind::Unknown(name),
    }
}

fn kind_from_proto(kind: i32) -> ZipkinKind {
    match proto::Kind::try_from(kind) {
        Ok(proto::Kind::Unspecified) => ZipkinKind::Absent,
        Ok(proto::Kind::Client) => ZipkinKind::Known(SpanKind::Client),
        Ok(proto::Kind::Server) => ZipkinKind::Known(SpanKind::Server),
        Ok(proto::Kind::Producer) => ZipkinKind::Known(SpanKind::Producer),
        Ok(proto::Kind::Consumer) => ZipkinKind::Known(SpanKind::Consumer),
        Err(_) => ZipkinKind::Unknown(kind.to_string()),
    }
}

fn endpoint_from_json(e: JsonEndpoint) -> Endpoint {
    Endpoint {
        service_name: e.service_name.unwrap_or_default(),
        ipv4: e.ipv4.filter(|s| !s.is_empty()),
        ipv6: e.ipv6.filter(|s| !s.is_empty()),
        port: int_or_zero(e.port),
    }
}

fn endpoint_from_proto(e: proto::Endpoint) -> Endpoint {
    Endpoint {
        service_name: e.service_name,
        ipv4: ipv4_text(&e.ipv4),
        ipv6: ipv6_text(&e.ipv6),
        port: e.port,
    }
}

/// An address in its usual text form; bytes of the wrong length are kept as hex rather than
/// lost.
fn ipv4_text(bytes: &[u8]) -> Option<String> {
    match <[u8; 4]>::try_from(bytes) {
        _ if bytes.is_empty() => None,
        Ok(b) => Some(Ipv4Addr::from(b).to_string()),
        Err(_) => Some(hex::encode(bytes)),
    }
}

/// As [`ipv4_text`], for 16-byte IPv6 addresses.
fn ipv6_text(bytes: &[u8]) -> Option<String> {
    match <[u8; 16]>::try_from(bytes) {
        _ if bytes.is_empty() => None,
        Ok(b) => Some(Ipv6Addr::from(b).to_string()),
        Err(_) => Some(hex::encode(bytes)),
    }
}

// ---------------------------------------------------------------------------------------------
// Zipkin → OTLP
// ---------------------------------------------------------------------------------------------

/// Groups converted spans by service, keeping the order services first appear in.
fn assemble(spans: impl Iterator<Item = Result<ZipkinSpan, String>>) -> Decoded {
    let mut groups: Vec<(String, Vec<Span>)> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    let mut rejected = Vec::new();
    for (i, span) in spans.enumerate() {
        match span {
            Ok(z) => {
                let (service, span) = z.into_otlp();
                let at = *index.entry(service.clone()).or_insert_with(|| {
                    groups.push((service, Vec::new()));
                    groups.len() - 1
                });
                groups[at].1.push(span);
            }
            Err(reason) => rejected.push(RejectedSpan {
                reason: format!("spans[{i}]: {reason}"),
            }),
        }
    }
    let resource_spans = groups
        .into_iter()
        .map(|(service, spans)| resource_spans(&service, spans))
        .collect();
    Decoded {
        request: ExportTraceServiceRequest { resource_spans },
        rejected,
    }
}

fn resource_spans(service: &str, spans: Vec<Span>) -> ResourceSpans {
    ResourceSpans {
        resource: Some(Resource {
            attributes: vec![kv_str("service.name", service)],
            ..Default::default()
        }),
        scope_spans: vec![ScopeSpans {
            scope: None,
            spans,
            schema_url: String::new(),
        }],
        schema_url: String::new(),
    }
}

/// Attribute names for one side of the connection.
struct EndpointKeys {
    ip: &'static str,
    ipv6_when_both: &'static str,
    port: &'static str,
}

const LOCAL_KEYS: EndpointKeys = EndpointKeys {
    ip: "net.host.ip",
    ipv6_when_both: "net.host.ipv6",
    port: "net.host.port",
};

const REMOTE_KEYS: EndpointKeys = EndpointKeys {
    ip: "net.peer.ip",
    ipv6_when_both: "net.peer.ipv6",
    port: "net.peer.port",
};

impl ZipkinSpan {
    /// The OTLP span and the service it belongs to.
    fn into_otlp(self) -> (String, Span) {
        let mut tags = self.tags;
        let trace_state = take_tag(&mut tags, "w3c.tracestate").unwrap_or_default();
        let (kind, unknown_kind) = resolve_kind(self.kind, &mut tags);
        let status = take_status(&mut tags);

        let mut attributes: Vec<KeyValue> = Vec::with_capacity(tags.len() + 8);
        attributes.extend(tags.into_iter().map(|(k, v)| string_kv(k, v)));
        if let Some(raw) = unknown_kind {
            attributes.push(string_kv("zipkin.kind".into(), raw));
        }
        push_endpoint(&mut attributes, &self.local, &LOCAL_KEYS);
        if let Some(remote) = &self.remote {
            if !remote.service_name.is_empty() {
                attributes.push(kv_str("peer.service", &remote.service_name));
            }
            push_endpoint(&mut attributes, remote, &REMOTE_KEYS);
        }
        if self.debug {
            attributes.push(kv_bool("zipkin.debug", true));
        }
        if self.shared {
            attributes.push(kv_bool("zipkin.shared", true));
        }

        let start = micros_to_nanos(self.timestamp_us);
        let span = Span {
            trace_id: self.trace_id.as_bytes().to_vec(),
            span_id: self.span_id.as_bytes().to_vec(),
            trace_state,
            parent_span_id: self
                .parent_id
                .map(|p| p.as_bytes().to_vec())
                .unwrap_or_default(),
            name: self.name,
            kind: kind as i32,
            start_time_unix_nano: start,
            end_time_unix_nano: start.saturating_add(micros_to_nanos(self.duration_us)),
            attributes,
            events: self.annotations.into_iter().map(annotation_event).collect(),
            status,
            ..Default::default()
        };
        let service = match self.local.service_name {
            s if s.is_empty() => UNKNOWN_SERVICE.to_string(),
            s => s,
        };
        (service, span)
    }
}

fn micros_to_nanos(us: u64) -> u64 {
    us.saturating_mul(1000)
}

fn annotation_event((timestamp_us, value): (u64, String)) -> Event {
    Event {
        time_unix_nano: micros_to_nanos(timestamp_us),
        name: value,
        ..Default::default()
    }
}

fn string_kv(key: String, value: String) -> KeyValue {
    KeyValue {
        key,
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value)),
        }),
        ..Default::default()
    }
}

fn push_endpoint(attributes: &mut Vec<KeyValue>, endpoint: &Endpoint, keys: &EndpointKeys) {
    match (&endpoint.ipv4, &endpoint.ipv6) {
        (Some(v4), Some(v6)) => {
            attributes.push(kv_str(keys.ip, v4));
            attributes.push(kv_str(keys.ipv6_when_both, v6));
        }
        (Some(ip), None) | (None, Some(ip)) => attributes.push(kv_str(keys.ip, ip)),
        (None, None) => {}
    }
    if endpoint.port > 0 {
        attributes.push(kv_int(keys.port, i64::from(endpoint.port)));
    }
}

fn tag_value<'a>(tags: &'a [(String, String)], key: &str) -> Option<&'a str> {
    tags.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

fn take_tag(tags: &mut Vec<(String, String)>, key: &str) -> Option<String> {
    let at = tags.iter().position(|(k, _)| k == key)?;
    Some(tags.remove(at).1)
}

/// The span kind, and the raw kind when it was not one Zipkin defines.
fn resolve_kind(kind: ZipkinKind, tags: &mut Vec<(String, String)>) -> (SpanKind, Option<String>) {
    match kind {
        ZipkinKind::Known(kind) => (kind, None),
        ZipkinKind::Unknown(raw) => (SpanKind::Unspecified, Some(raw)),
        ZipkinKind::Absent => match tag_value(tags, "span.kind").and_then(kind_from_tag) {
            Some(kind) => {
                take_tag(tags, "span.kind");
                (kind, None)
            }
            None => (SpanKind::Unspecified, None),
        },
    }
}

/// The `span.kind` tag OTel's Zipkin exporter writes for kinds Zipkin lacks.
fn kind_from_tag(value: &str) -> Option<SpanKind> {
    let known = [
        ("internal", SpanKind::Internal),
        ("client", SpanKind::Client),
        ("server", SpanKind::Server),
        ("producer", SpanKind::Producer),
        ("consumer", SpanKind::Consumer),
    ];
    known
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(value))
        .map(|(_, kind)| *kind)
}

fn take_status(tags: &mut Vec<(String, String)>) -> Option<Status> {
    take_otel_status(tags).or_else(|| error_tag_status(tags))
}

/// Status from OTel's own tags; left alone if the code is not one OTel defines.
fn take_otel_status(tags: &mut Vec<(String, String)>) -> Option<Status> {
    let code = status_code_named(tag_value(tags, "otel.status_code")?)?;
    take_tag(tags, "otel.status_code");
    Some(Status {
        message: take_tag(tags, "otel.status_description").unwrap_or_default(),
        code: code as i32,
    })
}

fn status_code_named(name: &str) -> Option<StatusCode> {
    let upper = name.trim().to_ascii_uppercase();
    match upper.strip_prefix("STATUS_CODE_").unwrap_or(&upper) {
        "OK" => Some(StatusCode::Ok),
        "ERROR" => Some(StatusCode::Error),
        "UNSET" => Some(StatusCode::Unset),
        _ => None,
    }
}

/// Zipkin marks a failed span with an `error` tag whose value is the message.
fn error_tag_status(tags: &[(String, String)]) -> Option<Status> {
    let value = tag_value(tags, "error")?;
    let message = if value.is_empty() || value.eq_ignore_ascii_case("true") {
        String::new()
    } else {
        value.to_string()
    };
    Some(Status {
        message,
        code: StatusCode::Error as i32,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    const TRACE: &str = "5af7183fb1d4cf5f5af7183fb1d4cf5f";

    fn decode(spans: Value) -> Decoded {
        decode_v2_json(spans.to_string().as_bytes()).unwrap()
    }

    fn base(id: &str) -> Value {
        json!({
            "traceId": TRACE, "id": id, "name": "get /api",
            "timestamp": 1_700_000_000_000_000u64, "duration": 1500,
            "localEndpoint": {"serviceName": "frontend"}
        })
    }

    fn with(mut span: Value, extra: Value) -> Value {
        for (k, v) in extra.as_object().unwrap() {
            span[k] = v.clone();
        }
        span
    }

    fn only_span(d: &Decoded) -> &Span {
        assert_eq!(d.rejected, vec![], "unexpected rejections");
        &d.request.resource_spans[0].scope_spans[0].spans[0]
    }

    fn decode_one(span: Value) -> Span {
        only_span(&decode(json!([span]))).clone()
    }

    fn attr<'a>(span: &'a Span, key: &str) -> Option<&'a any_value::Value> {
        span.attributes
            .iter()
            .find(|kv| kv.key == key)
            .and_then(|kv| kv.value.as_ref()?.value.as_ref())
    }

    fn str_attr<'a>(span: &'a Span, key: &str) -> Option<&'a str> {
        match attr(span, key)? {
            any_value::Value::StringValue(s) => Some(s),
            other => panic!("{key} is not a string: {other:?}"),
        }
    }

    fn services(d: &Decoded) -> Vec<&str> {
        d.request
            .resource_spans
            .iter()
            .map(|rs| crate::otlp::service_name(rs.resource.as_ref()).unwrap())
            .collect()
    }

    #[test]
    fn basic_fields() {
        let d = decode(json!([with(
            base("352bff9a74ca9ad2"),
            json!({"parentId": "6b221d5bc9e6496c", "kind": "SERVER"})
        )]));
        let s = only_span(&d);
        assert_eq!(hex::encode(&s.trace_id), TRACE);
        assert_eq!(hex::encode(&s.span_id), "352bff9a74ca9ad2");
        assert_eq!(hex::encode(&s.parent_span_id), "6b221d5bc9e6496c");
        assert_eq!(s.name, "get /api");
        assert_eq!(s.kind, SpanKind::Server as i32);
        assert_eq!(s.start_time_unix_nano, 1_700_000_000_000_000_000);
        assert_eq!(s.end_time_unix_nano, 1_700_000_000_001_500_000);
        assert_eq!(s.status, None);
        assert!(s.attributes.is_empty());
        let rs = &d.request.resource_spans[0];
        assert_eq!(services(&d), vec!["frontend"]);
        assert_eq!(rs.resource.as_ref().unwrap().attributes.len(), 1);
        assert_eq!(rs.scope_spans.len(), 1);
        assert_eq!(rs.scope_spans[0].scope, None);
    }

    #[test]
    fn kinds() {
        let kind_of = |extra: Value| decode_one(with(base("01"), extra)).kind;
        assert_eq!(kind_of(json!({"kind": "CLIENT"})), SpanKind::Client as i32);
        assert_eq!(kind_of(json!({"kind": "SERVER"})), SpanKind::Server as i32);
        assert_eq!(
            kind_of(json!({"kind": "PRODUCER"})),
            SpanKind::Producer as i32
        );
        assert_eq!(
            kind_of(json!({"kind": "consumer"})),
            SpanKind::Consumer as i32
        );
        assert_eq!(kind_of(json!({})), SpanKind::Unspecified as i32);
        assert_eq!(kind_of(json!({"kind": null})), SpanKind::Unspecified as i32);

        let s = decode_one(with(base("01"), json!({"tags": {"span.kind": "internal"}})));
        assert_eq!(s.kind, SpanKind::Internal as i32);
        assert!(s.attributes.is_empty(), "span.kind tag consumed");

        // An explicit kind wins over the tag, which then stays an attribute.
        let s = decode_one(with(
            base("01"),
            json!({"kind": "CLIENT", "tags": {"span.kind": "internal"}}),
        ));
        assert_eq!(s.kind, SpanKind::Client as i32);
        assert_eq!(str_attr(&s, "span.kind"), Some("internal"));

        let s = decode_one(with(base("01"), json!({"kind": "ROUTER"})));
        assert_eq!(s.kind, SpanKind::Unspecified as i32);
        assert_eq!(str_attr(&s, "zipkin.kind"), Some("ROUTER"));
    }

    #[test]
    fn sixty_four_bit_trace_id_is_left_padded() {
        let s = decode_one(with(base("01"), json!({"traceId": "463ac35c9f6413ad"})));
        assert_eq!(hex::encode(&s.trace_id), "0000000000000000463ac35c9f6413ad");
        let s = decode_one(with(base("01"), json!({"traceId": "463AC35C9F6413AD"})));
        assert_eq!(hex::encode(&s.trace_id), "0000000000000000463ac35c9f6413ad");
        assert_eq!(hex::encode(&s.span_id), "0000000000000001");
    }

    #[test]
    fn parent_absent_empty_zero_or_self_means_root() {
        for parent in [
            json!(null),
            json!(""),
            json!("0000000000000000"),
            json!("00ab"),
        ] {
            let s = decode_one(with(base("00ab"), json!({"parentId": parent})));
            assert!(s.parent_span_id.is_empty(), "parent {parent}");
        }
    }

    #[test]
    fn bad_spans_are_rejected_and_neighbours_kept() {
        let d = decode(json!([
            with(base("01"), json!({"name": "good1"})),
            with(base("02"), json!({"traceId": "zz"})),
            with(base("03"), json!({"traceId": "1".repeat(33)})),
            with(base("04"), json!({"parentId": "xyz"})),
            with(base("05"), json!({"id": null})),
            with(base("06"), json!({"traceId": "000"})),
            with(base("07"), json!({"timestamp": null})),
            with(base("08"), json!({"traceId": null})),
            with(base("09"), json!({"name": "good2"})),
        ]));
        let names: Vec<&str> = d.request.resource_spans[0].scope_spans[0]
            .spans
            .iter()
            .map(|s| s.name.as_str())
            .collect();
        assert_eq!(names, vec!["good1", "good2"]);
        let reasons: Vec<&str> = d.rejected.iter().map(|r| r.reason.as_str()).collect();
        assert_eq!(
            reasons,
            vec![
                "spans[1]: traceId is not hex: \"zz\"",
                "spans[2]: traceId has 33 hex digits, at most 32 allowed",
                "spans[3]: parentId is not hex: \"xyz\"",
                "spans[4]: id is missing",
                "spans[5]: traceId is all zeros",
                "spans[6]: timestamp is missing",
                "spans[7]: traceId is missing",
            ]
        );
    }

    #[test]
    fn spans_grouped_by_local_service_in_first_seen_order() {
        let d = decode(json!([
            with(base("01"), json!({"localEndpoint": {"serviceName": "b"}})),
            with(base("02"), json!({"localEndpoint": {"serviceName": "a"}})),
            with(base("03"), json!({"localEndpoint": null})),
            with(
                base("04"),
                json!({"localEndpoint": {"serviceName": "b", "port": 9}})
            ),
            with(base("05"), json!({"localEndpoint": {"ipv4": "10.0.0.1"}})),
        ]));
        assert_eq!(services(&d), vec!["b", "a", UNKNOWN_SERVICE]);
        let count = |i: usize| d.request.resource_spans[i].scope_spans[0].spans.len();
        assert_eq!((count(0), count(1), count(2)), (2, 1, 2));
    }

    #[test]
    fn endpoints_become_span_attributes() {
        let s = decode_one(with(
            base("01"),
            json!({
                "localEndpoint": {"serviceName": "frontend", "ipv4": "10.0.0.1", "port": 8080},
                "remoteEndpoint": {"serviceName": "backend", "ipv6": "2001:db8::1", "port": 9000}
            }),
        ));
        assert_eq!(str_attr(&s, "net.host.ip"), Some("10.0.0.1"));
        assert_eq!(
            attr(&s, "net.host.port"),
            Some(&any_value::Value::IntValue(8080))
        );
        assert_eq!(str_attr(&s, "peer.service"), Some("backend"));
        assert_eq!(str_attr(&s, "net.peer.ip"), Some("2001:db8::1"));
        assert_eq!(
            attr(&s, "net.peer.port"),
            Some(&any_value::Value::IntValue(9000))
        );
        assert_eq!(attr(&s, "net.host.ipv6"), None);

        let s = decode_one(with(
            base("01"),
            json!({"localEndpoint": {"serviceName": "f", "ipv4": "10.0.0.1", "ipv6": "::1", "port": 0}}),
        ));
        assert_eq!(str_attr(&s, "net.host.ip"), Some("10.0.0.1"));
        assert_eq!(str_attr(&s, "net.host.ipv6"), Some("::1"));
        assert_eq!(attr(&s, "net.host.port"), None);
    }

    #[test]
    fn tags_become_string_attributes_in_order() {
        // A raw body: json! would sort the keys.
        let body = format!(
            r#"[{{"traceId": "{TRACE}", "id": "01", "timestamp": 1, "tags":
                {{"http.method": "GET", "http.status_code": 200, "cache.hit": true,
                  "ratio": 0.5, "gone": null}}}}]"#
        );
        let d = decode_v2_json(body.as_bytes()).unwrap();
        let s = only_span(&d);
        let keys: Vec<&str> = s.attributes.iter().map(|kv| kv.key.as_str()).collect();
        assert_eq!(
            keys,
            vec!["http.method", "http.status_code", "cache.hit", "ratio"]
        );
        assert_eq!(str_attr(s, "http.method"), Some("GET"));
        assert_eq!(str_attr(s, "http.status_code"), Some("200"));
        assert_eq!(str_attr(s, "cache.hit"), Some("true"));
        assert_eq!(str_attr(s, "ratio"), Some("0.5"));
    }

    #[test]
    fn error_tag_sets_error_status_and_is_kept() {
        let s = decode_one(with(
            base("01"),
            json!({"tags": {"error": "connection refused"}}),
        ));
        let status = s.status.as_ref().unwrap();
        assert_eq!(status.code, StatusCode::Error as i32);
        assert_eq!(status.message, "connection refused");
        assert_eq!(str_attr(&s, "error"), Some("connection refused"));

        for flag in ["true", ""] {
            let s = decode_one(with(base("01"), json!({"tags": {"error": flag}})));
            let status = s.status.unwrap();
            assert_eq!(status.code, StatusCode::Error as i32);
            assert_eq!(status.message, "");
        }
    }

    #[test]
    fn otel_status_tags_become_status() {
        let s = decode_one(with(
            base("01"),
            json!({"tags": {"otel.status_code": "ERROR", "otel.status_description": "timeout",
                            "error": "timeout", "x": "y"}}),
        ));
        let status = s.status.as_ref().unwrap();
        assert_eq!(status.code, StatusCode::Error as i32);
        assert_eq!(status.message, "timeout");
        let keys: Vec<&str> = s.attributes.iter().map(|kv| kv.key.as_str()).collect();
        assert_eq!(keys, vec!["error", "x"]);

        // The explicit OTel code wins over the error tag.
        let s = decode_one(with(
            base("01"),
            json!({"tags": {"otel.status_code": "STATUS_CODE_OK", "error": "x"}}),
        ));
        assert_eq!(s.status.unwrap().code, StatusCode::Ok as i32);

        // An unrecognised code is left as an attribute.
        let s = decode_one(with(
            base("01"),
            json!({"tags": {"otel.status_code": "MAYBE"}}),
        ));
        assert_eq!(s.status, None);
        assert_eq!(str_attr(&s, "otel.status_code"), Some("MAYBE"));
    }

    #[test]
    fn annotations_become_events() {
        let s = decode_one(with(
            base("01"),
            json!({"annotations": [{"timestamp": 1_700_000_000_000_500u64, "value": "ws"},
                                   {"timestamp": "1700000000000900", "value": "wr"}]}),
        ));
        let events: Vec<(u64, &str)> = s
            .events
            .iter()
            .map(|e| (e.time_unix_nano, e.name.as_str()))
            .collect();
        assert_eq!(
            events,
            vec![
                (1_700_000_000_000_500_000, "ws"),
                (1_700_000_000_000_900_000, "wr")
            ]
        );
    }

    #[test]
    fn debug_shared_and_tracestate() {
        let s = decode_one(with(
            base("01"),
            json!({"debug": true, "shared": true, "tags": {"w3c.tracestate": "vendor=1"}}),
        ));
        assert_eq!(
            attr(&s, "zipkin.debug"),
            Some(&any_value::Value::BoolValue(true))
        );
        assert_eq!(
            attr(&s, "zipkin.shared"),
            Some(&any_value::Value::BoolValue(true))
        );
        assert_eq!(s.trace_state, "vendor=1");
        assert_eq!(attr(&s, "w3c.tracestate"), None);

        let s = decode_one(with(base("01"), json!({"debug": false, "shared": null})));
        assert!(s.attributes.is_empty());
    }

    #[test]
    fn malformed_json_says_where() {
        let err = decode_v2_json(b"[{\"traceId\": \"ab\",\n \"id\": ").unwrap_err();
        let msg = err.to_string();
        assert!(msg.starts_with("Zipkin v2 JSON: malformed JSON"), "{msg}");
        assert!(msg.contains("line 2"), "{msg}");

        let body = json!([base("01"), with(base("02"), json!({"timestamp": "soon"}))]);
        let msg = decode_v2_json(body.to_string().as_bytes())
            .unwrap_err()
            .to_string();
        assert!(msg.contains("[1].timestamp"), "{msg}");

        let msg = decode_v2_json(b"{\"traceId\": \"ab\"}")
            .unwrap_err()
            .to_string();
        assert!(msg.contains("invalid value"), "{msg}");

        let nested = format!("[{{\"tags\": {{\"a\": {}", "[".repeat(10_000));
        assert!(decode_v2_json(nested.as_bytes()).is_err());
    }

    #[test]
    fn empty_list_is_an_empty_request() {
        assert_eq!(decode_v2_json(b"[]").unwrap(), Decoded::default());
        assert_eq!(decode_v2_proto(b"").unwrap(), Decoded::default());
    }

    fn proto_span(id: u8) -> proto::Span {
        proto::Span {
            trace_id: hex::decode(TRACE).unwrap(),
            parent_id: vec![0, 0, 0, 0, 0, 0, 0, 9],
            id: vec![0, 0, 0, 0, 0, 0, 0, id],
            kind: proto::Kind::Client as i32,
            name: "get /api".into(),
            timestamp: 1_700_000_000_000_000,
            duration: 1500,
            local_endpoint: Some(proto::Endpoint {
                service_name: "frontend".into(),
                ipv4: vec![10, 0, 0, 1],
                ipv6: Vec::new(),
                port: 8080,
            }),
            remote_endpoint: Some(proto::Endpoint {
                service_name: "backend".into(),
                ipv4: Vec::new(),
                ipv6: "2001:db8::1".parse::<Ipv6Addr>().unwrap().octets().to_vec(),
                port: 0,
            }),
            annotations: vec![proto::Annotation {
                timestamp: 1_700_000_000_000_500,
                value: "ws".into(),
            }],
            tags: [("b".to_string(), "2".to_string()), ("a".into(), "1".into())]
                .into_iter()
                .collect(),
            debug: false,
            shared: true,
        }
    }

    #[test]
    fn proto_decodes_like_the_equivalent_json() {
        let list = proto::ListOfSpans {
            spans: vec![proto_span(1)],
        };
        let from_proto = decode_v2_proto(&list.encode_to_vec()).unwrap();
        let from_json = decode(json!([{
            "traceId": TRACE, "parentId": "0000000000000009", "id": "0000000000000001",
            "kind": "CLIENT", "name": "get /api",
            "timestamp": 1_700_000_000_000_000u64, "duration": 1500,
            "localEndpoint": {"serviceName": "frontend", "ipv4": "10.0.0.1", "port": 8080},
            "remoteEndpoint": {"serviceName": "backend", "ipv6": "2001:db8::1"},
            "annotations": [{"timestamp": 1_700_000_000_000_500u64, "value": "ws"}],
            "tags": {"a": "1", "b": "2"},
            "shared": true
        }]));
        assert_eq!(from_proto, from_json);
        let s = only_span(&from_proto);
        assert_eq!(str_attr(s, "net.host.ip"), Some("10.0.0.1"));
        assert_eq!(str_attr(s, "net.peer.ip"), Some("2001:db8::1"));
    }

    #[test]
    fn proto_ids_and_rejections() {
        let mut short_trace = proto_span(1);
        short_trace.trace_id = vec![1, 2, 3, 4, 5, 6, 7, 8];
        let mut bad_trace = proto_span(2);
        bad_trace.trace_id = vec![1, 2, 3];
        let mut bad_id = proto_span(3);
        bad_id.id = vec![1; 7];
        let mut bad_parent = proto_span(4);
        bad_parent.parent_id = vec![1; 9];
        let mut root = proto_span(5);
        root.parent_id = vec![0; 8];
        let mut unknown_kind = proto_span(6);
        unknown_kind.kind = 9;
        let list = proto::ListOfSpans {
            spans: vec![
                short_trace,
                bad_trace,
                bad_id,
                bad_parent,
                root,
                unknown_kind,
            ],
        };
        let d = decode_v2_proto(&list.encode_to_vec()).unwrap();
        let reasons: Vec<&str> = d.rejected.iter().map(|r| r.reason.as_str()).collect();
        assert_eq!(
            reasons,
            vec![
                "spans[1]: traceId must be 8 or 16 bytes, got 3",
                "spans[2]: id must be 8 bytes, got 7",
                "spans[3]: parentId must be 8 bytes, got 9",
            ]
        );
        let spans = &d.request.resource_spans[0].scope_spans[0].spans;
        assert_eq!(spans.len(), 3);
        assert_eq!(
            hex::encode(&spans[0].trace_id),
            "00000000000000000102030405060708"
        );
        assert!(spans[1].parent_span_id.is_empty());
        assert_eq!(spans[2].kind, SpanKind::Unspecified as i32);
        assert_eq!(str_attr(&spans[2], "zipkin.kind"), Some("9"));
    }

    #[test]
    fn malformed_proto_is_an_error() {
        let err = decode_v2_proto(&[0x0a, 0xff, 0x01]).unwrap_err();
        assert!(matches!(err, ZipkinError::Proto(_)), "{err:?}");
        assert!(
            err.to_string().starts_with("malformed Zipkin v2 protobuf"),
            "{err}"
        );
    }
}
