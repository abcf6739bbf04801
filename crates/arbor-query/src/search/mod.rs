//! TraceQL search over the head and the blocks, with whole-trace answers.
//!
//! A trace's spans arrive in parts, minutes or days apart: some in the live head, some in
//! heads being cut, some in blocks not yet compacted together, and a long trace in more
//! than one row group of a block. Every answer — whether a trace matches, its spansets, its
//! summary (root, start, duration, span and error counts), `minDuration`/`maxDuration` — is
//! computed over the whole trace. How:
//!
//! 1. The query is compiled once ([`prepared`]): its spanset filters become column
//!    kernels, the fields it reads a projection, and each filter gets a *candidate* form
//!    ([`relax`]) that holds on a part whenever the filter could hold on the whole.
//! 2. Each part is read in turn, newest first: the heads ([`head_part`]), then the blocks
//!    ([`block_part`]); a block whose time range misses the query's, or whose attribute
//!    index rules out every filter ([`prune`]), is skipped unread. In a part, a trace held
//!    nowhere else ([`arbor_storage::SearchView::held_elsewhere`], from in-memory indexes)
//!    is judged there and then; a trace with spans elsewhere too, if a span of this part
//!    passes a candidate filter, becomes a candidate.
//! 3. Candidates are read whole and judged ([`whole`]), the most recent first, only as
//!    many as can still reach the answer ([`collect`]).
//!
//! Results are ordered by start time, most recent first, then trace ID, so the same data
//! gives the same answer. Once `limit` traces are held, blocks that end before the oldest
//! of them are not read. Decoding and evaluation run on the search pool ([`pool`]), not
//! on the async workers.
//!
//! A trace is found through the parts that overlap the query's time range: one that
//! matches only through spans in parts outside the range is not returned (as Tempo, which
//! reads only the blocks of the range).

pub mod batch;
mod block_part;
mod collect;
mod compare;
pub mod eval;
mod head_part;
pub mod hints;
pub mod live;
pub mod load_block;
pub mod load_head;
pub mod metrics;
mod parent;
pub mod pool;
mod prepared;
pub mod prune;
pub mod relax;
mod results;
mod scan;
pub mod spanset;
mod tags_param;
pub mod value;
mod whole;

use std::sync::Arc;
use std::time::{Duration, Instant};

use arbor_model::TraceId;
use arbor_storage::{SearchView, Store};

pub use results::{
    MAX_SPANS_PER_SET, ResultSet, ResultSpan, SearchMetrics, SearchResult, TraceResult,
};
pub(crate) use scan::{Scanned, scan};
pub use tags_param::tags_to_traceql;

use collect::Collector;
use eval::CompileError;

use crate::traceql::{Pipeline, Query, QueryKind};

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
    /// For a page after the first: where the previous page ended.
    pub after: Option<After>,
    /// Only spans this narrowed token may see take part ([`crate::visibility`]).
    pub scope: Option<Arc<crate::visibility::Visibility>>,
}

/// Where a previous page of the same search ended: results come strictly after this
/// trace in answer order (start time, most recent first, then trace ID), and never one
/// already returned (a trace whose start moved earlier, because spans of it arrived since,
/// would otherwise come again).
#[derive(Debug, Clone)]
pub struct After {
    pub start_ns: u64,
    pub trace_id: TraceId,
    pub returned: Arc<std::collections::HashSet<TraceId>>,
}

impl After {
    /// Whether a trace starting at `start_ns` comes after the position.
    pub fn admits(&self, start_ns: u64, id: &TraceId) -> bool {
        (start_ns < self.start_ns || (start_ns == self.start_ns && *id > self.trace_id))
            && !self.returned.contains(id)
    }
}

impl SearchRequest {
    /// A request for `query`, which must be a search (not a metrics query).
    pub fn new(query: &Query) -> Result<SearchRequest, SearchError> {
        let QueryKind::Search(p) = &query.kind else {
            return Err(SearchError::Invalid(
                "this is a metrics query: send it to /api/metrics/query_range".into(),
            ));
        };
        // Hints are checked (an unknown one is refused); a search honours `most_recent` as
        // it always answers most recent first, and samples nothing.
        hints::Hints::of(query).map_err(|e| SearchError::Invalid(e.to_string()))?;
        Ok(SearchRequest {
            pipeline: p.clone(),
            start_ns: 0,
            end_ns: 0,
            limit: 20,
            spss: 3,
            min_duration_ns: None,
            max_duration_ns: None,
            timeout: Duration::from_secs(30),
            after: None,
            scope: None,
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
    /// A block was removed (compacted or expired) while the search read it; a search over
    /// a new view of the store sees its spans in the block that replaced it.
    #[error("the stored blocks changed while the search read them; try again")]
    ViewChanged,
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<arbor_storage::ViewError> for SearchError {
    fn from(e: arbor_storage::ViewError) -> Self {
        match e {
            arbor_storage::ViewError::Vanished { .. } => SearchError::ViewChanged,
            other => SearchError::Storage(other.to_string()),
        }
    }
}

impl From<CompileError> for SearchError {
    fn from(e: CompileError) -> Self {
        SearchError::Invalid(e.0)
    }
}

/// Runs a search over a tenant's data as the store holds it now, taking a new view when
/// compaction replaced a block the search was reading (up to a few times).
pub async fn search_store(
    store: &Store,
    tenant: &str,
    req: &SearchRequest,
) -> Result<SearchResult, SearchError> {
    on_fresh_views(
        store,
        tenant,
        |view| async move { search(&view, req).await },
    )
    .await
}

/// Runs `f` over a view of the tenant's data, again over a new view when it answers
/// [`SearchError::ViewChanged`] (up to a few times).
pub async fn on_fresh_views<T, F, Fut>(store: &Store, tenant: &str, f: F) -> Result<T, SearchError>
where
    F: Fn(SearchView) -> Fut,
    Fut: std::future::Future<Output = Result<T, SearchError>>,
{
    const ATTEMPTS: usize = 4;
    let mut attempt = 0;
    loop {
        attempt += 1;
        match f(store.search_view(tenant)).await {
            Err(SearchError::ViewChanged) if attempt < ATTEMPTS => continue,
            other => return other,
        }
    }
}

/// Runs a search over one view of a tenant's data.
pub async fn search(view: &SearchView, req: &SearchRequest) -> Result<SearchResult, SearchError> {
    let started = Instant::now();
    let p = Arc::new(prepared::prepare(req)?);
    let view = Arc::new(view.clone());
    let mut acc = Collector::new(req);

    for i in 0..view.heads.len() {
        head_part::search_head(&view, i, &p, req, &mut acc, started).await?;
        settle(&view, &p, &mut acc, req, started).await?;
    }

    // Blocks, newest first.
    let mut order: Vec<usize> = (0..view.blocks.len()).collect();
    order.sort_by(|&a, &b| {
        let (a, b) = (&view.blocks[a].meta, &view.blocks[b].meta);
        (b.end_unix_nano, &b.block_id).cmp(&(a.end_unix_nano, &a.block_id))
    });
    acc.metrics.total_blocks = order.len() as u64;
    let end_bound = if req.end_ns == 0 {
        u64::MAX
    } else {
        req.end_ns
    };
    for i in order {
        check_time(started, req.timeout)?;
        let block = &view.blocks[i];
        let m = &block.meta;
        if m.span_count == 0
            || m.end_unix_nano < req.start_ns
            || m.start_unix_nano > end_bound
            || acc.cannot_improve(m.end_unix_nano)
        {
            acc.metrics.pruned_blocks += 1;
            continue;
        }
        match block_part::search_block(&view, i, &p, req, &mut acc, started).await {
            Ok(()) => {}
            // A block that compaction or retention removed mid-read: its spans are in a
            // block this view does not have.
            Err(SearchError::Storage(e)) if !block.exists().await => {
                tracing::debug!(block = %m.block_id, error = %e, "block vanished during a search");
                return Err(SearchError::ViewChanged);
            }
            Err(e) => return Err(e),
        }
        settle(&view, &p, &mut acc, req, started).await?;
    }
    let mut result = acc.finish();
    result.metrics.elapsed = started.elapsed();
    Ok(result)
}

/// Reads whole the candidates that can still reach the answer, a batch at a time.
async fn settle(
    view: &Arc<SearchView>,
    p: &Arc<prepared::Prepared>,
    acc: &mut Collector,
    req: &SearchRequest,
    started: Instant,
) -> Result<(), SearchError> {
    loop {
        let ids = acc.next_candidates();
        if ids.is_empty() {
            return Ok(());
        }
        check_time(started, req.timeout)?;
        let found = whole::confirm(view, p, ids).await?;
        acc.metrics.whole_trace_reads += found.results.len() as u64;
        acc.metrics.inspected_spans += found.spans;
        for (id, r) in found.results {
            match r {
                Some(t) => acc.add(t),
                None => acc.reject(id),
            }
        }
    }
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
