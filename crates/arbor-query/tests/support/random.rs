//! Random traces and random TraceQL queries for the engine's differential tests: seeded,
//! so a failure repeats.

use std::collections::BTreeMap;

use arbor_model::otlp::{
    AnyValue, Event, ExportTraceServiceRequest, InstrumentationScope, KeyValue, Link, Resource,
    ResourceSpans, ScopeSpans, Span, Status, any_value::Value,
};
use rand::Rng;
use rand::rngs::StdRng;
use rand::seq::IndexedRandom;

// ---------------------------------------------------------------------------------------
// Random traces

pub const NAMES: &[&str] = &["GET /", "POST /x", "query", "cache.get", "send", "recv"];
pub const STRS: &[&str] = &["x", "y", "zz", "Ab", "", "api", "prod"];
pub const DURS: &[u64] = &[
    0,
    1_000,
    50_000,
    1_000_000,
    20_000_000,
    500_000_000,
    1_500_000_000,
];

pub fn kv(k: &str, v: Value) -> KeyValue {
    KeyValue {
        key: k.into(),
        value: Some(AnyValue { value: Some(v) }),
        ..Default::default()
    }
}

/// A value for attribute `a`, `b`, …: each name has a usual type and sometimes another,
/// from a few repeated values.
pub fn attr_value(rng: &mut StdRng, key: &str) -> Value {
    let other = rng.random_bool(0.15);
    match (key, other) {
        ("a" | "n" | "e", false) => Value::IntValue(rng.random_range(0..6)),
        ("c", false) => Value::DoubleValue(*[0.5, 1.5, 2.0, 3.0].choose(rng).unwrap()),
        ("flag", false) => Value::BoolValue(rng.random()),
        ("c" | "flag", true) => Value::IntValue(rng.random_range(0..3)),
        (_, true) if key != "b" && key != "l" => {
            Value::StringValue(STRS.choose(rng).unwrap().to_string())
        }
        (_, true) => Value::IntValue(rng.random_range(0..3)),
        _ => Value::StringValue(STRS.choose(rng).unwrap().to_string()),
    }
}

pub fn attrs(rng: &mut StdRng, keys: &[&str], p: f64) -> Vec<KeyValue> {
    let mut out = Vec::new();
    for k in keys {
        if rng.random_bool(p) {
            out.push(kv(k, attr_value(rng, k)));
        }
    }
    out
}

pub fn id8(rng: &mut StdRng) -> Vec<u8> {
    let mut id = [0u8; 8];
    rng.fill(&mut id);
    id[0] |= 1;
    id.to_vec()
}

/// Resources and scopes the traces draw from.
pub fn resources(rng: &mut StdRng) -> Vec<Resource> {
    ["api", "db", "cache", "web"]
        .iter()
        .map(|svc| {
            let mut a = vec![kv("service.name", Value::StringValue(svc.to_string()))];
            a.extend(attrs(rng, &["a", "b", "env", "region"], 0.5));
            Resource {
                attributes: a,
                ..Default::default()
            }
        })
        .chain([Resource {
            // A resource without a service name.
            attributes: vec![kv("b", Value::StringValue("y".into()))],
            ..Default::default()
        }])
        .collect()
}

pub fn scopes(rng: &mut StdRng) -> Vec<InstrumentationScope> {
    (0..3)
        .map(|i| InstrumentationScope {
            name: ["otel-go", "otel-java", ""][i].into(),
            version: ["1.0", "2.1", ""][i].into(),
            attributes: attrs(rng, &["lib", "a"], 0.5),
            ..Default::default()
        })
        .collect()
}

/// One random trace: a tree of 1–40 spans (a few with a parent outside the trace), as
/// (resource, scope, span) triples.
pub fn trace(
    rng: &mut StdRng,
    base_ns: u64,
    nres: usize,
    nscope: usize,
) -> Vec<(usize, usize, Span)> {
    let n = if rng.random_bool(0.2) {
        rng.random_range(1..4)
    } else {
        rng.random_range(1..=40)
    };
    trace_of(rng, base_ns, nres, nscope, n)
}

/// One random trace of `n` spans, as [`trace`] makes them.
pub fn trace_of(
    rng: &mut StdRng,
    base_ns: u64,
    nres: usize,
    nscope: usize,
    n: usize,
) -> Vec<(usize, usize, Span)> {
    let mut tid = [0u8; 16];
    rng.fill(&mut tid);
    tid[0] |= 1;
    let t0 = base_ns + rng.random_range(0..600u64) * 1_000_000_000;
    let mut spans: Vec<(usize, usize, Span)> = Vec::new();
    for i in 0..n {
        let parent = if i == 0 || rng.random_bool(0.04) {
            if i > 0 || rng.random_bool(0.1) {
                id8(rng) // not in the trace
            } else {
                Vec::new()
            }
        } else {
            // Mostly deep chains and some fan-out.
            let j = if rng.random_bool(0.5) {
                i - 1
            } else {
                rng.random_range(0..i)
            };
            spans[j].2.span_id.clone()
        };
        let start = t0 + rng.random_range(0..40u64) * 100_000_000;
        let dur = *DURS.choose(rng).unwrap();
        let events = (0..rng.random_range(0..3))
            .map(|k| Event {
                name: ["exception", "retry"][k % 2].into(),
                time_unix_nano: start + rng.random_range(0..3u64) * 1_000_000,
                attributes: attrs(rng, &["e", "b"], 0.5),
                ..Default::default()
            })
            .collect();
        let links = (0..rng.random_range(0..2))
            .map(|_| {
                let mut lt = [0u8; 16];
                rng.fill(&mut lt);
                Link {
                    trace_id: lt.to_vec(),
                    span_id: id8(rng),
                    attributes: attrs(rng, &["l", "a"], 0.6),
                    ..Default::default()
                }
            })
            .collect();
        let span = Span {
            trace_id: tid.to_vec(),
            span_id: id8(rng),
            parent_span_id: parent,
            name: NAMES.choose(rng).unwrap().to_string(),
            kind: rng.random_range(0..6),
            start_time_unix_nano: start,
            end_time_unix_nano: start + dur,
            attributes: attrs(rng, &["a", "b", "c", "flag", "n"], 0.6),
            events,
            links,
            status: Some(Status {
                code: rng.random_range(0..3),
                message: ["", "boom"][rng.random_range(0..2)].into(),
            }),
            ..Default::default()
        };
        spans.push((rng.random_range(0..nres), rng.random_range(0..nscope), span));
    }
    spans
}

/// Traces as requests: each trace's spans grouped by resource and scope.
pub fn requests(
    traces: &[Vec<(usize, usize, Span)>],
    res: &[Resource],
    sc: &[InstrumentationScope],
) -> ExportTraceServiceRequest {
    let mut groups: BTreeMap<(usize, usize), Vec<Span>> = BTreeMap::new();
    for t in traces {
        for (r, s, span) in t {
            groups.entry((*r, *s)).or_default().push(span.clone());
        }
    }
    ExportTraceServiceRequest {
        resource_spans: groups
            .into_iter()
            .map(|((r, s), spans)| ResourceSpans {
                resource: Some(res[r].clone()),
                scope_spans: vec![ScopeSpans {
                    scope: Some(sc[s].clone()),
                    spans,
                    ..Default::default()
                }],
                ..Default::default()
            })
            .collect(),
    }
}

// ---------------------------------------------------------------------------------------
// Random queries

pub const ATTR_NAMES: &[&str] = &[
    "a",
    "b",
    "c",
    "flag",
    "n",
    "e",
    "l",
    "env",
    "region",
    "lib",
    "service.name",
];
pub const SCOPES: &[&str] = &[
    ".",
    "span.",
    "resource.",
    "event.",
    "link.",
    "instrumentation.",
];

pub fn literal(rng: &mut StdRng) -> String {
    match rng.random_range(0..6) {
        0 | 1 => format!("{:?}", STRS.choose(rng).unwrap()),
        2 => rng.random_range(-1..6).to_string(),
        3 => ["0.5", "1.5", "2.0", "2"].choose(rng).unwrap().to_string(),
        4 => ["true", "false"].choose(rng).unwrap().to_string(),
        _ => ["1ms", "20ms", "1us", "500ms", "0s"]
            .choose(rng)
            .unwrap()
            .to_string(),
    }
}

pub fn attribute(rng: &mut StdRng) -> String {
    if rng.random_bool(0.1) {
        // The parent's attribute (Arbor's `parent.` scope).
        return format!(
            "parent.{}{}",
            ["", "span.", "resource."].choose(rng).unwrap(),
            ATTR_NAMES.choose(rng).unwrap()
        );
    }
    format!(
        "{}{}",
        SCOPES.choose(rng).unwrap(),
        ATTR_NAMES.choose(rng).unwrap()
    )
}

pub fn cmp_op(rng: &mut StdRng) -> &'static str {
    ["=", "!=", "<", "<=", ">", ">=", "=", "!="]
        .choose(rng)
        .unwrap()
}

/// A condition on one span.
pub fn condition(rng: &mut StdRng, depth: u32) -> String {
    let pick = if depth > 2 {
        rng.random_range(0..10)
    } else {
        rng.random_range(0..14)
    };
    match pick {
        0..=2 => format!("{} {} {}", attribute(rng), cmp_op(rng), literal(rng)),
        3 => format!(
            "{} {} {:?}",
            attribute(rng),
            ["=~", "!~"].choose(rng).unwrap(),
            ["x|y", "a.*", ".*", "z+", "A.", "GET.*", "api|db", "[a-c]"]
                .choose(rng)
                .unwrap()
        ),
        4 => format!("{} != nil", attribute(rng)),
        5 => {
            let (f, v) = [
                ("name", format!("{:?}", NAMES.choose(rng).unwrap())),
                (
                    "status",
                    ["ok", "error", "unset"].choose(rng).unwrap().to_string(),
                ),
                (
                    "kind",
                    [
                        "server",
                        "client",
                        "internal",
                        "producer",
                        "consumer",
                        "unspecified",
                    ]
                    .choose(rng)
                    .unwrap()
                    .to_string(),
                ),
                (
                    "duration",
                    ["1ms", "20ms", "1us", "500ms", "0s", "1.5s"]
                        .choose(rng)
                        .unwrap()
                        .to_string(),
                ),
                ("childCount", rng.random_range(0..4).to_string()),
                (
                    "statusMessage",
                    format!("{:?}", ["", "boom"].choose(rng).unwrap()),
                ),
                (
                    "trace:duration",
                    ["1s", "3s", "100ms"].choose(rng).unwrap().to_string(),
                ),
                (
                    "trace:rootName",
                    format!("{:?}", NAMES.choose(rng).unwrap()),
                ),
                (
                    "trace:rootService",
                    format!("{:?}", ["api", "db", "cache", "web"].choose(rng).unwrap()),
                ),
                (
                    "event:name",
                    format!("{:?}", ["exception", "retry"].choose(rng).unwrap()),
                ),
                (
                    "event:timeSinceStart",
                    ["1ms", "0s", "2ms"].choose(rng).unwrap().to_string(),
                ),
                (
                    "instrumentation:name",
                    format!("{:?}", ["otel-go", "otel-java", ""].choose(rng).unwrap()),
                ),
                (
                    "instrumentation:version",
                    format!("{:?}", ["1.0", "2.1"].choose(rng).unwrap()),
                ),
                ("nestedSetLeft", rng.random_range(0..8).to_string()),
                ("nestedSetRight", rng.random_range(0..20).to_string()),
                ("nestedSetParent", rng.random_range(-1..5).to_string()),
            ]
            .choose(rng)
            .unwrap()
            .clone();
            format!("{f} {} {v}", cmp_op(rng))
        }
        6 => format!(
            "{} != nil",
            [
                "span:parentID",
                "link:spanID",
                "link:traceID",
                "event:name",
                "instrumentation:name"
            ]
            .choose(rng)
            .unwrap()
        ),
        7 => format!(
            "{} {} {} {} {}",
            ["span.n", ".a", "span.c", "duration", "childCount"]
                .choose(rng)
                .unwrap(),
            ["+", "-", "*", "/", "%", "^"].choose(rng).unwrap(),
            ["2", "0", "1.5", "3"].choose(rng).unwrap(),
            cmp_op(rng),
            ["1", "4", "2.5", "10ms", "0"].choose(rng).unwrap()
        ),
        8 => format!(
            "{}{}",
            ["", "!"].choose(rng).unwrap(),
            ["span.flag", ".flag"].choose(rng).unwrap()
        ),
        9 => format!("{} {} {}", attribute(rng), cmp_op(rng), attribute(rng)),
        10 | 11 => format!(
            "{} {} {}",
            condition(rng, depth + 1),
            ["&&", "||"].choose(rng).unwrap(),
            condition(rng, depth + 1)
        ),
        12 => format!("!({})", condition(rng, depth + 1)),
        _ => format!("({})", condition(rng, depth + 1)),
    }
}

pub fn filter(rng: &mut StdRng) -> String {
    if rng.random_bool(0.1) {
        "{ }".into()
    } else {
        format!("{{ {} }}", condition(rng, 0))
    }
}

pub const SET_OPS: &[&str] = &[
    "&&", "||", ">", "<", ">>", "<<", "~", "!>", "!<", "!>>", "!<<", "!~", "&>", "&<", "&>>",
    "&<<", "&~",
];

pub fn spanset(rng: &mut StdRng, depth: u32) -> String {
    if depth > 1 || rng.random_bool(0.45) {
        return filter(rng);
    }
    let op = SET_OPS.choose(rng).unwrap();
    let (l, r) = (spanset(rng, depth + 1), spanset(rng, depth + 1));
    if rng.random_bool(0.3) {
        format!("({l} {op} {r})")
    } else {
        format!("{l} {op} {r}")
    }
}

pub fn stage(rng: &mut StdRng) -> String {
    match rng.random_range(0..9) {
        0 => format!("count() {} {}", cmp_op(rng), rng.random_range(0..5)),
        1 => format!(
            "{}({}) {} {}",
            ["avg", "min", "max", "sum"].choose(rng).unwrap(),
            ["duration", "span.n", ".a", "span.c", "childCount"]
                .choose(rng)
                .unwrap(),
            cmp_op(rng),
            ["1", "2.5", "10ms", "0", "3"].choose(rng).unwrap()
        ),
        2 | 3 => format!(
            "by({})",
            [
                "resource.service.name",
                "span.b",
                ".a",
                "name",
                "status",
                "kind",
                "span.flag",
                "span.n > 2",
                "duration",
                "span.c * 2",
            ]
            .choose(rng)
            .unwrap()
        ),
        4 => "coalesce()".into(),
        5 => format!("select({}, name)", attribute(rng)),
        _ => filter(rng),
    }
}

pub fn search_query(rng: &mut StdRng) -> String {
    let mut q = if rng.random_bool(0.08) {
        format!("({} | {}) && {}", filter(rng), stage(rng), filter(rng))
    } else {
        spanset(rng, 0)
    };
    for _ in 0..rng.random_range(0..3) {
        q.push_str(" | ");
        q.push_str(&stage(rng));
    }
    q
}

pub fn metrics_query(rng: &mut StdRng) -> String {
    let mut q = spanset(rng, 1);
    if rng.random_bool(0.3) {
        q.push_str(" | ");
        q.push_str(&stage(rng));
    }
    let f = match rng.random_range(0..6) {
        0 => "rate()".to_string(),
        1 => "count_over_time()".to_string(),
        k => format!(
            "{}_over_time({})",
            ["min", "max", "avg", "sum"][k - 2],
            ["duration", "span.n", ".a", "span.c"].choose(rng).unwrap()
        ),
    };
    let by = match rng.random_range(0..4) {
        0 => "",
        1 => " by (resource.service.name)",
        2 => " by (span.b, name)",
        _ => " by (.a)",
    };
    format!("{q} | {f}{by}")
}
