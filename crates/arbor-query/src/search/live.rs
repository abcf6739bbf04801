//! Evaluating a query over spans that are not stored yet: a live tail sees each request's
//! spans as they arrive and shows those a filter selects, judged over the spans of that
//! request (the rest of their traces may not have arrived).

use std::sync::Arc;

use arbor_model::TraceId;
use arbor_storage::head::HeadSpan;

use super::batch::span_id_hex;
use super::eval::CompileError;
use super::load_head;
use super::spanset::{self, Ctx, Plan};
use crate::traceql::Pipeline;
use crate::visibility::Visibility;

/// A pipeline compiled once, to judge many groups of spans.
pub struct LiveFilter {
    plan: Plan,
}

impl LiveFilter {
    /// `scope`: only spans a narrowed token may see are judged and returned.
    pub fn new(p: &Pipeline, scope: Option<&Arc<Visibility>>) -> Result<LiveFilter, CompileError> {
        let mut plan = spanset::compile_pipeline(p)?;
        plan.needs.restrict(scope);
        plan.needs.ids = true;
        plan.needs.starts = true;
        plan.needs.durations = true;
        Ok(LiveFilter { plan })
    }

    /// The spans of `traces` in the pipeline's answer, as (trace ID, span ID in hex).
    pub fn matching(&self, traces: Vec<(TraceId, Vec<HeadSpan>)>) -> Vec<(TraceId, String)> {
        let batch = load_head::load(traces, &self.plan.needs);
        let ctx = Ctx::new(&self.plan, &batch);
        if !ctx.any_match() {
            return Vec::new();
        }
        let mut out = Vec::new();
        for t in &batch.traces {
            for set in spanset::run(&self.plan, &ctx, t.rows.clone()) {
                out.extend(
                    set.rows
                        .iter()
                        .map(|&r| (t.id, span_id_hex(batch.span_ids[r as usize]))),
                );
            }
        }
        out.sort();
        out.dedup();
        out
    }
}
