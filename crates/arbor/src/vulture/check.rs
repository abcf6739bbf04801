//! Comparing what a trace read back holds with what vulture wrote: missing spans (of
//! acknowledged parts), duplicated spans (one span ID more than once), wrong spans (an ID
//! vulture never wrote into this trace, or a span whose content differs from the written
//! one).

use std::collections::HashMap;

use arbor_model::otlp::{KeyValue, Span, TracesData};
use prost::Message;

use super::traces::{SERVICE, TraceSpec};

/// The result of one comparison.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Verdict {
    /// Spans of acknowledged parts.
    pub expected: usize,
    /// Spans read back (duplicates included).
    pub found: usize,
    pub missing: usize,
    pub duplicated: usize,
    pub wrong: usize,
}

impl Verdict {
    pub fn ok(&self) -> bool {
        self.missing == 0 && self.duplicated == 0 && self.wrong == 0
    }
}

/// Compares the spans read back with the spans of the parts in `acked` (a bit per part).
/// Spans of parts not (yet) acknowledged may be there or not: a request can be stored and
/// its acknowledgement lost.
pub fn compare(spec: &TraceSpec, acked: u8, got: &TracesData) -> Verdict {
    let mut verdict = Verdict::default();
    let by_id: HashMap<&[u8], &Span> = spec
        .spans
        .iter()
        .map(|s| (s.span_id.as_slice(), s))
        .collect();
    let mut seen: HashMap<Vec<u8>, usize> = HashMap::new();
    for rs in &got.resource_spans {
        let service = arbor_model::otlp::service_name(rs.resource.as_ref()).unwrap_or("");
        for ss in &rs.scope_spans {
            for s in &ss.spans {
                verdict.found += 1;
                let n = seen.entry(s.span_id.clone()).or_default();
                *n += 1;
                if *n > 1 {
                    verdict.duplicated += 1;
                    continue;
                }
                match by_id.get(s.span_id.as_slice()) {
                    Some(want) if service == SERVICE && same_span(want, s) => {}
                    _ => verdict.wrong += 1,
                }
            }
        }
    }
    for i in spec.spans_in(acked) {
        verdict.expected += 1;
        if !seen.contains_key(&spec.spans[i].span_id) {
            verdict.missing += 1;
        }
    }
    verdict
}

/// The fields vulture sets, compared exactly; attributes in any order.
fn same_span(want: &Span, got: &Span) -> bool {
    want.trace_id == got.trace_id
        && want.span_id == got.span_id
        && want.parent_span_id == got.parent_span_id
        && want.name == got.name
        && want.kind == got.kind
        && want.start_time_unix_nano == got.start_time_unix_nano
        && want.end_time_unix_nano == got.end_time_unix_nano
        && sorted(&want.attributes) == sorted(&got.attributes)
}

fn sorted(attrs: &[KeyValue]) -> Vec<Vec<u8>> {
    let mut v: Vec<Vec<u8>> = attrs.iter().map(|kv| kv.encode_to_vec()).collect();
    v.sort();
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vulture::traces::Plan;
    use std::time::Duration;

    fn spec() -> TraceSpec {
        let plan = Plan {
            seed: 3,
            interval: Duration::from_secs(1),
            late_after: Duration::from_secs(5),
        };
        (0..100)
            .map(|slot| plan.trace(slot))
            .find(|t| t.parts.len() >= 2 && t.spans.len() >= 4)
            .expect("a trace in parts")
    }

    fn read_back(spec: &TraceSpec, parts: &[usize]) -> TracesData {
        let mut data = TracesData::default();
        for &p in parts {
            data.resource_spans
                .extend(spec.request(p, 3).resource_spans);
        }
        data
    }

    #[test]
    fn everything_acknowledged_read_back_once_is_ok() {
        let t = spec();
        let all: Vec<usize> = (0..t.parts.len()).collect();
        let v = compare(&t, t.all_parts(), &read_back(&t, &all));
        assert!(v.ok(), "{v:?}");
        assert_eq!(v.expected, t.spans.len());
    }

    #[test]
    fn a_lost_part_is_missing_a_resent_one_duplicated() {
        let t = spec();
        let first = t.parts[0].spans.len();
        let v = compare(&t, t.all_parts(), &read_back(&t, &[0]));
        assert_eq!(v.missing, t.spans.len() - first);
        let v = compare(&t, t.all_parts(), &read_back(&t, &[0, 0, 1]));
        assert_eq!(v.duplicated, first);
    }

    #[test]
    fn an_unacknowledged_part_may_be_there_or_not() {
        let t = spec();
        assert!(compare(&t, 0b1, &read_back(&t, &[0])).ok());
        assert!(compare(&t, 0b1, &read_back(&t, &[0, 1])).ok());
    }

    #[test]
    fn a_changed_span_is_wrong() {
        let t = spec();
        let mut data = read_back(&t, &[0]);
        data.resource_spans[0].scope_spans[0].spans[0].end_time_unix_nano += 1;
        let v = compare(&t, 0b1, &data);
        assert_eq!((v.wrong, v.missing), (1, 0));
        let mut data = read_back(&t, &[0]);
        data.resource_spans[0].scope_spans[0].spans[0].span_id = vec![9; 8];
        let v = compare(&t, 0b1, &data);
        assert_eq!((v.wrong, v.missing), (1, 1));
    }
}
