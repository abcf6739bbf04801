//! Per-tenant ingest counters on `/metrics`, labelled `tenant`:
//!
//! - `arbor_tenant_spans_received_total`: spans taken in;
//! - `arbor_tenant_bytes_received_total`: bytes of the requests admitted by the tenant's
//!   rate (after decompression; some may then fail to decode);
//! - `arbor_tenant_rate_limited_requests_total`: requests refused by the ingest rate;
//! - `arbor_tenant_refused_total{reason}`: what the limits refused — `reason="rate"` counts
//!   bytes of requests refused by the rate, `reason="trace_size"` spans refused past
//!   `max_spans_per_trace` / `max_bytes_per_trace`, `reason="attributes"` span attributes
//!   dropped past `max_attributes_per_span` or `max_attribute_key_bytes`.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use parking_lot::Mutex;

#[derive(Default, Clone, Copy)]
struct Counts {
    spans: u64,
    bytes: u64,
    rate_limited: u64,
    refused_rate_bytes: u64,
    refused_trace_spans: u64,
    refused_attributes: u64,
}

/// A counter's name, help and value.
type Series = (&'static str, &'static str, fn(&Counts) -> u64);

/// The counters of every tenant that sent something.
#[derive(Default)]
pub struct TenantCounters {
    by_tenant: Mutex<BTreeMap<String, Counts>>,
}

impl TenantCounters {
    fn with(&self, tenant: &str, f: impl FnOnce(&mut Counts)) {
        let mut map = self.by_tenant.lock();
        match map.get_mut(tenant) {
            Some(c) => f(c),
            None => f(map.entry(tenant.to_string()).or_default()),
        }
    }

    /// Spans taken in.
    pub fn received(&self, tenant: &str, spans: u64) {
        self.with(tenant, |c| c.spans += spans);
    }

    /// Bytes of a request admitted by the tenant's rate.
    pub fn admitted(&self, tenant: &str, bytes: u64) {
        self.with(tenant, |c| c.bytes += bytes);
    }

    pub fn rate_limited(&self, tenant: &str, bytes: u64) {
        self.with(tenant, |c| {
            c.rate_limited += 1;
            c.refused_rate_bytes += bytes;
        });
    }

    pub fn refused(&self, tenant: &str, trace_spans: u64, attributes: u64) {
        if trace_spans + attributes > 0 {
            self.with(tenant, |c| {
                c.refused_trace_spans += trace_spans;
                c.refused_attributes += attributes;
            });
        }
    }

    /// The Prometheus lines.
    pub fn render(&self, out: &mut String) {
        let map = self.by_tenant.lock().clone();
        let series: [Series; 3] = [
            (
                "arbor_tenant_spans_received_total",
                "Spans taken in, by tenant.",
                |c| c.spans,
            ),
            (
                "arbor_tenant_bytes_received_total",
                "Bytes of requests admitted by the tenant's ingest rate (after decompression), by tenant.",
                |c| c.bytes,
            ),
            (
                "arbor_tenant_rate_limited_requests_total",
                "Requests refused by the tenant's ingest rate (ingestion_rate_limit_bytes).",
                |c| c.rate_limited,
            ),
        ];
        for (name, help, get) in series {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
            for (t, c) in &map {
                let _ = writeln!(out, "{name}{{tenant=\"{}\"}} {}", escape(t), get(c));
            }
        }
        let name = "arbor_tenant_refused_total";
        let _ = writeln!(
            out,
            "# HELP {name} Refused by the tenant's limits: reason=\"rate\" bytes of requests, \"trace_size\" spans, \"attributes\" span attributes.\n# TYPE {name} counter"
        );
        for (t, c) in &map {
            for (reason, v) in [
                ("rate", c.refused_rate_bytes),
                ("trace_size", c.refused_trace_spans),
                ("attributes", c.refused_attributes),
            ] {
                let _ = writeln!(
                    out,
                    "{name}{{tenant=\"{}\",reason=\"{reason}\"}} {v}",
                    escape(t)
                );
            }
        }
    }
}

/// Tenant IDs hold no `"` or `\` (see `crate::tenant`), but the label is escaped anyway.
fn escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_per_tenant() {
        let c = TenantCounters::default();
        c.received("a", 3);
        c.admitted("a", 100);
        c.rate_limited("b", 50);
        c.refused("a", 2, 1);
        let mut out = String::new();
        c.render(&mut out);
        assert!(out.contains("arbor_tenant_spans_received_total{tenant=\"a\"} 3"));
        assert!(out.contains("arbor_tenant_rate_limited_requests_total{tenant=\"b\"} 1"));
        assert!(out.contains("arbor_tenant_refused_total{tenant=\"b\",reason=\"rate\"} 50"));
        assert!(out.contains("arbor_tenant_refused_total{tenant=\"a\",reason=\"trace_size\"} 2"));
        assert!(out.contains("arbor_tenant_refused_total{tenant=\"a\",reason=\"attributes\"} 1"));
    }
}
