use std::convert::Infallible;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use super::format::{
    RECORD_HEADER_LEN_U64, SEGMENT_HEADER_LEN, SEGMENT_HEADER_LEN_U64, encode_segment_header,
    segment_file_name,
};
use super::*;

type Records = Vec<(Lsn, Vec<u8>)>;

fn config(dir: &Path) -> WalConfig {
    WalConfig {
        sync_interval: Duration::from_millis(1),
        ..WalConfig::new(dir)
    }
}

fn open(config: WalConfig) -> (Wal, ReplayReport, Records) {
    let mut records = Vec::new();
    let (wal, report) = Wal::open(config, |lsn, payload: &[u8]| {
        records.push((lsn, payload.to_vec()));
        Ok::<_, Infallible>(())
    })
    .unwrap();
    (wal, report, records)
}

fn open_with_hook(config: WalConfig, hook: FaultHook) -> (Wal, Records) {
    let mut records = Vec::new();
    let (wal, _) = Wal::open_with_fault_hook(config, hook, |lsn, payload: &[u8]| {
        records.push((lsn, payload.to_vec()));
        Ok::<_, Infallible>(())
    })
    .unwrap();
    (wal, records)
}

/// Replays `dir` and closes the WAL again.
fn replay(config: WalConfig) -> (ReplayReport, Records) {
    let (wal, report, records) = open(config);
    wal.close().unwrap();
    (report, records)
}

fn payload(i: usize) -> Vec<u8> {
    format!("record number {i} {}", "x".repeat(i % 17)).into_bytes()
}

fn payloads(records: &Records) -> Vec<Vec<u8>> {
    records.iter().map(|(_, p)| p.clone()).collect()
}

fn segment_path(dir: &Path, id: u64) -> PathBuf {
    dir.join(segment_file_name(SegmentId(id)))
}

fn segment_ids(dir: &Path) -> Vec<u64> {
    replay::list_segments(dir)
        .unwrap()
        .into_iter()
        .map(|id| id.0)
        .collect()
}

/// Counts fsyncs and fails writes or fsyncs once told to.
#[derive(Default)]
struct Faults {
    syncs: AtomicUsize,
    fail_sync: AtomicBool,
    fail_write: AtomicBool,
}

impl Faults {
    fn hook(self: &Arc<Self>) -> FaultHook {
        let faults = Arc::clone(self);
        Arc::new(move |op, _path: &Path| match op {
            IoOp::Sync => {
                faults.syncs.fetch_add(1, Ordering::SeqCst);
                if faults.fail_sync.load(Ordering::SeqCst) {
                    return Err(io::Error::other("injected fsync failure"));
                }
                Ok(())
            }
            IoOp::Write if faults.fail_write.load(Ordering::SeqCst) => {
                Err(io::Error::other("injected write failure"))
            }
            IoOp::Write => Ok(()),
        })
    }
}

#[test]
fn append_and_reopen_replays_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let (wal, report, records) = open(config(dir.path()));
    assert_eq!(report, ReplayReport::default());
    assert!(records.is_empty());

    let mut appended = Vec::new();
    for i in 0..20 {
        let p = payload(i);
        appended.push((wal.append(p.clone()).unwrap(), p));
    }
    let empty = wal.append(Vec::new()).unwrap();
    appended.push((empty, Vec::new()));
    assert!(appended.windows(2).all(|w| w[0].0 < w[1].0));
    assert_eq!(
        appended[0].0,
        Lsn {
            segment: SegmentId(1),
            offset: SEGMENT_HEADER_LEN_U64
        }
    );
    wal.close().unwrap();

    let (report, records) = replay(config(dir.path()));
    assert_eq!(records, appended);
    assert_eq!(report.records, 21);
    assert_eq!(
        report.bytes,
        appended.iter().map(|(_, p)| p.len() as u64).sum::<u64>()
    );
    assert_eq!(report.segments, 1);
    assert_eq!(report.torn_tail_truncated_bytes, 0);
    assert!(report.corrupt_regions.is_empty());

    // Each open starts a fresh segment; old records stay in place.
    let (wal, report, records) = open(config(dir.path()));
    assert_eq!(report.segments, 2);
    assert_eq!(records, appended);
    let lsn = wal.append(b"later".to_vec()).unwrap();
    assert_eq!(lsn.segment, SegmentId(3));
    assert_eq!(wal.segments().last().map(|s| s.active), Some(true));
    wal.close().unwrap();
}

#[test]
fn concurrent_appenders_share_fsyncs() {
    const THREADS: usize = 8;
    const PER_THREAD: usize = 40;
    let dir = tempfile::tempdir().unwrap();
    let faults = Arc::new(Faults::default());
    let (wal, _) = open_with_hook(config(dir.path()), faults.hook());
    let syncs_before = faults.syncs.load(Ordering::SeqCst);

    let acked: Vec<(Lsn, Vec<u8>)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..THREADS)
            .map(|t| {
                let wal = &wal;
                scope.spawn(move || {
                    (0..PER_THREAD)
                        .map(|i| {
                            let p = format!("thread {t} record {i}").into_bytes();
                            (wal.append(p.clone()).unwrap(), p)
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    let syncs = faults.syncs.load(Ordering::SeqCst) - syncs_before;
    assert_eq!(acked.len(), THREADS * PER_THREAD);
    assert!(
        syncs < THREADS * PER_THREAD / 2,
        "group commit should share fsyncs: {syncs} fsyncs for {} records",
        acked.len()
    );
    wal.close().unwrap();

    let (report, records) = replay(config(dir.path()));
    assert_eq!(report.records as usize, THREADS * PER_THREAD);
    let mut acked = acked;
    acked.sort();
    assert_eq!(records, acked, "replay is in lsn order and complete");
}

#[test]
fn sync_policies_control_fsyncs() {
    for (policy, expect_syncs_per_append) in [(SyncPolicy::Always, true), (SyncPolicy::None, false)]
    {
        let dir = tempfile::tempdir().unwrap();
        let faults = Arc::new(Faults::default());
        let cfg = WalConfig {
            sync: policy,
            ..config(dir.path())
        };
        let (wal, _) = open_with_hook(cfg.clone(), faults.hook());
        let before = faults.syncs.load(Ordering::SeqCst);
        for i in 0..5 {
            wal.append(payload(i)).unwrap();
        }
        let during = faults.syncs.load(Ordering::SeqCst) - before;
        if expect_syncs_per_append {
            assert_eq!(during, 5, "{policy:?}");
        } else {
            assert_eq!(during, 0, "{policy:?}");
            wal.sync().unwrap();
            assert_eq!(faults.syncs.load(Ordering::SeqCst) - before, 1);
        }
        wal.close().unwrap();
        assert_eq!(replay(cfg).1.len(), 5, "{policy:?}");
    }
}

/// Writes three records and returns the segment bytes and the offsets where
/// each record starts, plus the end of the last one.
fn three_record_segment() -> (Vec<u8>, Vec<u64>, Vec<Vec<u8>>) {
    let dir = tempfile::tempdir().unwrap();
    let cfg = WalConfig {
        sync: SyncPolicy::None,
        ..config(dir.path())
    };
    let (wal, _, _) = open(cfg);
    let payloads = vec![
        b"first".to_vec(),
        vec![7u8; 100],
        b"the last record".to_vec(),
    ];
    let mut offsets: Vec<u64> = payloads
        .iter()
        .map(|p| wal.append(p.clone()).unwrap().offset)
        .collect();
    wal.close().unwrap();
    let bytes = fs::read(segment_path(dir.path(), 1)).unwrap();
    offsets.push(bytes.len() as u64);
    (bytes, offsets, payloads)
}

#[test]
fn torn_tail_at_every_offset_of_the_last_record() {
    let (bytes, offsets, written) = three_record_segment();
    let last_start = offsets[2];
    let end = offsets[3];
    let cfg_for = |dir: &Path| WalConfig {
        sync: SyncPolicy::None,
        ..config(dir)
    };
    for cut in last_start..end {
        let dir = tempfile::tempdir().unwrap();
        let path = segment_path(dir.path(), 1);
        fs::write(&path, &bytes[..cut as usize]).unwrap();

        let (wal, report, records) = open(cfg_for(dir.path()));
        assert_eq!(payloads(&records), written[..2], "cut at {cut}");
        assert_eq!(
            report.torn_tail_truncated_bytes,
            cut - last_start,
            "cut at {cut}"
        );
        assert!(report.corrupt_regions.is_empty(), "cut at {cut}");
        assert_eq!(
            fs::metadata(&path).unwrap().len(),
            last_start,
            "cut at {cut}"
        );
        wal.append(b"after repair".to_vec()).unwrap();
        wal.close().unwrap();

        let (report, records) = replay(cfg_for(dir.path()));
        let mut expected = written[..2].to_vec();
        expected.push(b"after repair".to_vec());
        assert_eq!(payloads(&records), expected, "cut at {cut}");
        assert_eq!(report.torn_tail_truncated_bytes, 0, "cut at {cut}");
    }
}

#[test]
fn corrupt_middle_record_is_skipped() {
    let (bytes, offsets, written) = three_record_segment();
    let second = offsets[1];
    let second_len = offsets[2] - offsets[1];
    // Damage the marker, the length, the checksum and the payload in turn.
    for flip in [0, 1, 5, 9, 12, 50, second_len - 1] {
        let dir = tempfile::tempdir().unwrap();
        let mut damaged = bytes.clone();
        damaged[(second + flip) as usize] ^= 0x40;
        fs::write(segment_path(dir.path(), 1), &damaged).unwrap();

        let (report, records) = replay(config(dir.path()));
        assert_eq!(
            payloads(&records),
            vec![written[0].clone(), written[2].clone()],
            "flip at {flip}"
        );
        assert_eq!(records[1].0.offset, offsets[2]);
        assert_eq!(
            report.corrupt_regions,
            vec![CorruptRegion {
                segment: SegmentId(1),
                offset: second,
                len: second_len
            }],
            "flip at {flip}"
        );
        assert_eq!(report.torn_tail_truncated_bytes, 0);
        // Nothing was truncated: the damaged bytes are left alone.
        assert_eq!(
            fs::metadata(segment_path(dir.path(), 1)).unwrap().len(),
            bytes.len() as u64
        );
    }
}

#[test]
fn garbage_after_the_last_record_is_truncated() {
    let (bytes, offsets, written) = three_record_segment();
    let end = *offsets.last().unwrap();
    let garbage_cases: Vec<Vec<u8>> = vec![
        vec![0; 4096],
        b"not a record at all".to_vec(),
        // A plausible header whose checksum does not match.
        [
            &format::RECORD_MARKER[..],
            &3u32.to_le_bytes(),
            &[1, 2, 3, 4],
            b"abc",
        ]
        .concat(),
        // A marker whose length runs past the end of the file.
        [&format::RECORD_MARKER[..], &u32::MAX.to_le_bytes()].concat(),
    ];
    for garbage in garbage_cases {
        let dir = tempfile::tempdir().unwrap();
        let path = segment_path(dir.path(), 1);
        fs::write(&path, [&bytes[..], &garbage[..]].concat()).unwrap();
        let (report, records) = replay(config(dir.path()));
        assert_eq!(payloads(&records), written);
        assert_eq!(report.torn_tail_truncated_bytes, garbage.len() as u64);
        assert!(report.corrupt_regions.is_empty());
        assert_eq!(fs::metadata(&path).unwrap().len(), end);
    }
}

#[test]
fn large_records_and_corruption_across_read_windows() {
    // Records far larger than the test read window (61 bytes), with one in
    // the middle damaged, so that scanning crosses many window refills.
    let dir = tempfile::tempdir().unwrap();
    let cfg = WalConfig {
        sync: SyncPolicy::None,
        ..config(dir.path())
    };
    let (wal, _, _) = open(cfg.clone());
    let big: Vec<Vec<u8>> = (0..5u8).map(|i| vec![i; 1000 + i as usize]).collect();
    let lsns: Vec<Lsn> = big.iter().map(|p| wal.append(p.clone()).unwrap()).collect();
    wal.close().unwrap();

    let path = segment_path(dir.path(), 1);
    let mut bytes = fs::read(&path).unwrap();
    bytes[(lsns[2].offset + RECORD_HEADER_LEN_U64 + 500) as usize] ^= 1;
    fs::write(&path, &bytes).unwrap();

    let (report, records) = replay(cfg);
    assert_eq!(
        payloads(&records),
        vec![
            big[0].clone(),
            big[1].clone(),
            big[3].clone(),
            big[4].clone()
        ]
    );
    assert_eq!(report.corrupt_regions.len(), 1);
    assert_eq!(report.corrupt_regions[0].offset, lsns[2].offset);
    assert_eq!(
        report.corrupt_regions[0].len,
        lsns[3].offset - lsns[2].offset
    );
}

#[test]
fn rotation_by_size_and_replay_across_segments() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = WalConfig {
        segment_bytes: 200,
        ..config(dir.path())
    };
    let (wal, _, _) = open(cfg.clone());
    let payload = vec![42u8; 50]; // 62 bytes per record: 2 per segment
    let lsns: Vec<Lsn> = (0..7)
        .map(|_| wal.append(payload.clone()).unwrap())
        .collect();
    let segments: Vec<u64> = lsns.iter().map(|l| l.segment.0).collect();
    assert_eq!(segments, [1, 1, 2, 2, 3, 3, 4]);
    let infos = wal.segments();
    assert_eq!(infos.len(), 4);
    assert!(infos.iter().all(|s| s.bytes <= 200));
    assert_eq!(infos[0].records, 2);
    assert_eq!(infos[0].bytes, SEGMENT_HEADER_LEN_U64 + 2 * 62);
    assert_eq!(infos[0].last_record, Some(lsns[1]));
    assert!(!infos[0].active && infos[3].active);
    assert_eq!(infos[3].bytes, SEGMENT_HEADER_LEN_U64 + 62);
    wal.close().unwrap();

    let (report, records) = replay(cfg);
    assert_eq!(report.segments, 4);
    assert_eq!(records.iter().map(|r| r.0).collect::<Vec<_>>(), lsns);
    // A record larger than a segment gets a segment of its own.
    let (wal, _, _) = open(WalConfig {
        segment_bytes: 100,
        ..config(dir.path())
    });
    let a = wal.append(vec![1; 300]).unwrap();
    let b = wal.append(vec![2; 10]).unwrap();
    assert_eq!(a.segment.next(), b.segment);
    wal.close().unwrap();
}

#[test]
fn rotate_and_release() {
    let dir = tempfile::tempdir().unwrap();
    let (wal, _, _) = open(config(dir.path()));
    // Rotating an empty active segment creates no file.
    assert_eq!(wal.rotate().unwrap(), SegmentId(0));
    assert_eq!(segment_ids(dir.path()), [1]);

    let a = wal.append(b"a".to_vec()).unwrap();
    assert_eq!(wal.rotate().unwrap(), SegmentId(1));
    let b = wal.append(b"b".to_vec()).unwrap();
    assert_eq!(wal.rotate().unwrap(), SegmentId(2));
    assert_eq!(wal.rotate().unwrap(), SegmentId(2), "segment 3 is empty");
    let c = wal.append(b"c".to_vec()).unwrap();
    assert_eq!((a.segment.0, b.segment.0, c.segment.0), (1, 2, 3));
    assert_eq!(segment_ids(dir.path()), [1, 2, 3]);

    assert_eq!(wal.release_through(SegmentId(1)).unwrap(), 1);
    assert_eq!(segment_ids(dir.path()), [2, 3]);
    // The active segment is never deleted.
    assert_eq!(wal.release_through(SegmentId(10)).unwrap(), 1);
    assert_eq!(segment_ids(dir.path()), [3]);
    assert_eq!(wal.release_through(SegmentId(10)).unwrap(), 0);
    assert_eq!(wal.segments().len(), 1);

    let d = wal.append(b"d".to_vec()).unwrap();
    assert_eq!(wal.rotate().unwrap(), SegmentId(3));
    let e = wal.append(b"e".to_vec()).unwrap();
    assert_eq!(wal.rotate().unwrap(), SegmentId(4));
    // Segment 3 ends after d; release_before(d) must keep it.
    assert_eq!(wal.release_before(d).unwrap(), 0);
    assert_eq!(
        wal.release_before(Lsn {
            segment: d.segment,
            offset: d.offset + 1
        })
        .unwrap(),
        0,
        "segment 3 still holds bytes at or after the lsn"
    );
    assert_eq!(wal.release_before(e).unwrap(), 1);
    assert_eq!(segment_ids(dir.path()), [4, 5]);
    wal.close().unwrap();

    let (_, records) = replay(config(dir.path()));
    assert_eq!(payloads(&records), [b"e".to_vec()]);
}

#[test]
fn segment_ids_keep_growing_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let (wal, _, _) = open(config(dir.path()));
    wal.append(b"a".to_vec()).unwrap();
    wal.rotate().unwrap();
    wal.release_through(SegmentId(1)).unwrap();
    wal.close().unwrap();
    let (wal, _, records) = open(config(dir.path()));
    assert!(records.is_empty());
    assert_eq!(wal.append(b"b".to_vec()).unwrap().segment, SegmentId(3));
    wal.close().unwrap();
}

#[test]
fn fsync_failure_refuses_writes_until_a_new_segment_can_be_made() {
    let dir = tempfile::tempdir().unwrap();
    let faults = Arc::new(Faults::default());
    let (wal, _) = open_with_hook(config(dir.path()), faults.hook());
    let durable = wal.append(b"durable".to_vec()).unwrap();

    faults.fail_sync.store(true, Ordering::SeqCst);
    let err = wal.append(b"fails".to_vec()).unwrap_err();
    assert!(
        matches!(err, WalError::Poisoned { op: "fsync", .. }),
        "{err:?}"
    );
    assert!(
        err.to_string()
            .starts_with("wal is read-only after a failed fsync of "),
        "{err}"
    );
    assert!(
        err.to_string().ends_with(": injected fsync failure"),
        "{err}"
    );
    assert!(matches!(wal.poisoned(), Some(WalError::Poisoned { .. })));

    // While fsync keeps failing, the writer's attempts to start a new segment fail too,
    // and every request is refused: past several recovery intervals.
    let refused_until = std::time::Instant::now() + 3 * writer::RECOVERY_INTERVAL;
    while std::time::Instant::now() < refused_until {
        let err = wal.append(b"refused".to_vec()).unwrap_err();
        assert!(matches!(err, WalError::Poisoned { .. }), "{err:?}");
        assert!(matches!(wal.sync(), Err(WalError::Poisoned { .. })));
        std::thread::sleep(Duration::from_millis(100));
    }
    let err = futures_lite_block_on(wal.append_async(b"refused".to_vec())).unwrap_err();
    assert!(matches!(err, WalError::Poisoned { .. }), "{err:?}");

    // The disk works again: appends resume by themselves, in a new segment.
    faults.fail_sync.store(false, Ordering::SeqCst);
    let resumed = wait_for_append(&wal, b"after");
    assert!(wal.poisoned().is_none());
    assert_eq!(resumed.segment, durable.segment.next());
    wal.close().unwrap();

    // The record acknowledged before the failure and the one after it survive; the
    // refused ones were never written.
    let (_, records) = replay(config(dir.path()));
    let replayed = payloads(&records);
    assert_eq!(replayed.first().map(Vec::as_slice), Some(&b"durable"[..]));
    assert_eq!(replayed.last().map(Vec::as_slice), Some(&b"after"[..]));
    assert!(!replayed.contains(&b"refused".to_vec()));
}

/// Appends `payload` until the WAL takes it (it resumes within a recovery interval or two
/// of the fault clearing; the bound is only against a hang).
fn wait_for_append(wal: &Wal, payload: &[u8]) -> Lsn {
    let give_up = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        match wal.append(payload.to_vec()) {
            Ok(lsn) => return lsn,
            Err(WalError::Poisoned { .. }) if std::time::Instant::now() < give_up => {
                std::thread::sleep(Duration::from_millis(50));
            }
            Err(e) => panic!("the WAL did not resume: {e:?}"),
        }
    }
}

#[test]
fn write_failure_poisons_the_wal() {
    let dir = tempfile::tempdir().unwrap();
    let faults = Arc::new(Faults::default());
    let (wal, _) = open_with_hook(
        WalConfig {
            sync: SyncPolicy::None,
            ..config(dir.path())
        },
        faults.hook(),
    );
    faults.fail_write.store(true, Ordering::SeqCst);
    let err = wal.append(b"fails".to_vec()).unwrap_err();
    assert!(
        matches!(err, WalError::Poisoned { op: "write", .. }),
        "{err:?}"
    );
    let err = wal.append(b"refused".to_vec()).unwrap_err();
    assert!(
        matches!(err, WalError::Poisoned { op: "write", .. }),
        "{err:?}"
    );
    // A failed write (ENOSPC on a full disk) heals the same way once writes work.
    faults.fail_write.store(false, Ordering::SeqCst);
    let after = wait_for_append(&wal, b"after");
    assert_eq!(after.segment, SegmentId(2));
    wal.close().unwrap();
    let (_, records) = replay(config(dir.path()));
    assert_eq!(
        payloads(&records).last().map(Vec::as_slice),
        Some(&b"after"[..])
    );
}

#[test]
fn writer_panic_reports_closed_instead_of_hanging() {
    let dir = tempfile::tempdir().unwrap();
    let armed = Arc::new(AtomicBool::new(false));
    let trigger = Arc::clone(&armed);
    let hook: FaultHook = Arc::new(move |_, _: &Path| {
        assert!(!trigger.load(Ordering::SeqCst), "injected writer panic");
        Ok(())
    });
    let (wal, _) = open_with_hook(config(dir.path()), hook);
    wal.append(b"ok".to_vec()).unwrap();
    armed.store(true, Ordering::SeqCst);
    assert!(matches!(wal.append(b"x".to_vec()), Err(WalError::Closed)));
    assert!(matches!(wal.append(b"y".to_vec()), Err(WalError::Closed)));
    assert!(matches!(wal.sync(), Err(WalError::Closed)));
    assert!(matches!(wal.close(), Err(WalError::Closed)));
}

#[test]
fn record_too_large_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (wal, _, _) = open(WalConfig {
        max_record_bytes: 100,
        ..config(dir.path())
    });
    let err = wal.append(vec![0; 101]).unwrap_err();
    assert!(
        matches!(
            err,
            WalError::RecordTooLarge {
                size: 101,
                limit: 100
            }
        ),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "wal record of 101 bytes exceeds the limit of 100 bytes"
    );
    // The WAL is still usable, and the limit is inclusive.
    wal.append(vec![0; 100]).unwrap();
    wal.close().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn append_async_inside_a_runtime() {
    let dir = tempfile::tempdir().unwrap();
    let (wal, _, _) = open(config(dir.path()));
    let wal = Arc::new(wal);
    let tasks: Vec<_> = (0..50)
        .map(|i| {
            let wal = Arc::clone(&wal);
            tokio::spawn(async move { (wal.append_async(payload(i)).await.unwrap(), payload(i)) })
        })
        .collect();
    let mut acked = Vec::new();
    for task in tasks {
        acked.push(task.await.unwrap());
    }
    let err = wal.append_async(vec![0; 65 << 20]).await.unwrap_err();
    assert!(matches!(err, WalError::RecordTooLarge { .. }));
    let wal = Arc::into_inner(wal).unwrap();
    tokio::task::spawn_blocking(move || wal.close().unwrap())
        .await
        .unwrap();

    let (_, records) = replay(config(dir.path()));
    acked.sort();
    assert_eq!(records, acked);
}

#[test]
fn short_last_segment_is_removed_and_bad_headers_are_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let (wal, _, _) = open(config(dir.path()));
    wal.append(b"one".to_vec()).unwrap();
    wal.rotate().unwrap();
    wal.append(b"two".to_vec()).unwrap();
    wal.rotate().unwrap();
    wal.append(b"three".to_vec()).unwrap();
    wal.close().unwrap();

    // Damage segment 2's header; add a torn segment 4 (crash on creation).
    let path2 = segment_path(dir.path(), 2);
    let mut bytes = fs::read(&path2).unwrap();
    bytes[3] ^= 0xff;
    fs::write(&path2, &bytes).unwrap();
    let header = encode_segment_header(SegmentId(4));
    fs::write(segment_path(dir.path(), 4), &header[..10]).unwrap();

    let (wal, report, records) = open(config(dir.path()));
    assert_eq!(payloads(&records), [b"one".to_vec(), b"three".to_vec()]);
    assert_eq!(
        report.corrupt_regions,
        [CorruptRegion {
            segment: SegmentId(2),
            offset: 0,
            len: bytes.len() as u64
        }]
    );
    assert_eq!(report.torn_tail_truncated_bytes, 10);
    assert_eq!(report.segments, 4);
    assert!(!segment_path(dir.path(), 4).exists());
    // The skipped segment is kept (for inspection) until released.
    assert_eq!(segment_ids(dir.path()), [1, 2, 3, 5]);
    assert_eq!(wal.release_through(SegmentId(2)).unwrap(), 2);
    wal.close().unwrap();

    // A short segment that is not the last is skipped, not removed.
    fs::write(segment_path(dir.path(), 6), &header[..3]).unwrap();
    fs::write(
        segment_path(dir.path(), 7),
        encode_segment_header(SegmentId(7)),
    )
    .unwrap();
    let (report, records) = replay(config(dir.path()));
    assert_eq!(payloads(&records), [b"three".to_vec()]);
    assert_eq!(
        report.corrupt_regions,
        [CorruptRegion {
            segment: SegmentId(6),
            offset: 0,
            len: 3
        }]
    );
}

#[test]
fn unsupported_version_fails_the_open() {
    let dir = tempfile::tempdir().unwrap();
    let mut header = encode_segment_header(SegmentId(1));
    header[8] = 9;
    let crc = crc32c::crc32c(&header[..20]);
    header[20..].copy_from_slice(&crc.to_le_bytes());
    fs::write(segment_path(dir.path(), 1), header).unwrap();
    let err = Wal::open(config(dir.path()), |_, _| Ok::<_, Infallible>(())).unwrap_err();
    assert!(
        matches!(err, WalError::UnsupportedVersion { version: 9, .. }),
        "{err:?}"
    );
}

#[test]
fn replay_callback_error_fails_the_open() {
    let dir = tempfile::tempdir().unwrap();
    let (wal, _, _) = open(config(dir.path()));
    let lsn = wal.append(b"x".to_vec()).unwrap();
    wal.close().unwrap();
    let err = Wal::open(config(dir.path()), |_, _| Err("cannot decode")).unwrap_err();
    assert!(
        matches!(err, WalError::Replay { lsn: at, .. } if at == lsn),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        format!("wal replay callback failed at {lsn}")
    );
    assert_eq!(
        std::error::Error::source(&err).map(|s| s.to_string()),
        Some("cannot decode".to_owned())
    );
}

#[test]
fn second_open_of_the_same_directory_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (wal, _, _) = open(config(dir.path()));
    let err = Wal::open(config(dir.path()), |_, _| Ok::<_, Infallible>(())).unwrap_err();
    assert!(matches!(err, WalError::Locked { .. }), "{err:?}");
    drop(wal);
    let (wal, _, _) = open(config(dir.path()));
    wal.close().unwrap();
}

#[test]
fn segment_file_names_sort_by_id() {
    assert_eq!(segment_file_name(SegmentId(1)), "00000000000000000001.wal");
    assert_eq!(
        format::parse_segment_file_name("00000000000000000042.wal"),
        Some(SegmentId(42))
    );
    assert_eq!(format::parse_segment_file_name("42.wal"), None);
    assert_eq!(format::parse_segment_file_name("LOCK"), None);
    assert_eq!(SEGMENT_HEADER_LEN, 24);
    assert_eq!(RECORD_HEADER_LEN, 12);
}

#[test]
fn wal_is_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Wal>();
    assert_send_sync::<WalError>();
}

/// Polls a future to completion on this thread (it must not need a
/// runtime: the WAL's futures only wait on a channel).
fn futures_lite_block_on<F: Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(future)
}
