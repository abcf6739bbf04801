//! One trace as Jaeger's trace object, written straight to the output.
//!
//! [`Trace::new`] numbers the processes and settles the span IDs (the shared-span
//! adjustment) over borrowed spans; serializing it writes `{traceID, spans, processes,
//! warnings}` without building a `serde_json::Value` tree. A tree cost a few hundred bytes
//! and several allocations per tag; a trace of 100,000 spans took seconds and hundreds of
//! megabytes that way. Here the memory is the output and one small record per span.

use std::collections::{HashMap, HashSet};

use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};

use super::{MAX_SAFE_INTEGER, WARNINGS_ATTRIBUTE, float_text, kind_keyword, value_text};
use crate::otlp::{AnyValue, KeyValue, ResourceSpans, Span, SpanKind, StatusCode, any_value};

/// A trace ready to be written as Jaeger's trace object.
pub struct Trace<'a> {
    trace_id: String,
    spans: Vec<Flat<'a>>,
    /// Processes in the order of their numbers (`p1` first).
    processes: Vec<Process<'a>>,
    warnings: Vec<String>,
}

/// One span with where it came from.
struct Flat<'a> {
    span: &'a Span,
    /// Index into [`Trace::processes`].
    process: usize,
    scope_name: &'a str,
    scope_version: &'a str,
    /// Replaced IDs (shared-span adjustment).
    span_id: u64,
    parent_id: u64,
}

/// A process: a service name and the other resource attributes as its tags.
struct Process<'a> {
    service: &'a str,
    attributes: &'a [KeyValue],
}

impl<'a> Trace<'a> {
    /// The `ResourceSpans` of one trace (as collated by trace lookup).
    pub fn new(resource_spans: &'a [ResourceSpans]) -> Trace<'a> {
        // Distinct resources, in order of first sight; each span's is settled below.
        let mut resources: Vec<Process<'a>> = Vec::new();
        let mut spans: Vec<Flat<'a>> = Vec::new();
        for rs in resource_spans {
            let attributes = rs
                .resource
                .as_ref()
                .map(|r| r.attributes.as_slice())
                .unwrap_or_default();
            let service =
                crate::otlp::service_name(rs.resource.as_ref()).unwrap_or("unknown_service");
            let same = |p: &Process| p.service == service && same_tags(p.attributes, attributes);
            let process = match resources.iter().position(same) {
                Some(i) => i,
                None => {
                    resources.push(Process {
                        service,
                        attributes,
                    });
                    resources.len() - 1
                }
            };
            for ss in &rs.scope_spans {
                let (scope_name, scope_version) = ss
                    .scope
                    .as_ref()
                    .map_or(("", ""), |s| (s.name.as_str(), s.version.as_str()));
                spans.extend(ss.spans.iter().map(|span| Flat {
                    span,
                    process,
                    scope_name,
                    scope_version,
                    span_id: span_id_u64(&span.span_id),
                    parent_id: span_id_u64(&span.parent_span_id),
                }));
            }
        }
        dedupe_shared_ids(&mut spans);

        // Processes are numbered in order of first use by a span.
        let mut number: Vec<Option<usize>> = vec![None; resources.len()];
        let mut order: Vec<usize> = Vec::new();
        for f in &mut spans {
            let resource = f.process;
            f.process = *number[resource].get_or_insert_with(|| {
                order.push(resource);
                order.len() - 1
            });
        }
        let mut resources: Vec<Option<Process>> = resources.into_iter().map(Some).collect();
        let processes = order
            .into_iter()
            .filter_map(|i| resources[i].take())
            .collect();
        let trace_id = spans
            .first()
            .map(|f| super::trace_id_text(&f.span.trace_id))
            .unwrap_or_default();
        Trace {
            trace_id,
            spans,
            processes,
            warnings: Vec::new(),
        }
    }

    /// Sets the trace-level warnings (shown by Jaeger UI above the trace).
    pub fn set_warnings(&mut self, warnings: Vec<String>) {
        self.warnings = warnings;
    }
}

/// Whether two resources have the same tags (`service.name` aside, as in the process).
fn same_tags(a: &[KeyValue], b: &[KeyValue]) -> bool {
    fn tags(x: &[KeyValue]) -> impl Iterator<Item = (&str, Option<&AnyValue>)> {
        x.iter()
            .filter(|kv| kv.key != "service.name")
            .map(|kv| (kv.key.as_str(), kv.value.as_ref()))
    }
    a == b || tags(a).eq(tags(b))
}

fn span_id_u64(id: &[u8]) -> u64 {
    <[u8; 8]>::try_from(id).map_or(0, u64::from_be_bytes)
}

/// Gives each server span sharing its ID with a client span a new unused ID, parented to
/// the client span. Other spans sharing an ID are left as they are, as Jaeger does.
fn dedupe_shared_ids(flat: &mut [Flat]) {
    let mut by_id: HashMap<u64, Vec<usize>> = HashMap::with_capacity(flat.len());
    for (i, f) in flat.iter().enumerate() {
        by_id.entry(f.span_id).or_default().push(i);
    }
    let mut dup: Vec<(u64, Vec<usize>)> = by_id.into_iter().filter(|(_, v)| v.len() > 1).collect();
    if dup.is_empty() {
        return;
    }
    let mut used: HashSet<u64> = flat.iter().map(|f| f.span_id).collect();
    let mut next = used.iter().copied().max().unwrap_or(0);
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

impl Serialize for Trace<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(4))?;
        m.serialize_entry("traceID", &self.trace_id)?;
        m.serialize_entry("spans", &Spans(self))?;
        m.serialize_entry("processes", &Processes(&self.processes))?;
        if self.warnings.is_empty() {
            m.serialize_entry("warnings", &())?;
        } else {
            m.serialize_entry("warnings", &self.warnings)?;
        }
        m.end()
    }
}

struct Spans<'t, 'a>(&'t Trace<'a>);

impl Serialize for Spans<'_, '_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.0.spans.len()))?;
        for f in &self.0.spans {
            seq.serialize_element(&SpanOut {
                f,
                trace_id: &self.0.trace_id,
            })?;
        }
        seq.end()
    }
}

struct Processes<'t, 'a>(&'t [Process<'a>]);

impl Serialize for Processes<'_, '_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for (i, p) in self.0.iter().enumerate() {
            m.serialize_entry(&ProcessKey(i + 1), &ProcessOut(p))?;
        }
        m.end()
    }
}

/// `p1`, `p2`, …
struct ProcessKey(usize);

impl Serialize for ProcessKey {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&format_args!("p{}", self.0))
    }
}

struct ProcessOut<'p, 'a>(&'p Process<'a>);

impl Serialize for ProcessOut<'_, '_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(2))?;
        m.serialize_entry("serviceName", self.0.service)?;
        m.serialize_entry(
            "tags",
            &Attributes {
                attrs: self.0.attributes,
                skip: "service.name",
                extra: &[],
            },
        )?;
        m.end()
    }
}

/// A span ID (or a parent's) as 16 lowercase hex digits.
struct SpanIdHex(u64);

impl Serialize for SpanIdHex {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let mut buf = [0u8; 16];
        for (i, b) in buf.iter_mut().enumerate() {
            *b = DIGITS[((self.0 >> (60 - 4 * i)) & 0xf) as usize];
        }
        s.serialize_str(std::str::from_utf8(&buf).unwrap_or_default())
    }
}

struct SpanOut<'f, 'a> {
    f: &'f Flat<'a>,
    trace_id: &'f str,
}

impl Serialize for SpanOut<'_, '_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let (f, sp) = (self.f, self.f.span);
        let flags = sp.flags & 0xff;
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("traceID", self.trace_id)?;
        m.serialize_entry("spanID", &SpanIdHex(f.span_id))?;
        if flags != 0 {
            m.serialize_entry("flags", &flags)?;
        }
        m.serialize_entry("operationName", &sp.name)?;
        m.serialize_entry(
            "references",
            &References {
                f,
                trace_id: self.trace_id,
            },
        )?;
        m.serialize_entry("startTime", &(sp.start_time_unix_nano / 1_000))?;
        let duration = sp
            .end_time_unix_nano
            .saturating_sub(sp.start_time_unix_nano);
        m.serialize_entry("duration", &(duration / 1_000))?;
        m.serialize_entry(
            "tags",
            &Attributes {
                attrs: &sp.attributes,
                skip: WARNINGS_ATTRIBUTE,
                extra: &span_extra_tags(f),
            },
        )?;
        m.serialize_entry("logs", &Logs(&sp.events))?;
        m.serialize_entry("processID", &ProcessKey(f.process + 1))?;
        let warnings = span_warnings(sp);
        if warnings.is_empty() {
            m.serialize_entry("warnings", &())?;
        } else {
            m.serialize_entry("warnings", &warnings)?;
        }
        m.end()
    }
}

struct References<'f, 'a> {
    f: &'f Flat<'a>,
    trace_id: &'f str,
}

impl Serialize for References<'_, '_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let links = &self.f.span.links;
        let mut seq = s.serialize_seq(None)?;
        if self.f.parent_id != 0 {
            seq.serialize_element(&Reference {
                ref_type: "CHILD_OF",
                trace_id: Text::Borrowed(self.trace_id),
                span_id: Text::Parent(self.f.parent_id),
            })?;
        }
        for l in links {
            let child_of = l.attributes.iter().any(|kv| {
                kv.key == "opentracing.ref_type"
                    && kv
                        .value
                        .as_ref()
                        .is_some_and(|v| value_text(v) == "child_of")
            });
            seq.serialize_element(&Reference {
                ref_type: if child_of { "CHILD_OF" } else { "FOLLOWS_FROM" },
                trace_id: Text::Owned(super::trace_id_text(&l.trace_id)),
                span_id: Text::Owned(hex::encode(&l.span_id)),
            })?;
        }
        seq.end()
    }
}

enum Text<'a> {
    Borrowed(&'a str),
    Owned(String),
    Parent(u64),
}

impl Serialize for Text<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Text::Borrowed(t) => s.serialize_str(t),
            Text::Owned(t) => s.serialize_str(t),
            Text::Parent(id) => SpanIdHex(*id).serialize(s),
        }
    }
}

struct Reference<'a> {
    ref_type: &'static str,
    trace_id: Text<'a>,
    span_id: Text<'a>,
}

impl Serialize for Reference<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(3))?;
        m.serialize_entry("refType", self.ref_type)?;
        m.serialize_entry("traceID", &self.trace_id)?;
        m.serialize_entry("spanID", &self.span_id)?;
        m.end()
    }
}

/// A tag Arbor adds to a span's own attributes.
enum Extra<'a> {
    Str(&'static str, &'a str),
    True(&'static str),
}

/// The tags after the span's attributes: scope, kind, status, trace state.
fn span_extra_tags<'a>(f: &Flat<'a>) -> Vec<Extra<'a>> {
    let s = f.span;
    let mut t = Vec::new();
    if !f.scope_name.is_empty() {
        t.push(Extra::Str("otel.scope.name", f.scope_name));
    }
    if !f.scope_version.is_empty() {
        t.push(Extra::Str("otel.scope.version", f.scope_version));
    }
    if let Some(k) = kind_keyword(s.kind) {
        t.push(Extra::Str("span.kind", k));
    }
    if let Some(st) = &s.status {
        match StatusCode::try_from(st.code) {
            Ok(StatusCode::Ok) => t.push(Extra::Str("otel.status_code", "OK")),
            Ok(StatusCode::Error) => {
                t.push(Extra::Str("otel.status_code", "ERROR"));
                if !s.attributes.iter().any(|kv| kv.key == "error") {
                    t.push(Extra::True("error"));
                }
            }
            _ => {}
        }
        if !st.message.is_empty() {
            t.push(Extra::Str("otel.status_description", &st.message));
        }
    }
    if !s.trace_state.is_empty() {
        t.push(Extra::Str("w3c.tracestate", &s.trace_state));
    }
    t
}

/// The span attribute `@jaeger@warnings` as the span's warnings.
fn span_warnings(s: &Span) -> Vec<String> {
    s.attributes
        .iter()
        .filter(|kv| kv.key == WARNINGS_ATTRIBUTE)
        .flat_map(
            |kv| match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
                Some(any_value::Value::ArrayValue(a)) => a.values.iter().map(value_text).collect(),
                Some(_) => vec![value_text(kv.value.as_ref().expect("matched"))],
                None => Vec::new(),
            },
        )
        .collect()
}

/// Attributes as tags, one key left out, then Arbor's own tags.
struct Attributes<'x, 'a> {
    attrs: &'a [KeyValue],
    skip: &'static str,
    extra: &'x [Extra<'a>],
}

impl Serialize for Attributes<'_, '_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(None)?;
        for kv in self.attrs.iter().filter(|kv| kv.key != self.skip) {
            seq.serialize_element(&Tag(kv))?;
        }
        for e in self.extra {
            seq.serialize_element(e)?;
        }
        seq.end()
    }
}

impl Serialize for Extra<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(3))?;
        match self {
            Extra::Str(key, value) => {
                m.serialize_entry("key", key)?;
                m.serialize_entry("type", "string")?;
                m.serialize_entry("value", value)?;
            }
            Extra::True(key) => {
                m.serialize_entry("key", key)?;
                m.serialize_entry("type", "bool")?;
                m.serialize_entry("value", &true)?;
            }
        }
        m.end()
    }
}

/// One attribute as a typed tag: `string`, `bool`, `int64`, `float64`, `binary` (base64);
/// integers beyond ±2^53 and non-finite floats as strings, arrays and maps as JSON text.
struct Tag<'a>(&'a KeyValue);

impl Serialize for Tag<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let empty = AnyValue::default();
        let v = self.0.value.as_ref().unwrap_or(&empty);
        let mut m = s.serialize_map(Some(3))?;
        m.serialize_entry("key", &self.0.key)?;
        match &v.value {
            Some(any_value::Value::StringValue(x)) => {
                m.serialize_entry("type", "string")?;
                m.serialize_entry("value", x)?;
            }
            Some(any_value::Value::BoolValue(b)) => {
                m.serialize_entry("type", "bool")?;
                m.serialize_entry("value", b)?;
            }
            Some(any_value::Value::IntValue(i)) => {
                m.serialize_entry("type", "int64")?;
                if i.unsigned_abs() > MAX_SAFE_INTEGER as u64 {
                    m.serialize_entry("value", &i.to_string())?;
                } else {
                    m.serialize_entry("value", i)?;
                }
            }
            Some(any_value::Value::DoubleValue(d)) => {
                m.serialize_entry("type", "float64")?;
                if d.is_finite() {
                    m.serialize_entry("value", d)?;
                } else {
                    m.serialize_entry("value", &float_text(*d))?;
                }
            }
            Some(any_value::Value::BytesValue(_)) => {
                m.serialize_entry("type", "binary")?;
                m.serialize_entry("value", &value_text(v))?;
            }
            _ => {
                m.serialize_entry("type", "string")?;
                m.serialize_entry("value", &value_text(v))?;
            }
        }
        m.end()
    }
}

struct Logs<'a>(&'a [crate::otlp::Event]);

impl Serialize for Logs<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.0.len()))?;
        for e in self.0 {
            seq.serialize_element(&Log(e))?;
        }
        seq.end()
    }
}

struct Log<'a>(&'a crate::otlp::Event);

impl Serialize for Log<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let e = self.0;
        let event = if e.name.is_empty() {
            Vec::new()
        } else {
            vec![Extra::Str("event", &e.name)]
        };
        let mut m = s.serialize_map(Some(2))?;
        m.serialize_entry("timestamp", &(e.time_unix_nano / 1_000))?;
        m.serialize_entry(
            "fields",
            &EventFields {
                event: &event,
                attrs: &e.attributes,
            },
        )?;
        m.end()
    }
}

/// A log's fields: the event name first, then its attributes.
struct EventFields<'x, 'a> {
    event: &'x [Extra<'a>],
    attrs: &'a [KeyValue],
}

impl Serialize for EventFields<'_, '_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.event.len() + self.attrs.len()))?;
        for e in self.event {
            seq.serialize_element(e)?;
        }
        for kv in self.attrs {
            seq.serialize_element(&Tag(kv))?;
        }
        seq.end()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;
    use crate::otlp::{
        ArrayValue, Event, InstrumentationScope, Link, Resource, ScopeSpans, Status, kv_int, kv_str,
    };

    fn trace(resource_spans: &[ResourceSpans]) -> Value {
        serde_json::to_value(Trace::new(resource_spans)).unwrap()
    }

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
    fn one_process_per_resource_numbered_by_first_use() {
        let t = trace(&[
            rs("b", vec![span(1, 0, SpanKind::Server)]),
            rs("a", vec![span(2, 1, SpanKind::Client)]),
            rs("b", vec![span(3, 2, SpanKind::Server)]),
        ]);
        let ids: Vec<&str> = t["spans"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["processID"].as_str().unwrap())
            .collect();
        assert_eq!(ids, ["p1", "p2", "p1"]);
        let procs = t["processes"].as_object().unwrap();
        assert_eq!(procs.len(), 2);
        assert_eq!(procs["p1"]["serviceName"], "b");
        assert_eq!(procs["p2"]["serviceName"], "a");
    }

    #[test]
    fn odd_values_and_trace_warnings() {
        let mut s = span(1, 0, SpanKind::Internal);
        s.attributes = vec![
            KeyValue {
                key: "nan".into(),
                value: Some(AnyValue {
                    value: Some(any_value::Value::DoubleValue(f64::NAN)),
                }),
                ..Default::default()
            },
            KeyValue {
                key: "list".into(),
                value: Some(AnyValue {
                    value: Some(any_value::Value::ArrayValue(ArrayValue {
                        values: vec![AnyValue {
                            value: Some(any_value::Value::IntValue(7)),
                        }],
                    })),
                }),
                ..Default::default()
            },
            KeyValue {
                key: "nothing".into(),
                ..Default::default()
            },
        ];
        let all = [rs("a", vec![s])];
        let mut t = Trace::new(&all);
        t.set_warnings(vec!["cut".into()]);
        let v = serde_json::to_value(&t).unwrap();
        assert_eq!(v["warnings"], json!(["cut"]));
        assert_eq!(
            v["spans"][0]["tags"],
            json!([
                {"key":"nan","type":"float64","value":"NaN"},
                {"key":"list","type":"string","value":"[7]"},
                {"key":"nothing","type":"string","value":""},
                {"key":"otel.scope.name","type":"string","value":"lib"},
                {"key":"otel.scope.version","type":"string","value":"1.2"},
                {"key":"span.kind","type":"string","value":"internal"}
            ])
        );
    }

    #[test]
    fn an_empty_trace_is_an_empty_object() {
        let v = trace(&[]);
        assert_eq!(
            v,
            json!({"traceID":"","spans":[],"processes":{},"warnings":null})
        );
    }
}
