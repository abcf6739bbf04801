//! Searching a block, a row group at a time.
//!
//! The attribute index names the row groups that can hold a span a filter selects
//! ([`super::prune`]). Each is read column by column — only the columns the filters read —
//! and evaluated; then the rows that matched get their result fields in a second read of
//! just those rows, and each trace its summary from `traces.parquet`. A trace whose spans
//! are also elsewhere (another head or block, another row group) is a candidate instead,
//! read whole later ([`super::whole`]).

use std::collections::HashMap;
use std::ops::Range;
use std::sync::Arc;

use arbor_model::TraceId;
use arbor_storage::block::{TraceTable, schema};
use arbor_storage::{Part, SearchView};
use futures::StreamExt;

use super::collect::{Collector, overlaps};
use super::prepared::Prepared;
use super::results::{TraceResult, result_sets};
use super::scan::{block_plan, decoded_row_groups};
use super::spanset::{self, Ctx, Spanset};
use super::{SearchError, SearchRequest, check_time, load_block, pool, storage};

/// What a row group's first read found.
#[derive(Default)]
struct Matched {
    /// Rows whose result fields are read: the matches of traces held only here (for a
    /// simple plan, every matching row: which trace a row is in is learnt from the second
    /// read).
    rows: Vec<u32>,
    /// Per trace judged here, its spansets (empty for a simple plan, grouped after the
    /// second read).
    traces: Vec<(TraceId, Vec<Spanset>)>,
    /// Traces with spans elsewhere too that may match.
    candidates: Vec<TraceId>,
    inspected: u64,
}

pub(crate) async fn search_block(
    view: &Arc<SearchView>,
    i: usize,
    p: &Arc<Prepared>,
    req: &SearchRequest,
    acc: &mut Collector,
    started: std::time::Instant,
) -> Result<(), SearchError> {
    let block = &view.blocks[i];
    let window = (req.start_ns > 0 || req.end_ns > 0).then(|| {
        let to = if req.end_ns == 0 {
            u64::MAX
        } else {
            req.end_ns
        };
        (req.start_ns, to)
    });
    let Some((row_groups, layout)) = block_plan(block, &p.prune, window).await? else {
        acc.metrics.pruned_blocks += 1;
        return Ok(());
    };
    let layout = Arc::new(layout);
    // A simple plan needs no trace grouping to find matches, so its first read skips the
    // trace IDs; the second read fetches them for the matching rows only.
    let mut cols = load_block::columns(&p.plan.needs, &layout);
    if p.plan.simple {
        cols.retain(|c| c != schema::TRACE_ID);
    }
    let col_refs: Vec<&str> = cols.iter().map(String::as_str).collect();
    let result_cols = load_block::columns(&p.result_needs, &layout);
    let result_refs: Vec<&str> = result_cols.iter().map(String::as_str).collect();
    let mut summaries: Option<Arc<TraceTable>> = None;
    // First reads run ahead, one per core (every planned row group is read: a block is
    // searched whole or skipped); what they found is taken in row-group order.
    let (pp, lay, v) = (p.clone(), layout.clone(), view.clone());
    let mut first_reads = decoded_row_groups(block, &col_refs, row_groups, move |batches| {
        first_pass(&pp, &v, i, &batches, &lay).map_err(storage)
    });
    while let Some(first) = first_reads.next().await {
        check_time(started, req.timeout)?;
        let (rg, bytes, matched) = first?;
        acc.metrics.inspected_bytes += bytes;
        acc.metrics.inspected_spans += matched.inspected;
        if matched.rows.is_empty() && matched.candidates.is_empty() {
            continue;
        }
        if summaries.is_none() {
            // One read of the block's trace table serves every row group.
            summaries = Some(block.trace_table().await.map_err(storage)?);
        }
        let summaries = summaries.clone().expect("loaded above");
        let (from, to) = (req.start_ns, req.end_ns);
        let in_range = move |s: u64, e: u64| (from == 0 && to == 0) || overlaps(s, e, from, to);
        for id in &matched.candidates {
            if let Some(s) = summaries.get(id)
                && in_range(s.start_unix_nano, s.end_unix_nano)
            {
                // The candidate's start must not be later than the trace's. The trace
                // table's start is that of every span here; a narrowed token's trace may
                // start later, but not after the part ends.
                let bound = if req.scope.is_some() {
                    s.end_unix_nano
                } else {
                    s.start_unix_nano
                };
                acc.add_candidate(*id, bound);
            }
        }
        if matched.rows.is_empty() {
            continue;
        }
        // The result fields (and, for a simple plan, the trace IDs) of the matching rows.
        let ranges = to_ranges(&matched.rows);
        let pages = block
            .fetch_row_group(&result_refs, rg, Some(&ranges), usize::MAX)
            .await
            .map_err(storage)?;
        let (pp, lay, v) = (p.clone(), layout.clone(), view.clone());
        let found = pool::run(move || {
            let batches = pages.decode().map_err(storage)?;
            let rb = load_block::load(&batches, &pp.result_needs, &lay).map_err(storage)?;
            let position: HashMap<u32, usize> = matched
                .rows
                .iter()
                .enumerate()
                .map(|(i, &r)| (r, i))
                .collect();
            let traces: Vec<(TraceId, Vec<Spanset>)> = if pp.plan.simple {
                // Rows of one trace are consecutive, so the matching rows group by trace.
                rb.traces
                    .iter()
                    .map(|t| {
                        let rows = t.rows.clone().map(|i| matched.rows[i as usize]).collect();
                        (
                            t.id,
                            vec![Spanset {
                                rows,
                                labels: Vec::new(),
                            }],
                        )
                    })
                    .collect()
            } else {
                matched.traces
            };
            let mut out: Vec<Result<TraceResult, (TraceId, u64)>> = Vec::new();
            for (id, sets) in traces {
                let Some(s) = summaries.get(&id) else {
                    continue;
                };
                if !in_range(s.start_unix_nano, s.end_unix_nano) {
                    continue;
                }
                if pp.plan.simple && v.held_elsewhere(&id, Part::Block(i)) {
                    out.push(Err((id, s.start_unix_nano)));
                    continue;
                }
                out.push(Ok(TraceResult {
                    trace_id: id,
                    root_service: s.root_service.clone(),
                    root_name: s.root_name.clone(),
                    start_ns: s.start_unix_nano,
                    end_ns: s.end_unix_nano,
                    span_count: u64::from(s.span_count),
                    error_count: u64::from(s.error_count),
                    span_sets: result_sets(&pp.returned, pp.spss, &sets, &rb, |r| position[&r]),
                }));
            }
            Ok::<_, SearchError>(out)
        })
        .await??;
        for f in found {
            match f {
                Ok(t) => acc.add(t),
                Err((id, start)) => acc.add_candidate(id, start),
            }
        }
    }
    Ok(())
}

/// The first read of a row group: which rows match, which traces are candidates.
fn first_pass(
    p: &Prepared,
    view: &SearchView,
    i: usize,
    batches: &[arrow::array::RecordBatch],
    layout: &load_block::Layout,
) -> Result<Matched, load_block::LoadError> {
    let batch = load_block::load(batches, &p.plan.needs, layout)?;
    let ctx = Ctx::new(&p.plan, &batch);
    let mut matched = Matched {
        inspected: batch.len as u64,
        ..Matched::default()
    };
    if p.plan.simple {
        // Exact per span; traces are told apart after the second read.
        matched.rows = ctx.masks[0]
            .iter()
            .enumerate()
            .filter(|(_, m)| **m)
            .map(|(i, _)| i as u32)
            .collect();
        return Ok(matched);
    }
    let candidate = ctx.candidate_rows(&p.plan);
    if !candidate.iter().any(|x| *x) {
        return Ok(matched);
    }
    for t in &batch.traces {
        let rows = t.rows.start as usize..t.rows.end as usize;
        if !candidate[rows].iter().any(|x| *x) {
            continue;
        }
        if view.held_elsewhere(&t.id, Part::Block(i)) {
            matched.candidates.push(t.id);
            continue;
        }
        let sets = spanset::run(&p.plan, &ctx, t.rows.clone());
        if !sets.is_empty() && p.results_per_trace {
            matched.candidates.push(t.id);
        } else if !sets.is_empty() {
            matched
                .rows
                .extend(sets.iter().flat_map(|s| s.rows.iter().copied()));
            matched.traces.push((t.id, sets));
        }
    }
    matched.rows.sort_unstable();
    matched.rows.dedup();
    Ok(matched)
}

/// Ascending rows as ranges of consecutive rows.
fn to_ranges(rows: &[u32]) -> Vec<Range<usize>> {
    let mut out: Vec<Range<usize>> = Vec::new();
    for &r in rows {
        let r = r as usize;
        match out.last_mut() {
            Some(last) if last.end == r => last.end = r + 1,
            _ => out.push(r..r + 1),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_of_rows() {
        assert_eq!(to_ranges(&[1, 2, 3, 7, 9, 10]), vec![1..4, 7..8, 9..11]);
    }
}
