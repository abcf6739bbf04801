//! The receivers: OTLP/gRPC, OTLP/HTTP, Zipkin. Each charges the request's size to its
//! tenant's ingest rate ([`admit_rate`], before decoding it), decodes its wire format into
//! an OTLP batch and hands it to [`submit`], which validates it against the limits — the
//! global ones and the tenant's (`crate::limits`: attributes, spans and bytes per trace) —
//! makes it durable, and says what was accepted. Each receiver maps [`Refused`] to its
//! protocol's status codes.

pub mod body;
pub mod budget;
pub mod otlp_grpc;
pub mod otlp_http;
pub mod zipkin;

use std::time::Duration;

use arbor_model::otlp::ExportTraceServiceRequest;
use arbor_model::validate;
use arbor_storage::IngestError;

use crate::metrics::{Failure, Protocol};
use crate::state::AppState;

/// How long a pushed-back client is asked to wait.
pub const RETRY_AFTER: Duration = Duration::from_secs(1);

/// A request taken, possibly with some spans refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    pub accepted: u64,
    pub rejected: u64,
    /// Set when spans were rejected or values truncated.
    pub message: Option<String>,
}

/// A request refused whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refused {
    /// Malformed: will never succeed as sent.
    BadRequest(String),
    /// Over a size limit.
    TooLarge(String),
    /// A content type or encoding Arbor does not read.
    UnsupportedMediaType(String),
    /// Pushed back; retry after the hint.
    Overloaded(String),
    /// Over the tenant's ingest rate (`crate::limits::rate`); retry after `retry_after`.
    RateLimited {
        message: String,
        retry_after: Duration,
    },
    /// The body did not arrive in time (`limits.body_read_timeout`, `limits.min_body_rate`).
    TimedOut(String),
    /// Still replaying the log after a start.
    NotReady,
    /// Storage failed the write; nothing was acknowledged.
    Unavailable(String),
}

impl Refused {
    pub fn message(&self) -> String {
        match self {
            Refused::BadRequest(m)
            | Refused::TooLarge(m)
            | Refused::UnsupportedMediaType(m)
            | Refused::Overloaded(m)
            | Refused::TimedOut(m)
            | Refused::Unavailable(m) => m.clone(),
            Refused::RateLimited { message, .. } => message.clone(),
            Refused::NotReady => "not ready: replaying the write-ahead log".to_string(),
        }
    }

    /// How long the client is asked to wait before it retries, for refusals it should retry.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Refused::RateLimited { retry_after, .. } => Some(*retry_after),
            Refused::Overloaded(_) | Refused::NotReady | Refused::Unavailable(_) => {
                Some(RETRY_AFTER)
            }
            _ => None,
        }
    }

    fn failure(&self) -> Failure {
        match self {
            Refused::BadRequest(_)
            | Refused::TooLarge(_)
            | Refused::UnsupportedMediaType(_)
            | Refused::TimedOut(_) => Failure::BadRequest,
            Refused::Overloaded(_) | Refused::RateLimited { .. } | Refused::NotReady => {
                Failure::Overloaded
            }
            Refused::Unavailable(_) => Failure::Internal,
        }
    }
}

/// Counts a refused request and passes it on.
pub fn refuse(state: &AppState, protocol: Protocol, r: Refused) -> Refused {
    state.metrics.failure(protocol, r.failure());
    if matches!(r, Refused::Unavailable(_)) {
        tracing::error!(protocol = protocol.label(), error = %r.message(), "ingest failed");
    } else {
        tracing::debug!(protocol = protocol.label(), error = %r.message(), "request refused");
    }
    r
}

/// Charges a request of `bytes` (after decompression) to its tenant's ingest rate, before
/// it is decoded; refuses it whole when over (`crate::limits::rate`).
pub fn admit_rate(
    state: &AppState,
    protocol: Protocol,
    tenant: &str,
    bytes: usize,
) -> Result<(), Refused> {
    state
        .limits
        .admit_ingest(tenant, bytes as u64)
        .map_err(|e| {
            let r = match &e {
                crate::limits::RateRefusal::Limited { retry_after, .. } => Refused::RateLimited {
                    message: e.to_string(),
                    retry_after: *retry_after,
                },
                crate::limits::RateRefusal::OverBurst { .. } => Refused::TooLarge(e.to_string()),
            };
            refuse(state, protocol, r)
        })
}

/// Validates a decoded batch, makes its good spans durable, and reports the outcome.
/// `decode_rejections` are spans the decoder already had to drop (unreadable IDs).
pub async fn submit(
    state: &AppState,
    protocol: Protocol,
    tenant: &str,
    mut batch: ExportTraceServiceRequest,
    decode_rejections: Vec<String>,
) -> Result<Accepted, Refused> {
    let store = state
        .store()
        .ok_or_else(|| refuse(state, protocol, Refused::NotReady))?;
    let tenant_limits = state.limits.tenant(tenant);
    let mut limits = state.config.limits.span_limits();
    limits.max_attributes = tenant_limits.max_attributes_per_span;
    // A request over `limits.max_spans_per_request` is refused by `normalize` below, before
    // the tenant's limits spend work on it.
    let attrs_dropped = if validate::span_count(&batch) <= limits.max_spans_per_request {
        let overridden =
            tenant_limits.max_attributes_per_span != state.config.limits.max_attributes_per_span;
        crate::limits::attrs::enforce(&mut batch, &tenant_limits, overridden)
    } else {
        Default::default()
    };
    let mut normalized = validate::normalize(batch, &limits)
        .map_err(|e| refuse(state, protocol, Refused::TooLarge(e.to_string())))?;
    normalized.add_decode_rejections(decode_rejections);
    let trace_cut = if normalized.accepted_spans > 0 {
        state.limits.traces.enforce(
            tenant,
            &tenant_limits,
            store.head(),
            &mut normalized.request,
        )
    } else {
        Default::default()
    };
    normalized.accepted_spans -= trace_cut.refused;
    normalized.rejected_spans += trace_cut.refused;
    normalized.reasons.extend(trace_cut.reasons.iter().cloned());
    let mut duplicates = 0;
    if normalized.accepted_spans > 0 {
        // Requests past the limit wait their turn here, their bodies already received.
        let _slot = state
            .ingest_slots
            .acquire()
            .await
            .expect("the ingest semaphore is never closed");
        let request = std::mem::take(&mut normalized.request);
        let tap = state.tail.tap(tenant, &request);
        // The append and the head's update run as a task of their own: a client that goes
        // away once its record is queued for the log cannot leave spans in the log but not
        // in the head (readable only after a restart).
        let (store, owned_tenant) = (store.clone(), tenant.to_string());
        // Kept to give back its trace counts if the write fails.
        let counted = crate::limits::traces::charges(&tenant_limits, &request);
        let release = |state: &AppState| state.limits.traces.release(tenant, &counted);
        let ingested = tokio::spawn(async move { store.ingest(&owned_tenant, request).await })
            .await
            .map_err(|e| {
                release(state);
                refuse(
                    state,
                    protocol,
                    Refused::Unavailable(format!("ingest task failed: {e}")),
                )
            })?;
        match ingested {
            Ok(stats) => {
                duplicates = stats.duplicates_dropped;
                tap.publish();
            }
            Err(IngestError::HeadFull(e)) => {
                release(state);
                return Err(refuse(state, protocol, Refused::Overloaded(e.to_string())));
            }
            Err(IngestError::Wal(e)) => {
                release(state);
                return Err(refuse(
                    state,
                    protocol,
                    Refused::Unavailable(format!("write-ahead log: {e}")),
                ));
            }
        }
    }
    state.metrics.spans(
        protocol,
        normalized.accepted_spans,
        normalized.rejected_spans,
        duplicates,
        normalized.truncated_values,
    );
    state
        .limits
        .counters
        .received(tenant, normalized.accepted_spans);
    state.limits.counters.refused(
        tenant,
        trace_cut.refused,
        attrs_dropped.over_count + attrs_dropped.long_keys,
    );
    let message = [
        normalized.rejection_message(),
        attrs_dropped.message(tenant, &tenant_limits),
    ]
    .into_iter()
    .flatten()
    .collect::<Vec<_>>();
    let message = (!message.is_empty()).then(|| message.join("; "));
    if let Some(m) = &message {
        tracing::debug!(protocol = protocol.label(), tenant, "{m}");
    }
    Ok(Accepted {
        accepted: normalized.accepted_spans,
        rejected: normalized.rejected_spans,
        message,
    })
}
