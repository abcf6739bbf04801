//! Loads decoded spans (the head's, or any `HeadSpan`s) into a [`SpanBatch`].

use arbor_model::TraceId;
use arbor_model::otlp::{AnyValue, KeyValue, Span, any_value};
use arbor_storage::head::HeadSpan;
use prost::Message;

use super::batch::{
    Col, ColBuilder, FieldKey, Needs, SpanBatch, TracePart, Val, kind_val, span_id_hex,
    span_id_num, status_val,
};
use crate::traceql::{Intrinsic, Scope};

/// A span's fields as OTLP numbers them, without events and links (and, in
/// [`SpanCore`], without attributes): prost skips the fields a message does not declare
/// without allocating for them.
#[derive(Clone, PartialEq, prost::Message)]
struct SpanCore {
    #[prost(bytes = "vec", tag = "2")]
    span_id: Vec<u8>,
    #[prost(bytes = "vec", tag = "4")]
    parent_span_id: Vec<u8>,
    #[prost(string, tag = "5")]
    name: String,
    #[prost(int32, tag = "6")]
    kind: i32,
    #[prost(fixed64, tag = "7")]
    start_time_unix_nano: u64,
    #[prost(fixed64, tag = "8")]
    end_time_unix_nano: u64,
    #[prost(message, optional, tag = "15")]
    status: Option<arbor_model::otlp::Status>,
}

/// [`SpanCore`] with the attributes.
#[derive(Clone, PartialEq, prost::Message)]
struct SpanAttrs {
    #[prost(bytes = "vec", tag = "2")]
    span_id: Vec<u8>,
    #[prost(bytes = "vec", tag = "4")]
    parent_span_id: Vec<u8>,
    #[prost(string, tag = "5")]
    name: String,
    #[prost(int32, tag = "6")]
    kind: i32,
    #[prost(fixed64, tag = "7")]
    start_time_unix_nano: u64,
    #[prost(fixed64, tag = "8")]
    end_time_unix_nano: u64,
    #[prost(message, repeated, tag = "9")]
    attributes: Vec<KeyValue>,
    #[prost(message, optional, tag = "15")]
    status: Option<arbor_model::otlp::Status>,
}

/// How much of each encoded span a search must decode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decode {
    /// IDs, name, kind, times, status.
    Core,
    /// And the span's attributes.
    Attributes,
    /// Everything (events and links are read).
    Full,
}

impl Decode {
    pub fn for_needs(needs: &Needs) -> Decode {
        let mut d = Decode::Core;
        for k in &needs.base {
            match (k.intrinsic(), k.attribute()) {
                (_, Some((Scope::Event | Scope::Link, _)))
                | (
                    Some(
                        Intrinsic::EventName
                        | Intrinsic::EventTimeSinceStart
                        | Intrinsic::LinkTraceId
                        | Intrinsic::LinkSpanId,
                    ),
                    _,
                ) => return Decode::Full,
                (_, Some((Scope::Span, _))) => d = Decode::Attributes,
                _ => {}
            }
        }
        d
    }

    /// Decodes an encoded span to the depth asked for.
    pub fn decode(self, b: &[u8]) -> Option<Span> {
        Some(match self {
            Decode::Full => Span::decode(b).ok()?,
            Decode::Core => {
                let c = SpanCore::decode(b).ok()?;
                Span {
                    span_id: c.span_id,
                    parent_span_id: c.parent_span_id,
                    name: c.name,
                    kind: c.kind,
                    start_time_unix_nano: c.start_time_unix_nano,
                    end_time_unix_nano: c.end_time_unix_nano,
                    status: c.status,
                    ..Default::default()
                }
            }
            Decode::Attributes => {
                let c = SpanAttrs::decode(b).ok()?;
                Span {
                    span_id: c.span_id,
                    parent_span_id: c.parent_span_id,
                    name: c.name,
                    kind: c.kind,
                    start_time_unix_nano: c.start_time_unix_nano,
                    end_time_unix_nano: c.end_time_unix_nano,
                    attributes: c.attributes,
                    status: c.status,
                    ..Default::default()
                }
            }
        })
    }
}

/// Pushes an attribute value: strings, numbers and booleans; anything else (arrays, maps,
/// bytes) reads as nil.
pub fn push_any(b: &mut ColBuilder, v: Option<&AnyValue>) {
    match v.and_then(|v| v.value.as_ref()) {
        Some(any_value::Value::StringValue(s)) => b.push_str(s),
        Some(any_value::Value::IntValue(i)) => b.push(Val::Int(*i)),
        Some(any_value::Value::DoubleValue(f)) => b.push(Val::Float(*f)),
        Some(any_value::Value::BoolValue(x)) => b.push(Val::Bool(*x)),
        _ => b.push(Val::Nil),
    }
}

/// The first attribute named `key`.
pub fn find<'a>(attrs: &'a [KeyValue], key: &str) -> Option<&'a AnyValue> {
    attrs
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref())
}

/// Builds a batch of the given traces (each trace's spans form one part, ordered by start
/// time then span ID), loading what `needs` asks for.
pub fn load(traces: Vec<(TraceId, Vec<HeadSpan>)>, needs: &Needs) -> SpanBatch {
    let mut batch = SpanBatch::default();
    let mut rows: Vec<HeadSpan> = Vec::new();
    for (id, spans) in traces {
        let mut spans = match &needs.scope {
            Some(v) => v.restrict(spans).0,
            None => spans,
        };
        if spans.is_empty() {
            continue;
        }
        spans.sort_by(|a, b| {
            (a.span.start_time_unix_nano, &a.span.span_id)
                .cmp(&(b.span.start_time_unix_nano, &b.span.span_id))
        });
        let start = rows.len() as u32;
        rows.extend(spans);
        batch.traces.push(TracePart {
            id,
            rows: start..rows.len() as u32,
        });
    }
    batch.len = rows.len();
    if needs.ids {
        batch.span_ids = rows.iter().map(|s| span_id_num(&s.span.span_id)).collect();
        batch.parents = rows
            .iter()
            .map(|s| span_id_num(&s.span.parent_span_id))
            .collect();
    }
    if needs.starts {
        batch.starts = rows.iter().map(|s| s.span.start_time_unix_nano).collect();
    }
    if needs.durations {
        batch.durations = rows
            .iter()
            .map(|s| {
                s.span
                    .end_time_unix_nano
                    .wrapping_sub(s.span.start_time_unix_nano)
            })
            .collect();
    }
    let mut keys: Vec<&FieldKey> = needs.base.iter().collect();
    keys.sort();
    for key in keys {
        if let Some(col) = column(&rows, key) {
            batch.cols.insert(key.clone(), col);
        }
    }
    batch.derive(needs);
    batch
}

fn column(rows: &[HeadSpan], key: &FieldKey) -> Option<Col> {
    if let Some((scope, name)) = key.attribute() {
        let multi = matches!(scope, Scope::Event | Scope::Link);
        let mut b = if multi {
            ColBuilder::multi()
        } else {
            ColBuilder::default()
        };
        for s in rows {
            match scope {
                Scope::Span => push_any(&mut b, find(&s.span.attributes, name)),
                Scope::Resource => push_any(
                    &mut b,
                    s.resource
                        .resource
                        .as_ref()
                        .and_then(|r| find(&r.attributes, name)),
                ),
                Scope::Instrumentation => push_any(
                    &mut b,
                    s.scope
                        .scope
                        .as_ref()
                        .and_then(|r| find(&r.attributes, name)),
                ),
                Scope::Event => {
                    for e in &s.span.events {
                        if let Some(v) = find(&e.attributes, name) {
                            push_any(&mut b, Some(v));
                        }
                    }
                    b.end_row();
                }
                Scope::Link => {
                    for l in &s.span.links {
                        if let Some(v) = find(&l.attributes, name) {
                            push_any(&mut b, Some(v));
                        }
                    }
                    b.end_row();
                }
                Scope::None => return None,
            }
        }
        return Some(b.finish());
    }
    let i = key.intrinsic()?;
    let mut b = match i {
        Intrinsic::EventName
        | Intrinsic::EventTimeSinceStart
        | Intrinsic::LinkTraceId
        | Intrinsic::LinkSpanId => ColBuilder::multi(),
        _ => ColBuilder::default(),
    };
    for s in rows {
        let sp = &s.span;
        match i {
            Intrinsic::Name => b.push_str(&sp.name),
            Intrinsic::Status => b.push(status_val(sp.status.as_ref().map(|st| st.code))),
            Intrinsic::StatusMessage => {
                b.push_str(sp.status.as_ref().map_or("", |st| st.message.as_str()))
            }
            Intrinsic::Kind => b.push(kind_val(sp.kind)),
            Intrinsic::InstrumentationName => match &s.scope.scope {
                Some(sc) => b.push_str(&sc.name),
                None => b.push(Val::Nil),
            },
            Intrinsic::InstrumentationVersion => match &s.scope.scope {
                Some(sc) => b.push_str(&sc.version),
                None => b.push(Val::Nil),
            },
            Intrinsic::EventName => {
                for e in &sp.events {
                    b.push_str(&e.name);
                }
                b.end_row();
            }
            Intrinsic::EventTimeSinceStart => {
                for e in &sp.events {
                    b.push(Val::Dur(
                        e.time_unix_nano.wrapping_sub(sp.start_time_unix_nano) as i64,
                    ));
                }
                b.end_row();
            }
            Intrinsic::LinkTraceId => {
                for l in &sp.links {
                    b.push_str(&hex::encode(&l.trace_id));
                }
                b.end_row();
            }
            Intrinsic::LinkSpanId => {
                for l in &sp.links {
                    b.push_str(&span_id_hex(span_id_num(&l.span_id)));
                }
                b.end_row();
            }
            _ => return None,
        }
    }
    Some(b.finish())
}

#[cfg(test)]
mod tests {
    use arbor_model::otlp::{Event, Status, kv_str};

    use super::*;

    #[test]
    fn partial_decoding_keeps_the_fields_it_declares() {
        let full = Span {
            trace_id: vec![1; 16],
            span_id: vec![2; 8],
            parent_span_id: vec![3; 8],
            name: "GET /".into(),
            kind: 2,
            start_time_unix_nano: 10,
            end_time_unix_nano: 25,
            attributes: vec![kv_str("http.route", "/")],
            events: vec![Event {
                name: "exception".into(),
                ..Default::default()
            }],
            status: Some(Status {
                code: 2,
                message: "boom".into(),
            }),
            ..Default::default()
        };
        let bytes = full.encode_to_vec();
        let core = Decode::Core.decode(&bytes).unwrap();
        assert_eq!(
            (&core.span_id, &core.parent_span_id, &core.name, core.kind),
            (&full.span_id, &full.parent_span_id, &full.name, full.kind)
        );
        assert_eq!(
            (core.start_time_unix_nano, core.end_time_unix_nano),
            (10, 25)
        );
        assert_eq!(core.status, full.status);
        assert!(core.attributes.is_empty() && core.events.is_empty());
        let attrs = Decode::Attributes.decode(&bytes).unwrap();
        assert_eq!(attrs.attributes, full.attributes);
        assert!(attrs.events.is_empty());
        assert_eq!(Decode::Full.decode(&bytes).unwrap(), full);
    }
}
