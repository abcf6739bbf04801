//! Evaluating a trace whole.
//!
//! A trace held in one part (a head, or one row group of one block) is evaluated where it
//! is found. A trace with spans in several parts is a *candidate* there (see
//! [`super::relax`]); it is then read whole — every span from every part, through
//! [`SearchView::trace`] — into one batch, and the pipeline, the summary and the returned
//! spans are computed over all of it.

use std::sync::Arc;

use arbor_model::TraceId;
use arbor_storage::SearchView;

use super::batch::{SpanBatch, TracePart};
use super::prepared::Prepared;
use super::results::{TraceResult, result_sets, summarize};
use super::spanset::{self, Ctx};
use super::{SearchError, load_head, pool};

/// Evaluates trace `t` of a batch that holds the whole trace and loaded
/// [`Prepared::whole_needs`]: its result, or `None` when it does not match.
pub(crate) fn eval_whole(p: &Prepared, ctx: &Ctx, t: &TracePart) -> Option<TraceResult> {
    let sets = spanset::run(&p.plan, ctx, t.rows.clone());
    if sets.is_empty() {
        return None;
    }
    let batch = ctx.batch;
    let s = summarize(batch, t);
    Some(TraceResult {
        trace_id: t.id,
        root_service: s.root_service,
        root_name: s.root_name,
        start_ns: s.start_ns,
        end_ns: s.end_ns,
        span_count: s.span_count,
        error_count: s.error_count,
        span_sets: result_sets(&p.returned, p.spss, &sets, batch, |r| r as usize),
    })
}

/// What reading candidates whole found.
pub(crate) struct Confirmed {
    /// Per candidate, its result if it matches.
    pub results: Vec<(TraceId, Option<TraceResult>)>,
    pub spans: u64,
}

/// Reads traces `ids` whole from the view (one read per block) and evaluates each.
pub(crate) async fn confirm(
    view: &SearchView,
    p: &Arc<Prepared>,
    ids: Vec<TraceId>,
) -> Result<Confirmed, SearchError> {
    let traces = view.traces(&ids).await?;
    let p = p.clone();
    pool::run(move || {
        let batch: SpanBatch = load_head::load(traces, &p.whole_needs);
        let ctx = Ctx::new(&p.plan, &batch);
        let found: std::collections::HashMap<TraceId, TraceResult> = batch
            .traces
            .iter()
            .filter_map(|t| eval_whole(&p, &ctx, t).map(|r| (t.id, r)))
            .collect();
        let mut found = found;
        Confirmed {
            results: ids.iter().map(|id| (*id, found.remove(id))).collect(),
            spans: batch.len as u64,
        }
    })
    .await
}
