//! Tag names and values for a token narrowed to a scope ([`crate::visibility`]), read from
//! the spans themselves.
//!
//! [`crate::tags`] answers from per-tenant metadata (head registries, block indexes), which
//! cannot tell which resource a value came from once a row group mixes resources: a
//! narrowed token would see values of spans it may not see. Here the spans in range are
//! scanned ([`crate::search::scan`]) with the token's scope applied where they are loaded,
//! and the distinct values of the tag are collected: exact, at the cost of reading the
//! tag's columns over the range. Names are collected from the spans read whole (every
//! attribute of every span in range: the cost of a full read of the range). The filter
//! (`q`) of the metadata path is not applied: an answer may keep values no matching span
//! holds, as that path's may.

use std::sync::Arc;
use std::time::{Duration, Instant};

use std::collections::BTreeSet;

use arbor_model::otlp::KeyValue;
use arbor_storage::SearchView;
use arbor_storage::head::HeadSpan;
use arbor_storage::tags::{TagScope, TagType, TagValue, float_text};
use futures::StreamExt;

use crate::search::batch::{FieldKey, Needs, SpanBatch};
use crate::search::value::V;
use crate::search::{self, SearchError, prune};
use crate::tags::{Collector, ListedValue, Listing, ScopeNames, TagOptions, TagRef, fixed_values};
use crate::traceql::{Intrinsic, Scope};
use crate::visibility::Visibility;

/// The fields holding a tag's values.
fn fields_of(tag: &TagRef) -> Vec<FieldKey> {
    match tag {
        TagRef::Attribute {
            scope: Scope::None,
            name,
        } => vec![
            FieldKey::attr(Scope::Span, name),
            FieldKey::attr(Scope::Resource, name),
        ],
        TagRef::Attribute { scope, name } => vec![FieldKey::attr(*scope, name)],
        TagRef::Intrinsic(Intrinsic::Name) => vec![FieldKey::intr(Intrinsic::Name)],
        TagRef::Intrinsic(_) => Vec::new(),
    }
}

fn typed(v: V<'_>) -> Option<TagValue> {
    Some(match v {
        V::Str(s) => TagValue::new(TagType::String, s),
        V::Int(i) => TagValue::new(TagType::Int, i.to_string()),
        V::Float(f) => TagValue::new(TagType::Float, float_text(f)),
        V::Bool(b) => TagValue::new(TagType::Bool, b.to_string()),
        _ => return None,
    })
}

/// The distinct values of `tag` over the spans `scope` admits that overlap the options'
/// range (heads: traces reaching into it; blocks: blocks overlapping it), sorted by value
/// then type, within the options' count and byte bounds.
pub async fn tag_values(
    view: &SearchView,
    tag: &TagRef,
    opts: &TagOptions,
    scope: &Arc<Visibility>,
    timeout: Duration,
) -> Result<Listing<Vec<ListedValue>>, SearchError> {
    if let TagRef::Intrinsic(i) = tag
        && let Some(fixed) = fixed_values(*i)
    {
        return Ok(Listing {
            items: fixed,
            ..Default::default()
        });
    }
    let fields = fields_of(tag);
    if fields.is_empty() {
        return Ok(Listing::default());
    }
    let mut needs = Needs::default();
    for f in &fields {
        needs.add(f.clone());
    }
    needs.restrict(Some(scope));
    let range = (
        opts.start_unix_nano.unwrap_or(0),
        opts.end_unix_nano.map_or(u64::MAX, |e| e.saturating_add(1)),
    );
    let mut c = Collector::<TagValue>::new(opts);
    let scanned = search::scan(
        view,
        &prune::Prune::All,
        &needs,
        range,
        (Instant::now(), timeout),
        |_, b: &SpanBatch| {
            for f in &fields {
                let Some(col) = b.col(f) else { continue };
                for row in 0..b.len {
                    for x in col.row(row) {
                        if c.full() {
                            return Ok(());
                        }
                        if let Some(v) = typed(col.v(*x)) {
                            let n = v.value.len();
                            c.add(v, n);
                        }
                    }
                }
            }
            Ok(())
        },
    )
    .await?;
    let (items, truncated) = c.into_listed();
    Ok(Listing {
        items,
        truncated,
        blocks: scanned.blocks as usize,
        inspected_bytes: scanned.bytes,
    })
}

/// The service names of the spans `scope` admits, sorted.
pub async fn service_names(
    view: &SearchView,
    scope: &Arc<Visibility>,
    timeout: Duration,
) -> Result<Vec<String>, SearchError> {
    let tag = TagRef::Attribute {
        scope: Scope::Resource,
        name: "service.name".into(),
    };
    let opts = TagOptions {
        limit: usize::MAX,
        max_bytes: usize::MAX,
        ..Default::default()
    };
    let listed = tag_values(view, &tag, &opts, scope, timeout).await?;
    Ok(listed
        .items
        .into_iter()
        .filter(|v| v.kind == TagType::String.as_str())
        .map(|v| v.value)
        .collect())
}

/// The attribute names of `scopes` (not `Intrinsic`, whose names are fixed) over the spans
/// `scope` admits in the options' range, each sorted, within the options' bounds per scope.
pub async fn tag_names(
    view: &SearchView,
    scopes: &[TagScope],
    opts: &TagOptions,
    scope: &Arc<Visibility>,
    timeout: Duration,
) -> Result<Listing<Vec<ScopeNames>>, SearchError> {
    let started = Instant::now();
    let scopes: Vec<TagScope> = scopes
        .iter()
        .copied()
        .filter(|s| *s != TagScope::Intrinsic)
        .collect();
    let mut names: Vec<Collector<String>> = scopes.iter().map(|_| Collector::new(opts)).collect();
    let from = opts.start_unix_nano.unwrap_or(0);
    let to = opts.end_unix_nano.unwrap_or(u64::MAX);
    let mut take = |spans: Vec<HeadSpan>| {
        let (spans, _) = scope.restrict(spans);
        for s in &spans {
            let (start, end) = (s.span.start_time_unix_nano, s.span.end_time_unix_nano);
            if end < from || start > to {
                continue;
            }
            for (i, sc) in scopes.iter().enumerate() {
                for kv in keys_of(s, *sc) {
                    if !names[i].full() && !names[i].items.contains(&kv.key) {
                        names[i].add(kv.key.clone(), kv.key.len());
                    }
                }
            }
        }
    };
    let head_range = (from, opts.end_unix_nano.unwrap_or(0));
    for h in &view.heads {
        for shard in 0..h.shard_count() {
            search::check_time(started, timeout)?;
            // Decoding is the work here: on the search pool, not an async worker.
            let head = h.clone();
            let traces = search::pool::run(move || {
                head.shard_traces_in(shard, head_range, |b| {
                    <arbor_model::otlp::Span as prost::Message>::decode(b).ok()
                })
            })
            .await?;
            for (_, spans) in traces {
                take(spans);
            }
        }
    }
    let mut blocks = 0;
    for b in &view.blocks {
        if b.meta.span_count == 0 || b.meta.end_unix_nano < from || b.meta.start_unix_nano > to {
            continue;
        }
        blocks += 1;
        let mut traces = Box::pin(b.traces());
        while let Some(t) = traces.next().await {
            search::check_time(started, timeout)?;
            let (_, spans) = t.map_err(search::storage)?;
            take(spans);
        }
    }
    let truncated = names.iter().any(|c| c.truncated);
    Ok(Listing {
        items: scopes
            .into_iter()
            .zip(names)
            .map(|(sc, c)| ScopeNames {
                scope: Some(sc),
                names: c
                    .items
                    .into_iter()
                    .collect::<BTreeSet<_>>()
                    .into_iter()
                    .collect(),
            })
            .collect(),
        truncated,
        blocks,
        inspected_bytes: 0,
    })
}

/// The attributes of a span in one tag scope.
fn keys_of(s: &HeadSpan, scope: TagScope) -> Box<dyn Iterator<Item = &KeyValue> + '_> {
    match scope {
        TagScope::Span => Box::new(s.span.attributes.iter()),
        TagScope::Resource => {
            Box::new(s.resource.resource.iter().flat_map(|r| r.attributes.iter()))
        }
        TagScope::Event => Box::new(s.span.events.iter().flat_map(|e| e.attributes.iter())),
        TagScope::Link => Box::new(s.span.links.iter().flat_map(|l| l.attributes.iter())),
        TagScope::Instrumentation => {
            Box::new(s.scope.scope.iter().flat_map(|x| x.attributes.iter()))
        }
        TagScope::Intrinsic => Box::new(std::iter::empty()),
    }
}
