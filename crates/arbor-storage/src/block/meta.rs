//! Block metadata: `meta.json`, written last. Its presence makes a block visible; a block
//! directory without it is an unfinished write and is cleaned up.

use serde::{Deserialize, Serialize};

/// The format name every `meta.json` carries.
pub const FORMAT: &str = "arbor-block";
/// The newest block format version this build writes. Older versions stay readable.
pub const VERSION: u32 = 1;
/// The name of the metadata object inside a block's directory.
pub const META_FILE: &str = "meta.json";

/// Everything a reader needs to decide whether to open a block, and how.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BlockMeta {
    /// Always [`FORMAT`].
    pub format: String,
    /// Format version of the files of this block.
    pub version: u32,
    /// A UUIDv7 (time-ordered), as text.
    pub block_id: String,
    pub tenant: String,
    /// When the block was written.
    pub created_unix_nano: u64,
    /// Earliest span start and latest span end in the block.
    pub start_unix_nano: u64,
    pub end_unix_nano: u64,
    /// Smallest and largest trace ID (hex).
    pub min_trace_id: String,
    pub max_trace_id: String,
    pub span_count: u64,
    pub trace_count: u64,
    /// The block's files (not counting `meta.json`) with their sizes.
    pub files: Vec<BlockFile>,
    /// Row groups of the span file, in order, with the trace-ID range each holds.
    pub row_groups: Vec<RowGroupMeta>,
    /// Attributes given their own column in this block.
    pub dedicated_columns: Vec<DedicatedColumn>,
    /// The trace-ID filter: which file holds it and how it is built.
    pub trace_filter: FilterMeta,
    /// Which write-ahead log records this block covers, when it was cut from a head.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wal: Option<WalCoverage>,
    /// 0 for a block cut from the head; one more than its inputs' highest for a compacted one.
    #[serde(default)]
    pub compaction_level: u32,
    /// Blocks this one replaces (compaction). Readers hide a block listed here by a visible
    /// block, so a crash between writing the output and deleting the inputs never counts
    /// spans twice.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sources: Vec<String>,
}

impl BlockMeta {
    /// Total bytes of the block's files.
    pub fn size_bytes(&self) -> u64 {
        self.files.iter().map(|f| f.bytes).sum()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockFile {
    pub name: String,
    pub bytes: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RowGroupMeta {
    pub first_trace_id: String,
    pub last_trace_id: String,
    pub rows: u64,
}

/// Where a dedicated attribute lives.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DedicatedColumn {
    /// `span` or `resource`.
    pub scope: String,
    /// The attribute key, e.g. `http.route`.
    pub key: String,
    /// The Parquet column that holds it.
    pub column: String,
    /// Whether some span of the block also holds this key in its generic `attributes`
    /// list (a duplicate key, or a value that is not a plain string). `false` lets a search
    /// read the dedicated column alone; absent (blocks written before this field existed)
    /// means "maybe".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub also_generic: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FilterMeta {
    /// The filter's kind, e.g. `bloom`.
    pub kind: String,
    /// The file holding it.
    pub file: String,
    /// Kind-specific parameters (e.g. bits and hashes for a Bloom filter).
    #[serde(default)]
    pub params: serde_json::Map<String, serde_json::Value>,
}

/// The write-ahead log records a block was cut from: every record of this tenant in
/// segments up to `through_segment` of the ingester `ingester` is in this block (or in an
/// earlier one). Replay skips them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WalCoverage {
    pub ingester: String,
    pub through_segment: u64,
}
