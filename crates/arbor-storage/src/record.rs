//! The WAL record Arbor writes for each accepted request.
//!
//! Layout (all integers little-endian):
//!
//! ```text
//! u8   record version (2; 1 is still read)
//! u64  when the server received the batch, Unix ns by its own clock (version 2 only)
//! u16  tenant length, then the tenant's UTF-8 bytes
//! ...  the normalised batch: an OTLP ExportTraceServiceRequest in protobuf encoding
//! ```
//!
//! The receipt time is what retention and compaction go by (see [`crate::retention`]);
//! a version-1 record (written before it was recorded) reads back without one, and replay
//! takes the time of the replay instead — later than the real receipt, so such spans are
//! kept a little longer, never deleted early.
//!
//! The WAL adds its own framing and checksum around this payload.

use arbor_model::otlp::ExportTraceServiceRequest;
use prost::Message;

/// The version this build writes.
const VERSION: u8 = 2;
/// Records written before the receipt time was recorded.
const VERSION_NO_RECEIPT: u8 = 1;

/// A record payload that could not be read back.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error("record is empty")]
    Empty,
    #[error("unknown record version {0}")]
    Version(u8),
    #[error("record is truncated")]
    Truncated,
    #[error("tenant is not utf-8")]
    Tenant,
    #[error("batch does not decode: {0}")]
    Batch(#[from] prost::DecodeError),
}

/// The server's clock now, Unix ns (0 before 1970).
pub fn now_unix_nano() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

/// Encodes one request for the WAL, received now.
pub fn encode(tenant: &str, req: &ExportTraceServiceRequest) -> Vec<u8> {
    encode_received(tenant, now_unix_nano(), req)
}

/// Encodes one request for the WAL, received at `received_unix_nano` (server clock).
pub fn encode_received(
    tenant: &str,
    received_unix_nano: u64,
    req: &ExportTraceServiceRequest,
) -> Vec<u8> {
    let tenant = tenant.as_bytes();
    let tenant_len =
        u16::try_from(tenant.len()).expect("tenant ids are limited to 255 bytes upstream");
    let mut out = Vec::with_capacity(11 + tenant.len() + req.encoded_len());
    out.push(VERSION);
    out.extend_from_slice(&received_unix_nano.to_le_bytes());
    out.extend_from_slice(&tenant_len.to_le_bytes());
    out.extend_from_slice(tenant);
    req.encode(&mut out).expect("a Vec grows as needed");
    out
}

/// The parts of a WAL payload: tenant, receipt time (absent in version 1) and the encoded
/// batch.
type Parts<'a> = (&'a str, Option<u64>, &'a [u8]);

/// Splits a WAL payload into its parts.
fn split(payload: &[u8]) -> Result<Parts<'_>, RecordError> {
    let (&version, rest) = payload.split_first().ok_or(RecordError::Empty)?;
    let (received, rest) = match version {
        VERSION => {
            let (time, rest) = rest
                .split_first_chunk::<8>()
                .ok_or(RecordError::Truncated)?;
            (Some(u64::from_le_bytes(*time)), rest)
        }
        VERSION_NO_RECEIPT => (None, rest),
        other => return Err(RecordError::Version(other)),
    };
    if rest.len() < 2 {
        return Err(RecordError::Truncated);
    }
    let tenant_len = u16::from_le_bytes([rest[0], rest[1]]) as usize;
    let rest = &rest[2..];
    let tenant = rest.get(..tenant_len).ok_or(RecordError::Truncated)?;
    let tenant = std::str::from_utf8(tenant).map_err(|_| RecordError::Tenant)?;
    Ok((tenant, received, &rest[tenant_len..]))
}

/// The tenant of a WAL payload, without decoding its batch.
pub fn peek_tenant(payload: &[u8]) -> Result<&str, RecordError> {
    split(payload).map(|(tenant, _, _)| tenant)
}

/// Decodes a WAL payload back into its tenant and request.
pub fn decode(payload: &[u8]) -> Result<(String, ExportTraceServiceRequest), RecordError> {
    decode_received(payload).map(|(tenant, _, req)| (tenant, req))
}

/// Decodes a WAL payload into its tenant, when the server received it (`None` for a
/// version-1 record) and its request.
pub fn decode_received(
    payload: &[u8],
) -> Result<(String, Option<u64>, ExportTraceServiceRequest), RecordError> {
    let (tenant, received, batch) = split(payload)?;
    Ok((
        tenant.to_string(),
        received,
        ExportTraceServiceRequest::decode(batch)?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use arbor_model::otlp::{ResourceSpans, ScopeSpans, Span};

    #[test]
    fn round_trip() {
        let req = ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                scope_spans: vec![ScopeSpans {
                    spans: vec![Span {
                        name: "x".into(),
                        ..Default::default()
                    }],
                    ..Default::default()
                }],
                ..Default::default()
            }],
        };
        let bytes = encode("tenant-a", &req);
        let (tenant, back) = decode(&bytes).unwrap();
        assert_eq!(tenant, "tenant-a");
        assert_eq!(back, req);
        assert!(matches!(decode(&bytes[..5]), Err(RecordError::Truncated)));
        assert!(matches!(decode(&bytes[..12]), Err(RecordError::Truncated)));
        assert!(matches!(decode(&[9]), Err(RecordError::Version(9))));
        assert_eq!(peek_tenant(&bytes).unwrap(), "tenant-a");
    }

    #[test]
    fn receipt_time_round_trips() {
        let req = ExportTraceServiceRequest::default();
        let bytes = encode_received("t", 1_234_567_890, &req);
        assert_eq!(bytes[0], 2);
        let (tenant, received, back) = decode_received(&bytes).unwrap();
        assert_eq!(
            (tenant.as_str(), received, back),
            ("t", Some(1_234_567_890), req)
        );
        let before = now_unix_nano();
        let (_, received, _) = decode_received(&encode("t", &Default::default())).unwrap();
        assert!(received.unwrap() >= before);
    }

    #[test]
    fn version_1_records_still_read_without_a_receipt_time() {
        // A record as version 1 wrote it: version, tenant length, tenant, batch.
        let req = ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans::default()],
        };
        let mut old = vec![1u8];
        old.extend_from_slice(&3u16.to_le_bytes());
        old.extend_from_slice(b"abc");
        old.extend_from_slice(&req.encode_to_vec());
        assert_eq!(peek_tenant(&old).unwrap(), "abc");
        let (tenant, received, back) = decode_received(&old).unwrap();
        assert_eq!((tenant.as_str(), received, back), ("abc", None, req));
    }
}
