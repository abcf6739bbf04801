//! Searching a head (the live one, or one being cut): everything is in memory, so one
//! pass per shard loads what the filters read and what results return.

use std::sync::Arc;

use arbor_model::TraceId;
use arbor_storage::{Part, SearchView};
use futures::StreamExt;

use super::batch::SpanBatch;
use super::collect::{Collector, overlaps};
use super::prepared::Prepared;
use super::results::TraceResult;
use super::spanset::Ctx;
use super::whole::eval_whole;
use super::{SearchError, SearchRequest, check_time, load_head, pool};

/// What one part of a view said about its traces.
#[derive(Default)]
pub(crate) struct Findings {
    /// Traces held wholly in the part that match.
    pub exact: Vec<TraceResult>,
    /// Traces with spans elsewhere too that the part cannot rule out, with the part's
    /// start.
    pub candidates: Vec<(TraceId, u64)>,
    pub traces: u64,
    pub spans: u64,
}

impl Findings {
    pub fn into(self, acc: &mut Collector) {
        acc.metrics.inspected_traces += self.traces;
        acc.metrics.inspected_spans += self.spans;
        for t in self.exact {
            acc.add(t);
        }
        for (id, start) in self.candidates {
            acc.add_candidate(id, start);
        }
    }
}

/// Searches head `i` of the view, its shards on the search pool at once.
pub(crate) async fn search_head(
    view: &Arc<SearchView>,
    i: usize,
    p: &Arc<Prepared>,
    req: &SearchRequest,
    acc: &mut Collector,
    started: std::time::Instant,
) -> Result<(), SearchError> {
    let head = &view.heads[i];
    // The head's tag registry answers "not here" for a value no span of it holds.
    if !p.prune.is_all() && !p.prune.head_may_match(&head.tags()) {
        return Ok(());
    }
    let range = (req.start_ns, req.end_ns);
    let mut shards = futures::stream::iter(0..head.shard_count())
        .map(|shard| {
            let (view, p) = (view.clone(), p.clone());
            pool::run(move || {
                let head = &view.heads[i];
                let depth = load_head::Decode::for_needs(&p.whole_needs);
                // Traces outside the range are skipped before decoding; the batch's own
                // check below is the same test on the decoded times.
                let traces = head.shard_traces_in(shard, range, |b| depth.decode(b));
                let batch = load_head::load(traces, &p.whole_needs);
                eval_part(&p, &view, Part::Head(i), &batch, range)
            })
        })
        .buffer_unordered(pool::parallelism());
    while let Some(done) = shards.next().await {
        check_time(started, req.timeout)?;
        done?.into(acc);
    }
    Ok(())
}

/// Evaluates a batch of trace parts that loaded [`Prepared::whole_needs`], from `part`
/// of the view: a trace held only here is judged here; one with spans elsewhere too is a
/// candidate if a span here passes a candidate filter.
pub(crate) fn eval_part(
    p: &Prepared,
    view: &SearchView,
    part: Part,
    batch: &SpanBatch,
    (from, to): (u64, u64),
) -> Findings {
    let mut out = Findings {
        traces: batch.traces.len() as u64,
        spans: batch.len as u64,
        ..Findings::default()
    };
    if batch.len == 0 {
        return out;
    }
    let ctx = Ctx::new(&p.plan, batch);
    let candidate = ctx.candidate_rows(&p.plan);
    if !candidate.iter().any(|x| *x) {
        return out;
    }
    for t in &batch.traces {
        let rows = t.rows.start as usize..t.rows.end as usize;
        if !candidate[rows.clone()].iter().any(|x| *x) {
            continue;
        }
        let start = rows.clone().map(|r| batch.starts[r]).min().unwrap_or(0);
        let end = rows
            .map(|r| batch.starts[r].wrapping_add(batch.durations[r]))
            .max()
            .unwrap_or(0);
        if (from > 0 || to > 0) && !overlaps(start, end, from, to) {
            continue;
        }
        if view.held_elsewhere(&t.id, part) {
            out.candidates.push((t.id, start));
        } else if let Some(r) = eval_whole(p, &ctx, t) {
            out.exact.push(r);
        }
    }
    out
}
