//! Blocks: the head is cut into Parquet blocks (on `/flush`, by age or size, on shutdown),
//! traces are read back across head and blocks, blocks are compacted and deleted by
//! retention — on the local disk and on a real S3-compatible server.

use std::time::{Duration, Instant};

use arbor_model::time::now_unix_nanos as now_ns;
use arbor_testkit::{TestServer, flatten, s3::S3Server, spans};

const BIN: &str = env!("CARGO_BIN_EXE_arbor");
const MINUTE: u64 = 60_000_000_000;

/// The backends every test runs on: the local disk, and S3 when the server is installed.
enum Backend {
    Local,
    S3(Box<S3Server>),
}

fn backends() -> Vec<Backend> {
    let mut out = vec![Backend::Local];
    match S3Server::start() {
        Ok(Some(s3)) => out.push(Backend::S3(Box::new(s3))),
        Ok(None) if std::env::var_os("ARBOR_SKIP_S3").is_some() => {}
        Ok(None) => panic!(
            "s3s-fs is not installed (scripts/test.sh installs it; ARBOR_SKIP_S3=1 skips S3)"
        ),
        Err(e) => panic!("starting the S3 server: {e:#}"),
    }
    out
}

fn start(backend: &Backend, args: &[&str]) -> TestServer {
    match backend {
        Backend::Local => TestServer::start(BIN, args).unwrap(),
        Backend::S3(s3) => {
            let url = format!("s3://{}/arbor-{}", s3.bucket, uuid_like());
            let mut all: Vec<&str> = vec!["--storage-url", &url];
            all.extend_from_slice(args);
            let env = s3.env();
            let env: Vec<(&str, &str)> =
                env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            TestServer::start_with_env(BIN, &all, &env).unwrap()
        }
    }
}

fn uuid_like() -> String {
    format!("{:x}", now_ns())
}

fn name(b: &Backend) -> &'static str {
    match b {
        Backend::Local => "local",
        Backend::S3(_) => "s3",
    }
}

fn wait_for(what: &str, server: &TestServer, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !cond() {
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}\n{}",
            server.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn flush_restart_and_read_from_blocks() {
    for backend in backends() {
        let mut s = start(&backend, &[]);
        let mut rng = spans::rng(51);
        let traces: Vec<[u8; 16]> = (0..20).map(|_| spans::trace_id(&mut rng)).collect();
        let mut sent = Vec::new();
        for t in &traces {
            let b = spans::batch("svc", spans::chain(&mut rng, *t, 5, now_ns()));
            assert_eq!(s.export_http(&b).unwrap().0, 200);
            sent.push(b);
        }
        s.flush().unwrap();
        assert_eq!(s.metric("arbor_blocks").unwrap(), 1.0, "{}", name(&backend));
        assert_eq!(s.metric("arbor_head_spans").unwrap(), 0.0);
        // The log was released: a restart replays nothing and reads everything from the block.
        s.restart().unwrap();
        assert_eq!(s.metric("arbor_head_spans").unwrap(), 0.0, "{}", s.log());
        for (t, b) in traces.iter().zip(&sent) {
            let got = s.trace(&hex::encode(t)).unwrap().expect("trace in block");
            let mut got: Vec<_> = flatten(&got).into_iter().map(|(_, sp)| sp).collect();
            let mut want = b.resource_spans[0].scope_spans[0].spans.clone();
            got.sort_by(|a, b| a.span_id.cmp(&b.span_id));
            want.sort_by(|a, b| a.span_id.cmp(&b.span_id));
            assert_eq!(
                got,
                want,
                "{}: spans read from a block are exactly what was sent",
                name(&backend)
            );
        }
        assert!(s.trace("123456789").unwrap().is_none());
        assert!(s.log().contains("block written"));
    }
}

#[test]
fn a_trace_cut_across_blocks_reads_whole_and_survives_compaction() {
    for backend in backends() {
        let s = start(
            &backend,
            &[
                "--compaction-interval",
                "200ms",
                "--compaction-min-inputs",
                "3",
            ],
        );
        let mut rng = spans::rng(52);
        let trace = spans::trace_id(&mut rng);
        // Compaction merges blocks whose newest spans fall in the same hour-aligned window:
        // keep the three parts inside one (the previous hour), whatever the time now.
        let hour = 60 * MINUTE;
        let t0 = (now_ns() / hour) * hour - 55 * MINUTE;
        let root = spans::rich_span(&mut rng, trace, None, "root", t0);
        let root_id: [u8; 8] = root.span_id.clone().try_into().unwrap();
        let mid = spans::rich_span(&mut rng, trace, Some(root_id), "later", t0 + 3 * MINUTE);
        let mid_id: [u8; 8] = mid.span_id.clone().try_into().unwrap();
        let last = spans::rich_span(&mut rng, trace, Some(mid_id), "much-later", t0 + 6 * MINUTE);
        let batches = [
            spans::batch("gateway", vec![root]),
            spans::batch("orders", vec![mid]),
            spans::batch("billing", vec![last]),
        ];
        for b in &batches {
            assert_eq!(s.export_http(b).unwrap().0, 200);
            // A resend lands in the next block: a duplicate across blocks.
            assert_eq!(s.export_http(&batches[0]).unwrap().0, 200);
            s.flush().unwrap();
        }
        let check = |s: &TestServer| {
            let got = s.trace(&hex::encode(trace)).unwrap().expect("trace found");
            let mut names: Vec<_> = flatten(&got)
                .iter()
                .map(|(svc, sp)| format!("{svc}/{}", sp.name))
                .collect();
            names.sort();
            assert_eq!(
                names,
                ["billing/much-later", "gateway/root", "orders/later"],
                "{}",
                name(&backend)
            );
        };
        // Compaction merges the three blocks into one. The block count drops before the
        // inputs are deleted and the compaction is logged: wait for both.
        wait_for("compaction", &s, || {
            s.metric("arbor_blocks").unwrap() == 1.0 && s.log().contains("blocks compacted")
        });
        check(&s);
    }
}

#[test]
fn retention_deletes_old_blocks_only() {
    for backend in backends() {
        let s = start(
            &backend,
            // Retention goes by receipt, the spans' own end counting within the slack of
            // it: with a day's slack, spans stamped 3 days ago count as received a day
            // ago, past 12 hours; spans stamped now stay.
            &[
                "--retention-max-age",
                "12h",
                "--retention-ingestion-time-slack",
                "1d",
                "--retention-interval",
                "200ms",
                "--compaction-interval",
                "0s",
            ],
        );
        let mut rng = spans::rng(53);
        let old = spans::trace_id(&mut rng);
        let fresh = spans::trace_id(&mut rng);
        assert_eq!(
            s.export_http(&spans::batch(
                "x",
                spans::chain(&mut rng, old, 3, now_ns() - 3 * 24 * 60 * MINUTE)
            ))
            .unwrap()
            .0,
            200
        );
        s.flush().unwrap();
        assert_eq!(
            s.export_http(&spans::batch(
                "x",
                spans::chain(&mut rng, fresh, 3, now_ns())
            ))
            .unwrap()
            .0,
            200
        );
        s.flush().unwrap();
        wait_for("retention", &s, || s.metric("arbor_blocks").unwrap() == 1.0);
        assert!(
            s.trace(&hex::encode(old)).unwrap().is_none(),
            "{}",
            name(&backend)
        );
        assert!(s.trace(&hex::encode(fresh)).unwrap().is_some());
    }
}

#[test]
fn blocks_are_cut_by_age_and_on_shutdown() {
    let mut s = TestServer::start(
        BIN,
        &["--block-max-age", "300ms", "--compaction-interval", "0s"],
    )
    .unwrap();
    let mut rng = spans::rng(54);
    let t = spans::trace_id(&mut rng);
    assert_eq!(
        s.export_http(&spans::batch("x", spans::chain(&mut rng, t, 3, now_ns())))
            .unwrap()
            .0,
        200
    );
    wait_for("a cut by age", &s, || {
        s.metric("arbor_blocks").unwrap() == 1.0
    });

    let mut s2 = TestServer::start(BIN, &["--compaction-interval", "0s"]).unwrap();
    let t2 = spans::trace_id(&mut rng);
    assert_eq!(
        s2.export_http(&spans::batch("x", spans::chain(&mut rng, t2, 3, now_ns())))
            .unwrap()
            .0,
        200
    );
    assert_eq!(s2.stop().unwrap(), Some(0));
    assert!(s2.log().contains("head cut on shutdown"), "{}", s2.log());
    s2.restart().unwrap();
    assert_eq!(s2.metric("arbor_blocks").unwrap(), 1.0);
    assert_eq!(s2.metric("arbor_head_spans").unwrap(), 0.0);
    assert!(s2.trace(&hex::encode(t2)).unwrap().is_some());
    s.stop().unwrap();
}

#[test]
fn oversized_traces_are_marked_partial() {
    let s = TestServer::start(BIN, &["--max-trace-spans", "4"]).unwrap();
    let mut rng = spans::rng(55);
    let t = spans::trace_id(&mut rng);
    assert_eq!(
        s.export_http(&spans::batch("x", spans::chain(&mut rng, t, 10, now_ns())))
            .unwrap()
            .0,
        200
    );
    s.flush().unwrap();
    let v: serde_json::Value = s
        .get(&format!("/api/v2/traces/{}", hex::encode(t)))
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(v["status"], "PARTIAL");
    assert_eq!(
        v["message"],
        "trace has 10 spans, returned the first 4 by start time (query.max_trace_spans)"
    );
    let resp = s.get(&format!("/api/traces/{}", hex::encode(t))).unwrap();
    assert!(resp.headers().get("x-arbor-partial").is_some());
    let got = s.trace(&hex::encode(t)).unwrap().unwrap();
    let names: Vec<_> = flatten(&got).into_iter().map(|(_, sp)| sp.name).collect();
    assert_eq!(
        names,
        ["op-0", "op-1", "op-2", "op-3"],
        "the earliest spans"
    );
}

#[test]
fn inspect_describes_a_block() {
    let s = TestServer::start(BIN, &[]).unwrap();
    let mut rng = spans::rng(56);
    let t = spans::trace_id(&mut rng);
    assert_eq!(
        s.export_http(&spans::batch("x", spans::chain(&mut rng, t, 6, now_ns())))
            .unwrap()
            .0,
        200
    );
    s.flush().unwrap();
    let tenant_dir = s.data_dir().join("blocks").join("single-tenant");
    let block = std::fs::read_dir(&tenant_dir)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let out = std::process::Command::new(BIN)
        .arg("inspect")
        .arg(&block)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("spans      6 in 1 traces"), "{text}");
    assert!(text.contains("spans.parquet"), "{text}");
    assert!(text.contains("dedicated columns"), "{text}");
}
