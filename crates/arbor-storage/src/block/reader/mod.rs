//! [`BlockReader`]: trace lookups and full scans of one published block.
//!
//! - this file: opening a block, its trace-ID filter, footer, tables and index;
//! - [`traces`]: traces by ID and the trace-by-trace scan, and `traces.parquet`;
//! - [`row_group`]: columns of one row group, for searches (read here, decoded where the
//!   caller chooses);
//! - [`store`]: ranged reads of the object store for Parquet;
//! - [`decode`]: Arrow batches back into spans, resources and scopes.

mod decode;
mod row_group;
mod store;
mod traces;

pub use row_group::RowGroupRead;
pub use traces::{TraceSummary, TraceTable};

use std::sync::Arc;

use arbor_model::TraceId;
use arrow::array::RecordBatch;
use arrow::error::ArrowError;
use bytes::Bytes;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};
use parquet::arrow::arrow_reader::{
    ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReaderBuilder,
};
use parquet::file::metadata::{ColumnChunkMask, PageIndexPolicy};
use tokio::sync::OnceCell;

use super::BlockError;
use super::attrs::corrupt;
use super::filter::{self, TraceFilter};
use super::index::AttributeIndex;
use super::meta::{BlockMeta, FORMAT};
use super::schema;
use crate::head::{ResourceEntry, ScopeEntry};
use decode::{decode_resources, decode_scopes};
use store::StoreReader;

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

impl BlockReader {
    /// Whether the block is still published: its `meta.json` exists now (removal deletes it
    /// first). Asks the storage each time; nothing cached answers it.
    pub async fn exists(&self) -> bool {
        let meta = self.inner.dir.clone().join(super::meta::META_FILE);
        self.inner.store.head(&meta).await.is_ok()
    }

    /// The row groups whose trace-ID range admits trace `id` (a trace the writer split
    /// spans several).
    pub fn row_groups_of(&self, id: &TraceId) -> Vec<usize> {
        self.inner.candidate_row_groups(id)
    }

    /// Number of row groups of `spans.parquet`.
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
                let md = ArrowReaderMetadata::load_async(&mut reader, options).await?;
                // Row groups are addressed by their index in meta.json: the footer must
                // hold every one of them (a damaged or mismatched file must not index past
                // its end).
                let held = md.metadata().num_row_groups();
                if held < self.row_groups.len() {
                    return Err(corrupt(format!(
                        "spans.parquet holds {held} row groups, meta.json lists {}",
                        self.row_groups.len()
                    )));
                }
                Ok::<_, BlockError>(md)
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

/// Reads a whole small Parquet file.
fn read_all(bytes: Bytes) -> Result<Vec<RecordBatch>, BlockError> {
    let reader = ParquetRecordBatchReaderBuilder::try_new(bytes)?.build()?;
    Ok(reader.collect::<Result<Vec<_>, ArrowError>>()?)
}
