//! Tag values for a token narrowed to a scope ([`crate::visibility`]), read from the spans
//! themselves.
//!
//! [`crate::tags`] answers from per-tenant metadata (head registries, block indexes), which
//! cannot tell which resource a value came from once a row group mixes resources: a
//! narrowed token would see values of spans it may not see. Here the spans in range are
//! scanned ([`crate::search::scan`]) with the token's scope applied where they are loaded,
//! and the distinct values of the tag are collected: exact, at the cost of reading the
//! tag's columns over the range. The filter (`q`) of the metadata path is not applied: an
//! answer may keep values no matching span holds, as that path's may.

use std::sync::Arc;
use std::time::{Duration, Instant};

use arbor_storage::SearchView;
use arbor_storage::tags::{TagType, TagValue, float_text};

use crate::search::batch::{FieldKey, Needs, SpanBatch};
use crate::search::value::V;
use crate::search::{self, SearchError, prune};
use crate::tags::{Collector, ListedValue, Listing, TagOptions, TagRef, fixed_values};
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
    Ok(Listing {
        items: c
            .items
            .into_iter()
            .map(|v| ListedValue {
                value: v.value,
                kind: v.kind.as_str(),
            })
            .collect(),
        truncated: c.truncated,
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
