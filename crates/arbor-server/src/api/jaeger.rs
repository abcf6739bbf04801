//! Jaeger's query API on its own listener (`jaeger_listen`, 16686), so Jaeger UI and
//! Grafana's Jaeger data source work against Arbor unchanged.
//!
//! v1 (the JSON API of Jaeger UI), answers in the envelope
//! `{"data", "total", "limit", "offset", "errors"}`:
//! - `GET /api/services`, `GET /api/services/{service}/operations` (names),
//!   `GET /api/operations?service=&spanKind=` (`{name, spanKind}`);
//! - `GET /api/traces?service=&operation=&tags=&tag=&start=&end=&lookback=&minDuration=
//!   &maxDuration=&limit=` (`tags` a JSON object, `tag=key:value` repeatable; `start`/`end`
//!   Unix µs; durations Go-style: `1.2s`, `100ms`, `500us`, `4500ns`, `1m30s`), or
//!   `?traceID=…` (repeatable) for traces by ID;
//! - `GET /api/traces/{traceID}`; `GET /api/dependencies?endTs=&lookback=` (ms).
//!
//! v3 (current Jaeger UI), OTLP/JSON results:
//! - `GET /api/v3/services` → `{"services": […]}`; `GET /api/v3/operations?service=
//!   &span_kind=` → `{"operations": [{name, spanKind}]}`;
//! - `GET /api/v3/traces/{id}` → `{"result": {"resourceSpans": […]}}`;
//! - `GET /api/v3/traces?query.service_name=&query.operation_name=&query.attributes[k]=v
//!   &query.start_time_min=&query.start_time_max=&query.duration_min=&query.duration_max=
//!   &query.search_depth=` (times RFC 3339, durations `1.5s`) → every span of the matching
//!   traces in one `result`; `GET /api/v3/trace-summaries?query.*` → `{"summaries": […]}`.
//!   Errors are `{"error": {"httpCode", "message"}}`.
//!
//! Search semantics are [`arbor_query::jaeger`]'s: one span must satisfy every condition;
//! whole traces come back, most recent first, `limit` applied after ordering.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use arbor_model::TraceId;
use arbor_model::otlp::{SpanKind, StatusCode};
use arbor_model::time::now_unix_nanos;
use arbor_query::jaeger::{self as jq, FindQuery};
use arbor_query::search::SearchError;
use arbor_query::visibility::Visibility;
use arbor_query::{TraceLookup, find_trace};
use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use http::{HeaderMap, StatusCode as Http};
use serde_json::{Value, json};

use crate::auth::ReadScope;
use crate::state::AppState;
use crate::tenant;

pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/api/services", get(services_v1))
        .route(
            "/api/services/{service}/operations",
            get(service_operations_v1),
        )
        .route("/api/operations", get(operations_v1))
        .route("/api/traces", get(find_v1))
        .route("/api/traces/{id}", get(trace_v1))
        .route("/api/dependencies", get(dependencies_v1))
        .route("/api/v3/services", get(services_v3))
        .route("/api/v3/operations", get(operations_v3))
        .route("/api/v3/traces", get(find_v3))
        .route("/api/v3/traces/{id}", get(trace_v3))
        .route("/api/v3/trace-summaries", get(summaries_v3))
        .fallback(|uri: http::Uri| async move {
            envelope_error(Http::NOT_FOUND, format!("no such endpoint: {}", uri.path()))
        })
        .with_state(state)
}

// ---------------------------------------------------------------------------------------
// Parameters
// ---------------------------------------------------------------------------------------

/// Query parameters in order, repeats kept (Jaeger repeats `tag` and `traceID`).
pub(crate) fn pairs(raw: Option<String>) -> Vec<(String, String)> {
    raw.map(|q| {
        form_urlencoded::parse(q.as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect()
    })
    .unwrap_or_default()
}

pub(crate) fn param<'a>(p: &'a [(String, String)], name: &str) -> Option<&'a str> {
    p.iter()
        .find(|(k, v)| k == name && !v.trim().is_empty())
        .map(|(_, v)| v.trim())
}

/// A Go duration: a sequence of decimal numbers with units `ns`, `us` (`µs`), `ms`, `s`,
/// `m`, `h`, e.g. `1.2s`, `1m30s`, `4500ns`; `0` alone is zero.
pub fn go_duration(s: &str) -> Result<Duration, String> {
    let bad = || format!("invalid duration {s:?}: expected e.g. 1.2s, 100ms, 500us, 4500ns");
    let t = s.trim();
    if t == "0" {
        return Ok(Duration::ZERO);
    }
    if t.is_empty() || t.starts_with('-') {
        return Err(bad());
    }
    let mut rest = t.strip_prefix('+').unwrap_or(t);
    let mut total = 0f64;
    while !rest.is_empty() {
        let num_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(bad)?;
        let n: f64 = rest[..num_end].parse().map_err(|_| bad())?;
        rest = &rest[num_end..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_end] {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return Err(bad()),
        };
        total += n * scale;
        rest = &rest[unit_end..];
    }
    if !total.is_finite() || total > u64::MAX as f64 {
        return Err(bad());
    }
    Ok(Duration::from_nanos(total as u64))
}

/// A Go-duration parameter, in nanoseconds.
fn duration_ns(p: &[(String, String)], name: &str) -> Result<Option<u64>, String> {
    param(p, name)
        .map(|v| {
            go_duration(v)
                .map(|d| d.as_nanos() as u64)
                .map_err(|e| format!("{name}: {e}"))
        })
        .transpose()
}

/// A non-negative integer parameter.
pub(crate) fn uint(p: &[(String, String)], name: &str) -> Result<Option<u64>, String> {
    param(p, name)
        .map(|v| {
            v.parse::<u64>()
                .map_err(|_| format!("invalid {name} {v:?}: expected a non-negative integer"))
        })
        .transpose()
}

fn micros_to_ns(us: u64) -> u64 {
    us.saturating_mul(1_000)
}

/// The trace-search limit: the request's (or `default`), at most `query.max_search_limit`.
pub(crate) fn limit(state: &AppState, asked: Option<u64>, default: u64) -> Result<usize, String> {
    let max = state.config.query.max_search_limit as u64;
    match asked {
        None | Some(0) => Ok(default.min(max) as usize),
        Some(n) if n > max => Err(format!(
            "limit {n} is over the maximum of {max} (query.max_search_limit)"
        )),
        Some(n) => Ok(n as usize),
    }
}

pub(crate) fn base_query(state: &AppState) -> FindQuery {
    FindQuery {
        service: None,
        operation: None,
        span_kind: None,
        tags: Vec::new(),
        keys: Vec::new(),
        start_ns: 0,
        end_ns: 0,
        min_duration_ns: None,
        max_duration_ns: None,
        limit: 20,
        timeout: state.config.query.search_timeout.0,
        max_trace_spans: state.config.query.max_trace_spans,
        scope: None,
    }
}

/// A span kind keyword (`server`, `client`, …, any case, or `SPAN_KIND_SERVER`) as OTLP's
/// number.
fn span_kind(s: &str) -> Result<i32, String> {
    let k = s.trim().to_ascii_lowercase();
    let k = k.strip_prefix("span_kind_").unwrap_or(&k);
    Ok(match k {
        "unspecified" => SpanKind::Unspecified,
        "internal" => SpanKind::Internal,
        "server" => SpanKind::Server,
        "client" => SpanKind::Client,
        "producer" => SpanKind::Producer,
        "consumer" => SpanKind::Consumer,
        _ => {
            return Err(format!(
                "invalid span kind {s:?}: expected server, client, producer, consumer or internal"
            ));
        }
    } as i32)
}

/// A parameter that must be given.
fn required(p: &[(String, String)], name: &str) -> Result<String, String> {
    param(p, name)
        .map(str::to_string)
        .ok_or_else(|| format!("parameter '{name}' is required"))
}

/// Tags given as one JSON object (`{"http.status_code":"500","error":true}`), added to
/// `tags` as text: strings as they are, other values as their JSON.
fn json_tags(
    p: &[(String, String)],
    name: &str,
    tags: &mut Vec<(String, String)>,
) -> Result<(), String> {
    let Some(t) = param(p, name) else {
        return Ok(());
    };
    let map: BTreeMap<String, Value> = serde_json::from_str(t).map_err(|e| {
        format!("invalid {name} {t:?}: expected a JSON object of key to value ({e})")
    })?;
    tags.extend(map.into_iter().map(|(k, v)| match v {
        Value::String(s) => (k, s),
        other => (k, other.to_string()),
    }));
    Ok(())
}

/// The v1 search parameters.
fn v1_query(state: &AppState, p: &[(String, String)]) -> Result<FindQuery, String> {
    let mut q = base_query(state);
    q.service = Some(required(p, "service")?);
    q.operation = param(p, "operation").map(str::to_string);
    q.span_kind = param(p, "spanKind").map(span_kind).transpose()?;
    json_tags(p, "tags", &mut q.tags)?;
    for (k, v) in p.iter().filter(|(k, _)| k == "tag") {
        let (key, value) = v
            .split_once(':')
            .ok_or_else(|| format!("invalid {k} {v:?}: expected key:value"))?;
        q.tags.push((key.to_string(), value.to_string()));
    }
    let end = uint(p, "end")?.map_or_else(now_unix_nanos, micros_to_ns);
    let start = match (uint(p, "start")?, param(p, "lookback")) {
        (Some(s), _) => micros_to_ns(s),
        (None, Some(lb)) if lb != "custom" => end.saturating_sub(
            go_duration(lb)
                .map_err(|e| format!("lookback: {e}"))?
                .as_nanos() as u64,
        ),
        _ => 0,
    };
    if start > end {
        return Err(format!("start ({start} ns) is after end ({end} ns)"));
    }
    q.start_ns = start;
    q.end_ns = end;
    q.min_duration_ns = duration_ns(p, "minDuration")?;
    q.max_duration_ns = duration_ns(p, "maxDuration")?;
    if let (Some(a), Some(b)) = (q.min_duration_ns, q.max_duration_ns)
        && a > b
    {
        return Err("minDuration is greater than maxDuration".into());
    }
    q.limit = limit(state, uint(p, "limit")?, 100)?;
    Ok(q)
}

// ---------------------------------------------------------------------------------------
// Answers
// ---------------------------------------------------------------------------------------

pub(crate) fn envelope_error(status: Http, msg: impl Into<String>) -> Response {
    let msg = msg.into();
    (
        status,
        axum::Json(json!({
            "data": Value::Null,
            "total": 0,
            "limit": 0,
            "offset": 0,
            "errors": [{"code": status.as_u16(), "msg": msg}],
        })),
    )
        .into_response()
}

pub(crate) fn v3_error(status: Http, msg: impl Into<String>) -> Response {
    (
        status,
        axum::Json(json!({"error": {"httpCode": status.as_u16(), "message": msg.into()}})),
    )
        .into_response()
}

/// The status and message of a failed search.
pub(crate) fn search_failure(e: SearchError) -> Fail {
    match e {
        SearchError::Invalid(m) => (Http::BAD_REQUEST, m),
        SearchError::Timeout(_) => (Http::GATEWAY_TIMEOUT, e.to_string()),
        SearchError::ViewChanged => (Http::SERVICE_UNAVAILABLE, e.to_string()),
        SearchError::Storage(_) | SearchError::Internal(_) => {
            tracing::error!(error = %e, "jaeger/zipkin query failed");
            (Http::INTERNAL_SERVER_ERROR, e.to_string())
        }
    }
}

const NOT_READY: &str = "not ready: replaying the write-ahead log";

/// The tenant and the store, or the answer saying why not.
pub(crate) fn ready<'a>(
    state: &'a AppState,
    headers: &HeaderMap,
) -> Result<(String, &'a arbor_storage::Store), Fail> {
    let tenant = tenant::from_headers(headers).map_err(|e| (Http::BAD_REQUEST, e.to_string()))?;
    let store = state
        .store()
        .ok_or((Http::SERVICE_UNAVAILABLE, NOT_READY.to_string()))?;
    Ok((tenant, store))
}

/// Looks a trace up by its ID text.
pub(crate) async fn lookup(
    state: &AppState,
    store: &arbor_storage::Store,
    tenant: &str,
    id: &str,
    scope: Option<&Visibility>,
) -> Result<Option<TraceLookup>, Fail> {
    let id = TraceId::from_hex(id)
        .map_err(|e| (Http::BAD_REQUEST, format!("invalid trace id {id:?}: {e}")))?;
    find_trace(
        store,
        tenant,
        &id,
        state.config.query.max_trace_spans,
        scope,
    )
    .await
    .map_err(|e| {
        tracing::error!(trace = %id, error = %e, "trace lookup failed");
        (
            Http::INTERNAL_SERVER_ERROR,
            format!("reading trace {id}: {e}"),
        )
    })
}

/// Traces with their warnings as the v1 envelope. The JSON is written straight from the
/// spans (no `Value` tree), on the blocking pool: a trace of 100,000 spans is tens of
/// megabytes of output.
async fn v1_traces(traces: Vec<(TraceLookup, Vec<String>)>) -> Result<Response, Fail> {
    let body = tokio::task::spawn_blocking(move || {
        let data: Vec<arbor_model::jaeger::Trace<'_>> = traces
            .iter()
            .map(|(t, warnings)| {
                let mut out = arbor_model::jaeger::Trace::new(&t.resource_spans);
                out.set_warnings(warnings.clone());
                out
            })
            .collect();
        serde_json::to_vec(&Envelope {
            total: data.len(),
            data,
        })
    })
    .await;
    let failed = |e: &dyn std::fmt::Display| {
        (
            Http::INTERNAL_SERVER_ERROR,
            format!("writing the answer: {e}"),
        )
    };
    let body = match body {
        Ok(Ok(bytes)) => bytes,
        Ok(Err(e)) => return Err(failed(&e)),
        Err(e) => return Err(failed(&e)),
    };
    Ok(([(http::header::CONTENT_TYPE, "application/json")], body).into_response())
}

/// The warning of a trace cut to the span limit, if it was.
fn cut_warning(t: &TraceLookup) -> Vec<String> {
    t.partial_message("query.max_trace_spans")
        .into_iter()
        .collect()
}

/// Jaeger's v1 envelope around a list.
struct Envelope<T> {
    data: Vec<T>,
    total: usize,
}

impl<T: serde::Serialize> serde::Serialize for Envelope<T> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(Some(5))?;
        m.serialize_entry("data", &self.data)?;
        m.serialize_entry("total", &self.total)?;
        m.serialize_entry("limit", &0)?;
        m.serialize_entry("offset", &0)?;
        m.serialize_entry("errors", &())?;
        m.end()
    }
}

// ---------------------------------------------------------------------------------------
// v1
// ---------------------------------------------------------------------------------------

/// What failed: the status and the message.
pub(crate) type Fail = (Http, String);

/// A v1 answer, or its error in the envelope.
fn v1(r: Result<Response, Fail>) -> Response {
    r.unwrap_or_else(|(s, m)| envelope_error(s, m))
}

/// A list in the envelope.
fn v1_list<T: serde::Serialize>(items: Vec<T>) -> Response {
    axum::Json(Envelope {
        total: items.len(),
        data: items,
    })
    .into_response()
}

/// Every service name of the request's tenant.
pub(crate) async fn services_of(
    state: &AppState,
    headers: &HeaderMap,
    scope: &ReadScope,
) -> Result<Vec<String>, Fail> {
    let (tenant, store) = ready(state, headers)?;
    jq::services(
        &store.search_view(&tenant),
        scope.0.as_ref(),
        state.config.query.search_timeout.0,
    )
    .await
    .map_err(search_failure)
}

/// The (span name, kind) pairs of a service.
pub(crate) async fn operations_of(
    state: &AppState,
    headers: &HeaderMap,
    scope: &ReadScope,
    service: &str,
    kind: Option<i32>,
) -> Result<Vec<(String, i32)>, Fail> {
    let (tenant, store) = ready(state, headers)?;
    jq::operations(
        &store.search_view(&tenant),
        service,
        kind,
        (state.config.query.search_timeout.0, scope.0.as_ref()),
    )
    .await
    .map_err(search_failure)
}

/// The distinct span names of a service.
pub(crate) async fn span_names_of(
    state: &AppState,
    headers: &HeaderMap,
    scope: &ReadScope,
    service: &str,
) -> Result<Vec<String>, Fail> {
    let mut names: Vec<String> = operations_of(state, headers, scope, service, None)
        .await?
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    names.dedup();
    Ok(names)
}

/// The traces matching a search, whole.
pub(crate) async fn find(
    state: &AppState,
    headers: &HeaderMap,
    scope: &ReadScope,
    q: Result<FindQuery, String>,
) -> Result<Vec<(TraceId, TraceLookup)>, Fail> {
    let mut q = q.map_err(|m| (Http::BAD_REQUEST, m))?;
    q.scope = scope.0.clone();
    let (tenant, store) = ready(state, headers)?;
    (q.start_ns, q.end_ns) = super::search::bounded_range(state, &tenant, q.start_ns, q.end_ns)
        .map_err(|m| (Http::BAD_REQUEST, m))?;
    let _turn = state
        .queries
        .turn_for(
            &tenant,
            state.limits.tenant(&tenant).max_concurrent_searches,
        )
        .await
        .map_err(|b| (Http::TOO_MANY_REQUESTS, b.to_string()))?;
    jq::find_traces(store, &tenant, &q)
        .await
        .map_err(search_failure)
}

/// The traces of the given IDs that are held, in order.
pub(crate) async fn traces_by_id<'a>(
    state: &AppState,
    headers: &HeaderMap,
    scope: &ReadScope,
    ids: impl IntoIterator<Item = &'a str>,
) -> Result<Vec<TraceLookup>, Fail> {
    let (tenant, store) = ready(state, headers)?;
    let mut out = Vec::new();
    for id in ids {
        out.extend(lookup(state, store, &tenant, id, scope.0.as_deref()).await?);
    }
    Ok(out)
}

/// One trace by ID; 404 `trace not found` when absent.
pub(crate) async fn trace_by_id(
    state: &AppState,
    headers: &HeaderMap,
    scope: &ReadScope,
    id: &str,
) -> Result<TraceLookup, Fail> {
    traces_by_id(state, headers, scope, [id])
        .await?
        .pop()
        .ok_or((Http::NOT_FOUND, "trace not found".to_string()))
}

/// Service dependencies over a window (Unix ns).
pub(crate) async fn dependencies_of(
    state: &AppState,
    headers: &HeaderMap,
    scope: &ReadScope,
    window: Result<(u64, u64), String>,
) -> Result<Vec<jq::Dependency>, Fail> {
    let window = window.map_err(|m| (Http::BAD_REQUEST, m))?;
    let (tenant, store) = ready(state, headers)?;
    jq::dependencies(
        &store.search_view(&tenant),
        window,
        (state.config.query.search_timeout.0, scope.0.as_ref()),
    )
    .await
    .map_err(search_failure)
}

async fn services_v1(
    State(state): State<Arc<AppState>>,
    scope: ReadScope,
    headers: HeaderMap,
) -> Response {
    v1(services_of(&state, &headers, &scope).await.map(v1_list))
}

async fn service_operations_v1(
    State(state): State<Arc<AppState>>,
    Path(service): Path<String>,
    scope: ReadScope,
    headers: HeaderMap,
) -> Response {
    v1(span_names_of(&state, &headers, &scope, &service)
        .await
        .map(v1_list))
}

fn operation_objects(ops: Vec<(String, i32)>) -> Vec<Value> {
    ops.into_iter()
        .map(|(name, k)| {
            json!({"name": name, "spanKind": arbor_model::jaeger::kind_keyword(k).unwrap_or("")})
        })
        .collect()
}

/// The `service` and span-kind parameters of an operations listing.
fn operations_params<'a>(
    p: &'a [(String, String)],
    kind_names: &[&str],
) -> Result<(&'a str, Option<i32>), Fail> {
    let bad = |m: String| (Http::BAD_REQUEST, m);
    let service =
        param(p, "service").ok_or_else(|| bad("parameter 'service' is required".into()))?;
    let kind = kind_names
        .iter()
        .find_map(|n| param(p, n))
        .map(span_kind)
        .transpose()
        .map_err(bad)?;
    Ok((service, kind))
}

async fn operations_v1(
    State(state): State<Arc<AppState>>,
    RawQuery(raw): RawQuery,
    scope: ReadScope,
    headers: HeaderMap,
) -> Response {
    let p = pairs(raw);
    v1(async {
        let (service, kind) = operations_params(&p, &["spanKind"])?;
        let ops = operations_of(&state, &headers, &scope, service, kind).await?;
        Ok(v1_list(operation_objects(ops)))
    }
    .await)
}

async fn find_v1(
    State(state): State<Arc<AppState>>,
    RawQuery(raw): RawQuery,
    scope: ReadScope,
    headers: HeaderMap,
) -> Response {
    let p = pairs(raw);
    let ids: Vec<&str> = p
        .iter()
        .filter(|(k, _)| k == "traceID")
        .map(|(_, v)| v.as_str())
        .collect();
    let found = if ids.is_empty() {
        find(&state, &headers, &scope, v1_query(&state, &p))
            .await
            .map(|found| found.into_iter().map(|(_, t)| t).collect())
    } else {
        traces_by_id(&state, &headers, &scope, ids).await
    };
    v1(match found {
        Ok(found) => {
            let with_warnings = found
                .into_iter()
                .map(|t| {
                    let w = cut_warning(&t);
                    (t, w)
                })
                .collect();
            v1_traces(with_warnings).await
        }
        Err(e) => Err(e),
    })
}

async fn trace_v1(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    scope: ReadScope,
    headers: HeaderMap,
) -> Response {
    v1(match trace_by_id(&state, &headers, &scope, &id).await {
        // The note holds the read's own (cut to the span limit) too.
        Ok(t) => {
            let note = ingest_note(&state, &headers, &id, &t);
            v1_traces(vec![(t, note.into_iter().collect())]).await
        }
        Err(e) => Err(e),
    })
}

/// Why a trace read by ID is partial: cut to `query.max_trace_spans` and/or truncated at
/// ingest by its tenant's trace limits (`crate::limits::traces`).
pub(crate) fn ingest_note(
    state: &AppState,
    headers: &HeaderMap,
    id: &str,
    t: &TraceLookup,
) -> Option<String> {
    let read = t.partial_message("query.max_trace_spans");
    match (tenant::from_headers(headers), TraceId::from_hex(id)) {
        (Ok(tenant), Ok(id)) => state.limits.partial_note(&tenant, &id, read),
        _ => read,
    }
}

/// The window of a dependencies request: `endTs` and `lookback` in milliseconds (default
/// now and 24 h), as Unix ns `[from, to)`.
pub(crate) fn dependency_window(
    p: &[(String, String)],
    end_default_now: bool,
) -> Result<(u64, u64), String> {
    let end_ms = match uint(p, "endTs")? {
        Some(ms) => ms,
        None if end_default_now => now_unix_nanos() / 1_000_000,
        None => return Err("parameter 'endTs' is required".into()),
    };
    let lookback_ms = uint(p, "lookback")?.unwrap_or(86_400_000);
    let to = end_ms.saturating_mul(1_000_000).saturating_add(1);
    let from = end_ms.saturating_sub(lookback_ms).saturating_mul(1_000_000);
    Ok((from, to))
}

async fn dependencies_v1(
    State(state): State<Arc<AppState>>,
    RawQuery(raw): RawQuery,
    scope: ReadScope,
    headers: HeaderMap,
) -> Response {
    let window = dependency_window(&pairs(raw), true);
    v1(dependencies_of(&state, &headers, &scope, window)
        .await
        .map(|deps| {
            v1_list(
                deps.iter()
                    .map(|d| json!({"parent": d.parent, "child": d.child, "callCount": d.calls}))
                    .collect(),
            )
        }))
}

// ---------------------------------------------------------------------------------------
// v3
// ---------------------------------------------------------------------------------------

/// A v3 answer, or its error.
fn v3(r: Result<Value, Fail>) -> Response {
    match r {
        Ok(v) => axum::Json(v).into_response(),
        Err((s, m)) => v3_error(s, m),
    }
}

async fn services_v3(
    State(state): State<Arc<AppState>>,
    scope: ReadScope,
    headers: HeaderMap,
) -> Response {
    v3(services_of(&state, &headers, &scope)
        .await
        .map(|s| json!({ "services": s })))
}

async fn operations_v3(
    State(state): State<Arc<AppState>>,
    RawQuery(raw): RawQuery,
    scope: ReadScope,
    headers: HeaderMap,
) -> Response {
    let p = pairs(raw);
    v3(async {
        let (service, kind) = operations_params(&p, &["span_kind", "spanKind"])?;
        let ops = operations_of(&state, &headers, &scope, service, kind).await?;
        Ok(json!({ "operations": operation_objects(ops) }))
    }
    .await)
}

/// OTLP/JSON in Jaeger v3's form: `resource` and each `scope` always present (empty
/// objects when there are none).
fn otlp_result(traces: &[&TraceLookup]) -> Value {
    let rs: Vec<Value> = traces
        .iter()
        .flat_map(|t| t.resource_spans.iter())
        .map(|r| {
            let mut v = arbor_model::otlp_json::encode_resource_spans(r);
            if v.get("resource").is_none() {
                v["resource"] = json!({});
            }
            if let Some(scopes) = v.get_mut("scopeSpans").and_then(Value::as_array_mut) {
                for ss in scopes {
                    if ss.get("scope").is_none() {
                        ss["scope"] = json!({});
                    }
                }
            }
            v
        })
        .collect();
    json!({ "result": { "resourceSpans": rs } })
}

async fn trace_v3(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    scope: ReadScope,
    headers: HeaderMap,
) -> Response {
    v3(trace_by_id(&state, &headers, &scope, &id)
        .await
        .map(|t| otlp_result(&[&t])))
}

/// Unix nanoseconds of a strict RFC 3339 time; 0 for one outside `i64` nanoseconds (before
/// 1677 or after 2262), as chrono's `timestamp_nanos_opt().unwrap_or(0)` gave before.
fn rfc3339_ns(name: &str, v: &str) -> Result<u64, String> {
    let t = arbor_model::time::parse_rfc3339(v).ok_or_else(|| {
        format!("invalid {name} {v:?}: expected an RFC 3339 time, e.g. 2017-01-26T16:46:31.639Z")
    })?;
    u64::try_from(t.as_nanos().unwrap_or(0))
        .map_err(|_| format!("invalid {name} {v:?}: before 1970"))
}

/// The v3 search parameters (`query.*`).
fn v3_query(state: &AppState, p: &[(String, String)]) -> Result<FindQuery, String> {
    let mut q = base_query(state);
    q.service = Some(required(p, "query.service_name")?);
    q.operation = param(p, "query.operation_name").map(str::to_string);
    for (k, v) in p {
        if let Some(key) = k
            .strip_prefix("query.attributes[")
            .and_then(|r| r.strip_suffix(']'))
        {
            q.tags.push((key.to_string(), v.clone()));
        }
    }
    json_tags(p, "query.attributes", &mut q.tags)?;
    q.start_ns = param(p, "query.start_time_min")
        .map(|v| rfc3339_ns("query.start_time_min", v))
        .transpose()?
        .unwrap_or(0);
    q.end_ns = param(p, "query.start_time_max")
        .map(|v| rfc3339_ns("query.start_time_max", v))
        .transpose()?
        .unwrap_or_else(now_unix_nanos);
    q.min_duration_ns = duration_ns(p, "query.duration_min")?;
    q.max_duration_ns = duration_ns(p, "query.duration_max")?;
    q.limit = limit(state, uint(p, "query.search_depth")?, 100)?;
    Ok(q)
}

async fn find_v3(
    State(state): State<Arc<AppState>>,
    RawQuery(raw): RawQuery,
    scope: ReadScope,
    headers: HeaderMap,
) -> Response {
    let q = v3_query(&state, &pairs(raw));
    v3(find(&state, &headers, &scope, q).await.map(|found| {
        let refs: Vec<&TraceLookup> = found.iter().map(|(_, t)| t).collect();
        otlp_result(&refs)
    }))
}

/// A trace summary as Jaeger v3 writes it.
fn summary(id: &TraceId, t: &TraceLookup) -> Value {
    let mut min_start = u64::MAX;
    let mut max_end = 0u64;
    let mut spans = 0u64;
    let mut errors = 0u64;
    let mut root: Option<(u64, &str, &str)> = None;
    let mut services: BTreeMap<&str, (u64, u64)> = BTreeMap::new();
    let mut order: Vec<&str> = Vec::new();
    for rs in &t.resource_spans {
        let svc =
            arbor_model::otlp::service_name(rs.resource.as_ref()).unwrap_or("unknown_service");
        for span in rs.scope_spans.iter().flat_map(|ss| &ss.spans) {
            let err = span
                .status
                .as_ref()
                .is_some_and(|s| s.code == StatusCode::Error as i32);
            spans += 1;
            errors += u64::from(err);
            min_start = min_start.min(span.start_time_unix_nano);
            max_end = max_end.max(span.end_time_unix_nano);
            let e = services.entry(svc).or_insert_with(|| {
                order.push(svc);
                (0, 0)
            });
            e.0 += 1;
            e.1 += u64::from(err);
            let is_root = span.parent_span_id.iter().all(|b| *b == 0);
            if is_root && root.is_none_or(|(s, _, _)| span.start_time_unix_nano < s) {
                root = Some((span.start_time_unix_nano, svc, span.name.as_str()));
            }
        }
    }
    let (root_service, root_name) = root.map_or(("", ""), |(_, s, n)| (s, n));
    let services: Vec<Value> = order
        .iter()
        .map(|s| {
            let (n, e) = services[s];
            json!({"name": s, "spanCount": n, "errorSpanCount": e})
        })
        .collect();
    json!({
        "traceId": id.to_hex(),
        "rootServiceName": root_service,
        "rootOperationName": root_name,
        "minStartTimeUnixNano": min_start.min(max_end).to_string(),
        "maxEndTimeUnixNano": max_end.to_string(),
        "spanCount": spans,
        "errorSpanCount": errors,
        "services": services,
    })
}

async fn summaries_v3(
    State(state): State<Arc<AppState>>,
    RawQuery(raw): RawQuery,
    scope: ReadScope,
    headers: HeaderMap,
) -> Response {
    let q = v3_query(&state, &pairs(raw));
    v3(find(&state, &headers, &scope, q).await.map(|found| {
        let s: Vec<Value> = found.iter().map(|(id, t)| summary(id, t)).collect();
        json!({ "summaries": s })
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations() {
        let ns = |s| go_duration(s).unwrap().as_nanos() as u64;
        assert_eq!(ns("1.2s"), 1_200_000_000);
        assert_eq!(ns("100ms"), 100_000_000);
        assert_eq!(ns("500us"), 500_000);
        assert_eq!(ns("500µs"), 500_000);
        assert_eq!(ns("4500ns"), 4_500);
        assert_eq!(ns("1m30s"), 90_000_000_000);
        assert_eq!(ns("1h"), 3_600_000_000_000);
        assert_eq!(ns("0"), 0);
        for bad in ["", "5", "-1s", "1x", "s", "1.2.3s"] {
            assert!(go_duration(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn start_times() {
        let ns = |v| rfc3339_ns("query.start_time_min", v);
        assert_eq!(
            ns("2017-01-26T16:46:31.639875139-05:00"),
            Ok(1_485_467_191_639_875_139)
        );
        assert_eq!(ns("1970-01-01T00:00:00Z"), Ok(0));
        assert_eq!(
            ns("1969-12-31T23:59:59Z"),
            Err(r#"invalid query.start_time_min "1969-12-31T23:59:59Z": before 1970"#.into())
        );
        // Outside i64 nanoseconds: 0, as with chrono.
        assert_eq!(ns("1600-01-01T00:00:00Z"), Ok(0));
        assert_eq!(ns("2300-01-01T00:00:00Z"), Ok(0));
        let err = ns("2017-01-26").unwrap_err();
        assert!(
            err.starts_with(
                r#"invalid query.start_time_min "2017-01-26": expected an RFC 3339 time"#
            ),
            "{err}"
        );
    }
}
