//! Arbor's span model.
//!
//! OTLP is the native model: resource → instrumentation scope → span, with events and links.
//! This crate holds the identifiers, re-exports the OTLP protobuf types, converts the wire
//! formats Arbor accepts (OTLP/JSON, Zipkin v2) into them, validates and normalises incoming
//! batches against configured limits, and reads and writes RFC 3339 times. It does no I/O.

pub mod faas;
pub mod ids;
pub mod jaeger;
pub mod otlp;
pub mod otlp_json;
pub mod otlp_json_encode;
pub mod time;
pub mod validate;
pub mod zipkin;
pub mod zipkin_encode;

pub use ids::{IdError, SpanId, TraceId};
