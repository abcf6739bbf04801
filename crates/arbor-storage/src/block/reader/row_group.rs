//! Columns of one row group of `spans.parquet`, for searches.

use std::ops::Range;

use arrow::array::RecordBatch;
use arrow::error::ArrowError;
use parquet::DecodeResult;
use parquet::arrow::ParquetRecordBatchStreamBuilder;
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::{
    ArrowReaderMetadata, ParquetRecordBatchReader, RowSelection, RowSelector,
};
use parquet::arrow::async_reader::AsyncFileReader;
use parquet::arrow::push_decoder::ParquetPushDecoderBuilder;

use super::BlockReader;
use crate::block::BlockError;
use crate::block::attrs::corrupt;

/// Column access for searches: read any subset of `spans.parquet`'s columns, row group by
/// row group, optionally only some rows.
impl BlockReader {
    /// Per row group, the least and greatest value of an unsigned integer column of the
    /// span file (`start_unix_nano`, `duration_nano`), from the file's statistics (`None`
    /// for a row group without them). Read from the footer, cached with it.
    pub async fn row_group_ranges(
        &self,
        column: &str,
    ) -> Result<Vec<Option<(u64, u64)>>, BlockError> {
        use parquet::file::statistics::Statistics;
        let md = self.inner.spans_metadata().await?;
        let Some(leaf) = top_level_leaf(&md, column) else {
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
        let Some(leaf) = top_level_leaf(&md, column) else {
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

    /// The spans of one row group with only `columns` (top-level names), optionally only
    /// the rows in `rows` (ascending, disjoint ranges), in batches of at most `batch_rows`,
    /// read and decoded here. Searches use [`Self::fetch_row_group`] instead, to decode
    /// on a thread of their own.
    pub async fn read_row_group(
        &self,
        columns: &[&str],
        row_group: usize,
        rows: Option<&[Range<usize>]>,
        batch_rows: usize,
    ) -> Result<Vec<RecordBatch>, BlockError> {
        self.fetch_row_group(columns, row_group, rows, batch_rows)
            .await?
            .decode()
    }

    /// Reads what [`Self::read_row_group`] would decode — the compressed pages of the
    /// columns asked for — without decoding it: [`RowGroupRead::decode`] does that, on
    /// whatever thread the caller chooses (decompression and decoding are most of a
    /// search's CPU; the async workers should not do it).
    pub async fn fetch_row_group(
        &self,
        columns: &[&str],
        row_group: usize,
        rows: Option<&[Range<usize>]>,
        batch_rows: usize,
    ) -> Result<RowGroupRead, BlockError> {
        let inner = &self.inner;
        let md = inner.spans_metadata().await?;
        let roots: Vec<usize> = columns
            .iter()
            .filter_map(|c| md.schema().index_of(c).ok())
            .collect();
        let mask = ProjectionMask::roots(md.parquet_schema(), roots);
        let total = md.metadata().row_group(row_group).num_rows() as usize;
        let selection = rows.map(|ranges| {
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
        let mut builder = ParquetPushDecoderBuilder::new_with_metadata(md.clone())
            .with_row_groups(vec![row_group])
            .with_projection(mask)
            .with_batch_size(batch_rows.min(total).max(1));
        if let Some(sel) = selection {
            builder = builder.with_row_selection(sel);
        }
        let mut decoder = builder.build()?;
        let mut file = inner.file_reader();
        // The decoder names the byte ranges it needs; once it has them it hands over a
        // reader of the row group, which holds the pages and decodes when iterated.
        loop {
            match decoder.try_next_reader()? {
                DecodeResult::NeedsData(ranges) => {
                    let data = file.get_byte_ranges(ranges.clone()).await?;
                    decoder.push_ranges(ranges, data)?;
                }
                DecodeResult::Data(reader) => return Ok(RowGroupRead(Some(reader))),
                DecodeResult::Finished => return Ok(RowGroupRead(None)),
            }
        }
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

/// A row group's pages, read and not yet decoded ([`BlockReader::fetch_row_group`]).
pub struct RowGroupRead(Option<ParquetRecordBatchReader>);

impl RowGroupRead {
    /// Decompresses and decodes the pages into batches: CPU work, for a thread made for
    /// it.
    pub fn decode(self) -> Result<Vec<RecordBatch>, BlockError> {
        match self.0 {
            Some(reader) => Ok(reader.collect::<Result<Vec<_>, ArrowError>>()?),
            None => Ok(Vec::new()),
        }
    }
}

/// The leaf index of a top-level, non-nested column of the span file.
pub(super) fn top_level_leaf(md: &ArrowReaderMetadata, column: &str) -> Option<usize> {
    md.parquet_schema()
        .columns()
        .iter()
        .position(|c| c.path().parts() == [column])
}
