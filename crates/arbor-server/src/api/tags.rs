//! Grafana Tempo's tag APIs, same paths, parameters and shapes, so the autocompletion of
//! Grafana's Tempo data source works unchanged:
//!
//! - `GET /api/search/tags?scope=&start=&end=&limit=`: `{"tagNames":[…],"metrics":{…}}`;
//!   without a scope (or `all`, `none`) span and resource names together;
//! - `GET /api/v2/search/tags?scope=&q=&start=&end=&limit=`:
//!   `{"scopes":[{"name":"span","tags":[…]},…],"metrics":{…}}`, every scope without one;
//! - `GET /api/search/tag/<tag>/values?q=&start=&end=&limit=`: `{"tagValues":["a",…]}`, the
//!   tag an unscoped attribute name (`name` is the span name, `status.code` the status);
//! - `GET /api/v2/search/tag/<tag>/values?q=&start=&end=&limit=`:
//!   `{"tagValues":[{"type":"string","value":"a"},…],"metrics":{…}}`, the tag a TraceQL
//!   identifier (`resource.service.name`, `.foo`, `name`, `status`).
//!
//! Answers come from metadata only (`arbor_query::tags`): each head's tag registry and each
//! block's attribute index. `start`/`end` (Unix seconds) skip blocks outside the range;
//! `limit` lowers `query.max_tag_values`; `query.max_bytes_per_tag_values_query` bounds the
//! bytes. A `q` that is not valid TraceQL is answered 400 (Tempo ignores it instead).

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use arbor_query::tags::{
    self, Cond, INTRINSIC_TAGS, Listing, ScopeNames, TagError, TagOptions, TagRef,
};
use arbor_query::traceql;
use arbor_storage::tags::TagScope;

use crate::auth::ReadScope;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use http::{HeaderMap, StatusCode};
use serde_json::{Value, json};

use super::error;
use super::params::{param, unix_time_ns};
use crate::state::AppState;
use crate::tenant;

pub fn router() -> Router<Arc<AppState>> {
    Router::new()
        .route("/api/search/tags", get(names_v1))
        .route("/api/v2/search/tags", get(names_v2))
        .route("/api/search/tag/{tag}/values", get(values_v1))
        .route("/api/v2/search/tag/{tag}/values", get(values_v2))
}

type Params = Query<HashMap<String, String>>;

/// What every tag request shares, read from its headers and parameters.
struct Request {
    view: arbor_storage::SearchView,
    opts: TagOptions,
    filter: Cond,
}

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

fn request(
    state: &AppState,
    headers: &HeaderMap,
    params: &HashMap<String, String>,
) -> Result<Request, Refusal> {
    let tenant = tenant::from_headers(headers).map_err(|e| bad(e.to_string()))?;
    let start = time(params, "start")?;
    // An `end` in whole seconds is inclusive to the end of its second.
    let end = time(params, "end")?.map(|e| {
        if e % 1_000_000_000 == 0 {
            e + 999_999_999
        } else {
            e
        }
    });
    let max = state.config.query.max_tag_values;
    let limit = match params
        .get("limit")
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
    {
        None => max,
        Some(s) => match s.parse::<usize>() {
            Ok(0) => max,
            Ok(n) => n.min(max),
            Err(_) => return Err(bad(format!("invalid limit {s:?}: expected an integer"))),
        },
    };
    let filter = match param(params, "q") {
        None => Cond::All,
        Some(q) => match traceql::parse_and_validate(q) {
            Ok(query) => Cond::of_query(&query),
            Err(e) => return Err(bad(format!("invalid TraceQL query: {e}"))),
        },
    };
    let Some(store) = state.store() else {
        return Err(Refusal(
            StatusCode::SERVICE_UNAVAILABLE,
            "not ready: replaying the write-ahead log".into(),
        ));
    };
    Ok(Request {
        view: store.search_view(&tenant),
        opts: TagOptions {
            start_unix_nano: start,
            end_unix_nano: end,
            limit,
            max_bytes: state.config.query.max_bytes_per_tag_values_query.as_usize(),
        },
        filter,
    })
}

/// Scopes named by `scope`; `None` means every scope.
fn scopes(params: &HashMap<String, String>) -> Result<Option<TagScope>, Refusal> {
    match params.get("scope").map(|s| s.trim()).unwrap_or("") {
        "" | "all" | "none" => Ok(None),
        s => TagScope::ALL
            .into_iter()
            .find(|x| x.as_str() == s)
            .map(Some)
            .ok_or_else(|| {
                bad(format!(
                    "unknown scope {s:?}: use span, resource, intrinsic, event, link, instrumentation or none"
                ))
            }),
    }
}

fn failed(e: TagError) -> Refusal {
    match e {
        TagError::BadTag { .. } => bad(e.to_string()),
        TagError::Block { .. } => {
            tracing::error!(error = %e, "listing tags failed");
            Refusal(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
        }
    }
}

/// Tempo's `metrics` object: 64-bit counts are strings, as protobuf JSON writes them.
fn metrics<T>(l: &Listing<T>) -> Value {
    json!({
        "inspectedBytes": l.inspected_bytes.to_string(),
        "totalBlocks": l.blocks,
    })
}

/// The data scopes (everything but `intrinsic`) to read for `scope`.
fn data_scopes(scope: Option<TagScope>, v1: bool) -> Vec<TagScope> {
    match scope {
        Some(TagScope::Intrinsic) => Vec::new(),
        Some(s) => vec![s],
        // v1 without a scope lists span and resource names only, as Tempo does.
        None if v1 => vec![TagScope::Span, TagScope::Resource],
        None => TagScope::ALL
            .into_iter()
            .filter(|s| *s != TagScope::Intrinsic)
            .collect(),
    }
}

async fn names(
    state: &AppState,
    (headers, narrowed): (&HeaderMap, &ReadScope),
    params: &HashMap<String, String>,
    v1: bool,
) -> Result<(Listing<Vec<ScopeNames>>, bool), Refusal> {
    let scope = scopes(params)?;
    let r = request(state, headers, params)?;
    let listing = match &narrowed.0 {
        // The metadata cannot tell which resource a name came from: read the spans.
        Some(v) => arbor_query::narrowed::tag_names(
            &r.view,
            &data_scopes(scope, v1),
            &r.opts,
            v,
            state.config.query.search_timeout.0,
        )
        .await
        .map_err(|e| Refusal(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?,
        None => tags::tag_names(&r.view, &data_scopes(scope, v1), &r.filter, &r.opts)
            .await
            .map_err(failed)?,
    };
    let intrinsic = matches!(scope, Some(TagScope::Intrinsic)) || (scope.is_none() && !v1);
    Ok((listing, intrinsic))
}

async fn names_v1(
    State(state): State<Arc<AppState>>,
    scope: ReadScope,
    headers: HeaderMap,
    Query(params): Params,
) -> Response {
    let (listing, intrinsic) = match names(&state, (&headers, &scope), &params, true).await {
        Ok(x) => x,
        Err(r) => return r.into_response(),
    };
    let mut all: BTreeSet<&str> = listing
        .items
        .iter()
        .flat_map(|s| s.names.iter().map(String::as_str))
        .collect();
    if intrinsic {
        all.extend(INTRINSIC_TAGS);
    }
    axum::Json(json!({ "tagNames": all, "metrics": metrics(&listing) })).into_response()
}

async fn names_v2(
    State(state): State<Arc<AppState>>,
    scope: ReadScope,
    headers: HeaderMap,
    Query(params): Params,
) -> Response {
    let (listing, intrinsic) = match names(&state, (&headers, &scope), &params, false).await {
        Ok(x) => x,
        Err(r) => return r.into_response(),
    };
    let mut scopes: Vec<Value> = listing
        .items
        .iter()
        .filter(|s| !s.names.is_empty())
        .filter_map(|s| Some(json!({ "name": s.scope?.as_str(), "tags": s.names })))
        .collect();
    if intrinsic {
        scopes.push(json!({ "name": "intrinsic", "tags": INTRINSIC_TAGS }));
    }
    axum::Json(json!({ "scopes": scopes, "metrics": metrics(&listing) })).into_response()
}

async fn values(
    state: &AppState,
    (headers, scope): (&HeaderMap, &ReadScope),
    params: &HashMap<String, String>,
    tag: TagRef,
) -> Result<Listing<Vec<tags::ListedValue>>, Refusal> {
    let r = request(state, headers, params)?;
    if let Some(scope) = &scope.0 {
        // The metadata cannot tell which resource a value came from: read the spans.
        return arbor_query::narrowed::tag_values(
            &r.view,
            &tag,
            &r.opts,
            scope,
            state.config.query.search_timeout.0,
        )
        .await
        .map_err(|e| Refusal(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()));
    }
    tags::tag_values(&r.view, &tag, &r.filter, &r.opts)
        .await
        .map_err(failed)
}

async fn values_v1(
    State(state): State<Arc<AppState>>,
    scope: ReadScope,
    headers: HeaderMap,
    Path(tag): Path<String>,
    Query(params): Params,
) -> Response {
    let listing = match values(
        &state,
        (&headers, &scope),
        &params,
        TagRef::parse_unscoped(&tag),
    )
    .await
    {
        Ok(l) => l,
        Err(r) => return r.into_response(),
    };
    // v1 lists text only: an integer 200 and a string "200" are one value.
    let texts: BTreeSet<&str> = listing.items.iter().map(|v| v.value.as_str()).collect();
    axum::Json(json!({ "tagValues": texts, "metrics": metrics(&listing) })).into_response()
}

async fn values_v2(
    State(state): State<Arc<AppState>>,
    scope: ReadScope,
    headers: HeaderMap,
    Path(tag): Path<String>,
    Query(params): Params,
) -> Response {
    let tag = match TagRef::parse_scoped(&tag) {
        Ok(t) => t,
        Err(e) => return failed(e).into_response(),
    };
    let listing = match values(&state, (&headers, &scope), &params, tag).await {
        Ok(l) => l,
        Err(r) => return r.into_response(),
    };
    let values: Vec<Value> = listing
        .items
        .iter()
        .map(|v| json!({ "type": v.kind, "value": v.value }))
        .collect();
    axum::Json(json!({ "tagValues": values, "metrics": metrics(&listing) })).into_response()
}
