//! The search engine against the reference evaluator (`search::reference`), on random traces
//! and random queries, over every storage layout: the head, fresh blocks after cuts, and a
//! block compacted from several. Seeded, so a failure repeats; the message names the query
//! and the trace.

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use arbor_model::otlp::{
    AnyValue, Event, ExportTraceServiceRequest, InstrumentationScope, KeyValue, Link, Resource,
    ResourceSpans, ScopeSpans, Span, Status, any_value::Value,
};
use arbor_query::search::metrics::{MetricsRequest, MetricsResult, query_range, query_range_many};
use arbor_query::search::reference;
use arbor_query::traceql::{MetricsExpr, Query, QueryKind};
use arbor_storage::Store;
use arbor_storage::compact::CompactionConfig;
use arbor_storage::head::HeadSpan;
use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use support::{TENANT, TraceOut, engine_out, reference_out, reparse, run_search, search_pipeline};

// ---------------------------------------------------------------------------------------
// Random traces

const NAMES: &[&str] = &["GET /", "POST /x", "query", "cache.get", "send", "recv"];
const STRS: &[&str] = &["x", "y", "zz", "Ab", "", "api", "prod"];
const DURS: &[u64] = &[
    0,
    1_000,
    50_000,
    1_000_000,
    20_000_000,
    500_000_000,
    1_500_000_000,
];

fn kv(k: &str, v: Value) -> KeyValue {
    KeyValue {
        key: k.into(),
        value: Some(AnyValue { value: Some(v) }),
        ..Default::default()
    }
}

/// A value for attribute `a`, `b`, …: each name has a usual type and sometimes another,
/// from a few repeated values.
fn attr_value(rng: &mut StdRng, key: &str) -> Value {
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

fn attrs(rng: &mut StdRng, keys: &[&str], p: f64) -> Vec<KeyValue> {
    let mut out = Vec::new();
    for k in keys {
        if rng.random_bool(p) {
            out.push(kv(k, attr_value(rng, k)));
        }
    }
    out
}

fn id8(rng: &mut StdRng) -> Vec<u8> {
    let mut id = [0u8; 8];
    rng.fill(&mut id);
    id[0] |= 1;
    id.to_vec()
}

/// Resources and scopes the traces draw from.
fn resources(rng: &mut StdRng) -> Vec<Resource> {
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

fn scopes(rng: &mut StdRng) -> Vec<InstrumentationScope> {
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
fn trace(rng: &mut StdRng, base_ns: u64, nres: usize, nscope: usize) -> Vec<(usize, usize, Span)> {
    let mut tid = [0u8; 16];
    rng.fill(&mut tid);
    tid[0] |= 1;
    let n = if rng.random_bool(0.2) {
        rng.random_range(1..4)
    } else {
        rng.random_range(1..=40)
    };
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
fn requests(
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

const ATTR_NAMES: &[&str] = &[
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
const SCOPES: &[&str] = &[
    ".",
    "span.",
    "resource.",
    "event.",
    "link.",
    "instrumentation.",
];

fn literal(rng: &mut StdRng) -> String {
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

fn attribute(rng: &mut StdRng) -> String {
    format!(
        "{}{}",
        SCOPES.choose(rng).unwrap(),
        ATTR_NAMES.choose(rng).unwrap()
    )
}

fn cmp_op(rng: &mut StdRng) -> &'static str {
    ["=", "!=", "<", "<=", ">", ">=", "=", "!="]
        .choose(rng)
        .unwrap()
}

/// A condition on one span.
fn condition(rng: &mut StdRng, depth: u32) -> String {
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

fn filter(rng: &mut StdRng) -> String {
    if rng.random_bool(0.1) {
        "{ }".into()
    } else {
        format!("{{ {} }}", condition(rng, 0))
    }
}

const SET_OPS: &[&str] = &[
    "&&", "||", ">", "<", ">>", "<<", "~", "!>", "!<", "!>>", "!<<", "!~", "&>", "&<", "&>>",
    "&<<", "&~",
];

fn spanset(rng: &mut StdRng, depth: u32) -> String {
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

fn stage(rng: &mut StdRng) -> String {
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

fn search_query(rng: &mut StdRng) -> String {
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

fn metrics_query(rng: &mut StdRng) -> String {
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

// ---------------------------------------------------------------------------------------
// The comparison

struct Data {
    /// Requests in the order they are ingested (one per group of traces).
    reqs: Vec<ExportTraceServiceRequest>,
    traces: BTreeMap<String, Vec<HeadSpan>>,
    base_ns: u64,
}

fn data(seed: u64, ntraces: usize, groups: usize) -> Data {
    let mut rng = StdRng::seed_from_u64(seed);
    let base_ns = support::window_start_ns();
    let res = resources(&mut rng);
    let sc = scopes(&mut rng);
    let all: Vec<Vec<(usize, usize, Span)>> = (0..ntraces)
        .map(|_| trace(&mut rng, base_ns, res.len(), sc.len()))
        .collect();
    let reqs: Vec<ExportTraceServiceRequest> = all
        .chunks(ntraces.div_ceil(groups))
        .map(|c| requests(c, &res, &sc))
        .collect();
    let traces = support::head_spans(&reqs);
    Data {
        reqs,
        traces,
        base_ns,
    }
}

fn describe(spans: &[HeadSpan]) -> String {
    spans
        .iter()
        .map(|s| {
            format!(
                "  {} parent={} name={:?} start=+{}ms dur={}ns kind={} status={:?} attrs={:?} res={:?}\n",
                hex::encode(&s.span.span_id),
                hex::encode(&s.span.parent_span_id),
                s.span.name,
                (s.span.start_time_unix_nano % 3_600_000_000_000) / 1_000_000,
                s.span.end_time_unix_nano - s.span.start_time_unix_nano,
                s.span.kind,
                s.span.status.as_ref().map(|x| x.code),
                s.span
                    .attributes
                    .iter()
                    .map(|kv| (kv.key.as_str(), kv.value.as_ref().and_then(|v| v.value.clone())))
                    .collect::<Vec<_>>(),
                s.resource
                    .resource
                    .as_ref()
                    .map(|r| r
                        .attributes
                        .iter()
                        .map(|kv| (kv.key.as_str(), kv.value.as_ref().and_then(|v| v.value.clone())))
                        .collect::<Vec<_>>()),
            )
        })
        .collect()
}

#[derive(Default)]
struct Stats {
    queries: usize,
    matching: usize,
    traces_matched: usize,
}

/// The reference's answers, computed once for every layout.
fn expected(data: &Data, queries: &[Query]) -> Vec<BTreeMap<String, TraceOut>> {
    queries
        .iter()
        .map(|q| reference_out(search_pipeline(q), &data.traces))
        .collect()
}

async fn check_searches(
    store: &Store,
    data: &Data,
    queries: &[Query],
    wants: &[BTreeMap<String, TraceOut>],
    layout: &str,
) -> Stats {
    let mut stats = Stats::default();
    for (q, want) in queries.iter().zip(wants) {
        let got = engine_out(q, &run_search(store, q).await);
        stats.queries += 1;
        stats.matching += usize::from(!want.is_empty());
        stats.traces_matched += want.len();
        if got == *want {
            continue;
        }
        let ids: std::collections::BTreeSet<&String> = got.keys().chain(want.keys()).collect();
        for id in ids {
            let (g, w) = (got.get(id), want.get(id));
            if g != w {
                panic!(
                    "{layout}: query `{q}`, trace {id}\nengine:    {g:?}\nreference: {w:?}\nspans:\n{}",
                    describe(&data.traces[id])
                );
            }
        }
    }
    stats
}

fn close(a: f64, b: f64) -> bool {
    (a.is_nan() && b.is_nan()) || a == b || (a - b).abs() <= 1e-9 * a.abs().max(b.abs())
}

async fn check_metrics(store: &Store, data: &Data, queries: &[Query], layout: &str) -> usize {
    let mut series = 0;
    let mut alone: Vec<(MetricsRequest, MetricsResult)> = Vec::new();
    for (i, q) in queries.iter().enumerate() {
        let QueryKind::Metrics(MetricsExpr::Pipeline(mp)) = &q.kind else {
            panic!("{q}: a metrics pipeline expected");
        };
        // Steps of 7 s to 2 min over the 10 minutes the spans start in.
        let step_ns = [7, 30, 60, 120][i % 4] * 1_000_000_000;
        let (start_ns, end_ns) = (data.base_ns, data.base_ns + 610 * 1_000_000_000);
        let req = MetricsRequest {
            expr: q.kind_metrics().clone(),
            start_ns,
            end_ns,
            step_ns,
            max_series: 100_000,
            exemplars: 1,
            timeout: Duration::from_secs(60),
        };
        let got = query_range(&store.search_view(TENANT), &req)
            .await
            .unwrap_or_else(|e| panic!("{q}: {e}"));
        alone.push((req.clone(), got.clone()));
        let traces: Vec<Vec<HeadSpan>> = data.traces.values().cloned().collect();
        let want = reference::metrics(mp, &traces, start_ns, end_ns, step_ns)
            .expect("a function the reference implements");
        let key = |l: &[(String, arbor_query::search::value::Owned)]| support::labels_text(l);
        let got_map: BTreeMap<String, &Vec<f64>> = got
            .series
            .iter()
            .map(|s| (key(&s.labels), &s.values))
            .collect();
        let want_map: BTreeMap<String, &Vec<f64>> =
            want.iter().map(|s| (key(&s.labels), &s.values)).collect();
        assert_eq!(
            got_map.keys().collect::<Vec<_>>(),
            want_map.keys().collect::<Vec<_>>(),
            "{layout}: metrics query `{q}`: series differ"
        );
        for (k, g) in &got_map {
            let w = want_map[k];
            assert!(
                g.len() == w.len() && g.iter().zip(w.iter()).all(|(a, b)| close(*a, *b)),
                "{layout}: metrics query `{q}`, series {k}\nengine:    {g:?}\nreference: {w:?}"
            );
        }
        series += want.len();
    }
    // All of them in one scan (each with its own step, and ranges that differ) answer as
    // each does alone.
    let reqs: Vec<MetricsRequest> = alone
        .iter()
        .enumerate()
        .map(|(i, (r, _))| {
            let mut r = r.clone();
            r.start_ns += (i as u64 % 3) * 60_000_000_000;
            r
        })
        .collect();
    let together = query_range_many(&store.search_view(TENANT), &reqs).await;
    assert_eq!(together.len(), reqs.len());
    for (i, ((req, got), (q, (_, whole)))) in reqs
        .iter()
        .zip(together)
        .zip(queries.iter().zip(&alone))
        .enumerate()
    {
        let got = got.unwrap_or_else(|e| panic!("{q} with others: {e}"));
        let want = if i % 3 == 0 {
            whole.clone()
        } else {
            query_range(&store.search_view(TENANT), req).await.unwrap()
        };
        assert_eq!(
            got.timestamps_ms, want.timestamps_ms,
            "{layout}: `{q}` with others"
        );
        assert_eq!(
            got.series.len(),
            want.series.len(),
            "{layout}: `{q}` with others: series"
        );
        for (g, w) in got.series.iter().zip(&want.series) {
            assert_eq!(g.labels, w.labels, "{layout}: `{q}` with others");
            assert!(
                g.values.iter().zip(&w.values).all(|(a, b)| close(*a, *b)),
                "{layout}: `{q}` with others, series {:?}\ntogether: {:?}\nalone:    {:?}",
                g.labels,
                g.values,
                w.values
            );
        }
    }
    series
}

trait MetricsKind {
    fn kind_metrics(&self) -> &MetricsExpr;
}

impl MetricsKind for Query {
    fn kind_metrics(&self) -> &MetricsExpr {
        match &self.kind {
            QueryKind::Metrics(m) => m,
            QueryKind::Search(_) => panic!("a metrics query expected"),
        }
    }
}

fn queries(seed: u64, n: usize, gen_fn: fn(&mut StdRng) -> String) -> Vec<Query> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut out = Vec::new();
    let mut tries = 0;
    while out.len() < n {
        tries += 1;
        assert!(tries < n * 20, "too few generated queries validate");
        if let Some(q) = reparse(&gen_fn(&mut rng)) {
            out.push(q);
        }
    }
    out
}

/// Runs every query over one data set in each layout.
async fn run(seed: u64, ntraces: usize, nsearch: usize, nmetrics: usize) {
    let data = data(seed, ntraces, 4);
    let searches = queries(seed ^ 0x5eed, nsearch, search_query);
    let metrics = queries(seed ^ 0x3e7, nmetrics, metrics_query);
    let wants = expected(&data, &searches);

    // The head, then one fresh block.
    let dir = tempfile::tempdir().unwrap();
    let store = support::open(dir.path()).await;
    for r in &data.reqs {
        store.ingest(TENANT, r.clone()).await.unwrap();
    }
    let s = check_searches(&store, &data, &searches, &wants, "head").await;
    eprintln!(
        "seed {seed}: {} of {} queries match, {} trace matches",
        s.matching, s.queries, s.traces_matched
    );
    let n = check_metrics(&store, &data, &metrics, "head").await;
    eprintln!("seed {seed}: {} metrics queries, {n} series", metrics.len());
    store.cut().await.unwrap();
    assert_eq!(store.search_view(TENANT).blocks.len(), 1);
    check_searches(&store, &data, &searches, &wants, "one block").await;
    check_metrics(&store, &data, &metrics, "one block").await;

    // Several blocks, one per request, then those compacted into one.
    let dir = tempfile::tempdir().unwrap();
    let store = support::open(dir.path()).await;
    for r in &data.reqs {
        store.ingest(TENANT, r.clone()).await.unwrap();
        store.cut().await.unwrap();
    }
    assert_eq!(store.search_view(TENANT).blocks.len(), data.reqs.len());
    check_searches(&store, &data, &searches, &wants, "blocks").await;
    check_metrics(&store, &data, &metrics, "blocks").await;
    let cfg = CompactionConfig {
        min_inputs: 2,
        ..CompactionConfig::default()
    };
    store
        .compact_once(TENANT, &cfg)
        .await
        .unwrap()
        .expect("the blocks compact");
    assert_eq!(store.search_view(TENANT).blocks.len(), 1);
    check_searches(&store, &data, &searches, &wants, "compacted").await;
    check_metrics(&store, &data, &metrics, "compacted").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn engine_matches_reference_seed_1() {
    run(1, 40, 150, 20).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn engine_matches_reference_seed_2() {
    run(2, 40, 150, 20).await;
}

/// More seeds on demand: `ARBOR_ENGINE_SEEDS=3..40 cargo test -p arbor-query --test
/// engine_property more_seeds -- --nocapture`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn more_seeds() {
    let Ok(range) = std::env::var("ARBOR_ENGINE_SEEDS") else {
        return;
    };
    let (a, b) = range.split_once("..").expect("ARBOR_ENGINE_SEEDS=from..to");
    for seed in a.parse::<u64>().unwrap()..b.parse::<u64>().unwrap() {
        run(seed, 40, 150, 20).await;
    }
}
