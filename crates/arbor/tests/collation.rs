//! Traces arrive in parts: batches minutes apart read back whole, resent batches do not
//! duplicate spans, and a restart (log replay) gives back the same trace.

use arbor_testkit::{TestServer, flatten, spans};

const BIN: &str = env!("CARGO_BIN_EXE_arbor");
const MINUTE: u64 = 60_000_000_000;

#[test]
fn three_batches_minutes_apart_read_back_whole_and_resends_do_not_duplicate() {
    let mut server = TestServer::start(BIN, &[]).unwrap();
    let mut rng = spans::rng(7);
    let trace = spans::trace_id(&mut rng);
    let t0 = 1_700_000_000_000_000_000u64;
    let root = spans::rich_span(&mut rng, trace, None, "root", t0);
    let root_id: [u8; 8] = root.span_id.clone().try_into().unwrap();
    let mid = spans::rich_span(&mut rng, trace, Some(root_id), "later", t0 + 3 * MINUTE);
    let mid_id: [u8; 8] = mid.span_id.clone().try_into().unwrap();
    let last = spans::rich_span(&mut rng, trace, Some(mid_id), "much-later", t0 + 9 * MINUTE);
    let batches = [
        spans::batch("gateway", vec![root]),
        spans::batch("orders", vec![mid]),
        spans::batch("billing", vec![last]),
    ];
    for b in &batches {
        assert_eq!(server.export_http(b).unwrap().0, 200);
    }
    // The same batch twice, and the first again: nothing new.
    assert_eq!(server.export_http(&batches[1]).unwrap().0, 200);
    assert_eq!(server.export_http(&batches[0]).unwrap().0, 200);

    let check = |server: &TestServer| {
        let got = server
            .trace(&hex::encode(trace))
            .unwrap()
            .expect("trace found");
        let spans = flatten(&got);
        let mut names: Vec<_> = spans
            .iter()
            .map(|(svc, s)| format!("{svc}/{}", s.name))
            .collect();
        names.sort();
        assert_eq!(
            names,
            ["billing/much-later", "gateway/root", "orders/later"]
        );
        let find = |n: &str| spans.iter().find(|(_, s)| s.name == n).unwrap().1.clone();
        assert_eq!(find("later").parent_span_id, find("root").span_id);
        assert_eq!(find("much-later").parent_span_id, find("later").span_id);
        assert_eq!(got.resource_spans.len(), 3, "one resource per service");
    };
    check(&server);

    // After a crash the log replays the batches (resends included) into the same trace.
    server.restart().unwrap();
    check(&server);

    let metrics = server.get("/metrics").unwrap().text().unwrap();
    assert!(metrics.contains("arbor_head_spans 3"), "{metrics}");
}

#[test]
fn tenants_are_kept_apart() {
    let server = TestServer::start(BIN, &[]).unwrap();
    let mut rng = spans::rng(8);
    let trace = spans::trace_id(&mut rng);
    let req = spans::batch("a", spans::chain(&mut rng, trace, 2, 1));
    let body = prost::Message::encode_to_vec(&req);
    let (status, _, _) = server
        .post(
            &format!("{}/v1/traces", server.otlp_http_url()),
            body,
            &[
                ("Content-Type", "application/x-protobuf"),
                ("X-Scope-OrgID", "team-a"),
            ],
        )
        .unwrap();
    assert_eq!(status, 200);
    let id = hex::encode(trace);
    assert!(
        server.trace(&id).unwrap().is_none(),
        "not in the default tenant"
    );
    let resp = reqwest::blocking::Client::new()
        .get(format!("{}/api/traces/{id}", server.http_url()))
        .header("X-Scope-OrgID", "team-a")
        .send()
        .unwrap();
    assert_eq!(resp.status(), 200);
    let resp = reqwest::blocking::Client::new()
        .get(format!("{}/api/traces/{id}", server.http_url()))
        .header("X-Scope-OrgID", "../etc")
        .send()
        .unwrap();
    assert_eq!(resp.status(), 400);
}
