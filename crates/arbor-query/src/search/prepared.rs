//! A search request compiled once: the plan, what each read loads, and the pruning.

use super::batch::{FieldKey, Needs};
use super::results::FAAS_ERROR_TAGS;
use super::spanset::{self, Plan};
use super::{SearchError, SearchRequest, prune};
use crate::traceql::{Intrinsic, Scope};

/// The compiled query and what each read needs.
pub(crate) struct Prepared {
    pub plan: Plan,
    /// Fields to return with each span (the query's attributes and `select()`ed fields).
    pub returned: Vec<FieldKey>,
    /// What the second read of a block's matching rows loads.
    pub result_needs: Needs,
    /// What a batch that is evaluated, summarised and returned from at once loads (the
    /// heads, and traces read whole).
    pub whole_needs: Needs,
    pub prune: prune::Prune,
    pub spss: usize,
    /// A returned field is computed over the trace (nested-set numbers, `parent.`), so a
    /// block's second read of just the matching rows cannot give it: matches are read whole.
    pub results_per_trace: bool,
}

pub(crate) fn prepare(req: &SearchRequest) -> Result<Prepared, SearchError> {
    // The time range is checked per trace, on trace summaries (blocks) or on the head
    // batch's times (which the head loads anyway), so the filters' read needs no times.
    let mut plan = spanset::compile_pipeline(&req.pipeline)?;
    if let Some(scope) = &req.scope {
        // Every load sees only the token's spans. A block's trace table summarises whole
        // traces and its second read finds rows by position in the unnarrowed row group,
        // so a match in a block is read whole (and summarised as the token sees it).
        plan.needs.restrict(Some(scope));
        plan.simple = false;
    }
    let mut returned: Vec<FieldKey> = plan
        .needs
        .base
        .iter()
        .chain(plan.needs.derived.iter())
        .filter(|k| {
            k.parent_of().is_some()
                || matches!(k.attribute(), Some((s, _)) if s != Scope::Event && s != Scope::Link)
        })
        .filter(|k| {
            // An unscoped field's span and resource halves are returned as the unscoped one.
            !matches!(k.attribute(), Some((Scope::Span | Scope::Resource, n))
                if plan.needs.derived.contains(&FieldKey::attr(Scope::None, n)))
        })
        .cloned()
        .collect();
    returned.sort();
    for k in &plan.selected {
        if !returned.contains(k) {
            returned.push(k.clone());
        }
    }
    let mut result_needs = Needs {
        ids: true,
        starts: true,
        durations: true,
        ..Needs::default()
    };
    result_needs.add(FieldKey::intr(Intrinsic::Name));
    for k in &returned {
        result_needs.add(k.clone());
    }
    let mut whole_needs = plan.needs.clone();
    whole_needs.merge(&result_needs);
    whole_needs.add(FieldKey::attr(Scope::Resource, "service.name"));
    whole_needs.add(FieldKey::intr(Intrinsic::Status));
    for k in FAAS_ERROR_TAGS {
        whole_needs.add(FieldKey::attr(Scope::Span, k));
    }
    let results_per_trace =
        req.scope.is_some() || returned.iter().any(super::relax::computed_per_trace);
    Ok(Prepared {
        results_per_trace,
        prune: prune::pipeline(&req.pipeline),
        plan,
        returned,
        result_needs,
        whole_needs,
        spss: req.spss.max(1),
    })
}
