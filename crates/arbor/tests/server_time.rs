//! Server time, not clients' clocks, decides retention (issue 18, item 6): spans stamped 30
//! days ago or 30 days ahead stay readable by ID after their acknowledgement, a cut,
//! retention passes and a restart, and a search for their own time still finds them; a
//! block received longer ago than `max_age` goes, however far ahead its spans are stamped.
//!
//! Retention passes are observed through `arbor_retention_runs_total`, never by sleeping.

use std::time::{Duration, Instant};

use arbor_model::time::now_unix_nanos as now_ns;
use arbor_testkit::{TestServer, flatten, spans};

const BIN: &str = env!("CARGO_BIN_EXE_arbor");
const DAY: u64 = 86_400_000_000_000;

/// Waits for `cond` with a generous bound against a hang (never a measure of speed).
fn wait_for(what: &str, server: &TestServer, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !cond() {
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}\n{}",
            server.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Waits until two more retention passes have finished: the second began after this call,
/// so it judged every block that existed when it was made.
fn wait_for_retention_pass(server: &TestServer) {
    let runs = server.metric("arbor_retention_runs_total").unwrap();
    wait_for("two retention passes", server, || {
        server.metric("arbor_retention_runs_total").unwrap() >= runs + 2.0
    });
}

fn span_count(server: &TestServer, id: &[u8; 16]) -> usize {
    server
        .trace(&hex::encode(id))
        .unwrap()
        .map_or(0, |t| flatten(&t).len())
}

fn send(server: &TestServer, seed: u64, start: u64) -> [u8; 16] {
    let mut rng = spans::rng(seed);
    let t = spans::trace_id(&mut rng);
    let (status, answer) = server
        .export_http(&spans::batch("clock", spans::chain(&mut rng, t, 3, start)))
        .unwrap();
    assert_eq!(status, 200, "{}", server.log());
    // Accepted whole: nothing rejected for its timestamps.
    let rejected = answer
        .and_then(|a| a.partial_success)
        .map_or(0, |p| p.rejected_spans);
    assert_eq!(rejected, 0);
    t
}

/// Trace IDs (hex) a search over `[from, to]` (Unix ns) finds.
fn search_ids(server: &TestServer, from: u64, to: u64) -> Vec<String> {
    let path = format!(
        "/api/search?q=%7B%7D&limit=100&start={}&end={}",
        from / 1_000_000_000,
        to / 1_000_000_000
    );
    let resp = server.get(&path).unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let v: serde_json::Value = serde_json::from_str(&resp.text().unwrap()).unwrap();
    v["traces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            t["traceID"]
                .as_str()
                .unwrap()
                .trim_start_matches('0')
                .to_string()
        })
        .collect()
}

fn found(ids: &[String], id: &[u8; 16]) -> bool {
    let hex = hex::encode(id);
    ids.iter().any(|i| *i == hex.trim_start_matches('0'))
}

#[test]
fn spans_stamped_30_days_off_survive_ack_cut_retention_and_restart() {
    let mut s = TestServer::start(
        BIN,
        &[
            // Much shorter than 30 days, much longer than this test.
            "--retention-max-age",
            "1h",
            "--retention-interval",
            "100ms",
            "--compaction-interval",
            "0s",
        ],
    )
    .unwrap();
    let now = now_ns();
    let past = send(&s, 1, now - 30 * DAY);
    let future = send(&s, 2, now + 30 * DAY);
    let check = |s: &TestServer, when: &str| {
        assert_eq!(span_count(s, &past), 3, "past-stamped, {when}\n{}", s.log());
        assert_eq!(
            span_count(s, &future),
            3,
            "future-stamped, {when}\n{}",
            s.log()
        );
    };
    check(&s, "after the ack");
    // Accepted, and counted as off the server's clock.
    assert_eq!(s.metric("arbor_spans_clock_skewed_total").unwrap(), 6.0);

    s.flush().unwrap();
    assert_eq!(s.metric("arbor_blocks").unwrap(), 1.0);
    check(&s, "after the cut");

    wait_for_retention_pass(&s);
    check(&s, "after a retention pass");
    assert_eq!(s.metric("arbor_blocks").unwrap(), 1.0);
    assert_eq!(
        s.metric("arbor_retention_deleted_blocks_total").unwrap(),
        0.0
    );

    // The spans keep their own times for queries: a search for 30 days ago finds the
    // past-stamped trace, one for 30 days ahead the other, and one for now neither.
    let hour = DAY / 24;
    let ago = search_ids(&s, now - 30 * DAY - hour, now - 30 * DAY + hour);
    assert!(found(&ago, &past) && !found(&ago, &future), "{ago:?}");
    let ahead = search_ids(&s, now + 30 * DAY - hour, now + 30 * DAY + hour);
    assert!(found(&ahead, &future) && !found(&ahead, &past), "{ahead:?}");
    let today = search_ids(&s, now - hour, now + hour);
    assert!(
        !found(&today, &past) && !found(&today, &future),
        "{today:?}"
    );

    s.restart().unwrap();
    check(&s, "after a restart");
    wait_for_retention_pass(&s);
    check(&s, "after a retention pass after the restart");
    assert_eq!(s.metric("arbor_blocks").unwrap(), 1.0);
}

#[test]
fn spans_in_the_log_keep_their_receipt_across_a_restart() {
    let mut s = TestServer::start(
        BIN,
        &[
            "--retention-max-age",
            "1h",
            "--retention-interval",
            "100ms",
            "--compaction-interval",
            "0s",
        ],
    )
    .unwrap();
    let now = now_ns();
    let past = send(&s, 3, now - 30 * DAY);
    // Killed before any cut: the spans come back from the log, then go into a block.
    s.kill();
    s.restart().unwrap();
    assert_eq!(span_count(&s, &past), 3, "{}", s.log());
    s.flush().unwrap();
    wait_for_retention_pass(&s);
    assert_eq!(span_count(&s, &past), 3, "{}", s.log());
    assert_eq!(s.metric("arbor_blocks").unwrap(), 1.0);
}

#[test]
fn a_block_received_longer_ago_than_max_age_goes_however_its_spans_are_stamped() {
    let s = TestServer::start(
        BIN,
        &[
            "--retention-max-age",
            "1s",
            "--retention-ingestion-time-slack",
            "0s",
            "--retention-interval",
            "100ms",
            "--compaction-interval",
            "0s",
        ],
    )
    .unwrap();
    // Stamped 30 days ahead: by its own times it would be kept for 30 days.
    let future = send(&s, 4, now_ns() + 30 * DAY);
    s.flush().unwrap();
    wait_for("retention to delete the block", &s, || {
        s.metric("arbor_retention_deleted_blocks_total").unwrap() >= 1.0
            && s.metric("arbor_blocks").unwrap() == 0.0
    });
    assert_eq!(span_count(&s, &future), 0);
}

/// A trace of `tenant`, readable or not (Tempo API, protobuf).
fn readable_in(server: &TestServer, tenant: &str, id: &[u8; 16]) -> bool {
    let resp = reqwest::blocking::Client::new()
        .get(format!(
            "{}/api/traces/{}",
            server.http_url(),
            hex::encode(id)
        ))
        .header("X-Scope-OrgID", tenant)
        .header("Accept", "application/protobuf")
        .send()
        .unwrap();
    resp.status().is_success()
}

#[test]
fn a_tenants_retention_override_applies_to_its_blocks_only() {
    let dir = tempfile::tempdir().unwrap();
    let overrides = dir.path().join("overrides.toml");
    std::fs::write(&overrides, "[tenants.brief]\nretention = \"1s\"\n").unwrap();
    let s = TestServer::start(
        BIN,
        &[
            "--retention-max-age",
            "1h",
            "--retention-ingestion-time-slack",
            "0s",
            "--retention-interval",
            "100ms",
            "--compaction-interval",
            "0s",
            "--overrides-file",
            overrides.to_str().unwrap(),
        ],
    )
    .unwrap();
    let send_to = |tenant: &str, seed: u64| {
        let mut rng = spans::rng(seed);
        let t = spans::trace_id(&mut rng);
        let body = prost::Message::encode_to_vec(&spans::batch(
            "svc",
            spans::chain(&mut rng, t, 3, now_ns()),
        ));
        let (status, _, _) = s
            .post(
                &format!("{}/v1/traces", s.otlp_http_url()),
                body,
                &[
                    ("Content-Type", "application/x-protobuf"),
                    ("X-Scope-OrgID", tenant),
                ],
            )
            .unwrap();
        assert_eq!(status, 200, "{}", s.log());
        t
    };
    let brief = send_to("brief", 11);
    let kept = send_to("kept", 12);
    s.flush().unwrap();
    wait_for("retention to delete the brief tenant's block", &s, || {
        !readable_in(&s, "brief", &brief)
    });
    wait_for_retention_pass(&s);
    // The other tenant's block, as old, is under the global hour.
    assert!(readable_in(&s, "kept", &kept), "{}", s.log());
}
