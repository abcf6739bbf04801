//! The cumulative views in Prometheus' text format.

use std::fmt::Write as _;

use crate::{
    DEFAULT_TENANT, Deriver, Dims, EdgeKey, EndpointKey, FunctionFigures, FunctionKey, Histogram,
    LATENCY_BUCKETS, STATUS_CLASSES, Snapshot, SpanKey,
};

impl Deriver {
    /// All views of all tenants in Prometheus' text format.
    pub fn render_prometheus(&self, out: &mut String) {
        let snaps: Vec<(String, Snapshot)> = self
            .tenants()
            .into_iter()
            .map(|t| {
                let s = self.snapshot(&t);
                (t, s)
            })
            .collect();
        let tenant_label = |t: &str| {
            if t == DEFAULT_TENANT {
                String::new()
            } else {
                format!("tenant=\"{}\",", escape(t))
            }
        };
        header(
            out,
            "traces_spanmetrics_calls_total",
            "counter",
            "Spans received, per service, span name, kind and status.",
        );
        for (t, s) in &snaps {
            for (k, f) in &s.spans {
                let _ = writeln!(
                    out,
                    "traces_spanmetrics_calls_total{{{}{}}} {}",
                    tenant_label(t),
                    span_labels(k, &self.config.dimensions),
                    f.calls
                );
            }
        }
        header(
            out,
            "traces_spanmetrics_latency",
            "histogram",
            "Span durations in seconds, per service, span name, kind and status.",
        );
        for (t, s) in &snaps {
            for (k, f) in &s.spans {
                histogram(
                    out,
                    "traces_spanmetrics_latency",
                    &format!(
                        "{}{}",
                        tenant_label(t),
                        span_labels(k, &self.config.dimensions)
                    ),
                    &f.latency,
                );
            }
        }
        header(
            out,
            "traces_service_graph_request_total",
            "counter",
            "Calls between services (client, server, connection type).",
        );
        for (t, s) in &snaps {
            for (k, f) in &s.edges {
                let _ = writeln!(
                    out,
                    "traces_service_graph_request_total{{{}{}}} {}",
                    tenant_label(t),
                    edge_labels(k),
                    f.requests
                );
            }
        }
        header(
            out,
            "traces_service_graph_request_failed_total",
            "counter",
            "Failed calls between services.",
        );
        for (t, s) in &snaps {
            for (k, f) in &s.edges {
                let _ = writeln!(
                    out,
                    "traces_service_graph_request_failed_total{{{}{}}} {}",
                    tenant_label(t),
                    edge_labels(k),
                    f.failed
                );
            }
        }
        for (name, help, server) in [
            (
                "traces_service_graph_request_server_seconds",
                "Call durations seen by the server.",
                true,
            ),
            (
                "traces_service_graph_request_client_seconds",
                "Call durations seen by the client.",
                false,
            ),
        ] {
            header(out, name, "histogram", help);
            for (t, s) in &snaps {
                for (k, f) in &s.edges {
                    let h = if server {
                        &f.server_latency
                    } else {
                        &f.client_latency
                    };
                    histogram(
                        out,
                        name,
                        &format!("{}{}", tenant_label(t), edge_labels(k)),
                        h,
                    );
                }
            }
        }
        // One sample per function of a figure read by `get`.
        let per_function = |out: &mut String, name: &str, ty: &str, help: &str, get: &ValueOf| {
            header(out, name, ty, help);
            for (t, s) in &snaps {
                for (func, f) in &s.functions {
                    let _ = writeln!(
                        out,
                        "{name}{{{}{}}} {}",
                        tenant_label(t),
                        function_labels(func),
                        get(f)
                    );
                }
            }
        };
        let counters: [(&str, &str, CountOf); 4] = [
            (
                "arbor_faas_invocations_total",
                "Function invocations.",
                |f| f.invocations,
            ),
            (
                "arbor_faas_errors_total",
                "Function invocations that failed (timeouts included).",
                |f| f.errors,
            ),
            (
                "arbor_faas_timeouts_total",
                "Function invocations that timed out.",
                |f| f.timeouts,
            ),
            (
                "arbor_faas_cold_starts_total",
                "Function invocations that started cold.",
                |f| f.cold_starts,
            ),
        ];
        for (name, help, get) in counters {
            per_function(out, name, "counter", help, &|f| get(f) as f64);
        }
        header(
            out,
            "arbor_faas_duration_seconds",
            "histogram",
            "Function durations in seconds (cold=\"true\" for cold starts).",
        );
        for (t, s) in &snaps {
            for (func, f) in &s.functions {
                let cold = f.duration_cold();
                for (flag, h) in [("false", &f.duration_warm), ("true", &cold)] {
                    let labels = format!(
                        "{}{},cold=\"{flag}\"",
                        tenant_label(t),
                        function_labels(func)
                    );
                    histogram(out, "arbor_faas_duration_seconds", &labels, h);
                }
            }
        }
        let price = self.config.gb_second_price;
        let values: [(&str, &str, &str, &ValueOf); 3] = [
            (
                "arbor_faas_memory_used_ratio",
                "gauge",
                "Memory used as a share of the configured memory, over the invocations that reported it.",
                &FunctionFigures::memory_share,
            ),
            (
                "arbor_faas_gb_seconds_total",
                "counter",
                "Duration times configured memory, in GB-seconds.",
                &|f| f.gb_seconds,
            ),
            (
                "arbor_faas_cost_total",
                "counter",
                "Estimated cost: GB-seconds times the configured price per GB-second.",
                &|f| f.gb_seconds * price,
            ),
        ];
        for (name, ty, help, get) in values {
            per_function(out, name, ty, help, get);
        }
        header(
            out,
            "arbor_endpoint_requests_total",
            "counter",
            "Requests per API endpoint (SERVER spans with a route) and status class.",
        );
        for (t, s) in &snaps {
            for (k, f) in &s.endpoints {
                for (class, n) in STATUS_CLASSES.iter().zip(f.status) {
                    if n > 0 {
                        let _ = writeln!(
                            out,
                            "arbor_endpoint_requests_total{{{}{},status_class=\"{class}\"}} {n}",
                            tenant_label(t),
                            endpoint_labels(k)
                        );
                    }
                }
            }
        }
        header(
            out,
            "arbor_endpoint_errors_total",
            "counter",
            "Failed requests per API endpoint.",
        );
        for (t, s) in &snaps {
            for (k, f) in &s.endpoints {
                let _ = writeln!(
                    out,
                    "arbor_endpoint_errors_total{{{}{}}} {}",
                    tenant_label(t),
                    endpoint_labels(k),
                    f.errors
                );
            }
        }
        header(
            out,
            "arbor_endpoint_duration_seconds",
            "histogram",
            "Request durations per API endpoint, in seconds.",
        );
        for (t, s) in &snaps {
            for (k, f) in &s.endpoints {
                let labels = format!("{}{}", tenant_label(t), endpoint_labels(k));
                histogram(out, "arbor_endpoint_duration_seconds", &labels, &f.latency);
            }
        }
    }
}

/// Reads a count of a function's figures.
type CountOf = fn(&FunctionFigures) -> u64;
/// Reads a value of a function's figures.
type ValueOf<'a> = dyn Fn(&FunctionFigures) -> f64 + 'a;

fn escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// The labels of where a series runs, those present only.
fn dims_labels(d: &Dims) -> String {
    let mut out = String::new();
    for (name, v) in [
        ("service_namespace", &d.namespace),
        ("deployment_environment", &d.environment),
        ("cloud_region", &d.region),
    ] {
        if !v.is_empty() {
            let _ = write!(out, ",{name}=\"{}\"", escape(v));
        }
    }
    out
}

/// A Prometheus label name for an attribute key (`http.route` → `http_route`).
pub fn label_name(key: &str) -> String {
    let mut s: String = key
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    if s.starts_with(|c: char| c.is_ascii_digit()) {
        s.insert(0, '_');
    }
    s
}

fn span_labels(k: &SpanKey, dimensions: &[String]) -> String {
    let mut out = format!(
        "service=\"{}\",span_name=\"{}\",span_kind=\"{}\",status_code=\"{}\"{}",
        escape(&k.service),
        escape(&k.span_name),
        k.span_kind,
        k.status_code,
        dims_labels(&k.dims)
    );
    for (name, v) in dimensions.iter().zip(&k.extra) {
        let _ = write!(out, ",{}=\"{}\"", label_name(name), escape(v));
    }
    out
}

fn function_labels(k: &FunctionKey) -> String {
    format!(
        "function=\"{}\"{}",
        escape(&k.function),
        dims_labels(&k.dims)
    )
}

fn endpoint_labels(k: &EndpointKey) -> String {
    format!(
        "service=\"{}\",method=\"{}\",route=\"{}\"{}",
        escape(&k.service),
        escape(&k.method),
        escape(&k.route),
        dims_labels(&k.dims)
    )
}

fn edge_labels(k: &EdgeKey) -> String {
    format!(
        "client=\"{}\",server=\"{}\",connection_type=\"{}\"",
        escape(&k.client),
        escape(&k.server),
        k.connection_type
    )
}

fn header(out: &mut String, name: &str, ty: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {ty}");
}

fn histogram(out: &mut String, name: &str, labels: &str, h: &Histogram) {
    let mut cumulative = 0;
    for (i, c) in h.counts.iter().enumerate() {
        cumulative += c;
        let le = LATENCY_BUCKETS
            .get(i)
            .map_or_else(|| "+Inf".to_string(), |b| b.to_string());
        let _ = writeln!(out, "{name}_bucket{{{labels},le=\"{le}\"}} {cumulative}");
    }
    let _ = writeln!(out, "{name}_sum{{{labels}}} {}", h.sum);
    let _ = writeln!(out, "{name}_count{{{labels}}} {}", h.count);
}
