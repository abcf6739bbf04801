//! Validation and normalisation of incoming span batches.
//!
//! Every receiver (OTLP/gRPC, OTLP/HTTP, Zipkin) decodes into an OTLP
//! [`ExportTraceServiceRequest`] and passes it through [`normalize`] before it reaches the
//! write-ahead log. A bad span is rejected on its own, with a reason; its neighbours are kept.
//!
//! Rules, each with its limit named in the message:
//! - trace ID must be 16 bytes and span ID 8 bytes, neither all zero; a parent span ID is
//!   either empty or 8 bytes (an all-zero parent is read as "no parent", as many SDKs send it);
//!   link IDs likewise (a bad link is dropped and counted in `dropped_links_count`);
//! - end before start: the span is rejected;
//! - string and bytes attribute values (and keys) longer than `max_attribute_value_bytes` are
//!   truncated (at a UTF-8 boundary) and counted;
//! - past `max_attributes` attributes on a span, resource, scope, event or link (and past as
//!   many elements in an array or map value), past `max_events` events or `max_links` links
//!   on a span, the rest are dropped, counted in the holder's `dropped_*_count` as OTLP
//!   defines it, and reported to the client: one span of 500,000 attributes costs no more
//!   than one of the limit's;
//! - more than `max_spans_per_request` spans: the whole request is refused.
//!
//! Empty resource and scope groups are dropped after rejection, so what reaches the WAL holds
//! only accepted spans.

use crate::ids::{IdError, SpanId, TraceId};
use crate::otlp::{AnyValue, ExportTraceServiceRequest, KeyValue, Span, any_value};

/// Limits applied to every span batch, whatever protocol it came by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// String and bytes attribute values longer than this are truncated.
    pub max_attribute_value_bytes: usize,
    /// A request with more spans than this is refused whole.
    pub max_spans_per_request: usize,
    /// Attributes kept per span, resource, scope, event and link (and elements per array or
    /// map value); the rest are dropped and counted.
    pub max_attributes: usize,
    /// Events kept per span; the rest are dropped and counted.
    pub max_events: usize,
    /// Links kept per span; the rest are dropped and counted.
    pub max_links: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_attribute_value_bytes: 32 * 1024,
            max_spans_per_request: 50_000,
            max_attributes: 1000,
            max_events: 1000,
            max_links: 1000,
        }
    }
}

/// A request refused whole.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    #[error("request has {got} spans, the limit is {limit} (limits.max_spans_per_request)")]
    TooManySpans { got: usize, limit: usize },
}

/// The outcome of [`normalize`]: the accepted spans and what was refused or changed.
#[derive(Debug, Default)]
pub struct Normalized {
    pub request: ExportTraceServiceRequest,
    pub accepted_spans: u64,
    pub rejected_spans: u64,
    /// Attribute values (span, resource, scope, event, link) that were cut to the limit.
    pub truncated_values: u64,
    /// Attributes (or array and map elements), events and links dropped past their limits.
    pub dropped_attributes: u64,
    pub dropped_events: u64,
    pub dropped_links: u64,
    /// The first few reasons for rejected spans, for the client's error message and the log.
    pub reasons: Vec<String>,
}

/// How many distinct rejection reasons are kept for the answer to the client.
const MAX_REASONS: usize = 5;

impl Normalized {
    /// Adds rejections found while decoding (a decoder that could not read a span's IDs).
    pub fn add_decode_rejections(&mut self, reasons: impl IntoIterator<Item = String>) {
        for reason in reasons {
            self.rejected_spans += 1;
            self.push_reason(reason);
        }
    }

    fn push_reason(&mut self, reason: String) {
        if self.reasons.len() < MAX_REASONS {
            self.reasons.push(reason);
        }
    }

    /// One message for the client: how many spans were rejected and why.
    pub fn rejection_message(&self) -> Option<String> {
        let dropped = self.dropped_attributes + self.dropped_events + self.dropped_links;
        if self.rejected_spans == 0 && self.truncated_values == 0 && dropped == 0 {
            return None;
        }
        let mut parts = Vec::new();
        if self.rejected_spans > 0 {
            let more =
                self.rejected_spans as usize - self.reasons.len().min(self.rejected_spans as usize);
            let mut s = format!(
                "{} spans rejected: {}",
                self.rejected_spans,
                self.reasons.join("; ")
            );
            if more > 0 {
                s.push_str(&format!("; and {more} more"));
            }
            parts.push(s);
        }
        if self.truncated_values > 0 {
            parts.push(format!(
                "{} attribute values truncated to the limit",
                self.truncated_values
            ));
        }
        for (n, what, limit) in [
            (
                self.dropped_attributes,
                "attributes",
                "limits.max_attributes_per_span",
            ),
            (self.dropped_events, "events", "limits.max_events_per_span"),
            (self.dropped_links, "links", "limits.max_links_per_span"),
        ] {
            if n > 0 {
                parts.push(format!("{n} {what} dropped past the limit ({limit})"));
            }
        }
        Some(parts.join("; "))
    }
}

/// Counts the spans of a request without changing it.
pub fn span_count(req: &ExportTraceServiceRequest) -> usize {
    req.resource_spans
        .iter()
        .flat_map(|rs| rs.scope_spans.iter())
        .map(|ss| ss.spans.len())
        .sum()
}

/// Validates and normalises a request: rejects bad spans, truncates long values.
pub fn normalize(
    mut req: ExportTraceServiceRequest,
    limits: &Limits,
) -> Result<Normalized, RequestError> {
    let total = span_count(&req);
    if total > limits.max_spans_per_request {
        return Err(RequestError::TooManySpans {
            got: total,
            limit: limits.max_spans_per_request,
        });
    }
    let mut out = Normalized::default();
    let max = limits.max_attribute_value_bytes;
    for rs in &mut req.resource_spans {
        if let Some(resource) = rs.resource.as_mut() {
            let d = cap_attributes(&mut resource.attributes, limits.max_attributes);
            resource.dropped_attributes_count = add_count(resource.dropped_attributes_count, d);
            out.dropped_attributes += d;
            out.truncated_values += truncate_attributes(&mut resource.attributes, max);
        }
        for ss in &mut rs.scope_spans {
            if let Some(scope) = ss.scope.as_mut() {
                let d = cap_attributes(&mut scope.attributes, limits.max_attributes);
                scope.dropped_attributes_count = add_count(scope.dropped_attributes_count, d);
                out.dropped_attributes += d;
                out.truncated_values += truncate_attributes(&mut scope.attributes, max);
            }
            let spans = std::mem::take(&mut ss.spans);
            ss.spans.reserve(spans.len());
            for mut span in spans {
                match check_span(&mut span) {
                    Ok(()) => {
                        cap_span(&mut span, limits, &mut out);
                        out.truncated_values += truncate_span(&mut span, max);
                        out.accepted_spans += 1;
                        ss.spans.push(span);
                    }
                    Err(reason) => {
                        out.rejected_spans += 1;
                        out.push_reason(reason);
                    }
                }
            }
        }
        rs.scope_spans.retain(|ss| !ss.spans.is_empty());
    }
    req.resource_spans.retain(|rs| !rs.scope_spans.is_empty());
    out.request = req;
    Ok(out)
}

fn describe(span: &Span, err: IdError) -> String {
    format!("span {:?}: {err}", truncate_for_message(&span.name))
}

fn truncate_for_message(s: &str) -> String {
    if s.len() <= 64 {
        s.to_string()
    } else {
        let mut end = 64;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        format!("{}…", &s[..end])
    }
}

fn check_span(span: &mut Span) -> Result<(), String> {
    TraceId::from_bytes(&span.trace_id).map_err(|e| describe(span, e))?;
    SpanId::from_bytes(&span.span_id).map_err(|e| describe(span, e))?;
    if !span.parent_span_id.is_empty() {
        if span.parent_span_id.iter().all(|b| *b == 0) {
            span.parent_span_id.clear();
        } else {
            SpanId::from_bytes(&span.parent_span_id).map_err(|e| describe(span, parent(e)))?;
        }
    }
    if span.end_time_unix_nano < span.start_time_unix_nano {
        return Err(format!(
            "span {:?}: end time {} is before start time {}",
            truncate_for_message(&span.name),
            span.end_time_unix_nano,
            span.start_time_unix_nano
        ));
    }
    let before = span.links.len();
    span.links.retain(|l| {
        TraceId::from_bytes(&l.trace_id).is_ok() && SpanId::from_bytes(&l.span_id).is_ok()
    });
    span.dropped_links_count += (before - span.links.len()) as u32;
    Ok(())
}

fn parent(e: IdError) -> IdError {
    match e {
        IdError::WrongLength { expected, got, .. } => IdError::WrongLength {
            what: "parent span id",
            expected,
            got,
        },
        IdError::Zero { .. } => IdError::Zero {
            what: "parent span id",
        },
        other => other,
    }
}

/// Adds `dropped` to an OTLP `dropped_*_count`, saturating.
fn add_count(count: u32, dropped: u64) -> u32 {
    count.saturating_add(u32::try_from(dropped).unwrap_or(u32::MAX))
}

/// Keeps the first `max` attributes, and at most `max` elements in each array or map value
/// within them; returns how many were dropped.
fn cap_attributes(attrs: &mut Vec<KeyValue>, max: usize) -> u64 {
    let mut dropped = 0;
    if attrs.len() > max {
        dropped += (attrs.len() - max) as u64;
        attrs.truncate(max);
    }
    for v in attrs.iter_mut().filter_map(|kv| kv.value.as_mut()) {
        dropped += cap_value(v, max);
    }
    dropped
}

fn cap_value(v: &mut AnyValue, max: usize) -> u64 {
    match v.value.as_mut() {
        Some(any_value::Value::ArrayValue(a)) => {
            let mut dropped = 0;
            if a.values.len() > max {
                dropped += (a.values.len() - max) as u64;
                a.values.truncate(max);
            }
            dropped + a.values.iter_mut().map(|v| cap_value(v, max)).sum::<u64>()
        }
        Some(any_value::Value::KvlistValue(kv)) => cap_attributes(&mut kv.values, max),
        _ => 0,
    }
}

/// Applies the attribute, event and link limits to a span, counting what it drops.
fn cap_span(span: &mut Span, limits: &Limits, out: &mut Normalized) {
    let d = cap_attributes(&mut span.attributes, limits.max_attributes);
    span.dropped_attributes_count = add_count(span.dropped_attributes_count, d);
    out.dropped_attributes += d;
    if span.events.len() > limits.max_events {
        let d = (span.events.len() - limits.max_events) as u64;
        span.events.truncate(limits.max_events);
        span.dropped_events_count = add_count(span.dropped_events_count, d);
        out.dropped_events += d;
    }
    if span.links.len() > limits.max_links {
        let d = (span.links.len() - limits.max_links) as u64;
        span.links.truncate(limits.max_links);
        span.dropped_links_count = add_count(span.dropped_links_count, d);
        out.dropped_links += d;
    }
    for e in &mut span.events {
        let d = cap_attributes(&mut e.attributes, limits.max_attributes);
        e.dropped_attributes_count = add_count(e.dropped_attributes_count, d);
        out.dropped_attributes += d;
    }
    for l in &mut span.links {
        let d = cap_attributes(&mut l.attributes, limits.max_attributes);
        l.dropped_attributes_count = add_count(l.dropped_attributes_count, d);
        out.dropped_attributes += d;
    }
}

fn truncate_span(span: &mut Span, max: usize) -> u64 {
    let mut n = truncate_attributes(&mut span.attributes, max);
    for e in &mut span.events {
        n += truncate_attributes(&mut e.attributes, max);
    }
    for l in &mut span.links {
        n += truncate_attributes(&mut l.attributes, max);
    }
    if span.name.len() > max {
        truncate_string(&mut span.name, max);
        n += 1;
    }
    if let Some(status) = span.status.as_mut()
        && status.message.len() > max
    {
        truncate_string(&mut status.message, max);
        n += 1;
    }
    n
}

fn truncate_attributes(attrs: &mut [KeyValue], max: usize) -> u64 {
    let mut n = 0;
    for kv in attrs.iter_mut() {
        if kv.key.len() > max {
            truncate_string(&mut kv.key, max);
            n += 1;
        }
        if let Some(v) = kv.value.as_mut() {
            n += truncate_value(v, max);
        }
    }
    n
}

fn truncate_value(v: &mut AnyValue, max: usize) -> u64 {
    match v.value.as_mut() {
        Some(any_value::Value::StringValue(s)) if s.len() > max => {
            truncate_string(s, max);
            1
        }
        Some(any_value::Value::BytesValue(b)) if b.len() > max => {
            b.truncate(max);
            1
        }
        Some(any_value::Value::ArrayValue(a)) => {
            a.values.iter_mut().map(|v| truncate_value(v, max)).sum()
        }
        Some(any_value::Value::KvlistValue(kv)) => truncate_attributes(&mut kv.values, max),
        _ => 0,
    }
}

fn truncate_string(s: &mut String, max: usize) {
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s.truncate(end);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::otlp::{ResourceSpans, ScopeSpans, kv_str};

    fn span(trace: &[u8], id: &[u8], start: u64, end: u64) -> Span {
        Span {
            trace_id: trace.to_vec(),
            span_id: id.to_vec(),
            name: "op".into(),
            start_time_unix_nano: start,
            end_time_unix_nano: end,
            ..Default::default()
        }
    }

    fn request(spans: Vec<Span>) -> ExportTraceServiceRequest {
        ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                scope_spans: vec![ScopeSpans {
                    spans,
                    ..Default::default()
                }],
                ..Default::default()
            }],
        }
    }

    #[test]
    fn bad_spans_rejected_neighbours_kept() {
        let good = span(&[1; 16], &[2; 8], 10, 20);
        let req = request(vec![
            good.clone(),
            span(&[0; 16], &[2; 8], 10, 20),
            span(&[1; 16], &[2; 4], 10, 20),
            span(&[1; 16], &[3; 8], 30, 20),
            span(&[1; 8], &[3; 8], 10, 20),
        ]);
        let out = normalize(req, &Limits::default()).unwrap();
        assert_eq!(out.accepted_spans, 1);
        assert_eq!(out.rejected_spans, 4);
        assert_eq!(
            out.request.resource_spans[0].scope_spans[0].spans,
            vec![good]
        );
        let msg = out.rejection_message().unwrap();
        assert!(msg.contains("trace id is all zeros"), "{msg}");
        assert!(msg.contains("span id must be 8 bytes, got 4"), "{msg}");
        assert!(msg.contains("end time 20 is before start time 30"), "{msg}");
        assert!(msg.contains("trace id must be 16 bytes, got 8"), "{msg}");
    }

    #[test]
    fn empty_groups_dropped() {
        let out = normalize(
            request(vec![span(&[0; 16], &[1; 8], 1, 2)]),
            &Limits::default(),
        )
        .unwrap();
        assert!(out.request.resource_spans.is_empty());
    }

    #[test]
    fn zero_parent_means_root() {
        let mut s = span(&[1; 16], &[2; 8], 1, 2);
        s.parent_span_id = vec![0; 8];
        let out = normalize(request(vec![s]), &Limits::default()).unwrap();
        assert!(
            out.request.resource_spans[0].scope_spans[0].spans[0]
                .parent_span_id
                .is_empty()
        );
    }

    #[test]
    fn long_values_truncated_at_char_boundary() {
        let mut s = span(&[1; 16], &[2; 8], 1, 2);
        s.attributes.push(kv_str("big", &"é".repeat(100)));
        s.attributes.push(kv_str("small", "ok"));
        let limits = Limits {
            max_attribute_value_bytes: 51,
            ..Limits::default()
        };
        let out = normalize(request(vec![s]), &limits).unwrap();
        assert_eq!(out.truncated_values, 1);
        let attrs = &out.request.resource_spans[0].scope_spans[0].spans[0].attributes;
        match attrs[0].value.as_ref().unwrap().value.as_ref().unwrap() {
            any_value::Value::StringValue(v) => assert_eq!(v.len(), 50),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn too_many_spans_refused_whole() {
        let spans = (0..5).map(|i| span(&[1; 16], &[i + 1; 8], 1, 2)).collect();
        let limits = Limits {
            max_spans_per_request: 4,
            ..Limits::default()
        };
        let err = normalize(request(spans), &limits).unwrap_err();
        assert_eq!(
            err.to_string(),
            "request has 5 spans, the limit is 4 (limits.max_spans_per_request)"
        );
    }

    #[test]
    fn attributes_events_and_links_past_their_limits_are_dropped_and_counted() {
        let mut sp = span(&[1; 16], &[2; 8], 1, 2);
        sp.attributes = (0..500).map(|i| kv_str(&format!("k{i}"), "v")).collect();
        sp.dropped_attributes_count = 3;
        sp.events = (0..20)
            .map(|i| crate::otlp::Event {
                name: format!("e{i}"),
                attributes: (0..15).map(|j| kv_str(&format!("a{j}"), "v")).collect(),
                ..Default::default()
            })
            .collect();
        sp.links = (0..12)
            .map(|_| crate::otlp::Link {
                trace_id: vec![3; 16],
                span_id: vec![4; 8],
                ..Default::default()
            })
            .collect();
        let mut big = kv_str("list", "");
        big.value = Some(AnyValue {
            value: Some(any_value::Value::ArrayValue(crate::otlp::ArrayValue {
                values: (0..50)
                    .map(|_| AnyValue {
                        value: Some(any_value::Value::IntValue(1)),
                    })
                    .collect(),
            })),
        });
        sp.attributes.insert(0, big);
        let limits = Limits {
            max_attributes: 10,
            max_events: 5,
            max_links: 4,
            ..Limits::default()
        };
        let out = normalize(request(vec![sp]), &limits).unwrap();
        let got = &out.request.resource_spans[0].scope_spans[0].spans[0];
        assert_eq!(got.attributes.len(), 10);
        // 491 attributes past the first ten, 40 elements of the array.
        assert_eq!(got.dropped_attributes_count, 3 + 491 + 40);
        assert_eq!(got.events.len(), 5);
        assert_eq!(got.dropped_events_count, 15);
        assert!(
            got.events
                .iter()
                .all(|e| e.attributes.len() == 10 && e.dropped_attributes_count == 5)
        );
        assert_eq!(got.links.len(), 4);
        assert_eq!(got.dropped_links_count, 8);
        assert_eq!(out.dropped_attributes, 491 + 40 + 5 * 5);
        let msg = out.rejection_message().unwrap();
        assert!(
            msg.contains("556 attributes dropped past the limit (limits.max_attributes_per_span)"),
            "{msg}"
        );
        assert!(
            msg.contains("15 events dropped past the limit (limits.max_events_per_span)"),
            "{msg}"
        );
        assert!(msg.contains("8 links dropped"), "{msg}");
    }

    #[test]
    fn long_keys_are_truncated_too() {
        let mut sp = span(&[1; 16], &[2; 8], 1, 2);
        sp.attributes = vec![kv_str(&"k".repeat(100), "v")];
        let limits = Limits {
            max_attribute_value_bytes: 10,
            ..Limits::default()
        };
        let out = normalize(request(vec![sp]), &limits).unwrap();
        let got = &out.request.resource_spans[0].scope_spans[0].spans[0];
        assert_eq!(got.attributes[0].key.len(), 10);
        assert_eq!(out.truncated_values, 1);
    }
}
