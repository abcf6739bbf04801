//! The WAL record Arbor writes for each accepted request.
//!
//! Layout (all integers little-endian):
//!
//! ```text
//! u8   record version (1)
//! u16  tenant length, then the tenant's UTF-8 bytes
//! ...  the normalised batch: an OTLP ExportTraceServiceRequest in protobuf encoding
//! ```
//!
//! The WAL adds its own framing and checksum around this payload.

use arbor_model::otlp::ExportTraceServiceRequest;
use prost::Message;

const VERSION: u8 = 1;

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

/// Encodes one request for the WAL.
pub fn encode(tenant: &str, req: &ExportTraceServiceRequest) -> Vec<u8> {
    let tenant = tenant.as_bytes();
    let tenant_len =
        u16::try_from(tenant.len()).expect("tenant ids are limited to 255 bytes upstream");
    let mut out = Vec::with_capacity(3 + tenant.len() + req.encoded_len());
    out.push(VERSION);
    out.extend_from_slice(&tenant_len.to_le_bytes());
    out.extend_from_slice(tenant);
    req.encode(&mut out).expect("a Vec grows as needed");
    out
}

/// Splits a WAL payload into its tenant and the encoded batch.
fn split(payload: &[u8]) -> Result<(&str, &[u8]), RecordError> {
    let (&version, rest) = payload.split_first().ok_or(RecordError::Empty)?;
    if version != VERSION {
        return Err(RecordError::Version(version));
    }
    if rest.len() < 2 {
        return Err(RecordError::Truncated);
    }
    let tenant_len = u16::from_le_bytes([rest[0], rest[1]]) as usize;
    let rest = &rest[2..];
    let tenant = rest.get(..tenant_len).ok_or(RecordError::Truncated)?;
    let tenant = std::str::from_utf8(tenant).map_err(|_| RecordError::Tenant)?;
    Ok((tenant, &rest[tenant_len..]))
}

/// The tenant of a WAL payload, without decoding its batch.
pub fn peek_tenant(payload: &[u8]) -> Result<&str, RecordError> {
    split(payload).map(|(tenant, _)| tenant)
}

/// Decodes a WAL payload back into its tenant and request.
pub fn decode(payload: &[u8]) -> Result<(String, ExportTraceServiceRequest), RecordError> {
    let (tenant, batch) = split(payload)?;
    Ok((
        tenant.to_string(),
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
        assert!(matches!(decode(&[9]), Err(RecordError::Version(9))));
        assert_eq!(peek_tenant(&bytes).unwrap(), "tenant-a");
    }
}
