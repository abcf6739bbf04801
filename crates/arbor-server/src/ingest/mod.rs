//! The receivers: OTLP/gRPC, OTLP/HTTP, Zipkin. Each decodes its wire format into an OTLP
//! batch and hands it to [`submit`], which validates it against the limits, makes it
//! durable, and says what was accepted. Each receiver maps [`Refused`] to its protocol's
//! status codes.

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
            Refused::NotReady => "not ready: replaying the write-ahead log".to_string(),
        }
    }

    fn failure(&self) -> Failure {
        match self {
            Refused::BadRequest(_)
            | Refused::TooLarge(_)
            | Refused::UnsupportedMediaType(_)
            | Refused::TimedOut(_) => Failure::BadRequest,
            Refused::Overloaded(_) | Refused::NotReady => Failure::Overloaded,
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

/// Validates a decoded batch, makes its good spans durable, and reports the outcome.
/// `decode_rejections` are spans the decoder already had to drop (unreadable IDs).
pub async fn submit(
    state: &AppState,
    protocol: Protocol,
    tenant: &str,
    batch: ExportTraceServiceRequest,
    decode_rejections: Vec<String>,
) -> Result<Accepted, Refused> {
    let store = state
        .store()
        .ok_or_else(|| refuse(state, protocol, Refused::NotReady))?;
    let limits = state.config.limits.span_limits();
    let mut normalized = validate::normalize(batch, &limits)
        .map_err(|e| refuse(state, protocol, Refused::TooLarge(e.to_string())))?;
    normalized.add_decode_rejections(decode_rejections);
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
        let ingested = tokio::spawn(async move { store.ingest(&owned_tenant, request).await })
            .await
            .map_err(|e| {
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
                return Err(refuse(state, protocol, Refused::Overloaded(e.to_string())));
            }
            Err(IngestError::Wal(e)) => {
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
    let message = normalized.rejection_message();
    if let Some(m) = &message {
        tracing::debug!(protocol = protocol.label(), tenant, "{m}");
    }
    Ok(Accepted {
        accepted: normalized.accepted_spans,
        rejected: normalized.rejected_spans,
        message,
    })
}
