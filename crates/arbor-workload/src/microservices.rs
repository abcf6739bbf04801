//! The `microservices` profile (and the `huge` one, which uses the same services): a web
//! shop of 10–30 services in layers, each calling services of later layers over HTTP or gRPC,
//! with databases, caches and Kafka topics. A trace is a fan-out tree grown from an entry
//! service to a given size and depth.

use arbor_model::otlp::KeyValue;
use rand::Rng;
use rand::rngs::StdRng;

use crate::values::{self, Lang, chance};
use crate::{
    KIND_CLIENT, KIND_CONSUMER, KIND_INTERNAL, KIND_PRODUCER, KIND_SERVER, NewSpan, Registry, Tree,
    kv,
};

const NAMES: &[&str] = &[
    "frontend",
    "api-gateway",
    "checkout",
    "cart",
    "payment",
    "shipping",
    "inventory",
    "catalog",
    "recommendation",
    "auth",
    "users",
    "notification",
    "email",
    "search",
    "pricing",
    "currency",
    "ads",
    "reviews",
    "fraud",
    "loyalty",
    "orders",
    "warehouse",
    "tax",
    "coupons",
    "sessions",
    "media",
    "analytics",
    "billing",
    "ledger",
    "reporting",
];

const INTERNAL_OPS: &[&str] = &[
    "validate request",
    "compute price",
    "serialize response",
    "render template",
    "apply discounts",
    "check feature flags",
    "load config",
    "map entities",
];

/// How many spans a microservices trace has: log-uniform over 5–60.
pub(crate) fn trace_size(rng: &mut StdRng) -> usize {
    let (lo, hi) = (5f64.ln(), 61f64.ln());
    (rng.random_range(lo..hi).exp() as usize).clamp(5, 60)
}

struct Op {
    /// HTTP method, or empty for gRPC.
    method: &'static str,
    /// HTTP route (`/api/orders/{id}`) or gRPC method name.
    route: String,
    with_id: bool,
}

struct Db {
    system: &'static str,
    name: String,
    tables: Vec<&'static str>,
    address: String,
}

struct Service {
    name: String,
    lang: Lang,
    grpc: bool,
    instances: Vec<u32>,
    ops: Vec<Op>,
    downstream: Vec<usize>,
    db: Option<Db>,
    cache: bool,
    /// A Kafka topic this service publishes to, and the service consuming it.
    topic: Option<(String, usize)>,
    server_scope: u32,
    client_scope: u32,
    db_scope: u32,
    cache_scope: u32,
    kafka_scope: u32,
    app_scope: u32,
}

pub(crate) struct Topology {
    services: Vec<Service>,
}

fn pascal(s: &str) -> String {
    s.split('-')
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        })
        .collect()
}

/// The name and the attributes a gRPC call of `op` on service `s` has on both sides.
fn grpc_call(s: &Service, op: &Op) -> (String, Vec<KeyValue>) {
    let svc_name = format!("shop.{}.{}Service", s.name, pascal(&s.name));
    (
        format!("{svc_name}/{}", op.route),
        vec![
            kv("rpc.system", "grpc"),
            kv("rpc.service", svc_name.as_str()),
            kv("rpc.method", op.route.as_str()),
            kv("rpc.grpc.status_code", 0i64),
            kv("server.address", s.name.as_str()),
            kv("server.port", 50051i64),
        ],
    )
}

impl Topology {
    pub(crate) fn new(rng: &mut StdRng, reg: &mut Registry) -> Self {
        let n = rng.random_range(10..=30usize);
        let mut names: Vec<&str> = NAMES[2..].to_vec();
        // Shuffle the non-entry names (Fisher–Yates) so seeds differ in their services.
        for i in (1..names.len()).rev() {
            names.swap(i, rng.random_range(0..=i));
        }
        let mut chosen = vec![NAMES[0], NAMES[1]];
        chosen.extend(names.into_iter().take(n - 2));
        let region =
            ["eu-west-1", "us-east-1", "us-west-2", "ap-southeast-1"][rng.random_range(0..4)];
        let mut services = Vec::with_capacity(n);
        for (i, name) in chosen.iter().enumerate() {
            let lang = [Lang::Java, Lang::Go, Lang::Node, Lang::Python][rng.random_range(0..4)];
            let entry = i < 2;
            let grpc = !entry && chance(rng, 0.4);
            let version = format!("1.{}.{}", rng.random_range(0..40), rng.random_range(0..20));
            let instances = (0..rng.random_range(2..=4))
                .map(|_| {
                    let pod = format!(
                        "{name}-{}-{}",
                        values::hex_chars(rng, 10),
                        values::alnum(rng, 5).to_lowercase()
                    );
                    reg.resource(vec![
                        kv("service.name", *name),
                        kv("service.namespace", "shop"),
                        kv("service.version", version.as_str()),
                        kv("service.instance.id", values::uuid(rng)),
                        kv("deployment.environment", "production"),
                        kv("host.name", pod.as_str()),
                        kv("k8s.namespace.name", "shop"),
                        kv("k8s.pod.name", pod),
                        kv(
                            "k8s.node.name",
                            format!(
                                "ip-10-0-{}-{}.{region}.compute.internal",
                                rng.random_range(0..64),
                                rng.random_range(1..255)
                            ),
                        ),
                        kv("cloud.provider", "aws"),
                        kv("cloud.region", region),
                        kv("telemetry.sdk.language", lang.sdk()),
                        kv("telemetry.sdk.name", "opentelemetry"),
                        kv("telemetry.sdk.version", "1.27.0"),
                    ])
                })
                .collect();
            let noun = name.trim_end_matches('s');
            let ops = (0..rng.random_range(3..=8))
                .map(|k| {
                    if grpc {
                        let verb = ["Get", "List", "Create", "Update", "Delete", "Check"]
                            [rng.random_range(0..6)];
                        Op {
                            method: "",
                            route: format!(
                                "{verb}{}{}",
                                pascal(noun),
                                if k > 5 { "s" } else { "" }
                            ),
                            with_id: verb != "List",
                        }
                    } else {
                        let method =
                            ["GET", "GET", "GET", "POST", "PUT", "DELETE"][rng.random_range(0..6)];
                        let with_id = method != "POST" && chance(rng, 0.7);
                        let sub = ["", "/items", "/status", "/history", "/summary"]
                            [rng.random_range(0..5)];
                        Op {
                            method,
                            route: if with_id {
                                format!("/api/v1/{name}/{{id}}{sub}")
                            } else {
                                format!("/api/v1/{name}{sub}")
                            },
                            with_id,
                        }
                    }
                })
                .collect();
            let db = (!entry && chance(rng, 0.55)).then(|| {
                let system =
                    ["postgresql", "postgresql", "mysql", "mongodb"][rng.random_range(0..4)];
                Db {
                    system,
                    name: name.replace('-', "_"),
                    tables: (0..rng.random_range(1..=4))
                        .map(|_| {
                            [
                                "orders",
                                "order_items",
                                "customers",
                                "products",
                                "payments",
                                "shipments",
                                "events",
                                "sessions",
                                "accounts",
                                "stock",
                            ][rng.random_range(0..10)]
                        })
                        .collect(),
                    address: format!("{name}-db-primary.shop.svc.cluster.local"),
                }
            });
            let lib = match lang {
                Lang::Java => "io.opentelemetry",
                Lang::Go => "go.opentelemetry.io/contrib/instrumentation",
                Lang::Node => "@opentelemetry/instrumentation",
                Lang::Python => "opentelemetry.instrumentation",
            };
            let scope =
                |reg: &mut Registry, what: &str| reg.scope(&format!("{lib}.{what}"), "0.53.0");
            services.push(Service {
                name: name.to_string(),
                lang,
                grpc,
                instances,
                ops,
                downstream: Vec::new(),
                db,
                cache: !entry && chance(rng, 0.35),
                topic: None,
                server_scope: scope(reg, if grpc { "grpc" } else { "http" }),
                client_scope: scope(reg, "http-client"),
                db_scope: scope(reg, "db"),
                cache_scope: scope(reg, "redis"),
                kafka_scope: scope(reg, "kafka"),
                app_scope: reg.scope(&format!("com.shop.{name}"), &version),
            });
        }
        // Calls go from a layer to later ones, so the call graph has no cycles.
        for (i, service) in services.iter_mut().enumerate() {
            let first = (i + 1).max(2);
            if first >= n {
                continue;
            }
            let k = if i < 2 {
                rng.random_range(2..=5)
            } else {
                rng.random_range(0..=4)
            };
            let mut down: Vec<usize> = (0..k).map(|_| rng.random_range(first..n)).collect();
            down.sort_unstable();
            down.dedup();
            service.downstream = down;
            if i >= 2 && chance(rng, 0.25) {
                let consumer = rng.random_range(2..n);
                if consumer != i {
                    service.topic = Some((format!("shop.{}.events", service.name), consumer));
                }
            }
        }
        Self { services }
    }

    fn instance(&self, rng: &mut StdRng, svc: usize) -> u32 {
        let s = &self.services[svc];
        s.instances[rng.random_range(0..s.instances.len())]
    }

    /// Grows a trace of `size` spans (give or take one) at most `max_depth` deep.
    pub(crate) fn trace(
        &self,
        rng: &mut StdRng,
        tree: &mut Tree,
        start: u64,
        size: usize,
        max_depth: u32,
    ) {
        let entry = if chance(rng, 0.7) { 0 } else { 1 };
        let median = if size > 1_000 { 20e9 } else { 40e6 };
        let dur = values::lognormal_ns(rng, median, 0.9);
        let user = values::user_id(rng, 200_000);
        let root = self.server(rng, tree, None, entry, start, start + dur, Some(&user));
        // Expandable spans: servers and consumers.
        let mut open = vec![root];
        // A first call so every trace is at least three spans deep.
        if max_depth >= 3 {
            let callee = self.services[entry].downstream
                [rng.random_range(0..self.services[entry].downstream.len())];
            if let Some(s) = self.call(rng, tree, root, callee) {
                open.push(s);
            }
        }
        while tree.nodes.len() < size && !open.is_empty() {
            let k = rng.random_range(0..open.len());
            let p = open[k];
            let depth = tree.nodes[p].depth;
            if depth >= max_depth {
                open.swap_remove(k);
                continue;
            }
            let svc = self.service_of(tree, p);
            let s = &self.services[svc];
            let room = size - tree.nodes.len();
            let pair = room >= 2 && depth + 2 <= max_depth;
            let roll = rng.random_range(0..100);
            if pair && roll < 45 && !s.downstream.is_empty() {
                let callee = s.downstream[rng.random_range(0..s.downstream.len())];
                if let Some(c) = self.call(rng, tree, p, callee) {
                    open.push(c);
                }
            } else if pair && roll < 52 && s.topic.is_some() {
                if let Some(c) = self.publish(rng, tree, p, svc) {
                    open.push(c);
                }
            } else if roll < 80 && s.db.is_some() {
                self.db(rng, tree, p, svc);
            } else if roll < 90 && s.cache {
                self.cache(rng, tree, p, svc);
            } else {
                self.internal(rng, tree, p, svc);
            }
        }
    }

    fn service_of(&self, tree: &Tree, i: usize) -> usize {
        let r = tree.nodes[i].resource;
        self.services
            .iter()
            .position(|s| s.instances.contains(&r))
            .unwrap_or(0)
    }

    /// A child interval inside span `p`'s: log-normal, a fraction of the parent.
    fn child_interval(rng: &mut StdRng, tree: &Tree, p: usize, median_frac: f64) -> (u64, u64) {
        let (ps, pe) = (tree.start(p), tree.end(p));
        let pd = (pe - ps).max(2);
        let d = values::lognormal_ns(rng, pd as f64 * median_frac, 0.7)
            .min(pd * 95 / 100)
            .max(1);
        let s = ps + rng.random_range(0..=(pd - d));
        (s, s + d)
    }

    #[allow(clippy::too_many_arguments)]
    fn server(
        &self,
        rng: &mut StdRng,
        tree: &mut Tree,
        parent: Option<usize>,
        svc: usize,
        start: u64,
        end: u64,
        user: Option<&str>,
    ) -> usize {
        let s = &self.services[svc];
        let op = &s.ops[values::skewed(rng, s.ops.len() as u64) as usize];
        let id = values::entity_id(rng);
        let (name, mut attrs) = if s.grpc {
            let (name, mut attrs) = grpc_call(s, op);
            attrs.push(kv("network.peer.address", values::pod_ip(rng)));
            (name, attrs)
        } else {
            let path = if op.with_id {
                op.route.replace("{id}", &id.to_string())
            } else {
                op.route.clone()
            };
            let mut a = vec![
                kv("http.request.method", op.method),
                kv("http.route", op.route.as_str()),
                kv("url.path", path),
                kv("url.scheme", "http"),
                kv("http.response.status_code", 200i64),
                kv("server.address", s.name.as_str()),
                kv("server.port", 8080i64),
                kv("network.protocol.version", "1.1"),
            ];
            if parent.is_none() {
                a.push(kv("client.address", values::client_ip(rng)));
                a.push(kv("user_agent.original", values::user_agent(rng)));
                a.push(kv("http.request.header.x-request-id", values::uuid(rng)));
            } else {
                a.push(kv("client.address", values::pod_ip(rng)));
            }
            (format!("{} {}", op.method, op.route), a)
        };
        if let Some(u) = user {
            attrs.push(kv("enduser.id", u));
            attrs.push(kv("session.id", values::hex_chars(rng, 32)));
        }
        let resource = self.instance(rng, svc);
        let i = tree.add(
            NewSpan {
                parent,
                resource,
                scope: s.server_scope,
                name,
                kind: KIND_SERVER,
                start,
                end,
                attributes: attrs,
            },
            rng,
        );
        if chance(rng, 0.012) {
            let (ty, msg, stack) = values::exception(rng, s.lang, &s.name);
            tree.fail(i, ty, msg, stack);
        } else if chance(rng, 0.03) {
            self.log_event(rng, tree, i);
        }
        i
    }

    fn log_event(&self, rng: &mut StdRng, tree: &mut Tree, i: usize) {
        let (s, e) = (tree.start(i), tree.end(i));
        let at = s + rng.random_range(0..=(e - s));
        let (name, attrs) = match rng.random_range(0..3) {
            0 => (
                "cache miss",
                vec![kv(
                    "cache.key",
                    format!("product:{}", values::entity_id(rng)),
                )],
            ),
            1 => (
                "retry",
                vec![
                    kv("retry.attempt", rng.random_range(1..4i64)),
                    kv("retry.reason", "connection reset by peer"),
                ],
            ),
            _ => (
                "feature flag evaluated",
                vec![
                    kv(
                        "feature_flag.key",
                        ["new-checkout", "dark-mode", "free-shipping"][rng.random_range(0..3)],
                    ),
                    kv("feature_flag.variant", chance(rng, 0.5)),
                ],
            ),
        };
        tree.nodes[i].span.events.push(arbor_model::otlp::Event {
            time_unix_nano: at,
            name: name.into(),
            attributes: attrs,
            dropped_attributes_count: 0,
        });
    }

    /// A client span in `p`'s service and the server span of `callee` under it; returns the
    /// server span.
    fn call(&self, rng: &mut StdRng, tree: &mut Tree, p: usize, callee: usize) -> Option<usize> {
        let caller = self.service_of(tree, p);
        let c = &self.services[callee];
        let (cs, ce) = Self::child_interval(rng, tree, p, 0.35);
        let op = &c.ops[values::skewed(rng, c.ops.len() as u64) as usize];
        let (name, attrs) = if c.grpc {
            let (name, mut attrs) = grpc_call(c, op);
            attrs.push(kv("peer.service", c.name.as_str()));
            (name, attrs)
        } else {
            let path = if op.with_id {
                op.route
                    .replace("{id}", &values::entity_id(rng).to_string())
            } else {
                op.route.clone()
            };
            (
                op.method.to_string(),
                vec![
                    kv("http.request.method", op.method),
                    kv("url.full", format!("http://{}:8080{path}", c.name)),
                    kv("http.response.status_code", 200i64),
                    kv("server.address", c.name.as_str()),
                    kv("server.port", 8080i64),
                    kv("peer.service", c.name.as_str()),
                ],
            )
        };
        let resource = self.instance(rng, caller);
        let client = tree.add(
            NewSpan {
                parent: Some(p),
                resource,
                scope: self.services[caller].client_scope,
                name,
                kind: KIND_CLIENT,
                start: cs,
                end: ce,
                attributes: attrs,
            },
            rng,
        );
        let lat = rng.random_range(50_000..800_000u64).min((ce - cs) / 10);
        Some(self.server(rng, tree, Some(client), callee, cs + lat, ce - lat, None))
    }

    /// A producer span for the service's topic and the consumer span in the consuming
    /// service after it (asynchronous: the consumer starts after the producer ends).
    fn publish(&self, rng: &mut StdRng, tree: &mut Tree, p: usize, svc: usize) -> Option<usize> {
        let s = &self.services[svc];
        let (topic, consumer) = s.topic.as_ref()?;
        let (ps, pe) = Self::child_interval(rng, tree, p, 0.05);
        let msg_id = values::uuid(rng);
        let key = values::entity_id(rng).to_string();
        let resource = self.instance(rng, svc);
        let partition = rng.random_range(0..12i64);
        let producer = tree.add(
            NewSpan {
                parent: Some(p),
                resource,
                scope: s.kafka_scope,
                name: format!("{topic} publish"),
                kind: KIND_PRODUCER,
                start: ps,
                end: pe,
                attributes: vec![
                    kv("messaging.system", "kafka"),
                    kv("messaging.destination.name", topic.as_str()),
                    kv("messaging.operation", "publish"),
                    kv("messaging.message.id", msg_id.as_str()),
                    kv("messaging.kafka.message.key", key.as_str()),
                    kv("messaging.kafka.destination.partition", partition),
                ],
            },
            rng,
        );
        let cstart = pe + values::lognormal_ns(rng, 3e6, 1.0);
        let cend = cstart + values::lognormal_ns(rng, 25e6, 0.8);
        let cs = &self.services[*consumer];
        let resource = self.instance(rng, *consumer);
        let c = tree.add(
            NewSpan {
                parent: Some(producer),
                resource,
                scope: cs.kafka_scope,
                name: format!("{topic} process"),
                kind: KIND_CONSUMER,
                start: cstart,
                end: cend,
                attributes: vec![
                    kv("messaging.system", "kafka"),
                    kv("messaging.destination.name", topic.as_str()),
                    kv("messaging.operation", "process"),
                    kv("messaging.message.id", msg_id),
                    kv("messaging.kafka.message.key", key),
                    kv("messaging.kafka.consumer.group", cs.name.as_str()),
                    kv("messaging.kafka.destination.partition", partition),
                    kv(
                        "messaging.kafka.message.offset",
                        rng.random_range(0..50_000_000i64),
                    ),
                ],
            },
            rng,
        );
        // A consumer that handles a batch links the other messages' traces.
        if chance(rng, 0.2) {
            for _ in 0..rng.random_range(1..=3) {
                tree.nodes[c].span.links.push(arbor_model::otlp::Link {
                    trace_id: values::trace_id(rng).to_vec(),
                    span_id: values::span_id(rng).to_vec(),
                    attributes: vec![kv("messaging.message.id", values::uuid(rng))],
                    ..Default::default()
                });
            }
        }
        Some(c)
    }

    fn db(&self, rng: &mut StdRng, tree: &mut Tree, p: usize, svc: usize) {
        let s = &self.services[svc];
        let Some(db) = &s.db else { return };
        let table = db.tables[rng.random_range(0..db.tables.len())];
        let op = ["SELECT", "SELECT", "SELECT", "INSERT", "UPDATE", "DELETE"]
            [values::skewed(rng, 6) as usize];
        let (name, statement) = if db.system == "mongodb" {
            let cmd = match op {
                "SELECT" => "find",
                "INSERT" => "insert",
                "UPDATE" => "update",
                _ => "delete",
            };
            (
                format!("{cmd} {}.{table}", db.name),
                format!(
                    "{{\"{cmd}\":\"{table}\",\"filter\":{{\"_id\":{{\"$oid\":\"{}\"}}}}}}",
                    values::hex_chars(rng, 24)
                ),
            )
        } else {
            (
                format!("{op} {}.{table}", db.name),
                values::sql(rng, table, op),
            )
        };
        let (st, en) = Self::child_interval(rng, tree, p, 0.08);
        let resource = self.instance(rng, svc);
        let i = tree.add(
            NewSpan {
                parent: Some(p),
                resource,
                scope: s.db_scope,
                name,
                kind: KIND_CLIENT,
                start: st,
                end: en,
                attributes: vec![
                    kv("db.system", db.system),
                    kv("db.name", db.name.as_str()),
                    kv("db.operation", op),
                    kv("db.sql.table", table),
                    kv("db.statement", statement),
                    kv("server.address", db.address.as_str()),
                    kv(
                        "server.port",
                        if db.system == "mysql" { 3306i64 } else { 5432 },
                    ),
                ],
            },
            rng,
        );
        if chance(rng, 0.006) {
            let (ty, msg, stack) = values::exception(rng, s.lang, &s.name);
            tree.fail(i, ty, msg, stack);
        }
    }

    fn cache(&self, rng: &mut StdRng, tree: &mut Tree, p: usize, svc: usize) {
        let s = &self.services[svc];
        let cmd = ["GET", "GET", "GET", "SET", "MGET", "EXPIRE"][rng.random_range(0..6)];
        let key = format!("{}:{}", s.name, values::user_id(rng, 200_000));
        let (st, en) = Self::child_interval(rng, tree, p, 0.01);
        let resource = self.instance(rng, svc);
        tree.add(
            NewSpan {
                parent: Some(p),
                resource,
                scope: s.cache_scope,
                name: cmd.to_string(),
                kind: KIND_CLIENT,
                start: st,
                end: en,
                attributes: vec![
                    kv("db.system", "redis"),
                    kv("db.statement", format!("{cmd} {key}")),
                    kv("db.redis.database_index", 0i64),
                    kv("server.address", "redis-master.shop.svc.cluster.local"),
                    kv("server.port", 6379i64),
                ],
            },
            rng,
        );
    }

    fn internal(&self, rng: &mut StdRng, tree: &mut Tree, p: usize, svc: usize) {
        let s = &self.services[svc];
        let op = INTERNAL_OPS[rng.random_range(0..INTERNAL_OPS.len())];
        let (st, en) = Self::child_interval(rng, tree, p, 0.1);
        let resource = self.instance(rng, svc);
        tree.add(
            NewSpan {
                parent: Some(p),
                resource,
                scope: s.app_scope,
                name: op.to_string(),
                kind: KIND_INTERNAL,
                start: st,
                end: en,
                attributes: vec![
                    kv(
                        "code.namespace",
                        format!("com.shop.{}", s.name.replace('-', ".")),
                    ),
                    kv("code.function", op.replace(' ', "_")),
                ],
            },
            rng,
        );
    }
}
