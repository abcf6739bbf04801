//! The attribute index (`index.parquet`): which row groups of `spans.parquet` hold a string
//! value of an attribute, so a search for a value the block does not hold costs one lookup.
//!
//! One row per (scope, key, value) with the sorted row groups holding it. Limits keep the index
//! small and the writer's memory bounded:
//! - a key with more than `index_max_values_per_key` distinct values, or with any value longer
//!   than [`MAX_INDEXED_VALUE_BYTES`], is *not indexed*: its values are dropped and one row
//!   with a null `value` lists the row groups where the key occurs with a string value;
//! - a scope with more than [`MAX_KEYS_PER_SCOPE`] keys stops taking new keys: a row with a
//!   null `key` (and null `value`) marks the scope as incomplete, and a lookup of a key the
//!   index does not list answers [`IndexAnswer::NotIndexed`] instead of `Absent`;
//! - a scope holds at most [`MAX_VALUES_PER_SCOPE`] values in all: past it, a key that meets
//!   a new value becomes not indexed (so the writer's memory for the index stays bounded).
//!
//! The scopes `span`, `resource` and `intrinsic` index plain string values only (an integer
//! `200` is not the string `"200"`). The *typed* scopes ([`TypedIndexScope`]: `span-typed`,
//! `resource-typed`, `event`, `link`, `instrumentation`) index scalar values in the typed
//! encoding of [`TagValue::encode`] (`int:200`, `bool:true`, `float:1.5`, `string:GET`):
//! `span-typed` and `resource-typed` hold the non-string values of span and resource
//! attributes, the other three every scalar value of event, link and instrumentation-scope
//! attributes. Readers that predate a scope ignore its rows, and adding the typed scopes left
//! the answers for `span`, `resource` and `intrinsic` unchanged.
//!
//! The scope `operation` lists each service's operations: key the `service.name` (empty
//! for spans without one), value the span kind's number and the span name, as `"2 GET /"`.
//! A service with more than `index_max_values_per_key` operations is not indexed (its row
//! groups are listed, its operations not). A block without any `operation` row was written
//! before the scope existed: [`AttributeIndex::operations`] answers "unknown" for it.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use arrow::array::{
    ArrayRef, ListArray, RecordBatch, StringBuilder, StringDictionaryBuilder, UInt32Array,
};
use arrow::buffer::OffsetBuffer;
use arrow::datatypes::{DataType, Field, Int32Type};

use super::BlockError;
use super::attrs::{StrCol, corrupt, downcast};
use super::schema;
use crate::tags::TagValue;

/// Values longer than this make their key not indexed.
pub const MAX_INDEXED_VALUE_BYTES: usize = 256;
/// Keys per scope beyond which new keys are not indexed.
pub const MAX_KEYS_PER_SCOPE: usize = 10_000;
/// Values per scope (all keys together) beyond which keys meeting new values are not indexed.
pub const MAX_VALUES_PER_SCOPE: usize = 200_000;

/// Where an indexed attribute lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum IndexScope {
    /// Span attributes, dedicated columns and the generic list alike.
    Span,
    /// Resource attributes (including `service.name`).
    Resource,
    /// Span intrinsics; today only `name` (the span name).
    Intrinsic,
}

impl IndexScope {
    pub const ALL: [IndexScope; 3] = [Self::Span, Self::Resource, Self::Intrinsic];

    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Span => "span",
            Self::Resource => "resource",
            Self::Intrinsic => "intrinsic",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|x| x.as_str() == s)
    }

    fn slot(self) -> usize {
        self as usize
    }
}

/// The index scopes holding typed values (see the module doc).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TypedIndexScope {
    /// Non-string scalar values of span attributes.
    Span,
    /// Non-string scalar values of resource attributes.
    Resource,
    /// Scalar values of span-event attributes.
    Event,
    /// Scalar values of span-link attributes.
    Link,
    /// Scalar values of instrumentation-scope attributes.
    Instrumentation,
}

impl TypedIndexScope {
    pub const ALL: [TypedIndexScope; 5] = [
        Self::Span,
        Self::Resource,
        Self::Event,
        Self::Link,
        Self::Instrumentation,
    ];

    pub fn as_str(&self) -> &'static str {
        SLOT_NAMES[self.slot()]
    }

    fn slot(self) -> usize {
        IndexScope::ALL.len() + self as usize
    }
}

/// Every scope's name, by slot: the three string scopes, then the typed ones.
const SLOT_NAMES: [&str; SLOTS] = [
    "span",
    "resource",
    "intrinsic",
    "span-typed",
    "resource-typed",
    "event",
    "link",
    "instrumentation",
    "operation",
];
const SLOTS: usize = 9;
/// The slot of the `operation` scope.
const OPERATION_SLOT: usize = 8;

/// What the index knows about one (scope, key, value).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IndexAnswer {
    /// No span of the block has this value: the block can be skipped.
    Absent,
    /// These row groups (ascending) of `spans.parquet` hold it.
    InRowGroups(Vec<usize>),
    /// The index cannot tell (too many values, or too many keys): scan the block.
    NotIndexed,
}

#[derive(Debug, Default)]
struct KeyAcc {
    /// `None` once the key is not indexed.
    values: Option<HashMap<String, Vec<u32>>>,
    /// Row groups where the key occurs with a string value.
    row_groups: Vec<u32>,
}

fn push_rg(v: &mut Vec<u32>, rg: u32) {
    if v.last() != Some(&rg) {
        v.push(rg);
    }
}

/// Collects the index while the writer flushes row groups (in ascending order).
#[derive(Debug)]
pub(crate) struct IndexBuilder {
    max_values: usize,
    /// Reused to build `operation` values.
    scratch: String,
    scopes: [HashMap<String, KeyAcc>; SLOTS],
    overflow: [bool; SLOTS],
    /// Values held per scope.
    values: [usize; SLOTS],
}

impl IndexBuilder {
    pub fn new(max_values_per_key: usize) -> Self {
        Self {
            max_values: max_values_per_key,
            scratch: String::new(),
            scopes: Default::default(),
            overflow: [false; SLOTS],
            values: [0; SLOTS],
        }
    }

    pub fn add(&mut self, scope: IndexScope, key: &str, value: &str, rg: u32) {
        self.add_slot(scope.slot(), key, value, rg);
    }

    /// Adds a span's operation: its kind (OTLP number) and name under its service.
    pub fn add_operation(&mut self, service: &str, kind: i32, name: &str, rg: u32) {
        use std::fmt::Write as _;
        let mut v = std::mem::take(&mut self.scratch);
        v.clear();
        let _ = write!(v, "{kind} {name}");
        self.add_slot(OPERATION_SLOT, service, &v, rg);
        self.scratch = v;
    }

    /// Adds a typed value (in [`TagValue::encode`]'s form).
    pub fn add_typed(&mut self, scope: TypedIndexScope, key: &str, value: &TagValue, rg: u32) {
        self.add_slot(scope.slot(), key, &value.encode(), rg);
    }

    fn add_slot(&mut self, slot: usize, key: &str, value: &str, rg: u32) {
        let keys = &mut self.scopes[slot];
        let acc = match keys.get_mut(key) {
            Some(acc) => acc,
            None => {
                if keys.len() >= MAX_KEYS_PER_SCOPE {
                    self.overflow[slot] = true;
                    return;
                }
                keys.entry(key.to_string()).or_insert_with(|| KeyAcc {
                    values: Some(HashMap::new()),
                    row_groups: Vec::new(),
                })
            }
        };
        push_rg(&mut acc.row_groups, rg);
        let Some(values) = acc.values.as_mut() else {
            return;
        };
        if let Some(rgs) = values.get_mut(value) {
            push_rg(rgs, rg);
        } else if value.len() > MAX_INDEXED_VALUE_BYTES
            || values.len() >= self.max_values
            || self.values[slot] >= MAX_VALUES_PER_SCOPE
        {
            self.values[slot] -= values.len();
            acc.values = None;
        } else {
            values.insert(value.to_string(), vec![rg]);
            self.values[slot] += 1;
        }
    }

    /// The index file's single batch, rows sorted by (scope, key, value), nulls first.
    pub fn finish(self) -> Result<RecordBatch, BlockError> {
        let mut scope_col = StringDictionaryBuilder::<Int32Type>::new();
        let mut key_col = StringBuilder::new();
        let mut value_col = StringBuilder::new();
        let mut rgs: Vec<u32> = Vec::new();
        let mut offsets: Vec<i32> = vec![0];
        let mut row = |scope: &str, key: Option<&str>, value: Option<&str>, r: &[u32]| {
            scope_col.append_value(scope);
            key_col.append_option(key);
            value_col.append_option(value);
            rgs.extend_from_slice(r);
            offsets.push(rgs.len() as i32);
        };
        for (slot, &scope) in SLOT_NAMES.iter().enumerate() {
            if self.overflow[slot] {
                row(scope, None, None, &[]);
            }
            let sorted: BTreeMap<&String, &KeyAcc> = self.scopes[slot].iter().collect();
            for (key, acc) in sorted {
                match &acc.values {
                    None => row(scope, Some(key), None, &acc.row_groups),
                    Some(values) => {
                        let sorted: BTreeMap<&String, &Vec<u32>> = values.iter().collect();
                        for (v, r) in sorted {
                            row(scope, Some(key), Some(v), r);
                        }
                    }
                }
            }
        }
        let list = ListArray::try_new(
            Arc::new(Field::new("item", DataType::UInt32, false)),
            OffsetBuffer::new(offsets.into()),
            Arc::new(UInt32Array::from(rgs)),
            None,
        )?;
        Ok(RecordBatch::try_new(
            schema::index_schema(),
            vec![
                Arc::new(scope_col.finish()) as ArrayRef,
                Arc::new(key_col.finish()),
                Arc::new(value_col.finish()),
                Arc::new(list),
            ],
        )?)
    }
}

#[derive(Debug, Default)]
enum KeyEntry {
    Indexed(HashMap<String, Vec<usize>>),
    #[default]
    NotIndexed,
}

#[derive(Debug, Default)]
struct IndexData {
    keys: [HashMap<String, KeyEntry>; SLOTS],
    overflow: [bool; SLOTS],
}

/// A loaded attribute index. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct AttributeIndex {
    data: Arc<IndexData>,
}

impl AttributeIndex {
    /// Where the string `value` of attribute `key` in `scope` occurs.
    pub fn lookup(&self, scope: IndexScope, key: &str, value: &str) -> IndexAnswer {
        let slot = scope.slot();
        match self.data.keys[slot].get(key) {
            None if self.data.overflow[slot] => IndexAnswer::NotIndexed,
            None => IndexAnswer::Absent,
            Some(KeyEntry::NotIndexed) => IndexAnswer::NotIndexed,
            Some(KeyEntry::Indexed(values)) => match values.get(value) {
                Some(rgs) => IndexAnswer::InRowGroups(rgs.clone()),
                None => IndexAnswer::Absent,
            },
        }
    }

    /// Every indexed value of a key, sorted; `None` when the key is not indexed (or the
    /// scope is incomplete and does not list it).
    pub fn values(&self, scope: IndexScope, key: &str) -> Option<Vec<&str>> {
        let slot = scope.slot();
        match self.data.keys[slot].get(key) {
            None if self.data.overflow[slot] => None,
            None => Some(Vec::new()),
            Some(KeyEntry::NotIndexed) => None,
            Some(KeyEntry::Indexed(values)) => {
                let mut v: Vec<&str> = values.keys().map(String::as_str).collect();
                v.sort_unstable();
                Some(v)
            }
        }
    }

    /// The keys the index knows in a scope (indexed or not), sorted.
    pub fn keys(&self, scope: IndexScope) -> Vec<&str> {
        self.keys_of(scope.slot())
    }

    /// The keys the index knows in a typed scope (indexed or not), sorted.
    pub fn typed_keys(&self, scope: TypedIndexScope) -> Vec<&str> {
        self.keys_of(scope.slot())
    }

    /// Whether the scope took no more keys past its limit (so it may miss some).
    pub fn incomplete(&self, scope: IndexScope) -> bool {
        self.data.overflow[scope.slot()]
    }

    /// Whether the typed scope took no more keys past its limit.
    pub fn typed_incomplete(&self, scope: TypedIndexScope) -> bool {
        self.data.overflow[scope.slot()]
    }

    fn keys_of(&self, slot: usize) -> Vec<&str> {
        let mut v: Vec<&str> = self.data.keys[slot].keys().map(String::as_str).collect();
        v.sort_unstable();
        v
    }

    /// Every indexed value of a key with its row groups (ascending), sorted by value;
    /// `None` when the key is not indexed (or the scope is incomplete and does not list it).
    pub fn entries(&self, scope: IndexScope, key: &str) -> Option<Vec<(&str, &[usize])>> {
        self.entries_of(scope.slot(), key)
    }

    /// [`AttributeIndex::entries`] of a typed scope, values decoded. Rows this build cannot
    /// decode (a type it does not know) are skipped.
    pub fn typed_entries(
        &self,
        scope: TypedIndexScope,
        key: &str,
    ) -> Option<Vec<(TagValue, &[usize])>> {
        let entries = self.entries_of(scope.slot(), key)?;
        Some(
            entries
                .into_iter()
                .filter_map(|(v, rgs)| Some((TagValue::decode(v)?, rgs)))
                .collect(),
        )
    }

    fn entries_of(&self, slot: usize, key: &str) -> Option<Vec<(&str, &[usize])>> {
        match self.data.keys[slot].get(key) {
            None if self.data.overflow[slot] => None,
            None => Some(Vec::new()),
            Some(KeyEntry::NotIndexed) => None,
            Some(KeyEntry::Indexed(values)) => {
                let mut v: Vec<(&str, &[usize])> = values
                    .iter()
                    .map(|(k, rgs)| (k.as_str(), rgs.as_slice()))
                    .collect();
                v.sort_unstable_by(|a, b| a.0.cmp(b.0));
                Some(v)
            }
        }
    }

    /// The operations (span kind number, span name) of a service in this block, sorted;
    /// `None` when the index cannot tell (a block written before the `operation` scope, a
    /// service with too many operations, or a scope past its key limit).
    pub fn operations(&self, service: &str) -> Option<Vec<(i32, &str)>> {
        let keys = &self.data.keys[OPERATION_SLOT];
        if keys.is_empty() && !self.data.overflow[OPERATION_SLOT] {
            return None;
        }
        let mut out: Vec<(i32, &str)> = self
            .entries_of(OPERATION_SLOT, service)?
            .into_iter()
            .filter_map(|(v, _)| {
                let (k, name) = v.split_once(' ')?;
                Some((k.parse().ok()?, name))
            })
            .collect();
        out.sort_unstable_by(|a, b| (a.1, a.0).cmp(&(b.1, b.0)));
        Some(out)
    }

    /// Where the typed `value` of attribute `key` in `scope` occurs; same semantics as
    /// [`AttributeIndex::lookup`].
    pub fn typed_lookup(&self, scope: TypedIndexScope, key: &str, value: &TagValue) -> IndexAnswer {
        let slot = scope.slot();
        match self.data.keys[slot].get(key) {
            None if self.data.overflow[slot] => IndexAnswer::NotIndexed,
            None => IndexAnswer::Absent,
            Some(KeyEntry::NotIndexed) => IndexAnswer::NotIndexed,
            Some(KeyEntry::Indexed(values)) => match values.get(&value.encode()) {
                Some(rgs) => IndexAnswer::InRowGroups(rgs.clone()),
                None => IndexAnswer::Absent,
            },
        }
    }

    /// Reads the index from the batches of `index.parquet`.
    pub(crate) fn from_batches(batches: &[RecordBatch]) -> Result<Self, BlockError> {
        let mut data = IndexData::default();
        for b in batches {
            let col = |name: &str| {
                b.column_by_name(name)
                    .ok_or_else(|| corrupt(format!("index: missing column {name}")))
            };
            let scope = StrCol::new(col(schema::I_SCOPE)?.as_ref(), "index.scope")?;
            let key = StrCol::new(col(schema::I_KEY)?.as_ref(), "index.key")?;
            let value = StrCol::new(col(schema::I_VALUE)?.as_ref(), "index.value")?;
            let list =
                downcast::<ListArray>(col(schema::I_ROW_GROUPS)?.as_ref(), "index.row_groups")?;
            let rg_values = downcast::<UInt32Array>(list.values().as_ref(), "index.row_groups")?;
            for i in 0..b.num_rows() {
                let s = scope.get_or_empty(i);
                let Some(slot) = SLOT_NAMES.iter().position(|n| *n == s) else {
                    // A scope this version does not know: ignore it.
                    continue;
                };
                let Some(key) = key.get(i) else {
                    data.overflow[slot] = true;
                    continue;
                };
                let o = list.value_offsets();
                let rgs: Vec<usize> = (o[i] as usize..o[i + 1] as usize)
                    .map(|j| rg_values.value(j) as usize)
                    .collect();
                match value.get(i) {
                    None => {
                        data.keys[slot].insert(key.to_string(), KeyEntry::NotIndexed);
                    }
                    Some(v) => {
                        let entry = data.keys[slot]
                            .entry(key.to_string())
                            .or_insert_with(|| KeyEntry::Indexed(HashMap::new()));
                        if let KeyEntry::Indexed(values) = entry {
                            values.insert(v.to_string(), rgs);
                        }
                    }
                }
            }
        }
        Ok(Self {
            data: Arc::new(data),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_index_builder_caps_values_and_keys() {
        let mut b = IndexBuilder::new(2);
        b.add(IndexScope::Span, "http.route", "/a", 0);
        b.add(IndexScope::Span, "http.route", "/a", 0);
        b.add(IndexScope::Span, "http.route", "/b", 1);
        b.add(IndexScope::Span, "http.route", "/a", 2);
        b.add(IndexScope::Span, "user", "1", 0);
        b.add(IndexScope::Span, "user", "2", 1);
        b.add(IndexScope::Span, "user", "3", 2);
        b.add(
            IndexScope::Span,
            "long",
            &"x".repeat(MAX_INDEXED_VALUE_BYTES + 1),
            0,
        );
        b.add(IndexScope::Intrinsic, "name", "GET", 1);
        let batch = b.finish().unwrap();
        let idx = AttributeIndex::from_batches(&[batch]).unwrap();
        assert_eq!(
            idx.lookup(IndexScope::Span, "http.route", "/a"),
            IndexAnswer::InRowGroups(vec![0, 2])
        );
        assert_eq!(
            idx.lookup(IndexScope::Span, "http.route", "/c"),
            IndexAnswer::Absent
        );
        assert_eq!(
            idx.lookup(IndexScope::Span, "user", "1"),
            IndexAnswer::NotIndexed
        );
        assert_eq!(
            idx.lookup(IndexScope::Span, "long", "x"),
            IndexAnswer::NotIndexed
        );
        assert_eq!(
            idx.lookup(IndexScope::Span, "nope", "x"),
            IndexAnswer::Absent
        );
        assert_eq!(
            idx.lookup(IndexScope::Intrinsic, "name", "GET"),
            IndexAnswer::InRowGroups(vec![1])
        );
        assert_eq!(
            idx.lookup(IndexScope::Resource, "name", "GET"),
            IndexAnswer::Absent
        );
        assert_eq!(
            idx.values(IndexScope::Span, "http.route"),
            Some(vec!["/a", "/b"])
        );
        assert_eq!(idx.values(IndexScope::Span, "user"), None);
    }

    #[test]
    fn block_index_scope_overflow_answers_not_indexed() {
        let mut b = IndexBuilder::new(10);
        for k in 0..=MAX_KEYS_PER_SCOPE {
            b.add(IndexScope::Resource, &format!("k{k}"), "v", 0);
        }
        let idx = AttributeIndex::from_batches(&[b.finish().unwrap()]).unwrap();
        assert_eq!(
            idx.lookup(IndexScope::Resource, "k0", "v"),
            IndexAnswer::InRowGroups(vec![0])
        );
        assert_eq!(
            idx.lookup(IndexScope::Resource, "k0", "w"),
            IndexAnswer::Absent
        );
        assert_eq!(
            idx.lookup(IndexScope::Resource, "unknown", "v"),
            IndexAnswer::NotIndexed
        );
        assert_eq!(
            idx.lookup(IndexScope::Span, "unknown", "v"),
            IndexAnswer::Absent
        );
    }
}
