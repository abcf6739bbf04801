//! OTLP/HTTP: `POST /v1/traces` with `application/x-protobuf` or `application/json`
//! bodies, optionally gzip or zstd encoded, chunked or not.
//!
//! Answers follow the OTLP spec: 200 with an `ExportTraceServiceResponse` (whose
//! `partial_success` counts rejected spans and says why) in the request's encoding; errors
//! carry a `google.rpc.Status` in the request's encoding (JSON when the type was not
//! understood): 400 malformed, 413 over a size limit, 415 unknown content type or
//! encoding, 429 head full and 503 not ready (both with `Retry-After`).

use std::sync::Arc;

use arbor_model::otlp::{
    ExportTracePartialSuccess, ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use arbor_model::otlp_json;
use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use http::header::{CONTENT_TYPE, RETRY_AFTER};
use http::{HeaderMap, HeaderValue, StatusCode};
use prost::Message;

use super::{Accepted, Refused, admit_rate, body, refuse, submit};
use crate::metrics::Protocol;
use crate::rpc::RpcStatus;
use crate::state::AppState;
use crate::tenant;

const PROTOCOL: Protocol = Protocol::OtlpHttp;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Protobuf,
    Json,
}

impl Encoding {
    fn content_type(self) -> &'static str {
        match self {
            Encoding::Protobuf => "application/x-protobuf",
            Encoding::Json => "application/json",
        }
    }
}

/// The body's encoding from its `Content-Type`.
pub fn encoding(headers: &HeaderMap) -> Result<Encoding, Refused> {
    let raw = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let mime = raw
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    match mime.as_str() {
        "application/x-protobuf" | "application/protobuf" => Ok(Encoding::Protobuf),
        "application/json" => Ok(Encoding::Json),
        _ => Err(Refused::UnsupportedMediaType(format!(
            "content-type {raw:?} is not supported: use application/x-protobuf or application/json"
        ))),
    }
}

pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/v1/traces", post(export))
        .with_state(state)
}

async fn export(State(state): State<Arc<AppState>>, headers: HeaderMap, body: Body) -> Response {
    let enc = encoding(&headers).ok();
    match handle(&state, &headers, body).await {
        Ok(accepted) => success(enc.unwrap_or(Encoding::Json), &accepted),
        Err(r) => error_response(enc.unwrap_or(Encoding::Json), &r),
    }
}

async fn handle(state: &AppState, headers: &HeaderMap, body: Body) -> Result<Accepted, Refused> {
    let fail = |r| refuse(state, PROTOCOL, r);
    let enc = encoding(headers).map_err(fail)?;
    let tenant =
        tenant::from_headers(headers).map_err(|e| fail(Refused::BadRequest(e.to_string())))?;
    // Held until the request is answered.
    let (bytes, _reservation) = body::receive(state, PROTOCOL, headers, body)
        .await
        .map_err(fail)?;
    admit_rate(state, PROTOCOL, &tenant, bytes.len())?;
    let (batch, rejected) = match enc {
        Encoding::Protobuf => {
            let req = ExportTraceServiceRequest::decode(bytes).map_err(|e| {
                fail(Refused::BadRequest(format!(
                    "body is not a valid OTLP protobuf ExportTraceServiceRequest: {e}"
                )))
            })?;
            (req, Vec::new())
        }
        Encoding::Json => {
            let decoded = otlp_json::decode_request(&bytes).map_err(|e| {
                fail(Refused::BadRequest(format!(
                    "body is not valid OTLP/JSON: {e}"
                )))
            })?;
            decoded.into_parts()
        }
    };
    submit(state, PROTOCOL, &tenant, batch, rejected).await
}

fn success(enc: Encoding, accepted: &Accepted) -> Response {
    let partial = accepted
        .message
        .as_ref()
        .map(|m| ExportTracePartialSuccess {
            rejected_spans: accepted.rejected as i64,
            error_message: m.clone(),
        });
    let body = match enc {
        Encoding::Protobuf => ExportTraceServiceResponse {
            partial_success: partial,
        }
        .encode_to_vec(),
        Encoding::Json => {
            let v = match partial {
                Some(p) => serde_json::json!({"partialSuccess": {
                    "rejectedSpans": p.rejected_spans.to_string(),
                    "errorMessage": p.error_message,
                }}),
                None => serde_json::json!({}),
            };
            v.to_string().into_bytes()
        }
    };
    ([(CONTENT_TYPE, enc.content_type())], body).into_response()
}

/// The HTTP status of a refusal, shared by the OTLP and Zipkin receivers.
pub fn status_of(r: &Refused) -> StatusCode {
    match r {
        Refused::BadRequest(_) => StatusCode::BAD_REQUEST,
        Refused::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
        Refused::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        Refused::Overloaded(_) | Refused::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
        Refused::TimedOut(_) => StatusCode::REQUEST_TIMEOUT,
        Refused::NotReady | Refused::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
    }
}

/// Adds `Retry-After` (whole seconds, rounded up) to answers a client should retry.
pub fn retry_headers(r: &Refused, resp: &mut Response) {
    if let Some(wait) = r.retry_after() {
        let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        resp.headers_mut().insert(
            RETRY_AFTER,
            HeaderValue::from_str(&secs.max(1).to_string()).expect("digits"),
        );
    }
}

/// An error answer as the OTLP spec has it: `status` with a `google.rpc.Status` of
/// `grpc_code` and `message` in the request's encoding.
pub fn status_response(
    enc: Encoding,
    status: StatusCode,
    grpc_code: i32,
    message: String,
) -> Response {
    let body = match enc {
        Encoding::Protobuf => RpcStatus {
            code: grpc_code,
            message,
            details: Vec::new(),
        }
        .encode_to_vec(),
        Encoding::Json => serde_json::json!({"code": grpc_code, "message": message})
            .to_string()
            .into_bytes(),
    };
    (status, [(CONTENT_TYPE, enc.content_type())], body).into_response()
}

fn error_response(enc: Encoding, r: &Refused) -> Response {
    let status = status_of(r);
    let grpc_code = match r {
        Refused::Overloaded(_) | Refused::RateLimited { .. } => {
            crate::rpc::code::RESOURCE_EXHAUSTED
        }
        Refused::NotReady | Refused::Unavailable(_) => crate::rpc::code::UNAVAILABLE,
        Refused::TimedOut(_) => crate::rpc::code::DEADLINE_EXCEEDED,
        _ => crate::rpc::code::INVALID_ARGUMENT,
    };
    let mut resp = status_response(enc, status, grpc_code, r.message());
    retry_headers(r, &mut resp);
    resp
}
