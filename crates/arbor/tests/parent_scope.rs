//! The `parent.` scope (an Arbor extension) against the real binary: a span's parent's
//! attributes beside its own, in filters, `select()` and `by()`, with the parent in the
//! head, in a block, and in another part than the child (the trace judged whole).

use arbor_model::otlp::{ExportTraceServiceRequest, Span, kv_str};
use arbor_model::time::now_unix_nanos as now_ns;
use arbor_testkit::{TestServer, spans};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_arbor");

fn send(s: &TestServer, req: &ExportTraceServiceRequest) {
    let (status, _) = s.export_http(req).unwrap();
    assert_eq!(status, 200);
}

/// Trace `n`: a root of `web` on `route`, and under it a redis call of `cache`.
fn trace(n: u8, route: &str, start: u64) -> (Span, Span) {
    let trace_id = [n; 16];
    let (root_id, call_id) = ([n, 0, 0, 0, 0, 0, 0, 1], [n, 0, 0, 0, 0, 0, 0, 2]);
    let root = Span {
        trace_id: trace_id.to_vec(),
        span_id: root_id.to_vec(),
        name: format!("GET {route}"),
        kind: 2,
        start_time_unix_nano: start,
        end_time_unix_nano: start + 10_000_000,
        attributes: vec![kv_str("http.route", route)],
        ..Default::default()
    };
    let call = Span {
        trace_id: trace_id.to_vec(),
        span_id: call_id.to_vec(),
        parent_span_id: root_id.to_vec(),
        name: "redis GET".into(),
        kind: 3,
        start_time_unix_nano: start + 1_000_000,
        end_time_unix_nano: start + 2_000_000,
        attributes: vec![kv_str("db.system", "redis")],
        ..Default::default()
    };
    (root, call)
}

fn search(s: &TestServer, q: &str) -> Vec<Value> {
    let resp = reqwest::blocking::Client::new()
        .get(format!("{}/api/search", s.http_url()))
        .query(&[("q", q), ("limit", "100")])
        .send()
        .unwrap();
    let status = resp.status().as_u16();
    let body = resp.text().unwrap();
    assert_eq!(status, 200, "{q}: {body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    v["traces"].as_array().cloned().unwrap_or_default()
}

/// First bytes of each trace ID found, sorted.
fn found(traces: &[Value]) -> Vec<u8> {
    let mut v: Vec<u8> = traces
        .iter()
        .map(|t| u8::from_str_radix(&t["traceID"].as_str().unwrap()[..2], 16).unwrap())
        .collect();
    v.sort_unstable();
    v
}

#[test]
fn parent_attributes_filter_select_and_group() {
    let server = TestServer::start(BIN, &["--log-level", "warn"]).unwrap();
    let t0 = now_ns() - 30_000_000_000;
    // Traces 1 and 2 go to /checkout, 3 to /browse; all in the head, then in blocks.
    let mut roots = Vec::new();
    let mut calls = Vec::new();
    for (n, route) in [(1u8, "/checkout"), (2, "/checkout"), (3, "/browse")] {
        let (r, c) = trace(n, route, t0 + u64::from(n) * 1_000_000_000);
        roots.push(r);
        calls.push(c);
    }
    send(&server, &spans::batch("web", roots));
    send(&server, &spans::batch("cache", calls));
    let q = r#"{ parent.http.route = "/checkout" && span.db.system = "redis" }"#;
    let stages = ["head", "blocks", "parts"];
    for stage in stages {
        match stage {
            "blocks" => server.flush().unwrap(),
            "parts" => {
                // Trace 4: the root in a block, the call in the head.
                let (r, c) = trace(4, "/checkout", t0 + 4_000_000_000);
                send(&server, &spans::batch("web", vec![r]));
                server.flush().unwrap();
                send(&server, &spans::batch("cache", vec![c]));
            }
            _ => {}
        }
        let want: &[u8] = if stage == "parts" {
            &[1, 2, 4]
        } else {
            &[1, 2]
        };
        let traces = search(&server, q);
        assert_eq!(found(&traces), want, "{stage}: {traces:?}");
        for t in &traces {
            let spans = t["spanSets"][0]["spans"].as_array().unwrap();
            assert_eq!(spans.len(), 1, "{stage}: only the call matches: {t}");
            assert_eq!(spans[0]["name"], "redis GET", "{stage}: {t}");
        }
        // A root has no parent: nothing is nil-equal.
        assert!(
            search(
                &server,
                r#"{ parent.http.route != "" && span.http.route != nil }"#
            )
            .is_empty()
        );

        // select(): the parent's service beside the span's own.
        let traces = search(
            &server,
            r#"{ span.db.system = "redis" } | select(parent.resource.service.name, resource.service.name)"#,
        );
        assert_eq!(found(&traces).len(), want.len() + 1, "{stage}: {traces:?}");
        for t in &traces {
            let span = &t["spanSets"][0]["spans"][0];
            let attrs = span["attributes"].as_array().unwrap();
            let value = |k: &str| {
                attrs
                    .iter()
                    .find(|a| a["key"] == k)
                    .map(|a| a["value"]["stringValue"].clone())
            };
            assert_eq!(
                value("parent.service.name"),
                Some("web".into()),
                "{stage}: {span}"
            );
            assert_eq!(
                value("service.name"),
                Some("cache".into()),
                "{stage}: {span}"
            );
        }

        // by(): metrics grouped by the parent's route.
        let (start, end) = (
            (t0 / 1_000_000_000 - 60).to_string(),
            (t0 / 1_000_000_000 + 120).to_string(),
        );
        let resp = reqwest::blocking::Client::new()
            .get(format!("{}/api/metrics/query_range", server.http_url()))
            .query(&[
                ("q", r#"{ span.db.system = "redis" } | count_over_time() by (parent.span.http.route)"#),
                ("start", start.as_str()),
                ("end", end.as_str()),
                ("step", "180s"),
            ])
            .send()
            .unwrap();
        assert_eq!(resp.status().as_u16(), 200);
        let v: Value = resp.json().unwrap();
        let mut counts: Vec<(String, f64)> = v["series"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                (
                    s["labels"][0]["value"]["stringValue"]
                        .as_str()
                        .unwrap()
                        .to_string(),
                    s["samples"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|x| x["value"].as_f64().unwrap())
                        .sum(),
                )
            })
            .collect();
        counts.sort_by(|a, b| a.0.cmp(&b.0));
        let checkout = want.len() as f64;
        assert_eq!(
            counts,
            [
                ("/browse".to_string(), 1.0),
                ("/checkout".to_string(), checkout)
            ],
            "{stage}: {v}"
        );
    }
}
