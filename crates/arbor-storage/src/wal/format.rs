//! Byte-level encoding of segment headers, record headers and segment file
//! names. See the module documentation of [`crate::wal`] for the layout.

use super::SegmentId;

/// First eight bytes of every segment file.
pub(crate) const SEGMENT_MAGIC: [u8; 8] = *b"ARBORWAL";
/// The only segment format version this code reads and writes.
pub(crate) const FORMAT_VERSION: u32 = 1;
/// Length of the segment header: magic, version, segment id, checksum.
pub(crate) const SEGMENT_HEADER_LEN: usize = 24;
/// Length of a segment header as a file offset.
pub(crate) const SEGMENT_HEADER_LEN_U64: u64 = SEGMENT_HEADER_LEN as u64;

/// Sync marker that starts every record: `0x5CE3_1BA7` little-endian.
pub(crate) const RECORD_MARKER: [u8; 4] = 0x5CE3_1BA7_u32.to_le_bytes();
/// Length of a record header: marker, payload length, checksum.
pub(crate) const RECORD_HEADER_LEN: usize = 12;
/// Length of a record header as a file offset.
pub(crate) const RECORD_HEADER_LEN_U64: u64 = RECORD_HEADER_LEN as u64;

/// Suffix of segment file names.
const SEGMENT_SUFFIX: &str = ".wal";
/// Number of decimal digits in a segment file name.
const SEGMENT_DIGITS: usize = 20;

/// Encodes the header written at offset 0 of segment `id`.
pub(crate) fn encode_segment_header(id: SegmentId) -> [u8; SEGMENT_HEADER_LEN] {
    let mut header = [0u8; SEGMENT_HEADER_LEN];
    header[0..8].copy_from_slice(&SEGMENT_MAGIC);
    header[8..12].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
    header[12..20].copy_from_slice(&id.0.to_le_bytes());
    let crc = crc32c::crc32c(&header[0..20]);
    header[20..24].copy_from_slice(&crc.to_le_bytes());
    header
}

/// Outcome of checking a segment header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum HeaderCheck {
    Valid,
    /// The file is shorter than a segment header.
    Short,
    /// The header is damaged; the string says how.
    Corrupt(&'static str),
    /// The header is intact but written by an unknown format version.
    UnsupportedVersion(u32),
}

/// Checks the header of segment `id`; `bytes` is the start of the file (at
/// most [`SEGMENT_HEADER_LEN`] bytes are looked at).
pub(crate) fn check_segment_header(bytes: &[u8], id: SegmentId) -> HeaderCheck {
    let Some(header) = bytes.get(..SEGMENT_HEADER_LEN) else {
        return HeaderCheck::Short;
    };
    if header[0..8] != SEGMENT_MAGIC {
        return HeaderCheck::Corrupt("bad magic");
    }
    if crc32c::crc32c(&header[0..20]) != read_u32(&header[20..24]) {
        return HeaderCheck::Corrupt("header checksum mismatch");
    }
    let version = read_u32(&header[8..12]);
    if version != FORMAT_VERSION {
        return HeaderCheck::UnsupportedVersion(version);
    }
    if read_u64(&header[12..20]) != id.0 {
        return HeaderCheck::Corrupt("segment id does not match file name");
    }
    HeaderCheck::Valid
}

/// Encodes the header of a record carrying `payload`.
///
/// `payload.len()` must fit in a `u32`; the caller enforces this through the
/// record size limit.
pub(crate) fn encode_record_header(payload: &[u8]) -> [u8; RECORD_HEADER_LEN] {
    debug_assert!(u32::try_from(payload.len()).is_ok());
    let len = (payload.len() as u32).to_le_bytes();
    let crc = crc32c::crc32c_append(crc32c::crc32c(&len), payload);
    let mut header = [0u8; RECORD_HEADER_LEN];
    header[0..4].copy_from_slice(&RECORD_MARKER);
    header[4..8].copy_from_slice(&len);
    header[8..12].copy_from_slice(&crc.to_le_bytes());
    header
}

/// A record header parsed from disk, not yet checked against its payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct RecordHeader {
    pub(crate) payload_len: u32,
    pub(crate) crc: u32,
}

/// Parses a record header; `None` if the sync marker is missing.
pub(crate) fn decode_record_header(bytes: &[u8; RECORD_HEADER_LEN]) -> Option<RecordHeader> {
    if bytes[0..4] != RECORD_MARKER {
        return None;
    }
    Some(RecordHeader {
        payload_len: read_u32(&bytes[4..8]),
        crc: read_u32(&bytes[8..12]),
    })
}

/// Whether `payload` matches the checksum in `header`.
pub(crate) fn record_checksum_matches(header: RecordHeader, payload: &[u8]) -> bool {
    let crc = crc32c::crc32c_append(crc32c::crc32c(&header.payload_len.to_le_bytes()), payload);
    crc == header.crc
}

/// File name of segment `id`, e.g. `00000000000000000001.wal`.
pub(crate) fn segment_file_name(id: SegmentId) -> String {
    format!("{:0width$}{SEGMENT_SUFFIX}", id.0, width = SEGMENT_DIGITS)
}

/// Parses a segment file name; `None` for any other file name.
pub(crate) fn parse_segment_file_name(name: &str) -> Option<SegmentId> {
    let digits = name.strip_suffix(SEGMENT_SUFFIX)?;
    if digits.len() != SEGMENT_DIGITS || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok().map(SegmentId)
}

fn read_u32(bytes: &[u8]) -> u32 {
    let mut raw = [0u8; 4];
    raw.copy_from_slice(bytes);
    u32::from_le_bytes(raw)
}

fn read_u64(bytes: &[u8]) -> u64 {
    let mut raw = [0u8; 8];
    raw.copy_from_slice(bytes);
    u64::from_le_bytes(raw)
}
