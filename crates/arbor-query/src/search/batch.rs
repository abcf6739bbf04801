//! [`SpanBatch`]: the spans of some traces, column by column, holding only the columns a
//! query reads. The head and blocks both load into it, so one evaluator serves both.
//!
//! Strings sit in an Arrow `StringArray` per column and rows refer to them by index: a
//! block's dictionary-encoded column keeps its dictionary (so a predicate is evaluated once
//! per distinct value, not once per row), a plain column refers to its own rows.

use std::collections::{HashMap, HashSet};
use std::ops::Range;
use std::sync::Arc;

use arbor_model::TraceId;
use std::cell::OnceCell;

use arrow::array::{Array, ArrayRef, DictionaryArray, StringArray, StringBuilder, UInt64Array};
use arrow::datatypes::Int32Type;

use super::value::{V, kind_of, status_of};
use crate::traceql::{Intrinsic, Kind, Scope, Status};
use crate::visibility::Visibility;

/// A field a query reads.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FieldKey {
    Intr(IntrKey),
    /// Scope and attribute name. `Scope::None` (`.name`) is derived: the span's value,
    /// then the resource's.
    Attr(ScopeKey, String),
    /// `parent.…` (an Arbor extension): the attribute of the span's parent in its trace
    /// part, derived from the [`FieldKey::Attr`] of the same scope and name. Declared last
    /// so it is derived after the unscoped attribute it may read.
    Parent(ScopeKey, String),
}

/// [`Intrinsic`], ordered and hashable for use as a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IntrKey(pub u8);

/// [`Scope`], ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ScopeKey(pub u8);

const INTRINSICS: [Intrinsic; 22] = [
    Intrinsic::Duration,
    Intrinsic::Name,
    Intrinsic::Status,
    Intrinsic::StatusMessage,
    Intrinsic::Kind,
    Intrinsic::ChildCount,
    Intrinsic::SpanId,
    Intrinsic::ParentId,
    Intrinsic::NestedSetLeft,
    Intrinsic::NestedSetRight,
    Intrinsic::NestedSetParent,
    Intrinsic::TraceId,
    Intrinsic::TraceDuration,
    Intrinsic::TraceRootName,
    Intrinsic::TraceRootService,
    Intrinsic::EventName,
    Intrinsic::EventTimeSinceStart,
    Intrinsic::LinkTraceId,
    Intrinsic::LinkSpanId,
    Intrinsic::InstrumentationName,
    Intrinsic::InstrumentationVersion,
    Intrinsic::Parent,
];

const SCOPES: [Scope; 6] = [
    Scope::None,
    Scope::Span,
    Scope::Resource,
    Scope::Event,
    Scope::Link,
    Scope::Instrumentation,
];

impl FieldKey {
    pub fn intr(i: Intrinsic) -> FieldKey {
        let n = INTRINSICS.iter().position(|x| *x == i).expect("listed") as u8;
        FieldKey::Intr(IntrKey(n))
    }

    pub fn attr(scope: Scope, name: &str) -> FieldKey {
        let n = SCOPES.iter().position(|x| *x == scope).expect("listed") as u8;
        FieldKey::Attr(ScopeKey(n), name.to_string())
    }

    /// `parent.<scope><name>`.
    pub fn parent_attr(scope: Scope, name: &str) -> FieldKey {
        match FieldKey::attr(scope, name) {
            FieldKey::Attr(s, n) => FieldKey::Parent(s, n),
            other => other,
        }
    }

    pub fn intrinsic(&self) -> Option<Intrinsic> {
        match self {
            FieldKey::Intr(k) => Some(INTRINSICS[k.0 as usize]),
            FieldKey::Attr(..) | FieldKey::Parent(..) => None,
        }
    }

    /// The span's own attribute (not a parent's).
    pub fn attribute(&self) -> Option<(Scope, &str)> {
        match self {
            FieldKey::Attr(s, n) => Some((SCOPES[s.0 as usize], n)),
            FieldKey::Intr(_) | FieldKey::Parent(..) => None,
        }
    }

    /// For `parent.…`, the attribute read on the parent.
    pub fn parent_of(&self) -> Option<FieldKey> {
        match self {
            FieldKey::Parent(s, n) => Some(FieldKey::Attr(*s, n.clone())),
            _ => None,
        }
    }

    /// How the field is written in TraceQL: `span.http.route`, `.a`, `duration`.
    pub fn label(&self) -> String {
        if let Some(own) = self.parent_of() {
            return format!("parent.{}", own.label());
        }
        match (self.intrinsic(), self.attribute()) {
            (Some(i), _) => i.name().to_string(),
            (_, Some((s, n))) => {
                let needs_quotes = n
                    .chars()
                    .any(|c| c.is_whitespace() || "{}()=~!<>&|^,\"".contains(c));
                if needs_quotes {
                    format!(
                        "{}\"{}\"",
                        s.prefix(),
                        n.replace('\\', "\\\\").replace('"', "\\\"")
                    )
                } else {
                    format!("{}{n}", s.prefix())
                }
            }
            _ => unreachable!("a key is one or the other"),
        }
    }
}

/// A value in a column; strings by index into the column's strings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Val {
    Nil,
    Str(u32),
    Int(i64),
    Float(f64),
    Bool(bool),
    Dur(i64),
    Status(Status),
    Kind(Kind),
}

/// One field's values, one per row, or several per row (event and link attributes,
/// unscoped attributes).
#[derive(Debug, Clone)]
pub struct Col {
    vals: OnceCell<Vec<Val>>,
    /// For several values per row: row `i`'s are `vals[offsets[i]..offsets[i + 1]]`.
    pub offsets: Option<Vec<u32>>,
    pub strs: StringArray,
    /// The Arrow array the column was read from, when it is one: a comparison with a
    /// constant runs as a kernel over it, and the values are made only if something else
    /// reads them.
    pub arrow: Option<ArrowSource>,
}

/// A block column as Arrow read it.
#[derive(Debug, Clone)]
pub enum ArrowSource {
    /// Strings, plain or dictionary-encoded (`Dictionary(Int32, Utf8)`), null = nil. The
    /// column's `strs` are the dictionary's values, or the array itself.
    Str(ArrayRef),
    /// Durations in nanoseconds.
    DurNs(UInt64Array),
}

impl Col {
    pub fn new(vals: Vec<Val>, offsets: Option<Vec<u32>>, strs: StringArray) -> Col {
        Col {
            vals: OnceCell::from(vals),
            offsets,
            strs,
            arrow: None,
        }
    }

    /// A single-valued string column over an Arrow array (plain or dictionary-encoded).
    pub fn from_arrow_str(a: ArrayRef) -> Option<Col> {
        let strs = if let Some(d) = a.as_any().downcast_ref::<DictionaryArray<Int32Type>>() {
            d.values().as_any().downcast_ref::<StringArray>()?.clone()
        } else {
            a.as_any().downcast_ref::<StringArray>()?.clone()
        };
        Some(Col {
            vals: OnceCell::new(),
            offsets: None,
            strs,
            arrow: Some(ArrowSource::Str(a)),
        })
    }

    /// Durations in nanoseconds.
    pub fn from_durations(a: UInt64Array) -> Col {
        Col {
            vals: OnceCell::new(),
            offsets: None,
            strs: StringArray::from(Vec::<&str>::new()),
            arrow: Some(ArrowSource::DurNs(a)),
        }
    }

    /// Every value, in row order (made from the Arrow array on first use).
    pub fn vals(&self) -> &[Val] {
        self.vals.get_or_init(|| match &self.arrow {
            Some(ArrowSource::DurNs(a)) => a.values().iter().map(|d| Val::Dur(*d as i64)).collect(),
            Some(ArrowSource::Str(a)) => {
                if let Some(d) = a.as_any().downcast_ref::<DictionaryArray<Int32Type>>() {
                    let keys = d.keys();
                    (0..keys.len())
                        .map(|i| {
                            if keys.is_valid(i) {
                                Val::Str(keys.value(i) as u32)
                            } else {
                                Val::Nil
                            }
                        })
                        .collect()
                } else {
                    (0..a.len())
                        .map(|i| {
                            if a.is_valid(i) {
                                Val::Str(i as u32)
                            } else {
                                Val::Nil
                            }
                        })
                        .collect()
                }
            }
            None => Vec::new(),
        })
    }

    pub fn v(&self, x: Val) -> V<'_> {
        match x {
            Val::Nil => V::Nil,
            Val::Str(i) => V::Str(self.strs.value(i as usize)),
            Val::Int(i) => V::Int(i),
            Val::Float(f) => V::Float(f),
            Val::Bool(b) => V::Bool(b),
            Val::Dur(d) => V::Dur(d),
            Val::Status(s) => V::Status(s),
            Val::Kind(k) => V::Kind(k),
        }
    }

    /// Row `row`'s values (one, nil included, for a single-valued column).
    pub fn row(&self, row: usize) -> &[Val] {
        match &self.offsets {
            None => std::slice::from_ref(&self.vals()[row]),
            Some(o) => &self.vals()[o[row] as usize..o[row + 1] as usize],
        }
    }

    /// Row `row`'s first value, or nil.
    pub fn first(&self, row: usize) -> V<'_> {
        self.row(row).first().map_or(V::Nil, |x| self.v(*x))
    }

    pub fn len(&self) -> usize {
        match &self.offsets {
            None => self.vals().len(),
            Some(o) => o.len() - 1,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A single-valued column of numbers or enums (no strings).
    pub fn plain(vals: Vec<Val>) -> Col {
        Col::new(vals, None, StringArray::from(Vec::<&str>::new()))
    }
}

/// Builds a [`Col`], interning its strings.
#[derive(Default)]
pub struct ColBuilder {
    vals: Vec<Val>,
    offsets: Option<Vec<u32>>,
    strs: Vec<Box<str>>,
    seen: HashMap<Box<str>, u32>,
}

impl ColBuilder {
    pub fn multi() -> Self {
        ColBuilder {
            offsets: Some(vec![0]),
            ..Default::default()
        }
    }

    pub fn str_index(&mut self, s: &str) -> u32 {
        if let Some(&i) = self.seen.get(s) {
            return i;
        }
        let i = self.strs.len() as u32;
        self.strs.push(s.into());
        self.seen.insert(s.into(), i);
        i
    }

    pub fn push_str(&mut self, s: &str) {
        let i = self.str_index(s);
        self.vals.push(Val::Str(i));
    }

    pub fn push(&mut self, v: Val) {
        self.vals.push(v);
    }

    /// Ends a row of a multi-valued column.
    pub fn end_row(&mut self) {
        if let Some(o) = &mut self.offsets {
            o.push(self.vals.len() as u32);
        }
    }

    pub fn finish(self) -> Col {
        let mut b = StringBuilder::with_capacity(self.strs.len(), 0);
        for s in &self.strs {
            b.append_value(s);
        }
        Col::new(self.vals, self.offsets, b.finish())
    }
}

/// The spans of one trace in a batch: rows `rows` (contiguous).
#[derive(Debug, Clone)]
pub struct TracePart {
    pub id: TraceId,
    pub rows: Range<u32>,
}

/// Spans, grouped by trace, column by column.
#[derive(Debug, Default)]
pub struct SpanBatch {
    pub len: usize,
    pub traces: Vec<TracePart>,
    pub cols: HashMap<FieldKey, Col>,
    /// Span and parent IDs (big-endian as numbers; parent 0 = none), when loaded.
    pub span_ids: Vec<u64>,
    pub parents: Vec<u64>,
    /// Start times and durations (ns), when loaded.
    pub starts: Vec<u64>,
    pub durations: Vec<u64>,
}

/// What to load: the fields a query reads, and the raw columns.
#[derive(Debug, Default, Clone)]
pub struct Needs {
    /// Fields a source loads itself (see [`Needs::base_of`]).
    pub base: HashSet<FieldKey>,
    /// Fields derived after loading.
    pub derived: HashSet<FieldKey>,
    pub ids: bool,
    pub starts: bool,
    pub durations: bool,
    /// Load only the spans this narrowed read token may see ([`crate::visibility`]).
    pub scope: Option<Arc<Visibility>>,
}

impl Needs {
    /// Narrows every load of these needs to the spans `scope` admits.
    pub fn restrict(&mut self, scope: Option<&Arc<Visibility>>) {
        if let Some(v) = scope {
            // A block's rows are judged on the columns the filter reads.
            for f in v.fields() {
                self.add(f.clone());
            }
        }
        self.scope = scope.cloned();
    }

    /// Adds a field and whatever it is computed from.
    pub fn add(&mut self, key: FieldKey) {
        if let Some(own) = key.parent_of() {
            // The parent's row comes from the span tree.
            self.add(own);
            self.ids = true;
            self.starts = true;
            self.derived.insert(key);
            return;
        }
        if let Some((Scope::None, name)) = key.attribute() {
            self.add(FieldKey::attr(Scope::Span, name));
            self.add(FieldKey::attr(Scope::Resource, name));
            self.derived.insert(key);
            return;
        }
        let Some(i) = key.intrinsic() else {
            self.base.insert(key);
            return;
        };
        match i {
            Intrinsic::Duration => {
                self.durations = true;
                self.derived.insert(key);
            }
            Intrinsic::SpanId | Intrinsic::ParentId | Intrinsic::ChildCount => {
                self.ids = true;
                self.derived.insert(key);
            }
            Intrinsic::NestedSetLeft | Intrinsic::NestedSetRight | Intrinsic::NestedSetParent => {
                // The walk visits roots and siblings in start order.
                self.ids = true;
                self.starts = true;
                self.derived.insert(key);
            }
            Intrinsic::TraceId => {
                self.derived.insert(key);
            }
            Intrinsic::TraceDuration => {
                self.starts = true;
                self.durations = true;
                self.derived.insert(key);
            }
            Intrinsic::TraceRootName => {
                self.ids = true;
                self.starts = true;
                self.base.insert(FieldKey::intr(Intrinsic::Name));
                self.derived.insert(key);
            }
            Intrinsic::TraceRootService => {
                self.ids = true;
                self.starts = true;
                self.base
                    .insert(FieldKey::attr(Scope::Resource, "service.name"));
                self.derived.insert(key);
            }
            Intrinsic::EventTimeSinceStart => {
                self.base.insert(key);
            }
            Intrinsic::Name
            | Intrinsic::Status
            | Intrinsic::StatusMessage
            | Intrinsic::Kind
            | Intrinsic::EventName
            | Intrinsic::LinkTraceId
            | Intrinsic::LinkSpanId
            | Intrinsic::InstrumentationName
            | Intrinsic::InstrumentationVersion => {
                self.base.insert(key);
            }
            // Refused by validation.
            Intrinsic::Parent => {}
        }
    }

    pub fn merge(&mut self, other: &Needs) {
        self.base.extend(other.base.iter().cloned());
        self.derived.extend(other.derived.iter().cloned());
        self.ids |= other.ids;
        self.starts |= other.starts;
        self.durations |= other.durations;
        if self.scope.is_none() {
            self.scope = other.scope.clone();
        }
    }
}

/// Hex of an 8-byte ID held as a big-endian number.
pub fn span_id_hex(id: u64) -> String {
    format!("{id:016x}")
}

/// An 8-byte ID as a big-endian number (0 for a missing or malformed one).
pub fn span_id_num(b: &[u8]) -> u64 {
    <[u8; 8]>::try_from(b).map_or(0, u64::from_be_bytes)
}

impl SpanBatch {
    pub fn col(&self, key: &FieldKey) -> Option<&Col> {
        self.cols.get(key)
    }

    /// Computes the derived fields of `needs` from what was loaded.
    pub fn derive(&mut self, needs: &Needs) {
        let mut keys: Vec<&FieldKey> = needs.derived.iter().collect();
        keys.sort();
        for key in keys {
            let col = match (key.intrinsic(), key.attribute()) {
                _ if key.parent_of().is_some() => super::parent::derive(self, key),
                (Some(i), _) => self.derive_intrinsic(i),
                (None, Some((Scope::None, name))) => self.derive_unscoped(name),
                _ => None,
            };
            if let Some(c) = col {
                self.cols.insert(key.clone(), c);
            }
        }
    }

    fn derive_unscoped(&self, name: &str) -> Option<Col> {
        let span = self.cols.get(&FieldKey::attr(Scope::Span, name))?;
        let res = self.cols.get(&FieldKey::attr(Scope::Resource, name))?;
        let mut b = ColBuilder::multi();
        for row in 0..self.len {
            for c in [span, res] {
                for x in c.row(row) {
                    match c.v(*x) {
                        V::Nil => {}
                        V::Str(s) => b.push_str(s),
                        _ => b.push(*x),
                    }
                }
            }
            b.end_row();
        }
        Some(b.finish())
    }

    fn derive_intrinsic(&self, i: Intrinsic) -> Option<Col> {
        let n = self.len;
        Some(match i {
            Intrinsic::Duration => Col::from_durations(UInt64Array::from(self.durations.clone())),
            Intrinsic::SpanId | Intrinsic::ParentId => {
                let ids = if i == Intrinsic::SpanId {
                    &self.span_ids
                } else {
                    &self.parents
                };
                let mut b = ColBuilder::default();
                for &id in ids {
                    if i == Intrinsic::ParentId && id == 0 {
                        b.push(Val::Nil);
                    } else {
                        b.push_str(&span_id_hex(id));
                    }
                }
                b.finish()
            }
            Intrinsic::ChildCount
            | Intrinsic::NestedSetLeft
            | Intrinsic::NestedSetRight
            | Intrinsic::NestedSetParent => {
                let tree = self.tree();
                Col::plain(
                    (0..n)
                        .map(|r| {
                            Val::Int(match i {
                                Intrinsic::ChildCount => tree.children[r] as i64,
                                Intrinsic::NestedSetLeft => tree.left[r],
                                Intrinsic::NestedSetRight => tree.right[r],
                                _ => tree.parent_left[r],
                            })
                        })
                        .collect(),
                )
            }
            Intrinsic::TraceId => {
                let mut b = ColBuilder::default();
                for t in &self.traces {
                    let idx = b.str_index(&t.id.to_hex());
                    for _ in t.rows.clone() {
                        b.push(Val::Str(idx));
                    }
                }
                b.finish()
            }
            Intrinsic::TraceDuration => {
                let mut vals = Vec::with_capacity(n);
                for t in &self.traces {
                    let r = t.rows.start as usize..t.rows.end as usize;
                    let start = self.starts[r.clone()].iter().min().copied().unwrap_or(0);
                    let end = r
                        .clone()
                        .map(|i| self.starts[i].wrapping_add(self.durations[i]))
                        .max()
                        .unwrap_or(0);
                    let d = Val::Dur(end.saturating_sub(start) as i64);
                    vals.extend(r.map(|_| d));
                }
                Col::plain(vals)
            }
            Intrinsic::TraceRootName | Intrinsic::TraceRootService => {
                let src = if i == Intrinsic::TraceRootName {
                    self.cols.get(&FieldKey::intr(Intrinsic::Name))?
                } else {
                    self.cols
                        .get(&FieldKey::attr(Scope::Resource, "service.name"))?
                };
                let mut b = ColBuilder::default();
                for t in &self.traces {
                    let root = self.root_of(t);
                    let v = root.map_or(V::Nil, |r| src.first(r));
                    let val = match v {
                        V::Str(s) => Val::Str(b.str_index(s)),
                        _ => Val::Nil,
                    };
                    for _ in t.rows.clone() {
                        b.push(val);
                    }
                }
                b.finish()
            }
            _ => return None,
        })
    }

    /// The root of a trace part: its earliest span whose parent is not in the part (the
    /// block writer's rule for `traces.parquet`).
    pub fn root_of(&self, t: &TracePart) -> Option<usize> {
        let rows = t.rows.start as usize..t.rows.end as usize;
        let ids: HashSet<u64> = rows.clone().map(|r| self.span_ids[r]).collect();
        rows.filter(|&r| self.parents[r] == 0 || !ids.contains(&self.parents[r]))
            .min_by_key(|&r| (self.starts[r], self.span_ids[r]))
    }

    /// Parent rows, child counts and nested-set numbers, per trace part. A span whose
    /// parent is not in the part is a root; several roots are walked in start order.
    pub fn tree(&self) -> Tree {
        let n = self.len;
        let mut tree = Tree {
            parent_row: vec![u32::MAX; n],
            children: vec![0; n],
            left: vec![0; n],
            right: vec![0; n],
            parent_left: vec![-1; n],
        };
        for t in &self.traces {
            let rows = t.rows.start as usize..t.rows.end as usize;
            let by_id: HashMap<u64, usize> = rows.clone().map(|r| (self.span_ids[r], r)).collect();
            let mut kids: HashMap<usize, Vec<usize>> = HashMap::new();
            let mut roots = Vec::new();
            for r in rows.clone() {
                match by_id.get(&self.parents[r]) {
                    Some(&p) if self.parents[r] != 0 && p != r => {
                        tree.parent_row[r] = p as u32;
                        tree.children[p] += 1;
                        kids.entry(p).or_default().push(r);
                    }
                    _ => roots.push(r),
                }
            }
            let key = |r: &usize| {
                (
                    self.starts.get(*r).copied().unwrap_or(0),
                    self.span_ids[*r],
                    *r,
                )
            };
            roots.sort_by_key(key);
            for v in kids.values_mut() {
                v.sort_by_key(key);
            }
            // Iterative depth-first walk; a cycle of parents is not reachable from a root,
            // so its spans stay at 0.
            let mut counter = 0i64;
            let mut visited = vec![false; rows.len()];
            for root in roots {
                let mut stack: Vec<(usize, usize)> = vec![(root, 0)];
                counter += 1;
                tree.left[root] = counter;
                visited[root - rows.start] = true;
                while let Some(&mut (node, ref mut next)) = stack.last_mut() {
                    let children = kids.get(&node).map(Vec::as_slice).unwrap_or(&[]);
                    if let Some(&c) = children.get(*next) {
                        *next += 1;
                        if visited[c - rows.start] {
                            continue;
                        }
                        visited[c - rows.start] = true;
                        counter += 1;
                        tree.left[c] = counter;
                        tree.parent_left[c] = tree.left[node];
                        stack.push((c, 0));
                    } else {
                        counter += 1;
                        tree.right[node] = counter;
                        stack.pop();
                    }
                }
            }
        }
        tree
    }
}

/// The span tree of each trace part in a batch, by row.
#[derive(Debug, Clone)]
pub struct Tree {
    /// The parent's row, `u32::MAX` for a root.
    pub parent_row: Vec<u32>,
    pub children: Vec<u32>,
    /// Nested-set numbers: a descendant's `left` lies strictly between its ancestor's
    /// `left` and `right`. 0 for spans on a cycle of parents.
    pub left: Vec<i64>,
    pub right: Vec<i64>,
    /// The parent's `left`, -1 for a root.
    pub parent_left: Vec<i64>,
}

/// Reads a status code column value.
pub fn status_val(code: Option<i32>) -> Val {
    Val::Status(code.map_or(Status::Unset, status_of))
}

pub fn kind_val(kind: i32) -> Val {
    Val::Kind(kind_of(kind))
}
