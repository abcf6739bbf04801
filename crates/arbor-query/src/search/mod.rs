//! TraceQL search over the head and the blocks.
//!
//! A query is compiled once ([`spanset::compile_pipeline`]): its spanset filters become
//! column kernels, and the fields it reads become a projection. Then, newest data first:
//!
//! 1. **The head** (and heads being cut), shard by shard: the spans are decoded into a
//!    [`SpanBatch`] holding only the projected fields, the filters run over whole columns,
//!    then the pipeline runs per trace.
//! 2. **The blocks**, newest first: a block whose time range misses the query's is skipped
//!    unread; then the attribute index (one small file, cached) names the row groups that
//!    can hold a match ([`prune`]), so a search for a value no block holds reads no span
//!    data at all. Each remaining row group is read column by column — only the projected
//!    columns — and evaluated like the head. The spans of a matching trace get their result
//!    fields (ID, name, times, selected attributes) in a second read of just those rows, and
//!    the trace its summary (root service and name, start, end) from `traces.parquet`.
//!
//! A trace's parts (head, blocks not yet compacted together) are evaluated part by part and
//! their results joined by trace ID, as Tempo does. Results are ordered by start time, most
//! recent first, then trace ID, so the same data gives the same answer. Once `limit` traces
//! are held, blocks that end before the oldest of them are not read. Memory stays bounded:
//! one row group at a time, and at most a few times `limit` results.

pub mod batch;
pub mod eval;
pub mod load_block;
pub mod load_head;
pub mod metrics;
pub mod prune;
pub mod reference;
pub mod spanset;
pub mod value;

use std::collections::HashMap;
use std::ops::Range;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arbor_model::TraceId;
use arbor_storage::SearchView;
use arbor_storage::block::{BlockReader, TraceTable, schema};
use futures::StreamExt;

use batch::{FieldKey, Needs, SpanBatch, span_id_hex};
use eval::CompileError;
use load_block::Layout;
use spanset::{Ctx, Plan, Spanset};
use value::{Owned, V};

use crate::traceql::{Intrinsic, Pipeline, Query, QueryKind, Scope};

/// A search to run.
#[derive(Debug, Clone)]
pub struct SearchRequest {
    pub pipeline: Pipeline,
    /// Traces overlapping `[start, end]` (Unix ns; `end` 0 = no bound).
    pub start_ns: u64,
    pub end_ns: u64,
    pub limit: usize,
    /// Spans returned per spanset.
    pub spss: usize,
    /// Trace duration bounds (ns).
    pub min_duration_ns: Option<u64>,
    pub max_duration_ns: Option<u64>,
    pub timeout: Duration,
}

impl SearchRequest {
    /// A request for `query`, which must be a search (not a metrics query).
    pub fn new(query: &Query) -> Result<SearchRequest, SearchError> {
        let QueryKind::Search(p) = &query.kind else {
            return Err(SearchError::Invalid(
                "this is a metrics query: send it to /api/metrics/query_range".into(),
            ));
        };
        Ok(SearchRequest {
            pipeline: p.clone(),
            start_ns: 0,
            end_ns: 0,
            limit: 20,
            spss: 3,
            min_duration_ns: None,
            max_duration_ns: None,
            timeout: Duration::from_secs(30),
        })
    }
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum SearchError {
    #[error("{0}")]
    Invalid(String),
    #[error(
        "the query ran longer than its time limit of {0:?} (query.search_timeout); narrow the time range or the query"
    )]
    Timeout(Duration),
    #[error("reading storage: {0}")]
    Storage(String),
}

impl From<CompileError> for SearchError {
    fn from(e: CompileError) -> Self {
        SearchError::Invalid(e.0)
    }
}

/// One span of a result.
#[derive(Debug, Clone, PartialEq)]
pub struct ResultSpan {
    pub span_id: String,
    pub name: String,
    pub start_ns: u64,
    pub duration_ns: u64,
    /// The attributes the query reads, and those it selects, that the span has.
    pub attributes: Vec<(String, Owned)>,
}

/// One spanset of a result.
#[derive(Debug, Clone, PartialEq)]
pub struct ResultSet {
    /// At most `spss` of the matched spans, earliest first.
    pub spans: Vec<ResultSpan>,
    pub matched: usize,
    /// `by()` labels.
    pub labels: Vec<(String, Owned)>,
}

/// One matching trace.
#[derive(Debug, Clone, PartialEq)]
pub struct TraceResult {
    pub trace_id: TraceId,
    pub root_service: Option<String>,
    pub root_name: Option<String>,
    pub start_ns: u64,
    pub end_ns: u64,
    /// Spans and spans with status error in the trace's parts that matched (a part that
    /// did not match — another block not yet compacted with this one — is not counted).
    pub span_count: u64,
    pub error_count: u64,
    pub span_sets: Vec<ResultSet>,
}

impl TraceResult {
    pub fn duration_ns(&self) -> u64 {
        self.end_ns.saturating_sub(self.start_ns)
    }
}

/// What a search looked at.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SearchMetrics {
    pub inspected_traces: u64,
    pub inspected_spans: u64,
    /// Compressed bytes of the columns read from blocks.
    pub inspected_bytes: u64,
    pub total_blocks: u64,
    /// Blocks skipped by time range or attribute index, without reading span data.
    pub pruned_blocks: u64,
    pub elapsed: Duration,
}

#[derive(Debug, Clone, Default)]
pub struct SearchResult {
    pub traces: Vec<TraceResult>,
    pub metrics: SearchMetrics,
}

/// The compiled query and what each read needs.
struct Prepared {
    plan: Plan,
    /// Fields to return with each span (the query's attributes and `select()`ed fields).
    returned: Vec<FieldKey>,
    /// What the second read of matching rows loads.
    result_needs: Needs,
    prune: prune::Prune,
    spss: usize,
}

fn prepare(req: &SearchRequest) -> Result<Prepared, SearchError> {
    // The time range is checked per trace, on trace summaries (blocks) or on the head
    // batch's times (which the head loads anyway), so the filters' read needs no times.
    let plan = spanset::compile_pipeline(&req.pipeline)?;
    let mut returned: Vec<FieldKey> = plan
        .needs
        .base
        .iter()
        .chain(plan.needs.derived.iter())
        .filter(|k| matches!(k.attribute(), Some((s, _)) if s != Scope::Event && s != Scope::Link))
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
    Ok(Prepared {
        prune: prune::pipeline(&req.pipeline),
        plan,
        returned,
        result_needs,
        spss: req.spss.max(1),
    })
}

/// Runs a search over a tenant's data.
pub async fn search(view: &SearchView, req: &SearchRequest) -> Result<SearchResult, SearchError> {
    let started = Instant::now();
    let prepared = Arc::new(prepare(req)?);
    let mut acc = Acc::new(req);

    // The head and the heads being cut: everything is in memory, so one pass loads both
    // what the filters read and what results return.
    let mut head_needs = prepared.plan.needs.clone();
    head_needs.merge(&prepared.result_needs);
    head_needs.add(FieldKey::attr(Scope::Resource, "service.name"));
    head_needs.add(FieldKey::intr(Intrinsic::Status));
    for k in FAAS_ERROR_TAGS {
        head_needs.add(FieldKey::attr(Scope::Span, k));
    }
    let head_needs = Arc::new(head_needs);
    for head in &view.heads {
        // The head's tag registry answers "not here" for a value no span of it holds.
        if !prepared.prune.is_all() && !prepared.prune.head_may_match(&head.tags()) {
            continue;
        }
        // Shards are decoded and evaluated on all cores at once.
        let mut shards = futures::stream::iter(0..head.shard_count())
            .map(|shard| {
                let head = head.clone();
                let (p, needs) = (prepared.clone(), head_needs.clone());
                let (start, end) = (req.start_ns, req.end_ns);
                tokio::task::spawn_blocking(move || {
                    let depth = load_head::Decode::for_needs(&needs);
                    // Traces outside the range are skipped before decoding; the
                    // batch's own check below is the same test on the decoded times.
                    let traces = head.shard_traces_in(shard, (start, end), |b| depth.decode(b));
                    let batch = load_head::load(traces, &needs);
                    let inspected = (batch.traces.len() as u64, batch.len as u64);
                    (eval_head_batch(&p, &batch, start, end), inspected)
                })
            })
            .buffer_unordered(parallelism());
        while let Some(done) = shards.next().await {
            check_time(started, req.timeout)?;
            let (parts, inspected) =
                done.map_err(|e| SearchError::Storage(format!("search task: {e}")))?;
            acc.metrics.inspected_traces += inspected.0;
            acc.metrics.inspected_spans += inspected.1;
            for part in parts {
                acc.add(part);
            }
        }
    }

    // Blocks, newest first.
    let mut blocks: Vec<Arc<BlockReader>> = view.blocks.clone();
    blocks.sort_by(|a, b| {
        (b.meta.end_unix_nano, &b.meta.block_id).cmp(&(a.meta.end_unix_nano, &a.meta.block_id))
    });
    acc.metrics.total_blocks = blocks.len() as u64;
    for block in blocks {
        check_time(started, req.timeout)?;
        let m = &block.meta;
        let end_bound = if req.end_ns == 0 {
            u64::MAX
        } else {
            req.end_ns
        };
        if m.span_count == 0 || m.end_unix_nano < req.start_ns || m.start_unix_nano > end_bound {
            acc.metrics.pruned_blocks += 1;
            continue;
        }
        if acc.cannot_improve(m.end_unix_nano) {
            acc.metrics.pruned_blocks += 1;
            continue;
        }
        match search_block(&block, &prepared, req, &mut acc, started).await {
            Ok(()) => {}
            // A block that compaction or retention removed mid-read: its spans are in the
            // compacted block (read too, or next time) or gone by policy.
            Err(SearchError::Storage(e)) if !block.exists().await => {
                tracing::debug!(block = %block.meta.block_id, error = %e, "block vanished during a search");
            }
            Err(e) => return Err(e),
        }
    }
    let mut result = acc.finish();
    result.metrics.elapsed = started.elapsed();
    Ok(result)
}

/// Head shards evaluated at once: the machine's cores.
fn parallelism() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}

pub(crate) fn check_time(started: Instant, limit: Duration) -> Result<(), SearchError> {
    if started.elapsed() > limit {
        Err(SearchError::Timeout(limit))
    } else {
        Ok(())
    }
}

pub(crate) fn storage(e: impl std::fmt::Display) -> SearchError {
    SearchError::Storage(e.to_string())
}

/// Span attributes that make a span count as an error in a trace's summary when true
/// (as the block writer counts them: `arbor_model::faas::failed`).
const FAAS_ERROR_TAGS: [&str; 2] = ["faas.error", "faas.error_timeout"];

/// Whether a value is a true flag in any shape (`true`, `"true"`, non-zero).
fn faas_true(v: V) -> bool {
    match v {
        V::Bool(b) => b,
        V::Int(i) => i != 0,
        V::Str(s) => s.trim().eq_ignore_ascii_case("true"),
        _ => false,
    }
}

/// One trace part's result before merging.
struct PartResult {
    trace_id: TraceId,
    root_service: Option<String>,
    root_name: Option<String>,
    start_ns: u64,
    end_ns: u64,
    span_count: u64,
    error_count: u64,
    sets: Vec<ResultSet>,
}

fn overlaps(start: u64, end: u64, from: u64, to: u64) -> bool {
    let to = if to == 0 { u64::MAX } else { to };
    end >= from && start <= to
}

/// Evaluates a head batch (which holds the result fields too).
fn eval_head_batch(p: &Prepared, batch: &SpanBatch, from: u64, to: u64) -> Vec<PartResult> {
    if batch.len == 0 {
        return Vec::new();
    }
    let ctx = Ctx::new(&p.plan, batch);
    if !ctx.any_match() {
        return Vec::new();
    }
    let service = batch.col(&FieldKey::attr(Scope::Resource, "service.name"));
    let name = batch.col(&FieldKey::intr(Intrinsic::Name));
    let status = batch.col(&FieldKey::intr(Intrinsic::Status));
    let faas_error = FAAS_ERROR_TAGS.map(|k| batch.col(&FieldKey::attr(Scope::Span, k)));
    let mut out = Vec::new();
    for t in &batch.traces {
        let rows = t.rows.start as usize..t.rows.end as usize;
        let start = rows.clone().map(|r| batch.starts[r]).min().unwrap_or(0);
        let end = rows
            .clone()
            .map(|r| batch.starts[r].wrapping_add(batch.durations[r]))
            .max()
            .unwrap_or(0);
        if (from > 0 || to > 0) && !overlaps(start, end, from, to) {
            continue;
        }
        let sets = spanset::run(&p.plan, &ctx, t.rows.clone());
        if sets.is_empty() {
            continue;
        }
        let root = batch.root_of(t);
        let str_at = |c: Option<&batch::Col>, r: Option<usize>| match (c, r) {
            (Some(c), Some(r)) => match c.first(r) {
                V::Str(s) => Some(s.to_string()),
                _ => None,
            },
            _ => None,
        };
        let error_count = rows
            .clone()
            .filter(|&r| {
                status
                    .is_some_and(|c| matches!(c.first(r), V::Status(crate::traceql::Status::Error)))
                    || faas_error.iter().flatten().any(|c| faas_true(c.first(r)))
            })
            .count() as u64;
        out.push(PartResult {
            trace_id: t.id,
            root_service: str_at(service, root),
            root_name: str_at(name, root),
            start_ns: start,
            end_ns: end,
            span_count: rows.len() as u64,
            error_count,
            sets: result_sets(p, &sets, batch, |r| r as usize),
        });
    }
    out
}

/// Turns spansets into results, reading the result fields from `rb` at `map(row)`.
fn result_sets(
    p: &Prepared,
    sets: &[Spanset],
    rb: &SpanBatch,
    map: impl Fn(u32) -> usize,
) -> Vec<ResultSet> {
    let name = rb.col(&FieldKey::intr(Intrinsic::Name));
    sets.iter()
        .map(|ss| {
            let mut rows: Vec<usize> = ss.rows.iter().map(|&r| map(r)).collect();
            rows.sort_by_key(|&r| (rb.starts[r], rb.span_ids[r]));
            let spans = rows
                .iter()
                .take(p.spss)
                .map(|&r| ResultSpan {
                    span_id: span_id_hex(rb.span_ids[r]),
                    name: match name.map(|c| c.first(r)) {
                        Some(V::Str(s)) => s.to_string(),
                        _ => String::new(),
                    },
                    start_ns: rb.starts[r],
                    duration_ns: rb.durations[r],
                    attributes: p
                        .returned
                        .iter()
                        .filter_map(|k| {
                            let v = rb.col(k)?.first(r);
                            (!v.is_nil()).then(|| (returned_name(k), v.to_owned_value()))
                        })
                        .collect(),
                })
                .collect();
            ResultSet {
                spans,
                matched: ss.rows.len(),
                labels: ss.labels.clone(),
            }
        })
        .collect()
}

/// The name a returned field goes by: an attribute's key (as Tempo), an intrinsic's name.
fn returned_name(k: &FieldKey) -> String {
    match (k.intrinsic(), k.attribute()) {
        (Some(i), _) => i.name().to_string(),
        (_, Some((_, n))) => n.to_string(),
        _ => String::new(),
    }
}

/// What a [`scan`] read.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Scanned {
    pub spans: u64,
    /// Compressed bytes of the block columns read.
    pub bytes: u64,
    /// Blocks in the view.
    pub blocks: u64,
}

/// Feeds every span that may match `prune` to `f`, a batch at a time: each head (decoded
/// shard by shard on all cores, fed in shard order, so results come out the same every
/// time), then each block whose time range overlaps `[from, to)` (Unix ns), a row group at
/// a time with only the columns `needs` names. Head traces none of whose spans reach into
/// the range are skipped; `f` filters rows itself where it must.
pub(crate) async fn scan(
    view: &SearchView,
    prune: &prune::Prune,
    needs: &Needs,
    (from, to): (u64, u64),
    (started, timeout): (Instant, Duration),
    mut f: impl FnMut(&SpanBatch) -> Result<(), SearchError>,
) -> Result<Scanned, SearchError> {
    let mut out = Scanned {
        blocks: view.blocks.len() as u64,
        ..Default::default()
    };
    let needs = Arc::new(needs.clone());
    for head in &view.heads {
        if !prune.is_all() && !prune.head_may_match(&head.tags()) {
            continue;
        }
        let mut batches = futures::stream::iter(0..head.shard_count())
            .map(|shard| {
                let (head, needs) = (head.clone(), needs.clone());
                tokio::task::spawn_blocking(move || {
                    let depth = load_head::Decode::for_needs(&needs);
                    let traces = head.shard_traces_in(shard, (from, to), |b| depth.decode(b));
                    load_head::load(traces, &needs)
                })
            })
            .buffered(parallelism());
        while let Some(batch) = batches.next().await {
            check_time(started, timeout)?;
            let batch = batch.map_err(|e| SearchError::Storage(format!("scan task: {e}")))?;
            out.spans += batch.len as u64;
            f(&batch)?;
        }
    }
    for block in &view.blocks {
        check_time(started, timeout)?;
        let m = &block.meta;
        if m.span_count == 0 || m.end_unix_nano < from || m.start_unix_nano >= to {
            continue;
        }
        let Some((row_groups, layout)) = block_plan(block, prune).await? else {
            continue;
        };
        let cols = load_block::columns(&needs, &layout);
        let refs: Vec<&str> = cols.iter().map(String::as_str).collect();
        for rg in row_groups {
            check_time(started, timeout)?;
            out.bytes += block.column_bytes(&refs, rg).await.map_err(storage)?;
            let batches = block
                .read_row_group(&refs, rg, None, usize::MAX)
                .await
                .map_err(storage)?;
            let batch = load_block::load(&batches, &needs, &layout).map_err(storage)?;
            out.spans += batch.len as u64;
            f(&batch)?;
        }
    }
    Ok(out)
}

/// The row groups of a block that can hold a match (from its attribute index), and how it
/// stores the fields; `None` when no row group can.
pub(crate) async fn block_plan(
    block: &BlockReader,
    prune: &prune::Prune,
) -> Result<Option<(Vec<usize>, Layout)>, SearchError> {
    let row_groups: Vec<usize> = if prune.is_all() {
        (0..block.row_group_count()).collect()
    } else {
        let index = block.index().await.map_err(storage)?;
        match prune.eval(&index) {
            prune::RowGroups::All => (0..block.row_group_count()).collect(),
            prune::RowGroups::Some(s) => s.into_iter().collect(),
        }
    };
    if row_groups.is_empty() {
        return Ok(None);
    }
    let (resources, scopes) = block.resources_and_scopes().await.map_err(storage)?;
    let layout = Layout {
        dedicated: block
            .span_dedicated()
            .into_iter()
            .map(|(k, c, g)| (k, (c, g)))
            .collect(),
        resources,
        scopes,
    };
    Ok(Some((row_groups, layout)))
}

async fn search_block(
    block: &Arc<BlockReader>,
    p: &Arc<Prepared>,
    req: &SearchRequest,
    acc: &mut Acc,
    started: Instant,
) -> Result<(), SearchError> {
    let Some((row_groups, layout)) = block_plan(block, &p.prune).await? else {
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
    let mut summaries: Option<TraceTable> = None;
    // A trace whose spans fill several row groups is counted (spans, errors) once.
    let mut counted: std::collections::HashSet<TraceId> = std::collections::HashSet::new();
    for rg in row_groups {
        check_time(started, req.timeout)?;
        acc.metrics.inspected_bytes += block.column_bytes(&col_refs, rg).await.map_err(storage)?;
        let batches = block
            .read_row_group(&col_refs, rg, None, usize::MAX)
            .await
            .map_err(storage)?;
        let (pp, lay) = (p.clone(), layout.clone());
        let (matched, inspected) = tokio::task::spawn_blocking(move || {
            let batch = load_block::load(&batches, &pp.plan.needs, &lay)?;
            let ctx = Ctx::new(&pp.plan, &batch);
            let mut matched = Matched::default();
            if pp.plan.simple {
                matched.rows = ctx.masks[0]
                    .iter()
                    .enumerate()
                    .filter(|(_, m)| **m)
                    .map(|(i, _)| i as u32)
                    .collect();
            } else if ctx.any_match() {
                for t in &batch.traces {
                    let sets = spanset::run(&pp.plan, &ctx, t.rows.clone());
                    if !sets.is_empty() {
                        matched
                            .rows
                            .extend(sets.iter().flat_map(|s| s.rows.iter().copied()));
                        matched.traces.push((t.id, sets));
                    }
                }
                matched.rows.sort_unstable();
                matched.rows.dedup();
            }
            Ok::<_, load_block::LoadError>((matched, batch.len as u64))
        })
        .await
        .map_err(|e| SearchError::Storage(format!("search task: {e}")))?
        .map_err(storage)?;
        acc.metrics.inspected_spans += inspected;
        if matched.rows.is_empty() {
            continue;
        }
        // The result fields (and, for a simple plan, the trace IDs) of the matching rows.
        let ranges = to_ranges(&matched.rows);
        let batches = block
            .read_row_group(&result_refs, rg, Some(&ranges), usize::MAX)
            .await
            .map_err(storage)?;
        let rb = load_block::load(&batches, &p.result_needs, &layout).map_err(storage)?;
        let position: HashMap<u32, usize> = matched
            .rows
            .iter()
            .enumerate()
            .map(|(i, &r)| (r, i))
            .collect();
        let traces: Vec<(TraceId, Vec<Spanset>)> = if p.plan.simple {
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
        if summaries.is_none() {
            // One read of the block's trace table serves every row group.
            summaries = Some(block.trace_table().await.map_err(storage)?);
        }
        let summaries = summaries.as_ref().expect("loaded above");
        let (from, to) = (req.start_ns, req.end_ns);
        for (id, sets) in traces {
            let Some(s) = summaries.get(&id) else {
                continue;
            };
            if (from > 0 || to > 0) && !overlaps(s.start_unix_nano, s.end_unix_nano, from, to) {
                continue;
            }
            if !acc.could_use(s.start_unix_nano) {
                continue;
            }
            let first = counted.insert(id);
            acc.add(PartResult {
                trace_id: id,
                root_service: s.root_service.clone(),
                root_name: s.root_name.clone(),
                start_ns: s.start_unix_nano,
                end_ns: s.end_unix_nano,
                span_count: if first { u64::from(s.span_count) } else { 0 },
                error_count: if first { u64::from(s.error_count) } else { 0 },
                sets: result_sets(p, &sets, &rb, |r| position[&r]),
            });
        }
        acc.raise_floor();
    }
    Ok(())
}

/// What a row group's first read found.
#[derive(Default)]
struct Matched {
    /// Matching rows, ascending.
    rows: Vec<u32>,
    /// Per matching trace, its spansets (empty for a simple plan, grouped after the second
    /// read).
    traces: Vec<(TraceId, Vec<Spanset>)>,
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

/// Results gathered so far, joined by trace ID, bounded in number.
struct Acc {
    traces: HashMap<TraceId, TraceResult>,
    limit: usize,
    min_duration: Option<u64>,
    max_duration: Option<u64>,
    /// Start of the `limit`-th most recent qualifying trace once `limit` are held.
    floor: Option<u64>,
    metrics: SearchMetrics,
}

impl Acc {
    fn new(req: &SearchRequest) -> Acc {
        Acc {
            traces: HashMap::new(),
            limit: req.limit.max(1),
            min_duration: req.min_duration_ns,
            max_duration: req.max_duration_ns,
            floor: None,
            metrics: SearchMetrics::default(),
        }
    }

    fn qualifies(&self, t: &TraceResult) -> bool {
        let d = t.duration_ns();
        self.min_duration.is_none_or(|m| d >= m) && self.max_duration.is_none_or(|m| d <= m)
    }

    /// Whether a block ending at `end` can hold a trace more recent than the `limit` held.
    fn cannot_improve(&self, end: u64) -> bool {
        self.floor.is_some_and(|f| end < f)
    }

    /// Whether a trace part starting at `start` could be among the results.
    fn could_use(&self, start: u64) -> bool {
        self.floor.is_none_or(|f| start >= f)
    }

    fn add(&mut self, part: PartResult) {
        let entry = self
            .traces
            .entry(part.trace_id)
            .or_insert_with(|| TraceResult {
                trace_id: part.trace_id,
                root_service: None,
                root_name: None,
                start_ns: part.start_ns,
                end_ns: part.end_ns,
                span_count: 0,
                error_count: 0,
                span_sets: Vec::new(),
            });
        entry.span_count += part.span_count;
        entry.error_count += part.error_count;
        entry.start_ns = entry.start_ns.min(part.start_ns);
        entry.end_ns = entry.end_ns.max(part.end_ns);
        if entry.root_name.is_none() {
            entry.root_name = part.root_name;
            entry.root_service = part.root_service;
        }
        for set in part.sets {
            match entry.span_sets.iter_mut().find(|s| s.labels == set.labels) {
                Some(s) => {
                    s.matched += set.matched;
                    s.spans.extend(set.spans);
                    s.spans
                        .sort_by(|a, b| (a.start_ns, &a.span_id).cmp(&(b.start_ns, &b.span_id)));
                    s.spans.dedup_by(|a, b| a.span_id == b.span_id);
                    let keep = s.spans.len().min(MAX_SPANS_PER_SET);
                    s.spans.truncate(keep);
                }
                None => entry.span_sets.push(set),
            }
        }
        if self.traces.len() > 4 * self.limit {
            self.trim();
        }
    }

    /// Once `limit` qualifying traces are held, no trace starting before the oldest of them
    /// can be among the results.
    fn raise_floor(&mut self) {
        if self.traces.len() < self.limit {
            return;
        }
        let mut starts: Vec<u64> = self
            .traces
            .values()
            .filter(|t| self.qualifies(t))
            .map(|t| t.start_ns)
            .collect();
        if starts.len() >= self.limit {
            starts.select_nth_unstable_by(self.limit - 1, |a, b| b.cmp(a));
            self.floor = Some(starts[self.limit - 1]);
        }
    }

    /// Keeps the `2 * limit` most recent traces and raises the floor.
    fn trim(&mut self) {
        let mut v: Vec<TraceResult> = self.traces.drain().map(|(_, t)| t).collect();
        most_recent_first(&mut v);
        v.truncate(2 * self.limit);
        self.traces = v.into_iter().map(|t| (t.trace_id, t)).collect();
        self.raise_floor();
    }

    fn finish(mut self) -> SearchResult {
        let traces = std::mem::take(&mut self.traces);
        let mut v: Vec<TraceResult> = traces.into_values().filter(|t| self.qualifies(t)).collect();
        most_recent_first(&mut v);
        v.truncate(self.limit);
        for t in &mut v {
            t.span_sets.sort_by(|a, b| {
                let ka: Vec<_> = a
                    .labels
                    .iter()
                    .map(|(k, v)| (k.clone(), v.group_key()))
                    .collect();
                let kb: Vec<_> = b
                    .labels
                    .iter()
                    .map(|(k, v)| (k.clone(), v.group_key()))
                    .collect();
                ka.cmp(&kb)
            });
        }
        SearchResult {
            traces: v,
            metrics: self.metrics,
        }
    }
}

/// Results in answer order: start time, most recent first, then trace ID.
fn most_recent_first(v: &mut [TraceResult]) {
    v.sort_by(|a, b| (b.start_ns, a.trace_id).cmp(&(a.start_ns, b.trace_id)));
}

/// Spans kept per merged spanset (the most `spss` may ask for).
pub const MAX_SPANS_PER_SET: usize = 100;

/// Converts Tempo's `tags` search parameter (logfmt `key=value` pairs) to TraceQL.
pub fn tags_to_traceql(tags: &str) -> Result<String, String> {
    let mut conds = Vec::new();
    let mut rest = tags.trim();
    while !rest.is_empty() {
        let eq = rest
            .find('=')
            .ok_or_else(|| format!("tags: expected key=value, found {rest:?}"))?;
        let key = rest[..eq].trim();
        rest = &rest[eq + 1..];
        let (value, after) = if let Some(stripped) = rest.strip_prefix('"') {
            let mut out = String::new();
            let mut chars = stripped.char_indices();
            let mut end = None;
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => {
                        if let Some((_, n)) = chars.next() {
                            out.push(n);
                        }
                    }
                    '"' => {
                        end = Some(i + 1);
                        break;
                    }
                    c => out.push(c),
                }
            }
            let end = end.ok_or_else(|| "tags: unterminated quoted value".to_string())?;
            (out, &stripped[end..])
        } else {
            let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
            (rest[..end].to_string(), &rest[end..])
        };
        rest = after.trim_start();
        if key.is_empty() {
            return Err("tags: empty key".into());
        }
        let quoted = format!("{:?}", value);
        conds.push(match key {
            "name" => format!("name = {quoted}"),
            "status.code" | "status" => match value.as_str() {
                "error" | "2" | "STATUS_CODE_ERROR" => "status = error".into(),
                "ok" | "1" | "STATUS_CODE_OK" => "status = ok".into(),
                "unset" | "0" | "STATUS_CODE_UNSET" => "status = unset".into(),
                _ => return Err(format!("tags: unknown status {value:?}")),
            },
            "service.name" => format!("resource.service.name = {quoted}"),
            k => {
                let needs_quotes = k
                    .chars()
                    .any(|c| c.is_whitespace() || "{}()=~!<>&|^,\"".contains(c));
                if needs_quotes {
                    format!(".{:?} = {quoted}", k)
                } else {
                    format!(".{k} = {quoted}")
                }
            }
        });
    }
    if conds.is_empty() {
        Ok("{}".into())
    } else {
        Ok(format!("{{ {} }}", conds.join(" && ")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logfmt_tags() {
        assert_eq!(tags_to_traceql("").unwrap(), "{}");
        assert_eq!(
            tags_to_traceql(r#"service.name=api http.status_code="5 00" name=GET"#).unwrap(),
            r#"{ resource.service.name = "api" && .http.status_code = "5 00" && name = "GET" }"#
        );
        assert_eq!(
            tags_to_traceql("status=error").unwrap(),
            "{ status = error }"
        );
        assert!(tags_to_traceql("novalue").is_err());
    }

    #[test]
    fn ranges_of_rows() {
        assert_eq!(to_ranges(&[1, 2, 3, 7, 9, 10]), vec![1..4, 7..8, 9..11]);
    }
}
