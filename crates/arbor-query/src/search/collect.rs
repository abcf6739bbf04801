//! Results gathered so far: exact results, candidates still to be read whole, and the
//! floor that lets a search stop early.
//!
//! Results are ordered by their trace's start, most recent first. A candidate's whole
//! trace starts no later than any of its parts, so the earliest part start seen is a bound
//! on where it can land; once `limit` results are held, a candidate whose bound is below
//! the `limit`-th start (the floor) can never be among them, and neither can any trace
//! with a part in a block that ends before the floor.

use std::collections::{HashMap, HashSet};

use arbor_model::TraceId;

use super::results::{SearchMetrics, SearchResult, TraceResult, most_recent_first};
use super::{After, SearchRequest};

/// Candidates read whole at once (one read of each block serves them all): at least
/// this many…
const MIN_READ: usize = 8;
/// …and at most this many.
const MAX_READ: usize = 64;

pub(crate) struct Collector {
    results: HashMap<TraceId, TraceResult>,
    /// Candidates not yet read whole: the earliest start of their parts seen.
    pending: HashMap<TraceId, u64>,
    /// Traces already judged whole (matched or not).
    decided: HashSet<TraceId>,
    limit: usize,
    range: (u64, u64),
    min_duration: Option<u64>,
    max_duration: Option<u64>,
    after: Option<After>,
    /// Start of the `limit`-th most recent result once `limit` are held.
    floor: Option<u64>,
    pub metrics: SearchMetrics,
}

impl Collector {
    pub fn new(req: &SearchRequest) -> Collector {
        Collector {
            results: HashMap::new(),
            pending: HashMap::new(),
            decided: HashSet::new(),
            limit: req.limit.max(1),
            range: (req.start_ns, req.end_ns),
            min_duration: req.min_duration_ns,
            max_duration: req.max_duration_ns,
            after: req.after.clone(),
            floor: None,
            metrics: SearchMetrics::default(),
        }
    }

    /// Whether a block ending at `end` can hold a trace more recent than those held.
    pub fn cannot_improve(&self, end: u64) -> bool {
        self.floor.is_some_and(|f| end < f)
    }

    /// Whether a trace starting at or before `start` could be among the results.
    pub fn could_use(&self, start: u64) -> bool {
        self.floor.is_none_or(|f| start >= f)
    }

    /// A trace judged whole that matches; kept if its times and duration qualify.
    pub fn add(&mut self, t: TraceResult) {
        self.decided.insert(t.trace_id);
        self.pending.remove(&t.trace_id);
        let d = t.duration_ns();
        let (from, to) = self.range;
        let in_range = (from == 0 && to == 0) || overlaps(t.start_ns, t.end_ns, from, to);
        let qualifies =
            self.min_duration.is_none_or(|m| d >= m) && self.max_duration.is_none_or(|m| d <= m);
        let on_page = self
            .after
            .as_ref()
            .is_none_or(|a| a.admits(t.start_ns, &t.trace_id));
        if !in_range || !qualifies || !on_page || !self.could_use(t.start_ns) {
            return;
        }
        self.results.entry(t.trace_id).or_insert(t);
        if self.results.len() > 4 * self.limit {
            self.trim();
        }
        self.raise_floor();
    }

    /// A trace none of whose parts could decide it alone; `part_start` is the start of the
    /// part seen.
    pub fn add_candidate(&mut self, id: TraceId, part_start: u64) {
        if self.decided.contains(&id) || !self.could_use(part_start) {
            return;
        }
        let bound = self.pending.entry(id).or_insert(part_start);
        *bound = (*bound).min(part_start);
    }

    /// A trace read whole that does not match.
    pub fn reject(&mut self, id: TraceId) {
        self.decided.insert(id);
        self.pending.remove(&id);
    }

    /// Candidates to read whole next, most promising first: those that could still be
    /// among the results (as many as results are missing, within bounds). The rest are
    /// dropped for good.
    pub fn next_candidates(&mut self) -> Vec<TraceId> {
        let n = self
            .limit
            .saturating_sub(self.results.len())
            .clamp(MIN_READ, MAX_READ);
        if let Some(f) = self.floor {
            self.pending.retain(|_, start| *start >= f);
        }
        let mut v: Vec<(u64, TraceId)> = self.pending.iter().map(|(id, s)| (*s, *id)).collect();
        if v.len() > n {
            v.select_nth_unstable_by(n - 1, |a, b| b.cmp(a));
            v.truncate(n);
        }
        for (_, id) in &v {
            self.pending.remove(id);
            self.decided.insert(*id);
        }
        v.into_iter().map(|(_, id)| id).collect()
    }

    fn raise_floor(&mut self) {
        if self.results.len() < self.limit {
            return;
        }
        let mut starts: Vec<u64> = self.results.values().map(|t| t.start_ns).collect();
        starts.select_nth_unstable_by(self.limit - 1, |a, b| b.cmp(a));
        self.floor = Some(starts[self.limit - 1]);
    }

    /// Keeps the `2 * limit` most recent results.
    fn trim(&mut self) {
        let mut v: Vec<TraceResult> = self.results.drain().map(|(_, t)| t).collect();
        most_recent_first(&mut v);
        v.truncate(2 * self.limit);
        self.results = v.into_iter().map(|t| (t.trace_id, t)).collect();
    }

    pub fn finish(self) -> SearchResult {
        let mut v: Vec<TraceResult> = self.results.into_values().collect();
        most_recent_first(&mut v);
        v.truncate(self.limit);
        SearchResult {
            traces: v,
            metrics: self.metrics,
        }
    }
}

/// Whether `[start, end]` meets `[from, to]` (`to` 0 = no bound).
pub(crate) fn overlaps(start: u64, end: u64, from: u64, to: u64) -> bool {
    let to = if to == 0 { u64::MAX } else { to };
    end >= from && start <= to
}
