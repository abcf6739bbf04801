//! Arrow batches of a block's files back into spans, resources and scopes.

use std::ops::Range;
use std::sync::Arc;

use arbor_model::TraceId;
use arbor_model::otlp::{Event, InstrumentationScope, Link, Resource, Span, Status};
use arrow::array::{
    Array, BinaryArray, BooleanArray, FixedSizeBinaryArray, Int32Array, ListArray, RecordBatch,
    StructArray, UInt32Array, UInt64Array,
};
use prost::Message;

use super::{Inner, Tables};
use crate::block::BlockError;
use crate::block::attrs::{AttrReader, StrCol, corrupt, downcast, field, merge_dedicated};
use crate::block::schema;
use crate::head::{HeadSpan, ResourceEntry, ScopeEntry};

pub(super) fn column<'a>(b: &'a RecordBatch, name: &str) -> Result<&'a dyn Array, BlockError> {
    b.column_by_name(name)
        .map(|c| c.as_ref())
        .ok_or_else(|| corrupt(format!("missing column {name}")))
}

pub(super) fn fsb<'a>(
    a: &'a dyn Array,
    what: &str,
    width: i32,
) -> Result<&'a FixedSizeBinaryArray, BlockError> {
    let a = downcast::<FixedSizeBinaryArray>(a, what)?;
    if a.value_length() != width {
        return Err(corrupt(format!(
            "column {what}: width {}",
            a.value_length()
        )));
    }
    Ok(a)
}

/// Decodes a batch of `spans.parquet` rows.
pub(super) fn decode_spans(
    b: &RecordBatch,
    inner: &Inner,
    tables: &Tables,
) -> Result<Vec<(TraceId, HeadSpan)>, BlockError> {
    let trace_id = fsb(column(b, schema::TRACE_ID)?, schema::TRACE_ID, 16)?;
    let span_id = fsb(column(b, schema::SPAN_ID)?, schema::SPAN_ID, 8)?;
    let parent = fsb(
        column(b, schema::PARENT_SPAN_ID)?,
        schema::PARENT_SPAN_ID,
        8,
    )?;
    let trace_state = StrCol::new(column(b, schema::TRACE_STATE)?, schema::TRACE_STATE)?;
    let flags: &UInt32Array = downcast(column(b, schema::FLAGS)?, schema::FLAGS)?;
    let name = StrCol::new(column(b, schema::NAME)?, schema::NAME)?;
    let kind: &Int32Array = downcast(column(b, schema::KIND)?, schema::KIND)?;
    let start: &UInt64Array = downcast(column(b, schema::START)?, schema::START)?;
    let duration: &UInt64Array = downcast(column(b, schema::DURATION)?, schema::DURATION)?;
    let status_code: &Int32Array = downcast(column(b, schema::STATUS_CODE)?, schema::STATUS_CODE)?;
    let status_message = StrCol::new(column(b, schema::STATUS_MESSAGE)?, schema::STATUS_MESSAGE)?;
    let resource: &UInt32Array =
        downcast(column(b, schema::RESOURCE_INDEX)?, schema::RESOURCE_INDEX)?;
    let scope: &UInt32Array = downcast(column(b, schema::SCOPE_INDEX)?, schema::SCOPE_INDEX)?;
    let dropped_attrs: &UInt32Array = downcast(
        column(b, schema::DROPPED_ATTRIBUTES)?,
        schema::DROPPED_ATTRIBUTES,
    )?;
    let dropped_events: &UInt32Array =
        downcast(column(b, schema::DROPPED_EVENTS)?, schema::DROPPED_EVENTS)?;
    let dropped_links: &UInt32Array =
        downcast(column(b, schema::DROPPED_LINKS)?, schema::DROPPED_LINKS)?;
    let dedicated = inner
        .span_columns
        .iter()
        .map(|c| StrCol::new(column(b, c)?, c))
        .collect::<Result<Vec<_>, _>>()?;
    let positions: &BinaryArray = downcast(
        column(b, schema::DEDICATED_POSITIONS)?,
        schema::DEDICATED_POSITIONS,
    )?;
    let attrs = AttrReader::new(column(b, schema::ATTRIBUTES)?)?;
    let events = EventsReader::new(column(b, schema::EVENTS)?)?;
    let links = LinksReader::new(column(b, schema::LINKS)?)?;

    let mut out = Vec::with_capacity(b.num_rows());
    for i in 0..b.num_rows() {
        let tid = TraceId(
            trace_id
                .value(i)
                .try_into()
                .map_err(|_| corrupt("trace_id width"))?,
        );
        let values: Vec<Option<&str>> = dedicated.iter().map(|d| d.get(i)).collect();
        let attributes = merge_dedicated(
            &inner.span_keys,
            values,
            positions.is_valid(i).then(|| positions.value(i)),
            attrs.read(i)?,
        )?;
        let status = if status_code.is_valid(i) {
            Some(Status {
                message: status_message.get_or_empty(i).to_string(),
                code: status_code.value(i),
            })
        } else {
            None
        };
        let start_ns = start.value(i);
        let span = Span {
            trace_id: tid.0.to_vec(),
            span_id: span_id.value(i).to_vec(),
            trace_state: trace_state.get_or_empty(i).to_string(),
            parent_span_id: if parent.is_valid(i) {
                parent.value(i).to_vec()
            } else {
                Vec::new()
            },
            flags: flags.value(i),
            name: name.get_or_empty(i).to_string(),
            kind: kind.value(i),
            start_time_unix_nano: start_ns,
            end_time_unix_nano: start_ns.wrapping_add(duration.value(i)),
            attributes,
            dropped_attributes_count: dropped_attrs.value(i),
            events: events.read(i)?,
            dropped_events_count: dropped_events.value(i),
            links: links.read(i)?,
            dropped_links_count: dropped_links.value(i),
            status,
        };
        let r = resource.value(i) as usize;
        let s = scope.value(i) as usize;
        let resource = tables
            .resources
            .get(r)
            .ok_or_else(|| corrupt(format!("resource index {r} out of range")))?
            .clone();
        let scope = tables
            .scopes
            .get(s)
            .ok_or_else(|| corrupt(format!("scope index {s} out of range")))?
            .clone();
        out.push((
            tid,
            HeadSpan {
                resource,
                scope,
                span,
            },
        ));
    }
    Ok(out)
}

fn list_struct<'a>(
    a: &'a dyn Array,
    what: &str,
) -> Result<(&'a ListArray, &'a StructArray), BlockError> {
    let list = downcast::<ListArray>(a, what)?;
    let values = downcast::<StructArray>(list.values().as_ref(), what)?;
    Ok((list, values))
}

fn list_range(list: &ListArray, row: usize) -> Range<usize> {
    let o = list.value_offsets();
    o[row] as usize..o[row + 1] as usize
}

struct EventsReader<'a> {
    list: &'a ListArray,
    time: &'a UInt64Array,
    name: StrCol<'a>,
    attrs: AttrReader<'a>,
    dropped: &'a UInt32Array,
}

impl<'a> EventsReader<'a> {
    fn new(a: &'a dyn Array) -> Result<Self, BlockError> {
        let (list, s) = list_struct(a, schema::EVENTS)?;
        Ok(Self {
            list,
            time: downcast(field(s, schema::TIME)?.as_ref(), "events.time_unix_nano")?,
            name: StrCol::new(field(s, schema::NAME)?.as_ref(), "events.name")?,
            attrs: AttrReader::new(field(s, schema::ATTRIBUTES)?.as_ref())?,
            dropped: downcast(
                field(s, schema::DROPPED_ATTRIBUTES)?.as_ref(),
                "events.dropped",
            )?,
        })
    }

    fn read(&self, row: usize) -> Result<Vec<Event>, BlockError> {
        list_range(self.list, row)
            .map(|j| {
                Ok(Event {
                    time_unix_nano: self.time.value(j),
                    name: self.name.get_or_empty(j).to_string(),
                    attributes: self.attrs.read(j)?,
                    dropped_attributes_count: self.dropped.value(j),
                })
            })
            .collect()
    }
}

struct LinksReader<'a> {
    list: &'a ListArray,
    trace_id: &'a FixedSizeBinaryArray,
    span_id: &'a FixedSizeBinaryArray,
    trace_state: StrCol<'a>,
    flags: &'a UInt32Array,
    attrs: AttrReader<'a>,
    dropped: &'a UInt32Array,
}

impl<'a> LinksReader<'a> {
    fn new(a: &'a dyn Array) -> Result<Self, BlockError> {
        let (list, s) = list_struct(a, schema::LINKS)?;
        Ok(Self {
            list,
            trace_id: fsb(field(s, schema::TRACE_ID)?.as_ref(), "links.trace_id", 16)?,
            span_id: fsb(field(s, schema::SPAN_ID)?.as_ref(), "links.span_id", 8)?,
            trace_state: StrCol::new(field(s, schema::TRACE_STATE)?.as_ref(), "links.trace_state")?,
            flags: downcast(field(s, schema::FLAGS)?.as_ref(), "links.flags")?,
            attrs: AttrReader::new(field(s, schema::ATTRIBUTES)?.as_ref())?,
            dropped: downcast(
                field(s, schema::DROPPED_ATTRIBUTES)?.as_ref(),
                "links.dropped",
            )?,
        })
    }

    fn read(&self, row: usize) -> Result<Vec<Link>, BlockError> {
        list_range(self.list, row)
            .map(|j| {
                Ok(Link {
                    trace_id: self.trace_id.value(j).to_vec(),
                    span_id: self.span_id.value(j).to_vec(),
                    trace_state: self.trace_state.get_or_empty(j).to_string(),
                    attributes: self.attrs.read(j)?,
                    dropped_attributes_count: self.dropped.value(j),
                    flags: self.flags.value(j),
                })
            })
            .collect()
    }
}

/// Checks that the `index` column of a table numbers its rows 0, 1, 2, …
fn check_index(b: &RecordBatch, first: usize, what: &str) -> Result<(), BlockError> {
    let index: &UInt32Array = downcast(column(b, schema::INDEX)?, what)?;
    for i in 0..b.num_rows() {
        if index.value(i) as usize != first + i {
            return Err(corrupt(format!(
                "{what}: row {} has index {}",
                first + i,
                index.value(i)
            )));
        }
    }
    Ok(())
}

pub(super) fn decode_resources(
    batches: &[RecordBatch],
    inner: &Inner,
) -> Result<Vec<Arc<ResourceEntry>>, BlockError> {
    let mut out = Vec::new();
    for b in batches {
        check_index(b, out.len(), schema::RESOURCES_FILE)?;
        let present: &BooleanArray = downcast(column(b, schema::PRESENT)?, "resources.present")?;
        let schema_url = StrCol::new(column(b, schema::SCHEMA_URL)?, "resources.schema_url")?;
        let dedicated = inner
            .resource_columns
            .iter()
            .map(|c| StrCol::new(column(b, c)?, c))
            .collect::<Result<Vec<_>, _>>()?;
        let positions: &BinaryArray = downcast(
            column(b, schema::DEDICATED_POSITIONS)?,
            "resources.dedicated_positions",
        )?;
        let attrs = AttrReader::new(column(b, schema::ATTRIBUTES)?)?;
        let dropped: &UInt32Array =
            downcast(column(b, schema::DROPPED_ATTRIBUTES)?, "resources.dropped")?;
        let refs = downcast::<ListArray>(column(b, schema::ENTITY_REFS)?, "resources.entity_refs")?;
        let ref_values = downcast::<BinaryArray>(refs.values().as_ref(), "resources.entity_refs")?;
        for i in 0..b.num_rows() {
            let resource = if present.value(i) {
                let values: Vec<Option<&str>> = dedicated.iter().map(|d| d.get(i)).collect();
                let attributes = merge_dedicated(
                    &inner.resource_keys,
                    values,
                    positions.is_valid(i).then(|| positions.value(i)),
                    attrs.read(i)?,
                )?;
                let entity_refs = list_range(refs, i)
                    .map(|j| {
                        Message::decode(ref_values.value(j))
                            .map_err(|e| corrupt(format!("resource entity ref: {e}")))
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                Some(Resource {
                    attributes,
                    dropped_attributes_count: dropped.value(i),
                    entity_refs,
                })
            } else {
                None
            };
            out.push(Arc::new(ResourceEntry {
                resource,
                schema_url: schema_url.get_or_empty(i).to_string(),
            }));
        }
    }
    Ok(out)
}

pub(super) fn decode_scopes(batches: &[RecordBatch]) -> Result<Vec<Arc<ScopeEntry>>, BlockError> {
    let mut out = Vec::new();
    for b in batches {
        check_index(b, out.len(), schema::SCOPES_FILE)?;
        let present: &BooleanArray = downcast(column(b, schema::PRESENT)?, "scopes.present")?;
        let schema_url = StrCol::new(column(b, schema::SCHEMA_URL)?, "scopes.schema_url")?;
        let name = StrCol::new(column(b, schema::NAME)?, "scopes.name")?;
        let version = StrCol::new(column(b, schema::VERSION_COL)?, "scopes.version")?;
        let attrs = AttrReader::new(column(b, schema::ATTRIBUTES)?)?;
        let dropped: &UInt32Array =
            downcast(column(b, schema::DROPPED_ATTRIBUTES)?, "scopes.dropped")?;
        for i in 0..b.num_rows() {
            let scope = if present.value(i) {
                Some(InstrumentationScope {
                    name: name.get_or_empty(i).to_string(),
                    version: version.get_or_empty(i).to_string(),
                    attributes: attrs.read(i)?,
                    dropped_attributes_count: dropped.value(i),
                })
            } else {
                None
            };
            out.push(Arc::new(ScopeEntry {
                scope,
                schema_url: schema_url.get_or_empty(i).to_string(),
            }));
        }
    }
    Ok(out)
}
