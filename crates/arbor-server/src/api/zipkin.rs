//! Zipkin's v2 query API, beside Zipkin ingest on the Zipkin listener (9411), so Zipkin's
//! UI and clients read what Arbor holds (spans sent over OTLP too) in Zipkin's model
//! ([`arbor_model::zipkin_encode`]):
//! - `GET /api/v2/services`; `GET /api/v2/spans?serviceName=` (span names);
//!   `GET /api/v2/remoteServices?serviceName=` (`peer.service` values);
//! - `GET /api/v2/traces?serviceName=&spanName=&annotationQuery=&minDuration=&maxDuration=
//!   &endTs=&lookback=&limit=`: durations in µs, `endTs`/`lookback` in ms (defaults: now,
//!   and all of time), `limit` 10 by default; `annotationQuery` is `and`-joined terms,
//!   `key=value` (a tag) or `key` (a tag key or an annotation); `spanName=all` means any;
//! - `GET /api/v2/trace/{id}`; `GET /api/v2/traceMany?traceIds=a,b`;
//! - `GET /api/v2/dependencies?endTs=&lookback=`: `{parent, child, callCount, errorCount}`;
//! - `GET /api/v2/autocompleteKeys` (none are configured: `[]`) and
//!   `GET /api/v2/autocompleteValues?key=` (values of that span attribute).
//!
//! Errors are plain text with the status, as Zipkin answers.

use std::sync::Arc;

use arbor_model::zipkin_encode;
use arbor_query::jaeger as jq;
use arbor_query::tags::{Cond, TagOptions, TagRef, tag_values};
use arbor_query::traceql::Scope;
use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use http::{HeaderMap, StatusCode};
use serde_json::{Value, json};

use super::error;
use super::jaeger::{
    base_query, dependency_window, limit, lookup, now_ns, pairs, param, ready, search_failure,
};
use crate::state::AppState;

pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/api/v2/services", get(services))
        .route("/api/v2/remoteServices", get(remote_services))
        .route("/api/v2/traces", get(traces))
        .route("/api/v2/trace/{id}", get(trace))
        .route("/api/v2/traceMany", get(trace_many))
        .route("/api/v2/dependencies", get(dependencies))
        .route(
            "/api/v2/autocompleteKeys",
            get(|| async { axum::Json(json!([])) }),
        )
        .route("/api/v2/autocompleteValues", get(autocomplete_values))
        .with_state(state)
}

fn fail((s, m): (StatusCode, String)) -> Response {
    error(s, m)
}

async fn services(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    let (tenant, store) = match ready(&state, &headers) {
        Ok(x) => x,
        Err(e) => return fail(e),
    };
    match jq::services(&store.search_view(&tenant)).await {
        Ok(s) => axum::Json(s).into_response(),
        Err(e) => fail(search_failure(e)),
    }
}

/// `GET /api/v2/spans?serviceName=`: the span names of a service, sorted.
pub async fn span_names(
    State(state): State<Arc<AppState>>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Response {
    let p = pairs(raw);
    let Some(service) = param(&p, "serviceName") else {
        return error(StatusCode::BAD_REQUEST, "serviceName is required");
    };
    let (tenant, store) = match ready(&state, &headers) {
        Ok(x) => x,
        Err(e) => return fail(e),
    };
    match jq::operations(
        &store.search_view(&tenant),
        service,
        None,
        state.config.query.search_timeout.0,
    )
    .await
    {
        Ok(ops) => {
            let mut names: Vec<String> = ops.into_iter().map(|(n, _)| n).collect();
            names.dedup();
            axum::Json(names).into_response()
        }
        Err(e) => fail(search_failure(e)),
    }
}

async fn remote_services(
    State(state): State<Arc<AppState>>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Response {
    let p = pairs(raw);
    let Some(service) = param(&p, "serviceName") else {
        return error(StatusCode::BAD_REQUEST, "serviceName is required");
    };
    let (tenant, store) = match ready(&state, &headers) {
        Ok(x) => x,
        Err(e) => return fail(e),
    };
    match jq::remote_services(
        &store.search_view(&tenant),
        service,
        state.config.query.search_timeout.0,
    )
    .await
    {
        Ok(v) => axum::Json(v).into_response(),
        Err(e) => fail(search_failure(e)),
    }
}

fn uint(p: &[(String, String)], name: &str) -> Result<Option<u64>, String> {
    param(p, name)
        .map(|v| {
            v.parse::<u64>()
                .map_err(|_| format!("invalid {name} {v:?}: expected a non-negative integer"))
        })
        .transpose()
}

fn find_query(state: &AppState, p: &[(String, String)]) -> Result<jq::FindQuery, String> {
    let mut q = base_query(state);
    q.service = param(p, "serviceName").map(str::to_string);
    q.operation = param(p, "spanName")
        .filter(|n| *n != "all")
        .map(str::to_string);
    if let Some(aq) = param(p, "annotationQuery") {
        for term in aq.split(" and ").map(str::trim).filter(|t| !t.is_empty()) {
            match term.split_once('=') {
                Some((k, v)) => q.tags.push((k.trim().to_string(), v.trim().to_string())),
                None => q.keys.push(term.to_string()),
            }
        }
    }
    let us = |name: &str| uint(p, name).map(|v| v.map(|us| us.saturating_mul(1_000)));
    q.min_duration_ns = us("minDuration")?;
    q.max_duration_ns = us("maxDuration")?;
    let end_ms = uint(p, "endTs")?.unwrap_or_else(|| now_ns() / 1_000_000);
    q.end_ns = end_ms.saturating_mul(1_000_000).saturating_add(999_999);
    q.start_ns = match uint(p, "lookback")? {
        Some(lb) => end_ms.saturating_sub(lb).saturating_mul(1_000_000),
        None => 0,
    };
    q.limit = limit(state, uint(p, "limit")?, 10)?;
    Ok(q)
}

async fn traces(
    State(state): State<Arc<AppState>>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Response {
    let p = pairs(raw);
    let q = match find_query(&state, &p) {
        Ok(q) => q,
        Err(m) => return error(StatusCode::BAD_REQUEST, m),
    };
    let (tenant, store) = match ready(&state, &headers) {
        Ok(x) => x,
        Err(e) => return fail(e),
    };
    match jq::find_traces(store, &tenant, &q).await {
        Ok(found) => {
            let out: Vec<Value> = found
                .iter()
                .map(|(_, t)| Value::Array(zipkin_encode::trace(&t.resource_spans)))
                .collect();
            axum::Json(out).into_response()
        }
        Err(e) => fail(search_failure(e)),
    }
}

async fn trace(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let (tenant, store) = match ready(&state, &headers) {
        Ok(x) => x,
        Err(e) => return fail(e),
    };
    match lookup(&state, store, &tenant, &id).await {
        Ok(Some(t)) => axum::Json(zipkin_encode::trace(&t.resource_spans)).into_response(),
        Ok(None) => error(StatusCode::NOT_FOUND, format!("trace {id} not found")),
        Err(e) => fail(e),
    }
}

async fn trace_many(
    State(state): State<Arc<AppState>>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Response {
    let p = pairs(raw);
    let Some(ids) = param(&p, "traceIds") else {
        return error(StatusCode::BAD_REQUEST, "traceIds is required");
    };
    let (tenant, store) = match ready(&state, &headers) {
        Ok(x) => x,
        Err(e) => return fail(e),
    };
    let mut out = Vec::new();
    for id in ids.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        match lookup(&state, store, &tenant, id).await {
            Ok(Some(t)) => out.push(Value::Array(zipkin_encode::trace(&t.resource_spans))),
            Ok(None) => {}
            Err(e) => return fail(e),
        }
    }
    axum::Json(out).into_response()
}

async fn dependencies(
    State(state): State<Arc<AppState>>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Response {
    let p = pairs(raw);
    let window = match dependency_window(&p, false) {
        Ok(w) => w,
        Err(m) => return error(StatusCode::BAD_REQUEST, m),
    };
    let (tenant, store) = match ready(&state, &headers) {
        Ok(x) => x,
        Err(e) => return fail(e),
    };
    match jq::dependencies(
        &store.search_view(&tenant),
        window,
        state.config.query.search_timeout.0,
    )
    .await
    {
        Ok(deps) => axum::Json(
            deps.iter()
                .map(|d| {
                    json!({"parent": d.parent, "child": d.child, "callCount": d.calls, "errorCount": d.errors})
                })
                .collect::<Vec<_>>(),
        )
        .into_response(),
        Err(e) => fail(search_failure(e)),
    }
}

async fn autocomplete_values(
    State(state): State<Arc<AppState>>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Response {
    let p = pairs(raw);
    let Some(key) = param(&p, "key") else {
        return error(StatusCode::BAD_REQUEST, "key is required");
    };
    let (tenant, store) = match ready(&state, &headers) {
        Ok(x) => x,
        Err(e) => return fail(e),
    };
    let tag = TagRef::Attribute {
        scope: Scope::Span,
        name: key.to_string(),
    };
    let opts = TagOptions {
        limit: state.config.query.max_tag_values,
        max_bytes: state.config.query.max_bytes_per_tag_values_query.as_usize(),
        ..Default::default()
    };
    match tag_values(&store.search_view(&tenant), &tag, &Cond::All, &opts).await {
        Ok(l) => {
            let mut v: Vec<String> = l.items.into_iter().map(|v| v.value).collect();
            v.dedup();
            axum::Json(v).into_response()
        }
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}
