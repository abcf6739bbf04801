//! Evaluating a trace whole.
//!
//! A trace held in one part (a head, or one row group of one block) is evaluated where it
//! is found. A trace with spans in several parts is a *candidate* there (see
//! [`super::relax`]); it is then read whole — every span from every part, through
//! [`SearchView::trace`] — into one batch, and the pipeline, the summary and the returned
//! spans are computed over all of it.

use std::sync::Arc;

use arbor_model::TraceId;
use arbor_storage::{SearchView, ViewError};

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

/// What reading one candidate whole found.
pub(crate) struct Confirmed {
    pub result: Option<TraceResult>,
    pub spans: u64,
}

/// Reads trace `id` whole from the view and evaluates it.
pub(crate) async fn confirm(
    view: &SearchView,
    p: &Arc<Prepared>,
    id: TraceId,
) -> Result<Confirmed, SearchError> {
    let spans = view.trace(&id).await.map_err(|e| match e {
        ViewError::Vanished { .. } => SearchError::ViewChanged,
        other => SearchError::Storage(other.to_string()),
    })?;
    let p = p.clone();
    pool::run(move || {
        let batch: SpanBatch = load_head::load(vec![(id, spans)], &p.whole_needs);
        let ctx = Ctx::new(&p.plan, &batch);
        let result = batch.traces.first().and_then(|t| eval_whole(&p, &ctx, t));
        Confirmed {
            result,
            spans: batch.len as u64,
        }
    })
    .await
}
