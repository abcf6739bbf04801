//! The Jaeger and Zipkin query APIs against the real binary: Jaeger's storage-integration
//! search cases (the shared conformance corpus) over the head and over blocks, the JSON
//! shapes against Jaeger's golden answers, Zipkin round trips, dependencies, a
//! 10,000-span trace, duplicate span IDs, and bad input.

use std::collections::BTreeSet;
use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

use arbor_testkit::TestServer;
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_arbor");
const SHARED: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/conformance/jaeger"
);

fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_micros() as u64
}

fn get(url: &str) -> (u16, Value) {
    let resp = reqwest::blocking::get(url).unwrap_or_else(|e| panic!("GET {url}: {e}"));
    let status = resp.status().as_u16();
    let text = resp.text().unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

fn post_json(url: &str, body: &Value) -> u16 {
    let resp = reqwest::blocking::Client::new()
        .post(url)
        .header("Content-Type", "application/json")
        .body(body.to_string())
        .send()
        .unwrap();
    let status = resp.status().as_u16();
    assert!(
        status == 200 || status == 202,
        "POST {url}: {status} {}",
        resp.text().unwrap_or_default()
    );
    status
}

fn post_otlp(server: &TestServer, body: &Value) {
    post_json(&format!("{}/v1/traces", server.otlp_http_url()), body);
}

fn str_kv(k: &str, v: &str) -> Value {
    json!({"key": k, "value": {"stringValue": v}})
}

/// Jaeger's search cases, sent over OTLP/HTTP and asked through `/api/traces`.
#[test]
fn jaeger_conformance_corpus() {
    let server = TestServer::start(BIN, &[]).unwrap();
    let run = |stage: &str| {
        let out = Command::new("python3")
            .args([
                &format!("{SHARED}/run.py"),
                "--otlp",
                &server.otlp_http_url(),
                "--jaeger",
                &server.jaeger_url(),
            ])
            .output()
            .expect("python3 runs the conformance runner");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "jaeger conformance over {stage} failed:\n{text}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(text.contains("25 passed, 0 failed"), "{text}");
    };
    run("the head");
    server.flush().unwrap();
    // The runner sends the fixtures again: the copies in the new head and the blocks are
    // one trace each, and every case still answers exactly.
    run("blocks and a head");
}

// ---------------------------------------------------------------------------------------
// Golden shapes
// ---------------------------------------------------------------------------------------

fn b64_hex(s: &str) -> String {
    use base64::Engine as _;
    hex::encode(base64::engine::general_purpose::STANDARD.decode(s).unwrap())
}

/// Jaeger's domain-model fixture as OTLP/JSON, the way Jaeger's own translator maps it:
/// the first `CHILD_OF` reference within the trace is the parent, the other references
/// are links with `opentracing.ref_type`, span warnings go to `@jaeger@warnings`. Times are
/// moved by `shift_us` so the spans are within retention.
fn domain_to_otlp(domain: &Value, shift_us: i64) -> Value {
    let mut resources: Vec<(String, Vec<Value>)> = Vec::new();
    for s in domain["spans"].as_array().unwrap() {
        let trace = b64_hex(s["traceId"].as_str().unwrap());
        let start = rfc3339_ns(s["startTime"].as_str().unwrap()) + shift_us * 1000;
        let dur: i64 = s["duration"]
            .as_str()
            .unwrap()
            .trim_end_matches("ns")
            .parse()
            .unwrap();
        let refs = s["references"].as_array().cloned().unwrap_or_default();
        let parent_at = refs.iter().position(|r| {
            r["refType"] == "CHILD_OF" && b64_hex(r["traceId"].as_str().unwrap()) == trace
        });
        let mut links = Vec::new();
        for (i, r) in refs.iter().enumerate() {
            if Some(i) == parent_at {
                continue;
            }
            let t = if r["refType"] == "CHILD_OF" {
                "child_of"
            } else {
                "follows_from"
            };
            links.push(json!({
                "traceId": b64_hex(r["traceId"].as_str().unwrap()),
                "spanId": b64_hex(r["spanId"].as_str().unwrap()),
                "attributes": [str_kv("opentracing.ref_type", t)],
            }));
        }
        let mut attrs: Vec<Value> = s["tags"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .map(|t| {
                let v = match t["vType"].as_str().unwrap_or("STRING") {
                    "INT64" => json!({"intValue": t["vInt64"].to_string()}),
                    "BOOL" => json!({"boolValue": t["vBool"]}),
                    "FLOAT64" => json!({"doubleValue": t["vFloat64"]}),
                    "BINARY" => json!({"bytesValue": t["vBinary"]}),
                    _ => json!({"stringValue": t["vStr"]}),
                };
                json!({"key": t["key"], "value": v})
            })
            .collect();
        if let Some(w) = s["warnings"].as_array() {
            attrs.push(
                json!({"key": "@jaeger@warnings", "value": {"arrayValue": {"values":
                w.iter().map(|x| json!({"stringValue": x})).collect::<Vec<_>>()}}}),
            );
        }
        let events: Vec<Value> = s["logs"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .map(|l| {
                let fields = l["fields"].as_array().unwrap();
                let name = fields
                    .iter()
                    .find(|f| f["key"] == "event")
                    .map(|f| f["vStr"].clone())
                    .unwrap_or(json!(""));
                json!({
                    "timeUnixNano": (rfc3339_ns(l["timestamp"].as_str().unwrap()) + shift_us * 1000).to_string(),
                    "name": name,
                    "attributes": fields.iter().filter(|f| f["key"] != "event")
                        .map(|f| str_kv(f["key"].as_str().unwrap(), f["vStr"].as_str().unwrap()))
                        .collect::<Vec<_>>(),
                })
            })
            .collect();
        let mut span = json!({
            "traceId": trace,
            "spanId": b64_hex(s["spanId"].as_str().unwrap()),
            "name": s["operationName"],
            "startTimeUnixNano": start.to_string(),
            "endTimeUnixNano": (start + dur).to_string(),
            "attributes": attrs,
            "events": events,
            "links": links,
        });
        if let Some(i) = parent_at {
            span["parentSpanId"] = json!(b64_hex(refs[i]["spanId"].as_str().unwrap()));
        }
        let service = s["process"]["serviceName"].as_str().unwrap().to_string();
        match resources.iter_mut().find(|(s, _)| *s == service) {
            Some((_, spans)) => spans.push(span),
            None => resources.push((service, vec![span])),
        }
    }
    json!({"resourceSpans": resources.into_iter().map(|(svc, spans)| json!({
        "resource": {"attributes": [str_kv("service.name", &svc)]},
        "scopeSpans": [{"spans": spans}],
    })).collect::<Vec<_>>()})
}

/// Nanoseconds of an RFC 3339 time with up to nine fraction digits and an offset.
/// An RFC 3339 time of the corpus (`2017-01-26T16:46:31.639875139-05:00`) in Unix ns.
fn rfc3339_ns(s: &str) -> i64 {
    arbor_model::time::parse_rfc3339(s)
        .and_then(arbor_model::time::UnixTime::as_nanos)
        .unwrap_or_else(|| panic!("not an RFC 3339 time: {s:?}"))
}

/// Sorts what Jaeger leaves in input order but Arbor orders its own way: spans (by ID,
/// then name), and each span's references.
fn normalize_trace(t: &mut Value) {
    let spans = t["spans"].as_array_mut().unwrap();
    for s in spans.iter_mut() {
        if let Some(r) = s["references"].as_array_mut() {
            r.sort_by_key(|x| x.to_string());
        }
    }
    spans.sort_by_key(|s| (s["spanID"].to_string(), s["operationName"].to_string()));
}

/// The trace of Jaeger's UI-model golden file, from the matching domain fixture.
#[test]
fn trace_by_id_matches_jaeger_ui_golden() {
    let server = TestServer::start(BIN, &[]).unwrap();
    let read = |p: &str| -> Value {
        serde_json::from_str(&std::fs::read_to_string(format!("{SHARED}/reference/{p}")).unwrap())
            .unwrap()
    };
    let domain = read("domain_01_for_ui_01.json");
    let mut golden = read("ui_trace_v1_json_example.json");
    // Move 2017 to an hour ago.
    let golden_start = golden["spans"][0]["startTime"].as_i64().unwrap();
    let shift = now_us() as i64 - 3_600_000_000 - golden_start;
    for s in golden["spans"].as_array_mut().unwrap() {
        s["startTime"] = json!(s["startTime"].as_i64().unwrap() + shift);
        for l in s["logs"].as_array_mut().unwrap() {
            l["timestamp"] = json!(l["timestamp"].as_i64().unwrap() + shift);
        }
    }
    post_otlp(&server, &domain_to_otlp(&domain, shift));
    for stage in ["head", "block"] {
        let (status, body) = get(&format!(
            "{}/api/traces/0000000000000001",
            server.jaeger_url()
        ));
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["total"], 1);
        assert_eq!(body["errors"], Value::Null);
        let mut ours = body["data"][0].clone();
        // A trace-level warning has no place in OTLP: it cannot be stored, so it is the one
        // part of the golden answer not reproduced.
        assert_eq!(ours["warnings"], Value::Null);
        golden["warnings"] = Value::Null;
        normalize_trace(&mut ours);
        let mut want = golden.clone();
        normalize_trace(&mut want);
        assert_eq!(ours, want, "over the {stage}");
        server.flush().unwrap();
    }
}

/// Whether every key of `golden` is in `ours` with a value of the same JSON type, where
/// each element of a golden array has such a counterpart among the elements of ours.
fn shape(golden: &Value, ours: &Value, path: &str) -> Result<(), String> {
    match (golden, ours) {
        (Value::Object(g), Value::Object(o)) => {
            for (k, gv) in g {
                let ov = o.get(k).ok_or_else(|| format!("{path}.{k} missing"))?;
                shape(gv, ov, &format!("{path}.{k}"))?;
            }
            Ok(())
        }
        (Value::Array(g), Value::Array(o)) => {
            for (i, gv) in g.iter().enumerate() {
                let p = format!("{path}[{i}]");
                let errors: Vec<String> =
                    o.iter().filter_map(|ov| shape(gv, ov, &p).err()).collect();
                if errors.len() == o.len() {
                    return Err(format!("{p}: no element matches: {errors:?}"));
                }
            }
            Ok(())
        }
        (Value::Number(_), Value::Number(_))
        | (Value::String(_), Value::String(_))
        | (Value::Bool(_), Value::Bool(_))
        | (Value::Null, Value::Null) => Ok(()),
        _ => Err(format!("{path}: golden {golden} but got {ours}")),
    }
}

fn assert_shape(golden: &Value, ours: &Value, what: &str) {
    if let Err(e) = shape(golden, ours, what) {
        panic!(
            "{e}
ours: {ours}"
        );
    }
}

#[test]
fn v3_answers_have_jaegers_shapes() {
    let server = TestServer::start(BIN, &[]).unwrap();
    let start = (now_us() - 60_000_000) * 1000;
    post_otlp(
        &server,
        &json!({"resourceSpans": [{
            "resource": {"attributes": [str_kv("service.name", "frontend")]},
            "scopeSpans": [{"spans": [
                {"traceId": "00000000000000000000000000000001", "spanId": "0000000000000001",
                 "name": "HTTP GET /", "kind": 2,
                 "startTimeUnixNano": start.to_string(), "endTimeUnixNano": (start + 1_000_000_000u64).to_string()},
                {"traceId": "00000000000000000000000000000001", "spanId": "0000000000000002",
                 "parentSpanId": "0000000000000001", "name": "get_users", "kind": 2,
                 "status": {"code": 2},
                 "startTimeUnixNano": (start + 1000).to_string(), "endTimeUnixNano": (start + 2000).to_string()}
            ]}]
        }]}),
    );
    let read = |p: &str| -> Value {
        serde_json::from_str(
            &std::fs::read_to_string(format!("{SHARED}/reference/api_v3_snapshots/{p}")).unwrap(),
        )
        .unwrap()
    };
    let j = server.jaeger_url();
    let (s, services) = get(&format!("{j}/api/v3/services"));
    assert_eq!(s, 200);
    assert_shape(&read("GetServices.json"), &services, "services");
    assert_eq!(services["services"], json!(["frontend"]));

    let (_, ops) = get(&format!(
        "{j}/api/v3/operations?service=frontend&span_kind=server"
    ));
    assert_shape(&read("GetOperations.json"), &ops, "operations");
    assert_eq!(
        ops["operations"],
        json!([{"name": "HTTP GET /", "spanKind": "server"}, {"name": "get_users", "spanKind": "server"}])
    );

    let (s, trace) = get(&format!(
        "{j}/api/v3/traces/00000000000000000000000000000001"
    ));
    assert_eq!(s, 200, "{trace}");
    assert_shape(&read("GetTrace.json"), &trace, "trace");
    let spans = &trace["result"]["resourceSpans"][0]["scopeSpans"][0]["spans"];
    assert_eq!(spans[1]["kind"], 2);
    assert_eq!(spans[1]["status"]["code"], 2);

    let window = format!(
        "query.service_name=frontend&query.start_time_min={}&query.start_time_max={}",
        "2020-01-01T00:00:00Z", "2100-01-01T00:00:00Z"
    );
    let (s, found) = get(&format!(
        "{j}/api/v3/traces?{window}&query.operation_name=get_users"
    ));
    assert_eq!(s, 200, "{found}");
    assert_shape(&read("FindTraces.json"), &found, "find");
    let (s, sums) = get(&format!("{j}/api/v3/trace-summaries?{window}"));
    assert_eq!(s, 200, "{sums}");
    assert_shape(&read("FindTraceSummaries.json"), &sums, "summaries");
    let sum = &sums["summaries"][0];
    assert_eq!(sum["traceId"], "00000000000000000000000000000001");
    assert_eq!(sum["rootServiceName"], "frontend");
    assert_eq!(sum["rootOperationName"], "HTTP GET /");
    assert_eq!(sum["spanCount"], 2);
    assert_eq!(sum["errorSpanCount"], 1);
    assert_eq!(
        sum["services"],
        json!([{"name":"frontend","spanCount":2,"errorSpanCount":1}])
    );
    assert_eq!(sum["minStartTimeUnixNano"], start.to_string());

    let (s, err) = get(&format!(
        "{j}/api/v3/traces?query.service_name=frontend&query.duration_min=5"
    ));
    assert_eq!(s, 400);
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap()
            .contains("query.duration_min"),
        "{err}"
    );
    let (s, _) = get(&format!(
        "{j}/api/v3/traces/00000000000000000000000000000bad"
    ));
    assert_eq!(s, 404);
}

// ---------------------------------------------------------------------------------------
// Jaeger v1 API
// ---------------------------------------------------------------------------------------

/// A client span in `frontend` calling a server span in `backend`, which calls `db`
/// (failing), plus an internal span.
fn call_chain(trace: &str, start_ns: u64) -> Value {
    let t = |off: u64| (start_ns + off).to_string();
    json!({"resourceSpans": [
        {"resource": {"attributes": [str_kv("service.name", "frontend")]},
         "scopeSpans": [{"scope": {"name": "web", "version": "1.0"}, "spans": [
            {"traceId": trace, "spanId": "00000000000000a1", "name": "GET /checkout", "kind": 2,
             "startTimeUnixNano": t(0), "endTimeUnixNano": t(9_000_000),
             "attributes": [str_kv("http.method", "GET"), {"key": "http.status_code", "value": {"intValue": "200"}}]},
            {"traceId": trace, "spanId": "00000000000000a2", "parentSpanId": "00000000000000a1",
             "name": "call backend", "kind": 3,
             "startTimeUnixNano": t(1_000_000), "endTimeUnixNano": t(8_000_000),
             "attributes": [str_kv("peer.service", "backend")]}
         ]}]},
        {"resource": {"attributes": [str_kv("service.name", "backend"), str_kv("host.name", "b1")]},
         "scopeSpans": [{"spans": [
            {"traceId": trace, "spanId": "00000000000000b1", "parentSpanId": "00000000000000a2",
             "name": "POST /orders", "kind": 2,
             "startTimeUnixNano": t(2_000_000), "endTimeUnixNano": t(7_000_000),
             "events": [{"timeUnixNano": t(3_000_000), "name": "exception",
                         "attributes": [str_kv("exception.message", "db down")]}]},
            {"traceId": trace, "spanId": "00000000000000b2", "parentSpanId": "00000000000000b1",
             "name": "SELECT orders", "kind": 3, "status": {"code": 2, "message": "timeout"},
             "startTimeUnixNano": t(3_000_000), "endTimeUnixNano": t(6_000_000)}
         ]}]},
        {"resource": {"attributes": [str_kv("service.name", "db")]},
         "scopeSpans": [{"spans": [
            {"traceId": trace, "spanId": "00000000000000c1", "parentSpanId": "00000000000000b2",
             "name": "query", "kind": 2, "status": {"code": 2},
             "startTimeUnixNano": t(3_500_000), "endTimeUnixNano": t(5_500_000)}
         ]}]}
    ]})
}

#[test]
fn jaeger_v1_services_operations_search_dependencies_and_errors() {
    let server = TestServer::start(BIN, &[]).unwrap();
    let start = (now_us() - 120_000_000) * 1000;
    let trace = "0af7651916cd43dd8448eb211c80319c";
    post_otlp(&server, &call_chain(trace, start));
    let j = server.jaeger_url();
    for stage in ["head", "blocks"] {
        let (s, services) = get(&format!("{j}/api/services"));
        assert_eq!(s, 200);
        assert_eq!(
            services["data"],
            json!(["backend", "db", "frontend"]),
            "{stage}"
        );
        assert_eq!(services["total"], 3);
        let (_, ops) = get(&format!("{j}/api/services/frontend/operations"));
        assert_eq!(ops["data"], json!(["GET /checkout", "call backend"]));
        let (_, ops) = get(&format!(
            "{j}/api/operations?service=frontend&spanKind=client"
        ));
        assert_eq!(
            ops["data"],
            json!([{"name": "call backend", "spanKind": "client"}])
        );

        // Search: typed tag as text, repeated tag=, tags JSON, the span's fields as tags.
        let found = |q: &str| -> Vec<String> {
            let (s, body) = get(&format!("{j}/api/traces?{q}"));
            assert_eq!(s, 200, "{q}: {body}");
            body["data"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t["traceID"].as_str().unwrap().to_string())
                .collect()
        };
        let hit = vec![trace.to_string()];
        let none: Vec<String> = vec![];
        assert_eq!(found("service=frontend&tag=http.status_code:200"), hit);
        assert_eq!(found("service=frontend&tag=http.status_code:404"), none);
        assert_eq!(
            found("service=backend&tags=%7B%22exception.message%22%3A%22db%20down%22%7D"),
            hit,
            "event attributes"
        );
        assert_eq!(
            found("service=backend&tags=%7B%22host.name%22%3A%22b1%22%7D"),
            hit,
            "resource"
        );
        assert_eq!(
            found("service=frontend&tag=otel.scope.name:web"),
            hit,
            "scope name"
        );
        assert_eq!(found("service=backend&tag=error:true"), hit, "error status");
        assert_eq!(
            found("service=backend&tag=span.kind:client&operation=SELECT%20orders"),
            hit
        );
        assert_eq!(found("service=frontend&tag=error:true"), none);
        // One span must hold every condition.
        assert_eq!(
            found("service=frontend&operation=call%20backend&tag=http.method:GET"),
            none
        );
        assert_eq!(
            found("service=backend&minDuration=4ms&maxDuration=5500us"),
            hit
        );
        assert_eq!(
            found("service=backend&minDuration=5100us&maxDuration=1s"),
            none
        );
        let start_us = start / 1000;
        assert_eq!(
            found(&format!(
                "service=db&start={}&end={}",
                start_us + 3_400,
                start_us + 3_600
            )),
            hit
        );
        assert_eq!(
            found(&format!(
                "service=db&start={}&end={}",
                start_us + 3_600,
                start_us + 9_000
            )),
            none,
            "the matching span must start in the window"
        );

        let (s, t) = get(&format!("{j}/api/traces/{trace}"));
        assert_eq!(s, 200);
        let t = &t["data"][0];
        assert_eq!(t["spans"].as_array().unwrap().len(), 5);
        let b2 = t["spans"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["spanID"] == "00000000000000b2")
            .unwrap();
        let tags: BTreeSet<String> = b2["tags"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| format!("{}={}", t["key"].as_str().unwrap(), t["value"]))
            .collect();
        for want in [
            "span.kind=\"client\"",
            "otel.status_code=\"ERROR\"",
            "error=true",
            "otel.status_description=\"timeout\"",
        ] {
            assert!(tags.contains(want), "{want} in {tags:?}");
        }
        let pid = b2["processID"].as_str().unwrap();
        assert_eq!(t["processes"][pid]["serviceName"], "backend");
        assert_eq!(
            t["processes"][pid]["tags"],
            json!([{"key": "host.name", "type": "string", "value": "b1"}])
        );

        let (s, deps) = get(&format!(
            "{j}/api/dependencies?endTs={}&lookback=3600000",
            now_us() / 1000
        ));
        assert_eq!(s, 200);
        assert_eq!(
            deps["data"],
            json!([
                {"parent": "backend", "child": "db", "callCount": 1},
                {"parent": "frontend", "child": "backend", "callCount": 1}
            ])
        );
        server.flush().unwrap();
    }

    // Bad input: clear errors in Jaeger's envelope.
    for (q, needle) in [
        ("", "parameter 'service' is required"),
        ("service=a&minDuration=5", "invalid duration \"5\""),
        ("service=a&tags=%7Bnope", "invalid tags"),
        ("service=a&tag=novalue", "expected key:value"),
        ("service=a&limit=100000", "query.max_search_limit"),
        ("service=a&start=20&end=10", "is after end"),
    ] {
        let (s, body) = get(&format!("{j}/api/traces?{q}"));
        assert_eq!(s, 400, "{q}: {body}");
        let msg = body["errors"][0]["msg"].as_str().unwrap();
        assert!(msg.contains(needle), "{q}: {msg}");
        assert_eq!(body["errors"][0]["code"], 400);
    }
    let (s, body) = get(&format!("{j}/api/traces/zz"));
    assert_eq!(s, 400, "{body}");
    let (s, body) = get(&format!("{j}/api/traces/1234"));
    assert_eq!(s, 404, "{body}");
    assert_eq!(body["errors"][0]["msg"], "trace not found");
}

// ---------------------------------------------------------------------------------------
// Zipkin
// ---------------------------------------------------------------------------------------

fn sorted_by_id(mut v: Vec<Value>) -> Vec<Value> {
    v.sort_by_key(|s| (s["id"].to_string(), s["kind"].to_string()));
    v
}

#[test]
fn zipkin_round_trips_and_otlp_spans_read_as_zipkin() {
    let server = TestServer::start(BIN, &[]).unwrap();
    let ts = now_us() - 60_000_000;
    let trace = "463ac35c9f6413ad48485a3953bb6124";
    // A Zipkin trace: a client span and the server span sharing its ID (`shared`), a
    // child of the server, an error, annotations and endpoints.
    let sent = json!([
        {"traceId": trace, "id": "a000000000000001", "kind": "SERVER", "name": "get /",
         "timestamp": ts, "duration": 20000,
         "localEndpoint": {"serviceName": "gateway", "ipv4": "10.0.0.1", "port": 8080},
         "tags": {"http.path": "/"}},
        {"traceId": trace, "parentId": "a000000000000001", "id": "a000000000000002",
         "kind": "CLIENT", "name": "get /api", "timestamp": ts + 1000, "duration": 15000,
         "localEndpoint": {"serviceName": "gateway"},
         "remoteEndpoint": {"serviceName": "api", "ipv4": "10.0.0.2", "port": 9000},
         "annotations": [{"timestamp": ts + 1100, "value": "ws"}, {"timestamp": ts + 15900, "value": "wr"}]},
        {"traceId": trace, "parentId": "a000000000000001", "id": "a000000000000002",
         "kind": "SERVER", "name": "get /api", "timestamp": ts + 2000, "duration": 13000,
         "localEndpoint": {"serviceName": "api"}, "shared": true,
         "tags": {"error": "boom"}},
        {"traceId": trace, "parentId": "a000000000000002", "id": "a000000000000003",
         "name": "compute", "timestamp": ts + 3000, "duration": 5000,
         "localEndpoint": {"serviceName": "api"}, "debug": true}
    ]);
    post_json(&format!("{}/api/v2/spans", server.zipkin_url()), &sent);

    // And an OTLP trace.
    let otlp_trace = "0af7651916cd43dd8448eb211c80319c";
    post_otlp(&server, &call_chain(otlp_trace, (ts - 10_000_000) * 1000));

    let z = server.zipkin_url();
    for stage in ["head", "blocks"] {
        let (s, got) = get(&format!("{z}/api/v2/trace/{trace}"));
        assert_eq!(s, 200, "{got}");
        assert_eq!(
            sorted_by_id(got.as_array().unwrap().clone()),
            sorted_by_id(sent.as_array().unwrap().clone()),
            "Zipkin JSON comes back as sent ({stage})"
        );
        // The same trace through the Tempo and Jaeger APIs: every span, the shared server
        // span told apart by Jaeger as Jaeger does.
        let (s, tempo) = server.trace_json(trace).unwrap();
        assert_eq!(s, 200);
        let n: usize = tempo["batches"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b["scopeSpans"][0]["spans"].as_array().unwrap().len())
            .sum();
        assert_eq!(n, 4);
        let (_, jt) = get(&format!("{}/api/traces/{trace}", server.jaeger_url()));
        let spans = jt["data"][0]["spans"].as_array().unwrap();
        assert_eq!(spans.len(), 4);
        let ids: BTreeSet<&str> = spans
            .iter()
            .map(|s| s["spanID"].as_str().unwrap())
            .collect();
        assert_eq!(
            ids.len(),
            4,
            "the shared server span gets an ID of its own: {ids:?}"
        );
        let shared = spans
            .iter()
            .find(|s| {
                s["operationName"] == "get /api"
                    && s["tags"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .any(|t| t["value"] == "server")
            })
            .unwrap();
        assert_eq!(shared["references"][0]["spanID"], "a000000000000002");

        // OTLP spans as Zipkin spans.
        let (s, ot) = get(&format!("{z}/api/v2/trace/{otlp_trace}"));
        assert_eq!(s, 200);
        let ot = ot.as_array().unwrap();
        assert_eq!(ot.len(), 5);
        let b2 = ot.iter().find(|s| s["id"] == "00000000000000b2").unwrap();
        assert_eq!(b2["kind"], "CLIENT");
        assert_eq!(b2["parentId"], "00000000000000b1");
        assert_eq!(b2["localEndpoint"]["serviceName"], "backend");
        assert_eq!(b2["tags"]["error"], "timeout");
        assert_eq!(b2["tags"]["host.name"], "b1");
        let a2 = ot.iter().find(|s| s["id"] == "00000000000000a2").unwrap();
        assert_eq!(a2["remoteEndpoint"]["serviceName"], "backend");
        assert_eq!(a2["tags"]["otel.scope.name"], "web");

        // Listings and search.
        let (_, services) = get(&format!("{z}/api/v2/services"));
        assert_eq!(
            services,
            json!(["api", "backend", "db", "frontend", "gateway"])
        );
        let (_, names) = get(&format!("{z}/api/v2/spans?serviceName=gateway"));
        assert_eq!(names, json!(["get /", "get /api"]));
        let (_, remote) = get(&format!("{z}/api/v2/remoteServices?serviceName=gateway"));
        assert_eq!(remote, json!(["api"]));
        let ids_of = |q: &str| -> Vec<String> {
            let (s, body) = get(&format!("{z}/api/v2/traces?{q}"));
            assert_eq!(s, 200, "{q}: {body}");
            body.as_array()
                .unwrap()
                .iter()
                .map(|t| t[0]["traceId"].as_str().unwrap().to_string())
                .collect()
        };
        assert_eq!(ids_of("serviceName=api&annotationQuery=error"), vec![trace]);
        assert_eq!(
            ids_of("serviceName=gateway&annotationQuery=ws"),
            vec![trace]
        );
        assert_eq!(
            ids_of("serviceName=gateway&annotationQuery=http.path%3D%2F"),
            vec![trace]
        );
        assert!(ids_of("serviceName=gateway&annotationQuery=http.path%3D%2Fx").is_empty());
        assert_eq!(
            ids_of("serviceName=api&spanName=compute&minDuration=4000"),
            vec![trace]
        );
        assert!(ids_of("serviceName=api&spanName=compute&minDuration=6000").is_empty());
        assert_eq!(ids_of("limit=10").len(), 2, "no service: every trace");
        let (_, many) = get(&format!(
            "{z}/api/v2/traceMany?traceIds={trace},{otlp_trace},1"
        ));
        assert_eq!(many.as_array().unwrap().len(), 2);

        let (_, deps) = get(&format!(
            "{z}/api/v2/dependencies?endTs={}&lookback=3600000",
            now_us() / 1000
        ));
        assert_eq!(
            deps,
            json!([
                {"parent": "backend", "child": "db", "callCount": 1, "errorCount": 1},
                {"parent": "frontend", "child": "backend", "callCount": 1, "errorCount": 0},
                {"parent": "gateway", "child": "api", "callCount": 1, "errorCount": 1}
            ])
        );
        server.flush().unwrap();
    }
    let (s, body) = get(&format!("{z}/api/v2/dependencies"));
    assert_eq!(s, 400);
    assert!(body.as_str().unwrap().contains("endTs"), "{body}");
    let (s, _) = get(&format!("{z}/api/v2/trace/{}", "f".repeat(32)));
    assert_eq!(s, 404);
}

/// A 10,000-span trace and spans sharing IDs, whole through both APIs, from the head and
/// from a block.
#[test]
fn large_trace_and_duplicate_span_ids_through_both_apis() {
    let server = TestServer::start(BIN, &[]).unwrap();
    let start = (now_us() - 60_000_000) * 1000;
    let trace = "5b8efff798038103d269b633813fc60c";
    let mut batches = Vec::new();
    for b in 0..10 {
        let spans: Vec<Value> = (0..1000)
            .map(|i| {
                let n = b * 1000 + i + 1;
                let mut s = json!({"traceId": trace, "spanId": format!("{n:016x}"),
                    "name": format!("op-{}", n % 7), "kind": 1,
                    "startTimeUnixNano": (start + n * 1000).to_string(),
                    "endTimeUnixNano": (start + n * 1000 + 500).to_string()});
                if n > 1 {
                    s["parentSpanId"] = json!(format!("{:016x}", n / 2));
                }
                s
            })
            .collect();
        batches.push(
            json!({"resourceSpans": [{"resource": {"attributes": [str_kv("service.name", "big")]},
            "scopeSpans": [{"spans": spans}]}]}),
        );
    }
    for b in &batches {
        post_otlp(&server, b);
    }
    // Two different spans with one ID (say, an instrumentation bug), and a resend of one.
    let dup = "6b8efff798038103d269b633813fc60c";
    let twins = json!({"resourceSpans": [{"resource": {"attributes": [str_kv("service.name", "twins")]},
    "scopeSpans": [{"spans": [
        {"traceId": dup, "spanId": "0000000000000001", "name": "first",
         "startTimeUnixNano": start.to_string(), "endTimeUnixNano": (start + 10).to_string()},
        {"traceId": dup, "spanId": "0000000000000001", "name": "second",
         "startTimeUnixNano": (start + 5).to_string(), "endTimeUnixNano": (start + 20).to_string()}
    ]}]}]});
    post_otlp(&server, &twins);
    post_otlp(&server, &twins);
    for stage in ["head", "block"] {
        let (s, jt) = get(&format!("{}/api/traces/{trace}", server.jaeger_url()));
        assert_eq!(s, 200);
        let spans = jt["data"][0]["spans"].as_array().unwrap();
        assert_eq!(spans.len(), 10_000, "{stage}");
        let ids: BTreeSet<&str> = spans
            .iter()
            .map(|s| s["spanID"].as_str().unwrap())
            .collect();
        assert_eq!(ids.len(), 10_000);
        let (s, zt) = get(&format!("{}/api/v2/trace/{trace}", server.zipkin_url()));
        assert_eq!(s, 200);
        assert_eq!(zt.as_array().unwrap().len(), 10_000, "{stage}");

        let (_, jd) = get(&format!("{}/api/traces/{dup}", server.jaeger_url()));
        let names: BTreeSet<&str> = jd["data"][0]["spans"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["operationName"].as_str().unwrap())
            .collect();
        assert_eq!(names, BTreeSet::from(["first", "second"]), "{stage}");
        assert_eq!(
            jd["data"][0]["spans"].as_array().unwrap().len(),
            2,
            "the resend is one span"
        );
        let (_, zd) = get(&format!("{}/api/v2/trace/{dup}", server.zipkin_url()));
        assert_eq!(zd.as_array().unwrap().len(), 2);
        server.flush().unwrap();
    }
}

/// A service with more operations than the tag registry and the block index keep (1,000
/// each by default) still lists every one: those parts are read from the spans.
#[test]
fn operations_past_the_index_limits_are_read_from_the_spans() {
    let server = TestServer::start(BIN, &[]).unwrap();
    let start = (now_us() - 60_000_000) * 1000;
    let spans: Vec<Value> = (0..1_200u64)
        .map(|i| {
            json!({"traceId": format!("{:032x}", i + 1), "spanId": "0000000000000001",
                   "name": format!("op-{i:04}"), "kind": 2,
                   "startTimeUnixNano": (start + i).to_string(),
                   "endTimeUnixNano": (start + i + 10).to_string()})
        })
        .collect();
    post_otlp(
        &server,
        &json!({"resourceSpans": [{"resource": {"attributes": [str_kv("service.name", "many")]},
            "scopeSpans": [{"spans": spans}]}]}),
    );
    let want: Vec<String> = (0..1_200).map(|i| format!("op-{i:04}")).collect();
    for stage in ["head", "block"] {
        let (s, ops) = get(&format!(
            "{}/api/services/many/operations",
            server.jaeger_url()
        ));
        assert_eq!(s, 200);
        assert_eq!(ops["data"], json!(want), "{stage}");
        server.flush().unwrap();
    }
}
