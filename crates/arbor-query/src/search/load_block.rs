//! Loads rows of a block's `spans.parquet` (Arrow batches of the columns a query reads) into
//! a [`SpanBatch`].
//!
//! Which Parquet columns a field needs: intrinsics have their own columns; a span attribute
//! lives in its dedicated column (`span.<key>`) when the block has one, and otherwise (or
//! also, when the block says some span holds the key in its generic list too) in
//! `attributes`; resource and scope attributes come from the block's resource and scope
//! tables through `resource_index` and `scope_index`; event and link fields from `events`
//! and `links`.

use std::collections::HashMap;
use std::sync::Arc;

use arbor_model::TraceId;
use arbor_storage::block::schema as s;
use arbor_storage::head::{ResourceEntry, ScopeEntry};
use arrow::array::{
    Array, ArrayRef, BooleanArray, DictionaryArray, FixedSizeBinaryArray, Float64Array, Int8Array,
    Int32Array, Int64Array, ListArray, RecordBatch, StringArray, StructArray, UInt32Array,
    UInt64Array,
};
use arrow::datatypes::Int32Type;

use super::batch::{
    Col, ColBuilder, FieldKey, Needs, SpanBatch, TracePart, Val, kind_val, span_id_hex,
    span_id_num, status_val,
};
use super::load_head::{find, push_any};
use super::value::V;
use crate::traceql::{Intrinsic, Scope};
use crate::visibility::Visibility;

/// How a block stores the fields of a query.
pub struct Layout {
    /// Dedicated span-attribute key → (column, also in the generic list).
    pub dedicated: HashMap<String, (String, bool)>,
    pub resources: Vec<Arc<ResourceEntry>>,
    pub scopes: Vec<Arc<ScopeEntry>>,
    /// Per resource, whether a narrowed token may see its spans (worked out on first use).
    pub visible: std::sync::OnceLock<Vec<bool>>,
}

/// The `spans.parquet` columns `needs` reads.
pub fn columns(needs: &Needs, layout: &Layout) -> Vec<String> {
    let mut cols = vec![s::TRACE_ID.to_string()];
    let mut add = |c: &str| {
        if !cols.iter().any(|x| x == c) {
            cols.push(c.to_string());
        }
    };
    if needs.scope.is_some() {
        add(s::RESOURCE_INDEX);
    }
    if needs.ids {
        add(s::SPAN_ID);
        add(s::PARENT_SPAN_ID);
    }
    if needs.starts {
        add(s::START);
    }
    if needs.durations {
        add(s::DURATION);
    }
    for key in &needs.base {
        if let Some((scope, name)) = key.attribute() {
            match scope {
                Scope::Span => match layout.dedicated.get(name) {
                    Some((col, also)) => {
                        add(col);
                        if *also {
                            add(s::ATTRIBUTES);
                        }
                    }
                    None => add(s::ATTRIBUTES),
                },
                Scope::Resource => add(s::RESOURCE_INDEX),
                Scope::Instrumentation => add(s::SCOPE_INDEX),
                Scope::Event => add(s::EVENTS),
                Scope::Link => add(s::LINKS),
                Scope::None => {}
            }
            continue;
        }
        match key.intrinsic() {
            Some(Intrinsic::Name) => add(s::NAME),
            Some(Intrinsic::Status) => add(s::STATUS_CODE),
            Some(Intrinsic::StatusMessage) => add(s::STATUS_MESSAGE),
            Some(Intrinsic::Kind) => add(s::KIND),
            Some(Intrinsic::InstrumentationName | Intrinsic::InstrumentationVersion) => {
                add(s::SCOPE_INDEX)
            }
            Some(Intrinsic::EventName) => add(s::EVENTS),
            Some(Intrinsic::EventTimeSinceStart) => {
                add(s::EVENTS);
                add(s::START);
            }
            Some(Intrinsic::LinkTraceId | Intrinsic::LinkSpanId) => add(s::LINKS),
            _ => {}
        }
    }
    cols
}

/// Why a batch could not be read.
#[derive(Debug, thiserror::Error)]
#[error("block data: {0}")]
pub struct LoadError(pub String);

fn col<'a>(b: &'a RecordBatch, name: &str) -> Result<&'a ArrayRef, LoadError> {
    b.column_by_name(name)
        .ok_or_else(|| LoadError(format!("missing column {name}")))
}

fn down<'a, T: 'static>(a: &'a dyn Array, what: &str) -> Result<&'a T, LoadError> {
    a.as_any()
        .downcast_ref::<T>()
        .ok_or_else(|| LoadError(format!("column {what}: unexpected type {}", a.data_type())))
}

/// A string column, plain or dictionary-encoded, as a [`Col`] over Arrow's array (null
/// reads as nil). The status message reads null as the empty string instead.
fn str_col(a: &ArrayRef, null_empty: bool) -> Result<Col, LoadError> {
    if null_empty && a.null_count() > 0 {
        let c = Col::from_arrow_str(a.clone())
            .ok_or_else(|| LoadError(format!("expected strings, found {}", a.data_type())))?;
        let mut b = ColBuilder::default();
        for i in 0..a.len() {
            match c.first(i) {
                V::Str(s) => b.push_str(s),
                _ => b.push_str(""),
            }
        }
        return Ok(b.finish());
    }
    Col::from_arrow_str(a.clone())
        .ok_or_else(|| LoadError(format!("expected strings, found {}", a.data_type())))
}

/// A generic attribute list (`LIST<STRUCT<key, type, str, int, double, bool, bytes>>`).
struct AttrList<'a> {
    offsets: &'a [i32],
    keys: KeyMatch<'a>,
    types: &'a Int8Array,
    strs: &'a StringArray,
    ints: &'a Int64Array,
    doubles: &'a Float64Array,
    bools: &'a BooleanArray,
}

/// Which entries carry the wanted key: by dictionary index when the keys are dictionary
/// encoded (decided once per distinct key), else by string.
enum KeyMatch<'a> {
    Dict(&'a Int32Array, Vec<bool>),
    Plain(&'a StringArray, String),
}

impl<'a> AttrList<'a> {
    fn new(list: &'a ListArray, key: &str) -> Result<Self, LoadError> {
        let st = down::<StructArray>(list.values().as_ref(), "attribute struct")?;
        let field = |n: &str| {
            st.column_by_name(n)
                .ok_or_else(|| LoadError(format!("attribute struct has no {n}")))
        };
        let k = field(s::A_KEY)?;
        let keys = if let Some(d) = k.as_any().downcast_ref::<DictionaryArray<Int32Type>>() {
            let values = down::<StringArray>(d.values().as_ref(), "attribute keys")?;
            let hit = (0..values.len()).map(|i| values.value(i) == key).collect();
            KeyMatch::Dict(d.keys(), hit)
        } else {
            KeyMatch::Plain(
                down::<StringArray>(k.as_ref(), "attribute key")?,
                key.to_string(),
            )
        };
        Ok(AttrList {
            offsets: list.value_offsets(),
            keys,
            types: down(field(s::A_TYPE)?.as_ref(), "attribute type")?,
            strs: down(field(s::A_STR)?.as_ref(), "attribute str")?,
            ints: down(field(s::A_INT)?.as_ref(), "attribute int")?,
            doubles: down(field(s::A_DOUBLE)?.as_ref(), "attribute double")?,
            bools: down(field(s::A_BOOL)?.as_ref(), "attribute bool")?,
        })
    }

    fn is_key(&self, e: usize) -> bool {
        match &self.keys {
            KeyMatch::Dict(k, hit) => hit[k.value(e) as usize],
            KeyMatch::Plain(a, key) => a.value(e) == key,
        }
    }

    /// The first entry with the key among list element `i`'s entries.
    fn find(&self, i: usize) -> Option<usize> {
        (self.offsets[i] as usize..self.offsets[i + 1] as usize).find(|&e| self.is_key(e))
    }

    fn val(&self, e: usize, b: &mut ColBuilder) -> Val {
        match self.types.value(e) {
            s::ty::STRING => Val::Str(b.str_index(self.strs.value(e))),
            s::ty::INT => Val::Int(self.ints.value(e)),
            s::ty::DOUBLE => Val::Float(self.doubles.value(e)),
            s::ty::BOOL => Val::Bool(self.bools.value(e)),
            _ => Val::Nil,
        }
    }
}

/// The rows of `b` that `scope` admits: for a filter of resource attributes, by the rows'
/// resource (every row when it admits every resource); else by the filter evaluated on the
/// columns it reads.
fn visible_rows(
    b: RecordBatch,
    scope: &Visibility,
    layout: &Layout,
) -> Result<RecordBatch, LoadError> {
    if !scope.by_resource() {
        let mut cols = SpanBatch {
            len: b.num_rows(),
            ..Default::default()
        };
        for key in scope.fields() {
            let c = field(&b, &cols, key, layout)?;
            cols.cols.insert(key.clone(), c);
        }
        let keep = BooleanArray::from(scope.mask(&cols));
        return arrow::compute::filter_record_batch(&b, &keep)
            .map_err(|e| LoadError(e.to_string()));
    }
    let admitted = layout
        .visible
        .get_or_init(|| scope.admits_each(&layout.resources));
    if admitted.iter().all(|a| *a) {
        return Ok(b);
    }
    let idx = down::<UInt32Array>(col(&b, s::RESOURCE_INDEX)?.as_ref(), s::RESOURCE_INDEX)?;
    let keep: BooleanArray = idx
        .values()
        .iter()
        .map(|&r| Some(admitted.get(r as usize).copied().unwrap_or(false)))
        .collect();
    arrow::compute::filter_record_batch(&b, &keep).map_err(|e| LoadError(e.to_string()))
}

fn struct_field<'a>(st: &'a StructArray, name: &str) -> Result<&'a ArrayRef, LoadError> {
    st.column_by_name(name)
        .ok_or_else(|| LoadError(format!("struct has no {name}")))
}

/// Builds a batch from one row group's batches (the columns of [`columns`]).
pub fn load(
    batches: &[RecordBatch],
    needs: &Needs,
    layout: &Layout,
) -> Result<SpanBatch, LoadError> {
    let b = match batches.len() {
        0 => return Ok(SpanBatch::default()),
        1 => batches[0].clone(),
        _ => arrow::compute::concat_batches(&batches[0].schema(), batches)
            .map_err(|e| LoadError(e.to_string()))?,
    };
    let b = match &needs.scope {
        Some(v) => visible_rows(b, v, layout)?,
        None => b,
    };
    let n = b.num_rows();
    let mut batch = SpanBatch {
        len: n,
        ..Default::default()
    };
    // Without trace IDs (a first read that needs no grouping), the batch has no parts.
    let ids = match b.column_by_name(s::TRACE_ID) {
        Some(c) => Some(down::<FixedSizeBinaryArray>(c.as_ref(), s::TRACE_ID)?),
        None => None,
    };
    let mut i = 0;
    while let Some(ids) = ids
        && i < n
    {
        let id = ids.value(i);
        let mut j = i + 1;
        while j < n && ids.value(j) == id {
            j += 1;
        }
        batch.traces.push(TracePart {
            id: TraceId::from_bytes(id).map_err(|e| LoadError(e.to_string()))?,
            rows: i as u32..j as u32,
        });
        i = j;
    }
    if needs.ids {
        let sid = down::<FixedSizeBinaryArray>(col(&b, s::SPAN_ID)?.as_ref(), s::SPAN_ID)?;
        let pid =
            down::<FixedSizeBinaryArray>(col(&b, s::PARENT_SPAN_ID)?.as_ref(), s::PARENT_SPAN_ID)?;
        batch.span_ids = (0..n).map(|i| span_id_num(sid.value(i))).collect();
        batch.parents = (0..n)
            .map(|i| {
                if pid.is_valid(i) {
                    span_id_num(pid.value(i))
                } else {
                    0
                }
            })
            .collect();
    }
    if needs.starts
        || needs
            .base
            .contains(&FieldKey::intr(Intrinsic::EventTimeSinceStart))
    {
        batch.starts = down::<UInt64Array>(col(&b, s::START)?.as_ref(), s::START)?
            .values()
            .to_vec();
    }
    if needs.durations {
        batch.durations = down::<UInt64Array>(col(&b, s::DURATION)?.as_ref(), s::DURATION)?
            .values()
            .to_vec();
    }
    let mut keys: Vec<&FieldKey> = needs.base.iter().collect();
    keys.sort();
    for key in keys {
        let c = field(&b, &batch, key, layout)?;
        batch.cols.insert(key.clone(), c);
    }
    batch.derive(needs);
    Ok(batch)
}

fn field(
    b: &RecordBatch,
    batch: &SpanBatch,
    key: &FieldKey,
    layout: &Layout,
) -> Result<Col, LoadError> {
    let n = b.num_rows();
    if let Some((scope, name)) = key.attribute() {
        return match scope {
            Scope::Span => span_attr(b, name, layout),
            Scope::Resource => {
                let idx =
                    down::<UInt32Array>(col(b, s::RESOURCE_INDEX)?.as_ref(), s::RESOURCE_INDEX)?;
                Ok(gather(idx, &layout.resources, |r| {
                    r.resource.as_ref().and_then(|r| find(&r.attributes, name))
                }))
            }
            Scope::Instrumentation => {
                let idx = down::<UInt32Array>(col(b, s::SCOPE_INDEX)?.as_ref(), s::SCOPE_INDEX)?;
                Ok(gather(idx, &layout.scopes, |sc| {
                    sc.scope.as_ref().and_then(|x| find(&x.attributes, name))
                }))
            }
            Scope::Event | Scope::Link => {
                let (list_col, attrs_field) = if scope == Scope::Event {
                    (s::EVENTS, s::ATTRIBUTES)
                } else {
                    (s::LINKS, s::ATTRIBUTES)
                };
                let list = down::<ListArray>(col(b, list_col)?.as_ref(), list_col)?;
                let st = down::<StructArray>(list.values().as_ref(), list_col)?;
                let inner =
                    down::<ListArray>(struct_field(st, attrs_field)?.as_ref(), "attributes")?;
                let attrs = AttrList::new(inner, name)?;
                let mut cb = ColBuilder::multi();
                let off = list.value_offsets();
                for row in 0..n {
                    for item in off[row] as usize..off[row + 1] as usize {
                        if let Some(e) = attrs.find(item) {
                            let v = attrs.val(e, &mut cb);
                            cb.push(v);
                        }
                    }
                    cb.end_row();
                }
                Ok(cb.finish())
            }
            Scope::None => Err(LoadError("unscoped attributes are derived".into())),
        };
    }
    let Some(i) = key.intrinsic() else {
        return Err(LoadError("unknown field".into()));
    };
    Ok(match i {
        Intrinsic::Name => str_col(col(b, s::NAME)?, false)?,
        Intrinsic::StatusMessage => str_col(col(b, s::STATUS_MESSAGE)?, true)?,
        Intrinsic::Status => {
            let a = down::<Int32Array>(col(b, s::STATUS_CODE)?.as_ref(), s::STATUS_CODE)?;
            Col::plain(
                (0..n)
                    .map(|i| status_val(a.is_valid(i).then(|| a.value(i))))
                    .collect(),
            )
        }
        Intrinsic::Kind => {
            let a = down::<Int32Array>(col(b, s::KIND)?.as_ref(), s::KIND)?;
            Col::plain(a.values().iter().map(|k| kind_val(*k)).collect())
        }
        Intrinsic::InstrumentationName | Intrinsic::InstrumentationVersion => {
            let idx = down::<UInt32Array>(col(b, s::SCOPE_INDEX)?.as_ref(), s::SCOPE_INDEX)?;
            let mut cb = ColBuilder::default();
            let per: Vec<Val> = layout
                .scopes
                .iter()
                .map(|sc| match &sc.scope {
                    Some(x) if i == Intrinsic::InstrumentationName => {
                        Val::Str(cb.str_index(&x.name))
                    }
                    Some(x) => Val::Str(cb.str_index(&x.version)),
                    None => Val::Nil,
                })
                .collect();
            for r in 0..n {
                cb.push(per.get(idx.value(r) as usize).copied().unwrap_or(Val::Nil));
            }
            cb.finish()
        }
        Intrinsic::EventName | Intrinsic::EventTimeSinceStart => {
            let list = down::<ListArray>(col(b, s::EVENTS)?.as_ref(), s::EVENTS)?;
            let st = down::<StructArray>(list.values().as_ref(), s::EVENTS)?;
            let names = down::<StringArray>(struct_field(st, s::NAME)?.as_ref(), "event name")?;
            let times = down::<UInt64Array>(struct_field(st, s::TIME)?.as_ref(), "event time")?;
            let mut cb = ColBuilder::multi();
            let off = list.value_offsets();
            for row in 0..n {
                for e in off[row] as usize..off[row + 1] as usize {
                    if i == Intrinsic::EventName {
                        cb.push_str(names.value(e));
                    } else {
                        cb.push(Val::Dur(
                            times.value(e).wrapping_sub(batch.starts[row]) as i64
                        ));
                    }
                }
                cb.end_row();
            }
            cb.finish()
        }
        Intrinsic::LinkTraceId | Intrinsic::LinkSpanId => {
            let list = down::<ListArray>(col(b, s::LINKS)?.as_ref(), s::LINKS)?;
            let st = down::<StructArray>(list.values().as_ref(), s::LINKS)?;
            let name = if i == Intrinsic::LinkTraceId {
                s::TRACE_ID
            } else {
                s::SPAN_ID
            };
            let ids = down::<FixedSizeBinaryArray>(struct_field(st, name)?.as_ref(), "link id")?;
            let mut cb = ColBuilder::multi();
            let off = list.value_offsets();
            for row in 0..n {
                for e in off[row] as usize..off[row + 1] as usize {
                    if i == Intrinsic::LinkTraceId {
                        cb.push_str(&hex::encode(ids.value(e)));
                    } else {
                        cb.push_str(&span_id_hex(span_id_num(ids.value(e))));
                    }
                }
                cb.end_row();
            }
            cb.finish()
        }
        _ => return Err(LoadError(format!("{} is derived", i.name()))),
    })
}

/// A per-resource (or per-scope) value, looked up once per table row, then per span.
fn gather<T>(
    idx: &UInt32Array,
    table: &[Arc<T>],
    get: impl Fn(&T) -> Option<&arbor_model::otlp::AnyValue>,
) -> Col {
    let mut cb = ColBuilder::default();
    let per: Vec<Val> = table
        .iter()
        .map(|t| {
            let mut tmp = ColBuilder::default();
            push_any(&mut tmp, get(t));
            let c = tmp.finish();
            match c.vals().first().copied() {
                Some(Val::Str(i)) => Val::Str(cb.str_index(c.strs.value(i as usize))),
                Some(v) => v,
                None => Val::Nil,
            }
        })
        .collect();
    for &i in idx.values().iter() {
        cb.push(per.get(i as usize).copied().unwrap_or(Val::Nil));
    }
    cb.finish()
}

fn span_attr(b: &RecordBatch, name: &str, layout: &Layout) -> Result<Col, LoadError> {
    let n = b.num_rows();
    let dedicated = layout.dedicated.get(name);
    let mut base = match dedicated {
        Some((c, _)) => Some(str_col(col(b, c)?, false)?),
        None => None,
    };
    let generic = match dedicated {
        Some((_, false)) => None,
        _ => Some(down::<ListArray>(
            col(b, s::ATTRIBUTES)?.as_ref(),
            s::ATTRIBUTES,
        )?),
    };
    let Some(list) = generic else {
        return Ok(base.expect("dedicated without generic"));
    };
    let attrs = AttrList::new(list, name)?;
    // Rows with no dedicated value take the generic list's first entry with the key.
    let mut cb = ColBuilder::default();
    for row in 0..n {
        if let Some(c) = base.as_mut()
            && let Val::Str(i) = c.vals()[row]
        {
            cb.push_str(c.strs.value(i as usize));
            continue;
        }
        match attrs.find(row) {
            Some(e) => {
                let v = attrs.val(e, &mut cb);
                cb.push(v);
            }
            None => cb.push(Val::Nil),
        }
    }
    Ok(cb.finish())
}
