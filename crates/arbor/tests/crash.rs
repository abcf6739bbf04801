//! Kill -9 the real binary under continuous ingest, again and again: every span whose
//! request was acknowledged must be readable after each restart, none duplicated, and the
//! server must always start.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

// Spans are stamped now (retention goes by receipt, so stamps would not matter much, but
// reads by time stay simple).
use arbor_model::time::now_unix_nanos as now_ns;
use arbor_testkit::{TestServer, flatten, spans};
use prost::Message;
use rand::Rng;

const BIN: &str = env!("CARGO_BIN_EXE_arbor");
const CYCLES: usize = 22;
const WRITERS: usize = 2;

type Acked = Arc<Mutex<HashMap<[u8; 16], Vec<Vec<u8>>>>>;

/// Sends batches until told to stop; records the spans of every acknowledged request.
fn writer(
    url: String,
    seed: u64,
    stop: Arc<AtomicBool>,
    acked: Acked,
    attempted: Arc<Mutex<HashSet<[u8; 16]>>>,
) {
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let mut rng = spans::rng(seed);
    let mut open_traces: Vec<[u8; 16]> = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        // Half the time add to a trace already sent, so traces span restarts.
        let trace = match open_traces.len() {
            n if n > 0 && rng.random_bool(0.5) => open_traces[rng.random_range(0..n)],
            _ => {
                let t = spans::trace_id(&mut rng);
                open_traces.push(t);
                t
            }
        };
        attempted.lock().unwrap().insert(trace);
        let n = rng.random_range(1..8);
        let batch = spans::batch("crash", spans::chain(&mut rng, trace, n, now_ns()));
        let ids: Vec<Vec<u8>> = batch.resource_spans[0].scope_spans[0]
            .spans
            .iter()
            .map(|s| s.span_id.clone())
            .collect();
        let resp = client
            .post(&url)
            .header("Content-Type", "application/x-protobuf")
            .body(batch.encode_to_vec())
            .send();
        match resp {
            Ok(r) if r.status() == 200 => {
                acked.lock().unwrap().entry(trace).or_default().extend(ids);
            }
            // Killed mid-request, or not yet up: not acknowledged, so no promise made.
            _ => std::thread::sleep(Duration::from_millis(5)),
        }
    }
}

fn verify(server: &TestServer, acked: &HashMap<[u8; 16], Vec<Vec<u8>>>, traces: &[[u8; 16]]) {
    for trace in traces {
        let want = &acked[trace];
        let got = server
            .trace(&hex::encode(trace))
            .unwrap()
            .unwrap_or_else(|| {
                panic!(
                    "acknowledged trace {} missing\n{}",
                    hex::encode(trace),
                    server.log()
                )
            });
        let got_ids: Vec<Vec<u8>> = flatten(&got).into_iter().map(|(_, s)| s.span_id).collect();
        let unique: HashSet<&Vec<u8>> = got_ids.iter().collect();
        assert_eq!(
            unique.len(),
            got_ids.len(),
            "duplicate spans in trace {}",
            hex::encode(trace)
        );
        for id in want {
            assert!(
                unique.contains(id),
                "acknowledged span {} of trace {} missing",
                hex::encode(id),
                hex::encode(trace)
            );
        }
    }
}

#[test]
fn sigkill_under_ingest_loses_nothing_acknowledged() {
    kill_loop(&[], CYCLES);
}

/// The same with blocks cut every ~150 ms and compacted as soon as two exist, so kills land
/// inside block writes and compactions too.
#[test]
fn sigkill_during_block_writes_and_compaction_loses_and_doubles_nothing() {
    let mut server = kill_loop(
        &[
            "--block-max-age",
            "150ms",
            "--compaction-interval",
            "50ms",
            "--compaction-min-inputs",
            "2",
        ],
        CYCLES,
    );
    // Nothing is stored twice: once cuts and compactions settle, the spans in visible blocks
    // and the head are exactly the distinct spans readable (reads de-duplicate, so this
    // counts what is stored). A span stored twice keeps the two apart forever.
    server.server.flush().unwrap();
    let readable = server.readable_spans_seen;
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let stored = server.server.metric("arbor_block_spans").unwrap()
            + server.server.metric("arbor_head_spans").unwrap();
        if stored as usize == readable {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{stored} spans stored, {readable} distinct spans readable\n{}",
            server.server.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        server.server.log().contains("blocks compacted"),
        "compaction ran during the test"
    );
    server.server.kill();
}

struct KillLoop {
    server: TestServer,
    readable_spans_seen: usize,
}

fn kill_loop(args: &[&str], cycles: usize) -> KillLoop {
    let mut server = TestServer::start(BIN, args).unwrap();
    let attempted: Arc<Mutex<HashSet<[u8; 16]>>> = Arc::default();
    let acked: Acked = Arc::default();
    let mut rng = spans::rng(99);
    let mut total_requests_seen = 0;
    let mut readable = 0;
    for cycle in 0..cycles {
        let stop = Arc::new(AtomicBool::new(false));
        let url = format!("{}/v1/traces", server.otlp_http_url());
        let handles: Vec<_> = (0..WRITERS)
            .map(|w| {
                let (url, stop, acked, attempted) =
                    (url.clone(), stop.clone(), acked.clone(), attempted.clone());
                let seed = (cycle * WRITERS + w) as u64 + 1000 * args.len() as u64;
                std::thread::spawn(move || writer(url, seed, stop, acked, attempted))
            })
            .collect();
        std::thread::sleep(Duration::from_millis(rng.random_range(80..400)));
        server.kill();
        stop.store(true, Ordering::Relaxed);
        for h in handles {
            h.join().unwrap();
        }
        server
            .restart()
            .unwrap_or_else(|e| panic!("cycle {cycle}: server did not start: {e:#}"));
        let snapshot = acked.lock().unwrap().clone();
        let traces: Vec<[u8; 16]> = snapshot.keys().copied().collect();
        verify(&server, &snapshot, &traces);
        total_requests_seen = snapshot.values().map(Vec::len).sum::<usize>();
        if cycle + 1 == cycles {
            // Count every distinct span readable, acknowledged or not.
            for t in attempted.lock().unwrap().iter() {
                if let Some(got) = server.trace(&hex::encode(t)).unwrap() {
                    readable += flatten(&got).len();
                }
            }
        }
    }
    assert!(
        total_requests_seen > 100,
        "too little was acknowledged to mean anything: {total_requests_seen} spans"
    );
    eprintln!("{cycles} kill cycles, {total_requests_seen} acknowledged spans all readable");
    KillLoop {
        server,
        readable_spans_seen: readable,
    }
}

/// Kill -9 while retention deletes blocks: the server always starts, the spans it must keep
/// read back exactly once, and what retention removes ends up wholly gone.
#[test]
fn sigkill_during_retention() {
    const DAY: u64 = 86_400_000_000_000;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    let mut server = TestServer::start(
        BIN,
        // Retention goes by receipt, the spans' own end counting within the slack of it:
        // with a day's slack, spans stamped 3 days ago count as received a day ago, past
        // 12 hours; spans stamped now stay.
        &[
            "--retention-max-age",
            "12h",
            "--retention-ingestion-time-slack",
            "1d",
            "--retention-interval",
            "20ms",
            "--compaction-interval",
            "0s",
        ],
    )
    .unwrap();
    let mut rng = spans::rng(77);
    let mut old = Vec::new();
    let mut fresh = HashMap::new();
    for i in 0..40 {
        let t = spans::trace_id(&mut rng);
        let start = if i % 4 == 0 { now } else { now - 3 * DAY };
        let batch = spans::batch("r", spans::chain(&mut rng, t, 4, start));
        assert_eq!(server.export_http(&batch).unwrap().0, 200);
        let ids: Vec<Vec<u8>> = batch.resource_spans[0].scope_spans[0]
            .spans
            .iter()
            .map(|s| s.span_id.clone())
            .collect();
        if i % 4 == 0 {
            fresh.insert(t, ids);
        } else {
            old.push(t);
        }
        // Small blocks, so retention has many to delete.
        server.flush().unwrap();
    }
    for cycle in 0..12 {
        // More expired blocks each cycle, so the kill lands while retention deletes them.
        for _ in 0..4 {
            let t = spans::trace_id(&mut rng);
            let batch = spans::batch("r", spans::chain(&mut rng, t, 4, now - 3 * DAY));
            assert_eq!(server.export_http(&batch).unwrap().0, 200);
            server.flush().unwrap();
            old.push(t);
        }
        std::thread::sleep(Duration::from_millis(rng.random_range(0..40)));
        server.kill();
        server
            .restart()
            .unwrap_or_else(|e| panic!("cycle {cycle}: server did not start: {e:#}"));
        let keys: Vec<_> = fresh.keys().copied().collect();
        verify(&server, &fresh, &keys);
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while server.metric("arbor_blocks").unwrap() > fresh.len() as f64 {
        assert!(
            std::time::Instant::now() < deadline,
            "retention never finished\n{}",
            server.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    for t in &old {
        assert!(
            server.trace(&hex::encode(t)).unwrap().is_none(),
            "an expired trace is gone"
        );
    }
    let keys: Vec<_> = fresh.keys().copied().collect();
    verify(&server, &fresh, &keys);
}
