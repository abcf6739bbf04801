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
//! - string and bytes attribute values longer than `max_attribute_value_bytes` are truncated
//!   (at a UTF-8 boundary) and counted;
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
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_attribute_value_bytes: 32 * 1024,
            max_spans_per_request: 50_000,
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
        if self.rejected_spans == 0 && self.truncated_values == 0 {
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
            out.truncated_values += truncate_attributes(&mut resource.attributes, max);
        }
        for ss in &mut rs.scope_spans {
            if let Some(scope) = ss.scope.as_mut() {
                out.truncated_values += truncate_attributes(&mut scope.attributes, max);
            }
            let spans = std::mem::take(&mut ss.spans);
            ss.spans.reserve(spans.len());
            for mut span in spans {
                match check_span(&mut span) {
                    Ok(()) => {
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
    attrs
        .iter_mut()
        .filter_map(|kv| kv.value.as_mut())
        .map(|v| truncate_value(v, max))
        .sum()
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
}
