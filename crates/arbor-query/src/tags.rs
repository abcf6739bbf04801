//! Tag names and values for autocompletion (Grafana Tempo's `/api/search/tags`,
//! `/api/v2/search/tags`, `/api/search/tag/<tag>/values`, `/api/v2/search/tag/<tag>/values`),
//! answered from metadata only: each head's tag registry ([`arbor_storage::tags`]) and each
//! block's attribute index (`index.parquet`, cached per block). No span is decoded and no
//! span column is read.
//!
//! # Narrowing values with a filter
//!
//! A filter (`q`) narrows values where that is cheap and never drops a value a matching span
//! holds; it may keep values that no matching span holds (a superset, as Tempo's unnarrowed
//! answer is):
//! - Only a query that is one spanset filter `{ … }` narrows. Inside it, conditions
//!   `attribute = literal` and `name = "…"` (literal: string, integer, float or boolean;
//!   either side) joined by `&&` and `||` are used; any other condition counts as "true"
//!   (`&&` ignores it, `||` with it matches everything), so the answer only widens.
//! - In a block, a condition selects the row groups the index lists for it (a key the index
//!   does not hold values for selects every row group); a value is kept when one of its row
//!   groups is selected.
//! - In a head, a condition on a resource attribute selects the resources having it (exact);
//!   a condition on a span, event, link or scope attribute or the span name selects the
//!   resources that carried that value (every resource once a value was carried by more than
//!   [`arbor_storage::tags::MAX_RESOURCES_PER_VALUE`]). A value is kept when one of the
//!   selected resources carried it; a resource attribute's values are read from the selected
//!   resources.
//!
//! # What is not listed
//!
//! - Values of a key a block does not index (more than `index_max_values_per_key` distinct
//!   values, or a value over 256 bytes): the block contributes none, and heads and other
//!   blocks the values they hold. Likewise past a head registry's limits.
//! - Values of arrays, maps and bytes; keys holding only such values.
//! - Intrinsic values other than the span name and the fixed keyword lists of `status` and
//!   `kind` (durations, trace root names and services, IDs are not listed, as in Tempo).

use std::collections::BTreeSet;

use arbor_storage::SearchView;
use arbor_storage::block::{AttributeIndex, BlockError, IndexAnswer, IndexScope, TypedIndexScope};
use arbor_storage::head::TenantHead;
use arbor_storage::tags::{TagRegistry, TagScope, TagType, TagValue, ValueAnswer, float_text};

use crate::traceql::{
    self, BinaryOp, FieldExpr, FieldKind, Intrinsic, Query, QueryKind, Scope, SpansetExpr, Stage,
    Static, UnaryOp,
};

/// The intrinsics Tempo lists under the `intrinsic` scope of `/api/v2/search/tags`, sorted.
pub const INTRINSIC_TAGS: &[&str] = &[
    "duration",
    "event:name",
    "event:timeSinceStart",
    "instrumentation:name",
    "instrumentation:version",
    "kind",
    "link:spanID",
    "link:traceID",
    "name",
    "rootName",
    "rootServiceName",
    "span:duration",
    "span:id",
    "span:kind",
    "span:name",
    "span:parentID",
    "span:status",
    "span:statusMessage",
    "status",
    "statusMessage",
    "trace:duration",
    "trace:id",
    "trace:rootName",
    "trace:rootService",
    "traceDuration",
];

/// Tempo's type of the fixed values of `status` and `kind`.
pub const KEYWORD: &str = "keyword";

/// Bounds and time range of one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TagOptions {
    /// Only blocks whose span time range overlaps `[start, end]` (nanoseconds) are read;
    /// heads are always read.
    pub start_unix_nano: Option<u64>,
    pub end_unix_nano: Option<u64>,
    /// Most names (per scope) or values returned.
    pub limit: usize,
    /// Most bytes of names or values returned (Tempo's `max_bytes_per_tag_values_query`).
    pub max_bytes: usize,
}

impl Default for TagOptions {
    fn default() -> Self {
        Self {
            start_unix_nano: None,
            end_unix_nano: None,
            limit: 1_000,
            max_bytes: 5_000_000,
        }
    }
}

/// Why tags could not be listed.
#[derive(Debug, thiserror::Error)]
pub enum TagError {
    /// The tag named is not an attribute or intrinsic (a user error).
    #[error("invalid tag {tag:?}: {reason}")]
    BadTag { tag: String, reason: String },
    #[error("reading block {block}: {source}")]
    Block {
        block: String,
        #[source]
        source: BlockError,
    },
}

/// What a value listing is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TagRef {
    /// An attribute: `span.x`, `resource.x`, `.x` (span and resource), `event.x`, …
    Attribute {
        scope: Scope,
        name: String,
    },
    Intrinsic(Intrinsic),
}

impl TagRef {
    /// Reads a TraceQL identifier: `resource.service.name`, `.foo`, `span."a b"`, `name`,
    /// `span:status`.
    pub fn parse_scoped(tag: &str) -> Result<Self, TagError> {
        let bad = |reason: String| TagError::BadTag {
            tag: tag.to_string(),
            reason,
        };
        if tag.trim().is_empty() {
            return Err(bad("empty".into()));
        }
        // An identifier is what may stand before `!= nil` in a filter.
        let q = traceql::parse(&format!("{{ {tag} != nil }}")).map_err(|e| bad(e.to_string()))?;
        let expr = match &q.kind {
            QueryKind::Search(p) => match p.stages.as_slice() {
                [Stage::Spanset(SpansetExpr::Filter(f))] => f.expr.as_ref(),
                _ => None,
            },
            QueryKind::Metrics(_) => None,
        };
        let Some(FieldExpr {
            kind:
                FieldKind::Unary {
                    op: UnaryOp::Exists,
                    expr,
                },
            ..
        }) = expr
        else {
            return Err(bad("not an attribute or intrinsic".into()));
        };
        match &expr.kind {
            FieldKind::Attribute(a) if !a.parent => Ok(Self::Attribute {
                scope: a.scope,
                name: a.name.clone(),
            }),
            FieldKind::Intrinsic(i) => Ok(Self::Intrinsic(*i)),
            _ => Err(bad("not an attribute or intrinsic".into())),
        }
    }

    /// Reads a v1 tag name: an unscoped attribute, but `name` is the span name and
    /// `status.code` the span status, as in Tempo.
    pub fn parse_unscoped(tag: &str) -> Self {
        match tag {
            "name" => Self::Intrinsic(Intrinsic::Name),
            "status.code" => Self::Intrinsic(Intrinsic::Status),
            _ => Self::Attribute {
                scope: Scope::None,
                name: tag.to_string(),
            },
        }
    }
}

/// Names of one scope.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScopeNames {
    pub scope: Option<TagScope>,
    pub names: Vec<String>,
}

/// A listing with what it cost.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Listing<T> {
    pub items: T,
    /// The limit (count or bytes) cut the listing short.
    pub truncated: bool,
    /// Blocks whose index was read.
    pub blocks: usize,
    /// Bytes of the index files read (or held in cache).
    pub inspected_bytes: u64,
}

/// A listed value: typed, or one of the keyword values of `status` and `kind`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ListedValue {
    pub value: String,
    pub kind: &'static str,
}

/// The fixed values of an intrinsic, as Tempo lists them; `None` for intrinsics whose
/// values come from the data (only `name`).
pub(crate) fn fixed_values(i: Intrinsic) -> Option<Vec<ListedValue>> {
    let kw = |v: &[&str]| {
        v.iter()
            .map(|v| ListedValue {
                value: v.to_string(),
                kind: KEYWORD,
            })
            .collect()
    };
    match i {
        Intrinsic::Name => None,
        Intrinsic::Status => Some(kw(&["error", "ok", "unset"])),
        Intrinsic::Kind => Some(kw(&[
            "client",
            "consumer",
            "internal",
            "producer",
            "server",
            "unspecified",
        ])),
        _ => Some(Vec::new()),
    }
}

/// The scopes of the data a value listing reads.
fn data_scopes(tag: &TagRef) -> Vec<TagScope> {
    match tag {
        TagRef::Attribute { scope, .. } => match scope {
            Scope::None => vec![TagScope::Span, TagScope::Resource],
            Scope::Span => vec![TagScope::Span],
            Scope::Resource => vec![TagScope::Resource],
            Scope::Event => vec![TagScope::Event],
            Scope::Link => vec![TagScope::Link],
            Scope::Instrumentation => vec![TagScope::Instrumentation],
        },
        TagRef::Intrinsic(Intrinsic::Name) => vec![TagScope::Intrinsic],
        TagRef::Intrinsic(_) => Vec::new(),
    }
}

// ---------------------------------------------------------------------------------------
// Filters

/// The part of a filter used to narrow: equalities joined by `&&` and `||`.
#[derive(Debug, Clone, PartialEq)]
pub enum Cond {
    /// Matches everything (also: a condition that is not used).
    All,
    Eq {
        scopes: Vec<TagScope>,
        key: String,
        /// The literal and the other values equal to it (an integer equals the same float).
        values: Vec<TagValue>,
    },
    And(Box<Cond>, Box<Cond>),
    Or(Box<Cond>, Box<Cond>),
}

impl Cond {
    /// The narrowing part of a query; [`Cond::All`] when it has none.
    pub fn of_query(q: &Query) -> Cond {
        let QueryKind::Search(p) = &q.kind else {
            return Cond::All;
        };
        match p.stages.as_slice() {
            [Stage::Spanset(SpansetExpr::Filter(f))] => f.expr.as_ref().map_or(Cond::All, of_expr),
            _ => Cond::All,
        }
    }
}

fn of_expr(e: &FieldExpr) -> Cond {
    let FieldKind::Binary { op, lhs, rhs } = &e.kind else {
        return Cond::All;
    };
    match op {
        BinaryOp::And => match (of_expr(lhs), of_expr(rhs)) {
            (Cond::All, c) | (c, Cond::All) => c,
            (a, b) => Cond::And(Box::new(a), Box::new(b)),
        },
        BinaryOp::Or => match (of_expr(lhs), of_expr(rhs)) {
            (Cond::All, _) | (_, Cond::All) => Cond::All,
            (a, b) => Cond::Or(Box::new(a), Box::new(b)),
        },
        BinaryOp::Eq => equality(lhs, rhs)
            .or_else(|| equality(rhs, lhs))
            .unwrap_or(Cond::All),
        _ => Cond::All,
    }
}

fn equality(field: &FieldExpr, lit: &FieldExpr) -> Option<Cond> {
    let FieldKind::Static(s) = &lit.kind else {
        return None;
    };
    let value = match s {
        Static::String(s) => TagValue::new(TagType::String, s.as_str()),
        Static::Int(i) => TagValue::new(TagType::Int, i.to_string()),
        Static::Float(f) => TagValue::new(TagType::Float, float_text(*f)),
        Static::Bool(b) => TagValue::new(TagType::Bool, b.to_string()),
        _ => return None,
    };
    let (scopes, key) = match &field.kind {
        FieldKind::Attribute(a) if !a.parent => (
            data_scopes(&TagRef::Attribute {
                scope: a.scope,
                name: a.name.clone(),
            }),
            a.name.clone(),
        ),
        FieldKind::Intrinsic(Intrinsic::Name) if value.kind == TagType::String => {
            (vec![TagScope::Intrinsic], "name".to_string())
        }
        _ => return None,
    };
    Some(Cond::Eq {
        scopes,
        key,
        values: equal_forms(value),
    })
}

/// The value and the values of other types equal to it under TraceQL's comparison.
fn equal_forms(v: TagValue) -> Vec<TagValue> {
    let other = match v.kind {
        TagType::Int => v
            .value
            .parse::<i64>()
            .ok()
            .map(|i| TagValue::new(TagType::Float, float_text(i as f64))),
        TagType::Float => v
            .value
            .parse::<f64>()
            .ok()
            .filter(|f| f.fract() == 0.0 && f.abs() < 9.0e15)
            .map(|f| TagValue::new(TagType::Int, (f as i64).to_string())),
        _ => None,
    };
    std::iter::once(v).chain(other).collect()
}

/// A selection of row groups (in a block) or resources (in a head).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Sel {
    All,
    Some(BTreeSet<u32>),
}

impl Sel {
    fn none() -> Self {
        Sel::Some(BTreeSet::new())
    }

    fn and(self, o: Sel) -> Sel {
        match (self, o) {
            (Sel::All, x) | (x, Sel::All) => x,
            (Sel::Some(a), Sel::Some(b)) => Sel::Some(a.intersection(&b).copied().collect()),
        }
    }

    fn or(self, o: Sel) -> Sel {
        match (self, o) {
            (Sel::All, _) | (_, Sel::All) => Sel::All,
            (Sel::Some(mut a), Sel::Some(b)) => {
                a.extend(b);
                Sel::Some(a)
            }
        }
    }

    fn is_empty(&self) -> bool {
        matches!(self, Sel::Some(s) if s.is_empty())
    }

    fn admits_any(&self, items: impl IntoIterator<Item = usize>) -> bool {
        match self {
            Sel::All => true,
            Sel::Some(s) => items.into_iter().any(|i| s.contains(&(i as u32))),
        }
    }

    fn as_vec(&self) -> Option<Vec<u32>> {
        match self {
            Sel::All => None,
            Sel::Some(s) => Some(s.iter().copied().collect()),
        }
    }
}

fn select(c: &Cond, eq: &impl Fn(TagScope, &str, &TagValue) -> Sel) -> Sel {
    match c {
        Cond::All => Sel::All,
        Cond::And(a, b) => {
            let a = select(a, eq);
            if a.is_empty() {
                return a;
            }
            a.and(select(b, eq))
        }
        Cond::Or(a, b) => select(a, eq).or(select(b, eq)),
        Cond::Eq {
            scopes,
            key,
            values,
        } => scopes
            .iter()
            .flat_map(|s| values.iter().map(move |v| (*s, v)))
            .fold(Sel::none(), |acc, (s, v)| acc.or(eq(s, key, v))),
    }
}

fn block_eq(index: &AttributeIndex) -> impl Fn(TagScope, &str, &TagValue) -> Sel + '_ {
    move |scope, key, v| {
        let string = v.kind == TagType::String;
        let answer = match (scope, string) {
            (TagScope::Span, true) => index.lookup(IndexScope::Span, key, &v.value),
            (TagScope::Resource, true) => index.lookup(IndexScope::Resource, key, &v.value),
            (TagScope::Intrinsic, true) => index.lookup(IndexScope::Intrinsic, key, &v.value),
            (TagScope::Intrinsic, false) => IndexAnswer::Absent,
            (s, _) => index.typed_lookup(typed_scope(s), key, v),
        };
        match answer {
            IndexAnswer::Absent => Sel::none(),
            IndexAnswer::InRowGroups(rgs) => Sel::Some(rgs.into_iter().map(|r| r as u32).collect()),
            IndexAnswer::NotIndexed => Sel::All,
        }
    }
}

/// The typed index scope holding values of `scope` (strings of span and resource
/// attributes live in the string scopes instead).
fn typed_scope(scope: TagScope) -> TypedIndexScope {
    match scope {
        TagScope::Span | TagScope::Intrinsic => TypedIndexScope::Span,
        TagScope::Resource => TypedIndexScope::Resource,
        TagScope::Event => TypedIndexScope::Event,
        TagScope::Link => TypedIndexScope::Link,
        TagScope::Instrumentation => TypedIndexScope::Instrumentation,
    }
}

fn head_eq(reg: &TagRegistry) -> impl Fn(TagScope, &str, &TagValue) -> Sel + '_ {
    move |scope, key, v| {
        if scope == TagScope::Resource {
            return Sel::Some(reg.resources_with(key, v).into_iter().collect());
        }
        match reg.lookup(scope, key, v) {
            ValueAnswer::Absent => Sel::none(),
            ValueAnswer::Unknown => Sel::All,
            ValueAnswer::Carried(arbor_storage::tags::Carriers::Many) => Sel::All,
            ValueAnswer::Carried(arbor_storage::tags::Carriers::Few(r)) => {
                Sel::Some(r.into_iter().collect())
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// Gathering

/// Collects distinct items up to a count and a byte bound.
pub(crate) struct Collector<T: Ord> {
    pub(crate) items: BTreeSet<T>,
    bytes: usize,
    limit: usize,
    max_bytes: usize,
    pub(crate) truncated: bool,
}

impl<T: Ord> Collector<T> {
    pub(crate) fn new(opts: &TagOptions) -> Self {
        Self {
            items: BTreeSet::new(),
            bytes: 0,
            limit: opts.limit.max(1),
            max_bytes: opts.max_bytes.max(1),
            truncated: false,
        }
    }

    pub(crate) fn full(&self) -> bool {
        self.truncated
    }

    pub(crate) fn add(&mut self, item: T, bytes: usize) {
        if self.truncated || self.items.contains(&item) {
            return;
        }
        if self.items.len() >= self.limit || self.bytes + bytes > self.max_bytes {
            self.truncated = true;
            return;
        }
        self.bytes += bytes;
        self.items.insert(item);
    }
}

fn in_range(meta: &arbor_storage::block::meta::BlockMeta, opts: &TagOptions) -> bool {
    if meta.span_count == 0 {
        return false;
    }
    opts.start_unix_nano.is_none_or(|s| meta.end_unix_nano >= s)
        && opts.end_unix_nano.is_none_or(|e| meta.start_unix_nano <= e)
}

fn index_bytes(meta: &arbor_storage::block::meta::BlockMeta) -> u64 {
    meta.files
        .iter()
        .find(|f| f.name == arbor_storage::block::schema::INDEX_FILE)
        .map_or(0, |f| f.bytes)
}

/// The blocks of the view in the time range, with their indexes. A block deleted since the
/// view was taken (compaction, retention) is skipped.
async fn block_indexes(
    view: &SearchView,
    opts: &TagOptions,
) -> Result<(Vec<AttributeIndex>, u64), TagError> {
    let mut out = Vec::new();
    let mut bytes = 0;
    for b in view.blocks.iter().filter(|b| in_range(&b.meta, opts)) {
        match b.index().await {
            Ok(ix) => {
                bytes += index_bytes(&b.meta);
                out.push(ix);
            }
            // Deleted since the view was taken: its spans are in the block that replaced it
            // or past retention.
            Err(e) if e.is_not_found() => {}
            Err(source) => {
                return Err(TagError::Block {
                    block: b.meta.block_id.clone(),
                    source,
                });
            }
        }
    }
    Ok((out, bytes))
}

/// Tag names of the given scopes (not `Intrinsic`: its names are [`INTRINSIC_TAGS`]), each
/// sorted, over the heads and the blocks in range. With a filter, only names that some
/// selected row group or resource carries (see the module doc).
pub async fn tag_names(
    view: &SearchView,
    scopes: &[TagScope],
    filter: &Cond,
    opts: &TagOptions,
) -> Result<Listing<Vec<ScopeNames>>, TagError> {
    let (indexes, inspected_bytes) = block_indexes(view, opts).await?;
    let mut out = Vec::new();
    let mut truncated = false;
    for &scope in scopes.iter().filter(|s| **s != TagScope::Intrinsic) {
        let mut c = Collector::<String>::new(opts);
        for h in &view.heads {
            head_names(h, scope, filter, &mut c);
        }
        for ix in &indexes {
            if c.full() {
                break;
            }
            block_names(ix, scope, filter, &mut c);
        }
        truncated |= c.truncated;
        out.push(ScopeNames {
            scope: Some(scope),
            names: c.items.into_iter().collect(),
        });
    }
    Ok(Listing {
        items: out,
        truncated,
        blocks: indexes.len(),
        inspected_bytes,
    })
}

fn head_names(h: &TenantHead, scope: TagScope, filter: &Cond, c: &mut Collector<String>) {
    let reg = h.tags();
    let sel = select(filter, &head_eq(&reg));
    if sel.is_empty() {
        return;
    }
    let (keys, _) = reg.keys(scope);
    let resources = sel.as_vec();
    for k in keys {
        if c.full() {
            return;
        }
        let carried = match &resources {
            None => true,
            Some(set) if scope == TagScope::Resource => !reg.resource_values(&k, set).is_empty(),
            Some(set) => !reg.values(scope, &k, Some(set)).values.is_empty(),
        };
        if carried {
            let n = k.len();
            c.add(k, n);
        }
    }
}

fn block_names(ix: &AttributeIndex, scope: TagScope, filter: &Cond, c: &mut Collector<String>) {
    let sel = select(filter, &block_eq(ix));
    if sel.is_empty() {
        return;
    }
    let string_scope = match scope {
        TagScope::Span => Some(IndexScope::Span),
        TagScope::Resource => Some(IndexScope::Resource),
        _ => None,
    };
    let typed = typed_scope(scope);
    let mut keys: Vec<&str> = ix.typed_keys(typed);
    if let Some(s) = string_scope {
        keys.extend(ix.keys(s));
    }
    for k in keys {
        if c.full() {
            return;
        }
        let carried = sel == Sel::All || {
            let string = string_scope.and_then(|s| ix.entries(s, k));
            let typed = ix.typed_entries(typed, k);
            match (string, typed) {
                // Not indexed: the index cannot tell, so the name is kept.
                (None, _) | (_, None) => true,
                (Some(s), Some(t)) => {
                    s.iter().any(|(_, rgs)| sel.admits_any(rgs.iter().copied()))
                        || t.iter().any(|(_, rgs)| sel.admits_any(rgs.iter().copied()))
                }
            }
        };
        if carried {
            c.add(k.to_string(), k.len());
        }
    }
}

/// Values of a tag over the heads and the blocks in range, sorted by value then type,
/// narrowed by `filter` (see the module doc).
pub async fn tag_values(
    view: &SearchView,
    tag: &TagRef,
    filter: &Cond,
    opts: &TagOptions,
) -> Result<Listing<Vec<ListedValue>>, TagError> {
    if let TagRef::Intrinsic(i) = tag
        && let Some(fixed) = fixed_values(*i)
    {
        return Ok(Listing {
            items: fixed,
            ..Default::default()
        });
    }
    let key = match tag {
        TagRef::Attribute { name, .. } => name.as_str(),
        TagRef::Intrinsic(_) => "name",
    };
    let scopes = data_scopes(tag);
    let mut c = Collector::<TagValue>::new(opts);
    for h in &view.heads {
        let reg = h.tags();
        let sel = select(filter, &head_eq(&reg));
        if sel.is_empty() {
            continue;
        }
        let resources = sel.as_vec();
        for &scope in &scopes {
            let values = match (&resources, scope) {
                (Some(set), TagScope::Resource) => reg.resource_values(key, set),
                _ => reg.values(scope, key, resources.as_deref()).values,
            };
            for v in values {
                let n = v.value.len();
                c.add(v, n);
            }
        }
    }
    let (indexes, inspected_bytes) = block_indexes(view, opts).await?;
    for ix in &indexes {
        if c.full() {
            break;
        }
        let sel = select(filter, &block_eq(ix));
        if sel.is_empty() {
            continue;
        }
        for &scope in &scopes {
            let string_scope = match scope {
                TagScope::Span => Some(IndexScope::Span),
                TagScope::Resource => Some(IndexScope::Resource),
                TagScope::Intrinsic => Some(IndexScope::Intrinsic),
                _ => None,
            };
            if let Some(s) = string_scope
                && let Some(entries) = ix.entries(s, key)
            {
                for (v, rgs) in entries {
                    if sel.admits_any(rgs.iter().copied()) {
                        c.add(TagValue::new(TagType::String, v), v.len());
                    }
                }
            }
            if scope == TagScope::Intrinsic {
                continue;
            }
            if let Some(entries) = ix.typed_entries(typed_scope(scope), key) {
                for (v, rgs) in entries {
                    if sel.admits_any(rgs.iter().copied()) {
                        let n = v.value.len();
                        c.add(v, n);
                    }
                }
            }
        }
    }
    let (items, truncated) = c.into_listed();
    Ok(Listing {
        items,
        truncated,
        blocks: indexes.len(),
        inspected_bytes,
    })
}

impl Collector<TagValue> {
    /// The values collected, sorted, and whether a bound cut them short.
    pub(crate) fn into_listed(self) -> (Vec<ListedValue>, bool) {
        let items = self
            .items
            .into_iter()
            .map(|v| ListedValue {
                value: v.value,
                kind: v.kind.as_str(),
            })
            .collect();
        (items, self.truncated)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cond(q: &str) -> Cond {
        Cond::of_query(&traceql::parse_and_validate(q).unwrap())
    }

    fn eq(scopes: Vec<TagScope>, key: &str, values: Vec<TagValue>) -> Cond {
        Cond::Eq {
            scopes,
            key: key.into(),
            values,
        }
    }

    fn s(v: &str) -> TagValue {
        TagValue::new(TagType::String, v)
    }

    #[test]
    fn filters_keep_equalities_and_widen_the_rest() {
        assert_eq!(cond("{}"), Cond::All);
        assert_eq!(
            cond(r#"{ resource.service.name = "api" }"#),
            eq(vec![TagScope::Resource], "service.name", vec![s("api")])
        );
        assert_eq!(
            cond(r#"{ "api" = .service.name }"#),
            eq(
                vec![TagScope::Span, TagScope::Resource],
                "service.name",
                vec![s("api")]
            )
        );
        assert_eq!(
            cond("{ span.code = 200 }"),
            eq(
                vec![TagScope::Span],
                "code",
                vec![
                    TagValue::new(TagType::Int, "200"),
                    TagValue::new(TagType::Float, "200")
                ]
            )
        );
        // `&&` drops what it cannot use; `||` with it matches everything.
        assert_eq!(
            cond(r#"{ name = "GET" && duration > 1s }"#),
            eq(vec![TagScope::Intrinsic], "name", vec![s("GET")])
        );
        assert_eq!(cond(r#"{ name = "GET" || duration > 1s }"#), Cond::All);
        assert_eq!(cond(r#"{ .a != "x" }"#), Cond::All);
        assert_eq!(cond(r#"{ !(.a = "x") }"#), Cond::All);
        // More than one spanset filter: no narrowing.
        assert_eq!(cond(r#"{ .a = "x" } && { .b = "y" }"#), Cond::All);
        assert_eq!(cond(r#"{ .a = "x" } | count() > 1"#), Cond::All);
    }

    #[test]
    fn selections_intersect_and_union() {
        let c = cond(r#"{ (.a = "1" || .a = "2") && .b = "3" }"#);
        let eq = |scope: TagScope, key: &str, v: &TagValue| -> Sel {
            if scope != TagScope::Span {
                return Sel::none();
            }
            match (key, v.value.as_str()) {
                ("a", "1") => Sel::Some([1, 2].into()),
                ("a", "2") => Sel::Some([5].into()),
                ("b", "3") => Sel::Some([2, 5, 9].into()),
                _ => Sel::none(),
            }
        };
        assert_eq!(select(&c, &eq), Sel::Some([2, 5].into()));
        assert_eq!(select(&cond(r#"{ .a = "9" }"#), &eq), Sel::none());
        assert_eq!(select(&Cond::All, &eq), Sel::All);
    }

    #[test]
    fn tags_parse_as_traceql_identifiers() {
        let attr = |scope, name: &str| TagRef::Attribute {
            scope,
            name: name.into(),
        };
        assert_eq!(
            TagRef::parse_scoped("resource.service.name").unwrap(),
            attr(Scope::Resource, "service.name")
        );
        assert_eq!(
            TagRef::parse_scoped(".foo").unwrap(),
            attr(Scope::None, "foo")
        );
        assert_eq!(
            TagRef::parse_scoped("name").unwrap(),
            TagRef::Intrinsic(Intrinsic::Name)
        );
        assert_eq!(
            TagRef::parse_scoped("span:status").unwrap(),
            TagRef::Intrinsic(Intrinsic::Status)
        );
        assert!(TagRef::parse_scoped("foo").is_err());
        assert!(TagRef::parse_scoped("").is_err());
        assert!(TagRef::parse_scoped(".a } || { .b").is_err());
        assert_eq!(
            TagRef::parse_unscoped("http.url"),
            attr(Scope::None, "http.url")
        );
        assert_eq!(
            TagRef::parse_unscoped("name"),
            TagRef::Intrinsic(Intrinsic::Name)
        );
    }
}
