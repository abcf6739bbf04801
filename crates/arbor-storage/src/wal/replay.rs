//! Reading segments back on open: record validation, skipping of corrupt
//! regions and truncation of a torn tail.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom};
use std::path::Path;

use super::format::{
    HeaderCheck, RECORD_HEADER_LEN, RECORD_HEADER_LEN_U64, RECORD_MARKER, SEGMENT_HEADER_LEN,
    SEGMENT_HEADER_LEN_U64, check_segment_header, decode_record_header, parse_segment_file_name,
    record_checksum_matches, segment_file_name,
};
use super::{CorruptRegion, Lsn, ReplayReport, SegmentId, WalError, io_error, sync_dir};

/// How many bytes the reader pulls from the file at a time. Small in unit
/// tests so that records straddle read boundaries.
const READ_CHUNK: usize = if cfg!(test) { 61 } else { 1 << 20 };

/// What the writer needs to know about a segment that survived replay.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct SegmentMeta {
    pub(super) bytes: u64,
    pub(super) records: u64,
    pub(super) last_record: Option<Lsn>,
}

/// Result of replaying a WAL directory.
#[derive(Debug)]
pub(super) struct Replayed {
    pub(super) report: ReplayReport,
    /// Segment files still on disk after replay, with their sizes.
    pub(super) segments: BTreeMap<SegmentId, SegmentMeta>,
    /// Id for the segment the writer creates next (larger than every id
    /// seen, including removed files).
    pub(super) next_id: SegmentId,
}

/// Lists the segment files in `dir`, sorted by id.
pub(super) fn list_segments(dir: &Path) -> Result<Vec<SegmentId>, WalError> {
    let entries = fs::read_dir(dir).map_err(|e| io_error("read directory", dir, e))?;
    let mut ids = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| io_error("read directory", dir, e))?;
        if let Some(id) = entry.file_name().to_str().and_then(parse_segment_file_name) {
            ids.push(id);
        }
    }
    ids.sort_unstable();
    Ok(ids)
}

/// Replays every segment in `dir` in order, handing each valid record to
/// `on_record`, and repairs the tail of the last segment.
pub(super) fn replay_dir<F>(dir: &Path, on_record: &mut F) -> Result<Replayed, WalError>
where
    F: FnMut(Lsn, &[u8]) -> Result<(), WalError>,
{
    let ids = list_segments(dir)?;
    let mut report = ReplayReport::default();
    let mut segments = BTreeMap::new();
    let next_id = ids.last().map_or(SegmentId(1), |id| id.next());
    let mut buf = Vec::new();

    for (index, &id) in ids.iter().enumerate() {
        let is_last = index + 1 == ids.len();
        let path = dir.join(segment_file_name(id));
        let file = File::open(&path).map_err(|e| io_error("open", &path, e))?;
        let file_len = file
            .metadata()
            .map_err(|e| io_error("stat", &path, e))?
            .len();
        report.segments += 1;
        let mut reader = SegmentReader::new(file, file_len, std::mem::take(&mut buf));

        let header = reader
            .get(0, SEGMENT_HEADER_LEN.min(file_len as usize))
            .map_err(|e| io_error("read", &path, e))?
            .unwrap_or_default();
        match check_segment_header(header, id) {
            HeaderCheck::Valid => {}
            HeaderCheck::UnsupportedVersion(version) => {
                return Err(WalError::UnsupportedVersion { path, version });
            }
            HeaderCheck::Short if is_last => {
                // A crash while the segment was being created.
                tracing::warn!(
                    segment = %id,
                    path = %path.display(),
                    bytes = file_len,
                    "wal: removing last segment with a torn header"
                );
                drop(reader);
                fs::remove_file(&path).map_err(|e| io_error("remove", &path, e))?;
                sync_dir(dir)?;
                report.torn_tail_truncated_bytes += file_len;
                continue;
            }
            check => {
                let reason = match check {
                    HeaderCheck::Corrupt(reason) => reason,
                    _ => "short header",
                };
                tracing::warn!(
                    segment = %id,
                    path = %path.display(),
                    bytes = file_len,
                    reason,
                    "wal: skipping segment with an unreadable header"
                );
                report.corrupt_regions.push(CorruptRegion {
                    segment: id,
                    offset: 0,
                    len: file_len,
                });
                segments.insert(
                    id,
                    SegmentMeta {
                        bytes: file_len,
                        ..SegmentMeta::default()
                    },
                );
                buf = reader.into_buffer();
                continue;
            }
        }

        let scan = scan_records(&mut reader, id, &path, &mut report, on_record)?;
        buf = reader.into_buffer();
        let mut bytes = file_len;
        if let Some(bad_start) = scan.bad_tail_start {
            if is_last {
                let truncated = file_len - scan.good_end;
                tracing::warn!(
                    segment = %id,
                    path = %path.display(),
                    offset = scan.good_end,
                    truncated_bytes = truncated,
                    "wal: truncating torn tail"
                );
                truncate(&path, scan.good_end)?;
                report.torn_tail_truncated_bytes += truncated;
                bytes = scan.good_end;
            } else {
                let len = file_len - bad_start;
                tracing::warn!(
                    segment = %id,
                    path = %path.display(),
                    offset = bad_start,
                    len,
                    "wal: skipped corrupt region at the end of a segment"
                );
                report.corrupt_regions.push(CorruptRegion {
                    segment: id,
                    offset: bad_start,
                    len,
                });
            }
        }
        segments.insert(
            id,
            SegmentMeta {
                bytes,
                records: scan.records,
                last_record: scan.last_record,
            },
        );
    }

    Ok(Replayed {
        report,
        segments,
        next_id,
    })
}

/// What scanning the records of one segment found.
struct Scan {
    /// End of the last valid record (or of the header).
    good_end: u64,
    /// Start of invalid bytes that run to the end of the file, if any.
    bad_tail_start: Option<u64>,
    records: u64,
    last_record: Option<Lsn>,
}

fn scan_records<F>(
    reader: &mut SegmentReader,
    id: SegmentId,
    path: &Path,
    report: &mut ReplayReport,
    on_record: &mut F,
) -> Result<Scan, WalError>
where
    F: FnMut(Lsn, &[u8]) -> Result<(), WalError>,
{
    let read_err = |e| io_error("read", path, e);
    let mut scan = Scan {
        good_end: SEGMENT_HEADER_LEN_U64,
        bad_tail_start: None,
        records: 0,
        last_record: None,
    };
    let mut pos = SEGMENT_HEADER_LEN_U64;
    let mut bad_start: Option<u64> = None;

    while pos < reader.file_len {
        match reader.record_at(pos).map_err(read_err)? {
            Some(payload_len) => {
                if let Some(start) = bad_start.take() {
                    let len = pos - start;
                    tracing::warn!(
                        segment = %id,
                        path = %path.display(),
                        offset = start,
                        len,
                        "wal: skipped corrupt region"
                    );
                    report.corrupt_regions.push(CorruptRegion {
                        segment: id,
                        offset: start,
                        len,
                    });
                }
                let lsn = Lsn {
                    segment: id,
                    offset: pos,
                };
                let payload = reader
                    .get(pos + RECORD_HEADER_LEN_U64, payload_len)
                    .map_err(read_err)?
                    .unwrap_or_default();
                on_record(lsn, payload)?;
                report.records += 1;
                report.bytes += payload_len as u64;
                scan.records += 1;
                scan.last_record = Some(lsn);
                pos += RECORD_HEADER_LEN_U64 + payload_len as u64;
                scan.good_end = pos;
            }
            None => {
                bad_start.get_or_insert(pos);
                match reader.find_marker(pos + 1).map_err(read_err)? {
                    Some(next) => pos = next,
                    None => break,
                }
            }
        }
    }
    scan.bad_tail_start = bad_start;
    Ok(scan)
}

/// Cuts `path` to `len` bytes and makes the new length durable.
fn truncate(path: &Path, len: u64) -> Result<(), WalError> {
    let file = OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(|e| io_error("open", path, e))?;
    file.set_len(len)
        .map_err(|e| io_error("truncate", path, e))?;
    file.sync_all().map_err(|e| io_error("fsync", path, e))
}

/// Forward-only windowed reader over one segment file: holds the bytes from
/// `buf_start` on, reads more on demand and forgets what lies behind the
/// position asked for, so memory stays bounded by the largest record.
struct SegmentReader {
    file: File,
    file_len: u64,
    buf: Vec<u8>,
    /// File offset of `buf[0]`.
    buf_start: u64,
}

impl SegmentReader {
    fn new(file: File, file_len: u64, mut buf: Vec<u8>) -> Self {
        buf.clear();
        Self {
            file,
            file_len,
            buf,
            buf_start: 0,
        }
    }

    fn into_buffer(self) -> Vec<u8> {
        self.buf
    }

    /// Bytes `[pos, pos + n)` of the file, or `None` if the file ends
    /// before. `pos` must not be behind the `pos` of an earlier call that
    /// returned bytes.
    fn get(&mut self, pos: u64, n: usize) -> io::Result<Option<&[u8]>> {
        let end = pos + n as u64;
        if end > self.file_len {
            return Ok(None);
        }
        debug_assert!(pos >= self.buf_start, "segment reader moved backwards");
        let buf_end = self.buf_start + self.buf.len() as u64;
        if end > buf_end {
            if pos >= buf_end {
                self.buf.clear();
                if pos > buf_end {
                    self.file.seek(SeekFrom::Start(pos))?;
                }
                self.buf_start = pos;
            } else {
                self.buf.drain(..(pos - self.buf_start) as usize);
                self.buf_start = pos;
            }
            let have_end = self.buf_start + self.buf.len() as u64;
            let want_end = end.max((have_end + READ_CHUNK as u64).min(self.file_len));
            let old_len = self.buf.len();
            self.buf.resize(old_len + (want_end - have_end) as usize, 0);
            self.file.read_exact(&mut self.buf[old_len..])?;
        }
        let start = (pos - self.buf_start) as usize;
        Ok(Some(&self.buf[start..start + n]))
    }

    /// If a valid record starts at `pos`, the length of its payload.
    fn record_at(&mut self, pos: u64) -> io::Result<Option<usize>> {
        let Some(raw) = self.get(pos, RECORD_HEADER_LEN)? else {
            return Ok(None);
        };
        let mut header = [0u8; RECORD_HEADER_LEN];
        header.copy_from_slice(raw);
        let Some(header) = decode_record_header(&header) else {
            return Ok(None);
        };
        let payload_len = header.payload_len as usize;
        // One window for header and payload, so that the reader stays at
        // `pos` and a scan from `pos + 1` remains possible.
        let Some(record) = self.get(pos, RECORD_HEADER_LEN + payload_len)? else {
            return Ok(None);
        };
        let payload = &record[RECORD_HEADER_LEN..];
        Ok(record_checksum_matches(header, payload).then_some(payload_len))
    }

    /// Offset of the first sync marker at or after `from`.
    fn find_marker(&mut self, from: u64) -> io::Result<Option<u64>> {
        let marker_len = RECORD_MARKER.len();
        let mut pos = from;
        while pos + marker_len as u64 <= self.file_len {
            let n = (self.file_len - pos).min(READ_CHUNK.max(marker_len) as u64) as usize;
            let Some(window) = self.get(pos, n)? else {
                return Ok(None);
            };
            if let Some(i) = window.windows(marker_len).position(|w| w == RECORD_MARKER) {
                return Ok(Some(pos + i as u64));
            }
            pos += (n - (marker_len - 1)) as u64;
        }
        Ok(None)
    }
}
