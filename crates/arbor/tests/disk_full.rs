//! A full disk heals without a restart: the server's data directory (and its log) on a small
//! tmpfs that is filled, then freed. While full, ingest is refused with 503 and
//! `Retry-After`, `/ready` and `/flush` say 503; once space is freed, the log resumes in a
//! new segment by itself and everything acknowledged, before and after, reads back.
//!
//! Mounting a tmpfs needs root (CI runs as root). Elsewhere the test says so and passes only
//! if CI is not set.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use arbor_testkit::{TestServer, flatten, spans};

const BIN: &str = env!("CARGO_BIN_EXE_arbor");

/// A tmpfs of `size`, unmounted when dropped.
struct Tmpfs {
    dir: PathBuf,
    _parent: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(size: &str) -> Option<Tmpfs> {
        let parent = tempfile::tempdir().unwrap();
        let dir = parent.path().join("mnt");
        std::fs::create_dir(&dir).unwrap();
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&dir)
            .status()
            .is_ok_and(|s| s.success());
        ok.then_some(Tmpfs {
            dir,
            _parent: parent,
        })
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.dir).status();
    }
}

/// Writes a file until the file system says it is full.
fn fill(path: &Path) {
    let mut f = std::fs::File::create(path).unwrap();
    let chunk = vec![0xA5u8; 64 * 1024];
    loop {
        match f.write_all(&chunk).and_then(|()| f.sync_data()) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(28) => return,
            Err(e) => panic!("filling the disk: {e}"),
        }
    }
}

fn eventually(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + limit;
    while Instant::now() < end {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    f()
}

#[test]
fn a_full_disk_refuses_with_503_and_heals_once_space_is_freed() {
    let Some(fs) = Tmpfs::mount("48m") else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must be able to mount a tmpfs (run as root)"
        );
        eprintln!("skipped: mounting a tmpfs needs root");
        return;
    };
    let data = fs.dir.join("data");
    let s = TestServer::start_in(
        BIN,
        &data,
        &["--wal-segment-size", "1MiB", "--block-max-age", "1h"],
        None,
    )
    .unwrap();
    let mut rng = spans::rng(23);
    let before = spans::trace_id(&mut rng);
    let (status, _) = s
        .export_http(&spans::batch("x", spans::chain(&mut rng, before, 4, 1)))
        .unwrap();
    assert_eq!(status, 200, "{}", s.log());

    let filler = fs.dir.join("filler");
    fill(&filler);
    // Ingest now fails to reach the disk: 503 with Retry-After, never an acknowledgement.
    let mut refused = None;
    for i in 0..200u64 {
        let trace = spans::trace_id(&mut rng);
        let body = spans::batch("x", spans::chain(&mut rng, trace, 200, 100 + i));
        let (status, headers, text) = s
            .post(
                &format!("{}/v1/traces", s.otlp_http_url()),
                prost::Message::encode_to_vec(&body),
                &[("Content-Type", "application/x-protobuf")],
            )
            .unwrap();
        if status != 200 {
            refused = Some((status, headers, String::from_utf8_lossy(&text).into_owned()));
            break;
        }
    }
    let (status, headers, text) = refused.expect("ingest was never refused on a full disk");
    assert_eq!(status, 503, "{text}");
    assert!(headers.iter().any(|(k, v)| k == "retry-after" && v == "1"));
    assert!(text.contains("write-ahead log"), "{text}");
    let ready = s.get("/ready").unwrap();
    assert_eq!(ready.status().as_u16(), 503);
    assert!(ready.text().unwrap().contains("refuses writes"));
    let flush = reqwest::blocking::Client::new()
        .post(format!("{}/flush", s.http_url()))
        .timeout(Duration::from_secs(120))
        .send()
        .unwrap();
    assert_eq!(flush.status().as_u16(), 503);

    // Space comes back: no restart.
    std::fs::remove_file(&filler).unwrap();
    let after = spans::trace_id(&mut rng);
    let batch = spans::batch("x", spans::chain(&mut rng, after, 3, 10));
    assert!(
        eventually(Duration::from_secs(60), || s
            .export_http(&batch)
            .is_ok_and(|(status, _)| status == 200)),
        "ingest did not resume after space was freed\n{}",
        s.log()
    );
    assert_eq!(s.get("/ready").unwrap().status().as_u16(), 200);
    s.flush().unwrap();
    for (trace, n) in [(before, 4), (after, 3)] {
        let got = s.trace(&hex::encode(trace)).unwrap().unwrap();
        assert_eq!(flatten(&got).len(), n);
    }
    assert!(
        s.log().contains("wal: writing again, in a new segment"),
        "{}",
        s.log()
    );
}
