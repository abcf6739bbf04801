//! Validation on structured input: the fuzzer's bytes drive `arbitrary::Unstructured` to
//! build an `ExportTraceServiceRequest` directly — IDs of every near-miss length, all-zero
//! IDs, times in any order, multi-byte names and values around the truncation limit,
//! nested arrays and key/value lists — so `validate::normalize` sees shapes a decoder would
//! rarely let through, under limits that also come from the input.

use arbitrary::{Result, Unstructured};
use arbor_model::otlp::{
    AnyValue, Event, ExportTraceServiceRequest, InstrumentationScope, KeyValue, Link, Resource,
    ResourceSpans, ScopeSpans, Span, Status, any_value,
};
use arbor_model::validate::Limits;

use super::Target;
use super::model::check_batch;
use crate::engine::outcome;

fn id(u: &mut Unstructured, right: usize) -> Result<Vec<u8>> {
    let len = match u.int_in_range(0..=7)? {
        0 => 0,
        1 => right - 1,
        2 => right + 1,
        _ => right,
    };
    if u.ratio(1, 6)? {
        return Ok(vec![0; len]);
    }
    (0..len).map(|_| u.arbitrary::<u8>()).collect()
}

fn text(u: &mut Unstructured) -> Result<String> {
    const PIECES: &[&str] = &["a", "é", "€", "𝄞", "\u{0}", " ", "GET /x", "ünïcødé"];
    let n = u.int_in_range(0..=24)?;
    let mut s = String::new();
    for _ in 0..n {
        s.push_str(PIECES[u.choose_index(PIECES.len())?]);
    }
    Ok(s)
}

fn value(u: &mut Unstructured, depth: u32) -> Result<AnyValue> {
    use any_value::Value;
    let pick = u.int_in_range(0..=if depth >= 3 { 5 } else { 7 })?;
    let v = match pick {
        0 => None,
        1 => Some(Value::StringValue(text(u)?)),
        2 => Some(Value::BoolValue(u.arbitrary()?)),
        3 => Some(Value::IntValue(u.arbitrary()?)),
        4 => Some(Value::DoubleValue(u.arbitrary()?)),
        5 => {
            let n = u.int_in_range(0..=80)?;
            Some(Value::BytesValue(vec![0xab; n]))
        }
        6 => {
            let n = u.int_in_range(0..=3)?;
            let values = (0..n).map(|_| value(u, depth + 1)).collect::<Result<_>>()?;
            Some(Value::ArrayValue(arbor_model::otlp::ArrayValue { values }))
        }
        _ => Some(Value::KvlistValue(arbor_model::otlp::KeyValueList {
            values: attrs(u, depth + 1)?,
        })),
    };
    Ok(AnyValue { value: v })
}

fn attrs(u: &mut Unstructured, depth: u32) -> Result<Vec<KeyValue>> {
    let n = u.int_in_range(0..=3)?;
    (0..n)
        .map(|_| {
            Ok(KeyValue {
                key: text(u)?,
                value: if u.ratio(1, 8)? {
                    None
                } else {
                    Some(value(u, depth)?)
                },
                ..Default::default()
            })
        })
        .collect()
}

fn span(u: &mut Unstructured) -> Result<Span> {
    let start: u64 = u.arbitrary()?;
    let end = match u.int_in_range(0..=3)? {
        0 => start.wrapping_sub(1),
        1 => start,
        2 => u.arbitrary()?,
        _ => start.saturating_add(u.int_in_range(0..=1_000_000)?),
    };
    let links = (0..u.int_in_range(0..=2)?)
        .map(|_| {
            Ok(Link {
                trace_id: id(u, 16)?,
                span_id: id(u, 8)?,
                attributes: attrs(u, 1)?,
                ..Default::default()
            })
        })
        .collect::<Result<_>>()?;
    let events = (0..u.int_in_range(0..=2)?)
        .map(|_| {
            Ok(Event {
                time_unix_nano: u.arbitrary()?,
                name: text(u)?,
                attributes: attrs(u, 1)?,
                dropped_attributes_count: 0,
            })
        })
        .collect::<Result<_>>()?;
    Ok(Span {
        trace_id: id(u, 16)?,
        span_id: id(u, 8)?,
        parent_span_id: if u.arbitrary()? {
            id(u, 8)?
        } else {
            Vec::new()
        },
        name: text(u)?,
        kind: u.int_in_range(-1..=6)?,
        start_time_unix_nano: start,
        end_time_unix_nano: end,
        attributes: attrs(u, 0)?,
        events,
        links,
        status: if u.arbitrary()? {
            Some(Status {
                code: u.int_in_range(-1..=3)?,
                message: text(u)?,
            })
        } else {
            None
        },
        ..Default::default()
    })
}

fn request(u: &mut Unstructured) -> Result<ExportTraceServiceRequest> {
    let resource_spans = (0..u.int_in_range(0..=3)?)
        .map(|_| {
            Ok(ResourceSpans {
                resource: if u.arbitrary()? {
                    Some(Resource {
                        attributes: attrs(u, 0)?,
                        ..Default::default()
                    })
                } else {
                    None
                },
                scope_spans: (0..u.int_in_range(0..=2)?)
                    .map(|_| {
                        Ok(ScopeSpans {
                            scope: Some(InstrumentationScope {
                                name: text(u)?,
                                attributes: attrs(u, 1)?,
                                ..Default::default()
                            }),
                            spans: (0..u.int_in_range(0..=6)?)
                                .map(|_| span(u))
                                .collect::<Result<_>>()?,
                            ..Default::default()
                        })
                    })
                    .collect::<Result<_>>()?,
                ..Default::default()
            })
        })
        .collect::<Result<_>>()?;
    Ok(ExportTraceServiceRequest { resource_spans })
}

fn run_normalize(input: &[u8]) -> u64 {
    let mut u = Unstructured::new(input);
    let limits = Limits {
        max_attribute_value_bytes: u.int_in_range(0..=40).unwrap_or(8),
        max_spans_per_request: u.int_in_range(0..=20).unwrap_or(10),
        max_attributes: u.int_in_range(0..=4).unwrap_or(2),
        max_events: u.int_in_range(0..=2).unwrap_or(1),
        max_links: u.int_in_range(0..=2).unwrap_or(1),
    };
    match request(&mut u) {
        Ok(req) => check_batch(req, &limits),
        Err(_) => outcome("not enough bytes"),
    }
}

pub fn normalize() -> Target {
    Target {
        name: "normalize",
        about: "validate::normalize on requests built from the input (arbitrary)",
        run: run_normalize,
        seeds: || {
            (0u8..8)
                .map(|i| {
                    (0..512u32)
                        .map(|j| (j as u8).wrapping_mul(31) ^ i)
                        .collect()
                })
                .collect()
        },
        dict: &[],
        max_len: 8 << 10,
        smoke_iterations: 3_000,
    }
}
