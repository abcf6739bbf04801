//! Vulture's counters, served in the Prometheus text format on `--metrics-listen` and
//! printed as the summary at exit.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// How a trace was read back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadKind {
    /// `GET /api/v2/traces/<id>`.
    ById,
    /// `GET /api/search` with the trace's unique attribute.
    Search,
}

impl ReadKind {
    pub fn label(self) -> &'static str {
        match self {
            ReadKind::ById => "id",
            ReadKind::Search => "search",
        }
    }
}

#[derive(Debug, Default)]
pub struct PerKind {
    pub checks: AtomicU64,
    /// Checks that found the trace absent (404, or not among the search results).
    pub missing_traces: AtomicU64,
    pub read_errors: AtomicU64,
}

#[derive(Debug, Default)]
pub struct Metrics {
    pub traces_written: AtomicU64,
    pub parts_sent: AtomicU64,
    pub parts_resent: AtomicU64,
    pub write_retries: AtomicU64,
    /// Parts given up on at shutdown: never acknowledged, so never expected back.
    pub parts_unacknowledged: AtomicU64,
    pub spans_acknowledged: AtomicU64,
    pub missing_spans: AtomicU64,
    pub duplicated_spans: AtomicU64,
    pub wrong_spans: AtomicU64,
    pub by_id: PerKind,
    pub search: PerKind,
}

pub type Shared = Arc<Metrics>;

impl Metrics {
    pub fn kind(&self, kind: ReadKind) -> &PerKind {
        match kind {
            ReadKind::ById => &self.by_id,
            ReadKind::Search => &self.search,
        }
    }

    /// Whether every check so far found what it should.
    pub fn clean(&self) -> bool {
        self.missing_spans.load(Ordering::Relaxed) == 0
            && self.duplicated_spans.load(Ordering::Relaxed) == 0
            && self.wrong_spans.load(Ordering::Relaxed) == 0
            && self.by_id.missing_traces.load(Ordering::Relaxed) == 0
            && self.search.missing_traces.load(Ordering::Relaxed) == 0
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let mut counter = |name: &str, help: &str, values: &[(&str, u64)]| {
            out.push_str(&format!("# HELP {name} {help}\n# TYPE {name} counter\n"));
            for (labels, v) in values {
                if labels.is_empty() {
                    out.push_str(&format!("{name} {v}\n"));
                } else {
                    out.push_str(&format!("{name}{{{labels}}} {v}\n"));
                }
            }
        };
        counter(
            "arbor_vulture_traces_written_total",
            "Traces whose first part was sent.",
            &[("", g(&self.traces_written))],
        );
        counter(
            "arbor_vulture_parts_sent_total",
            "Trace parts acknowledged by the server (resends included).",
            &[("", g(&self.parts_sent))],
        );
        counter(
            "arbor_vulture_parts_resent_total",
            "Trace parts sent a second time on purpose.",
            &[("", g(&self.parts_resent))],
        );
        counter(
            "arbor_vulture_write_retries_total",
            "Sends that were not acknowledged and were tried again.",
            &[("", g(&self.write_retries))],
        );
        counter(
            "arbor_vulture_parts_unacknowledged_total",
            "Parts never acknowledged (given up at exit); not expected back.",
            &[("", g(&self.parts_unacknowledged))],
        );
        counter(
            "arbor_vulture_spans_acknowledged_total",
            "Distinct spans acknowledged by the server.",
            &[("", g(&self.spans_acknowledged))],
        );
        let per = |f: fn(&PerKind) -> &AtomicU64| {
            [
                ("kind=\"id\"", g(f(&self.by_id))),
                ("kind=\"search\"", g(f(&self.search))),
            ]
        };
        counter(
            "arbor_vulture_checks_total",
            "Reads of a written trace, by ID or by search.",
            &per(|k| &k.checks),
        );
        counter(
            "arbor_vulture_missing_traces_total",
            "Checks that did not find an acknowledged trace at all.",
            &per(|k| &k.missing_traces),
        );
        counter(
            "arbor_vulture_read_errors_total",
            "Reads that failed (server down, 5xx); not counted as missing.",
            &per(|k| &k.read_errors),
        );
        counter(
            "arbor_vulture_missing_spans_total",
            "Acknowledged spans absent from a trace read by ID.",
            &[("", g(&self.missing_spans))],
        );
        counter(
            "arbor_vulture_duplicated_spans_total",
            "Spans read back more than once in a trace.",
            &[("", g(&self.duplicated_spans))],
        );
        counter(
            "arbor_vulture_wrong_spans_total",
            "Spans read back that vulture did not write, or with other content.",
            &[("", g(&self.wrong_spans))],
        );
        out
    }

    /// One line for the end of the run.
    pub fn summary(&self) -> String {
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        format!(
            "traces_written={} parts_sent={} parts_resent={} parts_unacknowledged={} write_retries={} \
             checks_id={} checks_search={} missing_spans={} duplicated_spans={} wrong_spans={} \
             missing_traces_id={} missing_traces_search={} read_errors_id={} read_errors_search={}",
            g(&self.traces_written),
            g(&self.parts_sent),
            g(&self.parts_resent),
            g(&self.parts_unacknowledged),
            g(&self.write_retries),
            g(&self.by_id.checks),
            g(&self.search.checks),
            g(&self.missing_spans),
            g(&self.duplicated_spans),
            g(&self.wrong_spans),
            g(&self.by_id.missing_traces),
            g(&self.search.missing_traces),
            g(&self.by_id.read_errors),
            g(&self.search.read_errors),
        )
    }
}

/// Serves `GET /metrics` on `addr` until the runtime ends; returns the bound address.
pub async fn serve(
    addr: std::net::SocketAddr,
    metrics: Shared,
) -> anyhow::Result<std::net::SocketAddr> {
    use axum::routing::get;
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    let app = axum::Router::new().route(
        "/metrics",
        get(move || {
            let m = metrics.clone();
            async move {
                (
                    [(
                        http::header::CONTENT_TYPE,
                        "text/plain; version=0.0.4; charset=utf-8",
                    )],
                    m.render(),
                )
            }
        }),
    );
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!(error = %e, "vulture metrics server stopped");
        }
    });
    Ok(bound)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_every_counter_with_kinds() {
        let m = Metrics::default();
        m.missing_spans.fetch_add(3, Ordering::Relaxed);
        m.search.checks.fetch_add(2, Ordering::Relaxed);
        let text = m.render();
        assert!(text.contains("arbor_vulture_missing_spans_total 3\n"));
        assert!(text.contains("arbor_vulture_checks_total{kind=\"search\"} 2\n"));
        assert!(text.contains("# TYPE arbor_vulture_wrong_spans_total counter\n"));
        assert!(!m.clean());
        assert!(Metrics::default().clean());
    }
}
