//! A write-ahead log damaged on disk never keeps the server from starting: a corrupt record
//! is skipped and reported, a torn tail is cut off, and every other record is replayed.

use arbor_testkit::{TestServer, spans};

const BIN: &str = env!("CARGO_BIN_EXE_arbor");

fn segments(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(dir.join("wal"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "wal"))
        .collect();
    v.sort();
    v
}

#[test]
fn corrupt_middle_record_and_torn_tail_are_survived() {
    let mut s = TestServer::start(BIN, &[]).unwrap();
    let mut rng = spans::rng(41);
    let traces: Vec<[u8; 16]> = (0..5).map(|_| spans::trace_id(&mut rng)).collect();
    let mut sizes = Vec::new();
    for (i, t) in traces.iter().enumerate() {
        assert_eq!(
            s.export_http(&spans::batch("w", spans::chain(&mut rng, *t, 3, 1)))
                .unwrap()
                .0,
            200
        );
        let seg = segments(s.data_dir()).pop().unwrap();
        sizes.push((i, std::fs::metadata(&seg).unwrap().len()));
    }
    s.kill();

    // Flip a byte inside the third record's payload, and append half a record of garbage.
    let seg = segments(s.data_dir()).pop().unwrap();
    let mut bytes = std::fs::read(&seg).unwrap();
    let (start, end) = (sizes[1].1 as usize, sizes[2].1 as usize);
    bytes[(start + end) / 2] ^= 0xff;
    bytes.extend_from_slice(&[0xA7, 0x1B, 0xE3, 0x5C, 0xff, 0x00, 0x00, 0x00, 1, 2, 3]);
    std::fs::write(&seg, &bytes).unwrap();

    s.restart().unwrap();
    assert_eq!(s.get("/ready").unwrap().status(), 200);
    for (i, t) in traces.iter().enumerate() {
        let found = s.trace(&hex::encode(t)).unwrap().is_some();
        assert_eq!(found, i != 2, "trace {i}: only the damaged record is lost");
    }
    let log = s.log();
    assert!(log.contains("corrupt_regions=1"), "{log}");
    // The log is writable again after the repair.
    let t = spans::trace_id(&mut rng);
    assert_eq!(
        s.export_http(&spans::batch("w", spans::chain(&mut rng, t, 2, 1)))
            .unwrap()
            .0,
        200
    );
    s.restart().unwrap();
    assert!(s.trace(&hex::encode(t)).unwrap().is_some());
}
