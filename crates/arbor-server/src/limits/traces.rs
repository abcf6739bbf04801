//! Spans and bytes per trace (`max_spans_per_trace`, `max_bytes_per_trace`), as Tempo's
//! `max_bytes_per_trace`: counted over what the head holds for the trace — the spans taken
//! in since the tenant's head was last cut to a block (a trace that goes on after a cut
//! starts counting again). Bytes are the spans' protobuf encoding, as the head stores them.
//! When a tenant has neither limit, nothing is counted.
//!
//! The count of a trace is read from the head the first time the trace is seen in a head
//! generation (so it is right after a restart, when the head was rebuilt from the log), then
//! kept up to date as requests are taken. A span that would take its trace past a limit is
//! refused, and so is every later span of that trace while the head holds it: the trace is
//! *truncated*. Truncated traces are kept in `truncated_traces.log` in the data directory
//! (one `tenant<TAB>trace ID<TAB>reason` line each, appended when a trace is first
//! truncated), so trace-by-ID answers flag them (Tempo's `PARTIAL` status and
//! `X-Arbor-Partial`) after a restart too.

use std::collections::HashMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use arbor_model::TraceId;
use arbor_model::otlp::ExportTraceServiceRequest;
use arbor_storage::head::Head;
use parking_lot::Mutex;
use prost::Message;

use super::overrides::TenantLimits;

/// Distinct truncated traces named in one answer to the client.
const MAX_NAMED: usize = 5;

#[derive(Default)]
struct Count {
    spans: u64,
    bytes: u64,
    /// Why the rest of the trace is refused, once it is.
    truncated: Option<String>,
}

#[derive(Default)]
struct TenantTraces {
    generation: Option<u64>,
    traces: HashMap<TraceId, Count>,
}

/// What [`TraceSizes::enforce`] did to a request.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct TraceCut {
    /// Spans refused.
    pub refused: u64,
    /// One reason per truncated trace (at most a few).
    pub reasons: Vec<String>,
}

/// The counts of every tenant's live traces, and the truncated ones.
pub struct TraceSizes {
    tenants: Mutex<HashMap<String, TenantTraces>>,
    truncated: Mutex<HashMap<(String, TraceId), String>>,
    log: Option<PathBuf>,
}

impl TraceSizes {
    /// Keeps the truncated traces in `dir` (`None`: in memory only), reading those kept.
    pub fn open(dir: Option<&Path>) -> Self {
        let log = dir.map(|d| d.join("truncated_traces.log"));
        let mut truncated = HashMap::new();
        if let Some(path) = &log
            && let Ok(text) = std::fs::read_to_string(path)
        {
            for line in text.lines() {
                let mut parts = line.splitn(3, '\t');
                if let (Some(t), Some(id), Some(reason)) =
                    (parts.next(), parts.next(), parts.next())
                    && let Ok(id) = TraceId::from_hex(id)
                {
                    truncated.insert((t.to_string(), id), reason.to_string());
                }
            }
        }
        Self {
            tenants: Mutex::new(HashMap::new()),
            truncated: Mutex::new(truncated),
            log,
        }
    }

    /// Why a trace was truncated at ingest, if it was.
    pub fn truncated(&self, tenant: &str, id: &TraceId) -> Option<String> {
        self.truncated
            .lock()
            .get(&(tenant.to_string(), *id))
            .cloned()
    }

    /// Takes out of `req` the spans that would take their trace past the tenant's limits,
    /// and counts the rest as held. `head` is read for a trace not seen before.
    pub fn enforce(
        &self,
        tenant: &str,
        limits: &TenantLimits,
        head: &Head,
        req: &mut ExportTraceServiceRequest,
    ) -> TraceCut {
        let (max_spans, max_bytes) = (limits.max_spans_per_trace, limits.max_bytes_per_trace);
        let mut cut = TraceCut::default();
        if max_spans == 0 && max_bytes == 0 {
            return cut;
        }
        let tenant_head = head.tenant(tenant);
        let mut tenants = self.tenants.lock();
        let mine = tenants.entry(tenant.to_string()).or_default();
        let generation = tenant_head.as_ref().map(|h| h.generation());
        if mine.generation != generation {
            // The head was cut (or never held the tenant): what it holds is counted anew.
            mine.traces.clear();
            mine.generation = generation;
        }
        let mut newly = Vec::new();
        for rs in &mut req.resource_spans {
            for ss in &mut rs.scope_spans {
                ss.spans.retain(|span| {
                    let Ok(id) = TraceId::from_bytes(&span.trace_id) else {
                        return true;
                    };
                    let count = mine.traces.entry(id).or_insert_with(|| {
                        let mut c = Count::default();
                        if let Some(h) = &tenant_head
                            && h.contains(&id)
                        {
                            for s in h.trace(&id) {
                                c.spans += 1;
                                c.bytes += s.span.encoded_len() as u64;
                            }
                        }
                        c
                    });
                    let bytes = span.encoded_len() as u64;
                    if count.truncated.is_none() {
                        let over = if max_spans > 0 && count.spans + 1 > max_spans {
                            Some(format!(
                                "trace {id} reached max_spans_per_trace = {max_spans} of tenant {tenant:?} (overrides); the rest of the trace is refused"
                            ))
                        } else if max_bytes > 0 && count.bytes + bytes > max_bytes {
                            Some(format!(
                                "trace {id} reached max_bytes_per_trace = {max_bytes} bytes of tenant {tenant:?} (overrides; it holds {} bytes, this span is {bytes}); the rest of the trace is refused",
                                count.bytes
                            ))
                        } else {
                            None
                        };
                        if let Some(reason) = over {
                            newly.push((id, reason.clone()));
                            count.truncated = Some(reason);
                        }
                    }
                    match &count.truncated {
                        Some(reason) => {
                            cut.refused += 1;
                            if cut.reasons.len() < MAX_NAMED && !cut.reasons.contains(reason) {
                                cut.reasons.push(reason.clone());
                            }
                            false
                        }
                        None => {
                            count.spans += 1;
                            count.bytes += bytes;
                            true
                        }
                    }
                });
            }
            rs.scope_spans.retain(|ss| !ss.spans.is_empty());
        }
        req.resource_spans.retain(|rs| !rs.scope_spans.is_empty());
        drop(tenants);
        for (id, reason) in newly {
            self.mark(tenant, id, reason);
        }
        cut
    }

    /// Gives back the counts of spans that were not taken after all (the write failed).
    pub fn release(&self, tenant: &str, charged: &[(TraceId, u64)]) {
        if charged.is_empty() {
            return;
        }
        let mut tenants = self.tenants.lock();
        let Some(mine) = tenants.get_mut(tenant) else {
            return;
        };
        for (id, bytes) in charged {
            if let Some(c) = mine.traces.get_mut(id) {
                c.spans = c.spans.saturating_sub(1);
                c.bytes = c.bytes.saturating_sub(*bytes);
            }
        }
    }

    fn mark(&self, tenant: &str, id: TraceId, reason: String) {
        tracing::info!(tenant, trace = %id, "{reason}");
        let fresh = self
            .truncated
            .lock()
            .insert((tenant.to_string(), id), reason.clone())
            .is_none();
        if let (true, Some(path)) = (fresh, &self.log) {
            let line = format!("{tenant}\t{id}\t{}\n", reason.replace(['\n', '\t'], " "));
            let written = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .and_then(|mut f| f.write_all(line.as_bytes()));
            if let Err(e) = written {
                tracing::error!(path = %path.display(), error = %e, "recording a truncated trace failed; it is flagged until the server stops");
            }
        }
    }
}

/// What [`TraceSizes::enforce`] counted for a request's spans (trace, bytes), to give back
/// with [`TraceSizes::release`]; empty when the tenant has no trace limits.
pub fn charges(limits: &TenantLimits, req: &ExportTraceServiceRequest) -> Vec<(TraceId, u64)> {
    if limits.max_spans_per_trace == 0 && limits.max_bytes_per_trace == 0 {
        return Vec::new();
    }
    req.resource_spans
        .iter()
        .flat_map(|rs| &rs.scope_spans)
        .flat_map(|ss| &ss.spans)
        .filter_map(|s| {
            Some((
                TraceId::from_bytes(&s.trace_id).ok()?,
                s.encoded_len() as u64,
            ))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use arbor_model::otlp::{ResourceSpans, ScopeSpans, Span};

    fn request(trace: u8, spans: std::ops::Range<u8>) -> ExportTraceServiceRequest {
        ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                scope_spans: vec![ScopeSpans {
                    spans: spans
                        .map(|i| Span {
                            trace_id: vec![trace; 16],
                            span_id: vec![i + 1; 8],
                            name: "s".into(),
                            ..Default::default()
                        })
                        .collect(),
                    ..Default::default()
                }],
                ..Default::default()
            }],
        }
    }

    fn limits(spans: u64, bytes: u64) -> TenantLimits {
        TenantLimits {
            max_spans_per_trace: spans,
            max_bytes_per_trace: bytes,
            ..TenantLimits::from_config(&Config::default())
        }
    }

    #[test]
    fn past_the_span_limit_the_rest_is_refused_and_flagged() {
        let dir = tempfile::tempdir().unwrap();
        let head = Head::new(1 << 30);
        let sizes = TraceSizes::open(Some(dir.path()));
        let l = limits(3, 0);
        let mut first = request(7, 0..2);
        assert_eq!(sizes.enforce("a", &l, &head, &mut first).refused, 0);
        head.append("a", first);
        let mut second = request(7, 2..5);
        let cut = sizes.enforce("a", &l, &head, &mut second);
        assert_eq!(cut.refused, 2);
        assert!(
            cut.reasons[0].contains("max_spans_per_trace = 3"),
            "{cut:?}"
        );
        assert_eq!(arbor_model::validate::span_count(&second), 1);
        // Another trace and another tenant are unaffected; this trace stays refused.
        let mut other = request(8, 0..3);
        assert_eq!(sizes.enforce("a", &l, &head, &mut other).refused, 0);
        let mut again = request(7, 9..10);
        assert_eq!(sizes.enforce("a", &l, &head, &mut again).refused, 1);
        let id = TraceId::from_bytes(&[7; 16]).unwrap();
        assert!(sizes.truncated("a", &id).is_some());
        assert!(sizes.truncated("b", &id).is_none());
        // Kept across a restart.
        let reopened = TraceSizes::open(Some(dir.path()));
        assert!(reopened.truncated("a", &id).unwrap().contains("trace"));
    }

    #[test]
    fn counts_start_from_what_the_head_holds() {
        let head = Head::new(1 << 30);
        head.append("a", request(1, 0..4));
        let sizes = TraceSizes::open(None);
        let one_span = request(1, 0..1);
        let size = arbor_model::otlp::Span::encoded_len(
            &one_span.resource_spans[0].scope_spans[0].spans[0],
        ) as u64;
        // Room for exactly one more span by bytes.
        let l = limits(0, size * 5);
        let mut more = request(1, 4..6);
        let cut = sizes.enforce("a", &l, &head, &mut more);
        assert_eq!(cut.refused, 1, "{cut:?}");
        assert!(cut.reasons[0].contains("max_bytes_per_trace"), "{cut:?}");
    }
}
