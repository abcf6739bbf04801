//! Grafana Traces Drilldown against the real binary: each request as the app sends it
//! (query templates copied from github.com/grafana/traces-drilldown, the file named above
//! each; `${primarySignal}` and `${filters}` replaced as Grafana interpolates them), over
//! `arbor gen` data plus a few seeded traces whose answers are known, in the head and again
//! from blocks.

use arbor_model::otlp::{Event, ExportTraceServiceRequest, Span, Status, kv_str};
use arbor_model::time::now_unix_nanos as now_ns;
use arbor_testkit::{TestServer, spans};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_arbor");

// src/components/Explore/queries/generateMetricsQuery.ts: `{${filters}} | ${metricFn}
// ${groupBy}${sampleStr}`, filters = VAR_FILTERS_EXPR [+ ` && status=error`] [+ ` && ${k} != nil`].
const RATE_BY: &str = "{${primarySignal} && ${filters} && resource.service.name != nil} | rate() by(resource.service.name) with(sample=true)";
const ERRORS_BY: &str = "{${primarySignal} && ${filters} && status=error && resource.service.name != nil} | rate() by(resource.service.name) with(sample=true)";
const DURATION: &str = "{${primarySignal} && ${filters}} | quantile_over_time(duration, ${durationPercentiles:csv})  with(sample=true)";
// src/components/Explore/queries/histogram.ts
const HISTOGRAM: &str =
    "{${primarySignal} && ${filters}} | histogram_over_time(duration) with(sample=true)";
// src/components/Explore/TracesByService/Tabs/Comparison/AttributesComparisonScene.tsx
// (buildQuery) with src/components/Explore/queries/comparisonQuery.ts: step = `${to - from}s`.
const COMPARE: &str = "{${primarySignal} && ${filters}} | compare(${compareQuery})";
// src/components/Explore/TracesByService/Tabs/Structure/StructureScene.tsx (metric errors).
const STRUCTURE: &str = "({${primarySignal} && ${filters} && status = error} &>> { status = error }) || ({${primarySignal} && ${filters} && status = error}) | select(status, resource.service.name, name, nestedSetParent, nestedSetLeft, nestedSetRight)";
// src/components/Explore/queries/exceptions.ts
const EXCEPTIONS: &str = "{${primarySignal} && ${filters} && status = error} | select(resource.service.name, event.exception.message,event.exception.stacktrace,event.exception.type) with(most_recent=true)";
// src/components/Explore/TraceQLIssueDetector.tsx
const PROBE: &str = "{} | rate()";

/// Grafana's interpolation of the app's variables.
fn fill(template: &str, primary: &str, filters: &str) -> String {
    template
        .replace("${primarySignal}", primary)
        .replace("${filters}", filters)
        .replace("${durationPercentiles:csv}", "0.9")
}

struct Data {
    server: TestServer,
    /// Unix seconds around everything sent.
    start: u64,
    end: u64,
}

fn span(trace: [u8; 16], id: u8, parent: u8, name: &str, start: u64, dur: u64) -> Span {
    let mut span_id = [0u8; 8];
    span_id[0] = 0xd0;
    span_id[7] = id;
    Span {
        trace_id: trace.to_vec(),
        span_id: span_id.to_vec(),
        parent_span_id: if parent == 0 {
            Vec::new()
        } else {
            let mut p = span_id;
            p[7] = parent;
            p.to_vec()
        },
        name: name.into(),
        kind: if parent == 0 { 2 } else { 3 },
        start_time_unix_nano: start,
        end_time_unix_nano: start + dur,
        ..Default::default()
    }
}

fn send(s: &TestServer, req: &ExportTraceServiceRequest) {
    let (status, _) = s.export_http(req).unwrap();
    assert_eq!(status, 200);
}

/// `arbor gen` traffic, then 40 checkout traces of `drill-web` → `drill-cache` (names gen
/// does not use): 10 whose cache call
/// is slow (2 s) with `span.cache.tier = "cold"`, 30 fast (5 ms) with `"warm"`; the last
/// slow one fails in the cart with an exception.
fn seeded() -> Data {
    let server = TestServer::start(BIN, &["--log-level", "warn"]).unwrap();
    let out = std::process::Command::new(BIN)
        .args([
            "gen",
            "--quiet",
            "--protocol",
            "http/protobuf",
            "--endpoint",
            &server.otlp_http_url(),
            "--profile",
            "microservices",
            "--seed",
            "21",
            "--traces",
            "150",
        ])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let now = now_ns();
    let mut rng = spans::rng(21);
    let (mut roots, mut calls) = (Vec::new(), Vec::new());
    for i in 0..40u64 {
        let trace = spans::trace_id(&mut rng);
        let slow = i < 10;
        let dur = if slow { 2_000_000_000 } else { 5_000_000 };
        let start = now - 60_000_000_000 + i * 1_000_000_000;
        let mut root = span(trace, 1, 0, "GET /checkout", start, dur + 2_000_000);
        root.attributes.push(kv_str("http.route", "/checkout"));
        let mut call = span(trace, 2, 1, "redis GET", start + 1_000_000, dur);
        call.attributes.push(kv_str("db.system", "redis"));
        call.attributes
            .push(kv_str("cache.tier", if slow { "cold" } else { "warm" }));
        if i == 9 {
            call.status = Some(Status {
                code: 2,
                message: "cache timeout".into(),
            });
            call.events.push(Event {
                name: "exception".into(),
                time_unix_nano: start + 2_000_000,
                attributes: vec![
                    kv_str("exception.type", "TimeoutError"),
                    kv_str("exception.message", "redis read timed out"),
                ],
                ..Default::default()
            });
        }
        roots.push(root);
        calls.push(call);
    }
    send(&server, &spans::batch("drill-web", roots));
    send(&server, &spans::batch("drill-cache", calls));
    let now_s = now / 1_000_000_000;
    Data {
        server,
        start: now_s - 3600,
        end: now_s + 60,
    }
}

fn get(s: &TestServer, path: &str, query: &[(&str, &str)]) -> (u16, String) {
    let resp = reqwest::blocking::Client::new()
        .get(format!("{}{path}", s.http_url()))
        .query(query)
        .send()
        .unwrap();
    (resp.status().as_u16(), resp.text().unwrap())
}

fn ok(d: &Data, path: &str, query: &[(&str, &str)]) -> Value {
    let (status, body) = get(&d.server, path, query);
    assert_eq!(status, 200, "{path} {query:?}: {body}\n{}", d.server.log());
    serde_json::from_str(&body).unwrap()
}

/// `/api/metrics/query_range` as Grafana's Tempo data source calls it.
fn metrics(d: &Data, q: &str, step: &str) -> Vec<Value> {
    let (start, end) = (d.start.to_string(), d.end.to_string());
    let v = ok(
        d,
        "/api/metrics/query_range",
        &[("q", q), ("start", &start), ("end", &end), ("step", step)],
    );
    v["series"].as_array().cloned().unwrap_or_default()
}

fn search(d: &Data, q: &str, limit: &str, spss: &str) -> Vec<Value> {
    let (start, end) = (d.start.to_string(), d.end.to_string());
    let v = ok(
        d,
        "/api/search",
        &[
            ("q", q),
            ("limit", limit),
            ("spss", spss),
            ("start", &start),
            ("end", &end),
        ],
    );
    v["traces"].as_array().cloned().unwrap_or_default()
}

/// A label's value as text (`""` for a label without a value).
fn label(series: &Value, key: &str) -> Option<String> {
    series["labels"].as_array()?.iter().find_map(|l| {
        (l["key"] == key).then(|| {
            l["value"]
                .as_object()
                .and_then(|o| o.values().next())
                .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string))
                .unwrap_or_default()
        })
    })
}

fn total(series: &Value) -> f64 {
    series["samples"]
        .as_array()
        .map(|s| s.iter().map(|x| x["value"].as_f64().unwrap()).sum())
        .unwrap_or(0.0)
}

fn attr<'a>(span: &'a Value, key: &str) -> Option<&'a Value> {
    span["attributes"]
        .as_array()?
        .iter()
        .find(|a| a["key"] == key)
        .map(|a| &a["value"])
}

fn int_attr(span: &Value, key: &str) -> i64 {
    attr(span, key)
        .and_then(|v| v["intValue"].as_str())
        .unwrap_or_else(|| panic!("no int {key} in {span}"))
        .parse()
        .unwrap()
}

fn metrics_panels(d: &Data) {
    for primary in ["nestedSetParent<0", "kind=server", "true"] {
        let rate = metrics(d, &fill(RATE_BY, primary, "true"), "60s");
        assert!(!rate.is_empty(), "{primary}: rate by service");
        for s in &rate {
            assert!(label(s, "resource.service.name").is_some(), "{s}");
            assert!(!s["samples"].as_array().unwrap().is_empty(), "{s}");
        }
        let dur = metrics(d, &fill(DURATION, primary, "true"), "60s");
        assert!(!dur.is_empty(), "{primary}: duration p90");
        assert!(
            dur.iter()
                .all(|s| label(s, "p").and_then(|p| p.parse::<f64>().ok()) == Some(0.9)),
            "{dur:?}"
        );
        let hist = metrics(d, &fill(HISTOGRAM, primary, "true"), "60s");
        assert!(
            hist.iter().any(|s| label(s, "__bucket").is_some()),
            "{primary}: histogram buckets: {hist:?}"
        );
    }
    // The seeded cache calls: 10 spans of 2 s, so the bucket bounded by 2 s holds 10.
    let hist = metrics(
        d,
        &fill(HISTOGRAM, "true", "resource.service.name=\"drill-cache\""),
        "3660s",
    );
    let two_s: f64 = hist
        .iter()
        .filter(|s| label(s, "__bucket").and_then(|b| b.parse::<f64>().ok()) == Some(2.0))
        .map(total)
        .sum();
    assert_eq!(two_s, 10.0, "{hist:?}");
    let errors = metrics(d, &fill(ERRORS_BY, "true", "true"), "60s");
    assert!(
        errors
            .iter()
            .any(|s| label(s, "resource.service.name").as_deref() == Some("drill-cache")),
        "{errors:?}"
    );
    // The probe: no `localblocks processor not found`, an answer.
    let (end, start) = (d.end.to_string(), (d.end - 60).to_string());
    let (status, body) = get(
        &d.server,
        "/api/metrics/query_range",
        &[("q", PROBE), ("start", &start), ("end", &end)],
    );
    assert_eq!(status, 200, "{body}");
}

fn compare(d: &Data) {
    let (from, to) = (d.start, d.end);
    // comparisonQuery(selection) with a duration selection and a time range.
    let compare_query = format!(
        "{{duration >= 1s}}, 10, {}, {}",
        from * 1_000_000_000,
        to * 1_000_000_000
    );
    let q = fill(COMPARE, "true", "resource.service.name=\"drill-cache\"")
        .replace("${compareQuery}", &compare_query);
    let series = metrics(d, &q, &format!("{}s", to - from));
    let of = |kind: &str, key: &str| -> Vec<(String, f64)> {
        let mut v: Vec<(String, f64)> = series
            .iter()
            .filter(|s| label(s, "__meta_type").as_deref() == Some(kind))
            .filter_map(|s| label(s, key).map(|v| (v, total(s))))
            .collect();
        v.sort_by(|a, b| b.1.total_cmp(&a.1));
        v
    };
    // The slow value is the selection's; the fast one only the baseline's.
    assert_eq!(
        of("selection", "span.cache.tier"),
        [("cold".to_string(), 10.0)],
        "{series:?}"
    );
    assert_eq!(
        of("baseline", "span.cache.tier"),
        [("warm".to_string(), 30.0)],
        "{series:?}"
    );
    // Every attribute, not five: span, resource and intrinsic fields are all compared.
    for key in [
        "span.db.system",
        "resource.deployment.environment",
        "name",
        "status",
        "rootName",
    ] {
        assert!(!of("selection", key).is_empty(), "{key} in {series:?}");
    }
    assert_eq!(
        of("selection", "rootServiceName"),
        [("drill-web".to_string(), 10.0)]
    );
    let totals: Vec<f64> = series
        .iter()
        .filter(|s| label(s, "__meta_type").as_deref() == Some("selection_total"))
        .filter(|s| label(s, "span.cache.tier").is_some())
        .map(total)
        .collect();
    assert_eq!(totals, [10.0], "{series:?}");

    // Over everything (gen data too): the top 10 per attribute at most, and the rest marked.
    let q = fill(COMPARE, "true", "true").replace("${compareQuery}", "{status = error}, 3");
    let series = metrics(d, &q, &format!("{}s", to - from));
    assert!(
        series
            .iter()
            .any(|s| label(s, "resource.service.namespace").is_some()),
        "gen's resource attributes are compared: {series:?}"
    );
    let names = of_key(&series, "baseline", "name");
    assert!(names.len() <= 3 && !names.is_empty(), "{names:?}");
    assert!(
        series.iter().any(
            |s| label(s, "__meta_error").as_deref() == Some("__too_many_values__")
                && label(s, "name").is_some()
        ),
        "span names past the top 3 are marked: {series:?}"
    );
}

fn of_key(series: &[Value], kind: &str, key: &str) -> Vec<String> {
    series
        .iter()
        .filter(|s| label(s, "__meta_type").as_deref() == Some(kind))
        .filter_map(|s| label(s, key))
        .collect()
}

fn structure(d: &Data) {
    for primary in ["nestedSetParent<0", "true"] {
        let traces = search(d, &fill(STRUCTURE, primary, "true"), "200", "20");
        assert!(!traces.is_empty(), "{primary}");
        for t in &traces {
            for set in t["spanSets"].as_array().unwrap() {
                for s in set["spans"].as_array().unwrap() {
                    let (l, r) = (int_attr(s, "nestedSetLeft"), int_attr(s, "nestedSetRight"));
                    assert!(0 < l && l < r, "{s}");
                    assert!(int_attr(s, "nestedSetParent") < l, "{s}");
                    assert_eq!(attr(s, "status").unwrap()["stringValue"], "error", "{s}");
                    assert!(attr(s, "service.name").is_some(), "{s}");
                }
            }
        }
    }
    // The seeded failing trace: root (1, 4) → cache call (2, 3) with parent 1.
    let traces = search(
        d,
        &fill(STRUCTURE, "true", "resource.service.name=\"drill-cache\""),
        "200",
        "20",
    );
    assert_eq!(traces.len(), 1, "{traces:?}");
    let s = &traces[0]["spanSets"][0]["spans"][0];
    assert_eq!(
        (
            int_attr(s, "nestedSetParent"),
            int_attr(s, "nestedSetLeft"),
            int_attr(s, "nestedSetRight")
        ),
        (1, 2, 3),
        "{s}"
    );
}

fn exceptions(d: &Data) {
    let traces = search(d, &fill(EXCEPTIONS, "true", "true"), "400", "10");
    assert!(!traces.is_empty());
    let messages: Vec<String> = traces
        .iter()
        .flat_map(|t| t["spanSets"].as_array().unwrap().clone())
        .flat_map(|set| set["spans"].as_array().unwrap().clone())
        .filter_map(|s| attr(&s, "exception.message").map(|v| v["stringValue"].to_string()))
        .collect();
    assert!(
        messages.iter().any(|m| m.contains("redis read timed out")),
        "{messages:?}"
    );
    // Most recent first.
    let starts: Vec<u64> = traces
        .iter()
        .map(|t| t["startTimeUnixNano"].as_str().unwrap().parse().unwrap())
        .collect();
    assert!(starts.windows(2).all(|w| w[0] >= w[1]), "{starts:?}");
}

fn tag_keys(d: &Data) {
    let (start, end) = (d.start.to_string(), d.end.to_string());
    let tags = |scope: Option<&str>| {
        let mut q = vec![("start", start.as_str()), ("end", end.as_str())];
        if let Some(s) = scope {
            q.push(("scope", s));
        }
        ok(d, "/api/v2/search/tags", &q)
    };
    let names = |v: &Value, scope: &str| -> Vec<String> {
        v["scopes"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| s["name"] == scope)
            .flat_map(|s| s["tags"].as_array().unwrap().clone())
            .map(|t| t.as_str().unwrap().to_string())
            .collect()
    };
    let resource = tags(Some("resource"));
    assert!(
        names(&resource, "resource").contains(&"service.name".to_string()),
        "{resource}"
    );
    assert!(names(&resource, "span").is_empty(), "{resource}");
    let span = tags(Some("span"));
    assert!(
        names(&span, "span").contains(&"cache.tier".to_string()),
        "{span}"
    );
    let all = tags(None);
    for scope in ["span", "resource", "intrinsic"] {
        assert!(!names(&all, scope).is_empty(), "{scope} in {all}");
    }
}

fn hints(d: &Data) {
    let (start, end) = (d.start.to_string(), d.end.to_string());
    let refused = |path: &str, q: &str, name: &str| {
        let (status, body) = get(
            &d.server,
            path,
            &[("q", q), ("start", &start), ("end", &end)],
        );
        assert_eq!(status, 400, "{q}: {body}");
        assert!(body.contains(name), "{q}: {body}");
    };
    refused(
        "/api/metrics/query_range",
        "{} | rate() with(job_size=3)",
        "job_size",
    );
    refused("/api/search", "{ } with(debug=true)", "debug");
    refused(
        "/api/metrics/query_range",
        "{} | rate() with(sample=2)",
        "sample",
    );
    // Sampling half the traces: counts scaled by 2, near the exact count.
    let step = format!("{}s", d.end - d.start);
    let exact: f64 = metrics(d, "{ } | count_over_time()", &step)
        .iter()
        .map(total)
        .sum();
    let sampled: f64 = metrics(d, "{ } | count_over_time() with(trace_sample=0.5)", &step)
        .iter()
        .map(total)
        .sum();
    assert_eq!(sampled % 2.0, 0.0, "{sampled}");
    assert!(
        sampled > exact * 0.3 && sampled < exact * 1.7,
        "{sampled} of {exact}"
    );
    // exemplars=false: none.
    let series = metrics(d, "{ } | rate() with(exemplars=false)", "60s");
    assert!(
        series
            .iter()
            .all(|s| s["exemplars"].as_array().is_none_or(Vec::is_empty)),
        "{series:?}"
    );
}

#[test]
fn drilldown_requests_over_the_head_then_blocks() {
    let d = seeded();
    for stage in ["head", "blocks"] {
        if stage == "blocks" {
            d.server.flush().unwrap();
        }
        eprintln!("drilldown requests over the {stage}");
        metrics_panels(&d);
        compare(&d);
        structure(&d);
        exceptions(&d);
        tag_keys(&d);
        hints(&d);
    }
}
