//! The block reader on damaged files. A small block (a dozen traces of rich spans, several
//! row groups, dedicated columns, the index, the filter) is written once with the real
//! `BlockWriter`; each input picks one or two of its files (`meta.json` included) and
//! damages them — flipped, overwritten, inserted or deleted bytes, truncation, interesting
//! integers at any offset (Parquet's footer length, Thrift lengths) — then the block is
//! opened from an in-memory object store and read every way the server reads it: trace by
//! ID, the full trace scan (compaction), the attribute index, the trace table, the resource
//! and scope tables, column reads of every row group. Each must answer or fail with an
//! error; a panic or an allocation over the fuzz allocator's limit is a finding.

use std::sync::{Arc, OnceLock};

use arbitrary::Unstructured;
use arbor_model::TraceId;
use arbor_storage::block::meta::{BlockMeta, META_FILE};
use arbor_storage::block::{BlockReader, BlockWriteOptions, BlockWriter, schema};
use arbor_storage::head::{HeadSpan, ResourceEntry, ScopeEntry};
use futures::StreamExt;
use object_store::memory::InMemory;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};

use super::{Target, error_outcome};
use crate::engine::outcome;

struct Block {
    files: Vec<(String, Vec<u8>)>,
    ids: Vec<TraceId>,
}

fn block() -> &'static Block {
    static BLOCK: OnceLock<Block> = OnceLock::new();
    BLOCK.get_or_init(write_block)
}

fn write_block() -> Block {
    use arbor_testkit::spans;
    let mut rng = spans::rng(11);
    let mut traces: Vec<(TraceId, Vec<HeadSpan>)> = Vec::new();
    for t in 0..12u64 {
        let id = spans::trace_id(&mut rng);
        let batch = spans::batch(
            ["checkout", "cart", "db"][t as usize % 3],
            spans::chain(&mut rng, id, 1 + (t as usize % 4), 1_700_000_000_000 + t),
        );
        let rs = &batch.resource_spans[0];
        let resource = Arc::new(ResourceEntry {
            resource: rs.resource.clone(),
            schema_url: String::new(),
        });
        let scope = Arc::new(ScopeEntry {
            scope: rs.scope_spans[0].scope.clone(),
            schema_url: String::new(),
        });
        let spans = rs.scope_spans[0]
            .spans
            .iter()
            .map(|s| HeadSpan {
                resource: resource.clone(),
                scope: scope.clone(),
                span: s.clone(),
            })
            .collect();
        traces.push((TraceId(id), spans));
    }
    traces.sort_by_key(|(id, _)| *id);
    let mut w = BlockWriter::new(
        "fuzz",
        BlockWriteOptions {
            rows_per_row_group: 6,
            zstd_level: 1,
            ..BlockWriteOptions::default()
        },
    );
    for (id, spans) in &traces {
        w.push_trace(*id, spans.clone()).expect("push a trace");
    }
    let encoded = w.finish(None, 0, Vec::new()).expect("finish the block");
    let mut files: Vec<(String, Vec<u8>)> = encoded
        .files
        .iter()
        .map(|(n, b)| (n.clone(), b.to_vec()))
        .collect();
    files.push((
        META_FILE.to_string(),
        serde_json::to_vec_pretty(&encoded.meta).expect("meta.json"),
    ));
    files.sort();
    Block {
        files,
        ids: traces.iter().map(|(id, _)| *id).collect(),
    }
}

thread_local! {
    static RUNTIME: tokio::runtime::Runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a runtime");
}

fn damage(u: &mut Unstructured, bytes: &mut Vec<u8>) -> arbitrary::Result<()> {
    for _ in 0..u.int_in_range(1..=3)? {
        let len = bytes.len();
        // Half the edits land in the last 64 bytes: the Parquet footer and its metadata.
        let at = if u.arbitrary()? {
            len.saturating_sub(u.int_in_range(1..=64usize)?)
        } else {
            u.int_in_range(0..=len)?
        };
        let n = u.int_in_range(1..=16usize)?;
        match u.int_in_range(0..=5)? {
            0 if at < len => bytes[at] ^= 1 << u.int_in_range(0..=7)?,
            1 => {
                for b in bytes.iter_mut().skip(at).take(n) {
                    *b = u.arbitrary()?;
                }
            }
            2 => {
                let v: u32 = *u.choose(&[0, 1, 0x7fff_ffff, 0xffff_fff0, 0xffff_ffff, 1 << 24])?;
                for (b, x) in bytes.iter_mut().skip(at).zip(v.to_le_bytes()) {
                    *b = x;
                }
            }
            3 => bytes.truncate(at),
            4 => {
                let fill: Vec<u8> = (0..n).map(|_| u.arbitrary()).collect::<Result<_, _>>()?;
                bytes.splice(at..at, fill);
            }
            _ => {
                bytes.drain(at..(at + n).min(len));
            }
        }
    }
    Ok(())
}

/// Changes one value of a JSON document: a number to an extreme, a string to another
/// (empty, long, another ID), an array shortened, repeated or emptied, a key removed.
fn edit_json(u: &mut Unstructured, bytes: &mut Vec<u8>) -> arbitrary::Result<()> {
    use serde_json::Value;
    let Ok(mut doc) = serde_json::from_slice::<Value>(bytes) else {
        return Ok(());
    };
    fn paths(v: &Value, at: String, out: &mut Vec<String>) {
        out.push(at.clone());
        match v {
            Value::Object(m) => m.iter().for_each(|(k, v)| {
                paths(
                    v,
                    format!("{at}/{}", k.replace('~', "~0").replace('/', "~1")),
                    out,
                )
            }),
            Value::Array(a) => a
                .iter()
                .enumerate()
                .for_each(|(i, v)| paths(v, format!("{at}/{i}"), out)),
            _ => {}
        }
    }
    for _ in 0..u.int_in_range(1..=3)? {
        let mut all = Vec::new();
        paths(&doc, String::new(), &mut all);
        let path = all[u.choose_index(all.len())?].clone();
        let Some(v) = doc.pointer_mut(&path) else {
            continue;
        };
        match v {
            Value::Number(_) => {
                *v = match u.int_in_range(0..=5)? {
                    0 => Value::from(0u64),
                    1 => Value::from(1u64),
                    2 => Value::from(u64::from(u32::MAX)),
                    3 => Value::from(u64::MAX),
                    4 => Value::from(-1i64),
                    _ => Value::from(u.int_in_range(0..=100_000u64)?),
                }
            }
            Value::String(s) => {
                *s = match u.int_in_range(0..=3)? {
                    0 => String::new(),
                    1 => "f".repeat(32),
                    2 => "0".repeat(32),
                    _ => format!("{s}{s}"),
                }
            }
            Value::Array(a) if !a.is_empty() => {
                let i = u.choose_index(a.len())?;
                match u.int_in_range(0..=2)? {
                    0 => {
                        a.remove(i);
                    }
                    1 => {
                        let x = a[i].clone();
                        a.push(x);
                    }
                    _ => a.clear(),
                }
            }
            Value::Object(m) if !m.is_empty() => {
                let keys: Vec<String> = m.keys().cloned().collect();
                m.remove(&keys[u.choose_index(keys.len())?]);
            }
            Value::Bool(b) => *b = !*b,
            _ => {}
        }
    }
    *bytes = serde_json::to_vec(&doc).expect("a JSON value serialises");
    Ok(())
}

fn run_block(input: &[u8]) -> u64 {
    let block = block();
    let mut u = Unstructured::new(input);
    let mut files = block.files.clone();
    let mut damaged = Vec::new();
    for _ in 0..if u.ratio(1, 4).unwrap_or(false) { 2 } else { 1 } {
        let Ok(f) = u.choose_index(files.len()) else {
            break;
        };
        // meta.json is damaged as JSON that still parses half the time: a field changed, an
        // entry dropped or repeated — what a block written by another build might say.
        let edited = if files[f].0 == META_FILE && u.arbitrary().unwrap_or(false) {
            edit_json(&mut u, &mut files[f].1)
        } else {
            damage(&mut u, &mut files[f].1)
        };
        if edited.is_err() {
            break;
        }
        damaged.push(files[f].0.clone());
    }
    let probe = TraceId(u.arbitrary().unwrap_or([7; 16]));
    let what = damaged.join("+");
    RUNTIME.with(|rt| rt.block_on(read_everything(files, &block.ids, probe, &what)))
}

async fn read_everything(
    files: Vec<(String, Vec<u8>)>,
    ids: &[TraceId],
    probe: TraceId,
    what: &str,
) -> u64 {
    let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    let dir = Path::from("fuzz/block");
    let mut meta_bytes = Vec::new();
    for (name, bytes) in files {
        if name == META_FILE {
            meta_bytes = bytes.clone();
        }
        store
            .put(&dir.clone().join(name.as_str()), PutPayload::from(bytes))
            .await
            .expect("in-memory put");
    }
    let meta: BlockMeta = match serde_json::from_slice(&meta_bytes) {
        Ok(m) => m,
        Err(_) => return outcome("meta.json does not parse"),
    };
    let reader = match BlockReader::open(store, dir, meta).await {
        Ok(r) => r,
        Err(e) => return error_outcome(&format!("{what}: open "), &e.to_string()),
    };
    let mut errors = 0u32;
    for id in ids.iter().chain([&probe]) {
        if reader.find_trace(id).await.is_err() {
            errors |= 1;
        }
    }
    let mut scan = Box::pin(reader.traces());
    let mut items = 0;
    while let Some(item) = scan.next().await {
        items += 1;
        assert!(items <= 10_000, "the trace scan does not end");
        if item.is_err() {
            errors |= 2;
            break;
        }
    }
    if reader.index().await.is_err() {
        errors |= 4;
    }
    match reader.trace_table().await {
        Ok(table) => {
            for id in ids {
                let _ = table.get(id);
            }
        }
        Err(_) => errors |= 8,
    }
    if reader.resources_and_scopes().await.is_err() {
        errors |= 16;
    }
    let columns = [
        schema::TRACE_ID,
        schema::SPAN_ID,
        schema::NAME,
        schema::START,
        schema::DURATION,
        schema::ATTRIBUTES,
        schema::EVENTS,
        schema::LINKS,
    ];
    for rg in 0..reader.row_group_count().min(64) {
        // As a search does: the whole row group, then some of the rows it held.
        let rows = match reader.read_row_group(&columns, rg, None, 1024).await {
            Ok(batches) => batches.iter().map(|b| b.num_rows()).sum::<usize>(),
            Err(_) => {
                errors |= 32;
                continue;
            }
        };
        if rows > 0 {
            let ranges = [0..1, rows.saturating_sub(1).max(1)..rows];
            let ranges = if rows == 1 { &ranges[..1] } else { &ranges[..] };
            if reader
                .read_row_group(&columns, rg, Some(ranges), usize::MAX)
                .await
                .is_err()
            {
                errors |= 64;
            }
        }
    }
    outcome(&format!("{what}: opened, errors {errors:b}"))
}

pub fn block_target() -> Target {
    Target {
        name: "block",
        about: "the block reader on damaged block files (every read path; error, never panic)",
        run: run_block,
        seeds: || {
            (0u8..8)
                .map(|i| {
                    (0..64u8)
                        .map(|j| j.wrapping_mul(53) ^ i.wrapping_mul(17))
                        .collect()
                })
                .collect()
        },
        dict: &[b"PAR1", b"\xff\xff\xff\x7f", b"\x00\x00\x00\x00"],
        max_len: 512,
        // Each input opens the block and reads it every way: about 0.1–0.5 s in a debug build.
        smoke_iterations: 120,
    }
}
