//! The derived views over a time range (`arbor_derived::query`):
//!
//! - `GET /api/derived/services`: rate, errors and duration per service, and per operation
//!   of one service (`service=`);
//! - `GET /api/derived/service-graph`: nodes and edges, from the kept series or, with
//!   `source=spans`, recomputed from the stored spans of the range;
//! - `GET /api/derived/serverless`: per function and per API endpoint.
//!
//! Parameters: `start`/`end` (Unix seconds; default the last hour), `step` (seconds, a
//! multiple of 15), `service`, `namespace`, `environment`, `region`, and `function` for
//! the serverless view. The series come from the blocks' sidecars (read once, then
//! cached) plus what is still in memory; see docs/api.md.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use arbor_derived::query::{self, Filter, Range};
use arbor_derived::{Deriver, Sidecar};
use arbor_model::time::now_unix_nanos;
use arbor_query::visibility::Visibility;
use arbor_storage::Store;
use arbor_storage::block::cache;
use axum::Json;
use axum::Router;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use futures::{StreamExt, TryStreamExt};
use http::{HeaderMap, StatusCode};

use super::error;
use super::params::{param, unix_time_ns};
use crate::auth::ReadScope;
use crate::state::AppState;
use crate::tenant;

pub fn router() -> Router<Arc<AppState>> {
    Router::new()
        .route("/api/derived/services", get(services))
        .route("/api/derived/service-graph", get(service_graph))
        .route("/api/derived/serverless", get(serverless))
}

type Params = Query<HashMap<String, String>>;

const SECOND: u64 = 1_000_000_000;
/// Longest range one request reads.
const MAX_RANGE: Duration = Duration::from_secs(400 * 86_400);
/// Most points one series holds.
const MAX_POINTS: u64 = 11_000;
/// Sidecars read at once.
const READ_CONCURRENCY: usize = 8;

/// A request refused: its status and message.
struct Refusal(StatusCode, String);

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        error(self.0, self.1)
    }
}

fn bad(message: impl Into<String>) -> Refusal {
    Refusal(StatusCode::BAD_REQUEST, message.into())
}

fn time(params: &HashMap<String, String>, name: &str) -> Result<Option<u64>, Refusal> {
    unix_time_ns(params, name).map_err(bad)
}

/// What every request shares, read from its headers and parameters.
struct Request {
    deriver: Arc<Deriver>,
    store: Arc<Store>,
    tenant: String,
    range: Range,
    filter: Filter,
}

fn request(
    state: &AppState,
    headers: &HeaderMap,
    params: &HashMap<String, String>,
) -> Result<Request, Refusal> {
    let Some(deriver) = state.derived.clone() else {
        return Err(Refusal(
            StatusCode::SERVICE_UNAVAILABLE,
            "the derived views are off (derived.enabled = false)".into(),
        ));
    };
    let tenant = tenant::from_headers(headers).map_err(|e| bad(e.to_string()))?;
    let to_ns = time(params, "end")?.unwrap_or_else(now_unix_nanos);
    let from_ns = time(params, "start")?.unwrap_or(to_ns.saturating_sub(3_600 * SECOND));
    if from_ns >= to_ns {
        return Err(bad(format!(
            "start ({}) must be before end ({})",
            from_ns / SECOND,
            to_ns / SECOND
        )));
    }
    if to_ns - from_ns > MAX_RANGE.as_nanos() as u64 {
        return Err(bad(format!(
            "the range is longer than {} days",
            MAX_RANGE.as_secs() / 86_400
        )));
    }
    let res = arbor_derived::RESOLUTION_NS;
    let step_ns = match param(params, "step") {
        None => Range::default_step_ns(from_ns, to_ns),
        Some(s) => {
            let step = s
                .parse::<u64>()
                .ok()
                .filter(|v| {
                    *v > 0
                        && v.checked_mul(SECOND)
                            .is_some_and(|ns| ns.is_multiple_of(res))
                })
                .ok_or_else(|| {
                    bad(format!(
                        "invalid step {s:?}: expected a whole number of seconds, a multiple of {}",
                        res / SECOND
                    ))
                })?;
            step * SECOND
        }
    };
    let range = Range {
        from_ns,
        to_ns,
        step_ns,
    };
    if range.points() as u64 > MAX_POINTS {
        return Err(bad(format!(
            "step {} s gives {} points over this range; at most {MAX_POINTS}: use a longer step",
            step_ns / SECOND,
            range.points()
        )));
    }
    let text = |n: &str| param(params, n).map(str::to_string);
    let filter = Filter {
        service: text("service"),
        namespace: text("namespace"),
        environment: text("environment"),
        region: text("region"),
        function: text("function"),
    };
    let Some(store) = state.store().cloned() else {
        return Err(Refusal(
            StatusCode::SERVICE_UNAVAILABLE,
            "not ready: replaying the write-ahead log".into(),
        ));
    };
    Ok(Request {
        deriver,
        store,
        tenant,
        range,
        filter,
    })
}

/// The sidecars of the tenant's blocks that may hold buckets of the range.
async fn sidecars(r: &Request) -> Result<Vec<Arc<Sidecar>>, Refusal> {
    sidecars_for(&r.store, &r.tenant, r.range.from_ns, r.range.to_ns)
        .await
        .map_err(|e| Refusal(StatusCode::INTERNAL_SERVER_ERROR, e))
}

/// The sidecars of `tenant`'s blocks that may hold buckets starting in `[from_ns, to_ns)`:
/// a bucket starts at most an hour (the widest roll-up) before the block's first span and
/// no later than its last. Read once, then kept in the block read cache
/// (`arbor_storage::block::cache`); a block removed since the listing, or a sidecar that
/// cannot be decoded, is skipped (and logged).
pub async fn sidecars_for(
    store: &Store,
    tenant: &str,
    from_ns: u64,
    to_ns: u64,
) -> Result<Vec<Arc<Sidecar>>, String> {
    let wanted: Vec<_> = store
        .blocks(tenant)
        .into_iter()
        .filter(|b| {
            b.files
                .iter()
                .any(|f| f.name == arbor_derived::sidecar::FILE)
                && b.start_unix_nano.saturating_sub(3_600 * SECOND) < to_ns
                && b.end_unix_nano >= from_ns
        })
        .collect();
    // Kept in the block read cache, bounded in bytes with the rest of what blocks cache,
    // and forgotten with the block.
    futures::stream::iter(wanted)
        .map(|b| async move {
            let read = cache::get_or_load(&b.block_id, cache::Kind::DerivedSeries, async {
                let bytes = store
                    .read_block_file(tenant, &b.block_id, arbor_derived::sidecar::FILE)
                    .await
                    .map_err(|e| Unread::Gone(e.to_string()))?;
                let size = arbor_derived::sidecar::memory_estimate(&bytes);
                let sidecar =
                    tokio::task::spawn_blocking(move || arbor_derived::sidecar::decode(&bytes))
                        .await
                        .map_err(|e| Unread::Failed(e.to_string()))?
                        .map_err(Unread::Undecodable)?;
                Ok((sidecar, size))
            })
            .await;
            match read {
                Ok(s) => Ok(Some(s)),
                Err(Unread::Gone(e)) => {
                    // Compaction or retention may have removed it since the listing.
                    tracing::debug!(block = %b.block_id, error = %e, "reading derived series");
                    Ok(None)
                }
                Err(Unread::Undecodable(e)) => {
                    tracing::warn!(block = %b.block_id, error = %e, "a block's derived series cannot be read; answering without them");
                    Ok(None)
                }
                Err(Unread::Failed(e)) => Err(e),
            }
        })
        .buffered(READ_CONCURRENCY)
        .try_filter_map(|s| async move { Ok(s) })
        .try_collect()
        .await
}

/// Why a block's derived series were not read.
enum Unread {
    /// The file is not there (any more).
    Gone(String),
    /// It is there but cannot be decoded.
    Undecodable(String),
    /// The decoding task failed.
    Failed(String),
}

impl Request {
    /// Visits the buckets of the request's range: the sidecars', then the live ones.
    fn visit<'a>(&'a self, sidecars: &'a [Arc<Sidecar>]) -> impl FnOnce(&mut query::Visit) + 'a {
        move |f| {
            self.deriver.collect(
                &self.tenant,
                self.range.from_ns,
                self.range.to_ns,
                sidecars,
                f,
            )
        }
    }
}

/// The request, and the sidecars its range needs.
async fn read(
    state: &AppState,
    headers: &HeaderMap,
    params: &HashMap<String, String>,
) -> Result<(Request, Vec<Arc<Sidecar>>), Refusal> {
    let r = request(state, headers, params)?;
    let sc = sidecars(&r).await?;
    Ok((r, sc))
}

/// For a token narrowed to a scope, the views recomputed from the spans it may see (the
/// kept series mix every resource of the tenant); `None` for any other token.
async fn narrowed(
    state: &AppState,
    headers: &HeaderMap,
    params: &HashMap<String, String>,
    scope: &ReadScope,
) -> Option<Result<(Request, Deriver), Response>> {
    let scope = scope.0.as_ref()?;
    let r = match request(state, headers, params) {
        Ok(r) => r,
        Err(e) => return Some(Err(e.into_response())),
    };
    Some(
        recompute_within(state, &r, Some(scope))
            .await
            .map(|d| (r, d)),
    )
}

async fn services(
    State(state): State<Arc<AppState>>,
    scope: ReadScope,
    headers: HeaderMap,
    params: Params,
) -> Response {
    if let Some(n) = narrowed(&state, &headers, &params, &scope).await {
        return match n {
            Ok((r, d)) => Json(query::services(&r.range, &r.filter, |f| {
                d.collect(&r.tenant, r.range.from_ns, r.range.to_ns, &[], f)
            }))
            .into_response(),
            Err(e) => e,
        };
    }
    match read(&state, &headers, &params).await {
        Ok((r, sc)) => Json(query::services(&r.range, &r.filter, r.visit(&sc))).into_response(),
        Err(e) => e.into_response(),
    }
}

async fn serverless(
    State(state): State<Arc<AppState>>,
    scope: ReadScope,
    headers: HeaderMap,
    params: Params,
) -> Response {
    if let Some(n) = narrowed(&state, &headers, &params, &scope).await {
        return match n {
            Ok((r, d)) => {
                let price = r.deriver.config().gb_second_price;
                Json(query::serverless(&r.range, &r.filter, price, |f| {
                    d.collect(&r.tenant, r.range.from_ns, r.range.to_ns, &[], f)
                }))
                .into_response()
            }
            Err(e) => e,
        };
    }
    match read(&state, &headers, &params).await {
        Ok((r, sc)) => {
            let price = r.deriver.config().gb_second_price;
            Json(query::serverless(&r.range, &r.filter, price, r.visit(&sc))).into_response()
        }
        Err(e) => e.into_response(),
    }
}

async fn service_graph(
    State(state): State<Arc<AppState>>,
    scope: ReadScope,
    headers: HeaderMap,
    params: Params,
) -> Response {
    if let Some(n) = narrowed(&state, &headers, &params, &scope).await {
        return match n {
            Ok((r, d)) => Json(query::service_graph(&r.range, &r.filter, "spans", |f| {
                d.collect(&r.tenant, r.range.from_ns, r.range.to_ns, &[], f)
            }))
            .into_response(),
            Err(e) => e,
        };
    }
    match param(&params, "source").unwrap_or("series") {
        "series" => match read(&state, &headers, &params).await {
            Ok((r, sc)) => Json(query::service_graph(
                &r.range,
                &r.filter,
                "series",
                r.visit(&sc),
            ))
            .into_response(),
            Err(e) => e.into_response(),
        },
        "spans" => {
            let r = match request(&state, &headers, &params) {
                Ok(r) => r,
                Err(e) => return e.into_response(),
            };
            match recompute_within(&state, &r, None).await {
                Ok(d) => {
                    let answer = query::service_graph(&r.range, &r.filter, "spans", |f| {
                        d.collect(&r.tenant, r.range.from_ns, r.range.to_ns, &[], f)
                    });
                    Json(answer).into_response()
                }
                Err(e) => e,
            }
        }
        other => bad(format!(
            "invalid source {other:?}: expected \"series\" or \"spans\""
        ))
        .into_response(),
    }
}

/// [`recompute`] within `query.search_timeout`.
async fn recompute_within(
    state: &AppState,
    r: &Request,
    scope: Option<&Arc<Visibility>>,
) -> Result<Deriver, Response> {
    let timeout = state.config.query.search_timeout.0;
    match tokio::time::timeout(timeout, recompute(r, scope)).await {
        Ok(Ok(d)) => Ok(d),
        Ok(Err(e)) => Err(e.into_response()),
        Err(_) => Err(error(
            StatusCode::GATEWAY_TIMEOUT,
            format!(
                "recomputing the derived views from spans took longer than {} s (query.search_timeout); use a shorter range",
                timeout.as_secs()
            ),
        )),
    }
}

/// Halves of pairs one recomputation holds at most while reading.
const RECOMPUTE_MAX_PENDING: usize = 2_000_000;

/// Derives the views afresh from every stored span whose start is in the range (the
/// head, heads being cut, and the blocks whose time range meets it), pairing as the live
/// views do but with no wait: a half is paired with whatever part of the range holds the
/// other. With `scope`, only the spans it admits are read: a call with one half out of
/// scope is, to the views, a call whose other half never came.
async fn recompute(r: &Request, scope: Option<&Arc<Visibility>>) -> Result<Deriver, Refusal> {
    let d = Deriver::new(arbor_derived::Config {
        wait: Duration::from_secs(365 * 86_400),
        max_pending: RECOMPUTE_MAX_PENDING,
        ..r.deriver.config().clone()
    });
    let (from, to) = (r.range.from_ns, r.range.to_ns);
    let feed = |spans: Vec<arbor_storage::head::HeadSpan>| {
        let spans = match scope {
            Some(v) => v.restrict(spans).0,
            None => spans,
        };
        for s in &spans {
            if s.span.start_time_unix_nano < from || s.span.start_time_unix_nano >= to {
                continue;
            }
            let attrs = s
                .resource
                .resource
                .as_ref()
                .map(|r| r.attributes.as_slice())
                .unwrap_or_default();
            d.observe_in(&r.tenant, 1, attrs, &s.span, 0);
        }
    };
    let view = r.store.search_view(&r.tenant);
    for h in &view.heads {
        for shard in 0..h.shard_count() {
            for (_, spans) in h.shard_traces(shard) {
                feed(spans);
            }
            tokio::task::yield_now().await;
        }
    }
    for b in &view.blocks {
        if b.meta.start_unix_nano >= to || b.meta.end_unix_nano < from {
            continue;
        }
        let mut traces = Box::pin(b.traces());
        while let Some(t) = traces.next().await {
            let (_, spans) = t.map_err(|e| {
                Refusal(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    format!("reading block {}: {e}", b.meta.block_id),
                )
            })?;
            feed(spans);
        }
    }
    d.expire_all();
    Ok(d)
}
