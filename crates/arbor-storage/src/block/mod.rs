//! The block format: immutable Parquet files per tenant and block (format v1, documented
//! column by column in `docs/format.md`).
//!
//! A block is a directory `<tenant>/<block_id>/` holding:
//! - `spans.parquet`: one row per span, sorted by trace ID then start time; dedicated columns
//!   for the block's most frequent string span attributes, a typed key/value list for the rest;
//! - `resources.parquet`, `scopes.parquet`: the block's distinct resources and scopes,
//!   referenced by index from each span;
//! - `traces.parquet`: one row per trace (root service and name, time range, counts);
//! - `index.parquet`: (scope, key, value) → row groups, for string attributes and, in typed
//!   scopes, scalar values of every type;
//! - `trace-ids.sbbf`: a split-block Bloom filter over the trace IDs;
//! - `meta.json` ([`meta::BlockMeta`]), written last: its presence makes the block visible.
//!
//! [`BlockWriter`] turns traces into the bytes of these files ([`EncodedBlock`]); the backend
//! publishes them. [`BlockReader`] answers trace-by-ID lookups with ranged reads of only the
//! row groups (and pages) that can hold the trace, and streams every trace for compaction.
//! Nothing is lost on the way: a span read back is the exact OTLP span written.

mod attrs;
pub mod cache;
pub mod filter;
pub mod index;
pub mod meta;
mod reader;
pub mod schema;
mod writer;

#[cfg(test)]
mod tests;

pub use index::{AttributeIndex, IndexAnswer, IndexScope, TypedIndexScope};
pub use reader::{BlockReader, READABLE_VERSIONS, RowGroupRead, TraceSummary, TraceTable};
pub use writer::BlockWriter;

/// How blocks are written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockWriteOptions {
    /// Target rows per row group of `spans.parquet`. A row group ends at the first trace
    /// boundary past it (a single trace larger than twice this is split). This is also the
    /// sample the dedicated columns are chosen from.
    pub rows_per_row_group: usize,
    /// At most this many span attributes get a dedicated column.
    pub max_dedicated_columns: usize,
    /// Past this many distinct values, a key is "not indexed" in the attribute index.
    pub index_max_values_per_key: usize,
    /// zstd level of every file (1..=22).
    pub zstd_level: i32,
}

impl Default for BlockWriteOptions {
    fn default() -> Self {
        Self {
            rows_per_row_group: 20_000,
            max_dedicated_columns: 20,
            index_max_values_per_key: 1_000,
            zstd_level: 6,
        }
    }
}

/// A block ready to publish: its files (to be written under the block's directory, in any
/// order) and its metadata (to be written last, as [`meta::META_FILE`]). `meta.files` lists
/// the files with their sizes.
#[derive(Debug, Clone)]
pub struct EncodedBlock {
    pub meta: meta::BlockMeta,
    pub files: Vec<(String, bytes::Bytes)>,
}

/// Why a block could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum BlockError {
    #[error("parquet: {0}")]
    Parquet(#[from] parquet::errors::ParquetError),
    #[error("arrow: {0}")]
    Arrow(#[from] arrow::error::ArrowError),
    #[error("object store: {0}")]
    ObjectStore(#[from] object_store::Error),
    /// The block's files do not say what the format says they must.
    #[error("corrupt block: {what}")]
    Corrupt { what: String },
    /// The block was written by a newer format version than this build reads.
    #[error(
        "block format version {version} is not supported by this build (it reads versions {:?}); upgrade Arbor to read it",
        READABLE_VERSIONS
    )]
    UnsupportedVersion { version: u32 },
    /// Traces were not pushed in strictly ascending trace-ID order.
    #[error(
        "trace {got} pushed after trace {last}: traces must come in strictly ascending trace-ID order"
    )]
    OutOfOrder { last: String, got: String },
    /// A span that does not fit the format (IDs of the wrong length, or a span filed under
    /// another trace). Validation upstream rejects these before they reach a block.
    #[error("span not writable to a block: {reason}")]
    InvalidSpan { reason: String },
}

impl BlockError {
    /// Whether a file of the block was missing (the block was deleted while being read).
    pub fn is_not_found(&self) -> bool {
        matches!(
            self,
            Self::ObjectStore(object_store::Error::NotFound { .. })
        )
    }
}
