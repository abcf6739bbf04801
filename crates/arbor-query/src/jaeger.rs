//! What the Jaeger and Zipkin query APIs ask: traces matching a service/operation/tags/
//! duration search, the services, the operations of a service, and the service
//! dependencies of a time window.
//!
//! # Finding traces
//!
//! A trace matches when **one span** satisfies every condition: its service
//! (`resource.service.name`), its name (the operation), its start time within
//! `[start, end]`, its duration within the bounds, and each tag `key = value` found on the
//! span, its resource, its instrumentation scope, one of its events or one of its links,
//! compared as text (an integer `123`, a float `72.5`, a boolean `true` match the strings
//! `"123"`, `"72.5"`, `"true"`; see [`arbor_model::jaeger::value_text`]). The keys Jaeger
//! shows for span fields match those fields: `span.kind`, `otel.status_code`,
//! `otel.status_description`, `error` (also an error status), `otel.scope.name`,
//! `otel.scope.version`, and `event` (an event's name).
//!
//! The search runs in two steps. The conditions become a TraceQL query whose answer is a
//! superset of the matches (each tag becomes "any of these scopes holds the text or the
//! number or boolean it reads as"), so the engine's index pruning and column scans do the
//! heavy work; then each candidate trace is read whole and checked against the exact rule
//! above. Candidates come most recent first; if the exact check drops some and the engine
//! had more to give, the engine is asked again for more.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use arbor_model::TraceId;
use arbor_model::jaeger::{kind_keyword, value_text};
use arbor_model::otlp::{AnyValue, KeyValue, Span, StatusCode};
use arbor_storage::{SearchView, Store};

use crate::search::batch::{FieldKey, Needs, SpanBatch};
use crate::search::value::V;
use crate::search::{self, SearchError, SearchRequest, prune};
use crate::trace_by_id::{TraceLookup, find_trace};
use crate::traceql::quote;
use crate::traceql::{self, Intrinsic, Kind, Scope, Status};
use crate::visibility::Visibility;

/// A trace search in Jaeger's terms.
#[derive(Debug, Clone)]
pub struct FindQuery {
    pub service: Option<String>,
    pub operation: Option<String>,
    /// Span kind (OTLP number) the matching span must have.
    pub span_kind: Option<i32>,
    pub tags: Vec<(String, String)>,
    /// Keys the span must carry (in any of the places a tag is looked for), or event names
    /// it must have (Zipkin's `annotationQuery` terms without a value).
    pub keys: Vec<String>,
    /// Bounds of the matching span's start (Unix ns, inclusive); `end_ns` 0 = none.
    pub start_ns: u64,
    pub end_ns: u64,
    pub min_duration_ns: Option<u64>,
    pub max_duration_ns: Option<u64>,
    pub limit: usize,
    pub timeout: Duration,
    /// Spans returned per trace at most (`query.max_trace_spans`).
    pub max_trace_spans: usize,
    /// Only spans this narrowed token may see take part ([`crate::visibility`]).
    pub scope: Option<Arc<Visibility>>,
}

/// The literals a tag's text may stand for: the string, and the integer, float or
/// boolean it reads as.
fn literals(v: &str) -> Vec<String> {
    let mut out = vec![quote(v)];
    if let Ok(i) = v.parse::<i64>() {
        out.push(i.to_string());
    } else if let Ok(f) = v.parse::<f64>()
        && f.is_finite()
        && v.chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '.' | '-' | '+' | 'e' | 'E'))
    {
        let t = format!("{f:?}");
        out.push(t);
    }
    if v == "true" || v == "false" {
        out.push(v.to_string());
    }
    out
}

fn kind_word(kind: i32) -> &'static str {
    kind_keyword(kind).unwrap_or("unspecified")
}

/// The TraceQL superset of a tag condition (see the module doc).
fn tag_condition(key: &str, value: &str) -> String {
    let mut alts: Vec<String> = Vec::new();
    for scope in ["span", "resource", "event", "link", "instrumentation"] {
        for lit in literals(value) {
            alts.push(format!("{scope}.{} = {lit}", quote(key)));
        }
    }
    match key {
        "span.kind" => {
            if let Some(k) = [
                "unspecified",
                "internal",
                "server",
                "client",
                "producer",
                "consumer",
            ]
            .into_iter()
            .find(|k| *k == value)
            {
                alts.push(format!("kind = {k}"));
            }
        }
        "otel.status_code" => match value {
            "OK" => alts.push("status = ok".into()),
            "ERROR" => alts.push("status = error".into()),
            _ => {}
        },
        "error" if value == "true" => alts.push("status = error".into()),
        "otel.status_description" => alts.push(format!("statusMessage = {}", quote(value))),
        "otel.scope.name" => alts.push(format!("instrumentation:name = {}", quote(value))),
        "otel.scope.version" => alts.push(format!("instrumentation:version = {}", quote(value))),
        "event" => alts.push(format!("event:name = {}", quote(value))),
        _ => {}
    }
    format!("({})", alts.join(" || "))
}

/// The TraceQL query whose matches include every trace the search matches.
pub fn to_traceql(q: &FindQuery) -> String {
    let mut conds: Vec<String> = Vec::new();
    if let Some(s) = &q.service {
        conds.push(format!("resource.service.name = {}", quote(s)));
    }
    if let Some(o) = &q.operation {
        conds.push(format!("name = {}", quote(o)));
    }
    if let Some(k) = q.span_kind {
        conds.push(format!("kind = {}", kind_word(k)));
    }
    if let Some(d) = q.min_duration_ns {
        conds.push(format!("duration >= {d}ns"));
    }
    if let Some(d) = q.max_duration_ns {
        conds.push(format!("duration <= {d}ns"));
    }
    for (k, v) in &q.tags {
        conds.push(tag_condition(k, v));
    }
    for k in &q.keys {
        let mut alts: Vec<String> = ["span", "resource", "event", "link", "instrumentation"]
            .iter()
            .map(|scope| format!("{scope}.{} != nil", quote(k)))
            .collect();
        alts.push(format!("event:name = {}", quote(k)));
        conds.push(format!("({})", alts.join(" || ")));
    }
    if conds.is_empty() {
        "{ }".into()
    } else {
        format!("{{ {} }}", conds.join(" && "))
    }
}

fn attr_text<'a>(attrs: &'a [KeyValue], key: &str) -> impl Iterator<Item = String> + 'a {
    let key = key.to_string();
    attrs
        .iter()
        .filter(move |kv| kv.key == key)
        .map(|kv| value_text(kv.value.as_ref().unwrap_or(&AnyValue::default())))
}

/// Whether a span (with its resource and scope) carries tag `key` with text `value`.
fn span_has_tag(
    span: &Span,
    resource: &[KeyValue],
    scope: Option<&arbor_model::otlp::InstrumentationScope>,
    key: &str,
    value: &str,
) -> bool {
    let eq = |t: String| t == value;
    if attr_text(&span.attributes, key).any(eq)
        || attr_text(resource, key).any(eq)
        || scope.is_some_and(|s| attr_text(&s.attributes, key).any(eq))
        || span
            .events
            .iter()
            .any(|e| attr_text(&e.attributes, key).any(eq))
        || span
            .links
            .iter()
            .any(|l| attr_text(&l.attributes, key).any(eq))
    {
        return true;
    }
    let code = span.status.as_ref().map_or(0, |s| s.code);
    match key {
        "span.kind" => kind_keyword(span.kind) == Some(value),
        "otel.status_code" => {
            (code == StatusCode::Ok as i32 && value == "OK")
                || (code == StatusCode::Error as i32 && value == "ERROR")
        }
        "error" => value == "true" && code == StatusCode::Error as i32,
        "otel.status_description" => span.status.as_ref().is_some_and(|s| s.message == value),
        "otel.scope.name" => scope.is_some_and(|s| s.name == value),
        "otel.scope.version" => scope.is_some_and(|s| s.version == value),
        "event" => span.events.iter().any(|e| e.name == value),
        _ => false,
    }
}

/// Whether a span (with its resource and scope) carries attribute `key` anywhere a tag is
/// looked for, or an event named `key`.
fn span_has_key(
    span: &Span,
    resource: &[KeyValue],
    scope: Option<&arbor_model::otlp::InstrumentationScope>,
    key: &str,
) -> bool {
    let has = |attrs: &[KeyValue]| attrs.iter().any(|kv| kv.key == key);
    has(&span.attributes)
        || has(resource)
        || scope.is_some_and(|s| has(&s.attributes))
        || span
            .events
            .iter()
            .any(|e| e.name == key || has(&e.attributes))
        || span.links.iter().any(|l| has(&l.attributes))
}

/// The exact rule: one span of the trace satisfies every condition.
pub fn trace_matches(trace: &TraceLookup, q: &FindQuery) -> bool {
    trace.resource_spans.iter().any(|rs| {
        let resource = rs
            .resource
            .as_ref()
            .map(|r| r.attributes.as_slice())
            .unwrap_or_default();
        if let Some(s) = &q.service
            && arbor_model::otlp::service_name(rs.resource.as_ref()) != Some(s.as_str())
        {
            return false;
        }
        rs.scope_spans.iter().any(|ss| {
            ss.spans.iter().any(|span| {
                let dur = span
                    .end_time_unix_nano
                    .saturating_sub(span.start_time_unix_nano);
                q.operation.as_ref().is_none_or(|o| span.name == *o)
                    && q.span_kind.is_none_or(|k| span.kind == k)
                    && span.start_time_unix_nano >= q.start_ns
                    && (q.end_ns == 0 || span.start_time_unix_nano <= q.end_ns)
                    && q.min_duration_ns.is_none_or(|d| dur >= d)
                    && q.max_duration_ns.is_none_or(|d| dur <= d)
                    && q.tags
                        .iter()
                        .all(|(k, v)| span_has_tag(span, resource, ss.scope.as_ref(), k, v))
                    && q.keys
                        .iter()
                        .all(|k| span_has_key(span, resource, ss.scope.as_ref(), k))
            })
        })
    })
}

/// Traces matching the search, whole, most recent first, at most `limit`.
pub async fn find_traces(
    store: &Store,
    tenant: &str,
    q: &FindQuery,
) -> Result<Vec<(TraceId, TraceLookup)>, SearchError> {
    let started = Instant::now();
    let query = traceql::parse(&to_traceql(q))
        .map_err(|e| SearchError::Invalid(format!("tag search: {e}")))?;
    let limit = q.limit.max(1);
    let mut ask = limit;
    loop {
        let mut req = SearchRequest::new(&query)?;
        req.start_ns = q.start_ns;
        req.end_ns = q.end_ns;
        req.limit = ask;
        req.spss = 1;
        req.timeout = q.timeout.saturating_sub(started.elapsed());
        req.scope = q.scope.clone();
        let found = search::search_store(store, tenant, &req).await?;
        let exhausted = found.traces.len() < ask;
        let mut out = Vec::new();
        for t in &found.traces {
            search::check_time(started, q.timeout)?;
            let Some(lookup) = find_trace(
                store,
                tenant,
                &t.trace_id,
                q.max_trace_spans,
                q.scope.as_deref(),
            )
            .await
            .map_err(search::storage)?
            else {
                continue;
            };
            if trace_matches(&lookup, q) {
                out.push((t.trace_id, lookup));
                if out.len() == limit {
                    return Ok(out);
                }
            }
        }
        if exhausted || ask >= limit.saturating_mul(16) {
            return Ok(out);
        }
        ask = ask.saturating_mul(4);
    }
}

/// Every service name, sorted; for a narrowed token, of the spans it may see (read from
/// the spans, see [`crate::narrowed`]).
pub async fn services(
    view: &SearchView,
    scope: Option<&Arc<Visibility>>,
    timeout: Duration,
) -> Result<Vec<String>, SearchError> {
    if let Some(scope) = scope {
        return crate::narrowed::service_names(view, scope, timeout).await;
    }
    let tag = crate::tags::TagRef::Attribute {
        scope: Scope::Resource,
        name: "service.name".into(),
    };
    let opts = crate::tags::TagOptions {
        limit: usize::MAX,
        max_bytes: usize::MAX,
        ..Default::default()
    };
    let listed = crate::tags::tag_values(view, &tag, &crate::tags::Cond::All, &opts)
        .await
        .map_err(search::storage)?;
    let set: BTreeSet<String> = listed
        .items
        .into_iter()
        .filter(|v| v.kind == arbor_storage::tags::TagType::String.as_str())
        .map(|v| v.value)
        .collect();
    Ok(set.into_iter().collect())
}

/// Runs `f` on every row of `service`'s spans. The blocks' index narrows the row groups read
/// to those holding the service.
async fn scan_service(
    view: &SearchView,
    service: &str,
    fields: &[FieldKey],
    (timeout, scope): (Duration, Option<&Arc<Visibility>>),
    mut f: impl FnMut(&SpanBatch, usize),
) -> Result<(), SearchError> {
    let started = Instant::now();
    let query = traceql::parse(&format!("{{ resource.service.name = {} }}", quote(service)))
        .map_err(|e| SearchError::Invalid(e.to_string()))?;
    let traceql::QueryKind::Search(p) = &query.kind else {
        unreachable!("a spanset filter is a search");
    };
    let svc_k = FieldKey::attr(Scope::Resource, "service.name");
    let mut needs = Needs::default();
    needs.add(svc_k.clone());
    for k in fields {
        needs.add(k.clone());
    }
    needs.restrict(scope);
    search::scan(
        view,
        &prune::pipeline(p),
        &needs,
        (0, u64::MAX),
        (started, timeout),
        |_, b: &SpanBatch| {
            let Some(svcs) = b.col(&svc_k) else {
                return Ok(());
            };
            for row in 0..b.len {
                if svcs.first(row) == V::Str(service) {
                    f(b, row);
                }
            }
            Ok(())
        },
    )
    .await?;
    Ok(())
}

/// The distinct (span name, kind) of a service's spans, sorted; with `kind`, of that kind
/// only. Each head answers from its tag registry and each block from the `operation` scope
/// of its index; the heads and blocks that cannot tell (a service with more operations than
/// the limits, a block written before the scope existed) are scanned: the name, kind and
/// service columns of the row groups holding the service. For a narrowed token every part
/// is scanned, with its scope (the registries and indexes do not know resources).
pub async fn operations(
    view: &SearchView,
    service: &str,
    kind: Option<i32>,
    (timeout, scope): (Duration, Option<&Arc<Visibility>>),
) -> Result<Vec<(String, i32)>, SearchError> {
    let mut ops: BTreeSet<(String, i32)> = BTreeSet::new();
    let mut unknown = SearchView::default();
    if scope.is_some() {
        unknown = view.clone();
    }
    for head in view.heads.iter().filter(|_| scope.is_none()) {
        match head.tags().operations(service) {
            Some(list) => ops.extend(list.into_iter().map(|(k, n)| (n, k))),
            None => unknown.heads.push(head.clone()),
        }
    }
    for block in view.blocks.iter().filter(|_| scope.is_none()) {
        let index = block.index().await.map_err(search::storage)?;
        match index.operations(service) {
            Some(list) => ops.extend(list.into_iter().map(|(k, n)| (n.to_string(), k))),
            None => unknown.blocks.push(block.clone()),
        }
    }
    if !unknown.heads.is_empty() || !unknown.blocks.is_empty() {
        let name_k = FieldKey::intr(Intrinsic::Name);
        let kind_k = FieldKey::intr(Intrinsic::Kind);
        let fields = [name_k.clone(), kind_k.clone()];
        scan_service(&unknown, service, &fields, (timeout, scope), |b, row| {
            let k = match b.col(&kind_k).map(|c| c.first(row)) {
                Some(V::Kind(k)) => k as i32,
                _ => 0,
            };
            if let Some(V::Str(n)) = b.col(&name_k).map(|c| c.first(row))
                && !ops.contains(&(n.to_string(), k))
            {
                ops.insert((n.to_string(), k));
            }
        })
        .await?;
    }
    Ok(ops
        .into_iter()
        .filter(|(_, k)| kind.is_none_or(|want| want == *k))
        .collect())
}

/// The distinct `peer.service` values of a service's spans (Zipkin's remote services),
/// sorted.
pub async fn remote_services(
    view: &SearchView,
    service: &str,
    (timeout, scope): (Duration, Option<&Arc<Visibility>>),
) -> Result<Vec<String>, SearchError> {
    let peer_k = FieldKey::attr(Scope::Span, "peer.service");
    let mut out: BTreeSet<String> = BTreeSet::new();
    scan_service(
        view,
        service,
        std::slice::from_ref(&peer_k),
        (timeout, scope),
        |b, row| {
            if let Some(V::Str(p)) = b.col(&peer_k).map(|c| c.first(row))
                && !p.is_empty()
                && !out.contains(p)
            {
                out.insert(p.to_string());
            }
        },
    )
    .await?;
    Ok(out.into_iter().collect())
}

/// Calls from one service to another in a window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dependency {
    pub parent: String,
    pub child: String,
    pub calls: u64,
    /// Calls where the client or the server span has an error status.
    pub errors: u64,
}

/// Most spans remembered across trace parts (client spans waiting for a server child in
/// another part, and the reverse) while computing dependencies.
pub const MAX_PENDING_SPANS: usize = 2_000_000;

/// One side of a call, waiting for the other.
#[derive(Clone, Copy)]
struct Side {
    service: u32,
    error: bool,
}

/// Service-to-service calls among spans starting in `[from, to)`: a server (or consumer)
/// span whose parent is a client (or producer) span of another service, or which shares
/// its span ID with such a client span (Zipkin's shared spans); and, for spans without a
/// kind (older Zipkin instrumentation), a span whose parent, also without a kind, is of
/// another service. Parents are found in any part of the trace; counted per (parent,
/// child) pair, sorted.
pub async fn dependencies(
    view: &SearchView,
    (from, to): (u64, u64),
    (timeout, scope): (Duration, Option<&Arc<Visibility>>),
) -> Result<Vec<Dependency>, SearchError> {
    let started = Instant::now();
    let kind_k = FieldKey::intr(Intrinsic::Kind);
    let status_k = FieldKey::intr(Intrinsic::Status);
    let svc_k = FieldKey::attr(Scope::Resource, "service.name");
    let mut needs = Needs::default();
    needs.add(kind_k.clone());
    needs.add(status_k.clone());
    needs.add(svc_k.clone());
    needs.ids = true;
    needs.starts = true;
    needs.restrict(scope);

    let mut names: Vec<String> = Vec::new();
    let mut name_ids: HashMap<String, u32> = HashMap::new();
    let mut edges: HashMap<(u32, u32), (u64, u64)> = HashMap::new();
    // Callers (client, producer, or kind-less spans) by (trace, span ID), and callees whose
    // caller was not in their part, by (trace, parent span ID).
    let mut callers: HashMap<(TraceId, u64), (Side, bool)> = HashMap::new();
    let mut waiting: Vec<(TraceId, u64, Side, bool)> = Vec::new();
    let count = |edges: &mut HashMap<(u32, u32), (u64, u64)>, p: Side, c: Side| {
        if p.service != c.service {
            let e = edges.entry((p.service, c.service)).or_default();
            e.0 += 1;
            e.1 += u64::from(p.error || c.error);
        }
    };
    search::scan(
        view,
        &prune::Prune::All,
        &needs,
        (from, to),
        (started, timeout),
        |_, b: &SpanBatch| {
            let (Some(kinds), Some(statuses), Some(svcs)) =
                (b.col(&kind_k), b.col(&status_k), b.col(&svc_k))
            else {
                return Ok(());
            };
            for part in &b.traces {
                let rows = part.rows.start as usize..part.rows.end as usize;
                let mut side_of = |row: usize| {
                    let name = match svcs.first(row) {
                        V::Str(s) => s,
                        _ => "",
                    };
                    let service = match name_ids.get(name) {
                        Some(&i) => i,
                        None => {
                            let i = names.len() as u32;
                            names.push(name.to_string());
                            name_ids.insert(name.to_string(), i);
                            i
                        }
                    };
                    Side {
                        service,
                        error: statuses.first(row) == V::Status(Status::Error),
                    }
                };
                let kind_of = |row: usize| match kinds.first(row) {
                    V::Kind(k) => k,
                    _ => Kind::Unspecified,
                };
                // Callers of this part: span ID → (side, kind-less).
                let mut local: HashMap<u64, (Side, bool)> = HashMap::new();
                for row in rows.clone() {
                    let k = kind_of(row);
                    if matches!(k, Kind::Client | Kind::Producer | Kind::Unspecified) {
                        let entry = (side_of(row), k == Kind::Unspecified);
                        local.insert(b.span_ids[row], entry);
                        if callers.len() < MAX_PENDING_SPANS {
                            callers.insert((part.id, b.span_ids[row]), entry);
                        }
                    }
                }
                for row in rows {
                    let start = b.starts[row];
                    if start < from || start >= to {
                        continue;
                    }
                    let k = kind_of(row);
                    let kindless = k == Kind::Unspecified;
                    if !matches!(k, Kind::Server | Kind::Consumer) && !kindless {
                        continue;
                    }
                    let me = side_of(row);
                    // A shared span: the client half has this span's ID.
                    if k == Kind::Server
                        && let Some((p, false)) = local.get(&b.span_ids[row])
                    {
                        count(&mut edges, *p, me);
                        continue;
                    }
                    let parent = b.parents[row];
                    if parent == 0 {
                        continue;
                    }
                    match local.get(&parent) {
                        Some(&(p, p_kindless)) if p_kindless == kindless => {
                            count(&mut edges, p, me);
                        }
                        Some(_) => {}
                        None if waiting.len() < MAX_PENDING_SPANS => {
                            waiting.push((part.id, parent, me, kindless));
                        }
                        None => {}
                    }
                }
            }
            Ok(())
        },
    )
    .await?;
    for (trace, parent, me, kindless) in waiting {
        if let Some(&(p, p_kindless)) = callers.get(&(trace, parent))
            && p_kindless == kindless
        {
            count(&mut edges, p, me);
        }
    }
    let mut out: Vec<Dependency> = edges
        .into_iter()
        .map(|((p, c), (calls, errors))| Dependency {
            parent: names[p as usize].clone(),
            child: names[c as usize].clone(),
            calls,
            errors,
        })
        .collect();
    out.sort_by(|a, b| (&a.parent, &a.child).cmp(&(&b.parent, &b.child)));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q() -> FindQuery {
        FindQuery {
            service: Some("svc \"x\"".into()),
            operation: Some("GET /".into()),
            span_kind: None,
            tags: vec![
                ("http.status_code".into(), "200".into()),
                ("f".into(), "72.5".into()),
            ],
            keys: vec!["error".into()],
            start_ns: 0,
            end_ns: 0,
            min_duration_ns: Some(1_000),
            max_duration_ns: None,
            limit: 20,
            timeout: Duration::from_secs(5),
            max_trace_spans: 1000,
            scope: None,
        }
    }

    #[test]
    fn the_superset_query_parses() {
        let text = to_traceql(&q());
        traceql::parse(&text).unwrap_or_else(|e| panic!("{text}: {e}"));
        assert!(text.contains("span.\"http.status_code\" = 200"), "{text}");
        assert!(text.contains("resource.\"f\" = 72.5"), "{text}");
    }
}
