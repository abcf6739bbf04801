//! Arbor's own health counters, rendered in the Prometheus text format on `/metrics`.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

/// The receivers, for per-protocol counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    OtlpGrpc,
    OtlpHttp,
    Zipkin,
}

impl Protocol {
    pub const ALL: [Protocol; 3] = [Protocol::OtlpGrpc, Protocol::OtlpHttp, Protocol::Zipkin];

    pub fn label(self) -> &'static str {
        match self {
            Protocol::OtlpGrpc => "otlp_grpc",
            Protocol::OtlpHttp => "otlp_http",
            Protocol::Zipkin => "zipkin",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// Why a request failed, for the failure counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// Malformed body, wrong content type, over a limit.
    BadRequest,
    /// Pushed back: head full or not ready yet.
    Overloaded,
    /// The storage could not take the write.
    Internal,
}

impl Failure {
    const ALL: [Failure; 3] = [Failure::BadRequest, Failure::Overloaded, Failure::Internal];

    fn label(self) -> &'static str {
        match self {
            Failure::BadRequest => "bad_request",
            Failure::Overloaded => "overloaded",
            Failure::Internal => "internal",
        }
    }
}

#[derive(Default)]
struct ProtocolCounters {
    requests: AtomicU64,
    failures: [AtomicU64; 3],
    spans_accepted: AtomicU64,
    spans_rejected: AtomicU64,
    spans_duplicate: AtomicU64,
    values_truncated: AtomicU64,
    bytes_received: AtomicU64,
}

/// Upper bounds (seconds) of the query latency histogram.
const QUERY_BUCKETS: [f64; 12] = [
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Latencies of one API route: per-bucket counts (the last is +Inf) and the sum.
#[derive(Default, Clone)]
struct QueryTimes {
    counts: [u64; QUERY_BUCKETS.len() + 1],
    sum: f64,
}

/// Counters shared by every receiver and the API.
#[derive(Default)]
pub struct Metrics {
    protocols: [ProtocolCounters; 3],
    /// By route (the router's pattern, so bounded by the routes there are).
    queries: parking_lot::Mutex<std::collections::BTreeMap<String, QueryTimes>>,
}

/// Gauges read from the store when `/metrics` is scraped.
pub struct MemoryGauges {
    pub resident_bytes: u64,
    /// 0 when off.
    pub limit_bytes: u64,
    pub refusals: u64,
}

pub struct StoreGauges {
    /// Counters of the store's work (`None` before it is open).
    pub activity: Option<StoreActivity>,
    pub wal_sync: Option<arbor_storage::wal::SyncHistogram>,
    pub head_bytes: u64,
    pub head_max_bytes: u64,
    pub head_spans: u64,
    pub head_traces: u64,
    pub inflight_bytes: u64,
    pub inflight_max_bytes: u64,
    pub memory: MemoryGauges,
    pub blocks: u64,
    pub block_bytes: u64,
    pub block_spans: u64,
    pub ready: bool,
}

/// A copy of the store's activity counters.
pub struct StoreActivity {
    pub cuts: u64,
    pub cut_failures: u64,
    pub compactions: u64,
    pub compaction_failures: u64,
    pub blocks_deleted_by_retention: u64,
    pub retention_runs: u64,
    pub spans_clock_skewed: u64,
}

impl StoreActivity {
    pub fn of(a: &arbor_storage::Activity) -> Self {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        Self {
            cuts: get(&a.cuts),
            cut_failures: get(&a.cut_failures),
            compactions: get(&a.compactions),
            compaction_failures: get(&a.compaction_failures),
            blocks_deleted_by_retention: get(&a.blocks_deleted_by_retention),
            retention_runs: get(&a.retention_runs),
            spans_clock_skewed: get(&a.spans_clock_skewed),
        }
    }
}

impl Metrics {
    /// One API request on `route` took `seconds`.
    pub fn query(&self, route: &str, seconds: f64) {
        let mut q = self.queries.lock();
        let t = match q.get_mut(route) {
            Some(t) => t,
            None => q.entry(route.to_string()).or_default(),
        };
        let i = QUERY_BUCKETS
            .iter()
            .position(|b| seconds <= *b)
            .unwrap_or(QUERY_BUCKETS.len());
        t.counts[i] += 1;
        t.sum += seconds;
    }

    fn p(&self, p: Protocol) -> &ProtocolCounters {
        &self.protocols[p.index()]
    }

    pub fn request(&self, p: Protocol, bytes: u64) {
        let c = self.p(p);
        c.requests.fetch_add(1, Ordering::Relaxed);
        c.bytes_received.fetch_add(bytes, Ordering::Relaxed);
    }

    pub fn failure(&self, p: Protocol, f: Failure) {
        self.p(p).failures[f as usize].fetch_add(1, Ordering::Relaxed);
    }

    pub fn spans(&self, p: Protocol, accepted: u64, rejected: u64, duplicate: u64, truncated: u64) {
        let c = self.p(p);
        c.spans_accepted.fetch_add(accepted, Ordering::Relaxed);
        c.spans_rejected.fetch_add(rejected, Ordering::Relaxed);
        c.spans_duplicate.fetch_add(duplicate, Ordering::Relaxed);
        c.values_truncated.fetch_add(truncated, Ordering::Relaxed);
    }

    /// The whole exposition.
    pub fn render(&self, g: &StoreGauges) -> String {
        let mut out = String::new();
        let build = env!("CARGO_PKG_VERSION");
        let _ = writeln!(
            out,
            "# HELP arbor_build_info Arbor's version.\n# TYPE arbor_build_info gauge"
        );
        let _ = writeln!(out, "arbor_build_info{{version=\"{build}\"}} 1");
        let _ = writeln!(
            out,
            "# HELP arbor_log_write_failures_total Log lines that could not be written (stderr full or closed) and were dropped.\n# TYPE arbor_log_write_failures_total counter\narbor_log_write_failures_total {}",
            crate::logging::write_failures()
        );
        let mut counter = |name: &str, help: &str, get: &dyn Fn(&ProtocolCounters) -> u64| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
            for p in Protocol::ALL {
                let _ = writeln!(
                    out,
                    "{name}{{protocol=\"{}\"}} {}",
                    p.label(),
                    get(self.p(p))
                );
            }
        };
        counter(
            "arbor_receiver_requests_total",
            "Requests received.",
            &|c| c.requests.load(Ordering::Relaxed),
        );
        counter(
            "arbor_receiver_bytes_total",
            "Request body bytes received, as sent.",
            &|c| c.bytes_received.load(Ordering::Relaxed),
        );
        counter(
            "arbor_receiver_spans_accepted_total",
            "Spans accepted and durable.",
            &|c| c.spans_accepted.load(Ordering::Relaxed),
        );
        counter(
            "arbor_receiver_spans_rejected_total",
            "Spans refused by validation.",
            &|c| c.spans_rejected.load(Ordering::Relaxed),
        );
        counter(
            "arbor_receiver_spans_duplicate_total",
            "Spans dropped as exact duplicates of held spans.",
            &|c| c.spans_duplicate.load(Ordering::Relaxed),
        );
        counter(
            "arbor_receiver_values_truncated_total",
            "Attribute values truncated to limits.max_attribute_value_bytes.",
            &|c| c.values_truncated.load(Ordering::Relaxed),
        );
        let _ = writeln!(
            out,
            "# HELP arbor_receiver_requests_failed_total Requests answered with an error.\n# TYPE arbor_receiver_requests_failed_total counter"
        );
        for p in Protocol::ALL {
            for f in Failure::ALL {
                let _ = writeln!(
                    out,
                    "arbor_receiver_requests_failed_total{{protocol=\"{}\",reason=\"{}\"}} {}",
                    p.label(),
                    f.label(),
                    self.p(p).failures[f as usize].load(Ordering::Relaxed)
                );
            }
        }
        let _ = writeln!(
            out,
            "# HELP arbor_memory_refusals_total Ingest requests refused because resident memory was over limits.memory_limit.\n# TYPE arbor_memory_refusals_total counter\narbor_memory_refusals_total {}",
            g.memory.refusals
        );
        let mut gauge = |name: &str, help: &str, v: u64| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {v}");
        };
        gauge(
            "arbor_head_bytes",
            "Estimated bytes held by the in-memory head.",
            g.head_bytes,
        );
        gauge(
            "arbor_head_max_bytes",
            "The head's memory budget (head.max_bytes).",
            g.head_max_bytes,
        );
        gauge("arbor_head_spans", "Spans held by the head.", g.head_spans);
        gauge("arbor_blocks", "Visible blocks, all tenants.", g.blocks);
        gauge(
            "arbor_block_bytes",
            "Bytes of visible blocks, all tenants.",
            g.block_bytes,
        );
        gauge(
            "arbor_block_spans",
            "Spans in visible blocks, all tenants.",
            g.block_spans,
        );
        gauge(
            "arbor_receiver_inflight_bytes",
            "Memory reserved by requests being received and written.",
            g.inflight_bytes,
        );
        gauge(
            "arbor_receiver_inflight_max_bytes",
            "The in-flight budget (limits.max_inflight_bytes).",
            g.inflight_max_bytes,
        );
        gauge(
            "arbor_memory_resident_bytes",
            "Resident memory of the server, as last read for limits.memory_limit.",
            g.memory.resident_bytes,
        );
        gauge(
            "arbor_memory_limit_bytes",
            "limits.memory_limit: past it ingest is refused (0: off).",
            g.memory.limit_bytes,
        );
        gauge(
            "arbor_head_traces",
            "Traces held by the head.",
            g.head_traces,
        );
        gauge(
            "arbor_ready",
            "1 once the write-ahead log is replayed.",
            u64::from(g.ready),
        );
        if let Some(a) = &g.activity {
            for (name, help, v) in [
                (
                    "arbor_head_cuts_total",
                    "Cuts of the head into blocks that wrote blocks.",
                    a.cuts,
                ),
                (
                    "arbor_head_cut_failures_total",
                    "Cuts that failed to write a block (retried later).",
                    a.cut_failures,
                ),
                (
                    "arbor_compactions_total",
                    "Groups of blocks merged into one.",
                    a.compactions,
                ),
                (
                    "arbor_compaction_failures_total",
                    "Compactions that failed (retried later).",
                    a.compaction_failures,
                ),
                (
                    "arbor_retention_deleted_blocks_total",
                    "Blocks deleted by retention.",
                    a.blocks_deleted_by_retention,
                ),
                (
                    "arbor_retention_runs_total",
                    "Retention passes finished.",
                    a.retention_runs,
                ),
                (
                    "arbor_spans_clock_skewed_total",
                    "Spans accepted whose own times were off the server's clock by more than retention.ingestion_time_slack.",
                    a.spans_clock_skewed,
                ),
            ] {
                let _ = writeln!(
                    out,
                    "# HELP {name} {help}\n# TYPE {name} counter\n{name} {v}"
                );
            }
        }
        if let Some(h) = &g.wal_sync {
            let name = "arbor_wal_sync_seconds";
            let _ = writeln!(
                out,
                "# HELP {name} How long the write-ahead log's group fsyncs took.\n# TYPE {name} histogram"
            );
            histogram(
                &mut out,
                name,
                "",
                &arbor_storage::wal::SYNC_BUCKETS,
                &h.counts,
                h.sum_seconds,
            );
        }
        let name = "arbor_query_duration_seconds";
        let _ = writeln!(
            out,
            "# HELP {name} How long API requests took, by route.\n# TYPE {name} histogram"
        );
        for (route, t) in self.queries.lock().iter() {
            let labels = format!(
                "route=\"{}\"",
                route.replace('\\', "\\\\").replace('"', "\\\"")
            );
            histogram(&mut out, name, &labels, &QUERY_BUCKETS, &t.counts, t.sum);
        }
        out
    }
}

/// Writes one histogram's series; `counts` per bucket (not cumulative), the last +Inf.
pub(crate) fn histogram(
    out: &mut String,
    name: &str,
    labels: &str,
    bounds: &[f64],
    counts: &[u64],
    sum: f64,
) {
    let sep = if labels.is_empty() { "" } else { "," };
    let mut cumulative = 0;
    for (i, c) in counts.iter().enumerate() {
        cumulative += c;
        let le = bounds
            .get(i)
            .map_or_else(|| "+Inf".to_string(), |b| b.to_string());
        let _ = writeln!(
            out,
            "{name}_bucket{{{labels}{sep}le=\"{le}\"}} {cumulative}"
        );
    }
    let braced = if labels.is_empty() {
        String::new()
    } else {
        format!("{{{labels}}}")
    };
    let _ = writeln!(out, "{name}_sum{braced} {sum}");
    let _ = writeln!(out, "{name}_count{braced} {cumulative}");
}
