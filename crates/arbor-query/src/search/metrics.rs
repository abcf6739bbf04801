//! TraceQL metrics: `rate()`, `count_over_time()`, `min/max/avg/sum_over_time()`,
//! `quantile_over_time()`, `histogram_over_time()` and `compare()`, with `by()`, arithmetic
//! between series, thresholds and `topk`/`bottomk`, over `[start, end)` in steps.
//!
//! Spans are found as a search finds them (same filters, same pruning, head then blocks)
//! and each span the pipeline keeps counts at its start time, in the step that holds it.
//! Durations are reported in seconds, as Tempo does. Quantiles come from a log-scale
//! histogram per step (buckets 2% apart, so a quantile is within 2% of the exact value)
//! rather than from every value, so memory is bounded by series × steps, not by spans.
//! Each series keeps a few exemplars (trace and span IDs with their value): the slowest
//! spans for value functions, the first seen for counts.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use arbor_model::TraceId;
use arbor_storage::{Part, SearchView};

use super::batch::{Col, FieldKey, Needs, SpanBatch, Val, span_id_hex};
use super::compare::{self, Compare, CompareAcc};
use super::eval::field_ref_key;
use super::hints::Sample;
use super::spanset::{self, Ctx, Plan};
use super::value::{Owned, V, arith};
use super::{Scanned, SearchError, load_head, prune};
use crate::traceql::{
    CmpOp, MetricsExpr, MetricsFunctionKind, MetricsPipeline, Scope, Static, TopKOp,
};

/// A metrics query to run.
#[derive(Debug, Clone)]
pub struct MetricsRequest {
    pub expr: MetricsExpr,
    /// `[start, end)`, Unix ns.
    pub start_ns: u64,
    pub end_ns: u64,
    pub step_ns: u64,
    pub max_series: usize,
    pub exemplars: usize,
    pub timeout: Duration,
    /// Which spans are counted (`with(sample=…)`, [`super::hints`]); counts and sums are
    /// scaled up to estimate the whole.
    pub sample: Sample,
    /// Only spans this narrowed token may see are counted ([`crate::visibility`]).
    pub scope: Option<Arc<crate::visibility::Visibility>>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Exemplar {
    pub trace_id: TraceId,
    /// When the query read span IDs.
    pub span_id: Option<String>,
    pub timestamp_ms: i64,
    pub value: f64,
}

/// One series: labels, one value per step (NaN where nothing was counted), exemplars.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub labels: Vec<(String, Owned)>,
    pub values: Vec<f64>,
    pub exemplars: Vec<Exemplar>,
}

#[derive(Debug, Clone, Default)]
pub struct MetricsResult {
    pub series: Vec<Series>,
    /// Start of each step, Unix ms.
    pub timestamps_ms: Vec<i64>,
    pub inspected_spans: u64,
    pub inspected_bytes: u64,
    pub total_blocks: u64,
}

/// Log-histogram growth factor for quantiles.
const GAMMA: f64 = 1.02;

/// Per (series, step): what the function needs.
#[derive(Debug, Clone, Default)]
struct Cell {
    count: f64,
    sum: f64,
    min: f64,
    max: f64,
    /// Log-scale histogram of values (quantiles): bucket index → count; zero and negative
    /// values in bucket `i32::MIN`.
    hist: BTreeMap<i32, u64>,
}

fn log_bucket(v: f64) -> i32 {
    if v <= 0.0 {
        i32::MIN
    } else {
        (v.ln() / GAMMA.ln()).ceil() as i32
    }
}

fn bucket_value(b: i32) -> f64 {
    if b == i32::MIN {
        0.0
    } else {
        // The middle of the bucket (GAMMA^(b-1), GAMMA^b].
        GAMMA.powi(b) * 2.0 / (1.0 + GAMMA)
    }
}

/// A series' labels, its cells (one per step) and its exemplars.
type SeriesCells = (Vec<(String, Owned)>, Vec<Cell>, Vec<Exemplar>);
/// Labels by their group keys.
type LabelKey = Vec<(String, (u8, String))>;

/// The series of one metrics pipeline, keyed by labels.
struct Acc {
    steps: usize,
    series: Vec<SeriesCells>,
    index: HashMap<LabelKey, usize>,
    max_series: usize,
    exemplars: usize,
    /// `compare()`'s counts, which are not series until finished.
    compare: Option<CompareAcc>,
}

/// A label value as a batch holds it (strings by their index in the column), for finding a
/// span's series without building its labels.
pub(super) type RawKey = (u8, u64);

pub(super) fn raw_key(v: Val) -> RawKey {
    match v {
        Val::Nil => (0, 0),
        Val::Str(i) => (1, u64::from(i)),
        Val::Int(i) => (2, i as u64),
        Val::Float(f) => (3, f.to_bits()),
        Val::Bool(b) => (4, u64::from(b)),
        Val::Dur(d) => (5, d as u64),
        Val::Status(s) => (6, s as u64),
        Val::Kind(k) => (7, k as u64),
    }
}

struct Pipe {
    plan: Plan,
    function: MetricsFunctionKind,
    by: Vec<(String, FieldKey)>,
    field: Option<FieldKey>,
    compare: Option<Compare>,
    needs: Needs,
    prune: prune::Prune,
}

/// `names`: the attribute names `compare()` compares.
fn compile_pipe(mp: &MetricsPipeline, names: &[(Scope, String)]) -> Result<Pipe, SearchError> {
    let mut plan = spanset::compile_pipeline(&mp.pipeline)?;
    let mut needs = plan.needs.clone();
    needs.starts = true;
    let by: Vec<(String, FieldKey)> = mp
        .function
        .by
        .iter()
        .map(|f| (f.to_string(), field_ref_key(f)))
        .collect();
    for (_, k) in &by {
        needs.add(k.clone());
    }
    let field = mp.function.kind.field().map(field_ref_key);
    if let Some(k) = &field {
        needs.add(k.clone());
    }
    let compare = match &mp.function.kind {
        MetricsFunctionKind::Compare {
            selection,
            top_n,
            range,
        } => Some(Compare::compile(
            selection, *top_n, *range, names, &mut needs,
        )?),
        _ => None,
    };
    // A label or value computed over the trace (`by(rootName)`, `by(parent.…)`, compare's
    // `rootName`) is known only once the trace is read whole: such a pipeline defers traces
    // held in several parts, as one that judges traces does.
    if needs.derived.iter().any(super::relax::computed_per_trace) {
        plan.simple = false;
    }
    plan.needs = needs.clone();
    Ok(Pipe {
        prune: prune::pipeline(&mp.pipeline),
        plan,
        function: mp.function.kind.clone(),
        by,
        field,
        compare,
        needs,
    })
}

impl Acc {
    /// The series with these labels, made if new (up to `max_series`).
    fn series_id(&mut self, labels: Vec<(String, Owned)>) -> Result<usize, SearchError> {
        let key: LabelKey = labels
            .iter()
            .map(|(k, v)| (k.clone(), v.group_key()))
            .collect();
        if let Some(&i) = self.index.get(&key) {
            return Ok(i);
        }
        if self.series.len() >= self.max_series {
            return Err(SearchError::Invalid(format!(
                "the query makes more than {} series (query.max_metrics_series); narrow it or group by fewer values",
                self.max_series
            )));
        }
        self.series
            .push((labels, vec![Cell::default(); self.steps], Vec::new()));
        self.index.insert(key, self.series.len() - 1);
        Ok(self.series.len() - 1)
    }

    fn exemplar(&mut self, id: usize, ex: Exemplar, by_value: bool) {
        let max = self.exemplars;
        let list = &mut self.series[id].2;
        if list.len() < max {
            list.push(ex);
        } else if by_value
            && let Some(min) = list.iter_mut().min_by(|a, b| a.value.total_cmp(&b.value))
            && min.value < ex.value
        {
            *min = ex;
        }
    }
}

/// Feeds the spans a pipeline kept in one batch into the accumulator.
/// Where a batch fed to a pipeline comes from.
enum Parts<'a> {
    /// One part of the view. A pipeline that judges traces (anything but one filter) defers
    /// a trace that has spans in other parts too, if a span here passes a candidate filter
    /// ([`super::relax`]): it is read whole after the scan.
    Of(&'a SearchView, Part, &'a mut HashSet<TraceId>),
    /// Traces read whole; only those the pipeline deferred count.
    Whole(&'a HashSet<TraceId>),
}

fn feed(
    pipe: &Pipe,
    batch: &SpanBatch,
    req: &MetricsRequest,
    acc: &mut Acc,
    mut parts: Parts<'_>,
) -> Result<(), SearchError> {
    if batch.len == 0 {
        return Ok(());
    }
    let ctx = Ctx::new(&pipe.plan, batch);
    let defers = !pipe.plan.simple && matches!(parts, Parts::Of(..));
    let may_defer = defers && pipe.plan.candidates.is_some();
    if !ctx.any_match() && !may_defer {
        return Ok(());
    }
    let candidate = defers.then(|| ctx.candidate_rows(&pipe.plan));
    let mut compare = pipe.compare.as_ref().map(|c| c.batch(batch));
    let by_cols: Vec<Option<&Col>> = pipe.by.iter().map(|(_, k)| batch.col(k)).collect();
    let field_col = pipe.field.as_ref().and_then(|k| batch.col(k));
    // Series by the raw label values of this batch: labels are built once per series.
    let mut local: HashMap<Vec<RawKey>, usize> = HashMap::new();
    let mut key: Vec<RawKey> = Vec::with_capacity(by_cols.len() + 1);
    let mut rows: Vec<u32> = Vec::new();
    for t in &batch.traces {
        if !req.sample.keeps_trace(&t.id) {
            continue;
        }
        match &mut parts {
            Parts::Whole(only) if !only.contains(&t.id) => continue,
            Parts::Of(view, part, deferred) if defers && view.held_elsewhere(&t.id, *part) => {
                let hit = candidate.as_ref().is_some_and(|c| {
                    c[t.rows.start as usize..t.rows.end as usize]
                        .iter()
                        .any(|x| *x)
                });
                if hit {
                    deferred.insert(t.id);
                }
                continue;
            }
            _ => {}
        }
        rows.clear();
        if pipe.plan.simple {
            let m = &ctx.masks[0];
            rows.extend(t.rows.clone().filter(|&r| m[r as usize]));
        } else {
            let sets = spanset::run(&pipe.plan, &ctx, t.rows.clone());
            rows.extend(sets.iter().flat_map(|s| s.rows.iter().copied()));
            rows.sort_unstable();
            rows.dedup();
        }
        for &r in &rows {
            let r = r as usize;
            let ts = batch.starts[r];
            if ts < req.start_ns || ts >= req.end_ns {
                continue;
            }
            let step = ((ts - req.start_ns) / req.step_ns) as usize;
            if step >= acc.steps
                || !req
                    .sample
                    .keeps_span(batch.span_ids.get(r).copied().unwrap_or(0))
            {
                continue;
            }
            if let (Some(c), Some(counts)) = (&mut compare, &mut acc.compare) {
                c.observe(counts, r, ts, step);
                continue;
            }
            let value = match field_col.map(|c| c.first(r)) {
                Some(V::Dur(d)) => Some(d as f64 / 1e9),
                Some(v) => v.as_f64(),
                None => None,
            };
            let ex = Exemplar {
                trace_id: t.id,
                span_id: batch.span_ids.get(r).map(|id| span_id_hex(*id)),
                timestamp_ms: (ts / 1_000_000) as i64,
                value: value.unwrap_or(1.0),
            };
            // A function of a field counts only spans with a numeric value of it.
            if pipe.field.is_some() && value.is_none() {
                continue;
            }
            let histogram = matches!(pipe.function, MetricsFunctionKind::HistogramOverTime(_));
            // Power-of-two buckets, labelled by their upper bound, as Tempo.
            let bound = match value {
                Some(v) if histogram && v > 0.0 => Some(2f64.powf(v.log2().ceil())),
                Some(_) if histogram => Some(0.0),
                _ => None,
            };
            key.clear();
            for c in &by_cols {
                key.push(raw_key(
                    c.and_then(|c| c.row(r).first().copied())
                        .unwrap_or(Val::Nil),
                ));
            }
            if let Some(b) = bound {
                key.push((3, b.to_bits()));
            }
            let id = match local.get(key.as_slice()) {
                Some(&id) => id,
                None => {
                    let mut labels: Vec<(String, Owned)> = pipe
                        .by
                        .iter()
                        .zip(&by_cols)
                        .map(|((name, _), c)| {
                            (
                                name.clone(),
                                c.map_or(Owned::Nil, |c| c.first(r).to_owned_value()),
                            )
                        })
                        .collect();
                    if let Some(b) = bound {
                        labels.push(("__bucket".into(), Owned::Float(b)));
                    }
                    let id = acc.series_id(labels)?;
                    local.insert(key.clone(), id);
                    id
                }
            };
            let c = &mut acc.series[id].1[step];
            match &pipe.function {
                MetricsFunctionKind::Rate | MetricsFunctionKind::CountOverTime => {
                    c.count += 1.0;
                    acc.exemplar(id, ex, false);
                }
                MetricsFunctionKind::HistogramOverTime(_) => {
                    if value.is_none() {
                        continue;
                    }
                    c.count += 1.0;
                    acc.exemplar(id, ex, true);
                }
                MetricsFunctionKind::QuantileOverTime { .. } => {
                    let Some(v) = value else { continue };
                    c.count += 1.0;
                    *c.hist.entry(log_bucket(v)).or_insert(0) += 1;
                    acc.exemplar(id, ex, true);
                }
                _ => {
                    let Some(v) = value else { continue };
                    if c.count == 0.0 {
                        c.min = v;
                        c.max = v;
                    } else {
                        c.min = c.min.min(v);
                        c.max = c.max.max(v);
                    }
                    c.count += 1.0;
                    c.sum += v;
                    acc.exemplar(id, ex, true);
                }
            }
        }
    }
    Ok(())
}

/// The series of a pipeline; counts and sums multiplied by `scale` (sampling).
fn finish_pipe(pipe: &Pipe, mut acc: Acc, step_ns: u64, scale: f64) -> Vec<Series> {
    if let (Some(c), Some(counts)) = (&pipe.compare, acc.compare.take()) {
        return compare::finish(c, counts, scale);
    }
    pipe_series(pipe, acc, step_ns, scale)
}

fn pipe_series(pipe: &Pipe, acc: Acc, step_ns: u64, scale: f64) -> Vec<Series> {
    let step_s = step_ns as f64 / 1e9;
    let mut out = Vec::new();
    let mut order: Vec<(LabelKey, usize)> = acc.index.into_iter().collect();
    order.sort();
    let mut series: Vec<Option<SeriesCells>> = acc.series.into_iter().map(Some).collect();
    for (_, id) in order {
        let Some((labels, cells, exemplars)) = series[id].take() else {
            continue;
        };
        match &pipe.function {
            MetricsFunctionKind::QuantileOverTime { quantiles, .. } => {
                for q in quantiles {
                    let mut l = labels.clone();
                    l.push(("p".into(), Owned::Float(*q)));
                    let values = cells
                        .iter()
                        .map(|c| {
                            if c.count == 0.0 {
                                return f64::NAN;
                            }
                            let rank = (q * c.count).ceil().max(1.0) as u64;
                            let mut seen = 0;
                            for (b, n) in &c.hist {
                                seen += n;
                                if seen >= rank {
                                    return bucket_value(*b);
                                }
                            }
                            f64::NAN
                        })
                        .collect();
                    out.push(Series {
                        labels: l,
                        values,
                        exemplars: exemplars.clone(),
                    });
                }
            }
            f => {
                let values = cells
                    .iter()
                    .map(|c| {
                        if c.count == 0.0 {
                            return f64::NAN;
                        }
                        match f {
                            MetricsFunctionKind::Rate => c.count * scale / step_s,
                            MetricsFunctionKind::MinOverTime(_) => c.min,
                            MetricsFunctionKind::MaxOverTime(_) => c.max,
                            MetricsFunctionKind::SumOverTime(_) => c.sum * scale,
                            MetricsFunctionKind::AvgOverTime(_) => c.sum / c.count,
                            _ => c.count * scale,
                        }
                    })
                    .collect();
                out.push(Series {
                    labels,
                    values,
                    exemplars,
                });
            }
        }
    }
    out
}

/// Runs a metrics query over a tenant's data.
pub async fn query_range(
    view: &SearchView,
    req: &MetricsRequest,
) -> Result<MetricsResult, SearchError> {
    query_range_many(view, std::slice::from_ref(req))
        .await
        .pop()
        .expect("one answer per request")
}

fn same_scope(
    a: Option<&Arc<crate::visibility::Visibility>>,
    b: Option<&Arc<crate::visibility::Visibility>>,
) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(a), Some(b)) => Arc::ptr_eq(a, b) || a.text() == b.text(),
        _ => false,
    }
}

/// One pipeline of one request while the data is read: what it counted so far, or why it
/// stopped.
struct Running {
    req: usize,
    pipe: Pipe,
    acc: Result<Acc, SearchError>,
    /// Traces to count once read whole.
    deferred: HashSet<TraceId>,
}

/// Runs several metrics queries over a tenant's data in one scan: the data is read and
/// decoded once, over the union of their ranges, and every pipeline of every query counts
/// the spans of its own range. One answer per request, in order. A query that is not valid
/// or makes too many series fails alone; a storage failure or the time limit (the longest
/// of the requests') fails them all.
pub async fn query_range_many(
    view: &SearchView,
    reqs: &[MetricsRequest],
) -> Vec<Result<MetricsResult, SearchError>> {
    // One scan loads for every request, so they must see the same spans.
    if reqs
        .iter()
        .any(|r| !same_scope(r.scope.as_ref(), reqs[0].scope.as_ref()))
    {
        let mut out = Vec::with_capacity(reqs.len());
        for r in reqs {
            out.push(Box::pin(query_range(view, r)).await);
        }
        return out;
    }
    let started = Instant::now();
    let mut answers: Vec<Result<MetricsResult, SearchError>> = Vec::with_capacity(reqs.len());
    let mut running: Vec<Running> = Vec::new();
    // `compare()` compares every attribute the data in range holds.
    let names = match compare_range(reqs) {
        Some(range) => match compare::attribute_names(view, range).await {
            Ok(n) => n,
            Err(e) => return reqs.iter().map(|_| Err(e.clone())).collect(),
        },
        None => Vec::new(),
    };
    for (i, req) in reqs.iter().enumerate() {
        let prepared = steps_of(req).and_then(|steps| {
            let mut mps = Vec::new();
            pipelines(&req.expr, &mut mps);
            let pipes = mps
                .into_iter()
                .map(|mp| compile_pipe(mp, &names))
                .collect::<Result<Vec<_>, _>>()?;
            Ok((steps, pipes))
        });
        match prepared {
            Ok((steps, pipes)) => {
                running.extend(pipes.into_iter().map(|pipe| Running {
                    req: i,
                    deferred: HashSet::new(),
                    acc: Ok(Acc {
                        compare: pipe.compare.as_ref().map(|c| c.acc(steps)),
                        steps,
                        series: Vec::new(),
                        index: HashMap::new(),
                        max_series: req.max_series,
                        exemplars: req.exemplars,
                    }),
                    pipe,
                }));
                answers.push(Ok(MetricsResult {
                    timestamps_ms: (0..steps as u64)
                        .map(|s| ((req.start_ns + s * req.step_ns) / 1_000_000) as i64)
                        .collect(),
                    ..Default::default()
                }));
            }
            Err(e) => answers.push(Err(e)),
        }
    }
    if !running.is_empty() {
        let mut needs = Needs::default();
        needs.restrict(reqs[0].scope.as_ref());
        let mut prunes = Vec::with_capacity(running.len());
        let (mut from, mut to, mut timeout) = (u64::MAX, 0, Duration::ZERO);
        for r in &running {
            needs.merge(&r.pipe.needs);
            // Spans are sampled by ID.
            needs.ids |= matches!(reqs[r.req].sample, Sample::Spans(_));
            prunes.push(r.pipe.prune.clone());
            let req = &reqs[r.req];
            from = from.min(req.start_ns);
            to = to.max(req.end_ns);
            timeout = timeout.max(req.timeout);
        }
        let prune = match prunes.len() {
            1 => prunes.pop().expect("one"),
            _ => prune::Prune::AnyOf(prunes),
        };
        let scanned = super::scan(
            view,
            &prune,
            &needs,
            (from, to),
            (started, timeout),
            |part, batch| {
                for r in &mut running {
                    if let Ok(acc) = &mut r.acc {
                        let parts = Parts::Of(view, part, &mut r.deferred);
                        if let Err(e) = feed(&r.pipe, batch, &reqs[r.req], acc, parts) {
                            r.acc = Err(e);
                        }
                    }
                }
                Ok(())
            },
        )
        .await;
        let scanned = match scanned {
            Ok(s) => whole_traces(view, &needs, &mut running, reqs, (started, timeout))
                .await
                .map(|read| Scanned {
                    spans: s.spans + read,
                    ..s
                }),
            Err(e) => Err(e),
        };
        match scanned {
            Ok(s) => {
                for result in answers.iter_mut().flatten() {
                    result.inspected_spans = s.spans;
                    result.inspected_bytes = s.bytes;
                    result.total_blocks = s.blocks;
                }
            }
            Err(e) => {
                return answers.into_iter().map(|a| a.and(Err(e.clone()))).collect();
            }
        }
    }
    // Each request's pipelines, finished, in the order its expression reads them.
    let mut finished: Vec<Vec<Result<Vec<Series>, SearchError>>> =
        reqs.iter().map(|_| Vec::new()).collect();
    for r in running {
        let step_ns = reqs[r.req].step_ns;
        let scale = reqs[r.req].sample.scale();
        let pipe = r.pipe;
        finished[r.req].push(r.acc.map(|acc| finish_pipe(&pipe, acc, step_ns, scale)));
    }
    answers
        .into_iter()
        .zip(finished)
        .zip(reqs)
        .map(|((answer, series), req)| {
            let mut result = answer?;
            let steps = result.timestamps_ms.len();
            result.series = eval_expr(&req.expr, steps, &mut series.into_iter())?;
            Ok(result)
        })
        .collect()
}

/// Counts the traces pipelines deferred, read whole a batch at a time; returns the spans
/// read.
async fn whole_traces(
    view: &SearchView,
    needs: &Needs,
    running: &mut [Running],
    reqs: &[MetricsRequest],
    (started, timeout): (Instant, Duration),
) -> Result<u64, SearchError> {
    /// Traces read whole at once (one read of each block serves them all).
    const PER_READ: usize = 64;
    let all: BTreeSet<TraceId> = running
        .iter()
        .flat_map(|r| r.deferred.iter().copied())
        .collect();
    let all: Vec<TraceId> = all.into_iter().collect();
    let mut read = 0;
    for ids in all.chunks(PER_READ) {
        super::check_time(started, timeout)?;
        let traces = view.traces(ids).await?;
        let batch = load_head::load(traces, needs);
        read += batch.len as u64;
        for r in running.iter_mut() {
            if r.deferred.is_empty() {
                continue;
            }
            if let Ok(acc) = &mut r.acc
                && let Err(e) = feed(
                    &r.pipe,
                    &batch,
                    &reqs[r.req],
                    acc,
                    Parts::Whole(&r.deferred),
                )
            {
                r.acc = Err(e);
            }
        }
    }
    Ok(read)
}

/// The number of steps of a request, checked.
fn steps_of(req: &MetricsRequest) -> Result<usize, SearchError> {
    if req.step_ns == 0 {
        return Err(SearchError::Invalid("step must be positive".into()));
    }
    if req.end_ns <= req.start_ns {
        return Err(SearchError::Invalid("end must be after start".into()));
    }
    let steps = (req.end_ns - req.start_ns).div_ceil(req.step_ns);
    if steps > 11_000 {
        return Err(SearchError::Invalid(format!(
            "the range holds {steps} steps, more than 11000; use a larger step"
        )));
    }
    Ok(steps as usize)
}

/// The pipelines of an expression, in the order [`eval_expr`] reads them.
fn pipelines<'a>(e: &'a MetricsExpr, out: &mut Vec<&'a MetricsPipeline>) {
    match e {
        MetricsExpr::Pipeline(mp) => out.push(mp),
        MetricsExpr::Literal(..) => {}
        MetricsExpr::Binary { lhs, rhs, .. } => {
            pipelines(lhs, out);
            pipelines(rhs, out);
        }
        MetricsExpr::Filter {
            input, threshold, ..
        } => {
            pipelines(input, out);
            pipelines(threshold, out);
        }
        MetricsExpr::TopK { input, .. } => pipelines(input, out),
    }
}

/// The series of an expression, from the finished series of its pipelines (taken from
/// `pipes` in the order of [`pipelines`]).
fn eval_expr(
    e: &MetricsExpr,
    steps: usize,
    pipes: &mut impl Iterator<Item = Result<Vec<Series>, SearchError>>,
) -> Result<Vec<Series>, SearchError> {
    Ok(match e {
        MetricsExpr::Pipeline(_) => pipes
            .next()
            .expect("a finished pipeline for each pipeline of the expression")?,
        MetricsExpr::Literal(s, _) => vec![Series {
            labels: Vec::new(),
            values: vec![static_f64(s); steps],
            exemplars: Vec::new(),
        }],
        MetricsExpr::Binary { op, lhs, rhs, .. } => {
            let l = eval_expr(lhs, steps, pipes)?;
            let r = eval_expr(rhs, steps, pipes)?;
            combine(&l, &r, |a, b| {
                arith(V::Float(a), *op, V::Float(b))
                    .as_f64()
                    .unwrap_or(f64::NAN)
            })
        }
        MetricsExpr::Filter {
            input,
            op,
            threshold,
            ..
        } => {
            let s = eval_expr(input, steps, pipes)?;
            let t = eval_expr(threshold, steps, pipes)?;
            let th = t
                .first()
                .and_then(|s| s.values.first().copied())
                .unwrap_or(f64::NAN);
            s.into_iter()
                .map(|mut s| {
                    for v in &mut s.values {
                        if !passes(*v, *op, th) {
                            *v = f64::NAN;
                        }
                    }
                    s
                })
                .filter(|s| s.values.iter().any(|v| !v.is_nan()))
                .collect()
        }
        MetricsExpr::TopK { input, op, k, .. } => {
            let mut s = eval_expr(input, steps, pipes)?;
            top_k(&mut s, *op, *k as usize, steps);
            s
        }
    })
}

fn static_f64(s: &Static) -> f64 {
    match s {
        Static::Int(i) => *i as f64,
        Static::Float(f) => *f,
        Static::Duration(d) => *d as f64 / 1e9,
        _ => f64::NAN,
    }
}

fn passes(v: f64, op: CmpOp, th: f64) -> bool {
    !v.is_nan() && super::value::compare(V::Float(v), op, V::Float(th))
}

/// Point-wise `l op r`: series with the same labels pair up; a single unlabelled series (a
/// number) pairs with every series of the other side.
fn combine(l: &[Series], r: &[Series], f: impl Fn(f64, f64) -> f64) -> Vec<Series> {
    let apply = |a: &Series, b: &Series, labels: &[(String, Owned)]| Series {
        labels: labels.to_vec(),
        values: a
            .values
            .iter()
            .zip(&b.values)
            .map(|(x, y)| f(*x, *y))
            .collect(),
        exemplars: a.exemplars.clone(),
    };
    if r.len() == 1 && r[0].labels.is_empty() {
        return l.iter().map(|a| apply(a, &r[0], &a.labels)).collect();
    }
    if l.len() == 1 && l[0].labels.is_empty() {
        return r.iter().map(|b| apply(&l[0], b, &b.labels)).collect();
    }
    l.iter()
        .filter_map(|a| {
            r.iter()
                .find(|b| b.labels == a.labels)
                .map(|b| apply(a, b, &a.labels))
        })
        .collect()
}

/// Keeps, at each step, the values of the `k` highest (lowest) series.
fn top_k(series: &mut Vec<Series>, op: TopKOp, k: usize, steps: usize) {
    for step in 0..steps {
        let mut idx: Vec<usize> = (0..series.len())
            .filter(|&i| !series[i].values[step].is_nan())
            .collect();
        idx.sort_by(|&a, &b| {
            let (x, y) = (series[a].values[step], series[b].values[step]);
            match op {
                TopKOp::TopK => y.total_cmp(&x),
                TopKOp::BottomK => x.total_cmp(&y),
            }
        });
        for &i in idx.iter().skip(k) {
            series[i].values[step] = f64::NAN;
        }
    }
    series.retain(|s| s.values.iter().any(|v| !v.is_nan()));
}

/// The union of the ranges of the requests that hold a `compare()`, if any does.
fn compare_range(reqs: &[MetricsRequest]) -> Option<(u64, u64)> {
    let mut range: Option<(u64, u64)> = None;
    for req in reqs {
        let mut mps = Vec::new();
        pipelines(&req.expr, &mut mps);
        if mps
            .iter()
            .any(|mp| matches!(mp.function.kind, MetricsFunctionKind::Compare { .. }))
        {
            let (from, to) = range.unwrap_or((req.start_ns, req.end_ns));
            range = Some((from.min(req.start_ns), to.max(req.end_ns)));
        }
    }
    range
}
