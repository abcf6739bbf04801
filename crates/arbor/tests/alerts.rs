//! Alerts on the real binary with a local webhook receiver: a latency regression, an error
//! burst, a TraceQL rule and a serverless cold-start rule go pending, fire with example
//! traces, and resolve; deliveries survive a receiver that is down, slow or failing; a
//! restart while firing neither loses nor repeats the alert.

use std::io::{BufReader, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arbor_model::otlp::{
    AnyValue, ExportTraceServiceRequest, KeyValue, Resource, ResourceSpans, ScopeSpans, Span,
    SpanKind, Status, StatusCode, any_value,
};
use arbor_model::time::now_unix_nanos as now_ns;
use arbor_testkit::TestServer;
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_arbor");
const MS: u64 = 1_000_000;

/// How the receiver answers.
const OK: u8 = 0;
const FAIL: u8 = 1;
const SLOW: u8 = 2;

/// One request the receiver took: its notification ID, body, and whether it answered 2xx
/// at once.
#[derive(Debug, Clone)]
struct Got {
    id: String,
    body: Value,
    accepted: bool,
}

struct Receiver {
    port: u16,
    mode: Arc<AtomicU8>,
    got: Arc<Mutex<Vec<Got>>>,
}

impl Receiver {
    fn start() -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let mode = Arc::new(AtomicU8::new(OK));
        let got = Arc::new(Mutex::new(Vec::new()));
        let (m, g) = (mode.clone(), got.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { continue };
                let (m, g) = (m.clone(), g.clone());
                std::thread::spawn(move || serve(conn, &m, &g));
            }
        });
        Receiver { port, mode, got }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/hook", self.port)
    }

    fn accepted(&self) -> Vec<Got> {
        self.got
            .lock()
            .unwrap()
            .iter()
            .filter(|g| g.accepted)
            .cloned()
            .collect()
    }
}

fn serve(conn: std::net::TcpStream, mode: &AtomicU8, got: &Mutex<Vec<Got>>) {
    let mut reader = BufReader::new(conn.try_clone().unwrap());
    let mut conn = conn;
    while let Some(req) = arbor_testkit::http::read_request(&mut reader) {
        let m = mode.load(Ordering::SeqCst);
        got.lock().unwrap().push(Got {
            id: req.header("x-arbor-notification-id").to_string(),
            body: serde_json::from_slice(&req.body).unwrap_or(Value::Null),
            accepted: m == OK,
        });
        let status = match m {
            OK => "200 OK",
            SLOW => {
                std::thread::sleep(Duration::from_secs(3));
                "200 OK"
            }
            _ => "500 Internal Server Error",
        };
        let resp = format!("HTTP/1.1 {status}\r\ncontent-length: 0\r\n\r\n");
        if conn.write_all(resp.as_bytes()).is_err() {
            return;
        }
    }
}

fn kv(k: &str, v: any_value::Value) -> KeyValue {
    KeyValue {
        key: k.into(),
        value: Some(AnyValue { value: Some(v) }),
        ..Default::default()
    }
}

fn s(k: &str, v: &str) -> KeyValue {
    kv(k, any_value::Value::StringValue(v.into()))
}

/// `n` root SERVER spans of `service` ending now, lasting `dur_ms`, failed or not.
fn servers(
    seed: u8,
    service: &str,
    n: u8,
    dur_ms: u64,
    failed: bool,
    attrs: Vec<KeyValue>,
) -> ExportTraceServiceRequest {
    let end = now_ns();
    let spans = (0..n)
        .map(|i| Span {
            trace_id: vec![
                seed,
                i,
                1,
                2,
                3,
                4,
                5,
                6,
                7,
                8,
                9,
                10,
                11,
                12,
                13,
                (now_ns() % 251) as u8,
            ],
            span_id: vec![1, 0, 0, 0, 0, 0, seed, i],
            name: "POST /orders".into(),
            kind: SpanKind::Server as i32,
            start_time_unix_nano: end - dur_ms * MS,
            end_time_unix_nano: end,
            attributes: attrs.clone(),
            status: failed.then(|| Status {
                code: StatusCode::Error as i32,
                message: "boom".into(),
            }),
            ..Default::default()
        })
        .collect();
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![s("service.name", service)],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                spans,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

fn rules(server: &TestServer) -> Value {
    let resp = server.get("/api/alerts/rules").unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    resp.json().unwrap()
}

fn rule_state(server: &TestServer, name: &str) -> Value {
    rules(server)["rules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == name)
        .cloned()
        .unwrap_or_else(|| panic!("no rule {name}"))
}

fn wait_until(what: &str, secs: u64, server: &TestServer, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !ok() {
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}; rules: {}\nlog:\n{}",
            rules(server),
            server.log()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn config(dir: &std::path::Path, receiver: &Receiver, rules: &str) -> (String, String) {
    let cfg = dir.join("arbor.toml");
    // A YAML rules file is named so.
    let name = if rules.starts_with("rules:") {
        "alerts.yaml"
    } else {
        "alerts.toml"
    };
    let rules_path = dir.join(name);
    std::fs::write(&rules_path, rules).unwrap();
    std::fs::write(
        &cfg,
        format!(
            "[alerts]\ninterval = \"1s\"\nrules_file = {:?}\n\n[[alerts.receivers]]\nname = \"hook\"\nurl = {:?}\ntimeout = \"1s\"\nmax_attempts = 20\n\n[derived]\nwait = \"1s\"\n",
            rules_path.to_str().unwrap(),
            receiver.url()
        ),
    )
    .unwrap();
    (
        cfg.to_str().unwrap().to_string(),
        rules_path.to_str().unwrap().to_string(),
    )
}

const RULES: &str = r#"
[[rules]]
name = "checkout p95"
kind = "latency"
service = "checkout"
quantile = 0.95
window = "15s"
above = "200ms"
for = "2s"
severity = "critical"
labels = { team = "shop" }
description = "p95 of {{service}} is {{value}} s (threshold {{threshold}})"

[[rules]]
name = "payments errors"
kind = "errors"
service = "payments"
measure = "rate"
window = "15s"
above = 0.5

[[rules]]
name = "slow exports"
kind = "traceql"
query = '{ span.job = "export" && duration > 1s }'
measure = "count"
window = "15s"
above = 2

[[rules]]
name = "resize cold starts"
kind = "serverless"
function = "resize"
measure = "cold_start_rate"
window = "15s"
above = 0.5

[[rules]]
name = "resize new errors"
kind = "serverless"
function = "resize"
measure = "new_errors"
window = "15s"
above = 0
"#;

#[test]
fn rules_go_pending_fire_with_examples_and_resolve() {
    let tmp = tempfile::tempdir().unwrap();
    let receiver = Receiver::start();
    let (cfg, _) = config(tmp.path(), &receiver, RULES);
    let server =
        TestServer::start_in(BIN, &tmp.path().join("data"), &["--config", &cfg], None).unwrap();

    // Healthy traffic: nothing fires.
    assert_eq!(
        server
            .export_http(&servers(1, "checkout", 5, 20, false, vec![]))
            .unwrap()
            .0,
        200
    );
    wait_until("a first evaluation", 10, &server, || {
        rule_state(&server, "checkout p95")["evaluatedAt"].is_i64()
    });
    assert_eq!(rule_state(&server, "checkout p95")["state"], "inactive");

    // The regression: 500 ms requests. Pending first (for = 2s), then firing.
    let injected = Instant::now();
    assert_eq!(
        server
            .export_http(&servers(2, "checkout", 20, 500, false, vec![]))
            .unwrap()
            .0,
        200
    );
    wait_until("pending", 10, &server, || {
        rule_state(&server, "checkout p95")["state"] == "pending"
    });
    wait_until("firing", 10, &server, || {
        rule_state(&server, "checkout p95")["state"] == "firing"
    });
    // Within for + one interval (+ the time to notice).
    assert!(
        injected.elapsed() < Duration::from_secs(2 + 1 + 3),
        "{:?}",
        injected.elapsed()
    );
    wait_until("the firing notification", 10, &server, || {
        receiver
            .accepted()
            .iter()
            .any(|g| g.body["rule"] == "checkout p95")
    });
    let firing = receiver
        .accepted()
        .into_iter()
        .find(|g| g.body["rule"] == "checkout p95")
        .unwrap();
    assert_eq!(firing.body["status"], "firing");
    assert_eq!(firing.body["severity"], "critical");
    assert_eq!(firing.body["labels"]["team"], "shop");
    assert_eq!(firing.body["threshold"], 0.2);
    assert!(firing.body["value"].as_f64().unwrap() > 0.2);
    assert!(firing.body["endsAt"].is_null());
    assert!(firing.id.ends_with("/firing"), "{}", firing.id);
    let examples = firing.body["exampleTraces"].as_array().unwrap();
    assert!(!examples.is_empty(), "{}", firing.body);
    // The example traces are the slow ones, and can be opened.
    let id = examples[0].as_str().unwrap();
    let (status, trace) = server.trace_json(id).unwrap();
    assert_eq!(status, 200, "{trace}");
    assert!(trace.to_string().contains("POST /orders"));

    // An error burst, a TraceQL match and cold starts: each fires (for = 0s).
    assert_eq!(
        server
            .export_http(&servers(3, "payments", 4, 10, true, vec![]))
            .unwrap()
            .0,
        200
    );
    assert_eq!(
        server
            .export_http(&servers(
                4,
                "exporter",
                3,
                1500,
                false,
                vec![s("job", "export")]
            ))
            .unwrap()
            .0,
        200
    );
    let cold = vec![
        s("faas.trigger", "http"),
        s("faas.name", "resize"),
        kv("faas.coldstart", any_value::Value::BoolValue(true)),
    ];
    assert_eq!(
        server
            .export_http(&servers(5, "resize", 2, 50, false, cold))
            .unwrap()
            .0,
        200
    );
    // A failed invocation with an error never seen before.
    let failing = vec![s("faas.trigger", "http"), s("faas.name", "resize")];
    assert_eq!(
        server
            .export_http(&servers(6, "resize", 1, 30, true, failing))
            .unwrap()
            .0,
        200
    );
    for name in [
        "payments errors",
        "slow exports",
        "resize cold starts",
        "resize new errors",
    ] {
        wait_until(&format!("{name} firing"), 15, &server, || {
            rule_state(&server, name)["state"] == "firing"
        });
        let st = rule_state(&server, name);
        assert!(
            !st["exampleTraces"].as_array().unwrap().is_empty(),
            "{name}: {st}"
        );
    }
    assert_eq!(rule_state(&server, "slow exports")["value"], 3.0);
    assert_eq!(rule_state(&server, "resize new errors")["value"], 1.0);
    assert_eq!(rule_state(&server, "payments errors")["value"], 1.0);

    // The regression stops: once the window has passed, every alert resolves, and a
    // resolved notification follows each firing one.
    wait_until("resolution", 40, &server, || {
        rules(&server)["rules"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["state"] == "inactive")
    });
    wait_until("resolved notifications", 10, &server, || {
        receiver
            .accepted()
            .iter()
            .filter(|g| g.body["status"] == "resolved")
            .count()
            == 5
    });
    let got = receiver.accepted();
    for name in [
        "checkout p95",
        "payments errors",
        "slow exports",
        "resize cold starts",
        "resize new errors",
    ] {
        let of: Vec<&str> = got
            .iter()
            .filter(|g| g.body["rule"] == name)
            .map(|g| g.body["status"].as_str().unwrap())
            .collect();
        assert_eq!(of, ["firing", "resolved"], "{name}");
    }
    let history = server
        .get("/api/alerts/history")
        .unwrap()
        .json::<Value>()
        .unwrap();
    let p95: Vec<&str> = history["history"]
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .filter(|t| t["rule"] == "checkout p95")
        .map(|t| t["to"].as_str().unwrap())
        .collect();
    assert_eq!(p95, ["pending", "firing", "resolved"]);
    let metrics = server.get("/metrics").unwrap().text().unwrap();
    assert!(
        metrics
            .contains("arbor_alert_notifications_total{receiver=\"hook\",result=\"delivered\"} 10"),
        "{metrics}"
    );
    assert!(metrics.contains("arbor_alert_evaluation_seconds_count"));
}

#[test]
fn deliveries_survive_a_failing_receiver_and_a_restart_while_firing() {
    let tmp = tempfile::tempdir().unwrap();
    let receiver = Receiver::start();
    let rules = r#"
[[rules]]
name = "payments errors"
kind = "errors"
service = "payments"
measure = "count"
window = "15s"
above = 0
"#;
    let (cfg, _) = config(tmp.path(), &receiver, rules);
    let data = tmp.path().join("data");
    let mut server = TestServer::start_in(BIN, &data, &["--config", &cfg], None).unwrap();

    // The receiver fails: attempts are retried with backoff, none accepted.
    receiver.mode.store(FAIL, Ordering::SeqCst);
    assert_eq!(
        server
            .export_http(&servers(7, "payments", 2, 10, true, vec![]))
            .unwrap()
            .0,
        200
    );
    wait_until("firing", 10, &server, || {
        rule_state(&server, "payments errors")["state"] == "firing"
    });
    wait_until("three failed attempts", 15, &server, || {
        receiver.got.lock().unwrap().len() >= 3
    });
    // Backoff: the gaps between attempts grow (1 s, 2 s, …), so there are few of them.
    std::thread::sleep(Duration::from_secs(2));
    let tries = receiver.got.lock().unwrap().len();
    assert!(tries <= 5, "{tries} attempts in ~5 s: no backoff?");

    // Restart while firing (and while the notification is undelivered).
    server.stop().unwrap();
    server = TestServer::start_in(BIN, &data, &["--config", &cfg], None).unwrap();
    assert_eq!(rule_state(&server, "payments errors")["state"], "firing");

    // Slow, then healthy: delivered once.
    receiver.mode.store(SLOW, Ordering::SeqCst);
    std::thread::sleep(Duration::from_secs(4));
    receiver.mode.store(OK, Ordering::SeqCst);
    wait_until("the firing notification", 40, &server, || {
        receiver
            .accepted()
            .iter()
            .any(|g| g.body["status"] == "firing")
    });
    // The alert resolves after its window; the resolved notification is delivered once.
    wait_until("resolved", 40, &server, || {
        receiver
            .accepted()
            .iter()
            .any(|g| g.body["status"] == "resolved")
    });
    std::thread::sleep(Duration::from_secs(3));
    let accepted = receiver.accepted();
    let ids: Vec<&str> = accepted.iter().map(|g| g.id.as_str()).collect();
    let mut unique = ids.clone();
    unique.dedup();
    assert_eq!(ids, unique, "a notification accepted twice: {ids:?}");
    assert_eq!(ids.len(), 2, "{ids:?}");
    assert!(ids[0].ends_with("/firing") && ids[1].ends_with("/resolved"));
    // The firing one is the same alert as before the restart.
    let first_try = receiver.got.lock().unwrap()[0].id.clone();
    assert_eq!(ids[0], first_try);
}

#[test]
fn rules_through_the_api_and_the_file_are_checked() {
    let tmp = tempfile::tempdir().unwrap();
    let receiver = Receiver::start();
    let (cfg, rules_path) = config(tmp.path(), &receiver, RULES);
    let server =
        TestServer::start_in(BIN, &tmp.path().join("data"), &["--config", &cfg], None).unwrap();
    let client = reqwest::blocking::Client::new();
    let base = server.http_url();
    let rule = serde_json::json!({
        "name": "api rule", "kind": "traceql", "query": "{ status = error }",
        "window": "1m", "above": 0, "for": "30s"
    });
    let r = client
        .post(format!("{base}/api/alerts/rules"))
        .json(&rule)
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 201, "{}", r.text().unwrap());
    let r = client
        .post(format!("{base}/api/alerts/rules"))
        .json(&rule)
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 409);
    let mut bad = rule.clone();
    bad["name"] = "bad".into();
    bad["query"] = "{ status = }".into();
    let r = client
        .post(format!("{base}/api/alerts/rules"))
        .json(&bad)
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    assert!(r.text().unwrap().starts_with("query:"));
    let r = client
        .put(format!("{base}/api/alerts/rules/checkout%20p95"))
        .json(&rule)
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 400, "names differ");
    let r = client
        .delete(format!("{base}/api/alerts/rules/checkout%20p95"))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 403, "file rules are read-only here");
    let r = client
        .post(format!("{base}/api/alerts/rules/api%20rule/silence"))
        .json(&serde_json::json!({"for": "1h"}))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert!(rule_state(&server, "api rule")["silencedUntil"].is_i64());
    // `until`: RFC 3339; a date that does not exist is refused, saying what was expected.
    for (until, status) in [
        ("2099-02-30T18:00:00Z", 400),
        ("2099-11-21T18:00Z", 400),
        ("2099-11-21T18:00:00.5+02:00", 200),
    ] {
        let r = client
            .post(format!("{base}/api/alerts/rules/api%20rule/silence"))
            .json(&serde_json::json!({ "until": until }))
            .send()
            .unwrap();
        assert_eq!(r.status().as_u16(), status, "{until}");
        if status == 400 {
            assert!(r.text().unwrap().contains("expected an RFC 3339 time"));
        }
    }
    assert_eq!(
        rule_state(&server, "api rule")["silencedUntil"],
        4_098_960_000_500_i64,
        "2099-11-21T16:00:00.5Z in Unix ms"
    );
    // Test-fire: evaluated now, one test notification delivered.
    let r = client
        .post(format!("{base}/api/alerts/rules/api%20rule/test"))
        .header("Content-Type", "application/json")
        .send()
        .unwrap();
    let v: Value = r.json().unwrap();
    assert_eq!(v["deliveries"][0]["delivered"], true, "{v}");
    assert!(
        receiver
            .accepted()
            .iter()
            .any(|g| g.body["status"] == "test")
    );

    // Export: the API's rules as a rules file (YAML by default), which reads back valid.
    let r = client
        .get(format!("{base}/api/alerts/export"))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert!(
        r.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .contains("alerts.yaml")
    );
    let yaml = r.text().unwrap();
    assert!(
        yaml.starts_with("rules:") && yaml.contains("name: api rule"),
        "{yaml}"
    );
    assert!(
        !yaml.contains("checkout p95"),
        "file rules are not exported by default: {yaml}"
    );
    let all = client
        .get(format!("{base}/api/alerts/export?format=toml&source=all"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert_eq!(all.matches("[[rules]]").count(), 6, "{all}");
    let exported = tmp.path().join("exported.toml");
    std::fs::write(&exported, &all).unwrap();
    let check = std::process::Command::new(BIN)
        .args(["check-rules", "--config", &cfg, exported.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "{}{}",
        String::from_utf8_lossy(&check.stdout),
        String::from_utf8_lossy(&check.stderr)
    );
    let r = client
        .get(format!("{base}/api/alerts/export?format=json"))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    assert!(r.text().unwrap().contains("yaml or toml"));

    // A broken rules file keeps the rules in force and says where it broke.
    std::fs::write(
        &rules_path,
        RULES.replace("quantile = 0.95", "quantile = 2"),
    )
    .unwrap();
    wait_until("the file error", 10, &server, || {
        rules(&server)["fileError"]
            .as_str()
            .is_some_and(|e| e.contains("line 2") && e.contains("quantile"))
    });
    assert_eq!(rules(&server)["rules"].as_array().unwrap().len(), 6);
    // Fixed: read again (on change).
    std::fs::write(&rules_path, RULES.replace("above = 2\n", "above = 5\n")).unwrap();
    wait_until("the new file", 10, &server, || {
        rule_state(&server, "slow exports")["above"] == 5.0
    });
    let r = client
        .delete(format!("{base}/api/alerts/rules/api%20rule"))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 204);
}

/// Sends a batch as a tenant (`X-Scope-OrgID`).
fn export_as(server: &TestServer, tenant: &str, req: &ExportTraceServiceRequest) -> u16 {
    use prost::Message;
    let (status, _, _) = server
        .post(
            &format!("{}/v1/traces", server.otlp_http_url()),
            req.encode_to_vec(),
            &[
                ("Content-Type", "application/x-protobuf"),
                ("X-Scope-OrgID", tenant),
            ],
        )
        .unwrap();
    status
}

/// In YAML, so that a YAML rules file is read (and fires) too.
const TENANT_RULES: &str = r#"rules:
  - name: acme slow exports
    kind: traceql
    tenant: acme
    query: '{ span.job = "export" && duration > 1s }'
    window: 15s
    above: 2

  - name: default slow exports
    kind: traceql
    query: '{ span.job = "export" && duration > 1s }'
    window: 15s
    above: 2

  - name: acme checkout calls failing
    kind: errors
    tenant: acme
    service: checkout
    operation: POST /orders
    span_kind: client
    measure: count
    window: 15s
    above: 0
"#;

#[test]
fn rules_read_their_own_tenant_and_span_kind() {
    let tmp = tempfile::tempdir().unwrap();
    let receiver = Receiver::start();
    let (cfg, _) = config(tmp.path(), &receiver, TENANT_RULES);
    let server =
        TestServer::start_in(BIN, &tmp.path().join("data"), &["--config", &cfg], None).unwrap();

    // Slow exports and failed SERVER spans of the operation, all in tenant acme.
    let exports = servers(7, "exporter", 3, 1500, false, vec![s("job", "export")]);
    assert_eq!(export_as(&server, "acme", &exports), 200);
    assert_eq!(
        export_as(
            &server,
            "acme",
            &servers(8, "checkout", 3, 10, true, vec![])
        ),
        200
    );
    wait_until("acme slow exports firing", 15, &server, || {
        rule_state(&server, "acme slow exports")["state"] == "firing"
    });
    assert_eq!(rule_state(&server, "acme slow exports")["value"], 3.0);
    // The examples are acme's traces: found as that tenant, not as the default one.
    let st = rule_state(&server, "acme slow exports");
    let id = st["exampleTraces"][0].as_str().expect("an example");
    let (status, _) = server.trace_json(id).unwrap();
    assert_eq!(status, 404, "acme's trace is not the default tenant's");
    let found = reqwest::blocking::Client::new()
        .get(format!("{}/api/traces/{id}", server.http_url()))
        .header("X-Scope-OrgID", "acme")
        .send()
        .unwrap();
    assert_eq!(found.status().as_u16(), 200);
    // The default tenant saw none; the failed spans are SERVER spans, not CLIENT ones.
    let st = rule_state(&server, "default slow exports");
    assert_eq!(
        (st["state"].as_str(), st["value"].as_f64()),
        (Some("inactive"), Some(0.0)),
        "{st}"
    );
    let st = rule_state(&server, "acme checkout calls failing");
    assert_eq!(
        (st["state"].as_str(), st["value"].as_f64()),
        (Some("inactive"), Some(0.0)),
        "{st}"
    );

    // Failed CLIENT spans of the same name: that rule fires, with them as examples.
    let mut calls = servers(9, "checkout", 2, 10, true, vec![]);
    for sp in &mut calls.resource_spans[0].scope_spans[0].spans {
        sp.kind = SpanKind::Client as i32;
    }
    assert_eq!(export_as(&server, "acme", &calls), 200);
    wait_until("acme checkout calls failing firing", 15, &server, || {
        rule_state(&server, "acme checkout calls failing")["state"] == "firing"
    });
    let st = rule_state(&server, "acme checkout calls failing");
    assert_eq!(st["value"], 2.0, "{st}");
    let examples: Vec<&str> = st["exampleTraces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(!examples.is_empty(), "{st}");
    // Trace IDs of `servers(9, ..)` begin with the seed.
    assert!(
        examples.iter().all(|id| id.starts_with("09")),
        "{examples:?}"
    );
    assert_eq!(
        rule_state(&server, "default slow exports")["state"],
        "inactive"
    );
}

#[test]
fn check_rules_reads_files_as_the_server_does() {
    let tmp = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        let out = std::process::Command::new(BIN)
            .arg("check-rules")
            .args(args)
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let path = |name: &str, text: &str| {
        let p = tmp.path().join(name);
        std::fs::write(&p, text).unwrap();
        p.to_str().unwrap().to_string()
    };
    let yaml = path("alerts.yaml", TENANT_RULES);
    let toml = path("alerts.toml", RULES);

    let (code, out, err) = run(&[&yaml, &toml]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(
        out.contains("alerts.yaml: 3 rules, valid")
            && out.contains("acme slow exports: traceql, tenant acme")
            && out.contains("alerts.toml: 5 rules, valid"),
        "{out}"
    );

    // The first error of each file, with its line; the valid file still listed.
    let bad_toml = path(
        "bad.toml",
        &RULES.replace("quantile = 0.95", "quantile = 2"),
    );
    let bad_yaml = path(
        "bad.yml",
        &TENANT_RULES.replace(
            "{ span.job = \"export\" && duration > 1s }",
            "{ span.job = }",
        ),
    );
    let (code, out, err) = run(&[&bad_toml, &yaml, &bad_yaml]);
    assert_eq!(code, Some(1), "{out}{err}");
    assert!(out.contains("alerts.yaml: 3 rules, valid"), "{out}");
    assert!(
        err.contains("bad.toml: line 2: rule \"checkout p95\": quantile"),
        "{err}"
    );
    assert!(
        err.contains("bad.yml: line 2: rule \"acme slow exports\": query:"),
        "{err}"
    );

    // Receivers: unknown without the configuration, known with it.
    let with_receiver = path(
        "paged.yaml",
        "rules:\n  - name: paged\n    kind: errors\n    service: s\n    window: 1m\n    above: 1\n    receivers: [pager]\n",
    );
    let (code, _, err) = run(&[&with_receiver]);
    assert_eq!(code, Some(1));
    assert!(
        err.contains("no receiver named \"pager\"") && err.contains("--config"),
        "{err}"
    );
    let cfg = path(
        "arbor.toml",
        "[[alerts.receivers]]\nname = \"pager\"\nurl = \"http://127.0.0.1:9/\"\n",
    );
    let (code, out, err) = run(&["--config", &cfg, &with_receiver]);
    assert_eq!(code, Some(0), "{out}{err}");
    let (code, _, err) = run(&["--receiver", "pager", &with_receiver]);
    assert_eq!(code, Some(0), "{err}");

    // A file that is not there.
    let (code, _, err) = run(&[tmp.path().join("nope.yaml").to_str().unwrap()]);
    assert_eq!(code, Some(1));
    assert!(err.contains("nope.yaml"), "{err}");
}
