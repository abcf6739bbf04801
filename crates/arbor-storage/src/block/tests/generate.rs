//! Seeded span generators for the block tests: "rich" spans that exercise every corner of
//! OTLP, and "realistic" spans for size measurements. The random generator is defined here
//! (splitmix64) so the same seed gives the same spans forever.

use std::sync::Arc;

use arbor_model::TraceId;
use arbor_model::otlp::{
    AnyValue, ArrayValue, Event, InstrumentationScope, KeyValue, KeyValueList, Link, Resource,
    Span, Status, any_value::Value,
};
use opentelemetry_proto::tonic::common::v1::EntityRef;

use crate::head::{HeadSpan, ResourceEntry, ScopeEntry};

pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next_u64() % n }
    }

    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi - lo + 1)
    }

    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }

    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next_u64() as u8).collect()
    }

    pub fn nonzero_bytes<const N: usize>(&mut self) -> [u8; N] {
        loop {
            let mut b = [0u8; N];
            for x in b.iter_mut() {
                *x = self.next_u64() as u8;
            }
            if b != [0u8; N] {
                return b;
            }
        }
    }

    pub fn hex(&mut self, n: usize) -> String {
        self.bytes(n).iter().map(|b| format!("{b:02x}")).collect()
    }
}

pub fn kv(key: &str, value: Option<Value>) -> KeyValue {
    KeyValue {
        key: key.to_string(),
        value: Some(AnyValue { value }),
        ..Default::default()
    }
}

pub fn s(v: &str) -> Option<Value> {
    Some(Value::StringValue(v.to_string()))
}

pub fn i(v: i64) -> Option<Value> {
    Some(Value::IntValue(v))
}

const RICH_STRINGS: &[&str] = &[
    "",
    "GET",
    "/api/users/{id}",
    "héllo wörld 🌲",
    "日本語のテキスト",
    "line\nbreak\ttab",
    "nul\0inside",
    "a much longer value that goes on and on to exercise the plain encoding of longer strings in the generic list",
];

const RICH_KEYS: &[&str] = &[
    "http.route",
    "http.route",
    "http.method",
    "http.method",
    "user.id",
    "db.statement",
    "",
    "ключ",
    "key with spaces",
    "n",
];

fn rich_double(r: &mut Rng) -> f64 {
    match r.below(8) {
        0 => f64::NAN,
        1 => f64::from_bits(0x7ff8_0000_dead_beef),
        2 => -0.0,
        3 => f64::INFINITY,
        4 => f64::NEG_INFINITY,
        5 => f64::MIN_POSITIVE / 3.0,
        _ => (r.next_u64() as i64) as f64 / 1e3,
    }
}

pub fn rich_value(r: &mut Rng, depth: u32) -> Option<Value> {
    let kinds = if depth >= 3 { 7 } else { 10 };
    match r.below(kinds) {
        0 | 1 => Some(Value::StringValue(if r.chance(20) {
            let n = r.range(0, 12) as usize;
            r.hex(n)
        } else {
            r.pick(RICH_STRINGS).to_string()
        })),
        2 => Some(Value::BoolValue(r.chance(50))),
        3 => Some(Value::IntValue(match r.below(4) {
            0 => i64::MIN,
            1 => i64::MAX,
            2 => 0,
            _ => r.next_u64() as i64,
        })),
        4 => Some(Value::DoubleValue(rich_double(r))),
        5 => {
            let n = r.below(5) as usize;
            Some(Value::BytesValue(r.bytes(n)))
        }
        6 => {
            if r.chance(50) {
                None
            } else {
                Some(Value::StringValueStrindex(r.below(100) as i32))
            }
        }
        7 | 8 => Some(Value::ArrayValue(ArrayValue {
            values: (0..r.below(4))
                .map(|_| AnyValue {
                    value: rich_value(r, depth + 1),
                })
                .collect(),
        })),
        _ => Some(Value::KvlistValue(KeyValueList {
            values: (0..r.below(4)).map(|_| rich_kv(r, depth + 1)).collect(),
        })),
    }
}

pub fn rich_kv(r: &mut Rng, depth: u32) -> KeyValue {
    let key = r.pick(RICH_KEYS).to_string();
    match r.below(40) {
        0 => KeyValue {
            key,
            value: None,
            ..Default::default()
        },
        1 => KeyValue {
            key: String::new(),
            value: Some(AnyValue {
                value: rich_value(r, depth),
            }),
            key_strindex: r.range(1, 50) as i32,
        },
        // Frequent keys with plain strings, so dedicated columns get chosen.
        2..=16 => kv(
            ["http.route", "http.method", "user.id"][r.below(3) as usize],
            Some(Value::StringValue(r.pick(RICH_STRINGS).to_string())),
        ),
        _ => KeyValue {
            key,
            value: Some(AnyValue {
                value: rich_value(r, depth),
            }),
            ..Default::default()
        },
    }
}

fn rich_attrs(r: &mut Rng, max: u64) -> Vec<KeyValue> {
    (0..r.below(max + 1)).map(|_| rich_kv(r, 0)).collect()
}

/// Resources and scopes the rich spans draw from; some are equal in content but separate
/// `Arc`s, to exercise de-duplication.
pub struct Pools {
    pub resources: Vec<Arc<ResourceEntry>>,
    pub scopes: Vec<Arc<ScopeEntry>>,
}

pub fn rich_pools(r: &mut Rng) -> Pools {
    let svc = |name: &str| ResourceEntry {
        resource: Some(Resource {
            attributes: vec![
                kv("host.name", s("host-1")),
                kv("service.name", s(name)),
                kv("deployment.environment", s("prod")),
                kv("process.pid", i(4242)),
            ],
            dropped_attributes_count: 0,
            entity_refs: vec![],
        }),
        schema_url: "https://opentelemetry.io/schemas/1.24.0".into(),
    };
    let mut resources = vec![
        Arc::new(svc("checkout")),
        Arc::new(svc("checkout")),
        Arc::new(svc("cart")),
        Arc::new(ResourceEntry {
            resource: None,
            schema_url: String::new(),
        }),
        Arc::new(ResourceEntry {
            resource: Some(Resource::default()),
            schema_url: String::new(),
        }),
        Arc::new(ResourceEntry {
            resource: Some(Resource {
                attributes: vec![
                    kv("service.name", i(7)),
                    kv("service.namespace", s("shop")),
                    kv("service.name", s("second")),
                    kv("deployment.environment.name", s("")),
                ],
                dropped_attributes_count: 3,
                entity_refs: vec![EntityRef {
                    schema_url: "u".into(),
                    r#type: "service".into(),
                    id_keys: vec!["service.name".into()],
                    description_keys: vec![],
                }],
            }),
            schema_url: "s".into(),
        }),
    ];
    resources.push(Arc::new(ResourceEntry {
        resource: Some(Resource {
            attributes: rich_attrs(r, 6),
            dropped_attributes_count: 1,
            entity_refs: vec![],
        }),
        schema_url: String::new(),
    }));
    let scopes = vec![
        Arc::new(ScopeEntry {
            scope: None,
            schema_url: String::new(),
        }),
        Arc::new(ScopeEntry {
            scope: Some(InstrumentationScope::default()),
            schema_url: "x".into(),
        }),
        Arc::new(ScopeEntry {
            scope: Some(InstrumentationScope {
                name: "io.opentelemetry.http".into(),
                version: "1.2.3".into(),
                attributes: rich_attrs(r, 3),
                dropped_attributes_count: 2,
            }),
            schema_url: String::new(),
        }),
        Arc::new(ScopeEntry {
            scope: Some(InstrumentationScope {
                name: "io.opentelemetry.http".into(),
                version: "1.2.3".into(),
                attributes: vec![],
                dropped_attributes_count: 0,
            }),
            schema_url: String::new(),
        }),
    ];
    Pools { resources, scopes }
}

/// One trace of rich spans.
pub fn rich_trace(r: &mut Rng, pools: &Pools, id: TraceId, n: usize) -> Vec<HeadSpan> {
    let ids: Vec<[u8; 8]> = (0..n).map(|_| r.nonzero_bytes::<8>()).collect();
    let base = r.range(1_600_000_000_000_000_000, 1_700_000_000_000_000_000);
    (0..n)
        .map(|k| {
            let start = if r.chance(5) {
                0
            } else {
                base + r.below(10_000_000_000)
            };
            let end = match r.below(20) {
                0 => start,
                1 => start.saturating_sub(5),
                2 => u64::MAX,
                _ => start + r.below(5_000_000_000),
            };
            let parent = match r.below(4) {
                0 => Vec::new(),
                1 => r.nonzero_bytes::<8>().to_vec(),
                _ if k > 0 => ids[r.below(k as u64) as usize].to_vec(),
                _ => Vec::new(),
            };
            let span = Span {
                trace_id: id.0.to_vec(),
                span_id: ids[k].to_vec(),
                trace_state: if r.chance(20) {
                    "vendor=1,x=y".into()
                } else {
                    String::new()
                },
                parent_span_id: parent,
                flags: if r.chance(30) { r.next_u64() as u32 } else { 1 },
                name: if r.chance(10) {
                    r.hex(4)
                } else {
                    r.pick(RICH_STRINGS).to_string()
                },
                kind: if r.chance(3) { 99 } else { r.below(6) as i32 },
                start_time_unix_nano: start,
                end_time_unix_nano: end,
                attributes: rich_attrs(r, 12),
                dropped_attributes_count: if r.chance(10) {
                    r.below(1000) as u32
                } else {
                    0
                },
                events: (0..r.below(3))
                    .map(|_| Event {
                        time_unix_nano: start + r.below(1000),
                        name: r.pick(RICH_STRINGS).to_string(),
                        attributes: rich_attrs(r, 4),
                        dropped_attributes_count: r.below(3) as u32,
                    })
                    .collect(),
                dropped_events_count: r.below(2) as u32,
                links: (0..r.below(3))
                    .map(|_| Link {
                        trace_id: r.nonzero_bytes::<16>().to_vec(),
                        span_id: r.nonzero_bytes::<8>().to_vec(),
                        trace_state: if r.chance(50) {
                            "a=b".into()
                        } else {
                            String::new()
                        },
                        attributes: rich_attrs(r, 3),
                        dropped_attributes_count: r.below(2) as u32,
                        flags: r.below(4) as u32,
                    })
                    .collect(),
                dropped_links_count: r.below(2) as u32,
                status: match r.below(5) {
                    0 => None,
                    1 => Some(Status::default()),
                    2 => Some(Status {
                        message: "boom: ünïcode".into(),
                        code: 2,
                    }),
                    3 => Some(Status {
                        message: String::new(),
                        code: if r.chance(50) { 1 } else { 42 },
                    }),
                    _ => Some(Status {
                        message: "ok".into(),
                        code: 0,
                    }),
                },
            };
            HeadSpan {
                resource: r.pick(&pools.resources).clone(),
                scope: r.pick(&pools.scopes).clone(),
                span,
            }
        })
        .collect()
}

/// `traces` rich traces sorted by ID; sizes vary from 1 to `max_spans`.
pub fn rich_traces(seed: u64, traces: usize, max_spans: u64) -> Vec<(TraceId, Vec<HeadSpan>)> {
    let mut r = Rng::new(seed);
    let pools = rich_pools(&mut r);
    let mut out: Vec<(TraceId, Vec<HeadSpan>)> = (0..traces)
        .map(|_| {
            let id = TraceId(r.nonzero_bytes::<16>());
            let n = r.range(1, max_spans) as usize;
            (id, rich_trace(&mut r, &pools, id, n))
        })
        .collect();
    out.sort_by_key(|(id, _)| *id);
    out.dedup_by_key(|(id, _)| *id);
    out
}

const SERVICES: &[&str] = &[
    "frontend",
    "checkout",
    "cart",
    "payment",
    "shipping",
    "currency",
    "email",
    "recommendation",
    "ad",
    "catalog",
    "auth",
    "inventory",
];
const ROUTES: &[&str] = &[
    "/api/users/{id}",
    "/api/users/{id}/orders",
    "/api/orders/{id}",
    "/api/cart",
    "/api/cart/items/{item}",
    "/api/checkout",
    "/api/products",
    "/api/products/{id}",
    "/api/recommendations",
    "/api/ads",
    "/api/currency/convert",
    "/api/shipping/quote",
    "/health",
    "/api/login",
    "/api/payments/{id}/capture",
];
const METHODS: &[&str] = &["GET", "GET", "GET", "POST", "PUT", "DELETE"];
const AGENTS: &[&str] = &[
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_2) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.2 Safari/605.1.15",
    "okhttp/4.12.0",
    "python-requests/2.31.0",
    "Go-http-client/1.1",
];
const TABLES: &[&str] = &[
    "orders",
    "users",
    "products",
    "carts",
    "payments",
    "shipments",
];

/// Realistic resources: every service runs on a few pods.
fn realistic_resources(r: &mut Rng) -> Vec<Vec<Arc<ResourceEntry>>> {
    SERVICES
        .iter()
        .map(|svc| {
            (0..r.range(2, 4))
                .map(|_| {
                    let pod = format!("{svc}-{}-{}", r.hex(5), r.hex(3));
                    Arc::new(ResourceEntry {
                        resource: Some(Resource {
                            attributes: vec![
                                kv("service.name", s(svc)),
                                kv("service.namespace", s("shop")),
                                kv("service.version", s("2.4.1")),
                                kv("deployment.environment", s("production")),
                                kv("host.name", s(&pod)),
                                kv("k8s.pod.name", s(&pod)),
                                kv("k8s.namespace.name", s("shop")),
                                kv("cloud.provider", s("aws")),
                                kv("cloud.region", s("eu-west-1")),
                                kv("telemetry.sdk.name", s("opentelemetry")),
                                kv("telemetry.sdk.language", s("java")),
                                kv("telemetry.sdk.version", s("1.32.0")),
                                kv("process.pid", i(r.range(1, 60_000) as i64)),
                            ],
                            dropped_attributes_count: 0,
                            entity_refs: vec![],
                        }),
                        schema_url: "https://opentelemetry.io/schemas/1.21.0".into(),
                    })
                })
                .collect()
        })
        .collect()
}

fn scope(name: &str) -> Arc<ScopeEntry> {
    Arc::new(ScopeEntry {
        scope: Some(InstrumentationScope {
            name: name.into(),
            version: "1.32.0-alpha".into(),
            attributes: vec![],
            dropped_attributes_count: 0,
        }),
        schema_url: String::new(),
    })
}

/// About `spans` realistic spans (random IDs, ~10 attributes each including IDs and URLs)
/// in traces of 3–40 spans starting within ten minutes, sorted by trace ID.
pub fn realistic_traces(seed: u64, spans: usize) -> Vec<(TraceId, Vec<HeadSpan>)> {
    let mut r = Rng::new(seed);
    let resources = realistic_resources(&mut r);
    let http_scope = scope("io.opentelemetry.tomcat-10.0");
    let client_scope = scope("io.opentelemetry.okhttp-3.0");
    let db_scope = scope("io.opentelemetry.jdbc");
    let base: u64 = 1_718_000_000_000_000_000;
    let mut out = Vec::new();
    let mut total = 0;
    while total < spans {
        let id = TraceId(r.nonzero_bytes::<16>());
        let n = r.range(3, 40) as usize;
        let trace_start = base + r.below(600_000_000_000);
        let user = format!("u-{}", r.below(50_000));
        let session = r.hex(8);
        let mut list: Vec<HeadSpan> = Vec::with_capacity(n);
        // (span id, start, end, service index)
        let mut nodes: Vec<([u8; 8], u64, u64, usize)> = Vec::new();
        for k in 0..n {
            let span_id = r.nonzero_bytes::<8>();
            let (parent, pstart, pend, psvc) = if k == 0 {
                (
                    None,
                    trace_start,
                    trace_start + r.range(5_000_000, 2_000_000_000),
                    0,
                )
            } else {
                let p = nodes[r.below(nodes.len() as u64) as usize];
                (Some(p.0), p.1, p.2, p.3)
            };
            let span_len = pend - pstart;
            let start = pstart + r.below(span_len / 2 + 1);
            let end = start + r.below((pend - start).max(1)) + 1_000;
            let svc = if k == 0 || r.chance(40) {
                psvc
            } else {
                r.below(SERVICES.len() as u64) as usize
            };
            let resource = r.pick(&resources[svc]).clone();
            let route = *r.pick(ROUTES);
            let method = *r.pick(METHODS);
            let thread = r.range(1, 200);
            let request_id = format!(
                "{}-{}-{}-{}-{}",
                r.hex(4),
                r.hex(2),
                r.hex(2),
                r.hex(2),
                r.hex(6)
            );
            let error = r.chance(3);
            let status_code = if error {
                *r.pick(&[500, 502, 503])
            } else {
                *r.pick(&[200, 200, 200, 201, 204, 404])
            };
            let (name, kind, scope, attributes) = match r.below(10) {
                0..=3 => (
                    format!("{method} {route}"),
                    2,
                    http_scope.clone(),
                    vec![
                        kv("http.method", s(method)),
                        kv("http.route", s(route)),
                        kv(
                            "http.url",
                            s(&format!(
                                "https://{}.shop.example.com{}?session={session}&page={}",
                                SERVICES[svc],
                                route
                                    .replace("{id}", &r.below(1_000_000).to_string())
                                    .replace("{item}", &r.below(5000).to_string()),
                                r.below(20)
                            )),
                        ),
                        kv("http.status_code", i(status_code)),
                        kv(
                            "http.user_agent",
                            s(AGENTS[r.below(AGENTS.len() as u64) as usize]),
                        ),
                        kv(
                            "net.peer.ip",
                            s(&format!("10.0.{}.{}", r.below(256), r.below(256))),
                        ),
                        kv("user.id", s(&user)),
                        kv("request.id", s(&request_id)),
                        kv("thread.id", i(thread as i64)),
                        kv("thread.name", s(&format!("http-nio-8080-exec-{thread}"))),
                    ],
                ),
                4..=6 => (
                    method.to_string(),
                    3,
                    client_scope.clone(),
                    vec![
                        kv("http.method", s(method)),
                        kv(
                            "http.url",
                            s(&format!(
                                "http://{}:8080{}",
                                SERVICES[r.below(SERVICES.len() as u64) as usize],
                                route
                                    .replace("{id}", &r.below(1_000_000).to_string())
                                    .replace("{item}", &r.below(5000).to_string())
                            )),
                        ),
                        kv("http.status_code", i(status_code)),
                        kv(
                            "net.peer.name",
                            s(SERVICES[r.below(SERVICES.len() as u64) as usize]),
                        ),
                        kv("net.peer.port", i(8080)),
                        kv("user.id", s(&user)),
                        kv("request.id", s(&request_id)),
                        kv("thread.id", i(thread as i64)),
                        kv("thread.name", s(&format!("http-nio-8080-exec-{thread}"))),
                    ],
                ),
                _ => {
                    let table = *r.pick(TABLES);
                    let op = *r.pick(&["SELECT", "SELECT", "UPDATE", "INSERT"]);
                    (
                        format!("{op} shop.{table}"),
                        3,
                        db_scope.clone(),
                        vec![
                            kv("db.system", s("postgresql")),
                            kv("db.name", s("shop")),
                            kv("db.user", s("app")),
                            kv("db.operation", s(op)),
                            kv("db.sql.table", s(table)),
                            kv(
                                "db.statement",
                                s(&format!(
                                    "{op} id, user_id, status, total FROM {table} WHERE user_id = ? AND id = {} LIMIT {}",
                                    r.below(10_000_000),
                                    r.range(1, 100)
                                )),
                            ),
                            kv("net.peer.name", s("postgres.shop.svc.cluster.local")),
                            kv("net.peer.port", i(5432)),
                            kv("request.id", s(&request_id)),
                            kv("thread.id", i(thread as i64)),
                        ],
                    )
                }
            };
            let events = if error {
                vec![Event {
                    time_unix_nano: end - 500,
                    name: "exception".into(),
                    attributes: vec![
                        kv("exception.type", s("java.lang.IllegalStateException")),
                        kv(
                            "exception.message",
                            s(&format!("order {} not found", r.below(1_000_000))),
                        ),
                        kv(
                            "exception.stacktrace",
                            s(&format!(
                                "java.lang.IllegalStateException: order not found\n\tat com.shop.{}.Handler.handle(Handler.java:{})\n\tat com.shop.common.Dispatcher.dispatch(Dispatcher.java:88)\n\tat org.apache.catalina.core.StandardWrapperValve.invoke(StandardWrapperValve.java:197)",
                                SERVICES[svc],
                                r.range(10, 400)
                            )),
                        ),
                    ],
                    dropped_attributes_count: 0,
                }]
            } else {
                vec![]
            };
            list.push(HeadSpan {
                resource,
                scope,
                span: Span {
                    trace_id: id.0.to_vec(),
                    span_id: span_id.to_vec(),
                    trace_state: String::new(),
                    parent_span_id: parent.map(|p| p.to_vec()).unwrap_or_default(),
                    flags: 1,
                    name,
                    kind,
                    start_time_unix_nano: start,
                    end_time_unix_nano: end,
                    attributes,
                    dropped_attributes_count: 0,
                    events,
                    dropped_events_count: 0,
                    links: vec![],
                    dropped_links_count: 0,
                    status: Some(Status {
                        message: if error {
                            "Internal Server Error".into()
                        } else {
                            String::new()
                        },
                        code: if error { 2 } else { 0 },
                    }),
                },
            });
            nodes.push((span_id, start, end, svc));
        }
        total += n;
        out.push((id, list));
    }
    out.sort_by_key(|(id, _)| *id);
    out.dedup_by_key(|(id, _)| *id);
    out
}
