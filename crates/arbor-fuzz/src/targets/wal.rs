//! The write-ahead log on damaged disks. The input chooses a log — how many records, their
//! sizes, the segment size — which the real `Wal` writes (once per layout, then reused),
//! and the damage: bit flips, overwritten, zeroed, inserted or deleted bytes, truncation,
//! a deleted segment. Then `Wal::open` replays it, and must:
//!
//! - not fail (damage is never an error, only I/O is) and not panic;
//! - hand back only records that were written, each at most once, in append order;
//! - hand back every record that lies wholly before the first damaged byte of its segment
//!   (all of them in undamaged segments);
//! - leave a log that takes a new record and replays, on the next open, exactly what it
//!   replayed before plus that record.
//!
//! The `record` target is the WAL payload itself (`record::decode`).

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::Path;

use arbitrary::Unstructured;
use arbor_storage::record;
use arbor_storage::wal::{Lsn, SyncPolicy, Wal, WalConfig, WalError};

use super::{Target, error_outcome};
use crate::engine::outcome;

/// Bytes of a record before its payload (marker, length, checksum).
const RECORD_HEADER: u64 = 12;
/// Bytes of a segment header.
const SEGMENT_HEADER: u64 = 24;

/// A log as written: its segment files and the records with their positions.
#[derive(Clone)]
struct Written {
    files: Vec<(String, Vec<u8>)>,
    records: Vec<(Lsn, Vec<u8>)>,
}

thread_local! {
    static LAYOUTS: RefCell<HashMap<(u8, u8, u8), Written>> = RefCell::new(HashMap::new());
}

fn config(dir: &Path, segment_bytes: u64) -> WalConfig {
    WalConfig {
        sync: SyncPolicy::None,
        segment_bytes,
        ..WalConfig::new(dir)
    }
}

/// A scratch directory, in memory when the machine has `/dev/shm` (fsyncs cost nothing
/// there, and the log's behaviour does not depend on the file system).
fn scratch() -> tempfile::TempDir {
    let shm = Path::new("/dev/shm");
    if shm.is_dir()
        && let Ok(dir) = tempfile::Builder::new()
            .prefix("arbor-fuzz-wal")
            .tempdir_in(shm)
    {
        return dir;
    }
    tempfile::tempdir().expect("a temporary directory")
}

fn segment_name(id: u64) -> String {
    format!("{id:020}.wal")
}

/// Writes a log with the real writer and keeps its files' bytes.
fn write_layout(key: (u8, u8, u8)) -> Written {
    let (count, size, seg) = key;
    let dir = scratch();
    let segment_bytes = 128u64 << (seg % 5);
    let (wal, _) = Wal::open(config(dir.path(), segment_bytes), |_, _| {
        Ok::<_, std::convert::Infallible>(())
    })
    .expect("a fresh log opens");
    let mut records = Vec::new();
    for i in 0..(1 + count % 24) as u32 {
        // Unique, recognisable payloads of varied sizes (some empty but for the index).
        let len = (i as usize * 37 + size as usize * 13) % (16 + size as usize * 4);
        let mut payload = i.to_le_bytes().to_vec();
        payload.extend((0..len).map(|j| (j as u8) ^ (i as u8)));
        let lsn = wal.append(payload.clone()).expect("append");
        records.push((lsn, payload));
    }
    wal.close().expect("close");
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir.path())
        .expect("list")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".wal"))
        .map(|n| {
            let bytes = std::fs::read(dir.path().join(&n)).expect("read segment");
            (n, bytes)
        })
        .collect();
    files.sort();
    Written { files, records }
}

fn layout(key: (u8, u8, u8)) -> Written {
    LAYOUTS.with(|l| {
        l.borrow_mut()
            .entry(key)
            .or_insert_with(|| write_layout(key))
            .clone()
    })
}

/// Applies the damage the input describes; returns the first damaged offset per file
/// (`None`: untouched) and whether any file was deleted.
fn damage(
    u: &mut Unstructured,
    files: &mut [(String, Option<Vec<u8>>)],
) -> arbitrary::Result<Vec<Option<u64>>> {
    let mut first: Vec<Option<u64>> = vec![None; files.len()];
    let ops = u.int_in_range(1..=4)?;
    for _ in 0..ops {
        let f = u.choose_index(files.len())?;
        let Some(bytes) = files[f].1.as_mut() else {
            continue;
        };
        let len = bytes.len();
        let at = u.int_in_range(0..=len)?;
        let n = u.int_in_range(1..=32usize)?;
        let mut touched = at as u64;
        match u.int_in_range(0..=6)? {
            0 if at < len => bytes[at] ^= 1 << u.int_in_range(0..=7)?,
            1 => {
                for b in bytes.iter_mut().skip(at).take(n) {
                    *b = u.arbitrary()?;
                }
            }
            2 => bytes.iter_mut().skip(at).take(n).for_each(|b| *b = 0),
            3 => bytes.truncate(at),
            4 => {
                let fill: Vec<u8> = (0..n).map(|_| u.arbitrary()).collect::<Result<_, _>>()?;
                bytes.splice(at..at, fill);
            }
            5 => {
                bytes.drain(at..(at + n).min(len));
            }
            6 => {
                files[f].1 = None;
                touched = 0;
            }
            _ => continue,
        }
        first[f] = Some(first[f].map_or(touched, |t| t.min(touched)));
    }
    Ok(first)
}

fn replay(dir: &Path, segment_bytes: u64) -> Result<(Wal, Vec<Vec<u8>>), WalError> {
    let mut got = Vec::new();
    let (wal, _report) = Wal::open(config(dir, segment_bytes), |_, payload: &[u8]| {
        got.push(payload.to_vec());
        Ok::<_, std::convert::Infallible>(())
    })?;
    Ok((wal, got))
}

fn run_wal(input: &[u8]) -> u64 {
    let mut u = Unstructured::new(input);
    let key: (u8, u8, u8) = (
        u.arbitrary::<u8>().unwrap_or(5),
        u.arbitrary::<u8>().unwrap_or(3) % 16,
        u.arbitrary::<u8>().unwrap_or(1),
    );
    let written = layout(key);
    let segment_bytes = 128u64 << (key.2 % 5);
    let mut files: Vec<(String, Option<Vec<u8>>)> = written
        .files
        .iter()
        .map(|(n, b)| (n.clone(), Some(b.clone())))
        .collect();
    let Ok(first_damage) = damage(&mut u, &mut files) else {
        return outcome("not enough bytes");
    };
    let dir = scratch();
    for (name, bytes) in &files {
        if let Some(b) = bytes {
            std::fs::write(dir.path().join(name), b).expect("write segment");
        }
    }

    let (wal, got) = match replay(dir.path(), segment_bytes) {
        Ok(r) => r,
        Err(WalError::UnsupportedVersion { .. }) => return outcome("unsupported version"),
        Err(e) => panic!("replaying a damaged log failed: {e:?}"),
    };

    // Only written records, each once, in append order.
    let index: HashMap<&[u8], usize> = written
        .records
        .iter()
        .enumerate()
        .map(|(i, (_, p))| (p.as_slice(), i))
        .collect();
    let mut last: Option<usize> = None;
    for p in &got {
        let i = *index
            .get(p.as_slice())
            .unwrap_or_else(|| panic!("replayed a record never written: {p:02x?}"));
        assert!(
            last.is_none_or(|l| i > l),
            "record {i} replayed after record {last:?}: duplicated or out of order"
        );
        last = Some(i);
    }
    // Every record wholly before the damage.
    let file_of: HashMap<String, usize> = files
        .iter()
        .enumerate()
        .map(|(i, (n, _))| (n.clone(), i))
        .collect();
    let mut must = 0;
    for (i, (lsn, payload)) in written.records.iter().enumerate() {
        let f = file_of[&segment_name(lsn.segment.0)];
        let end = lsn.offset + RECORD_HEADER + payload.len() as u64;
        let intact = match first_damage[f] {
            None => true,
            Some(d) => d >= SEGMENT_HEADER && end <= d,
        };
        if intact {
            must += 1;
            assert!(
                got.iter().any(|p| p == payload),
                "record {i} at {lsn} (ends at {end}) lies before the damage ({:?}) but was not replayed",
                first_damage[f]
            );
        }
    }

    // The repaired log takes a record and replays the same plus it.
    let after = b"appended after the repair".to_vec();
    wal.append(after.clone()).expect("append after replay");
    wal.close().expect("close after replay");
    let (wal, again) = replay(dir.path(), segment_bytes).expect("reopening the repaired log");
    drop(wal);
    let mut want = got.clone();
    want.push(after);
    assert_eq!(
        again.len(),
        want.len(),
        "the second open replayed {} records, the first {} (+1 appended)",
        again.len(),
        got.len()
    );
    assert!(again == want, "the second open replayed other records");

    outcome(&format!(
        "replayed {} of {} (intact {}), damaged files {}",
        got.len().min(4),
        written.records.len().min(4),
        must.min(4),
        first_damage.iter().filter(|d| d.is_some()).count()
    ))
}

pub fn wal() -> Target {
    Target {
        name: "wal",
        about: "WAL replay of damaged segment files (flips, overwrites, inserts, deletes, truncation, lost segments)",
        run: run_wal,
        seeds: || {
            (0u8..6)
                .map(|i| {
                    let mut v = vec![4 + i * 3, i, i % 5];
                    v.extend((0..40u8).map(|j| j.wrapping_mul(29).wrapping_add(i)));
                    v
                })
                .collect()
        },
        dict: &[
            b"\xa7\x1b\xe3\x5c",
            b"ARBORWAL",
            b"\x01\x00\x00\x00",
            b"\xff\xff\xff\xff",
        ],
        max_len: 256,
        smoke_iterations: 400,
    }
}

fn run_record(input: &[u8]) -> u64 {
    match record::decode(input) {
        Ok((tenant, req)) => {
            assert_eq!(
                record::peek_tenant(input).expect("peek after decode"),
                tenant
            );
            let again = record::encode(&tenant, &req);
            let (t2, r2) = record::decode(&again).expect("a re-encoded record decodes");
            assert_eq!(t2, tenant);
            assert_eq!(
                prost::Message::encode_to_vec(&r2),
                prost::Message::encode_to_vec(&req)
            );
            outcome(&format!("ok {}", tenant.len().min(3)))
        }
        Err(e) => error_outcome("record ", &e.to_string()),
    }
}

pub fn record() -> Target {
    Target {
        name: "record",
        about: "the WAL payload: record::decode / peek_tenant / encode",
        run: run_record,
        seeds: || {
            let mut rng = arbor_testkit::spans::rng(3);
            let trace = arbor_testkit::spans::trace_id(&mut rng);
            let batch = arbor_testkit::spans::batch(
                "svc",
                arbor_testkit::spans::chain(&mut rng, trace, 2, 1_700_000_000_000),
            );
            vec![
                record::encode("single-tenant", &batch),
                record::encode("", &Default::default()),
            ]
        },
        dict: &[b"\x01", b"\x02", b"\xff\xff", b"\x0a\x10"],
        max_len: 16 << 10,
        smoke_iterations: 3_000,
    }
}
