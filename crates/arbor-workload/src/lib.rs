//! A seeded, deterministic generator of realistic trace workloads, for `arbor gen` and
//! `arbor bench`.
//!
//! Guarantees:
//! - **Deterministic**: the same [`Options`] and the same sequence of start times give the same
//!   traces, byte for byte. The topology (services, functions, their resources) comes from the
//!   seed alone; the traces from the seed and the start times the caller passes.
//! - **Valid**: every span's parent is a span of the same trace (a root has none); span IDs are
//!   unique within a trace; a span ends after it starts.
//! - **Realistic entropy**, because storage and compression figures depend on it: random
//!   16-byte trace IDs and 8-byte span IDs, nanosecond timestamps, log-normal durations,
//!   attribute values with the cardinality of real traffic ([`values`]), exception events and
//!   stack traces on errors, log events and links.
//!
//! Profiles ([`Profile`]): `microservices` (fan-out trees 3–6 spans deep of 5–60 spans, client /
//! server pairs across 10–30 services with databases, caches and queues), `serverless` (API
//! gateway → Lambda functions with `faas.*` and `cloud.*` tags, cold starts ~5 %, errors ~2 %,
//! timeouts, calling DynamoDB, S3, HTTP APIs and SQS producer → consumer functions), `huge`
//! (single traces of 10,000–50,000 spans). The `late` mode ([`Options::late_fraction`]) holds
//! back a subtree of some traces, for the caller to send minutes after the rest.

mod microservices;
mod serverless;
pub mod values;

use std::collections::{BTreeMap, VecDeque};

use arbor_model::otlp::{
    AnyValue, ExportTraceServiceRequest, InstrumentationScope, KeyValue, Resource, ResourceSpans,
    ScopeSpans, Span, Status, any_value,
};
use rand::{SeedableRng, rngs::StdRng};

/// The shape of the traces made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Profile {
    Serverless,
    Microservices,
    Huge,
}

impl Profile {
    pub fn name(self) -> &'static str {
        match self {
            Profile::Serverless => "serverless",
            Profile::Microservices => "microservices",
            Profile::Huge => "huge",
        }
    }
}

/// What to generate.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    pub profile: Profile,
    pub seed: u64,
    /// Share of traces (0–1) of which a part (a subtree, never the root) is held back in
    /// [`Trace::late`] for the caller to send later. 0 turns the late mode off.
    pub late_fraction: f64,
}

/// One generated span and the resource and scope it belongs to (indexes into
/// [`Generator::resources`] and [`Generator::scopes`]).
#[derive(Debug, Clone, PartialEq)]
pub struct GenSpan {
    pub resource: u32,
    pub scope: u32,
    pub span: Span,
}

/// One generated trace.
#[derive(Debug, Clone, PartialEq)]
pub struct Trace {
    pub id: [u8; 16],
    /// The spans to send now (the root among them).
    pub spans: Vec<GenSpan>,
    /// The spans to send later (late mode), empty otherwise.
    pub late: Vec<GenSpan>,
}

impl Trace {
    pub fn len(&self) -> usize {
        self.spans.len() + self.late.len()
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The generator: a fixed topology from the seed, then one trace per call.
pub struct Generator {
    rng: StdRng,
    options: Options,
    registry: Registry,
    world: World,
}

enum World {
    Micro(microservices::Topology),
    Serverless(serverless::Topology),
}

impl Generator {
    pub fn new(options: Options) -> Self {
        // The topology has a random stream of its own, so it does not depend on how many
        // traces are drawn.
        let mut topo_rng = StdRng::seed_from_u64(options.seed ^ 0x9e37_79b9_7f4a_7c15);
        let mut registry = Registry::default();
        let world = match options.profile {
            Profile::Serverless => {
                World::Serverless(serverless::Topology::new(&mut topo_rng, &mut registry))
            }
            Profile::Microservices | Profile::Huge => {
                World::Micro(microservices::Topology::new(&mut topo_rng, &mut registry))
            }
        };
        Self {
            rng: StdRng::seed_from_u64(options.seed),
            options,
            registry,
            world,
        }
    }

    pub fn options(&self) -> &Options {
        &self.options
    }

    /// The next trace; its root starts at `start_ns` (Unix nanoseconds).
    pub fn next_trace(&mut self, start_ns: u64) -> Trace {
        let id = values::trace_id(&mut self.rng);
        let mut tree = Tree::new(id);
        match &self.world {
            World::Micro(t) => {
                let (size, depth) = match self.options.profile {
                    Profile::Huge => (
                        rand::Rng::random_range(&mut self.rng, 10_000..=50_000),
                        rand::Rng::random_range(&mut self.rng, 8..=12),
                    ),
                    _ => (
                        microservices::trace_size(&mut self.rng),
                        rand::Rng::random_range(&mut self.rng, 3..=6),
                    ),
                };
                t.trace(&mut self.rng, &mut tree, start_ns, size, depth);
            }
            World::Serverless(t) => t.trace(&mut self.rng, &mut tree, start_ns),
        }
        tree.propagate_errors(&mut self.rng);
        let late = self.options.late_fraction > 0.0
            && tree.nodes.len() > 1
            && values::chance(&mut self.rng, self.options.late_fraction);
        let held = if late {
            tree.late_subtree(&mut self.rng)
        } else {
            Vec::new()
        };
        let mut spans = Vec::with_capacity(tree.nodes.len());
        let mut late_spans = Vec::new();
        for (i, n) in tree.nodes.into_iter().enumerate() {
            let g = GenSpan {
                resource: n.resource,
                scope: n.scope,
                span: n.span,
            };
            if held.get(i).copied().unwrap_or(false) {
                late_spans.push(g);
            } else {
                spans.push(g);
            }
        }
        Trace {
            id,
            spans,
            late: late_spans,
        }
    }

    pub fn resources(&self) -> &[Resource] {
        &self.registry.resources
    }

    pub fn scopes(&self) -> &[InstrumentationScope] {
        &self.registry.scopes
    }

    /// An OTLP request holding `spans`, grouped by resource and then scope (in index order,
    /// so the same spans always encode the same way).
    pub fn request(&self, spans: impl IntoIterator<Item = GenSpan>) -> ExportTraceServiceRequest {
        let mut groups: BTreeMap<u32, BTreeMap<u32, Vec<Span>>> = BTreeMap::new();
        for g in spans {
            groups
                .entry(g.resource)
                .or_default()
                .entry(g.scope)
                .or_default()
                .push(g.span);
        }
        ExportTraceServiceRequest {
            resource_spans: groups
                .into_iter()
                .map(|(r, scopes)| ResourceSpans {
                    resource: Some(self.registry.resources[r as usize].clone()),
                    scope_spans: scopes
                        .into_iter()
                        .map(|(s, spans)| ScopeSpans {
                            scope: Some(self.registry.scopes[s as usize].clone()),
                            spans,
                            schema_url: "https://opentelemetry.io/schemas/1.26.0".into(),
                        })
                        .collect(),
                    schema_url: "https://opentelemetry.io/schemas/1.26.0".into(),
                })
                .collect(),
        }
    }
}

/// Cuts a stream of spans into batches of at most `max` spans, as an SDK's or collector's
/// batch processor does: spans of many traces share a batch, a big trace spans many.
pub struct Batcher {
    max: usize,
    pending: VecDeque<GenSpan>,
}

impl Batcher {
    pub fn new(max: usize) -> Self {
        Self {
            max: max.max(1),
            pending: VecDeque::new(),
        }
    }

    pub fn push(&mut self, spans: impl IntoIterator<Item = GenSpan>) {
        self.pending.extend(spans);
    }

    /// The next full batch, if there is one.
    pub fn full(&mut self) -> Option<Vec<GenSpan>> {
        (self.pending.len() >= self.max).then(|| self.pending.drain(..self.max).collect())
    }

    /// Whatever is left (at most one batch), e.g. at the end.
    pub fn rest(&mut self) -> Option<Vec<GenSpan>> {
        if self.pending.is_empty() {
            return None;
        }
        let n = self.pending.len().min(self.max);
        Some(self.pending.drain(..n).collect())
    }

    pub fn pending(&self) -> usize {
        self.pending.len()
    }
}

/// Resources and instrumentation scopes, each stored once and referred to by index.
#[derive(Default)]
pub(crate) struct Registry {
    resources: Vec<Resource>,
    scopes: Vec<InstrumentationScope>,
}

impl Registry {
    pub(crate) fn resource(&mut self, attributes: Vec<KeyValue>) -> u32 {
        self.resources.push(Resource {
            attributes,
            ..Default::default()
        });
        (self.resources.len() - 1) as u32
    }

    pub(crate) fn scope(&mut self, name: &str, version: &str) -> u32 {
        if let Some(i) = self
            .scopes
            .iter()
            .position(|s| s.name == name && s.version == version)
        {
            return i as u32;
        }
        self.scopes.push(InstrumentationScope {
            name: name.into(),
            version: version.into(),
            ..Default::default()
        });
        (self.scopes.len() - 1) as u32
    }
}

pub(crate) const KIND_INTERNAL: i32 = 1;
pub(crate) const KIND_SERVER: i32 = 2;
pub(crate) const KIND_CLIENT: i32 = 3;
pub(crate) const KIND_PRODUCER: i32 = 4;
pub(crate) const KIND_CONSUMER: i32 = 5;

pub(crate) struct Node {
    pub parent: Option<usize>,
    pub depth: u32,
    pub resource: u32,
    pub scope: u32,
    /// The error started here (it has an exception event), as opposed to being passed up.
    pub error: bool,
    pub span: Span,
}

/// A trace being built: nodes in creation order, a parent always before its children.
pub(crate) struct Tree {
    pub id: [u8; 16],
    pub nodes: Vec<Node>,
}

/// What [`Tree::add`] needs for a span.
pub(crate) struct NewSpan {
    pub parent: Option<usize>,
    pub resource: u32,
    pub scope: u32,
    pub name: String,
    pub kind: i32,
    pub start: u64,
    pub end: u64,
    pub attributes: Vec<KeyValue>,
}

impl Tree {
    fn new(id: [u8; 16]) -> Self {
        Self {
            id,
            nodes: Vec::new(),
        }
    }

    pub fn add(&mut self, s: NewSpan, rng: &mut StdRng) -> usize {
        let (parent_id, depth) = match s.parent {
            Some(p) => (self.nodes[p].span.span_id.clone(), self.nodes[p].depth + 1),
            None => (Vec::new(), 1),
        };
        self.nodes.push(Node {
            parent: s.parent,
            depth,
            resource: s.resource,
            scope: s.scope,
            error: false,
            span: Span {
                trace_id: self.id.to_vec(),
                span_id: values::span_id(rng).to_vec(),
                parent_span_id: parent_id,
                name: s.name,
                kind: s.kind,
                start_time_unix_nano: s.start,
                end_time_unix_nano: s.end.max(s.start + 1),
                attributes: s.attributes,
                ..Default::default()
            },
        });
        self.nodes.len() - 1
    }

    pub fn start(&self, i: usize) -> u64 {
        self.nodes[i].span.start_time_unix_nano
    }

    pub fn end(&self, i: usize) -> u64 {
        self.nodes[i].span.end_time_unix_nano
    }

    /// Marks span `i` as failed here: error status with `message`, and an `exception` event
    /// with type, message and stack trace.
    pub fn fail(&mut self, i: usize, ty: String, message: String, stack: String) {
        let n = &mut self.nodes[i];
        n.error = true;
        n.span.status = Some(Status {
            code: 2,
            message: message.clone(),
        });
        let at = n.span.end_time_unix_nano.saturating_sub(1_000);
        n.span.events.push(arbor_model::otlp::Event {
            time_unix_nano: at.max(n.span.start_time_unix_nano),
            name: "exception".into(),
            attributes: vec![
                kv("exception.type", ty),
                kv("exception.message", message),
                kv("exception.stacktrace", stack),
                kv("exception.escaped", false),
            ],
            dropped_attributes_count: 0,
        });
    }

    /// Passes errors up: a failed server span fails the client (or gateway) span that called
    /// it; a failed call fails the server span that made it half the time (the rest recover,
    /// e.g. by retrying or falling back).
    fn propagate_errors(&mut self, rng: &mut StdRng) {
        for i in (1..self.nodes.len()).rev() {
            let failed = self.nodes[i]
                .span
                .status
                .as_ref()
                .is_some_and(|s| s.code == 2);
            let Some(p) = self.nodes[i].parent else {
                continue;
            };
            if !failed
                || self.nodes[p]
                    .span
                    .status
                    .as_ref()
                    .is_some_and(|s| s.code == 2)
            {
                continue;
            }
            let child_kind = self.nodes[i].span.kind;
            let parent_kind = self.nodes[p].span.kind;
            let passes = match (child_kind, parent_kind) {
                (KIND_SERVER, KIND_CLIENT | KIND_SERVER) => true,
                (KIND_CLIENT | KIND_INTERNAL, KIND_SERVER | KIND_CONSUMER) => {
                    values::chance(rng, 0.5)
                }
                _ => false,
            };
            if passes {
                let span = &mut self.nodes[p].span;
                span.status = Some(Status {
                    code: 2,
                    message: String::new(),
                });
                for a in &mut span.attributes {
                    let v = a.value.as_mut().and_then(|v| v.value.as_mut());
                    match (a.key.as_str(), v) {
                        (
                            "http.response.status_code" | "http.status_code",
                            Some(any_value::Value::IntValue(code)),
                        ) if *code < 500 => {
                            *code = if parent_kind == KIND_SERVER { 500 } else { 502 }
                        }
                        ("rpc.grpc.status_code", Some(any_value::Value::IntValue(code))) => {
                            *code = 14
                        }
                        _ => {}
                    }
                }
            }
        }
    }

    /// Picks a subtree (never the root) to send late; returns a mask over the nodes.
    fn late_subtree(&self, rng: &mut StdRng) -> Vec<bool> {
        let pick = rand::Rng::random_range(rng, 1..self.nodes.len());
        let mut held = vec![false; self.nodes.len()];
        held[pick] = true;
        for i in pick + 1..self.nodes.len() {
            if let Some(p) = self.nodes[i].parent {
                held[i] = held[p];
            }
        }
        held
    }
}

/// An attribute from anything that makes a value.
pub(crate) fn kv(key: &str, value: impl Into<Value>) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(value.into().0),
        }),
        ..Default::default()
    }
}

pub(crate) struct Value(any_value::Value);

impl From<String> for Value {
    fn from(v: String) -> Self {
        Value(any_value::Value::StringValue(v))
    }
}
impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Value(any_value::Value::StringValue(v.into()))
    }
}
impl From<&String> for Value {
    fn from(v: &String) -> Self {
        Value(any_value::Value::StringValue(v.clone()))
    }
}
impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Value(any_value::Value::IntValue(v))
    }
}
impl From<bool> for Value {
    fn from(v: bool) -> Self {
        Value(any_value::Value::BoolValue(v))
    }
}
impl From<f64> for Value {
    fn from(v: f64) -> Self {
        Value(any_value::Value::DoubleValue(v))
    }
}

#[cfg(test)]
mod tests;
