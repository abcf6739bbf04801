//! `arbor inspect <block-dir>`: what a block holds and where its bytes go.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::Path;

use anyhow::Context;
use arbor_storage::block::meta::{BlockMeta, META_FILE};
use parquet::file::reader::{FileReader, SerializedFileReader};

fn human(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut v = bytes as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{bytes} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

fn time(ns: u64) -> String {
    crate::text::utc((ns / 1_000_000_000) as i64, ' ')
}

/// The report for a block directory on the local disk.
pub fn inspect(dir: &Path) -> anyhow::Result<String> {
    let meta_path = dir.join(META_FILE);
    let meta: BlockMeta = serde_json::from_slice(
        &std::fs::read(&meta_path).with_context(|| format!("reading {}", meta_path.display()))?,
    )
    .with_context(|| format!("parsing {}", meta_path.display()))?;
    let mut out = String::new();
    let _ = writeln!(out, "block      {}", meta.block_id);
    let _ = writeln!(out, "tenant     {}", meta.tenant);
    let _ = writeln!(out, "format     {} v{}", meta.format, meta.version);
    let _ = writeln!(
        out,
        "level      {}{}",
        meta.compaction_level,
        if meta.sources.is_empty() {
            String::new()
        } else {
            format!(" (from {} blocks)", meta.sources.len())
        }
    );
    let _ = writeln!(
        out,
        "time       {} .. {}",
        time(meta.start_unix_nano),
        time(meta.end_unix_nano)
    );
    let _ = writeln!(
        out,
        "trace ids  {} .. {}",
        meta.min_trace_id, meta.max_trace_id
    );
    let _ = writeln!(
        out,
        "spans      {} in {} traces, {} row groups",
        meta.span_count,
        meta.trace_count,
        meta.row_groups.len()
    );
    let size = meta.size_bytes();
    let per_span = if meta.span_count > 0 {
        size as f64 / meta.span_count as f64
    } else {
        0.0
    };
    let _ = writeln!(out, "size       {} ({per_span:.1} bytes/span)", human(size));
    if let Some(w) = &meta.wal {
        let _ = writeln!(
            out,
            "wal        ingester {} through segment {}",
            w.ingester, w.through_segment
        );
    }
    let _ = writeln!(
        out,
        "filter     {} in {}",
        meta.trace_filter.kind, meta.trace_filter.file
    );
    if !meta.dedicated_columns.is_empty() {
        let _ = writeln!(out, "\ndedicated columns");
        for c in &meta.dedicated_columns {
            let _ = writeln!(out, "  {:<9} {:<40} → {}", c.scope, c.key, c.column);
        }
    }
    let _ = writeln!(out, "\nfiles");
    for f in &meta.files {
        let _ = writeln!(out, "  {:<20} {:>10}", f.name, human(f.bytes));
    }
    for f in meta.files.iter().filter(|f| f.name.ends_with(".parquet")) {
        let path = dir.join(&f.name);
        let file =
            std::fs::File::open(&path).with_context(|| format!("opening {}", path.display()))?;
        let reader = SerializedFileReader::new(file)
            .with_context(|| format!("reading {}", path.display()))?;
        let md = reader.metadata();
        let mut columns: BTreeMap<String, (u64, u64)> = BTreeMap::new();
        for rg in md.row_groups() {
            for col in rg.columns() {
                let e = columns.entry(col.column_path().string()).or_default();
                e.0 += col.compressed_size() as u64;
                e.1 += col.uncompressed_size() as u64;
            }
        }
        let _ = writeln!(
            out,
            "\n{} — {} rows, {} row groups",
            f.name,
            md.file_metadata().num_rows(),
            md.num_row_groups()
        );
        let mut sorted: Vec<_> = columns.into_iter().collect();
        sorted.sort_by_key(|c| std::cmp::Reverse(c.1.0));
        for (name, (compressed, uncompressed)) in sorted {
            let _ = writeln!(
                out,
                "  {:<48} {:>10} {:>10} raw",
                name,
                human(compressed),
                human(uncompressed)
            );
        }
    }
    Ok(out)
}
