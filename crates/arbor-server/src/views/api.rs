//! The views API (see docs/api.md): `/api/views` (the scopes, the filters and the
//! tenant's saved views; create), `/api/views/{id}` (one — a scope's id or a saved view's;
//! replace, delete), `/api/views/query` (the TraceQL of a scope, filters and query, without
//! saving). Every request is in the tenant of its `X-Scope-OrgID`.

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use http::{HeaderMap, StatusCode};
use serde_json::{Value, json};

use super::filters::{FILTERS, SCOPES, Scope, scope, spanset};
use super::{View, ViewError, ViewInput};
use crate::api::error;
use crate::state::AppState;
use crate::tenant;

pub fn router() -> Router<Arc<AppState>> {
    Router::new()
        .route("/api/views", get(list).post(create))
        .route("/api/views/query", post(query))
        .route("/api/views/{id}", get(one).put(replace).delete(remove))
}

fn refuse(e: ViewError) -> Response {
    let code = match &e {
        ViewError::Invalid(_) => StatusCode::BAD_REQUEST,
        ViewError::Exists(_) => StatusCode::CONFLICT,
        ViewError::Missing(_) => StatusCode::NOT_FOUND,
        ViewError::Full => StatusCode::INSUFFICIENT_STORAGE,
        ViewError::Io { .. } | ViewError::Corrupt { .. } => StatusCode::INTERNAL_SERVER_ERROR,
    };
    error(code, e.to_string())
}

/// A request refused before it reached the views: its status and message.
struct Refusal(StatusCode, String);

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        error(self.0, self.1)
    }
}

fn tenant_of(headers: &HeaderMap) -> Result<String, Refusal> {
    tenant::from_headers(headers).map_err(|e| Refusal(StatusCode::BAD_REQUEST, e.to_string()))
}

fn input(body: &[u8]) -> Result<ViewInput, Refusal> {
    serde_json::from_slice(body).map_err(|e| Refusal(StatusCode::BAD_REQUEST, format!("body: {e}")))
}

fn now_s() -> u64 {
    arbor_model::time::now_unix_nanos() / 1_000_000_000
}

/// A scope as its curated view.
fn scope_json(s: &Scope) -> Value {
    json!({
        "id": s.id,
        "name": s.name,
        "builtIn": true,
        "scope": s.id,
        "requires": s.requires,
        "filterIds": s.filters,
        "charts": s.charts,
        "filters": {},
        "traceql": spanset(Some(s), &Default::default()).expect("no filters"),
    })
}

fn view_json(v: &View) -> Value {
    let mut j = serde_json::to_value(v).expect("views serialize");
    j["builtIn"] = json!(false);
    j["traceql"] = json!(v.input().traceql().unwrap_or_default());
    if let Some(s) = v.scope.as_deref().and_then(scope) {
        j["filterIds"] = json!(s.filters);
    } else {
        // The place and duration, and whatever else it was saved with.
        let mut ids = vec!["service", "namespace", "environment", "region", "duration"];
        let saved: Vec<&str> = v
            .filters
            .keys()
            .map(String::as_str)
            .filter(|k| !ids.contains(k))
            .collect();
        ids.extend(saved);
        j["filterIds"] = json!(ids);
    }
    j
}

async fn list(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    let tenant = match tenant_of(&headers) {
        Ok(t) => t,
        Err(r) => return r.into_response(),
    };
    match on_disk(&state, move |v| v.list(&tenant)).await {
        Ok(views) => Json(json!({
            "scopes": SCOPES.iter().map(scope_json).collect::<Vec<_>>(),
            "filters": FILTERS,
            "views": views.iter().map(view_json).collect::<Vec<_>>(),
        }))
        .into_response(),
        Err(e) => refuse(e),
    }
}

async fn one(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    if let Some(s) = scope(&id) {
        return Json(scope_json(s)).into_response();
    }
    let tenant = match tenant_of(&headers) {
        Ok(t) => t,
        Err(r) => return r.into_response(),
    };
    match on_disk(&state, move |v| v.get(&tenant, &id)).await {
        Ok(v) => Json(view_json(&v)).into_response(),
        Err(e) => refuse(e),
    }
}

/// Runs a views operation on the blocking pool: it may read the views file, and a change
/// writes and fsyncs it.
async fn on_disk<T: Send + 'static>(
    state: &Arc<AppState>,
    f: impl FnOnce(&super::Views) -> Result<T, ViewError> + Send + 'static,
) -> Result<T, ViewError> {
    let state = state.clone();
    tokio::task::spawn_blocking(move || f(&state.views))
        .await
        .unwrap_or_else(|e| {
            Err(ViewError::Io {
                path: "views.json".into(),
                source: std::io::Error::other(format!("the views task failed: {e}")),
            })
        })
}

/// A saved view may not take a scope's id (the scopes' curated views are at theirs).
fn checked(i: ViewInput) -> Result<View, ViewError> {
    let v = i.check(now_s())?;
    if scope(&v.id).is_some() {
        return Err(ViewError::Invalid(format!(
            "name: {:?} is a built-in view's",
            v.name
        )));
    }
    Ok(v)
}

async fn create(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let (tenant, i) = match (tenant_of(&headers), input(&body)) {
        (Ok(t), Ok(i)) => (t, i),
        (Err(r), _) | (_, Err(r)) => return r.into_response(),
    };
    match on_disk(&state, move |views| {
        checked(i).and_then(|v| views.create(&tenant, v))
    })
    .await
    {
        Ok(v) => (StatusCode::CREATED, Json(view_json(&v))).into_response(),
        Err(e) => refuse(e),
    }
}

async fn replace(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    let (tenant, i) = match (tenant_of(&headers), input(&body)) {
        (Ok(t), Ok(i)) => (t, i),
        (Err(r), _) | (_, Err(r)) => return r.into_response(),
    };
    match on_disk(&state, move |views| {
        checked(i).and_then(|v| views.replace(&tenant, &id, v))
    })
    .await
    {
        Ok(v) => Json(view_json(&v)).into_response(),
        Err(e) => refuse(e),
    }
}

async fn remove(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let tenant = match tenant_of(&headers) {
        Ok(t) => t,
        Err(r) => return r.into_response(),
    };
    match on_disk(&state, move |v| v.delete(&tenant, &id)).await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => refuse(e),
    }
}

async fn query(body: axum::body::Bytes) -> Response {
    let i = match input(&body) {
        Ok(i) => i,
        Err(r) => return r.into_response(),
    };
    match i.traceql() {
        Ok(q) => Json(json!({ "traceql": q })).into_response(),
        Err(e) => refuse(e),
    }
}
