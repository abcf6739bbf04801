//! The generator's output checked: determinism for a seed, valid parent links and timing, the
//! shape of each profile (depth, fan-out, sizes, services) and the serverless rates within
//! tolerance, the late mode, batching.

use std::collections::{HashMap, HashSet};

use arbor_model::otlp::{Span, any_value};
use prost::Message;

use super::*;

const T0: u64 = 1_790_000_000_000_000_000;

fn generator(profile: Profile, seed: u64) -> Generator {
    Generator::new(Options {
        profile,
        seed,
        late_fraction: 0.0,
    })
}

fn traces(g: &mut Generator, n: usize) -> Vec<Trace> {
    (0..n)
        .map(|i| g.next_trace(T0 + i as u64 * 1_000_000))
        .collect()
}

fn attr<'a>(s: &'a Span, key: &str) -> Option<&'a any_value::Value> {
    s.attributes
        .iter()
        .find(|a| a.key == key)
        .and_then(|a| a.value.as_ref())
        .and_then(|v| v.value.as_ref())
}

fn bool_attr(s: &Span, key: &str) -> bool {
    matches!(attr(s, key), Some(any_value::Value::BoolValue(true)))
}

fn str_attr<'a>(s: &'a Span, key: &str) -> Option<&'a str> {
    match attr(s, key) {
        Some(any_value::Value::StringValue(v)) => Some(v),
        _ => None,
    }
}

fn all_spans(t: &Trace) -> Vec<&GenSpan> {
    t.spans.iter().chain(&t.late).collect()
}

/// Checks a trace's links and times; returns (depth in spans, max children of one span).
fn check_trace(g: &Generator, t: &Trace) -> (usize, usize) {
    let spans = all_spans(t);
    let by_id: HashMap<&[u8], &Span> = spans
        .iter()
        .map(|s| (&s.span.span_id[..], &s.span))
        .collect();
    assert_eq!(by_id.len(), spans.len(), "span IDs are unique in a trace");
    let mut roots = 0;
    let mut children: HashMap<&[u8], usize> = HashMap::new();
    for gs in &spans {
        let s = &gs.span;
        assert!((gs.resource as usize) < g.resources().len());
        assert!((gs.scope as usize) < g.scopes().len());
        assert_eq!(s.trace_id, t.id, "span carries its trace's ID");
        assert_eq!(s.span_id.len(), 8);
        assert_ne!(s.span_id, vec![0u8; 8]);
        assert!(s.end_time_unix_nano > s.start_time_unix_nano, "{}", s.name);
        assert!(!s.name.is_empty());
        if s.parent_span_id.is_empty() {
            roots += 1;
            continue;
        }
        let p = by_id
            .get(&s.parent_span_id[..])
            .unwrap_or_else(|| panic!("parent of {} is in the trace", s.name));
        *children.entry(&p.span_id[..]).or_default() += 1;
        // A child runs within its parent, except a consumer, which runs after its producer.
        if s.kind != KIND_CONSUMER {
            assert!(
                s.start_time_unix_nano >= p.start_time_unix_nano
                    && s.end_time_unix_nano <= p.end_time_unix_nano,
                "{} within {}",
                s.name,
                p.name
            );
        } else {
            assert!(s.start_time_unix_nano >= p.end_time_unix_nano);
        }
    }
    assert_eq!(roots, 1, "one root per trace");
    // Depth by walking up from every span (parents form no cycle: the walk ends).
    let mut depth = 0;
    for gs in &spans {
        let mut d = 1;
        let mut cur = &gs.span;
        while !cur.parent_span_id.is_empty() {
            cur = by_id[&cur.parent_span_id[..]];
            d += 1;
            assert!(d <= spans.len());
        }
        depth = depth.max(d);
    }
    (depth, children.values().copied().max().unwrap_or(0))
}

#[test]
fn same_seed_same_bytes_other_seed_other_bytes() {
    for profile in [Profile::Microservices, Profile::Serverless] {
        let encode = |seed| {
            let mut g = Generator::new(Options {
                profile,
                seed,
                late_fraction: 0.2,
            });
            let ts = traces(&mut g, 300);
            let spans: Vec<GenSpan> = ts
                .into_iter()
                .flat_map(|t| t.spans.into_iter().chain(t.late))
                .collect();
            g.request(spans).encode_to_vec()
        };
        let a = encode(7);
        assert_eq!(a, encode(7), "{profile:?}: same seed, same bytes");
        assert_ne!(a, encode(8), "{profile:?}: another seed, other bytes");
    }
}

#[test]
fn microservices_shape() {
    let mut g = generator(Profile::Microservices, 42);
    let services: HashSet<&str> = g
        .resources()
        .iter()
        .filter_map(|r| arbor_model::otlp::service_name(Some(r)))
        .collect();
    assert!(
        (10..=30).contains(&services.len()),
        "{} services",
        services.len()
    );
    let ts = traces(&mut g, 3000);
    let mut depths = HashSet::new();
    let mut wide = 0;
    let mut sizes = Vec::new();
    let (mut errors, mut pairs, mut statements) = (0, 0, HashSet::new());
    for t in &ts {
        let (depth, fan_out) = check_trace(&g, t);
        assert!((3..=6).contains(&depth), "depth {depth}");
        depths.insert(depth);
        if fan_out >= 3 {
            wide += 1;
        }
        assert!((5..=60).contains(&t.len()), "{} spans", t.len());
        sizes.push(t.len());
        let by_id: HashMap<&[u8], &GenSpan> =
            t.spans.iter().map(|s| (&s.span.span_id[..], s)).collect();
        for s in &t.spans {
            if s.span.status.as_ref().is_some_and(|st| st.code == 2)
                && s.span.parent_span_id.is_empty()
            {
                errors += 1;
            }
            if let Some(stmt) = str_attr(&s.span, "db.statement") {
                statements.insert(stmt.to_string());
            }
            // A server span under a client span: a pair across services, named by peer.service.
            if s.span.kind == KIND_SERVER
                && let Some(p) = by_id.get(&s.span.parent_span_id[..])
                && p.span.kind == KIND_CLIENT
            {
                pairs += 1;
                let callee =
                    arbor_model::otlp::service_name(Some(&g.resources()[s.resource as usize]));
                assert_eq!(str_attr(&p.span, "peer.service"), callee);
            }
        }
    }
    assert_eq!(depths.len(), 4, "depths 3 to 6 all occur: {depths:?}");
    assert!(wide > 1000, "fan-out of 3 or more in {wide} of 3000 traces");
    sizes.sort_unstable();
    let median = sizes[sizes.len() / 2];
    assert!(
        (12..=24).contains(&median),
        "median size {median} (log-uniform 5–60)"
    );
    assert!(pairs > 3000, "client/server pairs: {pairs}");
    // Errors: ~1.2 % of server spans fail, half of them reach the root.
    let rate = errors as f64 / ts.len() as f64;
    assert!((0.005..0.08).contains(&rate), "root error rate {rate}");
    assert!(
        statements.len() > 1000,
        "SQL literals vary: {} statements",
        statements.len()
    );
}

#[test]
fn serverless_rates_and_tags() {
    let mut g = generator(Profile::Serverless, 3);
    let ts = traces(&mut g, 20_000);
    let (mut invocations, mut cold, mut errors, mut timeouts, mut consumers) = (0, 0, 0, 0, 0);
    let mut calls: HashSet<String> = HashSet::new();
    for t in &ts {
        check_trace(&g, t);
        for s in &t.spans {
            let span = &s.span;
            if attr(span, "faas.invocation_id").is_none() {
                if let Some(any_value::Value::StringValue(svc)) = attr(span, "rpc.service") {
                    calls.insert(svc.clone());
                }
                continue;
            }
            invocations += 1;
            let res = &g.resources()[s.resource as usize];
            let res_keys: HashSet<&str> = res.attributes.iter().map(|a| a.key.as_str()).collect();
            for k in [
                "faas.name",
                "faas.max_memory",
                "cloud.provider",
                "cloud.region",
                "service.namespace",
                "deployment.environment",
            ] {
                assert!(res_keys.contains(k), "resource has {k}");
            }
            assert!(
                attr(span, "faas.trigger").is_some() && attr(span, "faas.memory_used").is_some()
            );
            cold += bool_attr(span, "faas.coldstart") as usize;
            errors += bool_attr(span, "faas.error") as usize;
            timeouts += bool_attr(span, "faas.error_timeout") as usize;
            consumers += (span.kind == KIND_CONSUMER) as usize;
            if bool_attr(span, "faas.error") {
                assert_eq!(span.status.as_ref().map(|s| s.code), Some(2));
                assert!(span.events.iter().any(|e| e.name == "exception"));
            }
        }
        let root = t
            .spans
            .iter()
            .find(|s| s.span.parent_span_id.is_empty())
            .unwrap();
        assert!(
            attr(&root.span, "http.route").is_some() && attr(&root.span, "http.path").is_some()
        );
    }
    let rate = |n: usize| n as f64 / invocations as f64;
    assert!(
        (0.04..0.06).contains(&rate(cold)),
        "cold starts {}",
        rate(cold)
    );
    assert!(
        (0.015..0.025).contains(&rate(errors)),
        "errors {}",
        rate(errors)
    );
    assert!(
        (0.003..0.008).contains(&rate(timeouts)),
        "timeouts {}",
        rate(timeouts)
    );
    assert!(consumers > 1000, "SQS consumer invocations: {consumers}");
    for svc in ["DynamoDB", "S3", "SQS"] {
        assert!(calls.contains(svc), "calls {svc}");
    }
}

#[test]
fn huge_traces_are_big_and_valid() {
    let mut g = generator(Profile::Huge, 5);
    for t in traces(&mut g, 2) {
        assert!((10_000..=50_000).contains(&t.len()), "{} spans", t.len());
        let (depth, fan_out) = check_trace(&g, &t);
        assert!(
            depth >= 3 && fan_out > 10,
            "depth {depth}, fan-out {fan_out}"
        );
    }
}

#[test]
fn late_mode_holds_back_a_subtree() {
    let mut g = Generator::new(Options {
        profile: Profile::Microservices,
        seed: 9,
        late_fraction: 0.3,
    });
    let ts = traces(&mut g, 2000);
    let late = ts.iter().filter(|t| !t.late.is_empty()).count();
    assert!(
        (500..700).contains(&late),
        "{late} of 2000 traces have a late part"
    );
    for t in &ts {
        check_trace(&g, t);
        assert!(
            t.late.iter().all(|s| !s.span.parent_span_id.is_empty()),
            "the root is never late"
        );
        assert!(!t.spans.is_empty());
    }
}

#[test]
fn batches_hold_at_most_max_spans_and_lose_none() {
    let mut g = generator(Profile::Microservices, 1);
    let ts = traces(&mut g, 200);
    let total: usize = ts.iter().map(Trace::len).sum();
    let mut b = Batcher::new(100);
    let mut seen = 0;
    for t in ts {
        b.push(t.spans);
        while let Some(batch) = b.full() {
            assert_eq!(batch.len(), 100);
            let req = g.request(batch);
            seen += req
                .resource_spans
                .iter()
                .flat_map(|r| &r.scope_spans)
                .map(|s| s.spans.len())
                .sum::<usize>();
        }
    }
    while let Some(batch) = b.rest() {
        seen += batch.len();
    }
    assert_eq!(seen, total);
    assert_eq!(b.pending(), 0);
}

#[test]
fn ids_and_values_have_entropy() {
    let mut g = generator(Profile::Microservices, 11);
    let ts = traces(&mut g, 2000);
    let ids: HashSet<[u8; 16]> = ts.iter().map(|t| t.id).collect();
    assert_eq!(ids.len(), ts.len());
    let mut paths = HashSet::new();
    let mut durations = HashSet::new();
    let mut n = 0;
    for t in &ts {
        for s in &t.spans {
            n += 1;
            durations.insert(s.span.end_time_unix_nano - s.span.start_time_unix_nano);
            if let Some(p) = str_attr(&s.span, "url.path").or(str_attr(&s.span, "url.full")) {
                paths.insert(p.to_string());
            }
        }
    }
    assert!(
        durations.len() * 10 > n * 9,
        "nanosecond durations: {} distinct of {n}",
        durations.len()
    );
    assert!(
        paths.len() > 2000,
        "URLs carry IDs: {} distinct",
        paths.len()
    );
}
