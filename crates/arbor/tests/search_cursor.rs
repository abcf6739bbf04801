//! Walking every matching trace of a range with `GET /api/search`'s cursor, against the
//! real binary: each trace exactly once and in answer order (start time, most recent
//! first, then trace ID), while spans keep arriving — new traces, and late root spans that
//! move a trace's start past the cursor.

use std::collections::HashSet;

use arbor_model::otlp::{ExportTraceServiceRequest, Span};
use arbor_model::time::now_unix_nanos;
use arbor_testkit::TestServer;
use arbor_testkit::spans::batch;
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_arbor");
const SEC: u64 = 1_000_000_000;
const TRACES: u64 = 90;

fn span(trace: u64, id: u8, parent: Option<u8>, start: u64) -> Span {
    let mut tid = [0u8; 16];
    tid[..8].copy_from_slice(&trace.to_be_bytes());
    tid[15] = 1;
    Span {
        trace_id: tid.to_vec(),
        span_id: vec![id, 0, 0, 0, 0, 0, 0, (trace % 250) as u8 + 1],
        parent_span_id: parent.map_or_else(Vec::new, |p| {
            vec![p, 0, 0, 0, 0, 0, 0, (trace % 250) as u8 + 1]
        }),
        name: format!("op-{id}"),
        start_time_unix_nano: start,
        end_time_unix_nano: start + SEC / 10,
        ..Default::default()
    }
}

fn hex_of(trace: u64) -> String {
    let mut tid = [0u8; 16];
    tid[..8].copy_from_slice(&trace.to_be_bytes());
    tid[15] = 1;
    hex::encode(tid)
}

/// Trace `k`'s children start here; pairs of traces share a start (ties go by trace ID).
fn start_of(base: u64, k: u64) -> u64 {
    base + (k / 2) * 10 * SEC
}

fn send(s: &TestServer, req: &ExportTraceServiceRequest) {
    let (status, _) = s.export_http(req).unwrap();
    assert_eq!(status, 200);
}

fn page(s: &TestServer, query: &str) -> (u16, Value) {
    let r = s.get(&format!("/api/search?{query}")).unwrap();
    let status = r.status().as_u16();
    (status, r.json().unwrap_or(Value::Null))
}

#[test]
fn a_cursor_walks_every_trace_once_in_order_while_spans_arrive() {
    let s = TestServer::start(BIN, &[]).unwrap();
    let base = now_unix_nanos() - 3600 * SEC;
    let (from, to) = (base / SEC - 60, base / SEC + 3600);
    // Every trace's children now; half of the traces in a block, half in the head.
    for k in 0..TRACES {
        let t = start_of(base, k);
        send(
            &s,
            &batch(
                "svc",
                vec![
                    span(k, 2, Some(1), t + SEC),
                    span(k, 3, Some(2), t + 2 * SEC),
                ],
            ),
        );
        if k == TRACES / 2 {
            s.flush().unwrap();
        }
    }
    let mut seen: Vec<(u64, String)> = Vec::new();
    let mut query = format!("q=%7B%7D&start={from}&end={to}&limit=7");
    let mut pages = 0;
    loop {
        let (status, body) = page(&s, &query);
        assert_eq!(status, 200, "{body}");
        pages += 1;
        for t in body["traces"].as_array().unwrap() {
            let start: u64 = t["startTimeUnixNano"].as_str().unwrap().parse().unwrap();
            seen.push((start, t["traceID"].as_str().unwrap().to_string()));
        }
        let Some(next) = body["nextCursor"].as_str() else {
            break;
        };
        // Meanwhile: the root spans of the traces just returned arrive, each starting 25 s
        // before its trace did (past the cursor for the last few), and new traces arrive
        // all over the range.
        let returned: Vec<&Value> = body["traces"].as_array().unwrap().iter().collect();
        for t in returned {
            let id = t["traceID"].as_str().unwrap();
            // (New traces come too, when they land after the cursor.)
            let Some(k) = (0..TRACES).find(|k| hex_of(*k) == id) else {
                continue;
            };
            send(
                &s,
                &batch(
                    "svc",
                    vec![span(k, 1, None, start_of(base, k) + SEC - 25 * SEC)],
                ),
            );
        }
        let fresh = 1000 + pages as u64;
        send(
            &s,
            &batch(
                "svc",
                vec![span(
                    fresh,
                    1,
                    None,
                    base + (fresh % 45) * 10 * SEC + 3 * SEC,
                )],
            ),
        );
        // A cursor is for its tenant only.
        let (status, body) = page_with_tenant(&s, next, "someone-else");
        assert_eq!(status, 403, "{body}");
        query = format!("cursor={next}");
        assert!(pages < 100, "the walk ends");
    }
    let (status, body) = page(&s, "cursor=0123456789abcdef0123456789abcdef");
    assert_eq!(status, 410, "an unknown cursor: {body}");

    // Each trace once, and the walk in answer order.
    let ids: Vec<&String> = seen.iter().map(|(_, id)| id).collect();
    let unique: HashSet<&String> = ids.iter().copied().collect();
    assert_eq!(unique.len(), ids.len(), "a trace came twice: {seen:?}");
    for k in 0..TRACES {
        assert!(unique.contains(&hex_of(k)), "trace {k} never came");
    }
    for w in seen.windows(2) {
        let ((sa, ia), (sb, ib)) = (&w[0], &w[1]);
        assert!(sa > sb || (sa == sb && ia < ib), "out of order: {w:?}");
    }
    eprintln!("{} traces in {pages} pages", seen.len());
}

fn page_with_tenant(s: &TestServer, cursor: &str, tenant: &str) -> (u16, Value) {
    let r = reqwest::blocking::Client::new()
        .get(format!("{}/api/search?cursor={cursor}", s.http_url()))
        .header("X-Scope-OrgID", tenant)
        .send()
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().unwrap_or(Value::Null))
}
