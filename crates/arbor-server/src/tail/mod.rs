//! Live tail: spans as they are acknowledged, to whoever watches.
//!
//! `ingest::submit` [`Hub::tap`]s every batch before the store takes it (a copy only while
//! someone watches) and publishes it once the store has acknowledged it. `GET /api/tail`
//! (server-sent events, see docs/api.md) subscribes: each acknowledged batch of its tenant
//! is matched against its TraceQL filter span by span, and the matching spans are sent as
//! `span` events — at most `limit` a second. Past the limit the spans are sampled (every
//! n-th, n from the previous second's count, and never more than the limit) and a `stats`
//! event says how many matched and how many were sent; a watcher too slow for its own
//! limit, or lagging behind the hub, loses spans and is told so the same way.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use arbor_model::TraceId;
use arbor_model::otlp::{ExportTraceServiceRequest, Span, any_value};
use arbor_query::search::live::LiveFilter;
use arbor_query::traceql::{self, QueryKind, SpansetExpr, Stage};
use arbor_query::visibility::Visibility;
use arbor_storage::head::{HeadSpan, ResourceEntry, ScopeEntry};
use serde_json::{Value, json};
use tokio::sync::broadcast;

/// Batches the hub holds for watchers that are behind.
const HUB_CAPACITY: usize = 1024;
/// Spans a second sent when the request does not say.
pub const DEFAULT_LIMIT: u32 = 100;
pub const MAX_LIMIT: u32 = 5000;
/// Attributes of a span sent with it.
const MAX_ATTRIBUTES: usize = 64;

/// An acknowledged batch.
pub(crate) struct Acked {
    pub(crate) tenant: String,
    pub(crate) request: ExportTraceServiceRequest,
}

pub mod api;

pub struct Hub {
    tx: broadcast::Sender<Arc<Acked>>,
    /// Set when the process is told to stop (SIGTERM, SIGINT): watchers end their streams
    /// so that the server's graceful shutdown is not held up by them.
    closing: tokio::sync::watch::Sender<bool>,
    signals: std::sync::Once,
}

impl Default for Hub {
    fn default() -> Self {
        Self {
            tx: broadcast::channel(HUB_CAPACITY).0,
            closing: tokio::sync::watch::channel(false).0,
            signals: std::sync::Once::new(),
        }
    }
}

/// A batch on its way into the store: published by [`Tap::publish`] once acknowledged.
pub struct Tap<'a> {
    hub: &'a Hub,
    batch: Option<Acked>,
}

impl Hub {
    /// A watcher's subscription, and the flag that ends it; the first one starts listening
    /// for the signals that stop the server.
    pub(crate) fn subscribe(
        &self,
    ) -> (
        broadcast::Receiver<Arc<Acked>>,
        tokio::sync::watch::Receiver<bool>,
    ) {
        self.signals.call_once(|| {
            let closing = self.closing.clone();
            tokio::spawn(async move {
                use tokio::signal::unix::{SignalKind, signal};
                let (Ok(mut term), Ok(mut int)) = (
                    signal(SignalKind::terminate()),
                    signal(SignalKind::interrupt()),
                ) else {
                    return;
                };
                tokio::select! {
                    _ = term.recv() => {}
                    _ = int.recv() => {}
                }
                let _ = closing.send(true);
            });
        });
        (self.tx.subscribe(), self.closing.subscribe())
    }

    /// Keeps a copy of `request` when someone watches.
    pub fn tap<'a>(&'a self, tenant: &str, request: &ExportTraceServiceRequest) -> Tap<'a> {
        let batch = (self.tx.receiver_count() > 0).then(|| Acked {
            tenant: tenant.to_string(),
            request: request.clone(),
        });
        Tap { hub: self, batch }
    }
}

impl Tap<'_> {
    pub fn publish(self) {
        if let Some(b) = self.batch {
            // No watcher left: nothing to do.
            let _ = self.hub.tx.send(Arc::new(b));
        }
    }
}

/// Why a tail query is refused.
#[derive(Debug, thiserror::Error)]
pub enum TailError {
    #[error("q: {0}")]
    Query(String),
    #[error(
        "q: the live tail takes one spanset filter, {{ … }} (no pipelines or structural operators)"
    )]
    NotAFilter,
    #[error("limit: {0:?} is not a number of spans a second from 1 to {MAX_LIMIT}")]
    Limit(String),
}

/// The filter of a tail query: one spanset filter, compiled.
/// `scope`: a narrowed token's, whose tail shows only the spans it may see.
pub fn filter_of(q: &str, scope: Option<&Arc<Visibility>>) -> Result<LiveFilter, TailError> {
    let q = if q.trim().is_empty() { "{ }" } else { q };
    let query = traceql::parse_and_validate(q).map_err(|e| TailError::Query(e.to_string()))?;
    match query.kind {
        QueryKind::Search(p)
            if p.stages.len() == 1
                && matches!(p.stages[0], Stage::Spanset(SpansetExpr::Filter(_))) =>
        {
            LiveFilter::new(&p, scope).map_err(|e| TailError::Query(e.to_string()))
        }
        _ => Err(TailError::NotAFilter),
    }
}

pub(crate) fn limit_of(v: Option<&String>) -> Result<u32, TailError> {
    match v {
        None => Ok(DEFAULT_LIMIT),
        Some(s) => s
            .trim()
            .parse()
            .ok()
            .filter(|n| (1..=MAX_LIMIT).contains(n))
            .ok_or_else(|| TailError::Limit(s.clone())),
    }
}

/// The spans of `request` the filter matches, in the order they came.
pub(crate) fn matching<'a>(
    filter: &LiveFilter,
    request: &'a ExportTraceServiceRequest,
) -> Vec<(&'a [arbor_model::otlp::KeyValue], &'a Span)> {
    let mut by_trace: HashMap<&[u8], Vec<HeadSpan>> = HashMap::new();
    let mut order = Vec::new();
    for rs in &request.resource_spans {
        let resource = Arc::new(ResourceEntry {
            resource: rs.resource.clone(),
            schema_url: rs.schema_url.clone(),
        });
        for ss in &rs.scope_spans {
            let scope = Arc::new(ScopeEntry {
                scope: ss.scope.clone(),
                schema_url: ss.schema_url.clone(),
            });
            for span in &ss.spans {
                let attrs = rs.resource.as_ref().map_or(&[][..], |r| &r.attributes[..]);
                order.push((attrs, span));
                by_trace
                    .entry(&span.trace_id[..])
                    .or_default()
                    .push(HeadSpan {
                        resource: resource.clone(),
                        scope: scope.clone(),
                        span: span.clone(),
                    });
            }
        }
    }
    let traces = by_trace
        .into_iter()
        .filter_map(|(id, spans)| Some((TraceId::from_bytes(id).ok()?, spans)))
        .collect();
    let hits: HashSet<(Vec<u8>, String)> = filter
        .matching(traces)
        .into_iter()
        .map(|(id, span)| (id.0.to_vec(), span))
        .collect();
    order
        .into_iter()
        .filter(|(_, s)| hits.contains(&(s.trace_id.clone(), hex::encode(&s.span_id))))
        .collect()
}

fn json_value(v: &any_value::Value) -> Value {
    match v {
        any_value::Value::StringValue(s) => json!(s),
        any_value::Value::BoolValue(b) => json!(b),
        any_value::Value::IntValue(i) => json!(i),
        any_value::Value::DoubleValue(d) => json!(d),
        other => json!(format!("{other:?}")),
    }
}

/// A span as a `span` event's data.
pub fn span_json(resource: &[arbor_model::otlp::KeyValue], s: &Span) -> Value {
    let service = resource
        .iter()
        .find(|kv| kv.key == "service.name")
        .and_then(|kv| kv.value.as_ref()?.value.as_ref())
        .map(json_value)
        .unwrap_or(json!(""));
    let status = match s.status.as_ref().map_or(0, |st| st.code) {
        1 => "ok",
        2 => "error",
        _ => "unset",
    };
    let attributes: BTreeMap<&str, Value> = s
        .attributes
        .iter()
        .take(MAX_ATTRIBUTES)
        .filter_map(|kv| {
            Some((
                kv.key.as_str(),
                json_value(kv.value.as_ref()?.value.as_ref()?),
            ))
        })
        .collect();
    json!({
        "traceId": hex::encode(&s.trace_id),
        "spanId": hex::encode(&s.span_id),
        "parentSpanId": hex::encode(&s.parent_span_id),
        "name": s.name,
        "service": service,
        "kind": s.kind,
        "startTimeUnixNano": s.start_time_unix_nano.to_string(),
        "durationNanos": s.end_time_unix_nano.saturating_sub(s.start_time_unix_nano).to_string(),
        "status": status,
        "attributes": attributes,
    })
}

/// The per-second bound: every `stride`-th matching span, at most `limit` a second.
pub(crate) struct Bound {
    limit: u32,
    stride: u64,
    seen: u64,
    matched: u64,
    pub(crate) sent: u64,
    pub(crate) dropped: u64,
}

impl Bound {
    pub(crate) fn new(limit: u32) -> Self {
        Self {
            limit,
            stride: 1,
            seen: 0,
            matched: 0,
            sent: 0,
            dropped: 0,
        }
    }

    /// Whether to send the next matching span.
    pub(crate) fn admit(&mut self) -> bool {
        self.matched += 1;
        self.seen += 1;
        if self.sent < u64::from(self.limit) && (self.seen - 1).is_multiple_of(self.stride) {
            self.sent += 1;
            true
        } else {
            self.dropped += 1;
            false
        }
    }

    /// Ends a second: its figures, when something was left out; the next stride.
    pub(crate) fn tick(&mut self) -> Option<Value> {
        let out = (self.dropped > 0).then(|| {
            json!({"matched": self.matched, "sent": self.sent, "dropped": self.dropped,
                   "limit": self.limit, "sampled": true})
        });
        self.stride = self.matched.div_ceil(u64::from(self.limit)).max(1);
        self.seen = 0;
        self.matched = 0;
        self.sent = 0;
        self.dropped = 0;
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_single_filters() {
        assert!(filter_of(r#"{ .a = "b" }"#, None).is_ok());
        assert!(filter_of("", None).is_ok());
        assert!(matches!(
            filter_of("{ } >> { }", None),
            Err(TailError::NotAFilter)
        ));
        assert!(matches!(
            filter_of("{ } | count() > 1", None),
            Err(TailError::NotAFilter)
        ));
        assert!(matches!(
            filter_of("{ .a = }", None),
            Err(TailError::Query(_))
        ));
        assert!(limit_of(Some(&"0".to_string())).is_err());
        assert_eq!(limit_of(None).unwrap(), DEFAULT_LIMIT);
    }

    #[test]
    fn a_narrowed_tail_sees_only_spans_in_scope() {
        use arbor_model::otlp::{Resource, ResourceSpans, ScopeSpans, kv_str};
        let group = |ns: &str, name: &str| ResourceSpans {
            resource: Some(Resource {
                attributes: vec![kv_str("service.namespace", ns)],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                spans: vec![Span {
                    trace_id: vec![1; 16],
                    span_id: vec![2; 8],
                    name: name.into(),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        };
        let mut req = ExportTraceServiceRequest {
            resource_spans: vec![group("shop", "in"), group("bank", "out")],
        };
        req.resource_spans[1].scope_spans[0].spans[0].span_id = vec![3; 8];
        let scope =
            Arc::new(Visibility::parse(r#"{ resource.service.namespace = "shop" }"#).unwrap());
        let names = |f: &LiveFilter| {
            matching(f, &req)
                .into_iter()
                .map(|(_, s)| s.name.clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(names(&filter_of("{ }", None).unwrap()), ["in", "out"]);
        assert_eq!(names(&filter_of("{ }", Some(&scope)).unwrap()), ["in"]);
        assert!(names(&filter_of(r#"{ name = "out" }"#, Some(&scope)).unwrap()).is_empty());
    }

    #[test]
    fn the_bound_samples_past_the_limit_and_says_so() {
        let mut b = Bound::new(10);
        let sent = (0..100).filter(|_| b.admit()).count();
        assert_eq!(sent, 10);
        let s = b.tick().expect("dropped some");
        assert_eq!(
            (
                s["matched"].clone(),
                s["sent"].clone(),
                s["dropped"].clone()
            ),
            (json!(100), json!(10), json!(90))
        );
        // The next second takes every 10th: spread over the second, still at most 10.
        let admitted: Vec<usize> = (0..100).filter(|_| b.admit()).collect();
        assert_eq!(admitted, (0..100).step_by(10).collect::<Vec<_>>());
        assert!(b.tick().is_some());
        // Under the limit: everything, and nothing to say.
        let mut quiet = Bound::new(10);
        assert!((0..5).all(|_| quiet.admit()));
        assert!(quiet.tick().is_none());
    }
}
