//! OTLP/JSON: the JSON encoding of OTLP/HTTP trace export requests.
//!
//! The format is protobuf's canonical JSON mapping of `ExportTraceServiceRequest`, with the
//! OTLP specification's one exception: trace and span IDs are hex strings, not base64.
//!
//! # Decoding ([`decode_request`])
//!
//! Accepts everything the OTLP spec and the protobuf JSON mapping allow:
//! - field names in lowerCamelCase (`startTimeUnixNano`) or as the proto names
//!   (`start_time_unix_nano`); the legacy `instrumentationLibrarySpans` /
//!   `instrumentationLibrary` are read as scope spans / scope, but only when the resource has no
//!   `scopeSpans` (transitional senders sent both with the same spans);
//! - unknown fields are ignored; `null` for any field means the field is absent;
//! - 64-bit and 32-bit integers as JSON numbers or decimal strings (an integral float such as
//!   `1e3` is accepted too); a value out of the field's range is an error;
//! - enums (`kind`, status `code`) as integers or as their proto names (`"SPAN_KIND_SERVER"`);
//!   an unknown name is an error, an unknown integer is kept (proto3 enums are open);
//! - `doubleValue` as a number or a string (`"NaN"`, `"Infinity"`, `"-Infinity"`, `"1.5"`);
//! - `bytesValue` as base64, standard or URL-safe alphabet, padding optional;
//! - an AnyValue `{}` is an empty value; if a sender sets several value fields, the first of
//!   string, bool, int, double, array, kvlist, bytes wins;
//! - trace/span IDs as hex of any case; empty or absent is empty bytes. Valid hex is passed
//!   through whatever its length: length and all-zero checks belong to `crate::validate`.
//!   A span whose `traceId`, `spanId` or `parentSpanId` is not hex (bad digit, odd length) is
//!   not a request error: it goes to [`Decoded::rejected`] with its JSON path and its
//!   neighbours are kept. A *link* with a non-hex ID is dropped and counted in the span's
//!   `droppedLinksCount`, as the validator does for links with bad IDs.
//!
//! Anything else that does not fit (wrong JSON type, bad number, unknown enum name) makes the
//! whole body a [`JsonError`] naming the JSON path and line/column. serde_json's recursion
//! limit (128 levels) stays on, so a body nested deeper is an error, not a stack overflow
//! (the values of unknown fields are skipped by serde_json without recursion, so nesting there
//! is harmless and ignored).
//!
//! The profiling-only `Resource.entity_refs`, `KeyValue.key_strindex` and
//! `AnyValue.string_value_strindex` are neither read nor written.
//!
//! # Encoding ([`crate::otlp_json_encode::Json`], [`encode_resource_spans`])
//!
//! Spec OTLP/JSON: lowerCamelCase names; IDs as lowercase hex; 64-bit integers
//! (`startTimeUnixNano`, `endTimeUnixNano`, `timeUnixNano`, `intValue`) as decimal strings;
//! 32-bit integers as numbers; enums as integers; `bytesValue` as padded standard base64;
//! doubles as numbers, except NaN and ±infinity as `"NaN"`, `"Infinity"`, `"-Infinity"`.
//! Fields holding their default value are omitted, except that spans always carry `traceId`,
//! `spanId`, `name`, `kind`, `startTimeUnixNano`, `endTimeUnixNano` and a `status` object
//! (`{}` when unset), and links always carry `traceId` and `spanId`.
//! `decode(encode(x)) == x` holds, except that a span without a status decodes with an empty
//! one (both mean "unset").

use std::fmt;
use std::marker::PhantomData;

use base64::Engine as _;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use serde::Deserialize;
use serde::de::{self, DeserializeOwned, Deserializer, Unexpected, Visitor};
use serde_json::Value;

use crate::otlp::{
    AnyValue, ArrayValue, Event, ExportTraceServiceRequest, InstrumentationScope, KeyValue,
    KeyValueList, Link, Resource, ResourceSpans, ScopeSpans, Span, SpanKind, Status, StatusCode,
    any_value,
};

/// A decoded request and the spans that could not be read.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Decoded {
    /// Every span that could be read, in the sender's grouping and order.
    pub request: ExportTraceServiceRequest,
    /// One entry per span left out of `request`.
    pub rejected: Vec<RejectedSpan>,
}

impl Decoded {
    /// The readable spans, and the reason each unreadable one was left out.
    pub fn into_parts(self) -> (ExportTraceServiceRequest, Vec<String>) {
        (
            self.request,
            self.rejected.into_iter().map(|r| r.reason).collect(),
        )
    }
}

/// A span left out of a decoded request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RejectedSpan {
    /// Where the span was and why it was left out, e.g.
    /// `resourceSpans[0].scopeSpans[0].spans[2]: traceId is not hex: "zz"`.
    pub reason: String,
}

/// A JSON body that could not be decoded at all.
#[derive(thiserror::Error, Debug)]
pub enum JsonError {
    /// Not JSON, or cut short.
    #[error("malformed JSON: {0}")]
    Malformed(serde_json::Error),
    /// Nested deeper than serde_json's recursion limit of 128 levels.
    #[error("JSON nested too deeply (the limit is 128 levels): {0}")]
    TooDeep(serde_json::Error),
    /// Well-formed JSON holding a value the format does not allow.
    #[error("invalid value at {path}: {error}")]
    Invalid {
        /// JSON path of the offending value, like `resourceSpans[0].scopeSpans[0].spans[1].kind`.
        path: String,
        error: serde_json::Error,
    },
}

impl JsonError {
    /// 1-based line of the error in the body.
    pub fn line(&self) -> usize {
        self.json_error().line()
    }

    /// 1-based column of the error in the body.
    pub fn column(&self) -> usize {
        self.json_error().column()
    }

    fn json_error(&self) -> &serde_json::Error {
        match self {
            Self::Malformed(e) | Self::TooDeep(e) | Self::Invalid { error: e, .. } => e,
        }
    }
}

/// Decodes an OTLP/JSON `ExportTraceServiceRequest` body.
pub fn decode_request(body: &[u8]) -> Result<Decoded, JsonError> {
    let wire: WireRequest = from_json_slice(body)?;
    Ok(convert_request(wire))
}

/// Encodes one `ResourceSpans` as spec OTLP/JSON, as a `Value`. To write JSON out, serialize
/// [`crate::otlp_json_encode::Json`] instead: it builds no tree.
pub fn encode_resource_spans(rs: &ResourceSpans) -> Value {
    serde_json::to_value(crate::otlp_json_encode::Json(rs))
        .expect("an OTLP message always serializes")
}

// ---------------------------------------------------------------------------------------------
// Parsing with useful errors (shared with the Zipkin decoder)
// ---------------------------------------------------------------------------------------------

/// Deserializes a JSON body, turning a failure into a [`JsonError`] that says where.
pub(crate) fn from_json_slice<T: DeserializeOwned>(body: &[u8]) -> Result<T, JsonError> {
    serde_json::from_slice(body).map_err(|error| classify::<T>(error, body))
}

fn classify<T: DeserializeOwned>(error: serde_json::Error, body: &[u8]) -> JsonError {
    match error.classify() {
        serde_json::error::Category::Data => JsonError::Invalid {
            path: error_path::<T>(body),
            error,
        },
        _ if error.to_string().starts_with("recursion limit exceeded") => JsonError::TooDeep(error),
        _ => JsonError::Malformed(error),
    }
}

/// Parses the body again with path tracking to name where it failed. Tracking costs time on
/// every field, so it only runs once the fast parse has already failed.
fn error_path<T: DeserializeOwned>(body: &[u8]) -> String {
    let mut de = serde_json::Deserializer::from_slice(body);
    match serde_path_to_error::deserialize::<_, T>(&mut de) {
        Err(e) => e.path().to_string(),
        Ok(_) => ".".to_string(),
    }
}

// ---------------------------------------------------------------------------------------------
// Flexible scalar forms
// ---------------------------------------------------------------------------------------------

/// An integer given as a JSON number or a decimal string (protobuf JSON writes 64-bit
/// integers as strings, many senders write numbers).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Int<T>(pub T);

impl<'de, T: TryFrom<i128>> Deserialize<'de> for Int<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(IntVisitor(PhantomData)).map(Int)
    }
}

/// The value of an optional integer field, 0 when absent.
pub(crate) fn int_or_zero<T: Default>(v: Option<Int<T>>) -> T {
    v.map(|i| i.0).unwrap_or_default()
}

struct IntVisitor<T>(PhantomData<T>);

impl<T: TryFrom<i128>> IntVisitor<T> {
    fn in_range<E: de::Error>(v: i128) -> Result<T, E> {
        T::try_from(v).map_err(|_| {
            E::custom(format_args!(
                "integer {v} does not fit in {}",
                std::any::type_name::<T>()
            ))
        })
    }

    /// An integral float such as `1e3` is an integer in protobuf JSON.
    fn from_integral_float(v: f64) -> Option<i128> {
        // fract() of NaN or infinity is NaN, so those fail here too.
        (v.fract() == 0.0).then_some(v as i128)
    }
}

impl<'de, T: TryFrom<i128>> Visitor<'de> for IntVisitor<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an integer, as a JSON number or a decimal string")
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<T, E> {
        Self::in_range(i128::from(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<T, E> {
        Self::in_range(i128::from(v))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<T, E> {
        match Self::from_integral_float(v) {
            Some(i) => Self::in_range(i),
            None => Err(E::invalid_value(Unexpected::Float(v), &self)),
        }
    }

    fn visit_str<E: de::Error>(self, s: &str) -> Result<T, E> {
        let parsed = s
            .parse::<i128>()
            .ok()
            .or_else(|| s.parse::<f64>().ok().and_then(Self::from_integral_float));
        match parsed {
            Some(i) => Self::in_range(i),
            None => Err(E::invalid_value(Unexpected::Str(s), &self)),
        }
    }
}

/// A double given as a JSON number or a string (`"NaN"`, `"Infinity"`, `"-Infinity"`, `"1.5"`).
#[derive(Debug, Clone, Copy)]
struct Double(f64);

impl<'de> Deserialize<'de> for Double {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(DoubleVisitor).map(Double)
    }
}

struct DoubleVisitor;

impl<'de> Visitor<'de> for DoubleVisitor {
    type Value = f64;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a number, or a string such as \"NaN\", \"Infinity\" or \"-Infinity\"")
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<f64, E> {
        Ok(v)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<f64, E> {
        Ok(v as f64)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<f64, E> {
        Ok(v as f64)
    }

    fn visit_str<E: de::Error>(self, s: &str) -> Result<f64, E> {
        // Rust's parser also takes "NaN", "Infinity" and "-Infinity" (any case).
        s.parse()
            .map_err(|_| E::invalid_value(Unexpected::Str(s), &self))
    }
}

/// A proto enum given as its integer or its name.
struct EnumVisitor {
    what: &'static str,
    from_name: fn(&str) -> Option<i32>,
}

impl EnumVisitor {
    fn in_range<E: de::Error>(&self, v: i128) -> Result<i32, E> {
        i32::try_from(v).map_err(|_| E::custom(format_args!("{} {v} is out of range", self.what)))
    }
}

impl<'de> Visitor<'de> for EnumVisitor {
    type Value = i32;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "a {} as an integer or a name", self.what)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<i32, E> {
        self.in_range(i128::from(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<i32, E> {
        self.in_range(i128::from(v))
    }

    fn visit_str<E: de::Error>(self, s: &str) -> Result<i32, E> {
        (self.from_name)(s).ok_or_else(|| E::custom(format_args!("unknown {} {s:?}", self.what)))
    }
}

/// `Span.kind`.
struct Kind(i32);

impl<'de> Deserialize<'de> for Kind {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(EnumVisitor {
            what: "span kind",
            from_name: |s| SpanKind::from_str_name(s).map(|k| k as i32),
        })
        .map(Kind)
    }
}

/// `Status.code`.
struct Code(i32);

impl<'de> Deserialize<'de> for Code {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(EnumVisitor {
            what: "status code",
            from_name: |s| StatusCode::from_str_name(s).map(|c| c as i32),
        })
        .map(Code)
    }
}

/// A trace or span ID. Bad hex is kept rather than failed so that only its span is rejected.
enum HexId {
    Bytes(Vec<u8>),
    Invalid { text: String, odd_length: bool },
}

impl<'de> Deserialize<'de> for HexId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_str(HexIdVisitor)
    }
}

struct HexIdVisitor;

impl<'de> Visitor<'de> for HexIdVisitor {
    type Value = HexId;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a hex string")
    }

    fn visit_str<E: de::Error>(self, s: &str) -> Result<HexId, E> {
        Ok(match hex::decode(s) {
            Ok(bytes) => HexId::Bytes(bytes),
            Err(e) => HexId::Invalid {
                // Bounded: the text only goes into a message.
                text: s.chars().take(64).collect(),
                odd_length: matches!(e, hex::FromHexError::OddLength),
            },
        })
    }
}

/// The bytes of an optional ID field, or why it is not hex.
fn id_bytes(field: &str, id: Option<HexId>) -> Result<Vec<u8>, String> {
    match id {
        None => Ok(Vec::new()),
        Some(HexId::Bytes(bytes)) => Ok(bytes),
        Some(HexId::Invalid {
            text,
            odd_length: true,
        }) => Err(format!(
            "{field} is not hex (odd number of digits): {text:?}"
        )),
        Some(HexId::Invalid { text, .. }) => Err(format!("{field} is not hex: {text:?}")),
    }
}

/// `bytesValue`: base64 in either alphabet, padded or not, as protobuf JSON allows.
struct Base64(Vec<u8>);

const BASE64_LENIENT: GeneralPurposeConfig =
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent);
const BASE64_STANDARD_LENIENT: GeneralPurpose =
    GeneralPurpose::new(&base64::alphabet::STANDARD, BASE64_LENIENT);
const BASE64_URL_SAFE_LENIENT: GeneralPurpose =
    GeneralPurpose::new(&base64::alphabet::URL_SAFE, BASE64_LENIENT);

impl<'de> Deserialize<'de> for Base64 {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_str(Base64Visitor).map(Base64)
    }
}

struct Base64Visitor;

impl<'de> Visitor<'de> for Base64Visitor {
    type Value = Vec<u8>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a base64 string")
    }

    fn visit_str<E: de::Error>(self, s: &str) -> Result<Vec<u8>, E> {
        BASE64_STANDARD_LENIENT
            .decode(s)
            .or_else(|_| BASE64_URL_SAFE_LENIENT.decode(s))
            .map_err(|e| E::custom(format_args!("bytesValue is not base64: {e}")))
    }
}

// ---------------------------------------------------------------------------------------------
// Wire structs: the JSON as sent. Every field is optional so that `null` reads as absent.
// ---------------------------------------------------------------------------------------------

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireRequest {
    #[serde(alias = "resource_spans")]
    resource_spans: Option<Vec<WireResourceSpans>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireResourceSpans {
    resource: Option<WireResource>,
    #[serde(alias = "scope_spans")]
    scope_spans: Option<Vec<WireScopeSpans>>,
    #[serde(alias = "instrumentation_library_spans")]
    instrumentation_library_spans: Option<Vec<WireScopeSpans>>,
    #[serde(alias = "schema_url")]
    schema_url: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireResource {
    attributes: Option<Vec<WireKeyValue>>,
    #[serde(alias = "dropped_attributes_count")]
    dropped_attributes_count: Option<Int<u32>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireScopeSpans {
    #[serde(alias = "instrumentationLibrary", alias = "instrumentation_library")]
    scope: Option<WireScope>,
    spans: Option<Vec<WireSpan>>,
    #[serde(alias = "schema_url")]
    schema_url: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireScope {
    name: Option<String>,
    version: Option<String>,
    attributes: Option<Vec<WireKeyValue>>,
    #[serde(alias = "dropped_attributes_count")]
    dropped_attributes_count: Option<Int<u32>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireSpan {
    #[serde(alias = "trace_id")]
    trace_id: Option<HexId>,
    #[serde(alias = "span_id")]
    span_id: Option<HexId>,
    #[serde(alias = "trace_state")]
    trace_state: Option<String>,
    #[serde(alias = "parent_span_id")]
    parent_span_id: Option<HexId>,
    flags: Option<Int<u32>>,
    name: Option<String>,
    kind: Option<Kind>,
    #[serde(alias = "start_time_unix_nano")]
    start_time_unix_nano: Option<Int<u64>>,
    #[serde(alias = "end_time_unix_nano")]
    end_time_unix_nano: Option<Int<u64>>,
    attributes: Option<Vec<WireKeyValue>>,
    #[serde(alias = "dropped_attributes_count")]
    dropped_attributes_count: Option<Int<u32>>,
    events: Option<Vec<WireEvent>>,
    #[serde(alias = "dropped_events_count")]
    dropped_events_count: Option<Int<u32>>,
    links: Option<Vec<WireLink>>,
    #[serde(alias = "dropped_links_count")]
    dropped_links_count: Option<Int<u32>>,
    status: Option<WireStatus>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireEvent {
    #[serde(alias = "time_unix_nano")]
    time_unix_nano: Option<Int<u64>>,
    name: Option<String>,
    attributes: Option<Vec<WireKeyValue>>,
    #[serde(alias = "dropped_attributes_count")]
    dropped_attributes_count: Option<Int<u32>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireLink {
    #[serde(alias = "trace_id")]
    trace_id: Option<HexId>,
    #[serde(alias = "span_id")]
    span_id: Option<HexId>,
    #[serde(alias = "trace_state")]
    trace_state: Option<String>,
    attributes: Option<Vec<WireKeyValue>>,
    #[serde(alias = "dropped_attributes_count")]
    dropped_attributes_count: Option<Int<u32>>,
    flags: Option<Int<u32>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireStatus {
    message: Option<String>,
    code: Option<Code>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireKeyValue {
    key: Option<String>,
    value: Option<WireAnyValue>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireAnyValue {
    #[serde(alias = "string_value")]
    string_value: Option<String>,
    #[serde(alias = "bool_value")]
    bool_value: Option<bool>,
    #[serde(alias = "int_value")]
    int_value: Option<Int<i64>>,
    #[serde(alias = "double_value")]
    double_value: Option<Double>,
    #[serde(alias = "array_value")]
    array_value: Option<WireValues<WireAnyValue>>,
    #[serde(alias = "kvlist_value")]
    kvlist_value: Option<WireValues<WireKeyValue>>,
    #[serde(alias = "bytes_value")]
    bytes_value: Option<Base64>,
}

/// `ArrayValue` and `KeyValueList`: `{"values": [...]}`.
#[derive(Deserialize)]
struct WireValues<T> {
    values: Option<Vec<T>>,
}

// ---------------------------------------------------------------------------------------------
// Wire → OTLP
// ---------------------------------------------------------------------------------------------

/// Where a span group sits in the request, for rejection messages.
struct GroupPath {
    resource: usize,
    /// `scopeSpans` or the legacy `instrumentationLibrarySpans`.
    label: &'static str,
    scope: usize,
}

impl fmt::Display for GroupPath {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(
            f,
            "resourceSpans[{}].{}[{}]",
            self.resource, self.label, self.scope
        )
    }
}

fn convert_request(wire: WireRequest) -> Decoded {
    let mut rejected = Vec::new();
    let resource_spans = wire
        .resource_spans
        .unwrap_or_default()
        .into_iter()
        .enumerate()
        .map(|(i, rs)| convert_resource_spans(rs, i, &mut rejected))
        .collect();
    Decoded {
        request: ExportTraceServiceRequest { resource_spans },
        rejected,
    }
}

fn convert_resource_spans(
    wire: WireResourceSpans,
    index: usize,
    rejected: &mut Vec<RejectedSpan>,
) -> ResourceSpans {
    let (label, groups) = pick_scope_spans(wire.scope_spans, wire.instrumentation_library_spans);
    let scope_spans = groups
        .into_iter()
        .enumerate()
        .map(|(j, ss)| {
            let path = GroupPath {
                resource: index,
                label,
                scope: j,
            };
            convert_scope_spans(ss, &path, rejected)
        })
        .collect();
    ResourceSpans {
        resource: wire.resource.map(convert_resource),
        scope_spans,
        schema_url: wire.schema_url.unwrap_or_default(),
    }
}

/// The current field wins; the legacy one is only read when the current one is empty, since
/// transitional senders filled both with the same spans.
fn pick_scope_spans(
    current: Option<Vec<WireScopeSpans>>,
    legacy: Option<Vec<WireScopeSpans>>,
) -> (&'static str, Vec<WireScopeSpans>) {
    match (current, legacy) {
        (Some(c), _) if !c.is_empty() => ("scopeSpans", c),
        (_, Some(l)) if !l.is_empty() => ("instrumentationLibrarySpans", l),
        _ => ("scopeSpans", Vec::new()),
    }
}

fn convert_resource(wire: WireResource) -> Resource {
    Resource {
        attributes: convert_key_values(wire.attributes),
        dropped_attributes_count: int_or_zero(wire.dropped_attributes_count),
        ..Default::default()
    }
}

fn convert_scope_spans(
    wire: WireScopeSpans,
    path: &GroupPath,
    rejected: &mut Vec<RejectedSpan>,
) -> ScopeSpans {
    let wire_spans = wire.spans.unwrap_or_default();
    let mut spans = Vec::with_capacity(wire_spans.len());
    for (k, span) in wire_spans.into_iter().enumerate() {
        match convert_span(span) {
            Ok(span) => spans.push(span),
            Err(reason) => rejected.push(RejectedSpan {
                reason: format!("{path}.spans[{k}]: {reason}"),
            }),
        }
    }
    ScopeSpans {
        scope: wire.scope.map(convert_scope),
        spans,
        schema_url: wire.schema_url.unwrap_or_default(),
    }
}

fn convert_scope(wire: WireScope) -> InstrumentationScope {
    InstrumentationScope {
        name: wire.name.unwrap_or_default(),
        version: wire.version.unwrap_or_default(),
        attributes: convert_key_values(wire.attributes),
        dropped_attributes_count: int_or_zero(wire.dropped_attributes_count),
    }
}

/// Converts one span, or says why its IDs cannot be read.
fn convert_span(wire: WireSpan) -> Result<Span, String> {
    // IDs first: a rejected span should not cost attribute conversion.
    let trace_id = id_bytes("traceId", wire.trace_id)?;
    let span_id = id_bytes("spanId", wire.span_id)?;
    let parent_span_id = id_bytes("parentSpanId", wire.parent_span_id)?;
    let (links, bad_links) = convert_links(wire.links);
    Ok(Span {
        trace_id,
        span_id,
        trace_state: wire.trace_state.unwrap_or_default(),
        parent_span_id,
        flags: int_or_zero(wire.flags),
        name: wire.name.unwrap_or_default(),
        kind: wire.kind.map_or(0, |k| k.0),
        start_time_unix_nano: int_or_zero(wire.start_time_unix_nano),
        end_time_unix_nano: int_or_zero(wire.end_time_unix_nano),
        attributes: convert_key_values(wire.attributes),
        dropped_attributes_count: int_or_zero(wire.dropped_attributes_count),
        events: wire
            .events
            .unwrap_or_default()
            .into_iter()
            .map(convert_event)
            .collect(),
        dropped_events_count: int_or_zero(wire.dropped_events_count),
        links,
        dropped_links_count: int_or_zero(wire.dropped_links_count).saturating_add(bad_links),
        status: wire.status.map(convert_status),
    })
}

fn convert_event(wire: WireEvent) -> Event {
    Event {
        time_unix_nano: int_or_zero(wire.time_unix_nano),
        name: wire.name.unwrap_or_default(),
        attributes: convert_key_values(wire.attributes),
        dropped_attributes_count: int_or_zero(wire.dropped_attributes_count),
    }
}

/// The readable links, and how many were dropped for IDs that are not hex.
fn convert_links(wire: Option<Vec<WireLink>>) -> (Vec<Link>, u32) {
    let mut dropped = 0u32;
    let links = wire
        .unwrap_or_default()
        .into_iter()
        .filter_map(|link| {
            let link = convert_link(link);
            if link.is_none() {
                dropped = dropped.saturating_add(1);
            }
            link
        })
        .collect();
    (links, dropped)
}

fn convert_link(wire: WireLink) -> Option<Link> {
    Some(Link {
        trace_id: id_bytes("traceId", wire.trace_id).ok()?,
        span_id: id_bytes("spanId", wire.span_id).ok()?,
        trace_state: wire.trace_state.unwrap_or_default(),
        attributes: convert_key_values(wire.attributes),
        dropped_attributes_count: int_or_zero(wire.dropped_attributes_count),
        flags: int_or_zero(wire.flags),
    })
}

fn convert_status(wire: WireStatus) -> Status {
    Status {
        message: wire.message.unwrap_or_default(),
        code: wire.code.map_or(0, |c| c.0),
    }
}

fn convert_key_values(wire: Option<Vec<WireKeyValue>>) -> Vec<KeyValue> {
    wire.unwrap_or_default()
        .into_iter()
        .map(convert_key_value)
        .collect()
}

fn convert_key_value(wire: WireKeyValue) -> KeyValue {
    KeyValue {
        key: wire.key.unwrap_or_default(),
        value: wire.value.map(convert_any_value),
        ..Default::default()
    }
}

fn convert_any_value(wire: WireAnyValue) -> AnyValue {
    AnyValue {
        value: any_value_of(wire),
    }
}

/// The first value field that is present; none for `{}`.
fn any_value_of(wire: WireAnyValue) -> Option<any_value::Value> {
    use any_value::Value as V;
    if let Some(s) = wire.string_value {
        return Some(V::StringValue(s));
    }
    if let Some(b) = wire.bool_value {
        return Some(V::BoolValue(b));
    }
    if let Some(i) = wire.int_value {
        return Some(V::IntValue(i.0));
    }
    if let Some(d) = wire.double_value {
        return Some(V::DoubleValue(d.0));
    }
    if let Some(array) = wire.array_value {
        let values = array.values.unwrap_or_default();
        return Some(V::ArrayValue(ArrayValue {
            values: values.into_iter().map(convert_any_value).collect(),
        }));
    }
    if let Some(list) = wire.kvlist_value {
        return Some(V::KvlistValue(KeyValueList {
            values: convert_key_values(list.values),
        }));
    }
    wire.bytes_value.map(|b| V::BytesValue(b.0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::otlp::{kv_bool, kv_int, kv_str};
    use serde_json::json;

    fn decode(v: Value) -> Decoded {
        decode_request(v.to_string().as_bytes()).unwrap()
    }

    fn decode_err(body: &str) -> JsonError {
        decode_request(body.as_bytes()).unwrap_err()
    }

    fn only_span(d: &Decoded) -> &Span {
        &d.request.resource_spans[0].scope_spans[0].spans[0]
    }

    fn value_of(kv: &KeyValue) -> &any_value::Value {
        kv.value.as_ref().unwrap().value.as_ref().unwrap()
    }

    fn one_span_body(span: Value) -> Value {
        json!({"resourceSpans": [{"scopeSpans": [{"spans": [span]}]}]})
    }

    #[test]
    fn spec_example_decodes() {
        let body = json!({
          "resourceSpans": [{
            "resource": {"attributes": [
              {"key": "service.name", "value": {"stringValue": "my.service"}}
            ]},
            "scopeSpans": [{
              "scope": {
                "name": "my.library", "version": "1.0.0",
                "attributes": [{"key": "my.scope.attribute", "value": {"stringValue": "x"}}]
              },
              "spans": [{
                "traceId": "5B8EFFF798038103D269B633813FC60C",
                "spanId": "EEE19B7EC3C1B174",
                "parentSpanId": "EEE19B7EC3C1B173",
                "name": "I'm a server span",
                "startTimeUnixNano": "1544712660000000000",
                "endTimeUnixNano": "1544712661000000000",
                "kind": 2,
                "attributes": [{"key": "my.span.attr", "value": {"stringValue": "some value"}}]
              }]
            }]
          }]
        });
        let d = decode(body);
        assert!(d.rejected.is_empty());
        let rs = &d.request.resource_spans[0];
        assert_eq!(
            crate::otlp::service_name(rs.resource.as_ref()),
            Some("my.service")
        );
        let scope = rs.scope_spans[0].scope.as_ref().unwrap();
        assert_eq!(
            (scope.name.as_str(), scope.version.as_str()),
            ("my.library", "1.0.0")
        );
        let span = only_span(&d);
        assert_eq!(
            hex::encode(&span.trace_id),
            "5b8efff798038103d269b633813fc60c"
        );
        assert_eq!(span.span_id, hex::decode("eee19b7ec3c1b174").unwrap());
        assert_eq!(
            span.parent_span_id,
            hex::decode("eee19b7ec3c1b173").unwrap()
        );
        assert_eq!(span.kind, SpanKind::Server as i32);
        assert_eq!(span.start_time_unix_nano, 1_544_712_660_000_000_000);
        assert_eq!(span.end_time_unix_nano, 1_544_712_661_000_000_000);
        assert_eq!(span.attributes, vec![kv_str("my.span.attr", "some value")]);
        assert_eq!(span.status, None);
    }

    #[test]
    fn snake_case_names_decode() {
        let body = json!({"resource_spans": [{
            "resource": {"attributes": [], "dropped_attributes_count": 1},
            "schema_url": "https://schema/r",
            "scope_spans": [{
                "scope": {"name": "lib", "dropped_attributes_count": 2},
                "schema_url": "https://schema/s",
                "spans": [{
                    "trace_id": "01", "span_id": "02", "parent_span_id": "03",
                    "trace_state": "a=b", "start_time_unix_nano": 5, "end_time_unix_nano": "6",
                    "dropped_attributes_count": 7, "dropped_events_count": 8,
                    "dropped_links_count": 9,
                    "attributes": [{"key": "k", "value": {"int_value": "3"}},
                                   {"key": "l", "value": {"kvlist_value": {"values": [
                                       {"key": "m", "value": {"string_value": "n"}}]}}}],
                    "events": [{"time_unix_nano": "10", "name": "e"}],
                    "links": [{"trace_id": "0a", "span_id": "0b", "trace_state": "c=d"}]
                }]
            }]
        }]});
        let d = decode(body);
        let rs = &d.request.resource_spans[0];
        assert_eq!(rs.schema_url, "https://schema/r");
        assert_eq!(rs.resource.as_ref().unwrap().dropped_attributes_count, 1);
        assert_eq!(rs.scope_spans[0].schema_url, "https://schema/s");
        assert_eq!(
            rs.scope_spans[0]
                .scope
                .as_ref()
                .unwrap()
                .dropped_attributes_count,
            2
        );
        let s = only_span(&d);
        assert_eq!(
            (s.trace_id.as_slice(), s.span_id.as_slice()),
            (&[1u8][..], &[2u8][..])
        );
        assert_eq!(s.parent_span_id, vec![3]);
        assert_eq!(s.trace_state, "a=b");
        assert_eq!((s.start_time_unix_nano, s.end_time_unix_nano), (5, 6));
        assert_eq!(
            (
                s.dropped_attributes_count,
                s.dropped_events_count,
                s.dropped_links_count
            ),
            (7, 8, 9)
        );
        assert_eq!(s.attributes[0], kv_int("k", 3));
        let any_value::Value::KvlistValue(list) = value_of(&s.attributes[1]) else {
            panic!("not a kvlist: {:?}", s.attributes[1]);
        };
        assert_eq!(list.values, vec![kv_str("m", "n")]);
        assert_eq!(
            (s.events[0].time_unix_nano, s.events[0].name.as_str()),
            (10, "e")
        );
        assert_eq!(s.links[0].trace_id, vec![0x0a]);
        assert_eq!(s.links[0].trace_state, "c=d");
    }

    #[test]
    fn integers_as_numbers_or_strings() {
        let d = decode(one_span_body(json!({
            "startTimeUnixNano": 1_700_000_000_000_000_000u64,
            "endTimeUnixNano": "18446744073709551615",
            "flags": "257",
            "droppedAttributesCount": "4",
            "droppedLinksCount": 1e1,
            "attributes": [
                {"key": "a", "value": {"intValue": -5}},
                {"key": "b", "value": {"intValue": "-9223372036854775808"}},
                {"key": "c", "value": {"intValue": "42"}}
            ]
        })));
        let s = only_span(&d);
        assert_eq!(s.start_time_unix_nano, 1_700_000_000_000_000_000);
        assert_eq!(s.end_time_unix_nano, u64::MAX);
        assert_eq!(s.flags, 257);
        assert_eq!(s.dropped_attributes_count, 4);
        assert_eq!(s.dropped_links_count, 10);
        assert_eq!(s.attributes[0], kv_int("a", -5));
        assert_eq!(s.attributes[1], kv_int("b", i64::MIN));
        assert_eq!(s.attributes[2], kv_int("c", 42));
    }

    #[test]
    fn integer_out_of_range_is_an_error() {
        let body = one_span_body(json!({"droppedAttributesCount": "4294967296"}));
        let err = decode_request(body.to_string().as_bytes()).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("does not fit in u32"), "{msg}");
        assert!(
            msg.contains("resourceSpans[0].scopeSpans[0].spans[0].droppedAttributesCount"),
            "{msg}"
        );
        let body = one_span_body(json!({"startTimeUnixNano": "12.5"}));
        assert!(decode_request(body.to_string().as_bytes()).is_err());
        let body = one_span_body(json!({"startTimeUnixNano": -1}));
        assert!(decode_request(body.to_string().as_bytes()).is_err());
    }

    #[test]
    fn enums_as_names_or_integers() {
        let d = decode(json!({"resourceSpans": [{"scopeSpans": [{"spans": [
            {"kind": "SPAN_KIND_SERVER", "status": {"code": "STATUS_CODE_ERROR", "message": "m"}},
            {"kind": 3, "status": {"code": 1}},
            {"kind": "SPAN_KIND_CONSUMER", "status": {"code": "STATUS_CODE_UNSET"}},
            {"kind": 42}
        ]}]}]}));
        let spans = &d.request.resource_spans[0].scope_spans[0].spans;
        let kinds: Vec<i32> = spans.iter().map(|s| s.kind).collect();
        assert_eq!(kinds, vec![2, 3, 5, 42]);
        let codes: Vec<Option<i32>> = spans
            .iter()
            .map(|s| s.status.as_ref().map(|st| st.code))
            .collect();
        assert_eq!(codes, vec![Some(2), Some(1), Some(0), None]);
        assert_eq!(spans[0].status.as_ref().unwrap().message, "m");
    }

    #[test]
    fn unknown_enum_name_is_an_error() {
        let err = decode_err(&one_span_body(json!({"kind": "SPAN_KIND_WIZARD"})).to_string());
        let msg = err.to_string();
        assert!(
            msg.contains("unknown span kind \"SPAN_KIND_WIZARD\""),
            "{msg}"
        );
        assert!(msg.contains("spans[0].kind"), "{msg}");
        let err = decode_err(&one_span_body(json!({"status": {"code": "BAD"}})).to_string());
        assert!(
            err.to_string().contains("unknown status code \"BAD\""),
            "{err}"
        );
    }

    #[test]
    fn invalid_hex_rejects_only_that_span() {
        let d = decode(json!({"resourceSpans": [
            {"scopeSpans": [{"spans": [
                {"traceId": "0102", "spanId": "01", "name": "good1"},
                {"traceId": "0102", "spanId": "01", "parentSpanId": "abc", "name": "odd"},
                {"traceId": "zz", "spanId": "01", "name": "bad"},
                {"traceId": "0102", "spanId": "01", "name": "good2"}
            ]}]},
            {"instrumentationLibrarySpans": [{"spans": [{"spanId": "0g"}]}]}
        ]}));
        let names: Vec<&str> = d.request.resource_spans[0].scope_spans[0]
            .spans
            .iter()
            .map(|s| s.name.as_str())
            .collect();
        assert_eq!(names, vec!["good1", "good2"]);
        let reasons: Vec<&str> = d.rejected.iter().map(|r| r.reason.as_str()).collect();
        assert_eq!(
            reasons,
            vec![
                "resourceSpans[0].scopeSpans[0].spans[1]: parentSpanId is not hex (odd number of digits): \"abc\"",
                "resourceSpans[0].scopeSpans[0].spans[2]: traceId is not hex: \"zz\"",
                "resourceSpans[1].instrumentationLibrarySpans[0].spans[0]: spanId is not hex: \"0g\"",
            ]
        );
    }

    #[test]
    fn link_with_invalid_hex_is_dropped_and_counted() {
        let d = decode(one_span_body(json!({
            "traceId": "01", "spanId": "02", "droppedLinksCount": 1,
            "links": [{"traceId": "xx", "spanId": "02"}, {"traceId": "03", "spanId": "04"}]
        })));
        assert!(d.rejected.is_empty());
        let s = only_span(&d);
        assert_eq!(s.links.len(), 1);
        assert_eq!(s.links[0].trace_id, vec![3]);
        assert_eq!(s.dropped_links_count, 2);
    }

    #[test]
    fn hex_ids_any_case_and_any_length_pass_through() {
        let d = decode(one_span_body(json!({
            "traceId": "AbCdEf", "spanId": "", "parentSpanId": null
        })));
        let s = only_span(&d);
        assert_eq!(s.trace_id, vec![0xab, 0xcd, 0xef]);
        assert!(s.span_id.is_empty());
        assert!(s.parent_span_id.is_empty());
    }

    #[test]
    fn any_value_kinds() {
        let d = decode(one_span_body(json!({"attributes": [
            {"key": "s", "value": {"stringValue": "x"}},
            {"key": "b", "value": {"boolValue": true}},
            {"key": "i", "value": {"intValue": 7}},
            {"key": "d1", "value": {"doubleValue": 1.5}},
            {"key": "d2", "value": {"doubleValue": 3}},
            {"key": "d3", "value": {"doubleValue": "NaN"}},
            {"key": "d4", "value": {"doubleValue": "Infinity"}},
            {"key": "d5", "value": {"doubleValue": "-Infinity"}},
            {"key": "a", "value": {"arrayValue": {"values": [{"intValue": "1"}, {}]}}},
            {"key": "kv", "value": {"kvlistValue": {"values": [
                {"key": "in", "value": {"boolValue": false}}]}}},
            {"key": "by", "value": {"bytesValue": "AQID/w=="}},
            {"key": "by_nopad_urlsafe", "value": {"bytesValue": "AQID_w"}},
            {"key": "empty", "value": {}},
            {"key": "none"},
            {"key": "null", "value": null}
        ]})));
        use any_value::Value as V;
        let a = &only_span(&d).attributes;
        assert_eq!(*value_of(&a[0]), V::StringValue("x".into()));
        assert_eq!(*value_of(&a[1]), V::BoolValue(true));
        assert_eq!(*value_of(&a[2]), V::IntValue(7));
        assert_eq!(*value_of(&a[3]), V::DoubleValue(1.5));
        assert_eq!(*value_of(&a[4]), V::DoubleValue(3.0));
        assert!(matches!(value_of(&a[5]), V::DoubleValue(d) if d.is_nan()));
        assert_eq!(*value_of(&a[6]), V::DoubleValue(f64::INFINITY));
        assert_eq!(*value_of(&a[7]), V::DoubleValue(f64::NEG_INFINITY));
        assert_eq!(
            *value_of(&a[8]),
            V::ArrayValue(ArrayValue {
                values: vec![
                    AnyValue {
                        value: Some(V::IntValue(1))
                    },
                    AnyValue { value: None }
                ]
            })
        );
        assert_eq!(
            *value_of(&a[9]),
            V::KvlistValue(KeyValueList {
                values: vec![kv_bool("in", false)]
            })
        );
        assert_eq!(*value_of(&a[10]), V::BytesValue(vec![1, 2, 3, 255]));
        assert_eq!(*value_of(&a[11]), V::BytesValue(vec![1, 2, 3, 255]));
        assert_eq!(a[12].value, Some(AnyValue { value: None }));
        assert_eq!(a[13].value, None);
        assert_eq!(a[14].value, None);
    }

    #[test]
    fn nulls_read_as_absent_and_unknown_fields_ignored() {
        let d = decode(json!({
            "resourceSpans": [{
                "resource": null, "scopeSpans": [{
                    "scope": null, "schemaUrl": null,
                    "spans": [{"name": null, "kind": null, "attributes": null, "events": null,
                               "status": null, "startTimeUnixNano": null, "someFutureField": {"a": [1, 2]}}]
                }],
                "futureThing": 1
            }],
            "extra": "ignored"
        }));
        let rs = &d.request.resource_spans[0];
        assert_eq!(rs.resource, None);
        assert_eq!(rs.scope_spans[0].scope, None);
        assert_eq!(*only_span(&d), Span::default());
    }

    #[test]
    fn legacy_instrumentation_library_spans() {
        let d = decode(json!({"resourceSpans": [{
            "instrumentationLibrarySpans": [{
                "instrumentationLibrary": {"name": "old-lib", "version": "0.1"},
                "spans": [{"name": "legacy"}]
            }]
        }]}));
        let ss = &d.request.resource_spans[0].scope_spans[0];
        assert_eq!(ss.scope.as_ref().unwrap().name, "old-lib");
        assert_eq!(ss.spans[0].name, "legacy");

        // When both are sent, the current field wins and spans are not doubled.
        let d = decode(json!({"resourceSpans": [{
            "scopeSpans": [{"spans": [{"name": "new"}]}],
            "instrumentationLibrarySpans": [{"spans": [{"name": "new"}]}]
        }]}));
        assert_eq!(d.request.resource_spans[0].scope_spans.len(), 1);
        assert_eq!(only_span(&d).name, "new");
    }

    #[test]
    fn empty_object_is_an_empty_request() {
        let d = decode_request(b"{}").unwrap();
        assert_eq!(d, Decoded::default());
    }

    #[test]
    fn garbage_and_truncated_bodies_are_errors_that_say_where() {
        let err = decode_err("this is not json");
        assert!(matches!(err, JsonError::Malformed(_)), "{err:?}");
        assert_eq!(err.line(), 1);

        let err = decode_err("{\"resourceSpans\": [{\"scopeSpans\": [");
        assert!(matches!(err, JsonError::Malformed(_)), "{err:?}");
        assert!(err.to_string().contains("EOF"), "{err}");

        let err = decode_err("{\"resourceSpans\": {}}");
        let msg = err.to_string();
        assert!(msg.contains("invalid value at resourceSpans"), "{msg}");
        assert!(msg.contains("line 1 column"), "{msg}");

        let err = decode_err(
            "{\"resourceSpans\": [{\"scopeSpans\": [{\"spans\": [{}, {\"name\": 5}]}]}]}",
        );
        let msg = err.to_string();
        assert!(
            msg.contains("resourceSpans[0].scopeSpans[0].spans[1].name"),
            "{msg}"
        );

        let err = decode_err("{} trailing");
        assert!(matches!(err, JsonError::Malformed(_)), "{err:?}");

        let body =
            one_span_body(json!({"attributes": [{"key": "b", "value": {"bytesValue": "!!"}}]}));
        let msg = decode_err(&body.to_string()).to_string();
        assert!(msg.contains("bytesValue is not base64"), "{msg}");
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_stack_overflow() {
        let depth = 100_000;
        // Inside an attribute value, where the wire types recurse.
        let mut inner = String::new();
        for _ in 0..depth {
            inner.push_str("{\"arrayValue\":{\"values\":[");
        }
        let body = format!(
            "{{\"resourceSpans\":[{{\"scopeSpans\":[{{\"spans\":[{{\"attributes\":[{{\"key\":\"k\",\"value\":{inner}"
        );
        let err = decode_err(&body);
        assert!(matches!(err, JsonError::TooDeep(_)), "{err:?}");

        // Through key-value lists.
        let body = format!(
            "{{\"resourceSpans\":[{{\"resource\":{{\"attributes\":[{{\"key\":\"k\",\"value\":{}",
            "{\"kvlistValue\":{\"values\":[{\"key\":\"k\",\"value\":".repeat(depth)
        );
        let err = decode_err(&body);
        assert!(matches!(err, JsonError::TooDeep(_)), "{err:?}");
        assert!(err.to_string().contains("nested too deeply"), "{err}");

        // An unknown field is skipped by serde_json with an explicit stack, not recursion,
        // so even absurd nesting there costs no stack and is ignored like any unknown field.
        let body = format!("{{\"unknown\":{}{}}}", "[".repeat(depth), "]".repeat(depth));
        assert_eq!(decode_request(body.as_bytes()).unwrap(), Decoded::default());
    }

    #[test]
    fn nesting_within_the_limit_is_fine() {
        let mut value = json!({"intValue": "1"});
        for _ in 0..30 {
            value = json!({"arrayValue": {"values": [value]}});
        }
        let d = decode(one_span_body(
            json!({"attributes": [{"key": "k", "value": value}]}),
        ));
        assert_eq!(only_span(&d).attributes.len(), 1);
    }

    fn rich_resource_spans() -> ResourceSpans {
        use any_value::Value as V;
        let nested = AnyValue {
            value: Some(V::KvlistValue(KeyValueList {
                values: vec![
                    kv_str("inner", ""),
                    KeyValue {
                        key: "arr".into(),
                        value: Some(AnyValue {
                            value: Some(V::ArrayValue(ArrayValue {
                                values: vec![
                                    AnyValue {
                                        value: Some(V::IntValue(0)),
                                    },
                                    AnyValue { value: None },
                                    AnyValue {
                                        value: Some(V::ArrayValue(ArrayValue::default())),
                                    },
                                ],
                            })),
                        }),
                        ..Default::default()
                    },
                ],
            })),
        };
        let double = |key: &str, d: f64| KeyValue {
            key: key.into(),
            value: Some(AnyValue {
                value: Some(V::DoubleValue(d)),
            }),
            ..Default::default()
        };
        let span = Span {
            trace_id: (1..=16).collect(),
            span_id: (1..=8).collect(),
            trace_state: "vendor=x".into(),
            parent_span_id: vec![0xab; 8],
            flags: 0x301,
            name: "GET /api".into(),
            kind: SpanKind::Client as i32,
            start_time_unix_nano: 1_700_000_000_123_456_789,
            end_time_unix_nano: u64::MAX,
            attributes: vec![
                kv_str("s", "text \"quoted\" ✓"),
                kv_bool("b", false),
                kv_int("i", i64::MIN),
                double("d", 0.1 + 0.2),
                double("tiny", 5e-324),
                double("big", f64::MAX),
                double("inf", f64::INFINITY),
                double("ninf", f64::NEG_INFINITY),
                KeyValue {
                    key: "bytes".into(),
                    value: Some(AnyValue {
                        value: Some(V::BytesValue(vec![0, 1, 254, 255])),
                    }),
                    ..Default::default()
                },
                KeyValue {
                    key: "nested".into(),
                    value: Some(nested),
                    ..Default::default()
                },
                KeyValue {
                    key: "empty".into(),
                    value: Some(AnyValue { value: None }),
                    ..Default::default()
                },
                KeyValue {
                    key: "absent".into(),
                    value: None,
                    ..Default::default()
                },
            ],
            dropped_attributes_count: 3,
            events: vec![
                Event {
                    time_unix_nano: 1_700_000_000_200_000_000,
                    name: "exception".into(),
                    attributes: vec![kv_str("exception.message", "boom")],
                    dropped_attributes_count: 1,
                },
                Event::default(),
            ],
            dropped_events_count: 4,
            links: vec![Link {
                trace_id: vec![9; 16],
                span_id: vec![8; 8],
                trace_state: "k=v".into(),
                attributes: vec![kv_int("link.n", 1)],
                dropped_attributes_count: 2,
                flags: 1,
            }],
            dropped_links_count: 5,
            status: Some(Status {
                message: "it broke".into(),
                code: StatusCode::Error as i32,
            }),
        };
        ResourceSpans {
            resource: Some(Resource {
                attributes: vec![kv_str("service.name", "checkout")],
                dropped_attributes_count: 6,
                ..Default::default()
            }),
            scope_spans: vec![
                ScopeSpans {
                    scope: Some(InstrumentationScope {
                        name: "lib".into(),
                        version: "1.2".into(),
                        attributes: vec![kv_bool("scope.attr", true)],
                        dropped_attributes_count: 7,
                    }),
                    spans: vec![span.clone()],
                    schema_url: "https://opentelemetry.io/schemas/1.21.0".into(),
                },
                ScopeSpans {
                    scope: Some(InstrumentationScope::default()),
                    spans: vec![Span {
                        status: Some(Status::default()),
                        ..Default::default()
                    }],
                    schema_url: String::new(),
                },
            ],
            schema_url: "https://opentelemetry.io/schemas/1.20.0".into(),
        }
    }

    #[test]
    fn round_trip_rich_span() {
        let rs = rich_resource_spans();
        let body = json!({"resourceSpans": [encode_resource_spans(&rs)]});
        let d = decode_request(body.to_string().as_bytes()).unwrap();
        assert!(d.rejected.is_empty());
        assert_eq!(d.request.resource_spans, vec![rs]);
    }

    #[test]
    fn encoding_follows_the_spec_shape() {
        let rs = rich_resource_spans();
        let v = encode_resource_spans(&rs);
        let span = &v["scopeSpans"][0]["spans"][0];
        assert_eq!(span["traceId"], "0102030405060708090a0b0c0d0e0f10");
        assert_eq!(span["spanId"], "0102030405060708");
        assert_eq!(span["parentSpanId"], "abababababababab");
        assert_eq!(span["kind"], 3);
        assert_eq!(span["startTimeUnixNano"], "1700000000123456789");
        assert_eq!(span["endTimeUnixNano"], "18446744073709551615");
        assert_eq!(span["flags"], 0x301);
        assert_eq!(span["status"], json!({"message": "it broke", "code": 2}));
        assert_eq!(
            span["attributes"][2]["value"],
            json!({"intValue": "-9223372036854775808"})
        );
        assert_eq!(
            span["attributes"][6]["value"],
            json!({"doubleValue": "Infinity"})
        );
        assert_eq!(
            span["attributes"][7]["value"],
            json!({"doubleValue": "-Infinity"})
        );
        assert_eq!(
            span["attributes"][8]["value"],
            json!({"bytesValue": "AAH+/w=="})
        );
        assert_eq!(span["events"][0]["timeUnixNano"], "1700000000200000000");
        assert_eq!(span["events"][1], json!({}));

        // A default span keeps only the always-present fields.
        let bare = &v["scopeSpans"][1];
        assert_eq!(bare["scope"], json!({}));
        assert_eq!(
            bare["spans"][0],
            json!({"traceId": "", "spanId": "", "name": "", "kind": 0,
                   "startTimeUnixNano": "0", "endTimeUnixNano": "0", "status": {}})
        );
        assert!(bare.get("schemaUrl").is_none());
    }

    #[test]
    fn nan_round_trips_as_a_string() {
        let mut rs = ResourceSpans::default();
        rs.scope_spans.push(ScopeSpans {
            spans: vec![Span {
                attributes: vec![KeyValue {
                    key: "nan".into(),
                    value: Some(AnyValue {
                        value: Some(any_value::Value::DoubleValue(f64::NAN)),
                    }),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        });
        let v = encode_resource_spans(&rs);
        assert_eq!(
            v["scopeSpans"][0]["spans"][0]["attributes"][0]["value"],
            json!({"doubleValue": "NaN"})
        );
        let d = decode(json!({"resourceSpans": [v]}));
        assert!(matches!(
            value_of(&only_span(&d).attributes[0]),
            any_value::Value::DoubleValue(d) if d.is_nan()
        ));
    }
}
