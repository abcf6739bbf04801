//! Derived views, computed as spans arrive: span metrics (calls, errors, latency per
//! service, span name, kind and status), the service graph (calls between services from
//! client/server and producer/consumer span pairs, and to uninstrumented peers), and
//! serverless function figures (invocations, errors, timeouts, cold starts, duration,
//! memory, GB-seconds).
//!
//! The store hands every span it keeps (resends already dropped) to [`Deriver::observe`];
//! [`Deriver::render_prometheus`] writes the figures in Prometheus' text format under the
//! names Tempo's metrics-generator uses (`traces_spanmetrics_*`, `traces_service_graph_*`)
//! and Arbor's own (`arbor_faas_*`). Figures are cumulative since the process started.
//!
//! # Errors
//!
//! A span counts as failed when its status is ERROR; or, with its status unset, a CLIENT
//! span whose HTTP status is 4xx or 5xx, or a SERVER span whose HTTP status is 5xx (the
//! semantic conventions' rules: a server's 4xx is the caller's fault, not the server's).
//!
//! # The service graph
//!
//! A CLIENT (or PRODUCER) span and a SERVER (or CONSUMER) span whose parent it is — or, for
//! a consumer, which it links to — make one call from the client's service to the server's,
//! with the client's and the server's durations. The halves may arrive in any order and in
//! different batches: the first waits up to [`Config::wait`] for the other. A client half
//! still alone then becomes a call to a *virtual node* when it names its peer:
//! `peer.service` (type `virtual_node`), `db.system` with `db.name`/`db.namespace` or the
//! system itself (`database`), `messaging.destination.name` or `messaging.system`
//! (`messaging_system`), `server.address`/`net.peer.name` (`virtual_node`). A SERVER span
//! without a parent is called by `user` (`virtual_node`) at once.
//!
//! # Bounds
//!
//! At most [`Config::max_series`] series per view and tenant; past it, new label sets count
//! in one overflow series whose labels are all `__overflow__`. At most
//! [`Config::max_pending`] halves wait for their other half; past it the oldest is let go.

use std::collections::{HashMap, VecDeque};
use std::fmt::Write as _;
use std::time::Duration;

use arbor_model::otlp::{KeyValue, Span, SpanKind, StatusCode, any_value};
use parking_lot::Mutex;

/// Tempo's default latency buckets, in seconds.
pub const LATENCY_BUCKETS: [f64; 12] = [
    0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128, 0.256, 0.512, 1.02, 2.05, 4.10,
];

/// The labels of the overflow series.
pub const OVERFLOW: &str = "__overflow__";

/// The tenant whose series carry no `tenant` label.
pub const DEFAULT_TENANT: &str = "single-tenant";

#[derive(Debug, Clone)]
pub struct Config {
    /// How long the first half of a client/server pair waits for the other.
    pub wait: Duration,
    /// Series per view and tenant.
    pub max_series: usize,
    /// Halves waiting for their other half, per tenant.
    pub max_pending: usize,
    /// Price of one GB-second of function time, for the cost estimate.
    pub gb_second_price: f64,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            wait: Duration::from_secs(10),
            max_series: 10_000,
            max_pending: 100_000,
            // AWS Lambda, x86, first tier.
            gb_second_price: 0.000_016_666_7,
        }
    }
}

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

/// Span metrics of one (service, span name, kind, status).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SpanFigures {
    pub calls: u64,
    pub errors: u64,
    pub latency: Histogram,
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
}

/// Calls along one edge of the service graph.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EdgeFigures {
    pub requests: u64,
    pub failed: u64,
    pub client_latency: Histogram,
    pub server_latency: Histogram,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EdgeKey {
    pub client: String,
    pub server: String,
    /// `""` between instrumented services; `virtual_node`, `database`, `messaging_system`.
    pub connection_type: &'static str,
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
    /// Duration × configured memory, summed.
    pub gb_seconds: f64,
}

impl FunctionFigures {
    pub fn cold_start_rate(&self) -> f64 {
        ratio(self.cold_starts as f64, self.invocations as f64)
    }

    /// Memory used as a share of the configured memory, over the invocations that said.
    pub fn memory_share(&self) -> f64 {
        ratio(self.memory_used_mb, self.memory_configured_mb)
    }
}

fn ratio(a: f64, b: f64) -> f64 {
    if b > 0.0 { a / b } else { 0.0 }
}

/// A bounded map of series: past `max` keys, new keys count under `overflow`.
#[derive(Debug)]
struct Series<K, V> {
    map: HashMap<K, V>,
    overflow: Option<V>,
}

impl<K: std::hash::Hash + Eq, V: Default> Series<K, V> {
    fn new() -> Self {
        Self {
            map: HashMap::new(),
            overflow: None,
        }
    }

    fn get(&mut self, key: K, max: usize) -> &mut V {
        if self.map.len() >= max && !self.map.contains_key(&key) {
            return self.overflow.get_or_insert_with(V::default);
        }
        self.map.entry(key).or_default()
    }
}

impl<K: Ord + Clone, V: Clone> Series<K, V> {
    /// The series sorted by labels, then the overflow series (if any) under `overflow_key`.
    fn sorted(&self, overflow_key: K) -> Vec<(K, V)> {
        let mut out: Vec<(K, V)> = self
            .map
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        if let Some(o) = &self.overflow {
            out.push((overflow_key, o.clone()));
        }
        out
    }
}

/// A client/server half waiting for the other.
#[derive(Debug, Clone)]
struct Half {
    service: String,
    seconds: f64,
    failed: bool,
    /// For a client half: the peer it names and the connection type, if any.
    peer: Option<(String, &'static str)>,
}

type PairKey = ([u8; 16], u64);

#[derive(Debug)]
struct Tenant {
    spans: Series<SpanKey, SpanFigures>,
    edges: Series<EdgeKey, EdgeFigures>,
    functions: Series<String, FunctionFigures>,
    /// Client halves by (trace, span ID); server halves by id, reachable by (trace,
    /// parent or linked span ID).
    clients: HashMap<PairKey, Half>,
    servers: HashMap<u64, Half>,
    server_keys: HashMap<PairKey, u64>,
    next_server: u64,
    /// Deadlines in arrival order: (deadline, key, is client, server id).
    queue: VecDeque<(u64, PairKey, Option<u64>)>,
    expired: u64,
}

impl Tenant {
    fn new() -> Self {
        Self {
            spans: Series::new(),
            edges: Series::new(),
            functions: Series::new(),
            clients: HashMap::new(),
            servers: HashMap::new(),
            server_keys: HashMap::new(),
            next_server: 0,
            queue: VecDeque::new(),
            expired: 0,
        }
    }
}

/// The derived views of every tenant.
#[derive(Debug)]
pub struct Deriver {
    config: Config,
    tenants: Mutex<HashMap<String, Tenant>>,
}

fn attr<'a>(attrs: &'a [KeyValue], key: &str) -> Option<&'a any_value::Value> {
    attrs
        .iter()
        .find(|kv| kv.key == key)?
        .value
        .as_ref()?
        .value
        .as_ref()
}

fn text(v: &any_value::Value) -> Option<String> {
    match v {
        any_value::Value::StringValue(s) => Some(s.clone()),
        any_value::Value::IntValue(i) => Some(i.to_string()),
        any_value::Value::DoubleValue(d) => Some(d.to_string()),
        any_value::Value::BoolValue(b) => Some(b.to_string()),
        _ => None,
    }
}

fn number(v: &any_value::Value) -> Option<f64> {
    match v {
        any_value::Value::IntValue(i) => Some(*i as f64),
        any_value::Value::DoubleValue(d) => Some(*d),
        any_value::Value::StringValue(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn truthy(v: Option<&any_value::Value>) -> bool {
    match v {
        Some(any_value::Value::BoolValue(b)) => *b,
        Some(any_value::Value::StringValue(s)) => s == "true",
        Some(any_value::Value::IntValue(i)) => *i != 0,
        _ => false,
    }
}

/// The first of `keys` the span or its resource carries, as text.
fn lookup(span: &Span, resource: &[KeyValue], keys: &[&str]) -> Option<String> {
    keys.iter().find_map(|k| {
        attr(&span.attributes, k)
            .or_else(|| attr(resource, k))
            .and_then(text)
    })
}

fn kind_label(kind: i32) -> &'static str {
    match SpanKind::try_from(kind).unwrap_or(SpanKind::Unspecified) {
        SpanKind::Unspecified => "SPAN_KIND_UNSPECIFIED",
        SpanKind::Internal => "SPAN_KIND_INTERNAL",
        SpanKind::Server => "SPAN_KIND_SERVER",
        SpanKind::Client => "SPAN_KIND_CLIENT",
        SpanKind::Producer => "SPAN_KIND_PRODUCER",
        SpanKind::Consumer => "SPAN_KIND_CONSUMER",
    }
}

/// Whether a span failed, by the rules in the module doc.
pub fn failed(span: &Span) -> bool {
    let code = span.status.as_ref().map_or(0, |s| s.code);
    if code == StatusCode::Error as i32 {
        return true;
    }
    if code == StatusCode::Ok as i32 {
        return false;
    }
    let http = attr(&span.attributes, "http.response.status_code")
        .or_else(|| attr(&span.attributes, "http.status_code"))
        .and_then(number)
        .unwrap_or(0.0);
    match SpanKind::try_from(span.kind).unwrap_or(SpanKind::Unspecified) {
        SpanKind::Client => http >= 400.0,
        SpanKind::Server => http >= 500.0,
        _ => false,
    }
}

fn seconds(span: &Span) -> f64 {
    span.end_time_unix_nano
        .saturating_sub(span.start_time_unix_nano) as f64
        / 1e9
}

fn span_id(id: &[u8]) -> u64 {
    <[u8; 8]>::try_from(id).map_or(0, u64::from_be_bytes)
}

fn trace_key(id: &[u8]) -> [u8; 16] {
    <[u8; 16]>::try_from(id).unwrap_or([0; 16])
}

/// The peer a client span names, and the connection type (see the module doc).
fn peer(span: &Span, resource: &[KeyValue]) -> Option<(String, &'static str)> {
    let a = &span.attributes;
    if let Some(p) = attr(a, "peer.service").and_then(text) {
        return Some((p, "virtual_node"));
    }
    if let Some(system) = attr(a, "db.system").and_then(text) {
        let name = lookup(span, resource, &["db.name", "db.namespace"]).unwrap_or(system);
        return Some((name, "database"));
    }
    if let Some(m) = lookup(
        span,
        &[],
        &["messaging.destination.name", "messaging.system"],
    ) {
        return Some((m, "messaging_system"));
    }
    lookup(span, &[], &["server.address", "net.peer.name"]).map(|p| (p, "virtual_node"))
}

/// The function a span is an invocation of: spans carrying `faas.invocation_id`,
/// `faas.execution` or `faas.trigger` are invocations; the function is `faas.name` (span,
/// then resource), else the service.
fn function_of(span: &Span, resource: &[KeyValue], service: &str) -> Option<String> {
    let a = &span.attributes;
    let is_invocation = ["faas.invocation_id", "faas.execution", "faas.trigger"]
        .iter()
        .any(|k| attr(a, k).is_some());
    is_invocation.then(|| lookup(span, resource, &["faas.name"]).unwrap_or(service.to_string()))
}

impl Deriver {
    pub fn new(config: Config) -> Self {
        Self {
            config,
            tenants: Mutex::new(HashMap::new()),
        }
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Takes in one span that the store kept, with its resource's attributes; `now_ns` is
    /// the arrival time (the clock pairs wait on).
    pub fn observe(&self, tenant: &str, resource: &[KeyValue], span: &Span, now_ns: u64) {
        let service = attr(resource, "service.name")
            .and_then(text)
            .unwrap_or_else(|| "unknown_service".to_string());
        let failed = failed(span);
        let secs = seconds(span);
        let max = self.config.max_series;
        let mut tenants = self.tenants.lock();
        let t = tenants
            .entry(tenant.to_string())
            .or_insert_with(Tenant::new);

        let key = SpanKey {
            service: service.clone(),
            span_name: span.name.clone(),
            span_kind: kind_label(span.kind),
            status_code: if failed {
                "STATUS_CODE_ERROR"
            } else if span
                .status
                .as_ref()
                .is_some_and(|s| s.code == StatusCode::Ok as i32)
            {
                "STATUS_CODE_OK"
            } else {
                "STATUS_CODE_UNSET"
            },
        };
        let f = t.spans.get(key, max);
        f.calls += 1;
        f.errors += u64::from(failed);
        f.latency.observe(secs);

        if let Some(function) = function_of(span, resource, &service) {
            let a = &span.attributes;
            let cold = truthy(attr(a, "faas.coldstart"));
            let timeout = truthy(attr(a, "faas.error_timeout"));
            let f = t.functions.get(function, max);
            f.invocations += 1;
            f.errors += u64::from(failed || timeout || truthy(attr(a, "faas.error")));
            f.timeouts += u64::from(timeout);
            f.cold_starts += u64::from(cold);
            f.duration.observe(secs);
            if !cold {
                f.duration_warm.observe(secs);
            }
            let configured = attr(a, "faas.max_memory")
                .or_else(|| attr(resource, "faas.max_memory"))
                .and_then(number);
            let used = attr(a, "faas.memory_used").and_then(number);
            if let (Some(c), Some(u)) = (configured, used) {
                f.memory_used_mb += u;
                f.memory_configured_mb += c;
                f.memory_samples += 1;
            }
            if let Some(c) = configured {
                f.gb_seconds += secs * c / 1024.0;
            }
        }

        // Halves whose wait ended before this span arrived are let go first.
        self.expire(t, now_ns);
        self.pair(t, span, resource, service, secs, failed, now_ns);
    }

    #[allow(clippy::too_many_arguments)]
    fn pair(
        &self,
        t: &mut Tenant,
        span: &Span,
        resource: &[KeyValue],
        service: String,
        secs: f64,
        failed: bool,
        now_ns: u64,
    ) {
        let max = self.config.max_series;
        let deadline_ns = now_ns.saturating_add(self.config.wait.as_nanos() as u64);
        let trace = trace_key(&span.trace_id);
        let kind = SpanKind::try_from(span.kind).unwrap_or(SpanKind::Unspecified);
        match kind {
            SpanKind::Client | SpanKind::Producer => {
                let key = (trace, span_id(&span.span_id));
                let me = Half {
                    service,
                    seconds: secs,
                    failed,
                    peer: peer(span, resource),
                };
                if let Some(id) = t.server_keys.remove(&key)
                    && let Some(server) = t.servers.remove(&id)
                {
                    record(t, &me, &server, "", max);
                    return;
                }
                if t.clients.len() >= self.config.max_pending {
                    self.evict_oldest(t);
                }
                t.queue.push_back((deadline_ns, key, None));
                t.clients.insert(key, me);
            }
            SpanKind::Server | SpanKind::Consumer => {
                let parent = span_id(&span.parent_span_id);
                let mut keys: Vec<PairKey> = Vec::new();
                if parent != 0 {
                    keys.push((trace, parent));
                }
                if kind == SpanKind::Consumer {
                    keys.extend(
                        span.links
                            .iter()
                            .map(|l| (trace_key(&l.trace_id), span_id(&l.span_id))),
                    );
                }
                let me = Half {
                    service,
                    seconds: secs,
                    failed,
                    peer: None,
                };
                if keys.is_empty() && kind == SpanKind::Server {
                    let user = Half {
                        service: "user".into(),
                        seconds: secs,
                        failed: false,
                        peer: None,
                    };
                    record(t, &user, &me, "virtual_node", max);
                    return;
                }
                for k in &keys {
                    if let Some(client) = t.clients.remove(k) {
                        record(t, &client, &me, "", max);
                        return;
                    }
                }
                if t.servers.len() >= self.config.max_pending {
                    self.evict_oldest(t);
                }
                let id = t.next_server;
                t.next_server += 1;
                for k in keys {
                    t.server_keys.insert(k, id);
                }
                t.queue.push_back((deadline_ns, (trace, parent), Some(id)));
                t.servers.insert(id, me);
            }
            _ => {}
        }
    }

    /// Lets go of the halves whose wait is over: a client half naming a peer becomes a
    /// call to that virtual node.
    fn expire(&self, t: &mut Tenant, now_ns: u64) {
        while t.queue.front().is_some_and(|(d, _, _)| *d <= now_ns) {
            self.evict_oldest(t);
        }
    }

    fn evict_oldest(&self, t: &mut Tenant) {
        let Some((_, key, server)) = t.queue.pop_front() else {
            return;
        };
        match server {
            Some(id) => {
                if t.servers.remove(&id).is_some() {
                    t.expired += 1;
                }
            }
            None => {
                if let Some(client) = t.clients.remove(&key) {
                    match &client.peer {
                        Some((peer, connection)) => {
                            let server = Half {
                                service: peer.clone(),
                                seconds: client.seconds,
                                failed: false,
                                peer: None,
                            };
                            let max = self.config.max_series;
                            record(t, &client, &server, connection, max);
                        }
                        None => t.expired += 1,
                    }
                }
            }
        }
    }

    /// Ends every wait now (as if `wait` had passed): for tests and shutdown.
    pub fn expire_all(&self) {
        let mut tenants = self.tenants.lock();
        for t in tenants.values_mut() {
            while !t.queue.is_empty() {
                self.evict_oldest(t);
            }
        }
    }

    /// Lets go of the halves whose wait is over at `now_ns`.
    pub fn tick(&self, now_ns: u64) {
        let mut tenants = self.tenants.lock();
        for t in tenants.values_mut() {
            self.expire(t, now_ns);
        }
    }

    /// A copy of a tenant's views.
    pub fn snapshot(&self, tenant: &str) -> Snapshot {
        let tenants = self.tenants.lock();
        let Some(t) = tenants.get(tenant) else {
            return Snapshot::default();
        };
        let spans = t.spans.sorted(SpanKey {
            service: OVERFLOW.into(),
            span_name: OVERFLOW.into(),
            span_kind: OVERFLOW,
            status_code: OVERFLOW,
        });
        let edges = t.edges.sorted(EdgeKey {
            client: OVERFLOW.into(),
            server: OVERFLOW.into(),
            connection_type: OVERFLOW,
        });
        let functions = t.functions.sorted(OVERFLOW.into());
        Snapshot {
            spans,
            edges,
            functions,
            pending: t.clients.len() + t.servers.len(),
            expired: t.expired,
        }
    }

    /// Every tenant with views.
    pub fn tenants(&self) -> Vec<String> {
        let mut v: Vec<String> = self.tenants.lock().keys().cloned().collect();
        v.sort();
        v
    }

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
                    span_labels(k),
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
                    &format!("{}{}", tenant_label(t), span_labels(k)),
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
            header(out, name, "counter", help);
            for (t, s) in &snaps {
                for (func, f) in &s.functions {
                    let _ = writeln!(
                        out,
                        "{name}{{{}function=\"{}\"}} {}",
                        tenant_label(t),
                        escape(func),
                        get(f)
                    );
                }
            }
        }
        header(
            out,
            "arbor_faas_duration_seconds",
            "histogram",
            "Function durations in seconds (cold=\"true\" for cold starts).",
        );
        for (t, s) in &snaps {
            for (func, f) in &s.functions {
                let mut cold = f.duration.clone();
                for (c, w) in cold.counts.iter_mut().zip(f.duration_warm.counts) {
                    *c -= w;
                }
                cold.sum -= f.duration_warm.sum;
                cold.count -= f.duration_warm.count;
                for (flag, h) in [("false", &f.duration_warm), ("true", &cold)] {
                    let labels = format!(
                        "{}function=\"{}\",cold=\"{flag}\"",
                        tenant_label(t),
                        escape(func)
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
            header(out, name, ty, help);
            for (t, s) in &snaps {
                for (func, f) in &s.functions {
                    let _ = writeln!(
                        out,
                        "{name}{{{}function=\"{}\"}} {}",
                        tenant_label(t),
                        escape(func),
                        get(f)
                    );
                }
            }
        }
    }
}

/// Reads a count of a function's figures.
type CountOf = fn(&FunctionFigures) -> u64;
/// Reads a value of a function's figures.
type ValueOf<'a> = dyn Fn(&FunctionFigures) -> f64 + 'a;

/// Records one call between two halves.
fn record(t: &mut Tenant, client: &Half, server: &Half, connection_type: &'static str, max: usize) {
    let e = t.edges.get(
        EdgeKey {
            client: client.service.clone(),
            server: server.service.clone(),
            connection_type,
        },
        max,
    );
    e.requests += 1;
    e.failed += u64::from(client.failed || server.failed);
    e.client_latency.observe(client.seconds);
    e.server_latency.observe(server.seconds);
}

/// A tenant's views, sorted by labels; overflow series last.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub spans: Vec<(SpanKey, SpanFigures)>,
    pub edges: Vec<(EdgeKey, EdgeFigures)>,
    pub functions: Vec<(String, FunctionFigures)>,
    /// Halves waiting for their other half.
    pub pending: usize,
    /// Halves let go unpaired and naming no peer.
    pub expired: u64,
}

fn escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn span_labels(k: &SpanKey) -> String {
    format!(
        "service=\"{}\",span_name=\"{}\",span_kind=\"{}\",status_code=\"{}\"",
        escape(&k.service),
        escape(&k.span_name),
        k.span_kind,
        k.status_code
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

#[cfg(test)]
mod tests;
