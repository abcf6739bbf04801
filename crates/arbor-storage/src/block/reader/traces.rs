//! Traces by ID, the full scan trace by trace, and each block's `traces.parquet`.

use std::collections::VecDeque;
use std::sync::Arc;

use arbor_model::TraceId;
use arrow::array::{
    Array, BooleanArray, FixedSizeBinaryArray, RecordBatch, UInt32Array, UInt64Array,
};
use arrow::error::ArrowError;
use futures::{Stream, StreamExt};
use parquet::DecodeResult;
use parquet::arrow::ParquetRecordBatchStreamBuilder;
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::{
    ArrowPredicateFn, RowFilter, RowGroupSelection, RowSelection, RowSelector,
};
use parquet::arrow::async_reader::AsyncFileReader;
use parquet::arrow::async_reader::ParquetRecordBatchStream;
use parquet::arrow::push_decoder::ParquetPushDecoderBuilder;
use parquet::file::metadata::ParquetMetaData;
use parquet::file::page_index::column_index::ColumnIndexMetaData;

use super::decode::{column, decode_spans, fsb};
use super::row_group::top_level_leaf;
use super::store::StoreReader;
use super::{BlockReader, Inner, Tables, read_all};
use crate::block::BlockError;
use crate::block::attrs::{StrCol, corrupt, downcast};
use crate::block::schema;
use crate::head::HeadSpan;

/// Rows per decoded batch.
const BATCH_ROWS: usize = 4_096;

impl BlockReader {
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
        let trace_id_leaf = top_level_leaf(&md, schema::TRACE_ID)
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
        let mut decoder = ParquetPushDecoderBuilder::new_with_metadata(md.clone())
            .with_row_group_selections(selections)
            .with_row_filter(RowFilter::new(vec![Box::new(predicate)]))
            .with_batch_size(BATCH_ROWS)
            .build()?;
        // Here only the trace-ID pages are decoded (by the filter); each row group's
        // reader holds the other pages, decoded on the blocking thread below.
        let mut file = inner.file_reader();
        let mut readers = Vec::new();
        loop {
            match decoder.try_next_reader()? {
                DecodeResult::NeedsData(ranges) => {
                    let data = file.get_byte_ranges(ranges.clone()).await?;
                    decoder.push_ranges(ranges, data)?;
                }
                DecodeResult::Data(reader) => readers.push(reader),
                DecodeResult::Finished => break,
            }
        }
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || {
            let mut out = Vec::new();
            for reader in readers {
                for b in reader {
                    out.extend(decode_spans(&b?, &inner, &tables)?);
                }
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

    /// `traces.parquet`, read whole, for lookups by trace ID (binary search: the file is in
    /// trace-ID order).
    /// Kept in the block read cache ([`super::cache`]).
    pub async fn trace_table(&self) -> Result<Arc<TraceTable>, BlockError> {
        super::super::cache::get_or_load(
            &self.meta.block_id,
            super::super::cache::Kind::TraceTable,
            async {
                let t = self.read_trace_table().await?;
                let bytes = t.memory_size();
                Ok((t, bytes))
            },
        )
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
