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

/// Counters shared by every receiver and the API.
#[derive(Default)]
pub struct Metrics {
    protocols: [ProtocolCounters; 3],
}

/// Gauges read from the store when `/metrics` is scraped.
pub struct StoreGauges {
    pub head_bytes: u64,
    pub head_max_bytes: u64,
    pub head_spans: u64,
    pub head_traces: u64,
    pub inflight_bytes: u64,
    pub inflight_max_bytes: u64,
    pub blocks: u64,
    pub block_bytes: u64,
    pub block_spans: u64,
    pub ready: bool,
}

impl Metrics {
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
            "arbor_head_traces",
            "Traces held by the head.",
            g.head_traces,
        );
        gauge(
            "arbor_ready",
            "1 once the write-ahead log is replayed.",
            u64::from(g.ready),
        );
        out
    }
}
