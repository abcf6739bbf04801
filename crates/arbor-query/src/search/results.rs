//! What a search answers: matching traces with their summaries and spansets, and how the
//! answer is ordered.

use std::time::Duration;

use arbor_model::TraceId;

use super::batch::{Col, FieldKey, SpanBatch, TracePart, span_id_hex};
use super::spanset::Spanset;
use super::value::{Owned, V};
use crate::traceql::{Intrinsic, Scope, Status};

/// One span of a result.
#[derive(Debug, Clone, PartialEq)]
pub struct ResultSpan {
    pub span_id: String,
    pub name: String,
    pub start_ns: u64,
    pub duration_ns: u64,
    /// The attributes the query reads, and those it selects, that the span has.
    pub attributes: Vec<(String, Owned)>,
}

/// One spanset of a result.
#[derive(Debug, Clone, PartialEq)]
pub struct ResultSet {
    /// At most `spss` of the matched spans, earliest first.
    pub spans: Vec<ResultSpan>,
    pub matched: usize,
    /// `by()` labels.
    pub labels: Vec<(String, Owned)>,
}

/// One matching trace, judged and summarised over all of its spans.
#[derive(Debug, Clone, PartialEq)]
pub struct TraceResult {
    pub trace_id: TraceId,
    pub root_service: Option<String>,
    pub root_name: Option<String>,
    pub start_ns: u64,
    pub end_ns: u64,
    /// Spans of the trace, and those with status error (or a failed function call).
    pub span_count: u64,
    pub error_count: u64,
    pub span_sets: Vec<ResultSet>,
}

impl TraceResult {
    pub fn duration_ns(&self) -> u64 {
        self.end_ns.saturating_sub(self.start_ns)
    }
}

/// What a search looked at.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SearchMetrics {
    pub inspected_traces: u64,
    pub inspected_spans: u64,
    /// Compressed bytes of the columns read from blocks.
    pub inspected_bytes: u64,
    pub total_blocks: u64,
    /// Blocks skipped by time range or attribute index, without reading span data.
    pub pruned_blocks: u64,
    /// Traces read whole because their spans are in more than one part (head, block, row
    /// group) and one part could not decide the answer.
    pub whole_trace_reads: u64,
    pub elapsed: Duration,
}

#[derive(Debug, Clone, Default)]
pub struct SearchResult {
    pub traces: Vec<TraceResult>,
    pub metrics: SearchMetrics,
}

/// Spans kept per merged spanset (the most `spss` may ask for).
pub const MAX_SPANS_PER_SET: usize = 100;

/// Results in answer order: start time, most recent first, then trace ID.
pub(crate) fn most_recent_first(v: &mut [TraceResult]) {
    v.sort_by(|a, b| (b.start_ns, a.trace_id).cmp(&(a.start_ns, b.trace_id)));
}

/// Spansets in answer order: by their `by()` labels.
pub(crate) fn order_sets(sets: &mut [ResultSet]) {
    let key = |s: &ResultSet| -> Vec<(String, (u8, String))> {
        s.labels
            .iter()
            .map(|(k, v)| (k.clone(), v.group_key()))
            .collect()
    };
    sets.sort_by_key(key);
}

/// Span attributes that make a span count as an error in a trace's summary when true
/// (as the block writer counts them: `arbor_model::faas::failed`).
pub(crate) const FAAS_ERROR_TAGS: [&str; 2] = ["faas.error", "faas.error_timeout"];

/// Whether a value is a true flag in any shape (`true`, `"true"`, non-zero).
fn faas_true(v: V) -> bool {
    match v {
        V::Bool(b) => b,
        V::Int(i) => i != 0,
        V::Str(s) => s.trim().eq_ignore_ascii_case("true"),
        _ => false,
    }
}

/// The summary of a trace held whole in a batch (one that loaded the root service, name,
/// status and [`FAAS_ERROR_TAGS`]).
pub(crate) struct Summary {
    pub root_service: Option<String>,
    pub root_name: Option<String>,
    pub start_ns: u64,
    pub end_ns: u64,
    pub span_count: u64,
    pub error_count: u64,
}

pub(crate) fn summarize(batch: &SpanBatch, t: &TracePart) -> Summary {
    let rows = t.rows.start as usize..t.rows.end as usize;
    let start = rows.clone().map(|r| batch.starts[r]).min().unwrap_or(0);
    let end = rows
        .clone()
        .map(|r| batch.starts[r].wrapping_add(batch.durations[r]))
        .max()
        .unwrap_or(0);
    let service = batch.col(&FieldKey::attr(Scope::Resource, "service.name"));
    let name = batch.col(&FieldKey::intr(Intrinsic::Name));
    let status = batch.col(&FieldKey::intr(Intrinsic::Status));
    let faas_error = FAAS_ERROR_TAGS.map(|k| batch.col(&FieldKey::attr(Scope::Span, k)));
    let root = batch.root_of(t);
    let str_at = |c: Option<&Col>, r: Option<usize>| match (c, r) {
        (Some(c), Some(r)) => match c.first(r) {
            V::Str(s) => Some(s.to_string()),
            _ => None,
        },
        _ => None,
    };
    let error_count = rows
        .clone()
        .filter(|&r| {
            status.is_some_and(|c| matches!(c.first(r), V::Status(Status::Error)))
                || faas_error.iter().flatten().any(|c| faas_true(c.first(r)))
        })
        .count() as u64;
    Summary {
        root_service: str_at(service, root),
        root_name: str_at(name, root),
        start_ns: start,
        end_ns: end,
        span_count: rows.len() as u64,
        error_count,
    }
}

/// Turns spansets into results, reading the result fields (`returned`) from `rb` at
/// `map(row)`; at most `spss` spans per set.
pub(crate) fn result_sets(
    returned: &[FieldKey],
    spss: usize,
    sets: &[Spanset],
    rb: &SpanBatch,
    map: impl Fn(u32) -> usize,
) -> Vec<ResultSet> {
    let name = rb.col(&FieldKey::intr(Intrinsic::Name));
    let mut out: Vec<ResultSet> = sets
        .iter()
        .map(|ss| {
            let mut rows: Vec<usize> = ss.rows.iter().map(|&r| map(r)).collect();
            rows.sort_by_key(|&r| (rb.starts[r], rb.span_ids[r]));
            let spans = rows
                .iter()
                .take(spss)
                .map(|&r| ResultSpan {
                    span_id: span_id_hex(rb.span_ids[r]),
                    name: match name.map(|c| c.first(r)) {
                        Some(V::Str(s)) => s.to_string(),
                        _ => String::new(),
                    },
                    start_ns: rb.starts[r],
                    duration_ns: rb.durations[r],
                    attributes: returned
                        .iter()
                        .filter_map(|k| {
                            let v = rb.col(k)?.first(r);
                            (!v.is_nil()).then(|| (returned_name(k), v.to_owned_value()))
                        })
                        .collect(),
                })
                .collect();
            ResultSet {
                spans,
                matched: ss.rows.len(),
                labels: ss.labels.clone(),
            }
        })
        .collect();
    order_sets(&mut out);
    out
}

/// The name a returned field goes by: an attribute's key (as Tempo), an intrinsic's name,
/// `parent.` and the key for a parent's attribute.
fn returned_name(k: &FieldKey) -> String {
    if let Some(own) = k.parent_of() {
        // Beside the span's own value of the same key.
        return format!("parent.{}", returned_name(&own));
    }
    match (k.intrinsic(), k.attribute()) {
        (Some(i), _) => tempo_intrinsic_name(i).to_string(),
        (_, Some((_, n))) => n.to_string(),
        _ => String::new(),
    }
}

/// An intrinsic's name as Tempo returns it in a span's attributes (`select(status)` comes
/// back as `status`, not `span:status`).
fn tempo_intrinsic_name(i: Intrinsic) -> &'static str {
    match i {
        Intrinsic::Duration => "duration",
        Intrinsic::Name => "name",
        Intrinsic::Status => "status",
        Intrinsic::StatusMessage => "statusMessage",
        Intrinsic::Kind => "kind",
        Intrinsic::TraceRootName => "rootName",
        Intrinsic::TraceRootService => "rootServiceName",
        Intrinsic::TraceDuration => "traceDuration",
        other => other.name(),
    }
}
