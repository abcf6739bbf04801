//! Tempo's TraceQL metrics API:
//!
//! - `GET /api/metrics/query_range?q=&start=&end=&step=&exemplars=` → `{"series":[{"labels",
//!   "promLabels", "samples":[{"timestampMs","value"}], "exemplars":[…]}], "metrics":{…}}`;
//! - `GET /api/metrics/query?q=&start=&end=` (instant: one value over the whole range) →
//!   `{"series":[{"labels","promLabels","value"}]}`.
//!
//! `start`/`end` are Unix seconds (or nanoseconds, as Tempo also accepts); without them the
//! last hour (`since` sets another length). `step` is a duration (`30s`; a bare number is
//! seconds); without it, the range divided into about 60 steps. Steps with nothing counted
//! are left out of `samples`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use arbor_model::time::now_unix_nanos;
use arbor_query::search;
use arbor_query::search::hints::{Hints, MAX_EXEMPLARS};
use arbor_query::search::metrics::{self, MetricsRequest, MetricsResult};

use crate::auth::ReadScope;
use arbor_query::search::value::Owned;
use arbor_query::traceql::{self, QueryKind};
use axum::Router;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use http::{HeaderMap, StatusCode};
use serde_json::{Value, json};

use super::error;
use super::params::{duration_param, uint_param, unix_time_ns};
use super::search::{attributes, search_error};
use crate::state::AppState;
use crate::tenant;

pub fn router() -> Router<Arc<AppState>> {
    Router::new()
        .route("/api/metrics/query_range", get(query_range))
        .route("/api/metrics/query", get(query_instant))
}

fn request(
    state: &AppState,
    params: &HashMap<String, String>,
    instant: bool,
) -> Result<MetricsRequest, String> {
    let q = params
        .get("q")
        .or_else(|| params.get("query"))
        .filter(|q| !q.trim().is_empty())
        .ok_or("missing q: a TraceQL metrics query such as { } | rate()")?;
    let query = traceql::parse_and_validate(q).map_err(|e| e.to_string())?;
    let hints = Hints::of(&query).map_err(|e| e.to_string())?;
    let QueryKind::Metrics(expr) = query.kind else {
        return Err(
            "not a metrics query: add a metrics function, e.g. { … } | rate(); searches go to /api/search"
                .into(),
        );
    };
    let end = unix_time_ns(params, "end")?.unwrap_or_else(now_unix_nanos);
    let since = duration_param(params, "since")?.unwrap_or(Duration::from_secs(3600));
    let start =
        unix_time_ns(params, "start")?.unwrap_or(end.saturating_sub(since.as_nanos() as u64));
    if end <= start {
        return Err("end must be after start".into());
    }
    let range = end - start;
    let step = if instant {
        range
    } else {
        match duration_param(params, "step")? {
            Some(d) if d.as_nanos() > 0 => d.as_nanos() as u64,
            Some(_) => return Err("step must be positive".into()),
            None => (range / 60).max(1_000_000_000) / 1_000_000_000 * 1_000_000_000,
        }
    };
    // Steps start at multiples of the step, as Tempo and Prometheus align them.
    let aligned_start = if instant { start } else { start / step * step };
    Ok(MetricsRequest {
        expr,
        start_ns: aligned_start,
        end_ns: end,
        step_ns: step,
        max_series: state.config.query.max_metrics_series,
        // The query's `with(exemplars=…)` wins over the parameter.
        exemplars: match hints.exemplars {
            Some(n) => n,
            None => uint_param(params, "exemplars", 5)?.min(MAX_EXEMPLARS as u64) as usize,
        },
        sample: hints.sample,
        scope: None,
        timeout: state.config.query.search_timeout.0,
    })
}

async fn run(
    state: &AppState,
    headers: &HeaderMap,
    ReadScope(scope): ReadScope,
    params: &HashMap<String, String>,
    instant: bool,
) -> Result<MetricsResult, Response> {
    let tenant =
        tenant::from_headers(headers).map_err(|e| error(StatusCode::BAD_REQUEST, e.to_string()))?;
    let mut req = request(state, params, instant).map_err(|m| error(StatusCode::BAD_REQUEST, m))?;
    super::search::bounded_range(state, &tenant, req.start_ns, req.end_ns)
        .map_err(|m| error(StatusCode::BAD_REQUEST, m))?;
    req.scope = scope;
    let Some(store) = state.store() else {
        return Err(error(
            StatusCode::SERVICE_UNAVAILABLE,
            "not ready: replaying the write-ahead log",
        ));
    };
    let _turn = state
        .queries
        .turn_for(
            &tenant,
            state.limits.tenant(&tenant).max_concurrent_searches,
        )
        .await
        .map_err(IntoResponse::into_response)?;
    // A block compaction replaced mid-read: read a new view (a few times at most).
    let req = &req;
    search::on_fresh_views(store, &tenant, |view| async move {
        metrics::query_range(&view, req).await
    })
    .await
    .map_err(search_error)
}

fn prom_labels(labels: &[(String, Owned)]) -> String {
    let inner: Vec<String> = labels
        .iter()
        .map(|(k, v)| format!("{k}={:?}", v.to_string()))
        .collect();
    format!("{{{}}}", inner.join(", "))
}

fn stats(r: &MetricsResult) -> Value {
    json!({
        "inspectedSpans": r.inspected_spans.to_string(),
        "inspectedBytes": r.inspected_bytes.to_string(),
        "totalBlocks": r.total_blocks,
        "completedJobs": r.total_blocks + 1,
        "totalJobs": r.total_blocks + 1,
    })
}

async fn query_range(
    State(state): State<Arc<AppState>>,
    Query(params): Query<HashMap<String, String>>,
    scope: ReadScope,
    headers: HeaderMap,
) -> Response {
    let r = match run(&state, &headers, scope, &params, false).await {
        Ok(r) => r,
        Err(resp) => return resp,
    };
    let series: Vec<Value> = r
        .series
        .iter()
        .map(|s| {
            let samples: Vec<Value> = s
                .values
                .iter()
                .zip(&r.timestamps_ms)
                .filter(|(v, _)| !v.is_nan())
                .map(|(v, t)| json!({ "timestampMs": t.to_string(), "value": v }))
                .collect();
            let exemplars: Vec<Value> = s
                .exemplars
                .iter()
                .map(|e| {
                    let mut labels = vec![
                        json!({ "key": "trace:id", "value": { "stringValue": e.trace_id.to_hex() } }),
                    ];
                    if let Some(span) = &e.span_id {
                        labels.push(json!({ "key": "span:id", "value": { "stringValue": span } }));
                    }
                    json!({
                        "labels": labels,
                        "value": e.value,
                        "timestampMs": e.timestamp_ms.to_string(),
                    })
                })
                .collect();
            json!({
                "labels": attributes(&s.labels),
                "promLabels": prom_labels(&s.labels),
                "samples": samples,
                "exemplars": exemplars,
            })
        })
        .collect();
    axum::Json(json!({ "series": series, "metrics": stats(&r) })).into_response()
}

async fn query_instant(
    State(state): State<Arc<AppState>>,
    Query(params): Query<HashMap<String, String>>,
    scope: ReadScope,
    headers: HeaderMap,
) -> Response {
    let r = match run(&state, &headers, scope, &params, true).await {
        Ok(r) => r,
        Err(resp) => return resp,
    };
    let series: Vec<Value> = r
        .series
        .iter()
        .filter_map(|s| {
            let v = s.values.first().copied().filter(|v| !v.is_nan())?;
            Some(json!({
                "labels": attributes(&s.labels),
                "promLabels": prom_labels(&s.labels),
                "value": v,
            }))
        })
        .collect();
    axum::Json(json!({ "series": series, "metrics": stats(&r) })).into_response()
}
