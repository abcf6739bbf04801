//! The generic typed attribute list: building it from OTLP `KeyValue`s and reading it back,
//! plus small Arrow helpers shared by the reader.

use std::sync::Arc;

use arbor_model::otlp::{AnyValue, ArrayValue, KeyValue, KeyValueList, any_value::Value};
use arrow::array::{
    Array, ArrayAccessor, ArrayRef, BinaryArray, BinaryBuilder, BooleanArray, BooleanBuilder,
    DictionaryArray, Float64Array, Float64Builder, Int8Array, Int8Builder, Int64Array,
    Int64Builder, ListArray, StringArray, StringBuilder, StringDictionaryBuilder, StringViewArray,
    StructArray, TypedDictionaryArray,
};
use arrow::buffer::OffsetBuffer;
use arrow::datatypes::Int32Type;
use prost::Message;

use super::BlockError;
use super::schema::{self, ty};

pub(crate) fn corrupt(what: impl Into<String>) -> BlockError {
    BlockError::Corrupt { what: what.into() }
}

/// The typed fields of one attribute; at most one is set.
#[derive(Default)]
struct Cell<'a> {
    str: Option<&'a str>,
    int: Option<i64>,
    double: Option<f64>,
    bool: Option<bool>,
    bytes: Option<Vec<u8>>,
}

/// Accumulates attribute lists (one list per call to [`AttrBuilder::end_list`]).
pub(crate) struct AttrBuilder {
    key: StringDictionaryBuilder<Int32Type>,
    ty: Int8Builder,
    str: StringBuilder,
    int: Int64Builder,
    double: Float64Builder,
    bool: BooleanBuilder,
    bytes: BinaryBuilder,
    offsets: Vec<i32>,
    len: i32,
}

impl AttrBuilder {
    pub fn new() -> Self {
        Self {
            key: StringDictionaryBuilder::new(),
            ty: Int8Builder::new(),
            str: StringBuilder::new(),
            int: Int64Builder::new(),
            double: Float64Builder::new(),
            bool: BooleanBuilder::new(),
            bytes: BinaryBuilder::new(),
            offsets: vec![0],
            len: 0,
        }
    }

    /// Appends one attribute to the current list.
    pub fn push(&mut self, kv: &KeyValue) {
        self.len += 1;
        // Anything the typed fields cannot say exactly travels as the whole message.
        let raw = kv.key_strindex != 0
            || match &kv.value {
                None => true,
                Some(v) => matches!(v.value, Some(Value::StringValueStrindex(_))),
            };
        self.key.append_value(&kv.key);
        if raw {
            self.ty.append_value(ty::RAW);
            self.nulls_except_bytes();
            self.bytes.append_value(kv.encode_to_vec());
            return;
        }
        let Some(AnyValue { value }) = &kv.value else {
            unreachable!("raw covers a missing value")
        };
        let mut cell = Cell::default();
        let code = match value {
            None => ty::EMPTY,
            Some(Value::StringValue(s)) => {
                cell.str = Some(s);
                ty::STRING
            }
            Some(Value::BoolValue(b)) => {
                cell.bool = Some(*b);
                ty::BOOL
            }
            Some(Value::IntValue(i)) => {
                cell.int = Some(*i);
                ty::INT
            }
            Some(Value::DoubleValue(d)) => {
                cell.double = Some(*d);
                ty::DOUBLE
            }
            Some(Value::ArrayValue(a)) => {
                cell.bytes = Some(a.encode_to_vec());
                ty::ARRAY
            }
            Some(Value::KvlistValue(l)) => {
                cell.bytes = Some(l.encode_to_vec());
                ty::KVLIST
            }
            Some(Value::BytesValue(b)) => {
                cell.bytes = Some(b.clone());
                ty::BYTES
            }
            Some(Value::StringValueStrindex(_)) => unreachable!("raw covers strindex"),
        };
        self.ty.append_value(code);
        self.str.append_option(cell.str);
        self.int.append_option(cell.int);
        self.double.append_option(cell.double);
        self.bool.append_option(cell.bool);
        self.bytes.append_option(cell.bytes);
    }

    fn nulls_except_bytes(&mut self) {
        self.str.append_null();
        self.int.append_null();
        self.double.append_null();
        self.bool.append_null();
    }

    /// Closes the current list.
    pub fn end_list(&mut self) {
        self.offsets.push(self.len);
    }

    pub fn finish(mut self) -> Result<ListArray, BlockError> {
        let values = StructArray::try_new(
            schema::attr_struct_fields(),
            vec![
                Arc::new(self.key.finish()) as ArrayRef,
                Arc::new(self.ty.finish()),
                Arc::new(self.str.finish()),
                Arc::new(self.int.finish()),
                Arc::new(self.double.finish()),
                Arc::new(self.bool.finish()),
                Arc::new(self.bytes.finish()),
            ],
            None,
        )?;
        Ok(ListArray::try_new(
            schema::attr_item_field(),
            OffsetBuffer::new(self.offsets.into()),
            Arc::new(values),
            None,
        )?)
    }
}

/// A string column as Arrow may hand it back: plain, view or dictionary-encoded.
pub(crate) enum StrCol<'a> {
    Plain(&'a StringArray),
    View(&'a StringViewArray),
    Dict(TypedDictionaryArray<'a, Int32Type, StringArray>),
}

impl<'a> StrCol<'a> {
    pub fn new(arr: &'a dyn Array, what: &str) -> Result<Self, BlockError> {
        if let Some(a) = arr.as_any().downcast_ref::<StringArray>() {
            return Ok(Self::Plain(a));
        }
        if let Some(a) = arr.as_any().downcast_ref::<StringViewArray>() {
            return Ok(Self::View(a));
        }
        if let Some(d) = arr.as_any().downcast_ref::<DictionaryArray<Int32Type>>()
            && let Some(t) = d.downcast_dict::<StringArray>()
        {
            return Ok(Self::Dict(t));
        }
        Err(corrupt(format!(
            "column {what}: expected strings, found {}",
            arr.data_type()
        )))
    }

    pub fn get(&self, i: usize) -> Option<&'a str> {
        match self {
            Self::Plain(a) => a.is_valid(i).then(|| a.value(i)),
            Self::View(a) => a.is_valid(i).then(|| a.value(i)),
            Self::Dict(d) => {
                if d.is_valid(i) {
                    Some(d.value(i))
                } else {
                    None
                }
            }
        }
    }

    /// The value, with null read as the empty string.
    pub fn get_or_empty(&self, i: usize) -> &'a str {
        self.get(i).unwrap_or("")
    }
}

pub(crate) fn downcast<'a, T: 'static>(
    arr: &'a dyn Array,
    what: &str,
) -> Result<&'a T, BlockError> {
    arr.as_any().downcast_ref::<T>().ok_or_else(|| {
        corrupt(format!(
            "column {what}: unexpected type {}",
            arr.data_type()
        ))
    })
}

/// The column `name` of a struct array.
pub(crate) fn field<'a>(s: &'a StructArray, name: &str) -> Result<&'a ArrayRef, BlockError> {
    s.column_by_name(name)
        .ok_or_else(|| corrupt(format!("missing field {name}")))
}

/// Reads attribute lists back.
pub(crate) struct AttrReader<'a> {
    list: &'a ListArray,
    key: StrCol<'a>,
    ty: &'a Int8Array,
    str: StrCol<'a>,
    int: &'a Int64Array,
    double: &'a Float64Array,
    bool: &'a BooleanArray,
    bytes: &'a BinaryArray,
}

impl<'a> AttrReader<'a> {
    pub fn new(arr: &'a dyn Array) -> Result<Self, BlockError> {
        let list = downcast::<ListArray>(arr, "attributes")?;
        let values = downcast::<StructArray>(list.values().as_ref(), "attributes.item")?;
        Ok(Self {
            list,
            key: StrCol::new(field(values, schema::A_KEY)?.as_ref(), "attributes.key")?,
            ty: downcast(field(values, schema::A_TYPE)?.as_ref(), "attributes.type")?,
            str: StrCol::new(field(values, schema::A_STR)?.as_ref(), "attributes.str")?,
            int: downcast(field(values, schema::A_INT)?.as_ref(), "attributes.int")?,
            double: downcast(
                field(values, schema::A_DOUBLE)?.as_ref(),
                "attributes.double",
            )?,
            bool: downcast(field(values, schema::A_BOOL)?.as_ref(), "attributes.bool")?,
            bytes: downcast(field(values, schema::A_BYTES)?.as_ref(), "attributes.bytes")?,
        })
    }

    /// The attributes of list `row`, in order.
    pub fn read(&self, row: usize) -> Result<Vec<KeyValue>, BlockError> {
        let o = self.list.value_offsets();
        let (start, end) = (o[row] as usize, o[row + 1] as usize);
        let mut out = Vec::with_capacity(end - start);
        for i in start..end {
            out.push(self.read_one(i)?);
        }
        Ok(out)
    }

    fn read_one(&self, i: usize) -> Result<KeyValue, BlockError> {
        let code = self.ty.value(i);
        let key = self.key.get_or_empty(i).to_string();
        let bytes = || -> Result<&'a [u8], BlockError> {
            if self.bytes.is_valid(i) {
                Ok(self.bytes.value(i))
            } else {
                Err(corrupt(format!(
                    "attribute {key:?} of type {code} has no bytes"
                )))
            }
        };
        let value = match code {
            ty::RAW => {
                return KeyValue::decode(bytes()?)
                    .map_err(|e| corrupt(format!("raw attribute {key:?}: {e}")));
            }
            ty::EMPTY => None,
            ty::STRING => Some(Value::StringValue(
                self.str
                    .get(i)
                    .ok_or_else(|| corrupt(format!("string attribute {key:?} has no value")))?
                    .to_string(),
            )),
            ty::BOOL => Some(Value::BoolValue(nonnull(self.bool, i, &key)?.value(i))),
            ty::INT => Some(Value::IntValue(nonnull(self.int, i, &key)?.value(i))),
            ty::DOUBLE => Some(Value::DoubleValue(nonnull(self.double, i, &key)?.value(i))),
            ty::ARRAY => Some(Value::ArrayValue(
                ArrayValue::decode(bytes()?)
                    .map_err(|e| corrupt(format!("array attribute {key:?}: {e}")))?,
            )),
            ty::KVLIST => Some(Value::KvlistValue(
                KeyValueList::decode(bytes()?)
                    .map_err(|e| corrupt(format!("map attribute {key:?}: {e}")))?,
            )),
            ty::BYTES => Some(Value::BytesValue(bytes()?.to_vec())),
            other => {
                return Err(corrupt(format!(
                    "attribute {key:?}: unknown type code {other}"
                )));
            }
        };
        Ok(KeyValue {
            key,
            value: Some(AnyValue { value }),
            ..Default::default()
        })
    }
}

fn nonnull<'b, A: Array>(a: &'b A, i: usize, key: &str) -> Result<&'b A, BlockError> {
    if a.is_valid(i) {
        Ok(a)
    } else {
        Err(corrupt(format!("attribute {key:?} has a null value")))
    }
}

/// Appends `n` as an unsigned LEB128 varint.
pub(crate) fn put_varint(out: &mut Vec<u8>, mut n: u64) {
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

/// Decodes a sequence of unsigned LEB128 varints.
pub(crate) fn read_varints(mut b: &[u8]) -> Result<Vec<u64>, BlockError> {
    let mut out = Vec::new();
    while !b.is_empty() {
        let mut n = 0u64;
        let mut shift = 0;
        loop {
            let Some((&byte, rest)) = b.split_first() else {
                return Err(corrupt("truncated varint"));
            };
            b = rest;
            if shift > 63 {
                return Err(corrupt("varint too long"));
            }
            n |= u64::from(byte & 0x7f) << shift;
            shift += 7;
            if byte & 0x80 == 0 {
                break;
            }
        }
        out.push(n);
    }
    Ok(out)
}

/// The string value of an attribute that is a plain string (what dedicated columns and the
/// index take).
pub(crate) fn plain_string(kv: &KeyValue) -> Option<&str> {
    if kv.key_strindex != 0 {
        return None;
    }
    match &kv.value {
        Some(AnyValue {
            value: Some(Value::StringValue(s)),
        }) => Some(s),
        _ => None,
    }
}

/// Splits `attrs` into the values of the dedicated `keys` (the first plain-string occurrence
/// of each) and the rest. Returns the dedicated values (one per key), the positions blob
/// (`None` when no dedicated key was found) and the remaining attributes in order.
pub(crate) fn split_dedicated<'k>(
    attrs: &'k [KeyValue],
    keys: &[String],
) -> (Vec<Option<&'k str>>, Option<Vec<u8>>, Vec<&'k KeyValue>) {
    let mut values: Vec<Option<&str>> = vec![None; keys.len()];
    let mut pos: Vec<usize> = vec![0; keys.len()];
    let mut rest = Vec::with_capacity(attrs.len());
    for (i, kv) in attrs.iter().enumerate() {
        let slot = plain_string(kv).and_then(|s| {
            keys.iter()
                .position(|k| *k == kv.key)
                .filter(|&d| values[d].is_none())
                .map(|d| (d, s))
        });
        match slot {
            Some((d, s)) => {
                values[d] = Some(s);
                pos[d] = i;
            }
            None => rest.push(kv),
        }
    }
    let positions = if values.iter().any(Option::is_some) {
        let mut blob = Vec::new();
        for (v, p) in values.iter().zip(&pos) {
            if v.is_some() {
                put_varint(&mut blob, *p as u64);
            }
        }
        Some(blob)
    } else {
        None
    };
    (values, positions, rest)
}

/// The inverse of [`split_dedicated`]: puts the dedicated values back at their positions.
pub(crate) fn merge_dedicated(
    keys: &[String],
    values: Vec<Option<&str>>,
    positions: Option<&[u8]>,
    generic: Vec<KeyValue>,
) -> Result<Vec<KeyValue>, BlockError> {
    let present: Vec<(usize, &str)> = values
        .iter()
        .enumerate()
        .filter_map(|(i, v)| v.map(|v| (i, v)))
        .collect();
    if present.is_empty() {
        return Ok(generic);
    }
    let pos =
        read_varints(positions.ok_or_else(|| corrupt("dedicated values without positions"))?)?;
    if pos.len() != present.len() {
        return Err(corrupt(format!(
            "{} dedicated values but {} positions",
            present.len(),
            pos.len()
        )));
    }
    let total = generic.len() + present.len();
    let mut slots: Vec<Option<KeyValue>> = vec![None; total];
    for ((d, v), p) in present.into_iter().zip(pos) {
        let p = p as usize;
        if p >= total || slots[p].is_some() {
            return Err(corrupt(format!("bad dedicated position {p}")));
        }
        slots[p] = Some(KeyValue {
            key: keys[d].clone(),
            value: Some(AnyValue {
                value: Some(Value::StringValue(v.to_string())),
            }),
            ..Default::default()
        });
    }
    let mut generic = generic.into_iter();
    for s in slots.iter_mut() {
        if s.is_none() {
            *s = generic.next();
        }
    }
    slots
        .into_iter()
        .map(|s| s.ok_or_else(|| corrupt("dedicated positions leave a gap")))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_varints_round_trip() {
        let mut b = Vec::new();
        for n in [0u64, 1, 127, 128, 300, u64::MAX] {
            put_varint(&mut b, n);
        }
        assert_eq!(
            read_varints(&b).unwrap(),
            vec![0, 1, 127, 128, 300, u64::MAX]
        );
        assert!(read_varints(&[0x80]).is_err());
    }

    #[test]
    fn block_dedicated_split_and_merge_keep_order() {
        let kv = |k: &str, v: &str| arbor_model::otlp::kv_str(k, v);
        let attrs = vec![
            arbor_model::otlp::kv_int("a", 1),
            kv("http.route", "/x"),
            kv("b", "y"),
            kv("http.route", "/dup"),
            kv("db.system", "pg"),
        ];
        let keys = vec!["db.system".to_string(), "http.route".to_string()];
        let (values, pos, rest) = split_dedicated(&attrs, &keys);
        assert_eq!(values, vec![Some("pg"), Some("/x")]);
        assert_eq!(rest.len(), 3);
        let rest: Vec<KeyValue> = rest.into_iter().cloned().collect();
        let back = merge_dedicated(&keys, values, pos.as_deref(), rest).unwrap();
        assert_eq!(back, attrs);
    }
}
