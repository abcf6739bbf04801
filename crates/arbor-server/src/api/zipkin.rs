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

use arbor_model::time::now_unix_nanos;
use arbor_model::zipkin_encode;
use arbor_query::TraceLookup;
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
    Fail, base_query, dependencies_of, dependency_window, find, limit, pairs, param, ready,
    search_failure, services_of, span_names_of, trace_by_id, traces_by_id, uint,
};
use crate::auth::ReadScope;
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

/// A Zipkin answer, or its error as plain text.
fn answer<T: serde::Serialize>(r: Result<T, Fail>) -> Response {
    match r {
        Ok(v) => axum::Json(v).into_response(),
        Err((s, m)) => error(s, m),
    }
}

/// The required `serviceName` parameter.
fn service_name(p: &[(String, String)]) -> Result<&str, Fail> {
    param(p, "serviceName").ok_or((StatusCode::BAD_REQUEST, "serviceName is required".into()))
}

async fn services(
    State(state): State<Arc<AppState>>,
    scope: ReadScope,
    headers: HeaderMap,
) -> Response {
    answer(services_of(&state, &headers, &scope).await)
}

/// `GET /api/v2/spans?serviceName=`: the span names of a service, sorted.
pub async fn span_names(
    State(state): State<Arc<AppState>>,
    RawQuery(raw): RawQuery,
    scope: ReadScope,
    headers: HeaderMap,
) -> Response {
    let p = pairs(raw);
    answer(async { span_names_of(&state, &headers, &scope, service_name(&p)?).await }.await)
}

async fn remote_services(
    State(state): State<Arc<AppState>>,
    RawQuery(raw): RawQuery,
    scope: ReadScope,
    headers: HeaderMap,
) -> Response {
    let p = pairs(raw);
    answer(
        async {
            let service = service_name(&p)?;
            let (tenant, store) = ready(&state, &headers)?;
            jq::remote_services(
                &store.search_view(&tenant),
                service,
                (state.config.query.search_timeout.0, scope.0.as_ref()),
            )
            .await
            .map_err(search_failure)
        }
        .await,
    )
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
    let end_ms = uint(p, "endTs")?.unwrap_or_else(|| now_unix_nanos() / 1_000_000);
    q.end_ns = end_ms.saturating_mul(1_000_000).saturating_add(999_999);
    q.start_ns = match uint(p, "lookback")? {
        Some(lb) => end_ms.saturating_sub(lb).saturating_mul(1_000_000),
        None => 0,
    };
    q.limit = limit(state, uint(p, "limit")?, 10)?;
    Ok(q)
}

fn zipkin_traces<'a>(traces: impl Iterator<Item = &'a TraceLookup>) -> Vec<Value> {
    traces
        .map(|t| Value::Array(zipkin_encode::trace(&t.resource_spans)))
        .collect()
}

async fn traces(
    State(state): State<Arc<AppState>>,
    RawQuery(raw): RawQuery,
    scope: ReadScope,
    headers: HeaderMap,
) -> Response {
    let q = find_query(&state, &pairs(raw));
    answer(
        find(&state, &headers, &scope, q)
            .await
            .map(|found| zipkin_traces(found.iter().map(|(_, t)| t))),
    )
}

async fn trace(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    scope: ReadScope,
    headers: HeaderMap,
) -> Response {
    match trace_by_id(&state, &headers, &scope, &id).await {
        // Zipkin's answer is a bare array of spans, with no room for a warning: a trace cut
        // to query.max_trace_spans says so in a header (as the Tempo API's answers do).
        Ok(t) => super::tempo::with_partial_header(
            axum::Json(zipkin_encode::trace(&t.resource_spans)).into_response(),
            &super::jaeger::ingest_note(&state, &headers, &id, &t),
        ),
        Err((s, m)) => error(s, m),
    }
}

async fn trace_many(
    State(state): State<Arc<AppState>>,
    RawQuery(raw): RawQuery,
    scope: ReadScope,
    headers: HeaderMap,
) -> Response {
    let p = pairs(raw);
    let found = async {
        let ids = param(&p, "traceIds")
            .ok_or((StatusCode::BAD_REQUEST, "traceIds is required".to_string()))?;
        let ids: Vec<&str> = ids
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .collect();
        let found = traces_by_id(&state, &headers, &scope, ids).await?;
        let partial: Vec<String> = found
            .iter()
            .filter_map(|t| t.partial_message("query.max_trace_spans"))
            .collect();
        Ok::<_, Fail>((zipkin_traces(found.iter()), partial))
    }
    .await;
    match found {
        Ok((traces, partial)) => {
            let partial = (!partial.is_empty()).then(|| partial.join("; "));
            super::tempo::with_partial_header(axum::Json(traces).into_response(), &partial)
        }
        Err((s, m)) => error(s, m),
    }
}

async fn dependencies(
    State(state): State<Arc<AppState>>,
    RawQuery(raw): RawQuery,
    scope: ReadScope,
    headers: HeaderMap,
) -> Response {
    let window = dependency_window(&pairs(raw), false);
    answer(dependencies_of(&state, &headers, &scope, window).await.map(|deps| {
        deps.iter()
            .map(|d| {
                json!({"parent": d.parent, "child": d.child, "callCount": d.calls, "errorCount": d.errors})
            })
            .collect::<Vec<_>>()
    }))
}

async fn autocomplete_values(
    State(state): State<Arc<AppState>>,
    RawQuery(raw): RawQuery,
    scope: ReadScope,
    headers: HeaderMap,
) -> Response {
    let p = pairs(raw);
    answer(
        async {
            let key =
                param(&p, "key").ok_or((StatusCode::BAD_REQUEST, "key is required".to_string()))?;
            let (tenant, store) = ready(&state, &headers)?;
            let tag = TagRef::Attribute {
                scope: Scope::Span,
                name: key.to_string(),
            };
            let opts = TagOptions {
                limit: state.config.query.max_tag_values,
                max_bytes: state.config.query.max_bytes_per_tag_values_query.as_usize(),
                ..Default::default()
            };
            let view = store.search_view(&tenant);
            let listed = match &scope.0 {
                Some(scope) => arbor_query::narrowed::tag_values(
                    &view,
                    &tag,
                    &opts,
                    scope,
                    state.config.query.search_timeout.0,
                )
                .await
                .map_err(|e| (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?,
                None => tag_values(&view, &tag, &Cond::All, &opts)
                    .await
                    .map_err(|e| (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?,
            };
            let mut v: Vec<String> = listed.items.into_iter().map(|v| v.value).collect();
            v.dedup();
            Ok(v)
        }
        .await,
    )
}
