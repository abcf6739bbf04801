//! Zipkin v2 ingest: `POST /api/v2/spans` with a JSON array (`application/json`) or a proto3 `ListOfSpans` (`application/x-protobuf`), optionally gzip or zstd
//! encoded. Answers as Zipkin's server does: 202 when taken (with a plain-text note when
//! some spans were rejected), 400/413/415 with a plain reason, 429/503 with `Retry-After`.

use std::sync::Arc;

use arbor_model::zipkin;
use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use http::header::CONTENT_TYPE;
use http::{HeaderMap, StatusCode};

use super::otlp_http::{retry_headers, status_of};
use super::{Accepted, Refused, admit_rate, body, refuse, submit};
use crate::metrics::Protocol;
use crate::state::AppState;
use crate::tenant;

const PROTOCOL: Protocol = Protocol::Zipkin;

pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        // GET is the query API's span-name listing (same path, as in Zipkin).
        .route(
            "/api/v2/spans",
            post(spans).get(crate::api::zipkin::span_names),
        )
        .with_state(state)
}

async fn spans(State(state): State<Arc<AppState>>, headers: HeaderMap, body: Body) -> Response {
    match handle(&state, &headers, body).await {
        Ok(a) => match a.message {
            Some(m) => (StatusCode::ACCEPTED, m).into_response(),
            None => StatusCode::ACCEPTED.into_response(),
        },
        Err(r) => {
            let mut resp = (status_of(&r), r.message()).into_response();
            retry_headers(&r, &mut resp);
            resp
        }
    }
}

async fn handle(state: &AppState, headers: &HeaderMap, body: Body) -> Result<Accepted, Refused> {
    let fail = |r| refuse(state, PROTOCOL, r);
    // A body without a type is what a page's `fetch(…, {mode: "no-cors"})` of a Blob sends:
    // refused, so no page can inject spans.
    let Some(raw_type) = headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()) else {
        return Err(fail(Refused::UnsupportedMediaType(
            "a Content-Type is required: use application/json or application/x-protobuf".into(),
        )));
    };
    let mime = raw_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let proto = match mime.as_str() {
        "application/json" => false,
        "application/x-protobuf" | "application/protobuf" => true,
        _ => {
            return Err(fail(Refused::UnsupportedMediaType(format!(
                "content-type {raw_type:?} is not supported: use application/json or application/x-protobuf"
            ))));
        }
    };
    let tenant =
        tenant::from_headers(headers).map_err(|e| fail(Refused::BadRequest(e.to_string())))?;
    // Held until the request is answered.
    let (bytes, _reservation) = body::receive(state, PROTOCOL, headers, body)
        .await
        .map_err(fail)?;
    admit_rate(state, PROTOCOL, &tenant, bytes.len())?;
    let decoded = if proto {
        zipkin::decode_v2_proto(&bytes)
    } else {
        zipkin::decode_v2_json(&bytes)
    }
    .map_err(|e| {
        fail(Refused::BadRequest(format!(
            "body is not valid Zipkin v2: {e}"
        )))
    })?;
    let (request, rejected) = decoded.into_parts();
    submit(state, PROTOCOL, &tenant, request, rejected).await
}
