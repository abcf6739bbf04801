//! Reading HTTP request bodies within limits: the body as sent (`limits.max_request_bytes`,
//! also for chunked bodies without a length) and after decompression
//! (`limits.max_decompressed_bytes`, so a small gzip bomb cannot expand into memory).

use std::io::Read;

use axum::body::Body;
use bytes::{Bytes, BytesMut};
use http::HeaderMap;
use http::header::{CONTENT_ENCODING, CONTENT_LENGTH};
use http_body_util::BodyExt;

use super::Refused;
use super::budget::{DECODE_EXPANSION, Reservation};
use crate::config::LimitsConfig;
use crate::metrics::Protocol;
use crate::state::AppState;

/// Receives an HTTP request body: reads it within `limits.max_request_bytes`, reserving
/// in-flight memory as it arrives (a body that has not come yet holds nothing), counts it,
/// decompresses it within `limits.max_decompressed_bytes`, and reserves memory for its
/// decoded form. The reservation must be held until the request is answered.
///
/// A body refused part-way (over a limit, or the in-flight budget spent) is read to its end
/// and dropped first, up to [`DRAIN_LIMIT`], so the client, still writing, reads the answer
/// instead of a reset connection.
pub async fn receive(
    state: &AppState,
    protocol: Protocol,
    headers: &HeaderMap,
    body: Body,
) -> Result<(Bytes, Reservation), Refused> {
    let limits = &state.config.limits;
    let mut held = state.inflight.start();
    let raw = read_limited(body, headers, limits, &mut |bytes| {
        state.inflight.reserve(&mut held, bytes)
    })
    .await?;
    state.metrics.request(protocol, raw.len() as u64);
    let bytes = decompress(raw, headers, limits)?;
    state
        .inflight
        .reserve(&mut held, bytes.len() * DECODE_EXPANSION)?;
    Ok((bytes, held))
}

/// An oversized body is read and dropped up to this many bytes before the 413 is sent, so
/// the client, still writing, gets the answer instead of a reset connection; past it the
/// connection is closed.
const DRAIN_LIMIT: u64 = 64 * 1024 * 1024;

/// Memory is reserved for a body in steps of this many bytes as it arrives.
const RESERVE_STEP: usize = 256 * 1024;

/// Reads the whole body, refusing it past `limits.max_request_bytes`; `reserve` is asked
/// for memory ahead of the bytes kept (in steps), and its refusal ends the read.
pub async fn read_limited(
    body: Body,
    headers: &HeaderMap,
    limits: &LimitsConfig,
    reserve: &mut (dyn FnMut(usize) -> Result<(), Refused> + Send),
) -> Result<Bytes, Refused> {
    let max = limits.max_request_bytes.as_usize();
    let declared = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if let Some(len) = declared
        && len > max as u64
    {
        if len <= DRAIN_LIMIT {
            drain(body).await;
        }
        return Err(Refused::TooLarge(format!(
            "request body is {len} bytes, the limit is {max} (limits.max_request_bytes)"
        )));
    }
    let mut body = body;
    let mut buf = BytesMut::new();
    let mut reserved = 0usize;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(body_error)?;
        if let Ok(data) = frame.into_data() {
            if buf.len() + data.len() > max {
                drain(body).await;
                return Err(Refused::TooLarge(format!(
                    "request body exceeds {max} bytes (limits.max_request_bytes)"
                )));
            }
            let need = buf.len() + data.len();
            if need > reserved {
                let step = (need - reserved).max(RESERVE_STEP).min(max - reserved);
                if let Err(refused) = reserve(step) {
                    drain(body).await;
                    return Err(refused);
                }
                reserved += step;
                buf.reserve(reserved.saturating_sub(buf.capacity()));
            }
            buf.extend_from_slice(&data);
        }
    }
    Ok(buf.freeze())
}

/// What a body that failed to arrive is refused as: too slow (408), or broken off (400).
fn body_error(e: axum::Error) -> Refused {
    let slow = std::error::Error::source(&e)
        .and_then(|s| s.downcast_ref::<crate::listener::slow_body::TooSlow>())
        .map(ToString::to_string);
    match slow {
        Some(m) => Refused::TimedOut(m),
        None => Refused::BadRequest(format!("reading request body: {e}")),
    }
}

async fn drain(mut body: Body) {
    let mut seen = 0u64;
    while let Some(Ok(frame)) = body.frame().await {
        if let Ok(data) = frame.into_data() {
            seen += data.len() as u64;
            if seen > DRAIN_LIMIT {
                return;
            }
        }
    }
}

/// Undoes `Content-Encoding` (gzip, zstd, identity), refusing output past
/// `limits.max_decompressed_bytes`.
pub fn decompress(
    raw: Bytes,
    headers: &HeaderMap,
    limits: &LimitsConfig,
) -> Result<Bytes, Refused> {
    let encoding = headers
        .get(CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let max = limits.max_decompressed_bytes.as_usize();
    match encoding.as_str() {
        "" | "identity" => Ok(raw),
        "gzip" | "x-gzip" => read_capped(flate2::read::MultiGzDecoder::new(&raw[..]), max, "gzip"),
        "zstd" => {
            let decoder = zstd::stream::read::Decoder::new(&raw[..])
                .map_err(|e| Refused::BadRequest(format!("zstd body does not decompress: {e}")))?;
            read_capped(decoder, max, "zstd")
        }
        other => Err(Refused::UnsupportedMediaType(format!(
            "content-encoding {other:?} is not supported: use gzip, zstd or none"
        ))),
    }
}

fn read_capped(reader: impl Read, max: usize, name: &str) -> Result<Bytes, Refused> {
    let mut out = Vec::new();
    // One byte past the limit tells "exactly at the limit" from "over it".
    reader
        .take(max as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| Refused::BadRequest(format!("{name} body does not decompress: {e}")))?;
    if out.len() > max {
        return Err(Refused::TooLarge(format!(
            "decompressed body exceeds {max} bytes (limits.max_decompressed_bytes)"
        )));
    }
    Ok(Bytes::from(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::units::ByteSize;
    use std::io::Write;

    fn limits(req: u64, dec: u64) -> LimitsConfig {
        LimitsConfig {
            max_request_bytes: ByteSize(req),
            max_decompressed_bytes: ByteSize(dec),
            ..LimitsConfig::default()
        }
    }

    fn gzip(data: &[u8]) -> Bytes {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(data).unwrap();
        Bytes::from(e.finish().unwrap())
    }

    fn headers(encoding: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(CONTENT_ENCODING, encoding.parse().unwrap());
        h
    }

    #[test]
    fn gzip_bomb_is_refused() {
        let bomb = gzip(&vec![0u8; 10 << 20]);
        assert!(bomb.len() < 20_000);
        let err = decompress(bomb, &headers("gzip"), &limits(1 << 20, 1 << 20)).unwrap_err();
        assert!(
            matches!(&err, Refused::TooLarge(m) if m.contains("limits.max_decompressed_bytes")),
            "{err:?}"
        );
    }

    #[test]
    fn gzip_and_zstd_round_trip() {
        let data = b"hello spans".repeat(100);
        let out = decompress(gzip(&data), &headers("gzip"), &limits(1 << 20, 1 << 20)).unwrap();
        assert_eq!(&out[..], &data[..]);
        let z = Bytes::from(zstd::encode_all(&data[..], 3).unwrap());
        let out = decompress(z, &headers("zstd"), &limits(1 << 20, 1 << 20)).unwrap();
        assert_eq!(&out[..], &data[..]);
    }

    #[test]
    fn corrupt_and_unknown_encodings() {
        let err = decompress(
            Bytes::from_static(b"not gzip"),
            &headers("gzip"),
            &limits(1 << 20, 1 << 20),
        )
        .unwrap_err();
        assert!(matches!(err, Refused::BadRequest(_)));
        let err = decompress(
            Bytes::from_static(b"x"),
            &headers("br"),
            &limits(1 << 20, 1 << 20),
        )
        .unwrap_err();
        assert!(matches!(err, Refused::UnsupportedMediaType(_)));
    }
}
