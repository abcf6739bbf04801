//! `GET /api/tail` (server-sent events, see docs/api.md): a watcher of the [`Hub`].

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use arbor_query::search::live::LiveFilter;
use axum::Router;
use axum::extract::{Query, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use http::{HeaderMap, StatusCode};
use serde_json::json;
use tokio::sync::{broadcast, mpsc};

use super::{Acked, Bound, filter_of, limit_of, matching, span_json};
use crate::api::error;
use crate::auth::ReadScope;
use crate::state::AppState;

pub fn router() -> Router<Arc<AppState>> {
    Router::new().route("/api/tail", get(tail))
}

async fn tail(
    State(state): State<Arc<AppState>>,
    ReadScope(scope): ReadScope,
    headers: HeaderMap,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let tenant = match crate::tenant::from_headers(&headers) {
        Ok(t) => t,
        Err(e) => return error(StatusCode::BAD_REQUEST, e.to_string()),
    };
    let filter = match filter_of(params.get("q").map_or("", String::as_str), scope.as_ref()) {
        Ok(f) => f,
        Err(e) => return error(StatusCode::BAD_REQUEST, e.to_string()),
    };
    let limit = match limit_of(params.get("limit")) {
        Ok(l) => l,
        Err(e) => return error(StatusCode::BAD_REQUEST, e.to_string()),
    };
    let (rx, closing) = state.tail.subscribe();
    // Room for a second of spans plus a few events: a reader slower than that loses spans.
    let (tx, out) = mpsc::channel::<Event>(limit as usize + 16);
    tokio::spawn(watch(rx, closing, tx, tenant, filter, limit));
    let stream = futures::StreamExt::map(tokio_stream::wrappers::ReceiverStream::new(out), |e| {
        Ok::<_, Infallible>(e)
    });
    Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(10)))
        .into_response()
}

/// One watcher: matches each acknowledged batch of its tenant, sends what the bound
/// admits, and says each second what it left out.
async fn watch(
    mut rx: broadcast::Receiver<Arc<Acked>>,
    mut closing: tokio::sync::watch::Receiver<bool>,
    tx: mpsc::Sender<Event>,
    tenant: String,
    filter: LiveFilter,
    limit: u32,
) {
    let mut bound = Bound::new(limit);
    let mut lagged = 0u64;
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let ready = json!({"limit": limit});
    if tx
        .send(Event::default().event("ready").data(ready.to_string()))
        .await
        .is_err()
    {
        return;
    }
    loop {
        tokio::select! {
            _ = closing.changed() => return,
            got = rx.recv() => match got {
                Ok(batch) => {
                    if batch.tenant != tenant {
                        continue;
                    }
                    for (resource, span) in matching(&filter, &batch.request) {
                        if !bound.admit() {
                            continue;
                        }
                        let e = Event::default().event("span").data(span_json(resource, span).to_string());
                        if tx.try_send(e).is_err() {
                            if tx.is_closed() {
                                return;
                            }
                            // The reader is behind: this span is lost, and said so.
                            bound.sent -= 1;
                            bound.dropped += 1;
                        }
                    }
                }
                Err(broadcast::error::RecvError::Lagged(n)) => lagged += n,
                Err(broadcast::error::RecvError::Closed) => return,
            },
            _ = tick.tick() => {
                let stats = bound.tick();
                let stats = match (stats, lagged) {
                    (s, 0) => s,
                    (Some(mut s), n) => { s["lostBatches"] = json!(n); Some(s) }
                    (None, n) => Some(json!({"lostBatches": n, "sampled": true, "limit": limit})),
                };
                lagged = 0;
                if let Some(s) = stats
                    && tx.send(Event::default().event("stats").data(s.to_string())).await.is_err()
                {
                    return;
                }
                if tx.is_closed() {
                    return;
                }
            }
        }
    }
}
