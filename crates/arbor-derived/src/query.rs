//! Answers over a time range: the services, service graph and serverless views the API
//! serves (`/api/derived/…`), built from the buckets [`crate::Deriver::collect`] visits.
//!
//! A bucket counts in the step its start falls in; a rolled-up bucket (5 minutes, an hour)
//! counts whole in the step it starts in.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use serde::Serialize;

use crate::figures::{
    Dims, EdgeFigures, EndpointFigures, Figures, Frame, FunctionFigures, OVERFLOW, STATUS_CLASSES,
    SpanFigures, ratio,
};

/// A time range cut in steps, in nanoseconds since the epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Range {
    pub from_ns: u64,
    pub to_ns: u64,
    pub step_ns: u64,
}

impl Range {
    /// Most points a default step gives.
    pub const DEFAULT_POINTS: u64 = 120;

    /// The smallest multiple of the resolution that cuts the range in at most
    /// [`Range::DEFAULT_POINTS`] steps.
    pub fn default_step_ns(from_ns: u64, to_ns: u64) -> u64 {
        let res = crate::RESOLUTION_NS;
        let per = to_ns.saturating_sub(from_ns).div_ceil(Self::DEFAULT_POINTS);
        per.div_ceil(res).max(1) * res
    }

    pub fn points(&self) -> usize {
        self.to_ns
            .saturating_sub(self.from_ns)
            .div_ceil(self.step_ns.max(1)) as usize
    }

    fn index(&self, start_ns: u64) -> usize {
        ((start_ns.saturating_sub(self.from_ns)) / self.step_ns.max(1)) as usize
    }

    fn seconds(&self) -> f64 {
        self.to_ns.saturating_sub(self.from_ns) as f64 / 1e9
    }
}

/// Which series an answer keeps (`None`: any).
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub service: Option<String>,
    pub namespace: Option<String>,
    pub environment: Option<String>,
    pub region: Option<String>,
    pub function: Option<String>,
}

impl Filter {
    fn dims(&self, d: &Dims) -> bool {
        let is = |want: &Option<String>, have: &String| want.as_ref().is_none_or(|w| w == have);
        is(&self.namespace, &d.namespace)
            && is(&self.environment, &d.environment)
            && is(&self.region, &d.region)
    }

    fn has_dims(&self) -> bool {
        self.namespace.is_some() || self.environment.is_some() || self.region.is_some()
    }

    fn service(&self, s: &str) -> bool {
        self.service.as_ref().is_none_or(|w| w == s)
    }
}

/// The values present in a range, for pickers.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Filters {
    pub service: BTreeSet<String>,
    pub namespace: BTreeSet<String>,
    pub environment: BTreeSet<String>,
    pub region: BTreeSet<String>,
}

impl Filters {
    fn note(&mut self, service: &str, d: &Dims) {
        for (set, v) in [
            (&mut self.service, service),
            (&mut self.namespace, &d.namespace),
            (&mut self.environment, &d.environment),
            (&mut self.region, &d.region),
        ] {
            if !v.is_empty() && v != OVERFLOW && !set.contains(v) {
                set.insert(v.to_string());
            }
        }
    }
}

/// Rate, errors and duration over the range, with series per step.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Red {
    pub calls: u64,
    pub errors: u64,
    pub rate: f64,
    pub error_rate: f64,
    pub p50: Option<f64>,
    pub p95: Option<f64>,
    pub p99: Option<f64>,
    pub series: RedSeries,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct RedSeries {
    pub calls: Vec<u64>,
    pub errors: Vec<u64>,
    pub p95: Vec<Option<f64>>,
}

/// Figures over the range and per step.
#[derive(Debug, Clone)]
struct Agg<F> {
    total: F,
    steps: Vec<F>,
}

impl<F: Figures> Agg<F> {
    fn new(n: usize) -> Self {
        Self {
            total: F::default(),
            steps: vec![F::default(); n],
        }
    }

    /// Adds `f` to the total and to step `i`.
    fn add(&mut self, i: usize, f: &F) {
        self.total.merge(f);
        if let Some(s) = self.steps.get_mut(i) {
            s.merge(f);
        }
    }

    /// One value per step.
    fn series<T>(&self, get: impl Fn(&F) -> T) -> Vec<T> {
        self.steps.iter().map(get).collect()
    }
}

impl Agg<SpanFigures> {
    fn red(&self, r: &Range) -> Red {
        Red {
            calls: self.total.calls,
            errors: self.total.errors,
            rate: self.total.calls as f64 / r.seconds(),
            error_rate: ratio(self.total.errors as f64, self.total.calls as f64),
            p50: self.total.latency.quantile(0.5),
            p95: self.total.latency.quantile(0.95),
            p99: self.total.latency.quantile(0.99),
            series: RedSeries {
                calls: self.series(|s| s.calls),
                errors: self.series(|s| s.errors),
                p95: self.series(|s| s.latency.quantile(0.95)),
            },
        }
    }
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ServiceRow {
    pub service: String,
    #[serde(flatten)]
    pub red: Red,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct OperationRow {
    pub service: String,
    pub name: String,
    pub kind: String,
    #[serde(flatten)]
    pub red: Red,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ServicesAnswer {
    pub start: u64,
    pub end: u64,
    pub step: u64,
    pub filters: Filters,
    pub services: Vec<ServiceRow>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub operations: Option<Vec<OperationRow>>,
}

/// Visits the buckets of the range: `visit` calls its argument once per bucket.
pub type Visit<'a> = dyn FnMut(u64, u64, &Frame) + 'a;

fn is_entry(kind: &str) -> bool {
    kind == "SPAN_KIND_SERVER" || kind == "SPAN_KIND_CONSUMER"
}

/// Per service: the figures of its SERVER and CONSUMER spans, or of all its spans when it
/// has none; with `filter.service`, also per operation (span name and kind).
pub fn services(r: &Range, filter: &Filter, visit: impl FnOnce(&mut Visit)) -> ServicesAnswer {
    let n = r.points();
    let mut filters = Filters::default();
    // service → (entry spans, all spans)
    let mut per: BTreeMap<String, (Agg<SpanFigures>, Agg<SpanFigures>)> = BTreeMap::new();
    let mut ops: BTreeMap<(String, String, String), Agg<SpanFigures>> = BTreeMap::new();
    visit(&mut |start, _width, frame| {
        let i = r.index(start);
        for (k, f) in &frame.spans {
            filters.note(&k.service, &k.dims);
            if !filter.dims(&k.dims) || !filter.service(&k.service) {
                continue;
            }
            let (entry, all) = per
                .entry(k.service.clone())
                .or_insert_with(|| (Agg::new(n), Agg::new(n)));
            all.add(i, f);
            if is_entry(k.span_kind) {
                entry.add(i, f);
            }
            if filter.service.is_some() {
                ops.entry((
                    k.service.clone(),
                    k.span_name.clone(),
                    k.span_kind.to_string(),
                ))
                .or_insert_with(|| Agg::new(n))
                .add(i, f);
            }
        }
    });
    let services = per
        .into_iter()
        .map(|(service, (entry, all))| ServiceRow {
            service,
            red: if entry.total.calls > 0 {
                entry.red(r)
            } else {
                all.red(r)
            },
        })
        .collect();
    let operations = filter.service.as_ref().map(|_| {
        ops.into_iter()
            .map(|((service, name, kind), agg)| OperationRow {
                service,
                name,
                kind,
                red: agg.red(r),
            })
            .collect()
    });
    ServicesAnswer {
        start: r.from_ns / 1_000_000_000,
        end: r.to_ns / 1_000_000_000,
        step: r.step_ns / 1_000_000_000,
        filters,
        services,
        operations,
    }
}

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Node {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub requests: u64,
    pub failed: u64,
    pub rate: f64,
    pub error_rate: f64,
    pub p50: Option<f64>,
    pub p95: Option<f64>,
    pub p99: Option<f64>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Edge {
    pub client: String,
    pub server: String,
    pub connection_type: String,
    pub requests: u64,
    pub failed: u64,
    pub rate: f64,
    pub error_rate: f64,
    pub p50: Option<f64>,
    pub p95: Option<f64>,
    pub p99: Option<f64>,
    pub client_p95: Option<f64>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct GraphAnswer {
    pub start: u64,
    pub end: u64,
    pub source: String,
    pub nodes: Vec<Node>,
    pub edges: Vec<Edge>,
}

/// The service graph over the range (see [`GraphAnswer`]); `source` is echoed.
pub fn service_graph(
    r: &Range,
    filter: &Filter,
    source: &str,
    visit: impl FnOnce(&mut Visit),
) -> GraphAnswer {
    let mut edges: BTreeMap<(String, String, &'static str), EdgeFigures> = BTreeMap::new();
    // Services with span metrics, and those of them whose place matches the filter.
    let mut instrumented: HashSet<String> = HashSet::new();
    let mut placed: HashSet<String> = HashSet::new();
    visit(&mut |_start, _width, frame| {
        for k in frame.spans.keys() {
            if !instrumented.contains(&k.service) {
                instrumented.insert(k.service.clone());
            }
            if filter.dims(&k.dims) && !placed.contains(&k.service) {
                placed.insert(k.service.clone());
            }
        }
        for (k, f) in &frame.edges {
            edges
                .entry((k.client.clone(), k.server.clone(), k.connection_type))
                .or_default()
                .merge(f);
        }
    });
    let keep = |c: &str, s: &str| {
        (filter.service(c) || filter.service(s))
            && (!filter.has_dims() || placed.contains(c) || placed.contains(s))
    };
    let secs = r.seconds();
    let mut nodes: BTreeMap<String, (String, EdgeFigures)> = BTreeMap::new();
    let mut out_edges = Vec::new();
    for ((client, server, conn), f) in edges {
        if !keep(&client, &server) {
            continue;
        }
        // A client with no spans of its own is the caller of a root server: `user`, or
        // the value of `derived.caller_attribute`.
        let client_type = if instrumented.contains(&client) {
            "service"
        } else if client == "user" {
            "user"
        } else {
            "virtual_node"
        };
        nodes
            .entry(client.clone())
            .or_insert_with(|| (client_type.to_string(), EdgeFigures::default()));
        let server_type = if conn.is_empty() || instrumented.contains(&server) {
            "service"
        } else {
            conn
        };
        let n = nodes
            .entry(server.clone())
            .or_insert_with(|| (server_type.to_string(), EdgeFigures::default()));
        if server_type == "service" {
            n.0 = "service".into();
        }
        n.1.merge(&f);
        out_edges.push(Edge {
            client,
            server,
            connection_type: conn.to_string(),
            requests: f.requests,
            failed: f.failed,
            rate: f.requests as f64 / secs,
            error_rate: ratio(f.failed as f64, f.requests as f64),
            p50: f.server_latency.quantile(0.5),
            p95: f.server_latency.quantile(0.95),
            p99: f.server_latency.quantile(0.99),
            client_p95: f.client_latency.quantile(0.95),
        });
    }
    let nodes = nodes
        .into_iter()
        .map(|(id, (kind, f))| Node {
            id,
            kind,
            requests: f.requests,
            failed: f.failed,
            rate: f.requests as f64 / secs,
            error_rate: ratio(f.failed as f64, f.requests as f64),
            p50: f.server_latency.quantile(0.5),
            p95: f.server_latency.quantile(0.95),
            p99: f.server_latency.quantile(0.99),
        })
        .collect();
    GraphAnswer {
        start: r.from_ns / 1_000_000_000,
        end: r.to_ns / 1_000_000_000,
        source: source.to_string(),
        nodes,
        edges: out_edges,
    }
}

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct FunctionRow {
    pub function: String,
    pub service: String,
    pub namespace: String,
    pub environment: String,
    pub region: String,
    pub invocations: u64,
    pub rate: f64,
    pub errors: u64,
    pub timeouts: u64,
    pub cold_starts: u64,
    pub cold_start_rate: f64,
    pub p50: Option<f64>,
    pub p95: Option<f64>,
    pub p99: Option<f64>,
    pub p95_warm: Option<f64>,
    pub memory_share: Option<f64>,
    pub memory_used_mb: Option<f64>,
    pub memory_configured_mb: Option<f64>,
    pub gb_seconds: f64,
    pub cost: f64,
    pub series: FunctionSeries,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct FunctionSeries {
    pub invocations: Vec<u64>,
    pub errors: Vec<u64>,
    pub timeouts: Vec<u64>,
    pub cold_starts: Vec<u64>,
    pub p95: Vec<Option<f64>>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct EndpointRow {
    pub service: String,
    pub method: String,
    pub route: String,
    pub requests: u64,
    pub rate: f64,
    pub errors: u64,
    pub error_rate: f64,
    pub status_classes: BTreeMap<&'static str, u64>,
    pub p50: Option<f64>,
    pub p95: Option<f64>,
    pub p99: Option<f64>,
    pub series: EndpointSeries,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct EndpointSeries {
    pub requests: Vec<u64>,
    pub errors: Vec<u64>,
    pub p95: Vec<Option<f64>>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ServerlessAnswer {
    pub start: u64,
    pub end: u64,
    pub step: u64,
    pub filters: Filters,
    pub functions: Vec<FunctionRow>,
    pub endpoints: Vec<EndpointRow>,
}

/// Per function (with where it runs) and per API endpoint; `gb_second_price` prices
/// the GB-seconds.
pub fn serverless(
    r: &Range,
    filter: &Filter,
    gb_second_price: f64,
    visit: impl FnOnce(&mut Visit),
) -> ServerlessAnswer {
    let n = r.points();
    let mut filters = Filters::default();
    type FnKey = (String, String, Dims);
    let mut functions: BTreeMap<FnKey, Agg<FunctionFigures>> = BTreeMap::new();
    let mut endpoints: BTreeMap<(String, String, String), Agg<EndpointFigures>> = BTreeMap::new();
    visit(&mut |start, _width, frame| {
        let i = r.index(start);
        for (k, f) in &frame.functions {
            filters.note(&k.service, &k.dims);
            if !filter.dims(&k.dims)
                || !filter.service(&k.service)
                || filter.function.as_ref().is_some_and(|w| *w != k.function)
            {
                continue;
            }
            functions
                .entry((k.function.clone(), k.service.clone(), k.dims.clone()))
                .or_insert_with(|| Agg::new(n))
                .add(i, f);
        }
        for (k, f) in &frame.endpoints {
            filters.note(&k.service, &k.dims);
            if !filter.dims(&k.dims) || !filter.service(&k.service) {
                continue;
            }
            endpoints
                .entry((k.service.clone(), k.method.clone(), k.route.clone()))
                .or_insert_with(|| Agg::new(n))
                .add(i, f);
        }
    });
    let secs = r.seconds();
    let functions = functions
        .into_iter()
        .map(|((function, service, dims), agg)| {
            let f = &agg.total;
            let samples = f.memory_samples as f64;
            let avg = |v: f64| (f.memory_samples > 0).then(|| v / samples);
            FunctionRow {
                function,
                service,
                namespace: dims.namespace,
                environment: dims.environment,
                region: dims.region,
                invocations: f.invocations,
                rate: f.invocations as f64 / secs,
                errors: f.errors,
                timeouts: f.timeouts,
                cold_starts: f.cold_starts,
                cold_start_rate: f.cold_start_rate(),
                p50: f.duration.quantile(0.5),
                p95: f.duration.quantile(0.95),
                p99: f.duration.quantile(0.99),
                p95_warm: f.duration_warm.quantile(0.95),
                memory_share: (f.memory_samples > 0).then(|| f.memory_share()),
                memory_used_mb: avg(f.memory_used_mb),
                memory_configured_mb: avg(f.memory_configured_mb),
                gb_seconds: f.gb_seconds,
                cost: f.gb_seconds * gb_second_price,
                series: FunctionSeries {
                    invocations: agg.series(|s| s.invocations),
                    errors: agg.series(|s| s.errors),
                    timeouts: agg.series(|s| s.timeouts),
                    cold_starts: agg.series(|s| s.cold_starts),
                    p95: agg.series(|s| s.duration.quantile(0.95)),
                },
            }
        })
        .collect();
    let endpoints = endpoints
        .into_iter()
        .map(|((service, method, route), agg)| {
            let f = &agg.total;
            EndpointRow {
                service,
                method,
                route,
                requests: f.requests,
                rate: f.requests as f64 / secs,
                errors: f.errors,
                error_rate: ratio(f.errors as f64, f.requests as f64),
                status_classes: STATUS_CLASSES.iter().copied().zip(f.status).collect(),
                p50: f.latency.quantile(0.5),
                p95: f.latency.quantile(0.95),
                p99: f.latency.quantile(0.99),
                series: EndpointSeries {
                    requests: agg.series(|s| s.requests),
                    errors: agg.series(|s| s.errors),
                    p95: agg.series(|s| s.latency.quantile(0.95)),
                },
            }
        })
        .collect();
    ServerlessAnswer {
        start: r.from_ns / 1_000_000_000,
        end: r.to_ns / 1_000_000_000,
        step: r.step_ns / 1_000_000_000,
        filters,
        functions,
        endpoints,
    }
}
