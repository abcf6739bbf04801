//! Grafana Tempo's HTTP API, same paths and shapes, so Grafana's Tempo data source works.
//!
//! - `GET /api/traces/<id>`: the trace as OTLP/JSON `{"batches":[ResourceSpans…]}`, or with
//!   `Accept: application/protobuf` Tempo's `Trace` message (wire-identical to OTLP
//!   `TracesData`); 404 when no span of the trace is held.
//! - `GET /api/v2/traces/<id>`: `{"trace":{"resourceSpans":[…]},"status":"COMPLETE"}`, or
//!   with `Accept: application/protobuf` Tempo's `TraceByIDResponse` (trace = 1,
//!   status = 3); 404 when absent. A trace over `query.max_trace_spans` comes back cut to
//!   its earliest spans with `"status":"PARTIAL"` and a message with the counts (and, in
//!   every shape, an `X-Arbor-Partial` header).
//! - `GET /api/echo`, `GET /api/status/buildinfo`.
//!
//! IDs are hex of any case, leading zeros optional. `X-Scope-OrgID` picks the tenant.

use std::sync::Arc;

use arbor_model::TraceId;
use arbor_model::otlp::{ResourceSpans, TracesData};
use arbor_model::otlp_json_encode::Json;
use arbor_query::find_trace;

use crate::auth::ReadScope;
use axum::Router;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use http::header::{ACCEPT, CONTENT_TYPE};
use http::{HeaderMap, StatusCode};
use prost::Message;

use super::error;
use crate::state::AppState;
use crate::tenant;

pub fn router() -> Router<Arc<AppState>> {
    Router::new()
        .route("/api/echo", get(|| async { "echo" }))
        .route("/api/status/buildinfo", get(buildinfo))
        .route("/api/traces/{id}", get(trace_v1))
        .route("/api/v2/traces/{id}", get(trace_v2))
}

async fn buildinfo() -> Response {
    axum::Json(serde_json::json!({
        "version": env!("CARGO_PKG_VERSION"),
        "revision": option_env!("ARBOR_GIT_REVISION").unwrap_or(""),
        "branch": "",
        "buildUser": "",
        "buildDate": "",
        "goVersion": "",
    }))
    .into_response()
}

/// Tempo's `TraceByIDResponse`: `trace = 1`, `status = 3` (COMPLETE = 0, PARTIAL = 1),
/// `message = 4`.
#[derive(Clone, PartialEq, Message)]
struct TraceByIdResponse {
    #[prost(message, optional, tag = "1")]
    trace: Option<TracesData>,
    #[prost(int32, tag = "3")]
    status: i32,
    #[prost(string, tag = "4")]
    message: String,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Version {
    V1,
    V2,
}

fn wants_protobuf(headers: &HeaderMap) -> bool {
    headers
        .get(ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("application/protobuf") || a.contains("application/x-protobuf"))
}

async fn trace_v1(
    state: State<Arc<AppState>>,
    id: Path<String>,
    scope: ReadScope,
    headers: HeaderMap,
) -> Response {
    trace(state, id, scope, headers, Version::V1).await
}

async fn trace_v2(
    state: State<Arc<AppState>>,
    id: Path<String>,
    scope: ReadScope,
    headers: HeaderMap,
) -> Response {
    trace(state, id, scope, headers, Version::V2).await
}

async fn trace(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    ReadScope(scope): ReadScope,
    headers: HeaderMap,
    version: Version,
) -> Response {
    let tenant = match tenant::from_headers(&headers) {
        Ok(t) => t,
        Err(e) => return error(StatusCode::BAD_REQUEST, e.to_string()),
    };
    let id = match TraceId::from_hex(&id) {
        Ok(id) => id,
        Err(e) => return error(StatusCode::BAD_REQUEST, format!("invalid trace id: {e}")),
    };
    let Some(store) = state.store() else {
        return error(
            StatusCode::SERVICE_UNAVAILABLE,
            "not ready: replaying the write-ahead log",
        );
    };
    let found = match find_trace(
        store,
        &tenant,
        &id,
        state.config.query.max_trace_spans,
        scope.as_deref(),
    )
    .await
    {
        Ok(Some(found)) => found,
        Ok(None) => return error(StatusCode::NOT_FOUND, format!("trace {id} not found")),
        Err(e) => {
            tracing::error!(trace = %id, error = %e, "trace lookup failed");
            return error(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("reading trace {id}: {e}"),
            );
        }
    };
    let partial =
        state
            .limits
            .partial_note(&tenant, &id, found.partial_message("query.max_trace_spans"));
    if wants_protobuf(&headers) {
        let data = TracesData {
            resource_spans: found.resource_spans,
        };
        let body = match version {
            Version::V1 => data.encode_to_vec(),
            Version::V2 => TraceByIdResponse {
                trace: Some(data),
                status: i32::from(partial.is_some()),
                message: partial.clone().unwrap_or_default(),
            }
            .encode_to_vec(),
        };
        return with_partial_header(
            ([(CONTENT_TYPE, "application/protobuf")], body).into_response(),
            &partial,
        );
    }
    // Written straight out (no JSON tree): a trace of many spans costs its answer's bytes.
    let batches: Vec<Json<'_, ResourceSpans>> = found.resource_spans.iter().map(Json).collect();
    #[derive(serde::Serialize)]
    struct Batches<'a> {
        batches: &'a [Json<'a, ResourceSpans>],
    }
    #[derive(serde::Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Trace<'a> {
        resource_spans: &'a [Json<'a, ResourceSpans>],
    }
    #[derive(serde::Serialize)]
    struct V2<'a> {
        trace: Trace<'a>,
        status: &'static str,
        #[serde(skip_serializing_if = "Option::is_none")]
        message: Option<&'a str>,
    }
    let body = match version {
        Version::V1 => serde_json::to_vec(&Batches { batches: &batches }),
        Version::V2 => serde_json::to_vec(&V2 {
            trace: Trace {
                resource_spans: &batches,
            },
            status: if partial.is_some() {
                "PARTIAL"
            } else {
                "COMPLETE"
            },
            message: partial.as_deref(),
        }),
    };
    let body = match body {
        Ok(b) => b,
        Err(e) => {
            return error(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("encoding trace {id}: {e}"),
            );
        }
    };
    with_partial_header(
        ([(CONTENT_TYPE, "application/json")], body).into_response(),
        &partial,
    )
}

/// The v1 shapes have no status field, so a partial trace is also flagged in a header.
pub(crate) fn with_partial_header(mut resp: Response, partial: &Option<String>) -> Response {
    if let Some(m) = partial
        && let Ok(v) = http::HeaderValue::from_str(m)
    {
        resp.headers_mut().insert("x-arbor-partial", v);
    }
    resp
}
