//! The traces vulture writes, as a pure function of the seed and the write time: a trace is
//! named by its *slot* (its write time in whole intervals since the epoch), and everything
//! about it — trace and span IDs, the tree, names, times, attributes, how it is cut into
//! parts, which parts go late and which are sent twice — comes from `(seed, slot)`. So the
//! checker regenerates the expected content of any trace it wrote and keeps nothing but a
//! few bits per trace (which parts were acknowledged).

use std::time::Duration;

use arbor_model::otlp::{
    ExportTraceServiceRequest, InstrumentationScope, KeyValue, Resource, ResourceSpans, ScopeSpans,
    Span, kv_int, kv_str,
};

/// The service name of every span vulture writes.
pub const SERVICE: &str = "arbor-vulture";
/// The span attribute unique to each trace, searched for with TraceQL.
pub const TAG_KEY: &str = "vulture.tag";
/// At most this many parts per trace (the acknowledgement mask is a `u8`).
pub const MAX_PARTS: usize = 3;

/// What every trace of a run shares.
#[derive(Debug, Clone, Copy)]
pub struct Plan {
    pub seed: u64,
    pub interval: Duration,
    /// How long after its trace's first part a late part is sent.
    pub late_after: Duration,
}

/// A part of a trace: a run of its spans, when it is sent, and whether it is sent twice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    pub spans: std::ops::Range<usize>,
    /// After the trace's write time.
    pub delay: Duration,
    pub resend: bool,
}

/// One trace, regenerated from `(seed, slot)`.
#[derive(Debug, Clone, PartialEq)]
pub struct TraceSpec {
    pub slot: u64,
    pub trace_id: [u8; 16],
    pub tag: String,
    pub start_ns: u64,
    pub end_ns: u64,
    pub spans: Vec<Span>,
    pub parts: Vec<Part>,
}

/// SplitMix64 of the seed, the slot and a salt: the source of every choice.
fn mix(seed: u64, slot: u64, salt: u64) -> u64 {
    let mut z = seed
        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
        .wrapping_add(slot.wrapping_mul(0xC2B2_AE3D_27D4_EB4F))
        .wrapping_add(salt.wrapping_mul(0x1656_67B1_9E37_79F9));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A non-zero ID (a zero ID is refused by validation).
fn nonzero(x: u64) -> u64 {
    if x == 0 { 1 } else { x }
}

impl Plan {
    /// The slot of a write time.
    pub fn slot_of(&self, unix_ns: u64) -> u64 {
        unix_ns / self.interval.as_nanos().max(1) as u64
    }

    pub fn trace(&self, slot: u64) -> TraceSpec {
        let m = |salt: u64| mix(self.seed, slot, salt);
        let start_ns = slot * self.interval.as_nanos() as u64;
        let mut trace_id = [0u8; 16];
        trace_id[..8].copy_from_slice(&nonzero(m(1)).to_be_bytes());
        trace_id[8..].copy_from_slice(&m(2).to_be_bytes());
        let tag = format!("{:x}-{slot}", self.seed);
        let n = 2 + (m(3) % 9) as usize;
        let mut spans: Vec<Span> = Vec::with_capacity(n);
        for i in 0..n {
            let salt = 100 + i as u64 * 10;
            let span_start = start_ns + i as u64 * 1_000 + m(salt) % 500_000;
            let parent = (i > 0).then(|| spans[(i - 1) / 2].span_id.clone());
            spans.push(Span {
                trace_id: trace_id.to_vec(),
                span_id: nonzero(m(salt + 1)).to_be_bytes().to_vec(),
                parent_span_id: parent.unwrap_or_default(),
                name: format!("vulture-op-{}", m(salt + 2) % 8),
                kind: 1 + (m(salt + 3) % 5) as i32,
                start_time_unix_nano: span_start,
                end_time_unix_nano: span_start + 1_000 + m(salt + 4) % 5_000_000,
                attributes: vec![
                    kv_str(TAG_KEY, &tag),
                    kv_int("vulture.index", i as i64),
                    kv_str("vulture.value", &format!("{:016x}", m(salt + 5))),
                ],
                ..Default::default()
            });
        }
        let end_ns = spans
            .iter()
            .map(|s| s.end_time_unix_nano)
            .max()
            .unwrap_or(start_ns);
        // Cut into 1..=3 parts of consecutive spans; parts after the first may go late, any
        // part may be sent twice.
        let count = (1 + (m(4) % MAX_PARTS as u64) as usize).min(n);
        let mut parts = Vec::with_capacity(count);
        let mut from = 0;
        for p in 0..count {
            let to = if p + 1 == count {
                n
            } else {
                from + 1 + (m(20 + p as u64) as usize % (n - from - (count - p - 1)))
            };
            let late = p > 0 && m(30 + p as u64) % 3 == 0;
            parts.push(Part {
                spans: from..to,
                delay: if late {
                    self.late_after
                } else {
                    Duration::ZERO
                },
                resend: m(40 + p as u64) % 5 == 0,
            });
            from = to;
        }
        TraceSpec {
            slot,
            trace_id,
            tag,
            start_ns,
            end_ns,
            spans,
            parts,
        }
    }
}

impl TraceSpec {
    pub fn id_hex(&self) -> String {
        hex::encode(self.trace_id)
    }

    /// The request carrying one part.
    pub fn request(&self, part: usize, seed: u64) -> ExportTraceServiceRequest {
        let spans = self.spans[self.parts[part].spans.clone()].to_vec();
        ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                resource: Some(Resource {
                    attributes: resource_attributes(seed),
                    ..Default::default()
                }),
                scope_spans: vec![ScopeSpans {
                    scope: Some(InstrumentationScope {
                        name: "arbor-vulture".into(),
                        version: env!("CARGO_PKG_VERSION").into(),
                        ..Default::default()
                    }),
                    spans,
                    ..Default::default()
                }],
                ..Default::default()
            }],
        }
    }

    /// Indexes of the spans whose parts are set in `mask`.
    pub fn spans_in(&self, mask: u8) -> impl Iterator<Item = usize> + '_ {
        self.parts
            .iter()
            .enumerate()
            .filter(move |(p, _)| mask & (1 << p) != 0)
            .flat_map(|(_, part)| part.spans.clone())
    }

    /// The mask of every part.
    #[cfg(test)]
    pub fn all_parts(&self) -> u8 {
        ((1u16 << self.parts.len()) - 1) as u8
    }
}

pub fn resource_attributes(seed: u64) -> Vec<KeyValue> {
    vec![
        kv_str("service.name", SERVICE),
        kv_str("vulture.seed", &format!("{seed:x}")),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(seed: u64) -> Plan {
        Plan {
            seed,
            interval: Duration::from_millis(250),
            late_after: Duration::from_secs(3),
        }
    }

    #[test]
    fn a_trace_is_a_function_of_the_seed_and_slot() {
        assert_eq!(plan(1).trace(42), plan(1).trace(42));
        assert_ne!(plan(1).trace(42).trace_id, plan(2).trace(42).trace_id);
        assert_ne!(plan(1).trace(42).trace_id, plan(1).trace(43).trace_id);
    }

    #[test]
    fn parts_cover_every_span_once_and_some_are_late_or_resent() {
        let (mut late, mut resent, mut multi) = (0, 0, 0);
        for slot in 0..500 {
            let t = plan(7).trace(slot);
            let covered: Vec<usize> = t.spans_in(t.all_parts()).collect();
            assert_eq!(covered, (0..t.spans.len()).collect::<Vec<_>>());
            assert!(t.parts.iter().all(|p| !p.spans.is_empty()));
            assert!(t.parts.len() <= MAX_PARTS);
            late += t.parts.iter().filter(|p| !p.delay.is_zero()).count();
            resent += t.parts.iter().filter(|p| p.resend).count();
            multi += usize::from(t.parts.len() > 1);
            for s in &t.spans {
                assert!(s.end_time_unix_nano >= s.start_time_unix_nano);
                assert_eq!(s.attributes[0].key, TAG_KEY);
            }
        }
        assert!(late > 0 && resent > 0 && multi > 0);
    }

    #[test]
    fn slots_follow_the_clock() {
        let p = plan(1);
        assert_eq!(p.slot_of(1_000_000_000), 4);
        assert_eq!(p.trace(4).start_ns, 1_000_000_000);
    }
}
