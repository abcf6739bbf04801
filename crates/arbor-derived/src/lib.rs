//! Derived views, computed as spans arrive: span metrics (calls, errors, latency per
//! service, span name, kind and status), the service graph (calls between services from
//! client/server and producer/consumer span pairs, and to uninstrumented peers), serverless
//! function figures (invocations, errors, timeouts, cold starts, duration, memory,
//! GB-seconds) and API endpoint figures (requests by status class, latency per method and
//! route).
//!
//! The store hands every span it keeps (resends already dropped) to [`Deriver::observe_in`]
//! with the *generation* of the head that took it. Each figure is kept twice:
//!
//! - cumulatively since the process started, for `/metrics`
//!   ([`Deriver::render_prometheus`], under the names of Tempo's metrics-generator:
//!   `traces_spanmetrics_*`, `traces_service_graph_*`, and Arbor's own `arbor_faas_*`,
//!   `arbor_endpoint_*`);
//! - in time buckets of [`RESOLUTION_NS`] (15 s, by span start) per head generation. When
//!   the store cuts a head into a block it asks for that generation's buckets
//!   ([`Deriver::seal`]) and writes them into the block ([`sidecar`]); once the block is
//!   published it lets them go ([`Deriver::release`]). So the series of every span in a
//!   block are in that block: they survive restarts, are merged (and rolled up) by
//!   compaction and deleted by retention with the spans. Spans replayed from the log after
//!   a restart are observed again into the new head's generation.
//!
//! [`query`] answers ranges over block sidecars plus the live generations.
//!
//! # Errors
//!
//! A span counts as failed when its status is ERROR; or, with its status unset, when
//! `faas.error` or `faas.error_timeout` is true (a boolean or `"true"`, as Serverless
//! Console sends it), a CLIENT span whose HTTP status is 4xx or 5xx, or a SERVER span whose
//! HTTP status is 5xx (the semantic conventions' rules: a server's 4xx is the caller's
//! fault, not the server's).
//!
//! # Serverless
//!
//! A function invocation is read in OpenTelemetry's shape or Serverless Console's (see
//! [`arbor_model::faas`]): flags and numbers as strings too, `faas.max_memory` in MB or
//! bytes, and the function's own `faas.duration`, `faas.billed_duration` (cost),
//! `faas.max_memory_used_mb` or `faas.memory_pct` over the span's duration and memory.
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
//! without a parent is called by `user` (`virtual_node`) at once — or by the value of its
//! [`Config::caller_attribute`] (e.g. `client.address`) when set and present. A call is put in the
//! time bucket of the client span's start.
//!
//! # Bounds
//!
//! At most [`Config::max_series`] series per view and tenant; past it, new label sets count
//! in one overflow series whose labels are all `__overflow__` (in the buckets too). At most
//! [`Config::max_pending`] halves wait for their other half; past it the oldest is let go.

mod figures;
mod prom;
pub mod query;
pub mod sidecar;

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use arbor_model::faas::{self, is_true as truthy, number};
use arbor_model::otlp::{KeyValue, Span, SpanKind, StatusCode, any_value};
use parking_lot::Mutex;

pub use figures::*;
pub use sidecar::{Sidecar, merge_sidecars};

/// The width of a time bucket: 15 s.
pub const RESOLUTION_NS: u64 = 15_000_000_000;

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
    /// Extra span-metrics labels: attribute keys looked up on the span, then its resource
    /// (e.g. `http.route`).
    pub dimensions: Vec<String>,
    /// The attribute naming the caller of a root SERVER span (e.g. `client.address`); the
    /// caller is `user` when empty or when the span does not have it.
    pub caller_attribute: String,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            wait: Duration::from_secs(10),
            max_series: 10_000,
            max_pending: 100_000,
            // AWS Lambda, x86, first tier.
            gb_second_price: 0.000_016_666_7,
            dimensions: Vec::new(),
            caller_attribute: String::new(),
        }
    }
}

/// A bounded map of series: past `max` keys, new keys count under the overflow key.
#[derive(Debug)]
struct Series<K, V> {
    map: Map<Arc<K>, V>,
    overflow: Option<V>,
    overflow_key: Arc<K>,
}

impl<K: Labels, V: Default + Clone> Series<K, V> {
    fn new() -> Self {
        Self {
            map: Map::default(),
            overflow: None,
            overflow_key: Arc::new(K::overflow()),
        }
    }

    /// The series of `key` (the overflow series when `key` is new past `max`), with the
    /// shared copy of the labels it is kept under.
    fn get(&mut self, key: K, max: usize) -> (Arc<K>, &mut V) {
        if let Some((k, _)) = self.map.get_key_value(&key) {
            let k = k.clone();
            let v = self.map.get_mut(&key).expect("just found");
            return (k, v);
        }
        if self.map.len() >= max {
            return (
                self.overflow_key.clone(),
                self.overflow.get_or_insert_with(V::default),
            );
        }
        let k = Arc::new(key);
        (k.clone(), self.map.entry(k).or_default())
    }

    /// The series of labels already interned by [`Series::get`] (the overflow series when
    /// `key` is the overflow key).
    fn interned(&mut self, key: &Arc<K>) -> &mut V {
        match self.map.get_mut(&**key) {
            Some(v) => v,
            None => self.overflow.get_or_insert_with(V::default),
        }
    }

    /// The series sorted by labels, then the overflow series (if any).
    fn sorted(&self) -> Vec<(K, V)> {
        let mut out: Vec<(K, V)> = self
            .map
            .iter()
            .map(|(k, v)| (K::clone(k), v.clone()))
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        if let Some(o) = &self.overflow {
            out.push((K::clone(&self.overflow_key), o.clone()));
        }
        out
    }
}

/// A client/server half waiting for the other.
#[derive(Debug, Clone)]
struct Half {
    service: Arc<str>,
    seconds: f64,
    failed: bool,
    start_ns: u64,
    /// For a client half: the peer it names and the connection type, if any.
    peer: Option<(String, &'static str)>,
}

type PairKey = ([u8; 16], u64);

/// An edge by its client's and server's services and its connection type.
type EdgeNames = (Arc<str>, Arc<str>, &'static str);

/// How many sealed generations are remembered (so late figures of one go elsewhere).
const SEALED_KEPT: usize = 4096;

#[derive(Debug)]
struct Tenant {
    spans: Series<SpanKey, SpanFigures>,
    edges: Series<EdgeKey, EdgeFigures>,
    functions: Series<FunctionKey, FunctionFigures>,
    endpoints: Series<EndpointKey, EndpointFigures>,
    /// Time buckets per head generation not yet let go.
    live: Map<u64, Timeline>,
    /// Generations already sealed into a block: what would still go to one goes to
    /// `carry`, which the next generation takes over.
    sealed: HashSet<u64>,
    sealed_order: VecDeque<u64>,
    carry: Timeline,
    /// The generation that most recently took a span.
    latest: Option<u64>,
    /// The caller of root servers, shared.
    user: Arc<str>,
    /// Edge label sets by the halves' services, so recording a call allocates nothing.
    edge_keys: Map<EdgeNames, Arc<EdgeKey>>,
    /// Client halves by (trace, span ID); server halves by id, reachable by (trace,
    /// parent or linked span ID).
    clients: Map<PairKey, Half>,
    servers: Map<u64, Half>,
    server_keys: Map<PairKey, u64>,
    next_server: u64,
    /// Deadlines in arrival order: (deadline, key, server id for a server half).
    queue: VecDeque<(u64, PairKey, Option<u64>)>,
    expired: u64,
}

impl Tenant {
    fn new() -> Self {
        Self {
            spans: Series::new(),
            edges: Series::new(),
            functions: Series::new(),
            endpoints: Series::new(),
            live: Map::default(),
            sealed: HashSet::new(),
            sealed_order: VecDeque::new(),
            carry: Timeline::new(),
            latest: None,
            user: Arc::from("user"),
            edge_keys: Map::default(),
            clients: Map::default(),
            servers: Map::default(),
            server_keys: Map::default(),
            next_server: 0,
            queue: VecDeque::new(),
            expired: 0,
        }
    }

    /// A generation takes a span: a new one takes over what was carried.
    fn enter(&mut self, generation: u64) {
        if !self.live.contains_key(&generation) && !self.sealed.contains(&generation) {
            self.live
                .insert(generation, std::mem::take(&mut self.carry));
        }
        self.latest = Some(generation);
    }

    /// The bucket starting at `start_ns` of `generation` (of the carry when it is sealed).
    fn frame(&mut self, generation: Option<u64>, start_ns: u64) -> &mut Frame {
        let start = start_ns / RESOLUTION_NS * RESOLUTION_NS;
        let timeline = match generation {
            Some(g) if !self.sealed.contains(&g) => self.live.entry(g).or_default(),
            _ => &mut self.carry,
        };
        timeline.entry((start, RESOLUTION_NS)).or_default()
    }
}

/// The derived views of every tenant.
#[derive(Debug)]
pub struct Deriver {
    config: Config,
    tenants: Mutex<HashMap<String, Tenant>>,
}

use arbor_model::faas::attr;

fn text(v: &any_value::Value) -> Option<String> {
    match v {
        any_value::Value::StringValue(s) => Some(s.clone()),
        any_value::Value::IntValue(i) => Some(i.to_string()),
        any_value::Value::DoubleValue(d) => Some(d.to_string()),
        any_value::Value::BoolValue(b) => Some(b.to_string()),
        _ => None,
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

/// The first of `keys` the resource carries, as text; empty when none.
fn resource_text(resource: &[KeyValue], keys: &[&str]) -> String {
    keys.iter()
        .find_map(|k| attr(resource, k).and_then(text))
        .unwrap_or_default()
}

/// Where a resource runs (see [`Dims`]).
pub fn dims_of(resource: &[KeyValue]) -> Dims {
    Dims {
        namespace: resource_text(resource, &["service.namespace"]),
        environment: resource_text(
            resource,
            &["deployment.environment.name", "deployment.environment"],
        ),
        region: resource_text(resource, &["cloud.region"]),
    }
}

/// Where an invocation runs: its resource's place, with what the resource does not say
/// taken from the span (Serverless Console puts every tag on the spans).
fn place_of_invocation(dims: &Dims, span: &Span) -> Dims {
    let mut d = dims.clone();
    for (field, keys) in [
        (&mut d.namespace, &["service.namespace"][..]),
        (
            &mut d.environment,
            &["deployment.environment.name", "deployment.environment"][..],
        ),
        (&mut d.region, &["cloud.region"][..]),
    ] {
        if field.is_empty() {
            *field = resource_text(&span.attributes, keys);
        }
    }
    d
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
    Facts::of(span, "").failed(span)
}

/// Longest error message kept, in bytes.
const MAX_MESSAGE_BYTES: usize = 200;

/// What a failed invocation says went wrong: its exception (`type: message`), else its
/// own message (`faas.error_exception_message`, `faas.error_message`), else its status
/// message, else `timeout` or `error`; cut to 200 bytes.
pub fn error_message(span: &Span, timeout: bool) -> String {
    let exception = span.events.iter().find(|e| e.name == "exception").map(|e| {
        let get = |k: &str| attr(&e.attributes, k).and_then(text).unwrap_or_default();
        let (ty, msg) = (get("exception.type"), get("exception.message"));
        match (ty.is_empty(), msg.is_empty()) {
            (false, false) => format!("{ty}: {msg}"),
            (false, true) => ty,
            _ => msg,
        }
    });
    let mut m = exception
        .filter(|m| !m.is_empty())
        .or_else(|| faas::error_message(&span.attributes))
        .or_else(|| {
            span.status
                .as_ref()
                .map(|s| s.message.clone())
                .filter(|m| !m.is_empty())
        })
        .unwrap_or_else(|| if timeout { "timeout" } else { "error" }.to_string());
    if m.len() > MAX_MESSAGE_BYTES {
        let mut cut = MAX_MESSAGE_BYTES;
        while !m.is_char_boundary(cut) {
            cut -= 1;
        }
        m.truncate(cut);
    }
    m
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

/// What a resource says that the views read, besides its service and place.
#[derive(Default)]
struct ResourceFacts<'a> {
    faas_name: Option<&'a any_value::Value>,
    max_memory: Option<&'a any_value::Value>,
    db_name: Option<&'a any_value::Value>,
}

impl<'a> ResourceFacts<'a> {
    fn of(resource: &'a [KeyValue]) -> Self {
        Self {
            faas_name: attr(resource, "faas.name"),
            max_memory: attr(resource, "faas.max_memory"),
            db_name: attr(resource, "db.name").or_else(|| attr(resource, "db.namespace")),
        }
    }
}

/// What a span's attributes say that the views read, gathered in one pass.
#[derive(Default)]
struct Facts<'a> {
    http_status: Option<&'a any_value::Value>,
    http_status_old: Option<&'a any_value::Value>,
    route: Option<&'a any_value::Value>,
    path: Option<&'a any_value::Value>,
    method: Option<&'a any_value::Value>,
    method_old: Option<&'a any_value::Value>,
    /// The span is a function invocation (`faas.invocation_id`, `faas.execution` or
    /// `faas.trigger`; or the Console's tags, see [`arbor_model::faas`]).
    invocation: bool,
    /// Which of [`faas::ALL_FUNCTIONS_TAGS`] the span has, one bit each.
    console_tags: u8,
    faas_name: Option<&'a any_value::Value>,
    cold: Option<&'a any_value::Value>,
    timeout: Option<&'a any_value::Value>,
    faas_error: Option<&'a any_value::Value>,
    memory_used: Option<&'a any_value::Value>,
    max_memory: Option<&'a any_value::Value>,
    /// The function's own figures (Serverless Console): milliseconds, MB, percent.
    reported_ms: Option<&'a any_value::Value>,
    billed_ms: Option<&'a any_value::Value>,
    max_memory_used_mb: Option<&'a any_value::Value>,
    memory_pct: Option<&'a any_value::Value>,
    peer_service: Option<&'a any_value::Value>,
    db_system: Option<&'a any_value::Value>,
    db_name: Option<&'a any_value::Value>,
    db_namespace: Option<&'a any_value::Value>,
    destination: Option<&'a any_value::Value>,
    messaging_system: Option<&'a any_value::Value>,
    server_address: Option<&'a any_value::Value>,
    net_peer_name: Option<&'a any_value::Value>,
    caller: Option<&'a any_value::Value>,
}

impl<'a> Facts<'a> {
    fn of(span: &'a Span, caller_attribute: &str) -> Self {
        let mut f = Facts::default();
        for kv in &span.attributes {
            let Some(v) = kv.value.as_ref().and_then(|v| v.value.as_ref()) else {
                continue;
            };
            if kv.key.starts_with("faas.")
                && let Some(i) = faas::ALL_FUNCTIONS_TAGS.iter().position(|t| *t == kv.key)
            {
                f.console_tags |= 1 << i;
            }
            let slot = match kv.key.as_str() {
                "http.response.status_code" => &mut f.http_status,
                "http.status_code" => &mut f.http_status_old,
                "http.route" => &mut f.route,
                "http.path" => &mut f.path,
                "http.request.method" => &mut f.method,
                "http.method" => &mut f.method_old,
                "faas.invocation_id" | "faas.execution" | "faas.trigger" => {
                    f.invocation = true;
                    continue;
                }
                "faas.name" => &mut f.faas_name,
                "faas.coldstart" => &mut f.cold,
                "faas.error_timeout" => &mut f.timeout,
                "faas.error" => &mut f.faas_error,
                "faas.memory_used" => &mut f.memory_used,
                "faas.max_memory" => &mut f.max_memory,
                "faas.duration" => &mut f.reported_ms,
                "faas.billed_duration" => &mut f.billed_ms,
                "faas.max_memory_used_mb" => &mut f.max_memory_used_mb,
                "faas.memory_pct" => &mut f.memory_pct,
                "peer.service" => &mut f.peer_service,
                "db.system" => &mut f.db_system,
                "db.name" => &mut f.db_name,
                "db.namespace" => &mut f.db_namespace,
                "messaging.destination.name" => &mut f.destination,
                "messaging.system" => &mut f.messaging_system,
                "server.address" => &mut f.server_address,
                "net.peer.name" => &mut f.net_peer_name,
                k if !caller_attribute.is_empty() && k == caller_attribute => &mut f.caller,
                _ => continue,
            };
            // The first of a repeated key wins, as a lookup would find it.
            slot.get_or_insert(v);
        }
        if !f.invocation && f.console_tags == (1 << faas::ALL_FUNCTIONS_TAGS.len()) - 1 {
            // The Console repeats its tags on every span: the entry span is the invocation
            // (the rule of `faas::is_invocation`, with the tags counted in this pass).
            f.invocation = faas::is_entry(span);
        }
        f.http_status = f.http_status.or(f.http_status_old);
        f.route = f.route.or(f.path);
        f.method = f.method.or(f.method_old);
        f
    }

    /// Whether the span failed, by the rules in the module doc.
    fn failed(&self, span: &Span) -> bool {
        let code = span.status.as_ref().map_or(0, |s| s.code);
        if code == StatusCode::Error as i32 {
            return true;
        }
        if code == StatusCode::Ok as i32 {
            return false;
        }
        if truthy(self.faas_error) || truthy(self.timeout) {
            return true;
        }
        let http = self.http_status.and_then(number).unwrap_or(0.0);
        match SpanKind::try_from(span.kind).unwrap_or(SpanKind::Unspecified) {
            SpanKind::Client => http >= 400.0,
            SpanKind::Server => http >= 500.0,
            _ => false,
        }
    }

    /// What an invocation says of itself: flags in any shape, the function's own figures
    /// over the span's where it reports them (see [`arbor_model::faas`]).
    fn invocation(&self, res: &ResourceFacts, failed: bool, secs: f64) -> Invocation {
        let ms = |v: Option<&any_value::Value>| {
            v.and_then(number).filter(|n| *n >= 0.0).map(|n| n / 1000.0)
        };
        let configured = self.max_memory.or(res.max_memory).and_then(faas::memory_mb);
        let used = self
            .max_memory_used_mb
            .and_then(number)
            .or_else(|| self.memory_used.and_then(faas::memory_mb))
            .or_else(|| {
                let pct = self.memory_pct.and_then(number)?;
                Some(pct / 100.0 * configured?)
            });
        Invocation {
            failed: failed || truthy(self.faas_error),
            timeout: truthy(self.timeout),
            cold: truthy(self.cold),
            seconds: ms(self.reported_ms).unwrap_or(secs),
            billed_seconds: ms(self.billed_ms),
            memory_used_mb: used,
            memory_configured_mb: configured,
        }
    }

    /// The peer a client span names, and the connection type (see the module doc).
    fn peer(&self, res: &ResourceFacts) -> Option<(String, &'static str)> {
        if let Some(p) = self.peer_service.and_then(text) {
            return Some((p, "virtual_node"));
        }
        if let Some(system) = self.db_system.and_then(text) {
            let name = self
                .db_name
                .or(self.db_namespace)
                .or(res.db_name)
                .and_then(text)
                .unwrap_or(system);
            return Some((name, "database"));
        }
        if let Some(m) = self.destination.or(self.messaging_system).and_then(text) {
            return Some((m, "messaging_system"));
        }
        self.server_address
            .or(self.net_peer_name)
            .and_then(text)
            .map(|p| (p, "virtual_node"))
    }
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

    /// [`Deriver::observe_in`] generation 0 (tests, and views no block keeps).
    pub fn observe(&self, tenant: &str, resource: &[KeyValue], span: &Span, now_ns: u64) {
        self.observe_in(tenant, 0, resource, span, now_ns);
    }

    /// Takes in one span that the store kept in head `generation`, with its resource's
    /// attributes; `now_ns` is the arrival time (the clock pairs wait on).
    pub fn observe_in(
        &self,
        tenant: &str,
        generation: u64,
        resource: &[KeyValue],
        span: &Span,
        now_ns: u64,
    ) {
        self.observe_batch(
            tenant,
            generation,
            resource,
            std::slice::from_ref(span),
            now_ns,
        );
    }

    /// [`Deriver::observe_in`] for spans of one resource: what the resource says is read
    /// once, and the views are locked once.
    pub fn observe_batch(
        &self,
        tenant: &str,
        generation: u64,
        resource: &[KeyValue],
        spans: &[Span],
        now_ns: u64,
    ) {
        if spans.is_empty() {
            return;
        }
        let service = attr(resource, "service.name")
            .and_then(text)
            .unwrap_or_else(|| "unknown_service".to_string());
        let dims = dims_of(resource);
        let service_arc: Arc<str> = Arc::from(service.as_str());
        let res = ResourceFacts::of(resource);
        let max = self.config.max_series;
        // Label sets met in this batch: most spans of a batch share a few.
        let mut span_keys: Map<(&str, i32, &'static str), Arc<SpanKey>> = Map::default();
        let mut endpoint_keys: Map<(&str, &str), Arc<EndpointKey>> = Map::default();
        let mut tenants = self.tenants.lock();
        let t = tenants
            .entry(tenant.to_string())
            .or_insert_with(Tenant::new);
        t.enter(generation);
        let g = Some(generation);
        // Halves whose wait ended before these spans arrived are let go first.
        self.expire(t, now_ns);
        for span in spans {
            let facts = Facts::of(span, &self.config.caller_attribute);
            let failed = facts.failed(span);
            let secs = seconds(span);
            let start = span.start_time_unix_nano;
            let kind = SpanKind::try_from(span.kind).unwrap_or(SpanKind::Unspecified);
            let status_code = if failed {
                "STATUS_CODE_ERROR"
            } else if span
                .status
                .as_ref()
                .is_some_and(|s| s.code == StatusCode::Ok as i32)
            {
                "STATUS_CODE_OK"
            } else {
                "STATUS_CODE_UNSET"
            };
            let make_key = || SpanKey {
                service: service.clone(),
                span_name: span.name.clone(),
                span_kind: kind_label(span.kind),
                status_code,
                dims: dims.clone(),
                extra: self
                    .config
                    .dimensions
                    .iter()
                    .map(|d| lookup(span, resource, &[d]).unwrap_or_default())
                    .collect(),
            };
            let k = if self.config.dimensions.is_empty() {
                match span_keys.get(&(span.name.as_str(), span.kind, status_code)) {
                    Some(k) => {
                        let k = k.clone();
                        t.spans.interned(&k).add(failed, secs);
                        k
                    }
                    None => {
                        let (k, f) = t.spans.get(make_key(), max);
                        f.add(failed, secs);
                        span_keys.insert((span.name.as_str(), span.kind, status_code), k.clone());
                        k
                    }
                }
            } else {
                let (k, f) = t.spans.get(make_key(), max);
                f.add(failed, secs);
                k
            };
            t.frame(g, start)
                .spans
                .entry(k)
                .or_default()
                .add(failed, secs);

            if facts.invocation {
                let function = facts
                    .faas_name
                    .or(res.faas_name)
                    .and_then(text)
                    .unwrap_or_else(|| service.clone());
                let inv = facts.invocation(&res, failed, secs);
                let key = FunctionKey {
                    function,
                    service: service.clone(),
                    dims: place_of_invocation(&dims, span),
                };
                let (k, f) = t.functions.get(key, max);
                f.add(&inv);
                let frame = t.frame(g, start);
                frame.functions.entry(k.clone()).or_default().add(&inv);
                if inv.failed || inv.timeout {
                    frame.add_error(k, error_message(span, inv.timeout));
                }
            }

            if kind == SpanKind::Server
                && let Some(route_value) = facts.route
            {
                let status = facts.http_status.and_then(number);
                let cache_key = match (route_value, facts.method) {
                    (any_value::Value::StringValue(r), Some(any_value::Value::StringValue(m))) => {
                        Some((r.as_str(), m.as_str()))
                    }
                    (any_value::Value::StringValue(r), None) => Some((r.as_str(), "")),
                    _ => None,
                };
                let cached = cache_key.and_then(|c| endpoint_keys.get(&c).cloned());
                let k = match cached {
                    Some(k) => {
                        t.endpoints.interned(&k).add(failed, status, secs);
                        k
                    }
                    None => {
                        let key = EndpointKey {
                            service: service.clone(),
                            method: facts.method.and_then(text).unwrap_or_default(),
                            route: text(route_value).unwrap_or_default(),
                            dims: dims.clone(),
                        };
                        let (k, f) = t.endpoints.get(key, max);
                        f.add(failed, status, secs);
                        if let Some(c) = cache_key {
                            endpoint_keys.insert(c, k.clone());
                        }
                        k
                    }
                };
                t.frame(g, start)
                    .endpoints
                    .entry(k)
                    .or_default()
                    .add(failed, status, secs);
            }

            if matches!(
                kind,
                SpanKind::Client | SpanKind::Producer | SpanKind::Server | SpanKind::Consumer
            ) {
                let peer = matches!(kind, SpanKind::Client | SpanKind::Producer)
                    .then(|| facts.peer(&res))
                    .flatten();
                let caller = facts.caller.and_then(text);
                self.pair(t, g, span, &service_arc, secs, failed, peer, caller, now_ns);
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn pair(
        &self,
        t: &mut Tenant,
        generation: Option<u64>,
        span: &Span,
        service: &Arc<str>,
        secs: f64,
        failed: bool,
        peer: Option<(String, &'static str)>,
        caller: Option<String>,
        now_ns: u64,
    ) {
        let max = self.config.max_series;
        let deadline_ns = now_ns.saturating_add(self.config.wait.as_nanos() as u64);
        let trace = trace_key(&span.trace_id);
        let kind = SpanKind::try_from(span.kind).unwrap_or(SpanKind::Unspecified);
        let start_ns = span.start_time_unix_nano;
        match kind {
            SpanKind::Client | SpanKind::Producer => {
                let key = (trace, span_id(&span.span_id));
                let me = Half {
                    service: service.clone(),
                    seconds: secs,
                    failed,
                    start_ns,
                    peer,
                };
                if let Some(id) = t.server_keys.remove(&key)
                    && let Some(server) = t.servers.remove(&id)
                {
                    record(t, generation, &me, &server, "", max);
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
                    service: service.clone(),
                    seconds: secs,
                    failed,
                    start_ns,
                    peer: None,
                };
                if keys.is_empty() && kind == SpanKind::Server {
                    let user = Half {
                        service: caller.map_or_else(|| t.user.clone(), Arc::from),
                        seconds: secs,
                        failed: false,
                        start_ns,
                        peer: None,
                    };
                    record(t, generation, &user, &me, "virtual_node", max);
                    return;
                }
                for k in &keys {
                    if let Some(client) = t.clients.remove(k) {
                        record(t, generation, &client, &me, "", max);
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
                                service: Arc::from(peer.as_str()),
                                seconds: client.seconds,
                                failed: false,
                                start_ns: client.start_ns,
                                peer: None,
                            };
                            let max = self.config.max_series;
                            let latest = t.latest;
                            record(t, latest, &client, &server, connection, max);
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

    /// The encoded time buckets of a head generation being cut into a block (see
    /// [`sidecar`]); `None` when it has none. From here on, figures that would go to that
    /// generation go to the next one; its buckets stay readable until
    /// [`Deriver::release`].
    pub fn seal(&self, tenant: &str, generation: u64) -> Option<Vec<u8>> {
        let mut tenants = self.tenants.lock();
        let t = tenants.get_mut(tenant)?;
        if t.sealed.insert(generation) {
            t.sealed_order.push_back(generation);
            if t.sealed_order.len() > SEALED_KEPT
                && let Some(old) = t.sealed_order.pop_front()
            {
                t.sealed.remove(&old);
            }
        }
        let timeline = t.live.get(&generation)?;
        Some(sidecar::encode(&[generation], timeline))
    }

    /// Lets go of a sealed generation's buckets: its block is readable now.
    pub fn release(&self, tenant: &str, generation: u64) {
        if let Some(t) = self.tenants.lock().get_mut(tenant) {
            t.live.remove(&generation);
        }
    }

    /// Calls `f` with every bucket of `tenant` starting in `[from_ns, to_ns)`: those of
    /// the given block sidecars, then those still in memory (skipping generations a
    /// sidecar already holds).
    pub fn collect(
        &self,
        tenant: &str,
        from_ns: u64,
        to_ns: u64,
        sidecars: &[Arc<Sidecar>],
        mut f: impl FnMut(u64, u64, &Frame),
    ) {
        if from_ns >= to_ns {
            return;
        }
        let range = (from_ns, 0)..(to_ns, 0);
        let covered: HashSet<u64> = sidecars
            .iter()
            .flat_map(|s| s.generations.iter().copied())
            .collect();
        for s in sidecars {
            for (&(start, width), frame) in s.frames.range(range.clone()) {
                f(start, width, frame);
            }
        }
        let tenants = self.tenants.lock();
        let Some(t) = tenants.get(tenant) else {
            return;
        };
        for (g, timeline) in &t.live {
            if covered.contains(g) {
                continue;
            }
            for (&(start, width), frame) in timeline.range(range.clone()) {
                f(start, width, frame);
            }
        }
        for (&(start, width), frame) in t.carry.range(range) {
            f(start, width, frame);
        }
    }

    /// A copy of a tenant's cumulative views.
    pub fn snapshot(&self, tenant: &str) -> Snapshot {
        let tenants = self.tenants.lock();
        let Some(t) = tenants.get(tenant) else {
            return Snapshot::default();
        };
        Snapshot {
            spans: t.spans.sorted(),
            edges: t.edges.sorted(),
            functions: t.functions.sorted(),
            endpoints: t.endpoints.sorted(),
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
}

/// Records one call between two halves, in `generation`'s bucket of the client's start.
fn record(
    t: &mut Tenant,
    generation: Option<u64>,
    client: &Half,
    server: &Half,
    connection_type: &'static str,
    max: usize,
) {
    let failed = client.failed || server.failed;
    let names = (
        client.service.clone(),
        server.service.clone(),
        connection_type,
    );
    let k = match t.edge_keys.get(&names) {
        Some(k) => {
            let k = k.clone();
            t.edges
                .interned(&k)
                .add(failed, client.seconds, server.seconds);
            k
        }
        None => {
            let key = EdgeKey {
                client: client.service.to_string(),
                server: server.service.to_string(),
                connection_type,
            };
            let (k, e) = t.edges.get(key, max);
            e.add(failed, client.seconds, server.seconds);
            // Bounded as the series are (past them, every call names the overflow key).
            if t.edge_keys.len() < 2 * max {
                t.edge_keys.insert(names, k.clone());
            }
            k
        }
    };
    t.frame(generation, client.start_ns)
        .edges
        .entry(k)
        .or_default()
        .add(failed, client.seconds, server.seconds);
}

/// A tenant's cumulative views, sorted by labels; overflow series last.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub spans: Vec<(SpanKey, SpanFigures)>,
    pub edges: Vec<(EdgeKey, EdgeFigures)>,
    pub functions: Vec<(FunctionKey, FunctionFigures)>,
    pub endpoints: Vec<(EndpointKey, EndpointFigures)>,
    /// Halves waiting for their other half.
    pub pending: usize,
    /// Halves let go unpaired and naming no peer.
    pub expired: u64,
}

#[cfg(test)]
mod tests;
