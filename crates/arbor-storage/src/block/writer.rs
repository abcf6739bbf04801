//! [`BlockWriter`]: traces in, the files of one block out (as bytes; publishing is the
//! backend's job).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use arbor_model::TraceId;
use arbor_model::otlp::{KeyValue, Span, StatusCode};
use arrow::array::{
    ArrayRef, BinaryBuilder, BooleanArray, FixedSizeBinaryBuilder, Int32Array, ListArray,
    RecordBatch, StringBuilder, StringDictionaryBuilder, StructArray, UInt32Array, UInt64Array,
};
use arrow::buffer::OffsetBuffer;
use arrow::datatypes::{DataType, Field, Int32Type, SchemaRef};
use bytes::Bytes;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, Encoding, ZstdLevel};
use parquet::file::metadata::{KeyValue as ParquetKv, SortingColumn};
use parquet::file::properties::{EnabledStatistics, WriterProperties, WriterPropertiesBuilder};
use parquet::schema::types::ColumnPath;
use prost::Message;

use super::attrs::{AttrBuilder, plain_string, split_dedicated};
use super::filter::{self, TraceFilter};
use super::index::{IndexBuilder, IndexScope, TypedIndexScope};
use super::meta::{
    BlockFile, BlockMeta, DedicatedColumn, FORMAT, FilterMeta, RowGroupMeta, VERSION, WalCoverage,
};
use super::schema::{self, dedicable_key};
use super::{BlockError, BlockWriteOptions, EncodedBlock};
use crate::head::{HeadSpan, ResourceEntry, ScopeEntry};
use crate::tags::{TagType, TagValue};

/// Rows per data page in `spans.parquet`: a lookup reads only the pages of a row group that
/// can hold its trace (page index), so pages are kept smaller than a row group.
pub(crate) const SPAN_PAGE_ROWS: usize = 4096;
/// Encodings of start times and durations (measured on realistic spans: start times are
/// random across traces, so plain 8-byte values compress best with zstd; durations are small
/// numbers, so delta bit-packing wins). BYTE_STREAM_SPLIT would be smaller still, but DuckDB
/// does not read it for integers.
const START_ENCODING: Encoding = Encoding::PLAIN;
const DURATION_ENCODING: Encoding = Encoding::DELTA_BINARY_PACKED;
/// Encoding of high-cardinality string columns.
const HIGH_CARD_ENCODING: Encoding = Encoding::DELTA_LENGTH_BYTE_ARRAY;
/// A trace bigger than this many row groups' worth of rows is split across row groups.
const MAX_ROW_GROUP_FACTOR: usize = 2;
/// Rows buffered before a batch goes to the trace table's writer.
const TRACE_BATCH: usize = 8_192;
/// Share of the sampled spans a key must appear in to get a dedicated column (1%).
const DEDICATED_MIN_SHARE_DIVISOR: usize = 100;

/// One span waiting for its row group.
struct Row {
    trace_id: TraceId,
    span: Span,
    resource: u32,
    scope: u32,
}

/// Distinct resources or scopes of the block, by content.
struct Interner<T> {
    /// Pointer of a shared entry seen before → its index. Every pointer in here belongs to an
    /// `Arc` held in `held`, so it cannot be reused for another entry.
    by_ptr: HashMap<usize, u32>,
    by_content: HashMap<Vec<u8>, u32>,
    entries: Vec<Arc<T>>,
    held: Vec<Arc<T>>,
}

impl<T> Interner<T> {
    fn new() -> Self {
        Self {
            by_ptr: HashMap::new(),
            by_content: HashMap::new(),
            entries: Vec::new(),
            held: Vec::new(),
        }
    }

    /// The entry's index, and whether it is new.
    fn intern(&mut self, e: &Arc<T>, content: impl FnOnce(&T) -> Vec<u8>) -> (u32, bool) {
        let ptr = Arc::as_ptr(e) as usize;
        if let Some(&i) = self.by_ptr.get(&ptr) {
            return (i, false);
        }
        let key = content(e);
        let (i, new) = match self.by_content.get(&key) {
            Some(&i) => (i, false),
            None => {
                let i = self.entries.len() as u32;
                self.entries.push(e.clone());
                self.by_content.insert(key, i);
                (i, true)
            }
        };
        self.by_ptr.insert(ptr, i);
        self.held.push(e.clone());
        (i, new)
    }
}

fn resource_key(r: &ResourceEntry) -> Vec<u8> {
    let mut k = Vec::new();
    k.push(r.resource.is_some() as u8);
    k.extend_from_slice(&(r.schema_url.len() as u64).to_le_bytes());
    k.extend_from_slice(r.schema_url.as_bytes());
    if let Some(res) = &r.resource {
        res.encode(&mut k).expect("vec grows");
    }
    k
}

fn scope_key(s: &ScopeEntry) -> Vec<u8> {
    let mut k = Vec::new();
    k.push(s.scope.is_some() as u8);
    k.extend_from_slice(&(s.schema_url.len() as u64).to_le_bytes());
    k.extend_from_slice(s.schema_url.as_bytes());
    if let Some(sc) = &s.scope {
        sc.encode(&mut k).expect("vec grows");
    }
    k
}

/// What the writer keeps about each resource for the index and the trace table.
struct ResourceInfo {
    /// `service.name`, for the `operation` index scope ("" when it has none).
    service: String,
    strings: Vec<(String, String)>,
    /// Non-string scalar values, for the `resource-typed` index scope.
    typed: Vec<(String, TagValue)>,
}

fn invalid(reason: String) -> BlockError {
    BlockError::InvalidSpan { reason }
}

/// Checks that a span fits the columns it is written to.
fn check_span(id: &TraceId, s: &Span) -> Result<(), BlockError> {
    if s.trace_id.as_slice() != id.as_bytes() {
        return Err(invalid(format!(
            "span of trace {} carries trace id {}",
            id.to_hex(),
            hex_of(&s.trace_id)
        )));
    }
    if s.span_id.len() != 8 {
        return Err(invalid(format!("span id of {} bytes", s.span_id.len())));
    }
    if !s.parent_span_id.is_empty() && s.parent_span_id.len() != 8 {
        return Err(invalid(format!(
            "parent span id of {} bytes",
            s.parent_span_id.len()
        )));
    }
    for l in &s.links {
        if l.trace_id.len() != 16 || l.span_id.len() != 8 {
            return Err(invalid(format!(
                "link ids of {} and {} bytes",
                l.trace_id.len(),
                l.span_id.len()
            )));
        }
    }
    Ok(())
}

fn hex_of(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Buffered rows of the trace table.
#[derive(Default)]
struct TraceRows {
    id: Vec<TraceId>,
    root_service: Vec<Option<String>>,
    root_name: Vec<Option<String>>,
    start: Vec<u64>,
    end: Vec<u64>,
    spans: Vec<u32>,
    errors: Vec<u32>,
}

impl TraceRows {
    fn len(&self) -> usize {
        self.id.len()
    }

    fn take_batch(&mut self) -> Result<RecordBatch, BlockError> {
        let t = std::mem::take(self);
        let mut ids = FixedSizeBinaryBuilder::with_capacity(t.id.len(), 16);
        for id in &t.id {
            ids.append_value(id.as_bytes())?;
        }
        let strings = |v: Vec<Option<String>>| {
            let mut b = StringBuilder::new();
            for s in v {
                b.append_option(s);
            }
            Arc::new(b.finish()) as ArrayRef
        };
        Ok(RecordBatch::try_new(
            schema::traces_schema(),
            vec![
                Arc::new(ids.finish()) as ArrayRef,
                strings(t.root_service),
                strings(t.root_name),
                Arc::new(UInt64Array::from(t.start)),
                Arc::new(UInt64Array::from(t.end)),
                Arc::new(UInt32Array::from(t.spans)),
                Arc::new(UInt32Array::from(t.errors)),
            ],
        )?)
    }
}

/// Streaming block writer: push traces in ascending trace-ID order, then [`finish`].
///
/// Memory: one row group of decoded spans, the compressed output, and per block only small
/// things: the distinct resources and scopes, the attribute index (capped), 8 bytes per trace
/// for the filter. Dedicated columns are chosen from the first row group's spans (buffered
/// until it is full), then fixed for the block.
///
/// [`finish`]: BlockWriter::finish
pub struct BlockWriter {
    tenant: String,
    opts: BlockWriteOptions,
    last: Option<TraceId>,
    rows: Vec<Row>,
    /// Span-attribute keys with their own column, once chosen.
    dedicated: Option<Vec<String>>,
    /// Per dedicated key: seen in some span's generic list too.
    dedicated_also_generic: Vec<bool>,
    spans_schema: Option<SchemaRef>,
    spans: Option<ArrowWriter<Vec<u8>>>,
    resources: Interner<ResourceEntry>,
    resource_info: Vec<ResourceInfo>,
    scopes: Interner<ScopeEntry>,
    /// Per scope: its attributes' scalar values, for the `instrumentation` index scope.
    scope_info: Vec<Vec<(String, TagValue)>>,
    trace_rows: TraceRows,
    traces: ArrowWriter<Vec<u8>>,
    index: IndexBuilder,
    hashes: Vec<u64>,
    row_groups: Vec<RowGroupMeta>,
    span_count: u64,
    trace_count: u64,
    min_id: Option<TraceId>,
    max_id: Option<TraceId>,
    start: u64,
    end: u64,
}

impl BlockWriter {
    pub fn new(tenant: &str, opts: BlockWriteOptions) -> Self {
        let opts = BlockWriteOptions {
            rows_per_row_group: opts.rows_per_row_group.max(1),
            ..opts
        };
        let traces_props = base_props(&opts, schema::TRACES_FILE)
            .set_max_row_group_row_count(Some(1 << 20))
            .build();
        let traces = ArrowWriter::try_new(Vec::new(), schema::traces_schema(), Some(traces_props))
            .expect("the trace table's schema is valid");
        Self {
            tenant: tenant.to_string(),
            index: IndexBuilder::new(opts.index_max_values_per_key),
            opts,
            last: None,
            rows: Vec::new(),
            dedicated: None,
            dedicated_also_generic: Vec::new(),
            spans_schema: None,
            spans: None,
            resources: Interner::new(),
            resource_info: Vec::new(),
            scopes: Interner::new(),
            scope_info: Vec::new(),
            trace_rows: TraceRows::default(),
            traces,
            hashes: Vec::new(),
            row_groups: Vec::new(),
            span_count: 0,
            trace_count: 0,
            min_id: None,
            max_id: None,
            start: u64::MAX,
            end: 0,
        }
    }

    /// Adds one trace. IDs must be strictly ascending; the spans may come in any order (they
    /// are stored by start time, then span ID). A trace with no spans is skipped.
    pub fn push_trace(
        &mut self,
        trace_id: TraceId,
        spans: Vec<HeadSpan>,
    ) -> Result<(), BlockError> {
        if let Some(last) = self.last
            && trace_id <= last
        {
            return Err(BlockError::OutOfOrder {
                last: last.to_hex(),
                got: trace_id.to_hex(),
            });
        }
        self.last = Some(trace_id);
        if spans.is_empty() {
            return Ok(());
        }
        for s in &spans {
            check_span(&trace_id, &s.span)?;
        }
        let mut spans = spans;
        spans.sort_by(|a, b| {
            (a.span.start_time_unix_nano, &a.span.span_id)
                .cmp(&(b.span.start_time_unix_nano, &b.span.span_id))
        });

        self.trace_row(trace_id, &spans);
        self.hashes.push(filter::hash_trace_id(&trace_id));
        self.trace_count += 1;
        self.min_id.get_or_insert(trace_id);
        self.max_id = Some(trace_id);

        let max_rows = self
            .opts
            .rows_per_row_group
            .saturating_mul(MAX_ROW_GROUP_FACTOR);
        for hs in spans {
            let (resource, new) = self.resources.intern(&hs.resource, resource_key);
            if new {
                self.resource_info.push(resource_info(&hs.resource));
            }
            let (scope, new) = self.scopes.intern(&hs.scope, scope_key);
            if new {
                self.scope_info.push(scalar_attrs(
                    hs.scope.scope.iter().flat_map(|s| &s.attributes),
                    true,
                ));
            }
            self.start = self.start.min(hs.span.start_time_unix_nano);
            self.end = self.end.max(hs.span.end_time_unix_nano);
            self.span_count += 1;
            self.rows.push(Row {
                trace_id,
                span: hs.span,
                resource,
                scope,
            });
            if self.rows.len() >= max_rows {
                self.flush_row_group()?;
            }
        }
        if self.rows.len() >= self.opts.rows_per_row_group {
            self.flush_row_group()?;
        }
        if self.trace_rows.len() >= TRACE_BATCH {
            let batch = self.trace_rows.take_batch()?;
            self.traces.write(&batch)?;
        }
        Ok(())
    }

    /// The trace table's row for a trace (spans sorted by start).
    fn trace_row(&mut self, id: TraceId, spans: &[HeadSpan]) {
        let ids: HashSet<&[u8]> = spans.iter().map(|s| s.span.span_id.as_slice()).collect();
        // The root: the earliest span whose parent is not in the block.
        let root = spans.iter().find(|s| {
            s.span.parent_span_id.is_empty() || !ids.contains(s.span.parent_span_id.as_slice())
        });
        let t = &mut self.trace_rows;
        t.id.push(id);
        t.root_name.push(root.map(|r| r.span.name.clone()));
        t.root_service
            .push(root.and_then(|r| service_name(&r.resource)));
        t.start.push(
            spans
                .iter()
                .map(|s| s.span.start_time_unix_nano)
                .min()
                .unwrap_or(0),
        );
        t.end.push(
            spans
                .iter()
                .map(|s| s.span.end_time_unix_nano)
                .max()
                .unwrap_or(0),
        );
        t.spans.push(spans.len() as u32);
        t.errors.push(
            spans
                .iter()
                .filter(|s| {
                    s.span.status.as_ref().map(|st| st.code) == Some(StatusCode::Error as i32)
                        || arbor_model::faas::failed(&s.span.attributes)
                })
                .count() as u32,
        );
    }

    fn flush_row_group(&mut self) -> Result<(), BlockError> {
        if self.spans.is_none() {
            self.start_spans_file()?;
        }
        if self.rows.is_empty() {
            return Ok(());
        }
        let rows = std::mem::take(&mut self.rows);
        let dedicated = self.dedicated.as_deref().unwrap_or_default();
        let schema = self.spans_schema.clone().expect("set with the writer");
        self.dedicated_also_generic.resize(dedicated.len(), false);
        let batch = spans_batch(&rows, dedicated, schema, &mut self.dedicated_also_generic)?;
        let writer = self.spans.as_mut().expect("started above");
        writer.write(&batch)?;
        writer.flush()?;
        drop(batch);

        let rg = self.row_groups.len() as u32;
        let mut used_resources = HashSet::new();
        let mut used_scopes = HashSet::new();
        for r in &rows {
            self.index
                .add(IndexScope::Intrinsic, "name", &r.span.name, rg);
            self.index.add_operation(
                &self.resource_info[r.resource as usize].service,
                r.span.kind,
                &r.span.name,
                rg,
            );
            for kv in &r.span.attributes {
                if let Some(v) = plain_string(kv) {
                    self.index.add(IndexScope::Span, &kv.key, v, rg);
                } else if let Some(v) = TagValue::of_kv(kv) {
                    self.index.add_typed(TypedIndexScope::Span, &kv.key, &v, rg);
                }
            }
            for kv in r.span.events.iter().flat_map(|e| &e.attributes) {
                if let Some(v) = TagValue::of_kv(kv) {
                    self.index
                        .add_typed(TypedIndexScope::Event, &kv.key, &v, rg);
                }
            }
            for kv in r.span.links.iter().flat_map(|l| &l.attributes) {
                if let Some(v) = TagValue::of_kv(kv) {
                    self.index.add_typed(TypedIndexScope::Link, &kv.key, &v, rg);
                }
            }
            used_resources.insert(r.resource);
            used_scopes.insert(r.scope);
        }
        let mut used: Vec<u32> = used_resources.into_iter().collect();
        used.sort_unstable();
        for ri in used {
            let info = &self.resource_info[ri as usize];
            for (k, v) in &info.strings {
                self.index.add(IndexScope::Resource, k, v, rg);
            }
            for (k, v) in &info.typed {
                self.index.add_typed(TypedIndexScope::Resource, k, v, rg);
            }
        }
        let mut used: Vec<u32> = used_scopes.into_iter().collect();
        used.sort_unstable();
        for si in used {
            for (k, v) in &self.scope_info[si as usize] {
                self.index
                    .add_typed(TypedIndexScope::Instrumentation, k, v, rg);
            }
        }
        self.row_groups.push(RowGroupMeta {
            first_trace_id: rows[0].trace_id.to_hex(),
            last_trace_id: rows[rows.len() - 1].trace_id.to_hex(),
            rows: rows.len() as u64,
        });
        Ok(())
    }

    /// Chooses the dedicated columns from the buffered spans and opens `spans.parquet`.
    fn start_spans_file(&mut self) -> Result<(), BlockError> {
        let keys = choose_dedicated(&self.rows, self.opts.max_dedicated_columns);
        let columns: Vec<String> = keys
            .iter()
            .map(|k| format!("{}{k}", schema::SPAN_DEDICATED_PREFIX))
            .collect();
        // String columns whose sampled values mostly differ (IDs, URLs) are stored plain: a
        // dictionary would be as big as the data and read whole by every lookup.
        let (dedicated_card, generic_card) = sample_cardinality(&self.rows, &keys);
        let typed: Vec<(String, bool)> = columns
            .iter()
            .zip(&dedicated_card)
            .map(|(c, high)| (c.clone(), !high))
            .collect();
        let schema = schema::spans_schema(&typed);
        let dedicated_json = serde_json::to_string(&span_dedicated_meta(&keys, None))
            .expect("serialising plain structs");
        let mut props = base_props(&self.opts, schema::SPANS_FILE)
            .set_max_row_group_row_count(None)
            .set_data_page_row_count_limit(SPAN_PAGE_ROWS)
            .set_write_batch_size(SPAN_PAGE_ROWS.min(1024))
            .set_sorting_columns(Some(vec![
                SortingColumn {
                    column_idx: leaf_index(&schema, schema::TRACE_ID),
                    descending: false,
                    nulls_first: false,
                },
                SortingColumn {
                    column_idx: leaf_index(&schema, schema::START),
                    descending: false,
                    nulls_first: false,
                },
            ]));
        // Random IDs and times do not repeat: a dictionary only costs time there.
        for col in [schema::SPAN_ID, schema::START, schema::DURATION] {
            props = props.set_column_dictionary_enabled(ColumnPath::from(col), false);
        }
        props = props
            .set_column_encoding(ColumnPath::from(schema::START), START_ENCODING)
            .set_column_encoding(ColumnPath::from(schema::DURATION), DURATION_ENCODING);
        for (col, high) in columns.iter().zip(dedicated_card) {
            if high {
                // Too many values for the attribute index: a bloom filter per row group
                // lets a search for one value skip the row groups without it.
                let path = || ColumnPath::from(col.as_str());
                props = props
                    .set_column_dictionary_enabled(path(), false)
                    .set_column_encoding(path(), HIGH_CARD_ENCODING)
                    .set_column_bloom_filter_enabled(path(), true)
                    .set_column_bloom_filter_fpp(path(), BLOOM_FPP)
                    .set_column_bloom_filter_max_ndv(
                        path(),
                        self.opts.rows_per_row_group.max(1) as u64,
                    );
            }
        }
        if generic_card {
            let path = ColumnPath::new(
                [schema::ATTRIBUTES, "list", "item", schema::A_STR]
                    .map(String::from)
                    .to_vec(),
            );
            props = props
                .set_column_dictionary_enabled(path.clone(), false)
                .set_column_encoding(path, HIGH_CARD_ENCODING);
        }
        let mut kv = file_kv(schema::SPANS_FILE);
        kv.push(ParquetKv::new(
            schema::KV_DEDICATED.to_string(),
            dedicated_json,
        ));
        let props = props.set_key_value_metadata(Some(kv)).build();
        self.spans = Some(ArrowWriter::try_new(
            Vec::new(),
            schema.clone(),
            Some(props),
        )?);
        self.spans_schema = Some(schema);
        self.dedicated = Some(keys);
        Ok(())
    }

    /// Writes the remaining files and the metadata. `wal`, `compaction_level` and `sources`
    /// go into `meta.json` as given.
    pub fn finish(
        mut self,
        wal: Option<WalCoverage>,
        compaction_level: u32,
        sources: Vec<String>,
    ) -> Result<EncodedBlock, BlockError> {
        self.flush_row_group()?;
        let spans = self.spans.take().expect("opened by the flush above");
        let spans_bytes = spans.into_inner()?;

        let resources_bytes = write_single(
            schema::RESOURCES_FILE,
            &self.opts,
            resources_batch(&self.resources.entries)?,
            Some(resource_dedicated_meta()),
        )?;
        let scopes_bytes = write_single(
            schema::SCOPES_FILE,
            &self.opts,
            scopes_batch(&self.scopes.entries)?,
            None,
        )?;
        if self.trace_rows.len() > 0 {
            let batch = self.trace_rows.take_batch()?;
            self.traces.write(&batch)?;
        }
        let traces_bytes = self.traces.into_inner()?;
        let index_bytes = write_single(schema::INDEX_FILE, &self.opts, self.index.finish()?, None)?;
        let filter = TraceFilter::build(&self.hashes, filter::TARGET_FPP);
        let filter_bytes = filter.to_bytes();

        let files: Vec<(String, Bytes)> = vec![
            (schema::SPANS_FILE.to_string(), Bytes::from(spans_bytes)),
            (
                schema::RESOURCES_FILE.to_string(),
                Bytes::from(resources_bytes),
            ),
            (schema::SCOPES_FILE.to_string(), Bytes::from(scopes_bytes)),
            (schema::TRACES_FILE.to_string(), Bytes::from(traces_bytes)),
            (schema::INDEX_FILE.to_string(), Bytes::from(index_bytes)),
            (filter::FILE.to_string(), Bytes::from(filter_bytes)),
        ];
        let mut dedicated_columns = span_dedicated_meta(
            self.dedicated.as_deref().unwrap_or_default(),
            Some(&self.dedicated_also_generic),
        );
        dedicated_columns.extend(resource_dedicated_meta());
        let mut params = serde_json::Map::new();
        params.insert("blocks".into(), (filter.num_blocks() as u64).into());
        params.insert("keys".into(), filter.num_keys().into());
        params.insert("fpp".into(), filter::TARGET_FPP.into());
        params.insert("hash".into(), filter::HASH_NAME.into());
        let empty = self.span_count == 0;
        let meta = BlockMeta {
            format: FORMAT.to_string(),
            version: VERSION,
            block_id: uuid::Uuid::now_v7().to_string(),
            tenant: self.tenant,
            created_unix_nano: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(0),
            start_unix_nano: if empty { 0 } else { self.start },
            end_unix_nano: self.end,
            min_trace_id: self.min_id.map(|i| i.to_hex()).unwrap_or_default(),
            max_trace_id: self.max_id.map(|i| i.to_hex()).unwrap_or_default(),
            span_count: self.span_count,
            trace_count: self.trace_count,
            files: files
                .iter()
                .map(|(name, b)| BlockFile {
                    name: name.clone(),
                    bytes: b.len() as u64,
                })
                .collect(),
            row_groups: self.row_groups,
            dedicated_columns,
            trace_filter: FilterMeta {
                kind: filter::KIND.to_string(),
                file: filter::FILE.to_string(),
                params,
            },
            wal,
            compaction_level,
            received: None,
            sources,
        };
        Ok(EncodedBlock { meta, files })
    }
}

impl EncodedBlock {
    /// Adds a file of another part (the derived views' series) to the block, listed in
    /// its metadata.
    pub fn add_file(&mut self, name: String, bytes: Bytes) {
        self.meta.files.push(BlockFile {
            name: name.clone(),
            bytes: bytes.len() as u64,
        });
        self.files.push((name, bytes));
    }
}

fn service_name(r: &ResourceEntry) -> Option<String> {
    r.resource
        .as_ref()?
        .attributes
        .iter()
        .find(|kv| kv.key == "service.name" && plain_string(kv).is_some())
        .and_then(plain_string)
        .map(str::to_string)
}

fn resource_info(r: &ResourceEntry) -> ResourceInfo {
    let attrs = || r.resource.iter().flat_map(|res| &res.attributes);
    let strings = attrs()
        .filter_map(|kv| plain_string(kv).map(|v| (kv.key.clone(), v.to_string())))
        .collect();
    ResourceInfo {
        service: service_name(r).unwrap_or_default(),
        strings,
        typed: scalar_attrs(attrs(), false),
    }
}

/// The scalar values of attributes (without strings unless `strings`), for typed scopes.
fn scalar_attrs<'a>(
    attrs: impl Iterator<Item = &'a KeyValue>,
    strings: bool,
) -> Vec<(String, TagValue)> {
    attrs
        .filter_map(|kv| {
            let v = TagValue::of_kv(kv)?;
            (strings || v.kind != TagType::String).then(|| (kv.key.clone(), v))
        })
        .collect()
}

/// The most frequent plain-string span-attribute keys of the sample, at most `max`, each
/// present in at least 1% of the sampled spans; ties broken by key.
fn choose_dedicated(rows: &[Row], max: usize) -> Vec<String> {
    if max == 0 || rows.is_empty() {
        return Vec::new();
    }
    let mut counts: HashMap<&str, usize> = HashMap::new();
    let mut seen: HashSet<&str> = HashSet::new();
    for r in rows {
        seen.clear();
        for kv in &r.span.attributes {
            if plain_string(kv).is_some() && dedicable_key(&kv.key) && seen.insert(&kv.key) {
                *counts.entry(&kv.key).or_default() += 1;
            }
        }
    }
    let min = (rows.len() / DEDICATED_MIN_SHARE_DIVISOR).max(1);
    let mut keys: Vec<(&str, usize)> = counts.into_iter().filter(|(_, c)| *c >= min).collect();
    keys.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    keys.into_iter()
        .take(max)
        .map(|(k, _)| k.to_string())
        .collect()
}

/// Whether a sample of string values is high-cardinality: at least 64 values, more than
/// half of them distinct.
fn high_cardinality<'a>(values: impl Iterator<Item = &'a str>) -> bool {
    let mut n = 0usize;
    let mut distinct = HashSet::new();
    for v in values {
        n += 1;
        distinct.insert(v);
    }
    n >= 64 && distinct.len() * 2 > n
}

/// For each dedicated key, and for the generic list's strings: high-cardinality?
fn sample_cardinality(rows: &[Row], keys: &[String]) -> (Vec<bool>, bool) {
    let split: Vec<_> = rows
        .iter()
        .map(|r| split_dedicated(&r.span.attributes, keys))
        .collect();
    let dedicated = (0..keys.len())
        .map(|k| high_cardinality(split.iter().filter_map(|(values, _, _)| values[k])))
        .collect();
    let generic = high_cardinality(
        split
            .iter()
            .flat_map(|(_, _, rest)| rest.iter().filter_map(|kv| plain_string(kv))),
    );
    (dedicated, generic)
}

/// `also_generic`: known once every row group is written; `None` in the file's own metadata,
/// written before.
fn span_dedicated_meta(keys: &[String], also_generic: Option<&[bool]>) -> Vec<DedicatedColumn> {
    keys.iter()
        .enumerate()
        .map(|(i, k)| DedicatedColumn {
            scope: "span".to_string(),
            key: k.clone(),
            column: format!("{}{k}", schema::SPAN_DEDICATED_PREFIX),
            also_generic: also_generic.map(|g| g.get(i).copied().unwrap_or(true)),
        })
        .collect()
}

fn resource_dedicated_meta() -> Vec<DedicatedColumn> {
    schema::RESOURCE_DEDICATED_KEYS
        .iter()
        .map(|k| DedicatedColumn {
            scope: "resource".to_string(),
            key: k.to_string(),
            column: format!("{}{k}", schema::RESOURCE_DEDICATED_PREFIX),
            also_generic: None,
        })
        .collect()
}

/// The leaf (Parquet column) index of a top-level primitive column.
fn leaf_index(schema: &SchemaRef, name: &str) -> i32 {
    // Every column before `trace_id` and `start_unix_nano` is primitive, so the field index
    // is the leaf index.
    schema.index_of(name).expect("known column") as i32
}

fn file_kv(file: &str) -> Vec<ParquetKv> {
    vec![
        ParquetKv::new(schema::KV_FORMAT.to_string(), FORMAT.to_string()),
        ParquetKv::new(schema::KV_VERSION.to_string(), VERSION.to_string()),
        ParquetKv::new(schema::KV_FILE.to_string(), file.to_string()),
    ]
}

/// False-positive rate of the bloom filters of high-cardinality dedicated columns (about
/// 1.2 bytes per distinct value of a row group).
const BLOOM_FPP: f64 = 0.01;

fn base_props(opts: &BlockWriteOptions, file: &str) -> WriterPropertiesBuilder {
    let level = ZstdLevel::try_new(opts.zstd_level.clamp(1, 22)).unwrap_or_default();
    WriterProperties::builder()
        .set_compression(Compression::ZSTD(level))
        .set_statistics_enabled(EnabledStatistics::Page)
        .set_created_by(format!("arbor {} (parquet-rs)", env!("CARGO_PKG_VERSION")))
        .set_key_value_metadata(Some(file_kv(file)))
}

/// Writes one batch as a whole small Parquet file.
fn write_single(
    file: &str,
    opts: &BlockWriteOptions,
    batch: RecordBatch,
    dedicated: Option<Vec<DedicatedColumn>>,
) -> Result<Vec<u8>, BlockError> {
    let mut kv = file_kv(file);
    if let Some(d) = dedicated {
        kv.push(ParquetKv::new(
            schema::KV_DEDICATED.to_string(),
            serde_json::to_string(&d).expect("serialising plain structs"),
        ));
    }
    let props = base_props(opts, file)
        .set_key_value_metadata(Some(kv))
        .set_max_row_group_row_count(Some(1 << 20))
        .build();
    let mut w = ArrowWriter::try_new(Vec::new(), batch.schema(), Some(props))?;
    w.write(&batch)?;
    Ok(w.into_inner()?)
}

fn dict_builder() -> StringDictionaryBuilder<Int32Type> {
    StringDictionaryBuilder::new()
}

/// One row group's batch.
fn spans_batch(
    rows: &[Row],
    dedicated: &[String],
    schema: SchemaRef,
    also_generic: &mut [bool],
) -> Result<RecordBatch, BlockError> {
    let dedicated_at: HashMap<&str, usize> = dedicated
        .iter()
        .enumerate()
        .map(|(i, k)| (k.as_str(), i))
        .collect();
    let n = rows.len();
    let mut trace_id = FixedSizeBinaryBuilder::with_capacity(n, 16);
    let mut span_id = FixedSizeBinaryBuilder::with_capacity(n, 8);
    let mut parent = FixedSizeBinaryBuilder::with_capacity(n, 8);
    let mut trace_state = StringBuilder::new();
    let mut flags = Vec::with_capacity(n);
    let mut name = dict_builder();
    let mut kind = Vec::with_capacity(n);
    let mut start = Vec::with_capacity(n);
    let mut duration = Vec::with_capacity(n);
    let mut status_code: Vec<Option<i32>> = Vec::with_capacity(n);
    let mut status_message = StringBuilder::new();
    let mut resource = Vec::with_capacity(n);
    let mut scope = Vec::with_capacity(n);
    let mut dropped_attrs = Vec::with_capacity(n);
    let mut dropped_events = Vec::with_capacity(n);
    let mut dropped_links = Vec::with_capacity(n);
    let mut ded: Vec<DedicatedBuilder> = dedicated
        .iter()
        .map(|k| {
            let column = format!("{}{k}", schema::SPAN_DEDICATED_PREFIX);
            match schema.field_with_name(&column).map(|f| f.data_type()) {
                Ok(DataType::Utf8) => DedicatedBuilder::Plain(StringBuilder::new()),
                _ => DedicatedBuilder::Dict(dict_builder()),
            }
        })
        .collect();
    let mut positions = BinaryBuilder::new();
    let mut attrs = AttrBuilder::new();
    let mut events = EventsBuilder::new();
    let mut links = LinksBuilder::new();

    for r in rows {
        let s = &r.span;
        trace_id.append_value(r.trace_id.as_bytes())?;
        span_id.append_value(&s.span_id)?;
        if s.parent_span_id.is_empty() {
            parent.append_null();
        } else {
            parent.append_value(&s.parent_span_id)?;
        }
        trace_state.append_option((!s.trace_state.is_empty()).then_some(&s.trace_state));
        flags.push(s.flags);
        name.append_value(&s.name);
        kind.push(s.kind);
        start.push(s.start_time_unix_nano);
        duration.push(s.end_time_unix_nano.wrapping_sub(s.start_time_unix_nano));
        status_code.push(s.status.as_ref().map(|st| st.code));
        status_message.append_option(
            s.status
                .as_ref()
                .filter(|st| !st.message.is_empty())
                .map(|st| &st.message),
        );
        resource.push(r.resource);
        scope.push(r.scope);
        dropped_attrs.push(s.dropped_attributes_count);
        dropped_events.push(s.dropped_events_count);
        dropped_links.push(s.dropped_links_count);

        let (values, pos, rest) = split_dedicated(&s.attributes, dedicated);
        for (b, v) in ded.iter_mut().zip(values) {
            b.append_option(v);
        }
        positions.append_option(pos);
        for kv in rest {
            if let Some(&i) = dedicated_at.get(kv.key.as_str()) {
                also_generic[i] = true;
            }
            attrs.push(kv);
        }
        attrs.end_list();
        events.push_span(s);
        links.push_span(s)?;
    }

    let mut columns: Vec<ArrayRef> = vec![
        Arc::new(trace_id.finish()),
        Arc::new(span_id.finish()),
        Arc::new(parent.finish()),
        Arc::new(trace_state.finish()),
        Arc::new(UInt32Array::from(flags)),
        Arc::new(name.finish()),
        Arc::new(Int32Array::from(kind)),
        Arc::new(UInt64Array::from(start)),
        Arc::new(UInt64Array::from(duration)),
        Arc::new(Int32Array::from(status_code)),
        Arc::new(status_message.finish()),
        Arc::new(UInt32Array::from(resource)),
        Arc::new(UInt32Array::from(scope)),
        Arc::new(UInt32Array::from(dropped_attrs)),
        Arc::new(UInt32Array::from(dropped_events)),
        Arc::new(UInt32Array::from(dropped_links)),
    ];
    for b in ded {
        columns.push(b.finish());
    }
    columns.push(Arc::new(positions.finish()));
    columns.push(Arc::new(attrs.finish()?));
    columns.push(Arc::new(events.finish()?));
    columns.push(Arc::new(links.finish()?));
    Ok(RecordBatch::try_new(schema, columns)?)
}

/// A dedicated column: dictionary-encoded, or plain for high-cardinality values.
enum DedicatedBuilder {
    Dict(StringDictionaryBuilder<Int32Type>),
    Plain(StringBuilder),
}

impl DedicatedBuilder {
    fn append_option(&mut self, v: Option<&str>) {
        match self {
            Self::Dict(b) => b.append_option(v),
            Self::Plain(b) => b.append_option(v),
        }
    }

    fn finish(self) -> ArrayRef {
        match self {
            Self::Dict(mut b) => Arc::new(b.finish()),
            Self::Plain(mut b) => Arc::new(b.finish()),
        }
    }
}

struct EventsBuilder {
    time: Vec<u64>,
    name: StringBuilder,
    attrs: AttrBuilder,
    dropped: Vec<u32>,
    offsets: Vec<i32>,
}

impl EventsBuilder {
    fn new() -> Self {
        Self {
            time: Vec::new(),
            name: StringBuilder::new(),
            attrs: AttrBuilder::new(),
            dropped: Vec::new(),
            offsets: vec![0],
        }
    }

    fn push_span(&mut self, s: &Span) {
        for e in &s.events {
            self.time.push(e.time_unix_nano);
            self.name.append_value(&e.name);
            for kv in &e.attributes {
                self.attrs.push(kv);
            }
            self.attrs.end_list();
            self.dropped.push(e.dropped_attributes_count);
        }
        self.offsets.push(self.time.len() as i32);
    }

    fn finish(mut self) -> Result<ListArray, BlockError> {
        let values = StructArray::try_new(
            schema::event_struct_fields(),
            vec![
                Arc::new(UInt64Array::from(self.time)) as ArrayRef,
                Arc::new(self.name.finish()),
                Arc::new(self.attrs.finish()?),
                Arc::new(UInt32Array::from(self.dropped)),
            ],
            None,
        )?;
        Ok(ListArray::try_new(
            schema::event_item_field(),
            OffsetBuffer::new(self.offsets.into()),
            Arc::new(values),
            None,
        )?)
    }
}

struct LinksBuilder {
    trace_id: FixedSizeBinaryBuilder,
    span_id: FixedSizeBinaryBuilder,
    trace_state: StringBuilder,
    flags: Vec<u32>,
    attrs: AttrBuilder,
    dropped: Vec<u32>,
    offsets: Vec<i32>,
}

impl LinksBuilder {
    fn new() -> Self {
        Self {
            trace_id: FixedSizeBinaryBuilder::new(16),
            span_id: FixedSizeBinaryBuilder::new(8),
            trace_state: StringBuilder::new(),
            flags: Vec::new(),
            attrs: AttrBuilder::new(),
            dropped: Vec::new(),
            offsets: vec![0],
        }
    }

    fn push_span(&mut self, s: &Span) -> Result<(), BlockError> {
        for l in &s.links {
            self.trace_id.append_value(&l.trace_id)?;
            self.span_id.append_value(&l.span_id)?;
            self.trace_state
                .append_option((!l.trace_state.is_empty()).then_some(&l.trace_state));
            self.flags.push(l.flags);
            for kv in &l.attributes {
                self.attrs.push(kv);
            }
            self.attrs.end_list();
            self.dropped.push(l.dropped_attributes_count);
        }
        self.offsets.push(self.flags.len() as i32);
        Ok(())
    }

    fn finish(mut self) -> Result<ListArray, BlockError> {
        let values = StructArray::try_new(
            schema::link_struct_fields(),
            vec![
                Arc::new(self.trace_id.finish()) as ArrayRef,
                Arc::new(self.span_id.finish()),
                Arc::new(self.trace_state.finish()),
                Arc::new(UInt32Array::from(self.flags)),
                Arc::new(self.attrs.finish()?),
                Arc::new(UInt32Array::from(self.dropped)),
            ],
            None,
        )?;
        Ok(ListArray::try_new(
            schema::link_item_field(),
            OffsetBuffer::new(self.offsets.into()),
            Arc::new(values),
            None,
        )?)
    }
}

fn resources_batch(entries: &[Arc<ResourceEntry>]) -> Result<RecordBatch, BlockError> {
    let keys: Vec<String> = schema::RESOURCE_DEDICATED_KEYS
        .iter()
        .map(|k| k.to_string())
        .collect();
    let mut index = Vec::new();
    let mut present = Vec::new();
    let mut schema_url = StringBuilder::new();
    let mut ded: Vec<StringBuilder> = keys.iter().map(|_| StringBuilder::new()).collect();
    let mut positions = BinaryBuilder::new();
    let mut attrs = AttrBuilder::new();
    let mut dropped = Vec::new();
    let mut refs = BinaryBuilder::new();
    let mut ref_offsets: Vec<i32> = vec![0];
    let mut n_refs = 0i32;
    for (i, e) in entries.iter().enumerate() {
        index.push(i as u32);
        present.push(e.resource.is_some());
        schema_url.append_value(&e.schema_url);
        let empty = Vec::new();
        let res_attrs = e.resource.as_ref().map(|r| &r.attributes).unwrap_or(&empty);
        let (values, pos, rest) = split_dedicated(res_attrs, &keys);
        for (b, v) in ded.iter_mut().zip(values) {
            b.append_option(v);
        }
        positions.append_option(pos);
        for kv in rest {
            attrs.push(kv);
        }
        attrs.end_list();
        dropped.push(
            e.resource
                .as_ref()
                .map_or(0, |r| r.dropped_attributes_count),
        );
        if let Some(r) = &e.resource {
            for er in &r.entity_refs {
                refs.append_value(er.encode_to_vec());
                n_refs += 1;
            }
        }
        ref_offsets.push(n_refs);
    }
    let mut columns: Vec<ArrayRef> = vec![
        Arc::new(UInt32Array::from(index)),
        Arc::new(BooleanArray::from(present)),
        Arc::new(schema_url.finish()),
    ];
    for mut b in ded {
        columns.push(Arc::new(b.finish()));
    }
    columns.push(Arc::new(positions.finish()));
    columns.push(Arc::new(attrs.finish()?));
    columns.push(Arc::new(UInt32Array::from(dropped)));
    columns.push(Arc::new(ListArray::try_new(
        Arc::new(Field::new("item", DataType::Binary, false)),
        OffsetBuffer::new(ref_offsets.into()),
        Arc::new(refs.finish()),
        None,
    )?));
    Ok(RecordBatch::try_new(schema::resources_schema(), columns)?)
}

fn scopes_batch(entries: &[Arc<ScopeEntry>]) -> Result<RecordBatch, BlockError> {
    let mut index = Vec::new();
    let mut present = Vec::new();
    let mut schema_url = StringBuilder::new();
    let mut name = StringBuilder::new();
    let mut version = StringBuilder::new();
    let mut attrs = AttrBuilder::new();
    let mut dropped = Vec::new();
    for (i, e) in entries.iter().enumerate() {
        index.push(i as u32);
        present.push(e.scope.is_some());
        schema_url.append_value(&e.schema_url);
        let sc = e.scope.clone().unwrap_or_default();
        name.append_value(&sc.name);
        version.append_value(&sc.version);
        for kv in &sc.attributes {
            attrs.push(kv);
        }
        attrs.end_list();
        dropped.push(sc.dropped_attributes_count);
    }
    Ok(RecordBatch::try_new(
        schema::scopes_schema(),
        vec![
            Arc::new(UInt32Array::from(index)) as ArrayRef,
            Arc::new(BooleanArray::from(present)),
            Arc::new(schema_url.finish()),
            Arc::new(name.finish()),
            Arc::new(version.finish()),
            Arc::new(attrs.finish()?),
            Arc::new(UInt32Array::from(dropped)),
        ],
    )?)
}
