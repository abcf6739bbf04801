//! [`BlockReader`]: trace lookups and full scans of one published block.

use std::collections::VecDeque;
use std::ops::Range;
use std::sync::Arc;

use arbor_model::TraceId;
use arbor_model::otlp::{Event, InstrumentationScope, Link, Resource, Span, Status};
use arrow::array::{
    Array, BinaryArray, BooleanArray, FixedSizeBinaryArray, Int32Array, ListArray, RecordBatch,
    StructArray, UInt32Array, UInt64Array,
};
use arrow::error::ArrowError;
use bytes::Bytes;
use futures::future::BoxFuture;
use futures::{FutureExt, Stream, StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};
use parquet::arrow::ParquetRecordBatchStreamBuilder;
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::{
    ArrowPredicateFn, ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReaderBuilder,
    RowFilter, RowGroupSelection, RowSelection, RowSelector,
};
use parquet::arrow::async_reader::{AsyncFileReader, ParquetRecordBatchStream};
use parquet::errors::ParquetError;
use parquet::file::metadata::{
    ColumnChunkMask, PageIndexPolicy, ParquetMetaData, ParquetMetaDataReader,
};
use parquet::file::page_index::column_index::ColumnIndexMetaData;
use prost::Message;
use tokio::sync::OnceCell;

use super::BlockError;
use super::attrs::{AttrReader, StrCol, corrupt, downcast, field, merge_dedicated};
use super::filter::{self, TraceFilter};
use super::index::AttributeIndex;
use super::meta::{BlockMeta, FORMAT};
use super::schema;
use crate::head::{HeadSpan, ResourceEntry, ScopeEntry};

/// The footer is fetched with this much of the file's tail in one request.
const FOOTER_PREFETCH: usize = 64 * 1024;
/// Byte ranges closer than this are fetched in one request. (object_store's own default
/// merges ranges up to 1 MiB apart, which reads a whole row group for every lookup.)
const COALESCE_GAP: u64 = 32 * 1024;
/// Requests in flight for one read.
const FETCH_CONCURRENCY: usize = 8;
/// Rows per decoded batch.
const BATCH_ROWS: usize = 4_096;

/// The versions of the block format this build reads.
pub const READABLE_VERSIONS: &[u32] = &[1];

/// The resources and scopes of a block.
struct Tables {
    resources: Vec<Arc<ResourceEntry>>,
    scopes: Vec<Arc<ScopeEntry>>,
}

struct Inner {
    store: Arc<dyn ObjectStore>,
    dir: Path,
    meta: BlockMeta,
    spans_size: u64,
    /// Dedicated span-attribute keys and their columns, in file order.
    span_keys: Vec<String>,
    span_columns: Vec<String>,
    resource_keys: Vec<String>,
    resource_columns: Vec<String>,
    range: Option<(TraceId, TraceId)>,
    row_groups: Vec<(TraceId, TraceId)>,
    filter: TraceFilter,
    spans_meta: OnceCell<ArrowReaderMetadata>,
    tables: OnceCell<Arc<Tables>>,
}

/// A published block, opened for reading. Opening loads the trace-ID filter and nothing
/// else; the span file's footer, the resource and scope tables and the attribute index are
/// loaded on first use and kept.
pub struct BlockReader {
    pub meta: BlockMeta,
    inner: Arc<Inner>,
}

impl std::fmt::Debug for BlockReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlockReader")
            .field("block_id", &self.meta.block_id)
            .field("dir", &self.inner.dir)
            .finish()
    }
}

fn parse_id(hex: &str, what: &str) -> Result<TraceId, BlockError> {
    TraceId::from_hex(hex).map_err(|e| corrupt(format!("{what}: {e}")))
}

fn dedicated_of(meta: &BlockMeta, scope: &str) -> (Vec<String>, Vec<String>) {
    meta.dedicated_columns
        .iter()
        .filter(|d| d.scope == scope)
        .map(|d| (d.key.clone(), d.column.clone()))
        .unzip()
}

impl BlockReader {
    /// Checks the metadata and loads the trace-ID filter.
    pub async fn open(
        store: Arc<dyn ObjectStore>,
        dir: Path,
        meta: BlockMeta,
    ) -> Result<Self, BlockError> {
        if meta.format != FORMAT {
            return Err(corrupt(format!(
                "meta.json: format {:?}, expected {FORMAT:?}",
                meta.format
            )));
        }
        if !READABLE_VERSIONS.contains(&meta.version) {
            return Err(BlockError::UnsupportedVersion {
                version: meta.version,
            });
        }
        if meta.trace_filter.kind != filter::KIND {
            return Err(corrupt(format!(
                "meta.json: unknown trace filter kind {:?}",
                meta.trace_filter.kind
            )));
        }
        let spans_size = meta
            .files
            .iter()
            .find(|f| f.name == schema::SPANS_FILE)
            .map(|f| f.bytes)
            .ok_or_else(|| corrupt("meta.json does not list spans.parquet"))?;
        let range = if meta.trace_count == 0 {
            None
        } else {
            Some((
                parse_id(&meta.min_trace_id, "min_trace_id")?,
                parse_id(&meta.max_trace_id, "max_trace_id")?,
            ))
        };
        let row_groups = meta
            .row_groups
            .iter()
            .map(|rg| {
                Ok((
                    parse_id(&rg.first_trace_id, "row group")?,
                    parse_id(&rg.last_trace_id, "row group")?,
                ))
            })
            .collect::<Result<Vec<_>, BlockError>>()?;
        let filter_bytes = store
            .get(&dir.clone().join(meta.trace_filter.file.as_str()))
            .await?
            .bytes()
            .await?;
        let filter = TraceFilter::from_bytes(&filter_bytes)?;
        let (span_keys, span_columns) = dedicated_of(&meta, "span");
        let (resource_keys, resource_columns) = dedicated_of(&meta, "resource");
        let inner = Inner {
            store,
            dir,
            meta: meta.clone(),
            spans_size,
            span_keys,
            span_columns,
            resource_keys,
            resource_columns,
            range,
            row_groups,
            filter,
            spans_meta: OnceCell::new(),
            tables: OnceCell::new(),
        };
        Ok(Self {
            meta,
            inner: Arc::new(inner),
        })
    }

    /// Whether the block may hold the trace: its ID range, its row groups' ranges and the
    /// filter admit it. No I/O.
    pub fn may_contain(&self, id: &TraceId) -> bool {
        let Some((min, max)) = self.inner.range else {
            return false;
        };
        *id >= min
            && *id <= max
            && !self.inner.candidate_row_groups(id).is_empty()
            && self.inner.filter.may_contain(id)
    }

    /// Every span of the trace in this block (empty if none). Reads the span file's footer
    /// and page index once (then cached), then only the pages of the row groups whose
    /// trace-ID range admits the ID.
    pub async fn find_trace(&self, id: &TraceId) -> Result<Vec<HeadSpan>, BlockError> {
        Ok(self
            .find_traces(std::slice::from_ref(id))
            .await?
            .into_iter()
            .map(|(_, s)| s)
            .collect())
    }

    /// Every span of the given traces in this block, with its trace ID, in one read: the
    /// pages of the row groups whose trace-ID ranges admit one of the IDs. Decoding runs
    /// on a blocking thread.
    pub async fn find_traces(
        &self,
        ids: &[TraceId],
    ) -> Result<Vec<(TraceId, HeadSpan)>, BlockError> {
        let mut ids: Vec<TraceId> = ids
            .iter()
            .filter(|id| self.may_contain(id))
            .copied()
            .collect();
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        ids.sort_unstable();
        ids.dedup();
        let inner = &self.inner;
        let md = inner.spans_metadata().await?;
        let mut row_groups: Vec<usize> = ids
            .iter()
            .flat_map(|id| inner.candidate_row_groups(id))
            .collect();
        row_groups.sort_unstable();
        row_groups.dedup();
        let selections: Vec<RowGroupSelection> = row_groups
            .into_iter()
            .filter_map(|rg| match page_selection(md.metadata(), rg, &ids) {
                None => Some(RowGroupSelection::new(rg, None)),
                Some(sel) if sel.selects_any() => Some(RowGroupSelection::new(rg, Some(sel))),
                Some(_) => None,
            })
            .collect();
        if selections.is_empty() {
            return Ok(Vec::new());
        }
        let tables = inner.tables().await?;
        let trace_id_leaf = md
            .parquet_schema()
            .columns()
            .iter()
            .position(|c| c.path().parts() == [schema::TRACE_ID])
            .ok_or_else(|| corrupt("spans.parquet has no trace_id column"))?;
        let wanted: std::collections::HashSet<[u8; 16]> = ids.iter().map(|id| id.0).collect();
        let predicate = ArrowPredicateFn::new(
            ProjectionMask::leaves(md.parquet_schema(), [trace_id_leaf]),
            move |batch: RecordBatch| {
                let ids = batch
                    .column(0)
                    .as_any()
                    .downcast_ref::<FixedSizeBinaryArray>()
                    .ok_or_else(|| ArrowError::SchemaError("trace_id is not binary(16)".into()))?;
                Ok((0..ids.len())
                    .map(|i| {
                        Some(<[u8; 16]>::try_from(ids.value(i)).is_ok_and(|v| wanted.contains(&v)))
                    })
                    .collect::<BooleanArray>())
            },
        );
        let stream =
            ParquetRecordBatchStreamBuilder::new_with_metadata(inner.file_reader(), md.clone())
                .with_row_group_selections(selections)
                .with_row_filter(RowFilter::new(vec![Box::new(predicate)]))
                .with_batch_size(BATCH_ROWS)
                .build()?;
        let batches: Vec<RecordBatch> = stream.try_collect().await?;
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || {
            let mut out = Vec::new();
            for b in &batches {
                out.extend(decode_spans(b, &inner, &tables)?);
            }
            Ok(out)
        })
        .await
        .map_err(|e| corrupt(format!("decoding spans: the task failed: {e}")))?
    }

    /// Every trace of the block in ascending ID order, read row group by row group (memory:
    /// one row group's pages and one decoded batch, plus the trace being assembled).
    pub fn traces(
        &self,
    ) -> impl Stream<Item = Result<(TraceId, Vec<HeadSpan>), BlockError>> + Send + 'static {
        let state = TraceScan {
            inner: self.inner.clone(),
            stream: None,
            tables: None,
            pending: VecDeque::new(),
            current: None,
            exhausted: self.inner.meta.span_count == 0,
            failed: false,
        };
        futures::stream::unfold(state, TraceScan::step)
    }

    /// The attribute index, kept in the block read cache ([`super::cache`]).
    pub async fn index(&self) -> Result<AttributeIndex, BlockError> {
        let inner = &self.inner;
        let index =
            super::cache::get_or_load(&self.meta.block_id, super::cache::Kind::Index, async {
                let batches = read_all(inner.get_file(schema::INDEX_FILE).await?)?;
                // The decoded columns' size: about what the index holds once built.
                let bytes = batches.iter().map(RecordBatch::get_array_memory_size).sum();
                Ok::<_, BlockError>((AttributeIndex::from_batches(&batches)?, bytes))
            })
            .await?;
        Ok((*index).clone())
    }
}

/// One row of `traces.parquet`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceSummary {
    pub trace_id: TraceId,
    pub root_service: Option<String>,
    pub root_name: Option<String>,
    pub start_unix_nano: u64,
    pub end_unix_nano: u64,
    pub span_count: u32,
    pub error_count: u32,
}

/// A block's `traces.parquet`, looked up by trace ID.
pub struct TraceTable {
    ids: FixedSizeBinaryArray,
    /// Root service and name: strings, plain or dictionary-encoded.
    root_service: arrow::array::ArrayRef,
    root_name: arrow::array::ArrayRef,
    start: UInt64Array,
    end: UInt64Array,
    spans: UInt32Array,
    errors: UInt32Array,
}

impl TraceTable {
    /// Bytes the table's columns hold.
    pub fn memory_size(&self) -> usize {
        use arrow::array::Array as _;
        self.ids.get_array_memory_size()
            + self.root_service.get_array_memory_size()
            + self.root_name.get_array_memory_size()
            + self.start.get_array_memory_size()
            + self.end.get_array_memory_size()
            + self.spans.get_array_memory_size()
            + self.errors.get_array_memory_size()
    }

    /// The trace's row, if the block holds the trace.
    pub fn get(&self, id: &TraceId) -> Option<TraceSummary> {
        let (mut lo, mut hi) = (0usize, self.ids.len());
        while lo < hi {
            let mid = (lo + hi) / 2;
            match self.ids.value(mid).cmp(id.as_bytes()) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => {
                    // The string columns were checked when the table was read.
                    let str_at = |a: &arrow::array::ArrayRef| {
                        StrCol::new(a.as_ref(), "traces")
                            .ok()
                            .and_then(|s| s.get(mid).map(str::to_string))
                    };
                    return Some(TraceSummary {
                        trace_id: *id,
                        root_service: str_at(&self.root_service),
                        root_name: str_at(&self.root_name),
                        start_unix_nano: self.start.value(mid),
                        end_unix_nano: self.end.value(mid),
                        span_count: self.spans.value(mid),
                        error_count: self.errors.value(mid),
                    });
                }
            }
        }
        None
    }
}

/// Column access for searches: read any subset of `spans.parquet`'s columns, row group by
/// row group, optionally only some rows.
impl BlockReader {
    /// Whether the block is still published: its `meta.json` exists now (removal deletes it
    /// first). Asks the storage each time; nothing cached answers it.
    pub async fn exists(&self) -> bool {
        let meta = self.inner.dir.clone().join(super::meta::META_FILE);
        self.inner.store.head(&meta).await.is_ok()
    }

    /// Number of row groups of `spans.parquet`.
    /// Per row group, the least and greatest value of an unsigned integer column of the
    /// span file (`start_unix_nano`, `duration_nano`), from the file's statistics (`None`
    /// for a row group without them). Read from the footer, cached with it.
    pub async fn row_group_ranges(
        &self,
        column: &str,
    ) -> Result<Vec<Option<(u64, u64)>>, BlockError> {
        use parquet::file::statistics::Statistics;
        let md = self.inner.spans_metadata().await?;
        let Some(leaf) = md
            .parquet_schema()
            .columns()
            .iter()
            .position(|c| c.path().parts() == [column])
        else {
            return Err(corrupt(format!("spans.parquet has no {column} column")));
        };
        Ok(md
            .metadata()
            .row_groups()
            .iter()
            .map(|rg| match rg.column(leaf).statistics() {
                // Unsigned values are stored as INT64 with unsigned order: the bits are the
                // value.
                Some(Statistics::Int64(v)) => match (v.min_opt(), v.max_opt()) {
                    (Some(a), Some(b)) => Some((*a as u64, *b as u64)),
                    _ => None,
                },
                _ => None,
            })
            .collect())
    }

    /// Of row groups `rgs`, those whose bloom filter of string column `column` may hold
    /// `value`: all of them when the column has no bloom filter (only high-cardinality
    /// dedicated columns have one, in blocks written since they were added).
    pub async fn row_groups_may_hold(
        &self,
        column: &str,
        value: &str,
        rgs: &[usize],
    ) -> Result<Vec<usize>, BlockError> {
        let md = self.inner.spans_metadata().await?;
        let Some(leaf) = md
            .parquet_schema()
            .columns()
            .iter()
            .position(|c| c.path().parts() == [column])
        else {
            return Ok(rgs.to_vec());
        };
        let mut builder = ParquetRecordBatchStreamBuilder::new_with_metadata(
            self.inner.file_reader(),
            md.clone(),
        );
        let mut out = Vec::with_capacity(rgs.len());
        for &rg in rgs {
            match builder.get_row_group_column_bloom_filter(rg, leaf).await? {
                Some(filter) if !filter.check(value) => {}
                _ => out.push(rg),
            }
        }
        Ok(out)
    }

    /// The row groups whose trace-ID range admits trace `id` (a trace the writer split
    /// spans several).
    pub fn row_groups_of(&self, id: &TraceId) -> Vec<usize> {
        self.inner.candidate_row_groups(id)
    }

    pub fn row_group_count(&self) -> usize {
        self.inner.row_groups.len()
    }

    /// Dedicated span-attribute keys: `(key, column, also in the generic list?)`.
    pub fn span_dedicated(&self) -> Vec<(String, String, bool)> {
        self.meta
            .dedicated_columns
            .iter()
            .filter(|d| d.scope == "span")
            .map(|d| {
                (
                    d.key.clone(),
                    d.column.clone(),
                    d.also_generic.unwrap_or(true),
                )
            })
            .collect()
    }

    /// The block's resources and scopes, by their index (read on first use, then cached).
    pub async fn resources_and_scopes(
        &self,
    ) -> Result<(Vec<Arc<ResourceEntry>>, Vec<Arc<ScopeEntry>>), BlockError> {
        let t = self.inner.tables().await?;
        Ok((t.resources.clone(), t.scopes.clone()))
    }

    /// The named top-level columns of one row group (names the file lacks are left out), in
    /// batches of at most `batch_rows` rows; with `rows`, only those row ranges (ascending,
    /// relative to the row group).
    pub async fn read_row_group(
        &self,
        columns: &[&str],
        row_group: usize,
        rows: Option<&[Range<usize>]>,
        batch_rows: usize,
    ) -> Result<Vec<RecordBatch>, BlockError> {
        let inner = &self.inner;
        let md = inner.spans_metadata().await?;
        let roots: Vec<usize> = columns
            .iter()
            .filter_map(|c| md.schema().index_of(c).ok())
            .collect();
        let mask = ProjectionMask::roots(md.parquet_schema(), roots);
        let selection = rows.map(|ranges| {
            let total = md.metadata().row_group(row_group).num_rows() as usize;
            let mut selectors = Vec::with_capacity(ranges.len() * 2 + 1);
            let mut at = 0;
            for r in ranges {
                if r.start > at {
                    selectors.push(RowSelector::skip(r.start - at));
                }
                if r.end > r.start {
                    selectors.push(RowSelector::select(r.end - r.start));
                }
                at = r.end;
            }
            if total > at {
                selectors.push(RowSelector::skip(total - at));
            }
            RowSelection::from(selectors)
        });
        // Batches are sized to the rows asked for: the reader sizes its buffers by the
        // batch size.
        let rg_rows = md.metadata().row_group(row_group).num_rows() as usize;
        let mut builder =
            ParquetRecordBatchStreamBuilder::new_with_metadata(inner.file_reader(), md.clone())
                .with_row_groups(vec![row_group])
                .with_projection(mask)
                .with_batch_size(batch_rows.min(rg_rows).max(1));
        if let Some(sel) = selection {
            builder = builder.with_row_selection(sel);
        }
        Ok(builder.build()?.try_collect().await?)
    }

    /// `traces.parquet`, read whole, for lookups by trace ID (binary search: the file is in
    /// trace-ID order).
    /// Kept in the block read cache ([`super::cache`]).
    pub async fn trace_table(&self) -> Result<Arc<TraceTable>, BlockError> {
        super::cache::get_or_load(&self.meta.block_id, super::cache::Kind::TraceTable, async {
            let t = self.read_trace_table().await?;
            let bytes = t.memory_size();
            Ok((t, bytes))
        })
        .await
    }

    async fn read_trace_table(&self) -> Result<TraceTable, BlockError> {
        let bytes = self.inner.get_file(schema::TRACES_FILE).await?;
        let batches = read_all(bytes)?;
        let batch = match batches.len() {
            0 => RecordBatch::new_empty(schema::traces_schema()),
            1 => batches.into_iter().next().expect("one"),
            _ => arrow::compute::concat_batches(&batches[0].schema(), &batches)?,
        };
        let b = &batch;
        let str_col = |name: &str| -> Result<arrow::array::ArrayRef, BlockError> {
            let a = column(b, name)?;
            StrCol::new(a, name)?;
            Ok(b.column_by_name(name).expect("found above").clone())
        };
        let u64_col = |name: &str| -> Result<UInt64Array, BlockError> {
            Ok(downcast::<UInt64Array>(column(b, name)?, name)?.clone())
        };
        let u32_col = |name: &str| -> Result<UInt32Array, BlockError> {
            Ok(downcast::<UInt32Array>(column(b, name)?, name)?.clone())
        };
        Ok(TraceTable {
            ids: fsb(column(b, schema::TRACE_ID)?, schema::TRACE_ID, 16)?.clone(),
            root_service: str_col(schema::ROOT_SERVICE)?,
            root_name: str_col(schema::ROOT_NAME)?,
            start: u64_col(schema::START)?,
            end: u64_col(schema::END)?,
            spans: u32_col(schema::SPAN_COUNT)?,
            errors: u32_col(schema::ERROR_COUNT)?,
        })
    }

    /// Compressed bytes of the named top-level columns in one row group (what reading them
    /// costs), from the footer.
    pub async fn column_bytes(
        &self,
        columns: &[&str],
        row_group: usize,
    ) -> Result<u64, BlockError> {
        let md = self.inner.spans_metadata().await?;
        let rg = md.metadata().row_group(row_group);
        Ok(rg
            .columns()
            .iter()
            .filter(|c| {
                c.column_path()
                    .parts()
                    .first()
                    .is_some_and(|root| columns.contains(&root.as_str()))
            })
            .map(|c| c.compressed_size().max(0) as u64)
            .sum())
    }
}

impl Inner {
    /// Row groups whose trace-ID range admits `id`.
    fn candidate_row_groups(&self, id: &TraceId) -> Vec<usize> {
        let start = self.row_groups.partition_point(|(_, last)| last < id);
        (start..self.row_groups.len())
            .take_while(|&i| self.row_groups[i].0 <= *id)
            .collect()
    }

    fn file_reader(&self) -> StoreReader {
        StoreReader {
            store: self.store.clone(),
            path: self.dir.clone().join(schema::SPANS_FILE),
            size: self.spans_size,
        }
    }

    async fn get_file(&self, name: &str) -> Result<Bytes, BlockError> {
        Ok(self
            .store
            .get(&self.dir.clone().join(name))
            .await?
            .bytes()
            .await?)
    }

    /// The span file's footer with its offset index (all columns) and the column index of
    /// `trace_id`.
    async fn spans_metadata(&self) -> Result<ArrowReaderMetadata, BlockError> {
        self.spans_meta
            .get_or_try_init(|| async {
                let mut reader = self.file_reader();
                let options = ArrowReaderOptions::new()
                    .with_page_index_policy(PageIndexPolicy::Optional)
                    .with_column_index_mask(ColumnChunkMask::columns([0]));
                Ok::<_, BlockError>(ArrowReaderMetadata::load_async(&mut reader, options).await?)
            })
            .await
            .cloned()
    }

    async fn tables(&self) -> Result<Arc<Tables>, BlockError> {
        self.tables
            .get_or_try_init(|| async {
                let (r, s) = futures::try_join!(
                    self.get_file(schema::RESOURCES_FILE),
                    self.get_file(schema::SCOPES_FILE)
                )?;
                Ok::<_, BlockError>(Arc::new(Tables {
                    resources: decode_resources(&read_all(r)?, self)?,
                    scopes: decode_scopes(&read_all(s)?)?,
                }))
            })
            .await
            .cloned()
    }
}

/// The rows of a row group whose `trace_id` pages may hold one of `ids` (ascending), from
/// the page index; `None` when the file has no page index for it.
fn page_selection(md: &ParquetMetaData, rg: usize, ids: &[TraceId]) -> Option<RowSelection> {
    let pi = md.page_index_for_row_group(rg);
    let ColumnIndexMetaData::FIXED_LEN_BYTE_ARRAY(ci) = pi.column_index(0)? else {
        return None;
    };
    let locations = pi.offset_index(0)?.page_locations();
    let rows = md.row_group(rg).num_rows() as usize;
    let mut selectors = Vec::with_capacity(locations.len());
    for (p, loc) in locations.iter().enumerate() {
        let first = loc.first_row_index as usize;
        let end = locations
            .get(p + 1)
            .map_or(rows, |l| l.first_row_index as usize);
        let admit = match (ci.min_value(p), ci.max_value(p)) {
            (Some(min), Some(max)) => {
                // `ids` ascending: the first one not below `min` decides.
                let i = ids.partition_point(|id| id.as_bytes() < min);
                ids.get(i).is_some_and(|id| id.as_bytes() <= max)
            }
            _ => true,
        };
        selectors.push(if admit {
            RowSelector::select(end - first)
        } else {
            RowSelector::skip(end - first)
        });
    }
    Some(RowSelection::from(selectors))
}

/// Reads a whole small Parquet file.
fn read_all(bytes: Bytes) -> Result<Vec<RecordBatch>, BlockError> {
    let reader = ParquetRecordBatchReaderBuilder::try_new(bytes)?.build()?;
    Ok(reader.collect::<Result<Vec<_>, ArrowError>>()?)
}

/// Ranged reads of one object, for Parquet's async reader.
struct StoreReader {
    store: Arc<dyn ObjectStore>,
    path: Path,
    size: u64,
}

fn store_error(e: object_store::Error) -> ParquetError {
    ParquetError::External(Box::new(e))
}

impl AsyncFileReader for StoreReader {
    fn get_bytes(&mut self, range: Range<u64>) -> BoxFuture<'_, parquet::errors::Result<Bytes>> {
        async move {
            self.store
                .get_range(&self.path, range)
                .await
                .map_err(store_error)
        }
        .boxed()
    }

    fn get_byte_ranges(
        &mut self,
        ranges: Vec<Range<u64>>,
    ) -> BoxFuture<'_, parquet::errors::Result<Vec<Bytes>>> {
        async move {
            let merged = coalesce(&ranges, COALESCE_GAP);
            let store = &self.store;
            let path = &self.path;
            let fetched: Vec<Bytes> = futures::stream::iter(merged.iter().cloned())
                .map(|r| store.get_range(path, r))
                .buffered(FETCH_CONCURRENCY)
                .try_collect()
                .await
                .map_err(store_error)?;
            ranges
                .iter()
                .map(|r| {
                    let i = merged.partition_point(|m| m.end < r.end);
                    let m = merged
                        .get(i)
                        .filter(|m| m.start <= r.start && r.end <= m.end)
                        .ok_or_else(|| ParquetError::General("range not fetched".into()))?;
                    Ok(fetched[i].slice((r.start - m.start) as usize..(r.end - m.start) as usize))
                })
                .collect()
        }
        .boxed()
    }

    fn get_metadata<'a>(
        &'a mut self,
        options: Option<&'a ArrowReaderOptions>,
    ) -> BoxFuture<'a, parquet::errors::Result<Arc<ParquetMetaData>>> {
        async move {
            let size = self.size;
            let md = ParquetMetaDataReader::new()
                .with_arrow_reader_options(options)
                .with_prefetch_hint(Some(FOOTER_PREFETCH))
                .load_and_finish(self, size)
                .await?;
            Ok(Arc::new(md))
        }
        .boxed()
    }
}

/// Sorted, merged ranges covering `ranges`, joining ranges less than `gap` bytes apart.
fn coalesce(ranges: &[Range<u64>], gap: u64) -> Vec<Range<u64>> {
    let mut sorted: Vec<Range<u64>> = ranges.to_vec();
    sorted.sort_by_key(|r| r.start);
    let mut out: Vec<Range<u64>> = Vec::with_capacity(sorted.len());
    for r in sorted {
        match out.last_mut() {
            Some(last) if r.start <= last.end.saturating_add(gap) => {
                last.end = last.end.max(r.end);
            }
            _ => out.push(r),
        }
    }
    out
}

/// A full scan, trace by trace.
struct TraceScan {
    inner: Arc<Inner>,
    stream: Option<ParquetRecordBatchStream<StoreReader>>,
    tables: Option<Arc<Tables>>,
    pending: VecDeque<(TraceId, HeadSpan)>,
    current: Option<(TraceId, Vec<HeadSpan>)>,
    exhausted: bool,
    failed: bool,
}

type ScanItem = Result<(TraceId, Vec<HeadSpan>), BlockError>;

impl TraceScan {
    async fn step(mut self) -> Option<(ScanItem, Self)> {
        loop {
            if self.failed {
                return None;
            }
            while let Some((id, span)) = self.pending.pop_front() {
                if let Some((cid, spans)) = &mut self.current
                    && *cid == id
                {
                    spans.push(span);
                    continue;
                }
                if let Some(done) = self.current.replace((id, vec![span])) {
                    return Some((Ok(done), self));
                }
            }
            if self.exhausted {
                return self.current.take().map(|t| (Ok(t), self));
            }
            match self.next_batch().await {
                Ok(Some(rows)) => self.pending.extend(rows),
                Ok(None) => self.exhausted = true,
                Err(e) => {
                    self.failed = true;
                    return Some((Err(e), self));
                }
            }
        }
    }

    async fn next_batch(&mut self) -> Result<Option<Vec<(TraceId, HeadSpan)>>, BlockError> {
        if self.stream.is_none() {
            let md = self.inner.spans_metadata().await?;
            self.tables = Some(self.inner.tables().await?);
            let stream =
                ParquetRecordBatchStreamBuilder::new_with_metadata(self.inner.file_reader(), md)
                    .with_batch_size(BATCH_ROWS)
                    .build()?;
            self.stream = Some(stream);
        }
        let stream = self.stream.as_mut().expect("set above");
        let tables = self.tables.clone().expect("set with the stream");
        match stream.next().await {
            None => Ok(None),
            Some(batch) => Ok(Some(decode_spans(&batch?, &self.inner, &tables)?)),
        }
    }
}

fn column<'a>(b: &'a RecordBatch, name: &str) -> Result<&'a dyn Array, BlockError> {
    b.column_by_name(name)
        .map(|c| c.as_ref())
        .ok_or_else(|| corrupt(format!("missing column {name}")))
}

fn fsb<'a>(
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
fn decode_spans(
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

fn decode_resources(
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

fn decode_scopes(batches: &[RecordBatch]) -> Result<Vec<Arc<ScopeEntry>>, BlockError> {
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
