//! Trace by ID: gather every part of a trace (head, heads being cut, blocks), de-duplicate,
//! and give it back as OTLP. A trace with more spans than the configured maximum is cut to
//! its earliest spans and marked partial, with the counts — never silently.
//!
//! Spans are grouped by resource and scope (spans that arrived in different batches from
//! the same process share one group), groups are ordered by their earliest span, and spans
//! by start time, then span ID, so the same data always reads back the same way.

use std::collections::HashMap;
use std::sync::Arc;

use arbor_model::TraceId;
use arbor_model::otlp::{ResourceSpans, ScopeSpans};
use arbor_storage::head::{HeadSpan, ResourceEntry, ScopeEntry};
use arbor_storage::{Store, StoreError};

use crate::visibility::Visibility;

/// A trace as read back.
#[derive(Debug, Default)]
pub struct TraceLookup {
    pub resource_spans: Vec<ResourceSpans>,
    /// Spans returned.
    pub span_count: usize,
    /// Spans the trace has that the reader may see; more than `span_count` when the trace
    /// was cut to the limit.
    pub total_spans: usize,
    /// Spans held back because the reader's token is narrowed to a scope they are not in.
    pub withheld: usize,
}

impl TraceLookup {
    pub fn is_partial(&self) -> bool {
        self.total_spans > self.span_count || self.withheld > 0
    }

    /// Why the trace is partial, for the answer.
    pub fn partial_message(&self, limit_name: &str) -> Option<String> {
        let mut why = Vec::new();
        if self.total_spans > self.span_count {
            why.push(format!(
                "trace has {} spans, returned the first {} by start time ({limit_name})",
                self.total_spans, self.span_count
            ));
        }
        if self.withheld > 0 {
            why.push(match self.withheld {
                1 => "1 span of this trace is outside the token's scope and was left out".into(),
                n => format!(
                    "{n} spans of this trace are outside the token's scope and were left out"
                ),
            });
        }
        (!why.is_empty()).then(|| why.join("; "))
    }
}

/// Looks a trace up in every place it may be, keeping at most `max_spans` (the earliest)
/// of the spans `scope` admits (every span without one). `None` when no such span is held.
pub async fn find_trace(
    store: &Store,
    tenant: &str,
    id: &TraceId,
    max_spans: usize,
    scope: Option<&Visibility>,
) -> Result<Option<TraceLookup>, StoreError> {
    let mut spans = store.trace(tenant, id).await?;
    let mut withheld = 0;
    if let Some(v) = scope {
        (spans, withheld) = v.restrict(spans);
    }
    if spans.is_empty() {
        return Ok(None);
    }
    let total = spans.len();
    if total > max_spans {
        spans.sort_by_key(|s| s.span.start_time_unix_nano);
        spans.truncate(max_spans);
    }
    let mut found = collate(spans);
    found.total_spans = total;
    found.withheld = withheld;
    Ok(Some(found))
}

/// Spans of one resource, grouped by scope.
type ResourceGroup = (Arc<ResourceEntry>, Vec<(Arc<ScopeEntry>, ScopeSpans)>);

/// Groups spans by resource and scope, in a deterministic order.
pub fn collate(mut spans: Vec<HeadSpan>) -> TraceLookup {
    spans.sort_by(|a, b| {
        (a.span.start_time_unix_nano, &a.span.span_id)
            .cmp(&(b.span.start_time_unix_nano, &b.span.span_id))
    });
    let span_count = spans.len();
    // Resources and scopes are interned per tenant, so pointer identity is content identity
    // for spans of one tenant; equal content under different pointers (from before a cut)
    // still merges through the equality fallback.
    let mut resources: Vec<ResourceGroup> = Vec::new();
    let mut index: HashMap<*const ResourceEntry, usize> = HashMap::new();
    for hs in spans {
        let ri = match index.get(&Arc::as_ptr(&hs.resource)) {
            Some(&i) => i,
            None => {
                let i = resources
                    .iter()
                    .position(|(r, _)| **r == *hs.resource)
                    .unwrap_or_else(|| {
                        resources.push((hs.resource.clone(), Vec::new()));
                        resources.len() - 1
                    });
                index.insert(Arc::as_ptr(&hs.resource), i);
                i
            }
        };
        let scopes = &mut resources[ri].1;
        let si = scopes
            .iter()
            .position(|(s, _)| Arc::ptr_eq(s, &hs.scope) || **s == *hs.scope)
            .unwrap_or_else(|| {
                scopes.push((
                    hs.scope.clone(),
                    ScopeSpans {
                        scope: hs.scope.scope.clone(),
                        schema_url: hs.scope.schema_url.clone(),
                        spans: Vec::new(),
                    },
                ));
                scopes.len() - 1
            });
        scopes[si].1.spans.push(hs.span);
    }
    let resource_spans = resources
        .into_iter()
        .map(|(r, scopes)| ResourceSpans {
            resource: r.resource.clone(),
            schema_url: r.schema_url.clone(),
            scope_spans: scopes.into_iter().map(|(_, ss)| ss).collect(),
        })
        .collect();
    TraceLookup {
        resource_spans,
        span_count,
        total_spans: span_count,
        withheld: 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arbor_model::otlp::{InstrumentationScope, Resource, Span, kv_str};

    fn hs(r: &Arc<ResourceEntry>, s: &Arc<ScopeEntry>, id: u8, start: u64) -> HeadSpan {
        HeadSpan {
            resource: r.clone(),
            scope: s.clone(),
            span: Span {
                span_id: vec![id; 8],
                start_time_unix_nano: start,
                ..Default::default()
            },
        }
    }

    #[test]
    fn groups_and_orders() {
        let ra = Arc::new(ResourceEntry {
            resource: Some(Resource {
                attributes: vec![kv_str("service.name", "a")],
                ..Default::default()
            }),
            schema_url: String::new(),
        });
        let ra2 = Arc::new(ResourceEntry {
            resource: ra.resource.clone(),
            schema_url: String::new(),
        });
        let rb = Arc::new(ResourceEntry {
            resource: Some(Resource {
                attributes: vec![kv_str("service.name", "b")],
                ..Default::default()
            }),
            schema_url: String::new(),
        });
        let s = Arc::new(ScopeEntry {
            scope: Some(InstrumentationScope {
                name: "lib".into(),
                ..Default::default()
            }),
            schema_url: String::new(),
        });
        let out = collate(vec![
            hs(&rb, &s, 3, 30),
            hs(&ra, &s, 2, 20),
            hs(&ra2, &s, 1, 10),
        ]);
        assert_eq!(out.span_count, 3);
        assert_eq!(out.resource_spans.len(), 2, "equal resources merge");
        let a = &out.resource_spans[0].scope_spans[0].spans;
        assert_eq!(
            a.iter().map(|s| s.start_time_unix_nano).collect::<Vec<_>>(),
            vec![10, 20]
        );
    }
}
