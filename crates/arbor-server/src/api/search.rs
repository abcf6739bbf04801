//! Tempo's search API: `GET /api/search` with `q` (TraceQL) or `tags` (logfmt),
//! `minDuration`, `maxDuration`, `limit`, `spss`, `start`, `end` (Unix seconds).
//!
//! The answer is Tempo's JSON: `traces[]` with `traceID`, `rootServiceName`,
//! `rootTraceName`, `startTimeUnixNano` (a string), `durationMs`, `spanSet` (the first
//! spanset, as older Grafana versions read it) and `spanSets[]`, each with `spans[]`
//! (`spanID`, `name`, `startTimeUnixNano`, `durationNanos`, `attributes`), `matched` and the
//! `by()` labels as `attributes`; and `metrics` (`inspectedTraces`, `inspectedSpans`,
//! `inspectedBytes`, `totalBlocks`, `completedJobs`, `totalJobs`). Arbor adds `spanCount` and
//! `errorCount` to each trace (the web UI's result table shows them), and `nextCursor` to a
//! full page: `cursor=<it>` gives the next page of the same search ([`super::search_cursor`]).
//! A query that does not parse or validate is a 400 whose body is the message, with its
//! position.

use std::collections::HashMap;
use std::sync::Arc;

use arbor_query::search::value::{Owned, kind_name, status_name};
use arbor_query::search::{self, SearchError, SearchRequest, SearchResult};

use crate::auth::ReadScope;
use arbor_query::traceql;
use axum::Router;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use http::{HeaderMap, StatusCode};
use serde_json::{Value, json};

use super::error;
use super::params::{duration_param, uint_param, unix_time_ns};
use super::search_cursor::CursorError;
use crate::state::AppState;
use crate::tenant;

pub fn router() -> Router<Arc<AppState>> {
    Router::new().route("/api/search", get(search_handler))
}

/// A value as OTLP/JSON `AnyValue`.
pub fn any_value(v: &Owned) -> Value {
    match v {
        Owned::Nil => json!({}),
        Owned::Str(s) => json!({ "stringValue": s }),
        Owned::Int(i) => json!({ "intValue": i.to_string() }),
        Owned::Float(f) => json!({ "doubleValue": f }),
        Owned::Bool(b) => json!({ "boolValue": b }),
        Owned::Dur(_) => json!({ "stringValue": v.to_string() }),
        Owned::Status(s) => json!({ "stringValue": status_name(*s) }),
        Owned::Kind(k) => json!({ "stringValue": kind_name(*k) }),
    }
}

pub fn attributes(attrs: &[(String, Owned)]) -> Value {
    Value::Array(
        attrs
            .iter()
            .map(|(k, v)| json!({ "key": k, "value": any_value(v) }))
            .collect(),
    )
}

async fn search_handler(
    State(state): State<Arc<AppState>>,
    Query(params): Query<HashMap<String, String>>,
    ReadScope(scope): ReadScope,
    headers: HeaderMap,
) -> Response {
    let tenant = match tenant::from_headers(&headers) {
        Ok(t) => t,
        Err(e) => return error(StatusCode::BAD_REQUEST, e.to_string()),
    };
    // A next page: the search is the cursor's; `limit` may change.
    let cursor = params.get("cursor").filter(|c| !c.is_empty()).cloned();
    let (walk, params) = match &cursor {
        None => (None, params),
        Some(c) => match state.cursors.get(c, &tenant) {
            Ok(w) => {
                let mut p = w.params.clone();
                if let Some(l) = params.get("limit") {
                    p.insert("limit".into(), l.clone());
                }
                (Some(w), p)
            }
            Err(e @ CursorError::Unknown(_)) => return error(StatusCode::GONE, e.to_string()),
            Err(e @ CursorError::OtherTenant(_)) => {
                return error(StatusCode::FORBIDDEN, e.to_string());
            }
        },
    };
    let mut req = match request(&state, &params).and_then(|r| within_range(&state, &tenant, r)) {
        Ok(r) => r,
        Err(m) => return error(StatusCode::BAD_REQUEST, m),
    };
    req.after = walk.as_ref().map(|w| w.after.clone());
    req.scope = scope;
    let Some(store) = state.store() else {
        return error(
            StatusCode::SERVICE_UNAVAILABLE,
            "not ready: replaying the write-ahead log",
        );
    };
    let max_turns = state.limits.tenant(&tenant).max_concurrent_searches;
    let _turn = match state.queries.turn_for(&tenant, max_turns).await {
        Ok(t) => t,
        Err(busy) => return busy.into_response(),
    };
    match search::search_store(store, &tenant, &req).await {
        Ok(result) => {
            let mut kept = params;
            kept.remove("cursor");
            let previous = cursor.as_deref().zip(walk);
            let next = state
                .cursors
                .page(previous, &tenant, kept, &result, req.limit);
            let mut body = render(&result);
            if let Some(n) = next {
                body["nextCursor"] = json!(n);
            }
            axum::Json(body).into_response()
        }
        Err(e) => search_error(e),
    }
}

pub fn search_error(e: SearchError) -> Response {
    match e {
        SearchError::Invalid(m) => error(StatusCode::BAD_REQUEST, m),
        SearchError::Timeout(_) => error(StatusCode::GATEWAY_TIMEOUT, e.to_string()),
        SearchError::ViewChanged => error(StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
        SearchError::Storage(_) | SearchError::Internal(_) => {
            tracing::error!(error = %e, "search failed");
            error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
        }
    }
}

fn request(state: &AppState, params: &HashMap<String, String>) -> Result<SearchRequest, String> {
    let q = match (params.get("q"), params.get("tags")) {
        (Some(q), _) if !q.trim().is_empty() => q.clone(),
        (_, Some(tags)) => search::tags_to_traceql(tags)?,
        _ => "{}".to_string(),
    };
    let query = traceql::parse_and_validate(&q).map_err(|e| e.to_string())?;
    if query.is_metrics() {
        return Err(
            "this is a metrics query; send it to /api/metrics/query_range or /api/metrics/query"
                .into(),
        );
    }
    let mut req = SearchRequest::new(&query).map_err(|e| e.to_string())?;
    let max = state.config.query.max_search_limit as u64;
    let limit = uint_param(params, "limit", 20)?;
    if limit > max {
        return Err(format!(
            "limit {limit} is over the maximum of {max} (query.max_search_limit)"
        ));
    }
    req.limit = limit.max(1) as usize;
    req.spss = uint_param(params, "spss", 3)?.clamp(1, search::MAX_SPANS_PER_SET as u64) as usize;
    req.start_ns = unix_time_ns(params, "start")?.unwrap_or(0);
    req.end_ns = unix_time_ns(params, "end")?.unwrap_or(0);
    if req.end_ns > 0 && req.start_ns > req.end_ns {
        return Err("start must not be after end".into());
    }
    req.min_duration_ns = duration_param(params, "minDuration")?.map(|d| d.as_nanos() as u64);
    req.max_duration_ns = duration_param(params, "maxDuration")?.map(|d| d.as_nanos() as u64);
    if let (Some(a), Some(b)) = (req.min_duration_ns, req.max_duration_ns)
        && a > b
    {
        return Err("minDuration must not be more than maxDuration".into());
    }
    req.timeout = state.config.query.search_timeout.0;
    Ok(req)
}

/// Holds a search to the tenant's `max_search_duration` (overrides): a longer `start`–`end`
/// range is refused naming the limit; a search without `start` covers the last
/// `max_search_duration` before `end` (or now).
fn within_range(
    state: &AppState,
    tenant: &str,
    mut req: SearchRequest,
) -> Result<SearchRequest, String> {
    (req.start_ns, req.end_ns) = bounded_range(state, tenant, req.start_ns, req.end_ns)?;
    Ok(req)
}

/// `[start, end]` (Unix ns; `start` 0: unbounded, `end` 0: now) held to the tenant's
/// `max_search_duration`: an unbounded start becomes `end - max`, a longer range is refused
/// naming the limit. Searches, TraceQL metrics and Jaeger's find all take it.
pub(crate) fn bounded_range(
    state: &AppState,
    tenant: &str,
    start_ns: u64,
    end_ns: u64,
) -> Result<(u64, u64), String> {
    let max = state.limits.tenant(tenant).max_search_duration;
    if max.is_zero() {
        return Ok((start_ns, end_ns));
    }
    let max_ns = u64::try_from(max.as_nanos()).unwrap_or(u64::MAX);
    let end = if end_ns > 0 {
        end_ns
    } else {
        arbor_model::time::now_unix_nanos()
    };
    if start_ns == 0 {
        return Ok((end.saturating_sub(max_ns), end_ns));
    }
    let range = end.saturating_sub(start_ns);
    if range > max_ns {
        return Err(format!(
            "the search covers {}, more than the {} tenant {tenant:?} may search at once (overrides max_search_duration); narrow start and end",
            crate::units::HumanDuration(std::time::Duration::from_nanos(range)),
            crate::units::HumanDuration(max)
        ));
    }
    Ok((start_ns, end_ns))
}

/// Tempo's search response.
pub fn render(result: &SearchResult) -> Value {
    let traces: Vec<Value> = result
        .traces
        .iter()
        .map(|t| {
            let sets: Vec<Value> = t
                .span_sets
                .iter()
                .map(|s| {
                    let spans: Vec<Value> = s
                        .spans
                        .iter()
                        .map(|sp| {
                            json!({
                                "spanID": sp.span_id,
                                "name": sp.name,
                                "startTimeUnixNano": sp.start_ns.to_string(),
                                "durationNanos": sp.duration_ns.to_string(),
                                "attributes": attributes(&sp.attributes),
                            })
                        })
                        .collect();
                    let mut set = json!({ "spans": spans, "matched": s.matched });
                    if !s.labels.is_empty() {
                        set["attributes"] = attributes(&s.labels);
                    }
                    set
                })
                .collect();
            let mut v = json!({
                "traceID": t.trace_id.to_hex(),
                "rootServiceName": t.root_service.clone().unwrap_or_else(|| "<root span not yet received>".into()),
                "startTimeUnixNano": t.start_ns.to_string(),
                "spanCount": t.span_count,
                "errorCount": t.error_count,
            });
            if let Some(n) = &t.root_name {
                v["rootTraceName"] = json!(n);
            }
            let ms = t.duration_ns() / 1_000_000;
            if ms > 0 {
                v["durationMs"] = json!(ms);
            }
            if let Some(first) = sets.first() {
                v["spanSet"] = first.clone();
            }
            v["spanSets"] = Value::Array(sets);
            v
        })
        .collect();
    let m = &result.metrics;
    json!({
        "traces": traces,
        "metrics": {
            "inspectedTraces": m.inspected_traces,
            "inspectedSpans": m.inspected_spans.to_string(),
            "inspectedBytes": m.inspected_bytes.to_string(),
            "totalBlocks": m.total_blocks,
            "prunedBlocks": m.pruned_blocks,
            "wholeTraceReads": m.whole_trace_reads,
            "completedJobs": m.total_blocks + 1,
            "totalJobs": m.total_blocks + 1,
            "elapsedMs": m.elapsed.as_millis() as u64,
        }
    })
}
