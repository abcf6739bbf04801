//! Compaction: merges blocks of overlapping time into larger ones, joining the parts of each
//! trace and dropping duplicate spans.
//!
//! Planning picks, per tenant, blocks whose last spans were received in the same time
//! window (by default one hour; the server's clock, [`BlockMeta::received_range`], not the
//! spans' own stamps), oldest first, once there are enough of them. So blocks are merged
//! with blocks retention will delete at about the same time, and a client with a wrong
//! clock cannot put its spans in a window of their own. The output's received range is
//! the union of its inputs'. The merge streams every
//! input's traces in trace-ID order (each block is sorted by trace ID) through a k-way merge;
//! one trace per input is in memory at a time, plus the writer's current row group and its
//! compressed output — never the inputs whole.
//!
//! Crash safety: the output is published with `sources` naming its inputs. Once its
//! `meta.json` exists, readers hide the inputs even before they are deleted, so a crash at any
//! point leaves either the inputs or the output counted, never both; leftovers are deleted by
//! the backend's cleanup.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::pin::Pin;
use std::time::Duration;

use arbor_model::TraceId;
use futures::{Stream, StreamExt};

use crate::block::meta::{BlockMeta, ReceivedRange, WalCoverage};
use crate::block::{BlockError, BlockReader, BlockWriteOptions, BlockWriter};
use crate::head::HeadSpan;

/// When and how much to compact.
#[derive(Debug, Clone)]
pub struct CompactionConfig {
    /// Blocks whose last spans were received in the same window of this length are merged
    /// together.
    pub window: Duration,
    /// Fewest blocks worth merging.
    pub min_inputs: usize,
    /// Most blocks merged at once.
    pub max_inputs: usize,
    /// An output stops growing past this many spans.
    pub max_output_spans: u64,
    /// An output stops growing past this many bytes (the inputs' files added up). The
    /// writer holds its compressed output in memory until it is published, so this bounds
    /// what one compaction holds.
    pub max_output_bytes: u64,
}

impl Default for CompactionConfig {
    fn default() -> Self {
        Self {
            window: Duration::from_secs(3600),
            min_inputs: 4,
            max_inputs: 16,
            max_output_spans: 20_000_000,
            max_output_bytes: 256 << 20,
        }
    }
}

/// Bytes of a block's files.
fn block_bytes(b: &BlockMeta) -> u64 {
    b.files.iter().map(|f| f.bytes).sum()
}

/// Chooses the blocks to merge next, if any: the oldest window holding at least
/// `min_inputs` blocks that are not already too big, up to `max_inputs` of them,
/// `max_output_spans` and `max_output_bytes` in total, oldest first.
pub fn plan(blocks: &[BlockMeta], cfg: &CompactionConfig) -> Option<Vec<BlockMeta>> {
    let window = cfg.window.as_nanos().max(1) as u64;
    let mut candidates: Vec<&BlockMeta> = blocks
        .iter()
        .filter(|b| {
            b.span_count < cfg.max_output_spans / 2 && block_bytes(b) < cfg.max_output_bytes / 2
        })
        .collect();
    let key = |b: &BlockMeta| {
        let r = b.received_range();
        (r.last_unix_nano / window, r.first_unix_nano)
    };
    candidates.sort_by(|a, b| (key(a), &a.block_id).cmp(&(key(b), &b.block_id)));
    let mut i = 0;
    while i < candidates.len() {
        let w = key(candidates[i]).0;
        let group: Vec<&BlockMeta> = candidates[i..]
            .iter()
            .take_while(|b| key(b).0 == w)
            .copied()
            .collect();
        let mut picked = Vec::new();
        let (mut spans, mut bytes) = (0u64, 0u64);
        for b in &group {
            if picked.len() == cfg.max_inputs
                || spans + b.span_count > cfg.max_output_spans
                || bytes + block_bytes(b) > cfg.max_output_bytes
            {
                break;
            }
            spans += b.span_count;
            bytes += block_bytes(b);
            picked.push((*b).clone());
        }
        if picked.len() >= cfg.min_inputs.max(2) {
            return Some(picked);
        }
        i += group.len();
    }
    None
}

type TraceStream = Pin<Box<dyn Stream<Item = Result<(TraceId, Vec<HeadSpan>), BlockError>> + Send>>;

/// Merges the traces of `inputs` into one new block, ready to publish. `ingester` is the
/// ingester whose log coverage the output carries on (the highest among its inputs).
///
/// Reading the inputs decodes Parquet, which is CPU work: the whole merge runs on a
/// blocking thread (driving its reads with the runtime's handle), not on an async worker.
pub async fn merge(
    tenant: &str,
    inputs: &[std::sync::Arc<BlockReader>],
    opts: BlockWriteOptions,
    ingester: &str,
) -> Result<crate::block::EncodedBlock, BlockError> {
    let runtime = tokio::runtime::Handle::current();
    let (tenant, inputs, ingester) = (tenant.to_string(), inputs.to_vec(), ingester.to_string());
    tokio::task::spawn_blocking(move || {
        runtime.block_on(merge_here(&tenant, &inputs, opts, &ingester))
    })
    .await
    .map_err(|e| BlockError::Corrupt {
        what: format!("compaction task: {e}"),
    })?
}

/// [`merge`], on the calling task.
async fn merge_here(
    tenant: &str,
    inputs: &[std::sync::Arc<BlockReader>],
    opts: BlockWriteOptions,
    ingester: &str,
) -> Result<crate::block::EncodedBlock, BlockError> {
    let level = inputs
        .iter()
        .map(|r| r.meta.compaction_level)
        .max()
        .unwrap_or(0)
        + 1;
    let sources: Vec<String> = inputs.iter().map(|r| r.meta.block_id.clone()).collect();
    let received = inputs
        .iter()
        .map(|r| r.meta.received_range())
        .reduce(ReceivedRange::union);
    let wal = inputs
        .iter()
        .filter_map(|r| r.meta.wal.as_ref())
        .filter(|w| w.ingester == ingester)
        .map(|w| w.through_segment)
        .max()
        .map(|through_segment| WalCoverage {
            ingester: ingester.to_string(),
            through_segment,
        });

    // The writer is CPU work on a blocking thread, fed through a small bounded channel; the
    // merge awaits room in it rather than blocking an async worker.
    let (tx, mut rx) = tokio::sync::mpsc::channel::<(TraceId, Vec<HeadSpan>)>(16);
    let tenant_owned = tenant.to_string();
    let writer = tokio::task::spawn_blocking(move || {
        let mut writer = BlockWriter::new(&tenant_owned, opts);
        while let Some((id, spans)) = rx.blocking_recv() {
            writer.push_trace(id, spans)?;
        }
        writer.finish(wal, level, sources)
    });

    let mut streams: Vec<TraceStream> = inputs
        .iter()
        .map(|r| Box::pin(r.traces()) as TraceStream)
        .collect();
    let mut heads: Vec<Option<(TraceId, Vec<HeadSpan>)>> = Vec::with_capacity(streams.len());
    let mut heap = BinaryHeap::new();
    for (i, s) in streams.iter_mut().enumerate() {
        let next = s.next().await.transpose()?;
        if let Some((id, _)) = &next {
            heap.push(Reverse((*id, i)));
        }
        heads.push(next);
    }
    while let Some(Reverse((id, _))) = heap.peek().copied() {
        // Every input holding this trace contributes its spans.
        let mut spans: Vec<HeadSpan> = Vec::new();
        while let Some(Reverse((next_id, i))) = heap.peek().copied() {
            if next_id != id {
                break;
            }
            heap.pop();
            if let Some((_, part)) = heads[i].take() {
                spans.extend(part);
            }
            let next = streams[i].next().await.transpose()?;
            if let Some((nid, _)) = &next {
                heap.push(Reverse((*nid, i)));
            }
            heads[i] = next;
        }
        crate::head::dedupe(&mut spans);
        if tx.send((id, spans)).await.is_err() {
            // The writer stopped early; its error is reported below.
            break;
        }
    }
    drop(tx);
    let mut out = writer.await.map_err(|e| BlockError::Corrupt {
        what: format!("compaction writer task: {e}"),
    })??;
    out.meta.received = received;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::block::meta::{FORMAT, FilterMeta, VERSION};

    fn meta(id: &str, start: u64, end: u64, spans: u64) -> BlockMeta {
        BlockMeta {
            format: FORMAT.into(),
            version: VERSION,
            block_id: id.into(),
            tenant: "t".into(),
            created_unix_nano: 0,
            start_unix_nano: start,
            end_unix_nano: end,
            min_trace_id: String::new(),
            max_trace_id: String::new(),
            span_count: spans,
            trace_count: spans,
            files: Vec::new(),
            row_groups: Vec::new(),
            dedicated_columns: Vec::new(),
            trace_filter: FilterMeta {
                kind: "bloom".into(),
                file: String::new(),
                params: Default::default(),
            },
            wal: None,
            compaction_level: 0,
            // Received as stamped, unless a test says otherwise.
            received: Some(ReceivedRange {
                first_unix_nano: start,
                last_unix_nano: end,
            }),
            sources: Vec::new(),
        }
    }

    const H: u64 = 3_600_000_000_000;

    #[test]
    fn windows_go_by_receipt_not_by_span_stamps() {
        let cfg = CompactionConfig {
            min_inputs: 3,
            ..CompactionConfig::default()
        };
        let received = |id: &str, start: u64, end: u64, at: u64| {
            let mut b = meta(id, start, end, 10);
            b.received = Some(ReceivedRange {
                first_unix_nano: at,
                last_unix_nano: at,
            });
            b
        };
        let day = 24 * H;
        let now = 40 * day;
        // Three blocks received in the same hour, one stamped 30 days ago and one 30 days
        // ahead: merged together. Stamps alone would put each in a window of its own.
        let blocks = vec![
            received("past", now - 30 * day, now - 30 * day + 5, now + 1),
            received("future", now + 30 * day, now + 30 * day + 5, now + 2),
            received("now", now, now + 5, now + 3),
            received("later", now, now + 5, now + 2 * H),
        ];
        let picked: Vec<_> = plan(&blocks, &cfg)
            .unwrap()
            .into_iter()
            .map(|b| b.block_id)
            .collect();
        assert_eq!(picked, ["past", "future", "now"]);
    }

    #[test]
    fn plans_oldest_full_window() {
        let cfg = CompactionConfig {
            min_inputs: 3,
            ..CompactionConfig::default()
        };
        let blocks = vec![
            meta("a", 0, H / 2, 10),
            meta("b", 0, H / 3, 10),
            meta("c", H, H + 5, 10),
            meta("d", H, H + 6, 10),
            meta("e", H, H + 7, 10),
            meta("f", 2 * H, 2 * H + 1, 10),
        ];
        let picked: Vec<_> = plan(&blocks, &cfg)
            .unwrap()
            .into_iter()
            .map(|b| b.block_id)
            .collect();
        assert_eq!(
            picked,
            ["c", "d", "e"],
            "the first hour has only two blocks"
        );
        assert!(plan(&blocks[..2], &cfg).is_none());
    }

    #[test]
    fn respects_size_limits() {
        let cfg = CompactionConfig {
            min_inputs: 2,
            max_inputs: 3,
            max_output_spans: 100,
            ..CompactionConfig::default()
        };
        let blocks: Vec<_> = (0..5).map(|i| meta(&format!("b{i}"), 0, 10, 30)).collect();
        assert_eq!(plan(&blocks, &cfg).unwrap().len(), 3);
        let big: Vec<_> = (0..5).map(|i| meta(&format!("b{i}"), 0, 10, 60)).collect();
        assert!(
            plan(&big, &cfg).is_none(),
            "blocks past half the output limit are done"
        );
    }

    #[test]
    fn an_output_stays_under_its_byte_limit() {
        let cfg = CompactionConfig {
            min_inputs: 2,
            max_output_bytes: 100,
            ..CompactionConfig::default()
        };
        let sized = |id: &str, bytes: u64| {
            let mut b = meta(id, 0, 10, 1);
            b.files = vec![crate::block::meta::BlockFile {
                name: "spans.parquet".into(),
                bytes,
            }];
            b
        };
        let blocks = vec![
            sized("a", 30),
            sized("b", 30),
            sized("c", 30),
            sized("d", 30),
        ];
        let picked: Vec<_> = plan(&blocks, &cfg)
            .unwrap()
            .into_iter()
            .map(|b| b.block_id)
            .collect();
        assert_eq!(picked, ["a", "b", "c"], "a fourth would pass 100 bytes");
        let big = vec![sized("a", 60), sized("b", 60)];
        assert!(
            plan(&big, &cfg).is_none(),
            "blocks past half the byte limit are done"
        );
    }
}
