//! OTLP → spec OTLP/JSON, written straight to the output.
//!
//! [`Json`] wraps an OTLP message so that `serde_json::to_writer` (or `to_vec`) writes its
//! JSON without building a `serde_json::Value` tree first. A tree costs a few hundred bytes
//! per attribute (a map per key-value pair and per value, every string copied); a trace of
//! 100,000 spans read by ID took gigabytes that way. Here the only memory is the output.
//!
//! The format is the one described in [`crate::otlp_json`]: lowerCamelCase names; IDs as
//! lowercase hex; 64-bit integers as decimal strings; 32-bit integers as numbers; enums as
//! integers; `bytesValue` as padded standard base64; NaN and ±infinity as strings; fields
//! holding their default value left out, except that a span always has `traceId`, `spanId`,
//! `name`, `kind`, both times and a `status` object, a link its two IDs, and a value field
//! is written even when it holds its type's default.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};

use crate::otlp::{
    AnyValue, ArrayValue, Event, InstrumentationScope, KeyValue, KeyValueList, Link, Resource,
    ResourceSpans, ScopeSpans, Span, Status, any_value,
};

/// An OTLP message as spec OTLP/JSON when serialized.
pub struct Json<'a, T: ?Sized>(pub &'a T);

/// A list of messages as a JSON array.
struct List<'a, T>(&'a [T]);

impl<'a, T> Serialize for List<'a, T>
where
    Json<'a, T>: Serialize,
{
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.0.len()))?;
        for item in self.0 {
            seq.serialize_element(&Json(item))?;
        }
        seq.end()
    }
}

/// Bytes as lowercase hex.
struct Hex<'a>(&'a [u8]);

impl Serialize for Hex<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(self.0))
    }
}

/// A 64-bit integer as a decimal string (JSON numbers lose precision above 2^53).
struct Decimal<T>(T);

impl<T: std::fmt::Display> Serialize for Decimal<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&self.0)
    }
}

fn opt_str<M: SerializeMap>(m: &mut M, key: &str, v: &str) -> Result<(), M::Error> {
    if v.is_empty() {
        Ok(())
    } else {
        m.serialize_entry(key, v)
    }
}

fn opt_u32<M: SerializeMap>(m: &mut M, key: &str, v: u32) -> Result<(), M::Error> {
    if v == 0 {
        Ok(())
    } else {
        m.serialize_entry(key, &v)
    }
}

fn opt_list<'a, M: SerializeMap, T>(m: &mut M, key: &str, v: &'a [T]) -> Result<(), M::Error>
where
    Json<'a, T>: Serialize,
{
    if v.is_empty() {
        Ok(())
    } else {
        m.serialize_entry(key, &List(v))
    }
}

impl Serialize for Json<'_, ResourceSpans> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let rs = self.0;
        let mut m = s.serialize_map(None)?;
        if let Some(resource) = &rs.resource {
            m.serialize_entry("resource", &Json(resource))?;
        }
        opt_list(&mut m, "scopeSpans", rs.scope_spans.as_slice())?;
        opt_str(&mut m, "schemaUrl", &rs.schema_url)?;
        m.end()
    }
}

impl Serialize for Json<'_, Resource> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let r = self.0;
        let mut m = s.serialize_map(None)?;
        opt_list(&mut m, "attributes", r.attributes.as_slice())?;
        opt_u32(&mut m, "droppedAttributesCount", r.dropped_attributes_count)?;
        m.end()
    }
}

impl Serialize for Json<'_, ScopeSpans> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let ss = self.0;
        let mut m = s.serialize_map(None)?;
        if let Some(scope) = &ss.scope {
            m.serialize_entry("scope", &Json(scope))?;
        }
        opt_list(&mut m, "spans", ss.spans.as_slice())?;
        opt_str(&mut m, "schemaUrl", &ss.schema_url)?;
        m.end()
    }
}

impl Serialize for Json<'_, InstrumentationScope> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let scope = self.0;
        let mut m = s.serialize_map(None)?;
        opt_str(&mut m, "name", &scope.name)?;
        opt_str(&mut m, "version", &scope.version)?;
        opt_list(&mut m, "attributes", scope.attributes.as_slice())?;
        opt_u32(
            &mut m,
            "droppedAttributesCount",
            scope.dropped_attributes_count,
        )?;
        m.end()
    }
}

impl Serialize for Json<'_, Span> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let span = self.0;
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("traceId", &Hex(&span.trace_id))?;
        m.serialize_entry("spanId", &Hex(&span.span_id))?;
        opt_str(&mut m, "traceState", &span.trace_state)?;
        if !span.parent_span_id.is_empty() {
            m.serialize_entry("parentSpanId", &Hex(&span.parent_span_id))?;
        }
        opt_u32(&mut m, "flags", span.flags)?;
        m.serialize_entry("name", &span.name)?;
        m.serialize_entry("kind", &span.kind)?;
        m.serialize_entry("startTimeUnixNano", &Decimal(span.start_time_unix_nano))?;
        m.serialize_entry("endTimeUnixNano", &Decimal(span.end_time_unix_nano))?;
        opt_list(&mut m, "attributes", span.attributes.as_slice())?;
        opt_u32(
            &mut m,
            "droppedAttributesCount",
            span.dropped_attributes_count,
        )?;
        opt_list(&mut m, "events", span.events.as_slice())?;
        opt_u32(&mut m, "droppedEventsCount", span.dropped_events_count)?;
        opt_list(&mut m, "links", span.links.as_slice())?;
        opt_u32(&mut m, "droppedLinksCount", span.dropped_links_count)?;
        m.serialize_entry("status", &StatusJson(span.status.as_ref()))?;
        m.end()
    }
}

impl Serialize for Json<'_, Event> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let e = self.0;
        let mut m = s.serialize_map(None)?;
        if e.time_unix_nano != 0 {
            m.serialize_entry("timeUnixNano", &Decimal(e.time_unix_nano))?;
        }
        opt_str(&mut m, "name", &e.name)?;
        opt_list(&mut m, "attributes", e.attributes.as_slice())?;
        opt_u32(&mut m, "droppedAttributesCount", e.dropped_attributes_count)?;
        m.end()
    }
}

impl Serialize for Json<'_, Link> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let l = self.0;
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("traceId", &Hex(&l.trace_id))?;
        m.serialize_entry("spanId", &Hex(&l.span_id))?;
        opt_str(&mut m, "traceState", &l.trace_state)?;
        opt_list(&mut m, "attributes", l.attributes.as_slice())?;
        opt_u32(&mut m, "droppedAttributesCount", l.dropped_attributes_count)?;
        opt_u32(&mut m, "flags", l.flags)?;
        m.end()
    }
}

/// A span's status; `{}` when unset.
struct StatusJson<'a>(Option<&'a Status>);

impl Serialize for StatusJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        if let Some(status) = self.0 {
            opt_str(&mut m, "message", &status.message)?;
            if status.code != 0 {
                m.serialize_entry("code", &status.code)?;
            }
        }
        m.end()
    }
}

impl Serialize for Json<'_, KeyValue> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let kv = self.0;
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("key", &kv.key)?;
        if let Some(value) = &kv.value {
            m.serialize_entry("value", &Json(value))?;
        }
        m.end()
    }
}

/// Unlike other fields, a value field is written even when it holds its default (`""`, `0`,
/// `false`): which one is present is the value's type.
impl Serialize for Json<'_, AnyValue> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use any_value::Value as V;
        let mut m = s.serialize_map(None)?;
        match &self.0.value {
            Some(V::StringValue(v)) => m.serialize_entry("stringValue", v)?,
            Some(V::BoolValue(v)) => m.serialize_entry("boolValue", v)?,
            Some(V::IntValue(v)) => m.serialize_entry("intValue", &Decimal(*v))?,
            Some(V::DoubleValue(v)) => m.serialize_entry("doubleValue", &Double(*v))?,
            Some(V::ArrayValue(v)) => m.serialize_entry("arrayValue", &Json(v))?,
            Some(V::KvlistValue(v)) => m.serialize_entry("kvlistValue", &Json(v))?,
            Some(V::BytesValue(v)) => m.serialize_entry("bytesValue", &STANDARD.encode(v))?,
            // Profiling-only string table reference: meaningless in traces, written as empty.
            Some(V::StringValueStrindex(_)) | None => {}
        }
        m.end()
    }
}

impl Serialize for Json<'_, ArrayValue> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        opt_list(&mut m, "values", self.0.values.as_slice())?;
        m.end()
    }
}

impl Serialize for Json<'_, KeyValueList> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        opt_list(&mut m, "values", self.0.values.as_slice())?;
        m.end()
    }
}

/// JSON has no NaN or infinity; protobuf JSON writes them as strings.
struct Double(f64);

impl Serialize for Double {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let d = self.0;
        if d.is_finite() {
            s.serialize_f64(d)
        } else if d.is_nan() {
            s.serialize_str("NaN")
        } else if d > 0.0 {
            s.serialize_str("Infinity")
        } else {
            s.serialize_str("-Infinity")
        }
    }
}
