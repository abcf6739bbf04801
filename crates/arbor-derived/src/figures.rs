//! The figures the views keep, their labels, and one time bucket of them ([`Frame`]).
//! Every figure is a sum, so figures of the same labels add up: frames of different
//! batches, generations or blocks merge by adding.

use std::collections::HashMap;
use std::sync::Arc;

/// The maps of the views: hashed with ahash (keys are not attacker-chosen in a way that
/// matters here: a tenant's series are bounded by `max_series` anyway).
pub type Map<K, V> = HashMap<K, V, ahash::RandomState>;

/// Tempo's default latency buckets, in seconds.
pub const LATENCY_BUCKETS: [f64; 12] = [
    0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128, 0.256, 0.512, 1.02, 2.05, 4.10,
];

/// The labels of the overflow series.
pub const OVERFLOW: &str = "__overflow__";

/// A latency histogram over [`LATENCY_BUCKETS`], in seconds.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Histogram {
    /// Observations per bucket (not cumulative); the last is +Inf.
    pub counts: [u64; LATENCY_BUCKETS.len() + 1],
    pub sum: f64,
    pub count: u64,
}

impl Histogram {
    pub fn observe(&mut self, seconds: f64) {
        let i = LATENCY_BUCKETS
            .iter()
            .position(|b| seconds <= *b)
            .unwrap_or(LATENCY_BUCKETS.len());
        self.counts[i] += 1;
        self.sum += seconds;
        self.count += 1;
    }

    pub fn merge(&mut self, other: &Histogram) {
        for (a, b) in self.counts.iter_mut().zip(other.counts) {
            *a += b;
        }
        self.sum += other.sum;
        self.count += other.count;
    }

    /// The `q` quantile (0–1), interpolated within its bucket as Prometheus'
    /// `histogram_quantile` does; `None` when empty.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        if self.count == 0 {
            return None;
        }
        let rank = q.clamp(0.0, 1.0) * self.count as f64;
        let mut seen = 0u64;
        for (i, &c) in self.counts.iter().enumerate() {
            if c > 0 && (seen + c) as f64 >= rank {
                let lower = if i == 0 { 0.0 } else { LATENCY_BUCKETS[i - 1] };
                let Some(&upper) = LATENCY_BUCKETS.get(i) else {
                    return Some(lower);
                };
                let within = (rank - seen as f64) / c as f64;
                return Some(lower + (upper - lower) * within);
            }
            seen += c;
        }
        Some(*LATENCY_BUCKETS.last().expect("not empty"))
    }
}

/// Figures that add up: those of one label set over two buckets merge into the figures of
/// both.
pub trait Figures: Default + Clone {
    fn merge(&mut self, other: &Self);
}

macro_rules! figures {
    ($($t:ty),*) => {
        $(impl Figures for $t {
            fn merge(&mut self, other: &Self) {
                <$t>::merge(self, other)
            }
        })*
    };
}

figures!(SpanFigures, EdgeFigures, FunctionFigures, EndpointFigures);

/// Span metrics of one (service, span name, kind, status).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SpanFigures {
    pub calls: u64,
    pub errors: u64,
    pub latency: Histogram,
}

impl SpanFigures {
    pub fn add(&mut self, failed: bool, seconds: f64) {
        self.calls += 1;
        self.errors += u64::from(failed);
        self.latency.observe(seconds);
    }

    pub fn merge(&mut self, o: &SpanFigures) {
        self.calls += o.calls;
        self.errors += o.errors;
        self.latency.merge(&o.latency);
    }
}

/// Calls along one edge of the service graph.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EdgeFigures {
    pub requests: u64,
    pub failed: u64,
    pub client_latency: Histogram,
    pub server_latency: Histogram,
}

impl EdgeFigures {
    pub fn add(&mut self, failed: bool, client_seconds: f64, server_seconds: f64) {
        self.requests += 1;
        self.failed += u64::from(failed);
        self.client_latency.observe(client_seconds);
        self.server_latency.observe(server_seconds);
    }

    pub fn merge(&mut self, o: &EdgeFigures) {
        self.requests += o.requests;
        self.failed += o.failed;
        self.client_latency.merge(&o.client_latency);
        self.server_latency.merge(&o.server_latency);
    }
}

/// One serverless function's figures.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FunctionFigures {
    pub invocations: u64,
    pub errors: u64,
    pub timeouts: u64,
    pub cold_starts: u64,
    pub duration: Histogram,
    pub duration_warm: Histogram,
    /// Sums over invocations that reported them, in MB, and how many did.
    pub memory_used_mb: f64,
    pub memory_configured_mb: f64,
    pub memory_samples: u64,
    /// Duration (billed duration where reported) × configured memory, summed.
    pub gb_seconds: f64,
}

/// What one invocation says of itself.
#[derive(Debug, Clone, Copy, Default)]
pub struct Invocation {
    pub failed: bool,
    pub timeout: bool,
    pub cold: bool,
    pub seconds: f64,
    /// The duration billed, when the function reports it (cost is of it then).
    pub billed_seconds: Option<f64>,
    pub memory_used_mb: Option<f64>,
    pub memory_configured_mb: Option<f64>,
}

impl FunctionFigures {
    pub fn add(&mut self, i: &Invocation) {
        self.invocations += 1;
        self.errors += u64::from(i.failed || i.timeout);
        self.timeouts += u64::from(i.timeout);
        self.cold_starts += u64::from(i.cold);
        self.duration.observe(i.seconds);
        if !i.cold {
            self.duration_warm.observe(i.seconds);
        }
        if let (Some(used), Some(conf)) = (i.memory_used_mb, i.memory_configured_mb) {
            self.memory_used_mb += used;
            self.memory_configured_mb += conf;
            self.memory_samples += 1;
        }
        if let Some(conf) = i.memory_configured_mb {
            self.gb_seconds += i.billed_seconds.unwrap_or(i.seconds) * conf / 1024.0;
        }
    }

    pub fn merge(&mut self, o: &FunctionFigures) {
        self.invocations += o.invocations;
        self.errors += o.errors;
        self.timeouts += o.timeouts;
        self.cold_starts += o.cold_starts;
        self.duration.merge(&o.duration);
        self.duration_warm.merge(&o.duration_warm);
        self.memory_used_mb += o.memory_used_mb;
        self.memory_configured_mb += o.memory_configured_mb;
        self.memory_samples += o.memory_samples;
        self.gb_seconds += o.gb_seconds;
    }

    pub fn cold_start_rate(&self) -> f64 {
        ratio(self.cold_starts as f64, self.invocations as f64)
    }

    /// Memory used as a share of the configured memory, over the invocations that said.
    pub fn memory_share(&self) -> f64 {
        ratio(self.memory_used_mb, self.memory_configured_mb)
    }

    /// Durations of the invocations that started cold.
    pub fn duration_cold(&self) -> Histogram {
        let mut cold = self.duration.clone();
        for (c, w) in cold.counts.iter_mut().zip(self.duration_warm.counts) {
            *c -= w;
        }
        cold.sum -= self.duration_warm.sum;
        cold.count -= self.duration_warm.count;
        cold
    }
}

/// The status classes of an endpoint's answers: 1xx … 5xx, then none or other.
pub const STATUS_CLASSES: [&str; 6] = ["1xx", "2xx", "3xx", "4xx", "5xx", "other"];

/// Requests to one API endpoint (method and route) of a service.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EndpointFigures {
    pub requests: u64,
    pub errors: u64,
    /// Per [`STATUS_CLASSES`].
    pub status: [u64; 6],
    pub latency: Histogram,
}

impl EndpointFigures {
    pub fn add(&mut self, failed: bool, status: Option<f64>, seconds: f64) {
        self.requests += 1;
        self.errors += u64::from(failed);
        let class = match status {
            Some(s) if (100.0..600.0).contains(&s) => (s / 100.0) as usize - 1,
            _ => 5,
        };
        self.status[class] += 1;
        self.latency.observe(seconds);
    }

    pub fn merge(&mut self, o: &EndpointFigures) {
        self.requests += o.requests;
        self.errors += o.errors;
        for (a, b) in self.status.iter_mut().zip(o.status) {
            *a += b;
        }
        self.latency.merge(&o.latency);
    }
}

pub(crate) fn ratio(a: f64, b: f64) -> f64 {
    if b > 0.0 { a / b } else { 0.0 }
}

/// Where a service runs: `service.namespace`, `deployment.environment.name` (else
/// `deployment.environment`), `cloud.region` of its resource; empty when absent.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Dims {
    pub namespace: String,
    pub environment: String,
    pub region: String,
}

impl Dims {
    fn overflow() -> Self {
        Self {
            namespace: OVERFLOW.into(),
            environment: OVERFLOW.into(),
            region: OVERFLOW.into(),
        }
    }
}

/// The labels of a span-metrics series.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SpanKey {
    pub service: String,
    pub span_name: String,
    /// `SPAN_KIND_SERVER`, …
    pub span_kind: &'static str,
    /// `STATUS_CODE_UNSET`, `STATUS_CODE_OK`, `STATUS_CODE_ERROR` (after the error rules).
    pub status_code: &'static str,
    pub dims: Dims,
    /// Values of the configured extra dimensions (`Config::dimensions`), in order; empty
    /// text when the span has none.
    pub extra: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EdgeKey {
    pub client: String,
    pub server: String,
    /// `""` between instrumented services; `virtual_node`, `database`, `messaging_system`.
    pub connection_type: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FunctionKey {
    pub function: String,
    pub service: String,
    pub dims: Dims,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EndpointKey {
    pub service: String,
    pub method: String,
    pub route: String,
    pub dims: Dims,
}

/// Labels with an overflow value: the one series that counts what is past the limit.
pub trait Labels: Clone + Eq + std::hash::Hash + Ord {
    fn overflow() -> Self;
}

impl Labels for SpanKey {
    fn overflow() -> Self {
        Self {
            service: OVERFLOW.into(),
            span_name: OVERFLOW.into(),
            span_kind: OVERFLOW,
            status_code: OVERFLOW,
            dims: Dims::overflow(),
            extra: Vec::new(),
        }
    }
}

impl Labels for EdgeKey {
    fn overflow() -> Self {
        Self {
            client: OVERFLOW.into(),
            server: OVERFLOW.into(),
            connection_type: OVERFLOW,
        }
    }
}

impl Labels for FunctionKey {
    fn overflow() -> Self {
        Self {
            function: OVERFLOW.into(),
            service: OVERFLOW.into(),
            dims: Dims::overflow(),
        }
    }
}

impl Labels for EndpointKey {
    fn overflow() -> Self {
        Self {
            service: OVERFLOW.into(),
            method: OVERFLOW.into(),
            route: OVERFLOW.into(),
            dims: Dims::overflow(),
        }
    }
}

/// Every view's figures over one time bucket.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Frame {
    pub spans: Map<Arc<SpanKey>, SpanFigures>,
    pub edges: Map<Arc<EdgeKey>, EdgeFigures>,
    pub functions: Map<Arc<FunctionKey>, FunctionFigures>,
    pub endpoints: Map<Arc<EndpointKey>, EndpointFigures>,
    /// Failed invocations per function and error message (at most [`MAX_MESSAGES`] per
    /// function in a bucket; more count under [`OVERFLOW`]).
    pub errors: Map<Arc<FunctionKey>, Map<String, u64>>,
}

/// Distinct error messages kept per function and bucket.
pub const MAX_MESSAGES: usize = 50;

impl Frame {
    /// Counts one failed invocation of `function` with `message`.
    pub fn add_error(&mut self, function: Arc<FunctionKey>, message: String) {
        let m = self.errors.entry(function).or_default();
        let key = if m.len() >= MAX_MESSAGES && !m.contains_key(&message) {
            OVERFLOW.to_string()
        } else {
            message
        };
        *m.entry(key).or_default() += 1;
    }

    pub fn merge(&mut self, o: &Frame) {
        for (k, v) in &o.spans {
            self.spans.entry(k.clone()).or_default().merge(v);
        }
        for (k, v) in &o.edges {
            self.edges.entry(k.clone()).or_default().merge(v);
        }
        for (k, v) in &o.functions {
            self.functions.entry(k.clone()).or_default().merge(v);
        }
        for (k, v) in &o.endpoints {
            self.endpoints.entry(k.clone()).or_default().merge(v);
        }
        for (k, v) in &o.errors {
            let m = self.errors.entry(k.clone()).or_default();
            for (msg, n) in v {
                *m.entry(msg.clone()).or_default() += n;
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
            && self.edges.is_empty()
            && self.functions.is_empty()
            && self.endpoints.is_empty()
            && self.errors.is_empty()
    }
}

/// Frames by (start, width) in nanoseconds since the epoch.
pub type Timeline = std::collections::BTreeMap<(u64, u64), Frame>;

/// Adds `from` into `into`.
pub fn merge_timeline(into: &mut Timeline, from: &Timeline) {
    for (k, f) in from {
        into.entry(*k).or_default().merge(f);
    }
}
