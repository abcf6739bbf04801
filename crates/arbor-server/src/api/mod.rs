//! The HTTP API on the main listener: Tempo-compatible query endpoints, health and metrics;
//! the web UI (`crate::ui`) answers the paths no route takes.

pub mod admission;
pub mod derived;
pub mod jaeger;
pub mod metrics_query;
pub mod params;
pub mod search;
pub mod search_cursor;
pub mod tags;
pub mod tempo;
pub mod zipkin;

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use http::StatusCode;
use http::header::CONTENT_TYPE;

use crate::state::AppState;

pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/ready", get(ready))
        .route("/metrics", get(metrics))
        // A cut changes state: never on GET, which a link or an <img> on any page sends.
        .route(
            "/flush",
            post(flush).fallback(|| async {
                let mut resp = error(
                    StatusCode::METHOD_NOT_ALLOWED,
                    "flush takes POST (it changes state)",
                );
                resp.headers_mut()
                    .insert(http::header::ALLOW, http::HeaderValue::from_static("POST"));
                resp
            }),
        )
        .route("/api/whoami", get(whoami))
        .merge(tempo::router())
        .merge(tags::router())
        .merge(search::router())
        .merge(metrics_query::router())
        .merge(derived::router())
        .merge(crate::alerts::api::router())
        .merge(crate::views::api::router())
        .merge(crate::tail::api::router())
        // Every API route's latency, by its pattern (only matched routes: bounded labels).
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            time_request,
        ))
        // The web UI answers what no API route took (its pages and files), 404 otherwise.
        .fallback(ui_or_not_found)
        .with_state(state)
}

async fn time_request(
    State(state): State<Arc<AppState>>,
    path: axum::extract::MatchedPath,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let started = std::time::Instant::now();
    let resp = next.run(req).await;
    if path.as_str().starts_with("/api/") {
        state
            .metrics
            .query(path.as_str(), started.elapsed().as_secs_f64());
    }
    resp
}

/// 200 when spans can be taken; 503 while the log is replayed, and while it refuses writes
/// (a full disk: it resumes by itself once space is freed).
async fn ready(State(state): State<Arc<AppState>>) -> Response {
    match state.store() {
        None => (
            StatusCode::SERVICE_UNAVAILABLE,
            "not ready: replaying the write-ahead log\n",
        )
            .into_response(),
        Some(store) => match store.wal_refusing() {
            None => (StatusCode::OK, "ready\n").into_response(),
            Some(e) => (
                StatusCode::SERVICE_UNAVAILABLE,
                format!("not ready: the write-ahead log refuses writes: {e}\n"),
            )
                .into_response(),
        },
    }
}

/// Cuts the head into blocks now (as Tempo's `/flush`), answering once they are durable.
async fn flush(State(state): State<Arc<AppState>>) -> Response {
    let Some(store) = state.store() else {
        return error(
            StatusCode::SERVICE_UNAVAILABLE,
            "not ready: replaying the write-ahead log",
        );
    };
    match store.cut().await {
        Ok(_) => StatusCode::NO_CONTENT.into_response(),
        // Storage that cannot be written now (a full disk, an object store away): retry.
        Err(
            e @ (arbor_storage::StoreError::Wal(_)
            | arbor_storage::StoreError::Backend(_)
            | arbor_storage::StoreError::Io(_)),
        ) => {
            let mut resp = error(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("flush failed, retry later: {e}"),
            );
            resp.headers_mut().insert(
                http::header::RETRY_AFTER,
                http::HeaderValue::from_static("1"),
            );
            resp
        }
        Err(e) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("flush failed: {e}"),
        ),
    }
}

/// What the request's token grants (`{"auth": false}` when there is no token file).
async fn whoami(State(state): State<Arc<AppState>>, req: axum::extract::Request) -> Response {
    use crate::auth::{Identity, Tenants};
    let body = match req.extensions().get::<Identity>() {
        Some(Identity::Token(t)) => serde_json::json!({
            "auth": true,
            "name": t.name,
            "tenants": match &t.tenants {
                Tenants::All => serde_json::json!("*"),
                Tenants::Only(list) => serde_json::json!(list),
            },
            "grants": t.grants.iter().map(|g| g.as_str()).collect::<Vec<_>>(),
            "scope": t.scope.as_ref().map(|s| s.text()),
        }),
        _ => serde_json::json!({ "auth": state.auth.enabled() }),
    };
    axum::Json(body).into_response()
}

async fn metrics(State(state): State<Arc<AppState>>) -> Response {
    let mut body = state.metrics.render(&state.gauges());
    state.queries.render(&mut body);
    state.limits.counters.render(&mut body);
    render_block_cache(&mut body);
    if let Some(d) = &state.derived {
        d.render_prometheus(&mut body);
    }
    if let Some(a) = &state.alerts {
        a.render(&mut body);
    }
    (
        [(CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
        body,
    )
        .into_response()
}

/// The Prometheus lines of the block read cache (`arbor_storage::block::cache`).
fn render_block_cache(out: &mut String) {
    use std::fmt::Write as _;
    let (bytes, hits, misses) = arbor_storage::block::cache::stats();
    let _ = write!(
        out,
        "# HELP arbor_block_cache_bytes Bytes of blocks' trace tables and attribute indexes kept decoded (query.block_cache_bytes).\n\
         # TYPE arbor_block_cache_bytes gauge\n\
         arbor_block_cache_bytes {bytes}\n\
         # HELP arbor_block_cache_hits_total Block trace tables and indexes found in the cache.\n\
         # TYPE arbor_block_cache_hits_total counter\n\
         arbor_block_cache_hits_total {hits}\n\
         # HELP arbor_block_cache_misses_total Block trace tables and indexes read from storage.\n\
         # TYPE arbor_block_cache_misses_total counter\n\
         arbor_block_cache_misses_total {misses}\n"
    );
}

async fn ui_or_not_found(
    method: http::Method,
    uri: http::Uri,
    headers: http::HeaderMap,
) -> Response {
    if let Some(resp) = crate::ui::serve(&method, &uri, &headers) {
        return resp;
    }
    if let Some(resp) = crate::ui::not_found_page(&method, &uri, &headers) {
        return resp;
    }
    (
        StatusCode::NOT_FOUND,
        format!("no such endpoint: {}\n", uri.path()),
    )
        .into_response()
}

/// A plain-text error answer.
pub fn error(status: StatusCode, message: impl Into<String>) -> Response {
    let mut m = message.into();
    m.push('\n');
    (status, [(CONTENT_TYPE, "text/plain; charset=utf-8")], m).into_response()
}
