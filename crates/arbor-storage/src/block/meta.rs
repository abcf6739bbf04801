//! Block metadata: `meta.json`, written last. Its presence makes a block visible; a block
//! directory without it is an unfinished write and is cleaned up.
//!
//! Two time ranges, two uses:
//!
//! - `start_unix_nano`/`end_unix_nano` are the spans' own times, as their clients stamped
//!   them. Searches prune blocks by this range, so a span stamped 30 days ago is found by a
//!   query for 30 days ago, whatever the server's clock said when it arrived.
//! - `received` is when the server received the block's spans (its own clock: the time
//!   each write-ahead log record was appended). Retention and compaction windows go by it
//!   ([`BlockMeta::received_range`], bounded by the slack in
//!   [`crate::retention`]), so a client's clock decides neither how long spans are kept nor
//!   which blocks are merged.
//!
//! `received` was added without a version bump: a `meta.json` without it (blocks written
//! before) still loads, and [`BlockMeta::received_range`] falls back to the span range
//! clamped to `created_unix_nano` — the spans were all received before the block was
//! written, so the received range ends at its creation at the latest. The end is the
//! creation time itself, so an old block is never deleted earlier than `max_age` after it
//! was written, however its spans were stamped.

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
    /// When the server received the block's spans (absent in blocks written before it
    /// was recorded; see [`BlockMeta::received_range`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub received: Option<ReceivedRange>,
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

    /// When the block's spans were received by the server, by its clock: the recorded
    /// range, or for a block written before it was recorded, `(min(start, created),
    /// created)` — a bound no client clock can move past when the block was written.
    pub fn received_range(&self) -> ReceivedRange {
        self.received.unwrap_or(ReceivedRange {
            first_unix_nano: self.start_unix_nano.min(self.created_unix_nano),
            last_unix_nano: self.created_unix_nano,
        })
    }
}

/// When the server received a block's spans: the first and the last arrival (Unix ns, the
/// server's clock). A compacted block's range spans its inputs' ranges.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceivedRange {
    pub first_unix_nano: u64,
    pub last_unix_nano: u64,
}

impl ReceivedRange {
    /// The smallest range holding both.
    pub fn union(self, other: ReceivedRange) -> ReceivedRange {
        ReceivedRange {
            first_unix_nano: self.first_unix_nano.min(other.first_unix_nano),
            last_unix_nano: self.last_unix_nano.max(other.last_unix_nano),
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A `meta.json` as blocks were written before `received` existed (taken from a block
    /// of that version), with span times stamped 30 days before the block was written.
    const OLD_META: &str = r#"{
        "format": "arbor-block",
        "version": 1,
        "block_id": "0193a4b2-7c1e-7000-8000-000000000001",
        "tenant": "acme",
        "created_unix_nano": 1800000000000000000,
        "start_unix_nano": 1797408000000000000,
        "end_unix_nano": 1797408060000000000,
        "min_trace_id": "00000000000000000000000000000001",
        "max_trace_id": "00000000000000000000000000000002",
        "span_count": 2,
        "trace_count": 2,
        "files": [{"name": "data.parquet", "bytes": 1234}],
        "row_groups": [{"first_trace_id": "00000000000000000000000000000001",
                        "last_trace_id": "00000000000000000000000000000002", "rows": 2}],
        "dedicated_columns": [],
        "trace_filter": {"kind": "bloom", "file": "filter.bin", "params": {"bits": 64}},
        "wal": {"ingester": "i-1", "through_segment": 3}
    }"#;

    #[test]
    fn old_meta_without_received_loads_and_falls_back_to_creation() {
        let meta: BlockMeta = serde_json::from_str(OLD_META).unwrap();
        assert_eq!(meta.received, None);
        assert_eq!(meta.span_count, 2);
        // Span times stay as stamped (queries prune by them) ...
        assert_eq!(meta.end_unix_nano, 1_797_408_060_000_000_000);
        // ... and the received range ends at the block's creation, not at its old spans.
        assert_eq!(
            meta.received_range(),
            ReceivedRange {
                first_unix_nano: 1_797_408_000_000_000_000,
                last_unix_nano: 1_800_000_000_000_000_000,
            }
        );
    }

    #[test]
    fn old_meta_with_future_spans_is_bounded_by_creation() {
        let mut meta: BlockMeta = serde_json::from_str(OLD_META).unwrap();
        meta.start_unix_nano = meta.created_unix_nano + 1_000;
        meta.end_unix_nano = meta.created_unix_nano + 2_000;
        let r = meta.received_range();
        assert_eq!(r.first_unix_nano, meta.created_unix_nano);
        assert_eq!(r.last_unix_nano, meta.created_unix_nano);
    }

    #[test]
    fn received_round_trips_and_is_left_out_when_absent() {
        let mut meta: BlockMeta = serde_json::from_str(OLD_META).unwrap();
        let old_json = serde_json::to_string(&meta).unwrap();
        assert!(!old_json.contains("received"));
        meta.received = Some(ReceivedRange {
            first_unix_nano: 5,
            last_unix_nano: 9,
        });
        let back: BlockMeta = serde_json::from_str(&serde_json::to_string(&meta).unwrap()).unwrap();
        assert_eq!(back, meta);
        assert_eq!(back.received_range().last_unix_nano, 9);
    }

    #[test]
    fn union_spans_both() {
        let a = ReceivedRange {
            first_unix_nano: 10,
            last_unix_nano: 20,
        };
        let b = ReceivedRange {
            first_unix_nano: 5,
            last_unix_nano: 15,
        };
        assert_eq!(
            a.union(b),
            ReceivedRange {
                first_unix_nano: 5,
                last_unix_nano: 20
            }
        );
    }
}
