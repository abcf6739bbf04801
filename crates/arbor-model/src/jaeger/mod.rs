//! OTLP → Jaeger's JSON trace model, the one Jaeger UI reads from `/api/traces`.
//!
//! The mapping is the usual one of Jaeger and the OpenTelemetry Collector:
//! - IDs as lowercase hex; a trace ID whose high 8 bytes are zero is written with 16 digits
//!   (as Jaeger does for 64-bit IDs), any other with 32.
//! - `startTime` and `duration` in microseconds; a span that ends before it starts has
//!   duration 0.
//! - One *process* per distinct resource (service name and resource attributes), named
//!   `p1`, `p2`, … in order of first use; the resource attributes other than `service.name`
//!   are its tags.
//! - `references`: the parent as `CHILD_OF`, then each link as `CHILD_OF` when its attribute
//!   `opentracing.ref_type` is `child_of`, else `FOLLOWS_FROM` (as Jaeger's OTLP translator
//!   writes and reads them).
//! - Tags: the span's attributes, then `otel.scope.name`, `otel.scope.version`, `span.kind`
//!   (`client`, `server`, `producer`, `consumer`, `internal`), `otel.status_code` (`OK`,
//!   `ERROR`) with `otel.status_description`, `error = true` for an error status, and
//!   `w3c.tracestate`. Types: `string`, `bool`, `int64`, `float64`, `binary` (base64).
//!   Integers beyond ±2^53 are written as strings, which JavaScript reads without loss;
//!   arrays and maps become their JSON text.
//! - Events become `logs`: the event name as field `event`, then its attributes.
//! - The span attribute `@jaeger@warnings` (a list of strings) becomes the span's `warnings`.
//! - Zipkin's shared spans (a client and a server span with the same span ID) are told apart
//!   as Jaeger does: the server span gets a new, unused span ID and the client span as parent.
//!
//! [`Trace`] writes the trace object straight to the output when serialized, without a
//! `serde_json::Value` tree.

mod trace;

use base64::Engine as _;
use serde_json::Value;

use crate::otlp::{AnyValue, SpanKind, any_value};

pub use trace::Trace;

/// Attribute holding warnings about a span, as Jaeger names it.
pub const WARNINGS_ATTRIBUTE: &str = "@jaeger@warnings";

/// Largest integer JavaScript holds exactly.
pub(crate) const MAX_SAFE_INTEGER: i64 = (1 << 53) - 1;

/// A trace ID in Jaeger's text form.
pub fn trace_id_text(id: &[u8]) -> String {
    if id.len() == 16 && id[..8].iter().all(|b| *b == 0) {
        hex::encode(&id[8..])
    } else {
        hex::encode(id)
    }
}

/// The text of a value, as Jaeger compares tag values in searches: strings as they are,
/// booleans `true`/`false`, integers in decimal, floats in their shortest form (`72.5`,
/// `1e+21` is written `1000000000000000000000`), bytes in base64, arrays and maps as JSON.
pub fn value_text(v: &AnyValue) -> String {
    match &v.value {
        Some(any_value::Value::StringValue(s)) => s.clone(),
        Some(any_value::Value::BoolValue(b)) => b.to_string(),
        Some(any_value::Value::IntValue(i)) => i.to_string(),
        Some(any_value::Value::DoubleValue(d)) => float_text(*d),
        Some(any_value::Value::BytesValue(b)) => {
            base64::engine::general_purpose::STANDARD.encode(b)
        }
        Some(any_value::Value::ArrayValue(_) | any_value::Value::KvlistValue(_)) => {
            plain_json(v).to_string()
        }
        // Dictionary references are resolved before spans are stored.
        Some(any_value::Value::StringValueStrindex(_)) | None => String::new(),
    }
}

/// A value as plain JSON (`["a",1]`, `{"k":"v"}`), as arrays and maps are shown as text.
pub fn plain_json(v: &AnyValue) -> Value {
    match &v.value {
        Some(any_value::Value::StringValue(s)) => Value::String(s.clone()),
        Some(any_value::Value::BoolValue(b)) => Value::Bool(*b),
        Some(any_value::Value::IntValue(i)) => Value::from(*i),
        Some(any_value::Value::DoubleValue(d)) => serde_json::Number::from_f64(*d)
            .map_or_else(|| Value::String(float_text(*d)), Value::Number),
        Some(any_value::Value::BytesValue(_)) => Value::String(value_text(v)),
        Some(any_value::Value::ArrayValue(a)) => {
            Value::Array(a.values.iter().map(plain_json).collect())
        }
        Some(any_value::Value::KvlistValue(l)) => Value::Object(
            l.values
                .iter()
                .map(|kv| {
                    (
                        kv.key.clone(),
                        kv.value.as_ref().map_or(Value::Null, plain_json),
                    )
                })
                .collect(),
        ),
        Some(any_value::Value::StringValueStrindex(_)) | None => Value::Null,
    }
}

/// A float as Go's `strconv.FormatFloat(f, 'f', -1, 64)` writes it.
pub(crate) fn float_text(d: f64) -> String {
    if d.is_nan() {
        "NaN".into()
    } else if d.is_infinite() {
        if d > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        }
    } else {
        // Rust's Display is the shortest round-tripping form, without exponent.
        d.to_string()
    }
}

/// The keyword of a span kind in the `span.kind` tag; `None` for unspecified.
pub fn kind_keyword(kind: i32) -> Option<&'static str> {
    match SpanKind::try_from(kind).ok()? {
        SpanKind::Internal => Some("internal"),
        SpanKind::Server => Some("server"),
        SpanKind::Client => Some("client"),
        SpanKind::Producer => Some("producer"),
        SpanKind::Consumer => Some("consumer"),
        SpanKind::Unspecified => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn value_text_is_jaegers() {
        let v = |x| AnyValue { value: Some(x) };
        assert_eq!(value_text(&v(any_value::Value::DoubleValue(72.5))), "72.5");
        assert_eq!(value_text(&v(any_value::Value::DoubleValue(3.0))), "3");
        assert_eq!(value_text(&v(any_value::Value::IntValue(-123))), "-123");
        assert_eq!(value_text(&v(any_value::Value::BoolValue(true))), "true");
    }
}
