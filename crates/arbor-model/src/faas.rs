//! Serverless attributes in the shapes they arrive in.
//!
//! Two shapes are read alike wherever a figure is computed:
//!
//! - OpenTelemetry's conventions: an invocation carries `faas.invocation_id`,
//!   `faas.execution` or `faas.trigger`; flags are booleans, sizes integers
//!   (`faas.max_memory` in bytes).
//! - Serverless Console's: every value is a string (`"true"`, `"false"`, `"1024"`), the
//!   invocation is the span carrying `faas.name` and the *All Functions* tags
//!   ([`ALL_FUNCTIONS_TAGS`]) — the trace's root, or a SERVER or CONSUMER span, since the
//!   Console repeats the tags on every child span — `faas.max_memory` is in MB, the error
//!   message is in `faas.error_exception_message` (or `faas.error_message`), and the
//!   function reports its own figures: `faas.duration` and `faas.billed_duration`
//!   (milliseconds), `faas.max_memory_used_mb` (MB) and `faas.memory_pct` (percent of the
//!   configured memory).
//!
//! The readers here take any of those value types: a flag is a boolean, `"true"`/`"false"`
//! (any case) or an integer (non-zero is true); a number an integer, a double or a string
//! that parses as one.

use crate::otlp::{KeyValue, Span, SpanKind, any_value::Value};

/// The tags the Console's *All Functions* scope requires of a span.
pub const ALL_FUNCTIONS_TAGS: [&str; 5] = [
    "faas.error_timeout",
    "faas.coldstart",
    "faas.error",
    "faas.event_type",
    "faas.name",
];

/// The tags the Console's *API* scope requires of a span.
pub const API_TAGS: [&str; 3] = ["http.path", "http.method", "http.status_code"];

/// The attributes that mark an invocation in OpenTelemetry's conventions.
pub const OTEL_INVOCATION_TAGS: [&str; 3] =
    ["faas.invocation_id", "faas.execution", "faas.trigger"];

/// The attributes holding a failed invocation's message, first found first.
pub const ERROR_MESSAGE_TAGS: [&str; 2] = ["faas.error_exception_message", "faas.error_message"];

/// A memory size above this many is taken as bytes, at most this many as MB: no function
/// has 64 GB of memory, and none has less than 64 KB.
pub const MEMORY_MB_LIMIT: f64 = 65_536.0;

/// A flag: a boolean, `"true"`/`"false"` (trimmed, any case), or an integer.
pub fn flag(v: &Value) -> Option<bool> {
    match v {
        Value::BoolValue(b) => Some(*b),
        Value::IntValue(i) => Some(*i != 0),
        Value::StringValue(s) => {
            let s = s.trim();
            if s.eq_ignore_ascii_case("true") {
                Some(true)
            } else if s.eq_ignore_ascii_case("false") {
                Some(false)
            } else {
                None
            }
        }
        _ => None,
    }
}

/// Whether a flag is present and true.
pub fn is_true(v: Option<&Value>) -> bool {
    v.and_then(flag).unwrap_or(false)
}

/// A number: an integer, a double, or a string that parses as one.
pub fn number(v: &Value) -> Option<f64> {
    match v {
        Value::IntValue(i) => Some(*i as f64),
        Value::DoubleValue(d) => Some(*d),
        Value::StringValue(s) => s.trim().parse().ok().filter(|n: &f64| n.is_finite()),
        _ => None,
    }
}

/// A memory size in MB: values above [`MEMORY_MB_LIMIT`] are bytes (OpenTelemetry,
/// newer Serverless SDKs), others MB (the Console).
pub fn memory_mb(v: &Value) -> Option<f64> {
    let n = number(v)?;
    Some(if n > MEMORY_MB_LIMIT {
        n / (1024.0 * 1024.0)
    } else {
        n
    })
}

/// The value of `key` among `attrs` (the first, as a lookup finds it).
pub fn attr<'a>(attrs: &'a [KeyValue], key: &str) -> Option<&'a Value> {
    attrs
        .iter()
        .find(|kv| kv.key == key)?
        .value
        .as_ref()?
        .value
        .as_ref()
}

/// Whether the attributes say the function failed: `faas.error` or `faas.error_timeout`
/// is true.
pub fn failed(attrs: &[KeyValue]) -> bool {
    is_true(attr(attrs, "faas.error")) || is_true(attr(attrs, "faas.error_timeout"))
}

/// Whether the span carries every tag the Console's *All Functions* scope requires.
pub fn has_all_functions_tags(attrs: &[KeyValue]) -> bool {
    ALL_FUNCTIONS_TAGS
        .iter()
        .all(|k| attrs.iter().any(|kv| kv.key == *k))
}

/// Whether the span is a function invocation in either shape (see the module doc).
pub fn is_invocation(span: &Span) -> bool {
    if span
        .attributes
        .iter()
        .any(|kv| OTEL_INVOCATION_TAGS.contains(&kv.key.as_str()))
    {
        return true;
    }
    is_entry(span) && has_all_functions_tags(&span.attributes)
}

/// Whether the span is where a function's work enters: the trace's root, or a SERVER or
/// CONSUMER span (of the Console's spans, which all carry the tags, the invocation).
pub fn is_entry(span: &Span) -> bool {
    span.parent_span_id.is_empty()
        || matches!(
            SpanKind::try_from(span.kind),
            Ok(SpanKind::Server | SpanKind::Consumer)
        )
}

/// The failed invocation's own message (`faas.error_exception_message`, else
/// `faas.error_message`), when it has one.
pub fn error_message(attrs: &[KeyValue]) -> Option<String> {
    ERROR_MESSAGE_TAGS
        .iter()
        .find_map(|k| match attr(attrs, k) {
            Some(Value::StringValue(s)) if !s.trim().is_empty() => Some(s.clone()),
            _ => None,
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::otlp::AnyValue;

    fn kv(k: &str, v: Value) -> KeyValue {
        KeyValue {
            key: k.into(),
            value: Some(AnyValue { value: Some(v) }),
            ..Default::default()
        }
    }

    fn s(k: &str, v: &str) -> KeyValue {
        kv(k, Value::StringValue(v.into()))
    }

    #[test]
    fn flags_and_numbers_in_every_shape() {
        assert_eq!(flag(&Value::StringValue("true".into())), Some(true));
        assert_eq!(flag(&Value::StringValue(" FALSE ".into())), Some(false));
        assert_eq!(flag(&Value::StringValue("yes".into())), None);
        assert_eq!(flag(&Value::BoolValue(true)), Some(true));
        assert_eq!(flag(&Value::IntValue(0)), Some(false));
        assert_eq!(number(&Value::StringValue("1024".into())), Some(1024.0));
        assert_eq!(number(&Value::StringValue("12.5".into())), Some(12.5));
        assert_eq!(number(&Value::StringValue("NaN".into())), None);
        assert_eq!(number(&Value::StringValue("x".into())), None);
        assert_eq!(number(&Value::IntValue(7)), Some(7.0));
    }

    #[test]
    fn memory_in_mb_or_bytes() {
        assert_eq!(memory_mb(&Value::StringValue("1024".into())), Some(1024.0));
        assert_eq!(memory_mb(&Value::IntValue(134_217_728)), Some(128.0));
        assert_eq!(memory_mb(&Value::IntValue(10_240)), Some(10_240.0));
    }

    #[test]
    fn console_invocations_are_entry_spans_with_the_tags() {
        let tags: Vec<KeyValue> = ALL_FUNCTIONS_TAGS.iter().map(|k| s(k, "false")).collect();
        let root = Span {
            attributes: tags.clone(),
            ..Default::default()
        };
        assert!(is_invocation(&root));
        let child = Span {
            parent_span_id: vec![1; 8],
            kind: SpanKind::Internal as i32,
            attributes: tags.clone(),
            ..Default::default()
        };
        assert!(!is_invocation(&child), "children repeat the tags");
        let server = Span {
            kind: SpanKind::Server as i32,
            ..child.clone()
        };
        assert!(is_invocation(&server));
        let partial = Span {
            attributes: tags[1..].to_vec(),
            ..Default::default()
        };
        assert!(!is_invocation(&partial));
        let otel = Span {
            parent_span_id: vec![1; 8],
            attributes: vec![s("faas.trigger", "http")],
            ..Default::default()
        };
        assert!(is_invocation(&otel));
    }

    #[test]
    fn failures_and_messages() {
        assert!(failed(&[s("faas.error", "true")]));
        assert!(failed(&[s("faas.error_timeout", "true")]));
        assert!(failed(&[kv("faas.error", Value::BoolValue(true))]));
        assert!(!failed(&[s("faas.error", "false")]));
        assert_eq!(
            error_message(&[
                s("faas.error_message", "b"),
                s("faas.error_exception_message", "a")
            ]),
            Some("a".into())
        );
        assert_eq!(error_message(&[s("faas.error_message", " ")]), None);
    }
}
