//! The `serverless` profile: an API gateway in front of AWS Lambda functions, tagged as a
//! serverless console's instrumentation tags them (`faas.*`, `cloud.*`, `service.namespace`,
//! `deployment.environment`, old and new `http.*` names). Functions call DynamoDB, S3 and
//! HTTP APIs, and some publish to SQS queues consumed by other functions.
//!
//! Rates per invocation: cold start ~5 %, error ~2 % (exception event, `faas.error`),
//! timeout ~0.5 % (`faas.error_timeout`, the span lasts the function's timeout).

use rand::Rng;
use rand::rngs::StdRng;

use crate::values::{self, Lang, chance};
use crate::{
    KIND_CLIENT, KIND_CONSUMER, KIND_INTERNAL, KIND_PRODUCER, KIND_SERVER, NewSpan, Registry, Tree,
    kv,
};

pub(crate) const COLD_START_RATE: f64 = 0.05;
pub(crate) const ERROR_RATE: f64 = 0.02;
pub(crate) const TIMEOUT_RATE: f64 = 0.005;

struct Function {
    name: String,
    lang: Lang,
    memory_mb: i64,
    timeout_s: u64,
    /// `(method, route)` for HTTP functions; `None` for queue consumers.
    route: Option<(&'static str, &'static str)>,
    /// The queue this function publishes to, and the consumer function's index.
    queue: Option<(String, usize)>,
    tables: Vec<&'static str>,
    instances: Vec<u32>,
    arn: String,
}

pub(crate) struct Topology {
    gateway: u32,
    gateway_scope: u32,
    faas_scope: u32,
    sdk_scope: u32,
    http_scope: u32,
    functions: Vec<Function>,
    region: &'static str,
    account: String,
    api_id: String,
}

const ROUTES: &[(&str, &str, &str)] = &[
    ("GET", "/orders/{id}", "getOrder"),
    ("POST", "/orders", "createOrder"),
    ("GET", "/products", "listProducts"),
    ("GET", "/products/{id}", "getProduct"),
    ("PUT", "/cart/{id}", "updateCart"),
    ("POST", "/checkout", "checkout"),
    ("POST", "/uploads", "createUpload"),
    ("GET", "/users/{id}/profile", "getProfile"),
    ("POST", "/webhooks/stripe", "stripeWebhook"),
    ("GET", "/search", "search"),
];

const CONSUMERS: &[&str] = &["processOrder", "sendEmail", "resizeImage", "syncInventory"];

impl Topology {
    pub(crate) fn new(rng: &mut StdRng, reg: &mut Registry) -> Self {
        let region =
            ["us-east-1", "eu-west-1", "eu-central-1", "us-west-2"][rng.random_range(0..4)];
        let account = format!(
            "{:012}",
            rng.random_range(100_000_000_000u64..999_999_999_999)
        );
        let app = ["shop", "bookings", "media"][rng.random_range(0..3)];
        let stage = "prod";
        let api_id = values::alnum(rng, 10).to_lowercase();
        let gateway = reg.resource(vec![
            kv("service.name", format!("{app}-{stage}-api")),
            kv("service.namespace", app),
            kv("deployment.environment", stage),
            kv("cloud.provider", "aws"),
            kv("cloud.platform", "aws_api_gateway"),
            kv("cloud.region", region),
            kv("cloud.account.id", account.as_str()),
            kv("aws.api_gateway.api_id", api_id.as_str()),
        ]);
        let n_http = rng.random_range(4..=8usize);
        let n_consumers = rng.random_range(2..=4usize);
        let mut functions = Vec::new();
        let mut route_order: Vec<usize> = (0..ROUTES.len()).collect();
        for i in (1..route_order.len()).rev() {
            route_order.swap(i, rng.random_range(0..=i));
        }
        let specs: Vec<(String, Option<(&'static str, &'static str)>)> = route_order[..n_http]
            .iter()
            .map(|&r| (ROUTES[r].2.to_string(), Some((ROUTES[r].0, ROUTES[r].1))))
            .chain(
                CONSUMERS[..n_consumers]
                    .iter()
                    .map(|c| (c.to_string(), None)),
            )
            .collect();
        for (short, route) in specs {
            let name = format!("{app}-{stage}-{short}");
            let lang = if chance(rng, 0.6) {
                Lang::Node
            } else {
                Lang::Python
            };
            let memory_mb = [128, 256, 512, 1024, 1769, 2048, 3008][rng.random_range(0..7)];
            let timeout_s = [6, 10, 15, 30][rng.random_range(0..4)];
            let runtime = match lang {
                Lang::Node => "nodejs20.x",
                _ => "python3.12",
            };
            let version = rng.random_range(1..120).to_string();
            let arn = format!("arn:aws:lambda:{region}:{account}:function:{name}");
            let instances = (0..rng.random_range(2..=5))
                .map(|_| {
                    reg.resource(vec![
                        kv("service.name", name.as_str()),
                        kv("service.namespace", app),
                        kv("deployment.environment", stage),
                        kv("cloud.provider", "aws"),
                        kv("cloud.platform", "aws_lambda"),
                        kv("cloud.region", region),
                        kv("cloud.account.id", account.as_str()),
                        kv("cloud.resource_id", arn.as_str()),
                        kv("faas.name", name.as_str()),
                        kv("faas.version", version.as_str()),
                        kv("faas.max_memory", memory_mb),
                        kv(
                            "faas.instance",
                            format!("2026/11/21/[{version}]{}", values::hex_chars(rng, 32)),
                        ),
                        kv("process.runtime.name", runtime),
                        kv("telemetry.sdk.language", lang.sdk()),
                        kv("telemetry.sdk.name", "opentelemetry"),
                        kv("telemetry.sdk.version", "1.27.0"),
                    ])
                })
                .collect();
            let tables = (0..rng.random_range(1..=3))
                .map(|_| {
                    [
                        "Orders", "Products", "Carts", "Users", "Sessions", "Uploads",
                    ][rng.random_range(0..6)]
                })
                .collect();
            functions.push(Function {
                name,
                lang,
                memory_mb,
                timeout_s,
                route,
                queue: None,
                tables,
                instances,
                arn,
            });
        }
        // Some HTTP functions publish to a queue that a consumer function drains.
        for f in functions.iter_mut().take(n_http) {
            if chance(rng, 0.5) {
                let c = n_http + rng.random_range(0..n_consumers);
                let q = format!("{app}-{stage}-{}-queue", CONSUMERS[c - n_http]);
                f.queue = Some((q, c));
            }
        }
        Self {
            gateway,
            gateway_scope: reg.scope("aws.api_gateway", "1.0"),
            faas_scope: reg.scope("@serverless/aws-lambda-otel-extension", "0.9.2"),
            sdk_scope: reg.scope("@opentelemetry/instrumentation-aws-sdk", "0.45.0"),
            http_scope: reg.scope("@opentelemetry/instrumentation-http", "0.53.0"),
            functions,
            region,
            account,
            api_id,
        }
    }

    pub(crate) fn trace(&self, rng: &mut StdRng, tree: &mut Tree, start: u64) {
        let http: Vec<usize> = (0..self.functions.len())
            .filter(|&i| self.functions[i].route.is_some())
            .collect();
        let f = http[values::skewed(rng, http.len() as u64) as usize];
        let (method, route) = self.functions[f].route.unwrap_or(("GET", "/"));
        let path = route.replace("{id}", &values::entity_id(rng).to_string());
        let request_id = values::uuid(rng);
        let gw = tree.add(
            NewSpan {
                parent: None,
                resource: self.gateway,
                scope: self.gateway_scope,
                name: format!("{method} {route}"),
                kind: KIND_SERVER,
                start,
                end: start + 1, // set once the function's end is known
                attributes: vec![
                    kv("http.method", method),
                    kv("http.request.method", method),
                    kv("http.path", path.as_str()),
                    kv("url.path", path),
                    kv("http.route", route),
                    kv("http.status_code", 200i64),
                    kv("http.response.status_code", 200i64),
                    kv("client.address", values::client_ip(rng)),
                    kv("user_agent.original", values::user_agent(rng)),
                    kv("aws.api_gateway.request_id", request_id.as_str()),
                    kv(
                        "server.address",
                        format!("{}.execute-api.{}.amazonaws.com", self.api_id, self.region),
                    ),
                    kv("enduser.id", values::user_id(rng, 500_000)),
                ],
            },
            rng,
        );
        let inv_start = start + rng.random_range(2_000_000..12_000_000u64);
        let inv_end = self.invocation(rng, tree, gw, f, inv_start, Some(&request_id));
        tree.nodes[gw].span.end_time_unix_nano = inv_end + rng.random_range(500_000..3_000_000u64);
    }

    /// One function invocation under `parent` (the gateway span or an SQS producer span);
    /// returns its end time.
    fn invocation(
        &self,
        rng: &mut StdRng,
        tree: &mut Tree,
        parent: usize,
        f: usize,
        start: u64,
        http_request: Option<&str>,
    ) -> u64 {
        let func = &self.functions[f];
        let cold = chance(rng, COLD_START_RATE);
        let roll: f64 = rng.random();
        let timeout = roll < TIMEOUT_RATE;
        let error = !timeout && roll < TIMEOUT_RATE + ERROR_RATE;
        let mut attrs = vec![
            kv("faas.invocation_id", values::uuid(rng)),
            kv("faas.execution", values::uuid(rng)),
            kv("faas.coldstart", cold),
            kv("faas.name", func.name.as_str()),
            kv("faas.max_memory", func.memory_mb),
            kv("cloud.resource_id", func.arn.as_str()),
            kv("cloud.account.id", self.account.as_str()),
        ];
        let (name, kind) = if let Some(req) = http_request {
            attrs.extend([
                kv("faas.trigger", "http"),
                kv("faas.event_type", "aws.apigateway.rest"),
                kv("aws.api_gateway.request_id", req),
                kv("http.status_code", 200i64),
            ]);
            (func.name.clone(), KIND_SERVER)
        } else {
            attrs.extend([
                kv("faas.trigger", "pubsub"),
                kv("faas.event_type", "aws.sqs"),
                kv("messaging.system", "aws_sqs"),
                kv("messaging.operation", "process"),
                kv("messaging.batch.message_count", rng.random_range(1..=10i64)),
            ]);
            (func.name.clone(), KIND_CONSUMER)
        };
        let resource = func.instances[rng.random_range(0..func.instances.len())];
        let init = if cold {
            values::lognormal_ns(rng, 350e6, 0.5)
        } else {
            0
        };
        let handler = values::lognormal_ns(rng, 60e6, 0.9);
        let limit = func.timeout_s * 1_000_000_000;
        let dur = if timeout {
            limit
        } else {
            (init + handler).min(limit - 1)
        };
        let used = (func.memory_mb as f64 * rng.random_range(0.25..0.95)) as i64;
        attrs.push(kv("faas.memory_used", used.max(40)));
        attrs.push(kv("faas.duration_ms", dur as f64 / 1e6));
        let inv = tree.add(
            NewSpan {
                parent: Some(parent),
                resource,
                scope: self.faas_scope,
                name,
                kind,
                start,
                end: start + dur,
                attributes: attrs,
            },
            rng,
        );
        if cold {
            tree.add(
                NewSpan {
                    parent: Some(inv),
                    resource,
                    scope: self.faas_scope,
                    name: "aws.lambda.initialization".into(),
                    kind: KIND_INTERNAL,
                    start,
                    end: start + init,
                    attributes: vec![kv("faas.coldstart", true)],
                },
                rng,
            );
        }
        // The handler's calls, one after another with a little work between.
        let mut t = start + init + rng.random_range(200_000..2_000_000u64);
        let end = start + dur;
        let calls = rng.random_range(1..=5);
        for k in 0..calls {
            if t >= end {
                break;
            }
            let last = k + 1 == calls;
            let queue = func
                .queue
                .as_ref()
                .filter(|_| last && http_request.is_some());
            let d = values::lognormal_ns(rng, 12e6, 0.8).min((end - t).max(2) - 1);
            if let Some((q, consumer)) = queue {
                self.sqs(rng, tree, inv, resource, q, *consumer, t, t + d);
            } else {
                match rng.random_range(0..10) {
                    0..=4 => self.dynamodb(rng, tree, inv, resource, f, t, t + d),
                    5..=7 => self.s3(rng, tree, inv, resource, t, t + d),
                    _ => self.http(rng, tree, inv, resource, t, t + d),
                }
            }
            t += d + rng.random_range(100_000..3_000_000u64);
        }
        if timeout {
            tree.nodes[inv]
                .span
                .attributes
                .push(kv("faas.error_timeout", true));
            let msg = format!("Task timed out after {}.00 seconds", func.timeout_s);
            tree.fail(inv, "Sandbox.Timedout".into(), msg.clone(), msg);
            set_status_code(tree, inv, 504);
        } else if error {
            let (ty, msg, stack) = values::exception(rng, func.lang, &func.name);
            tree.nodes[inv].span.attributes.push(kv("faas.error", true));
            tree.fail(inv, ty, msg, stack);
            set_status_code(tree, inv, 502);
        }
        end
    }

    #[allow(clippy::too_many_arguments)]
    fn dynamodb(
        &self,
        rng: &mut StdRng,
        tree: &mut Tree,
        p: usize,
        resource: u32,
        f: usize,
        s: u64,
        e: u64,
    ) {
        let func = &self.functions[f];
        let table = func.tables[rng.random_range(0..func.tables.len())];
        let op = ["GetItem", "GetItem", "Query", "PutItem", "UpdateItem"][rng.random_range(0..5)];
        tree.add(
            NewSpan {
                parent: Some(p),
                resource,
                scope: self.sdk_scope,
                name: format!("DynamoDB.{op}"),
                kind: KIND_CLIENT,
                start: s,
                end: e,
                attributes: vec![
                    kv("rpc.system", "aws-api"),
                    kv("rpc.service", "DynamoDB"),
                    kv("rpc.method", op),
                    kv("db.system", "dynamodb"),
                    kv("aws.dynamodb.table_names", table),
                    kv("aws.request_id", values::alnum(rng, 52).to_uppercase()),
                    kv("http.status_code", 200i64),
                    kv("cloud.region", self.region),
                ],
            },
            rng,
        );
    }

    fn s3(&self, rng: &mut StdRng, tree: &mut Tree, p: usize, resource: u32, s: u64, e: u64) {
        let op = ["GetObject", "PutObject", "HeadObject"][rng.random_range(0..3)];
        let key = format!(
            "uploads/{}/{}.{}",
            values::user_id(rng, 500_000),
            values::uuid(rng),
            ["jpg", "png", "pdf", "json"][rng.random_range(0..4)]
        );
        tree.add(
            NewSpan {
                parent: Some(p),
                resource,
                scope: self.sdk_scope,
                name: format!("S3.{op}"),
                kind: KIND_CLIENT,
                start: s,
                end: e,
                attributes: vec![
                    kv("rpc.system", "aws-api"),
                    kv("rpc.service", "S3"),
                    kv("rpc.method", op),
                    kv("aws.s3.bucket", format!("{}-assets", self.account)),
                    kv("aws.s3.key", key),
                    kv("aws.request_id", values::alnum(rng, 16).to_uppercase()),
                    kv("http.status_code", 200i64),
                ],
            },
            rng,
        );
    }

    fn http(&self, rng: &mut StdRng, tree: &mut Tree, p: usize, resource: u32, s: u64, e: u64) {
        let (host, path) = match rng.random_range(0..3) {
            0 => (
                "api.stripe.com",
                format!("/v1/payment_intents/pi_{}", values::alnum(rng, 24)),
            ),
            1 => ("api.sendgrid.com", "/v3/mail/send".to_string()),
            _ => (
                "maps.googleapis.com",
                format!("/maps/api/geocode/json?address={}", values::entity_id(rng)),
            ),
        };
        let method = if path.contains("geocode") {
            "GET"
        } else {
            "POST"
        };
        tree.add(
            NewSpan {
                parent: Some(p),
                resource,
                scope: self.http_scope,
                name: method.to_string(),
                kind: KIND_CLIENT,
                start: s,
                end: e,
                attributes: vec![
                    kv("http.method", method),
                    kv("http.request.method", method),
                    kv("url.full", format!("https://{host}{path}")),
                    kv("server.address", host),
                    kv("http.status_code", 200i64),
                    kv("http.response.status_code", 200i64),
                ],
            },
            rng,
        );
    }

    #[allow(clippy::too_many_arguments)]
    fn sqs(
        &self,
        rng: &mut StdRng,
        tree: &mut Tree,
        p: usize,
        resource: u32,
        queue: &str,
        consumer: usize,
        s: u64,
        e: u64,
    ) {
        let msg_id = values::uuid(rng);
        let producer = tree.add(
            NewSpan {
                parent: Some(p),
                resource,
                scope: self.sdk_scope,
                name: format!("{queue} send"),
                kind: KIND_PRODUCER,
                start: s,
                end: e,
                attributes: vec![
                    kv("rpc.system", "aws-api"),
                    kv("rpc.service", "SQS"),
                    kv("rpc.method", "SendMessage"),
                    kv("messaging.system", "aws_sqs"),
                    kv("messaging.destination.name", queue),
                    kv("messaging.operation", "publish"),
                    kv("messaging.message.id", msg_id.as_str()),
                    kv(
                        "messaging.url",
                        format!(
                            "https://sqs.{}.amazonaws.com/{}/{queue}",
                            self.region, self.account
                        ),
                    ),
                ],
            },
            rng,
        );
        let c_start = e + values::lognormal_ns(rng, 40e6, 1.0);
        let c = tree.nodes.len();
        self.invocation(rng, tree, producer, consumer, c_start, None);
        tree.nodes[c]
            .span
            .attributes
            .push(kv("messaging.message.id", msg_id));
        tree.nodes[c]
            .span
            .attributes
            .push(kv("messaging.destination.name", queue));
    }
}

fn set_status_code(tree: &mut Tree, i: usize, code: i64) {
    for a in &mut tree.nodes[i].span.attributes {
        if a.key == "http.status_code"
            && let Some(v) = a.value.as_mut()
        {
            *v = arbor_model::otlp::AnyValue {
                value: Some(arbor_model::otlp::any_value::Value::IntValue(code)),
            };
        }
    }
}
