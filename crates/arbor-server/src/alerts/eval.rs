//! Computing a rule's value: from the derived series (latency, errors, serverless) or from
//! a TraceQL metrics query (traceql), and finding example traces when it fires.

use std::time::Duration;

use arbor_derived::{Frame, Histogram, Timeline};
use arbor_query::search::{self, SearchRequest, metrics};
use arbor_query::traceql::{self, QueryKind};
use arbor_storage::Store;

use super::rules::{Kind, Rule};

const SECOND: u64 = 1_000_000_000;
const DAY: u64 = 86_400 * SECOND;
/// Example traces per firing alert.
pub const EXAMPLES: usize = 5;

/// What one evaluation found.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Evaluation {
    /// `None`: nothing to compute it from (a quantile of no spans).
    pub value: Option<f64>,
    /// `None`: no baseline yet (a baseline rule with no earlier data).
    pub threshold: Option<f64>,
    pub examples: Vec<String>,
}

impl Evaluation {
    pub fn breached(&self) -> bool {
        matches!((self.value, self.threshold), (Some(v), Some(t)) if v > t)
    }
}

/// Widest bucket kept (rolled up over a week).
const WIDEST: u64 = 3_600 * SECOND;

/// The buckets of `timeline` that overlap `[from, to)`: a window is rounded out to whole
/// buckets, so spans that just arrived (in a bucket that began before the window) count.
fn frames(timeline: &Timeline, from: u64, to: u64) -> impl Iterator<Item = &Frame> {
    timeline
        .range((from.saturating_sub(WIDEST), 0)..(to, 0))
        .filter(move |((start, width), _)| start + width > from)
        .map(|(_, f)| f)
}

/// Where to start reading buckets for a window beginning at `from` (see [`frames`]).
pub fn read_from(from: u64) -> u64 {
    from.saturating_sub(WIDEST)
}

fn place_ok(rule: &Rule, d: &arbor_derived::Dims) -> bool {
    let is = |want: &Option<String>, have: &String| want.as_ref().is_none_or(|w| w == have);
    is(&rule.namespace, &d.namespace)
        && is(&rule.environment, &d.environment)
        && is(&rule.region, &d.region)
}

/// Calls, failures and latency of what a latency or errors rule watches, over the buckets.
fn red<'a>(rule: &Rule, buckets: impl Iterator<Item = &'a Frame>) -> (u64, u64, Histogram) {
    let (mut calls, mut errors, mut latency) = (0, 0, Histogram::default());
    if let (Some(c), Some(s)) = (&rule.client, &rule.server) {
        for f in buckets {
            for (k, e) in &f.edges {
                if &k.client == c && &k.server == s {
                    calls += e.requests;
                    errors += e.failed;
                    latency.merge(&e.server_latency);
                }
            }
        }
        return (calls, errors, latency);
    }
    let service = rule.service.as_deref().unwrap_or_default();
    if let Some(route) = &rule.route {
        for f in buckets {
            for (k, e) in &f.endpoints {
                if k.service == service && &k.route == route && place_ok(rule, &k.dims) {
                    calls += e.requests;
                    errors += e.errors;
                    latency.merge(&e.latency);
                }
            }
        }
        return (calls, errors, latency);
    }
    // An operation by name; else the service's entry spans, or all its spans if it has none.
    let mut all = (0, 0, Histogram::default());
    for f in buckets {
        for (k, s) in &f.spans {
            if k.service != service || !place_ok(rule, &k.dims) {
                continue;
            }
            if let Some(op) = &rule.operation {
                if &k.span_name == op {
                    calls += s.calls;
                    errors += s.errors;
                    latency.merge(&s.latency);
                }
                continue;
            }
            all.0 += s.calls;
            all.1 += s.errors;
            all.2.merge(&s.latency);
            if k.span_kind == "SPAN_KIND_SERVER" || k.span_kind == "SPAN_KIND_CONSUMER" {
                calls += s.calls;
                errors += s.errors;
                latency.merge(&s.latency);
            }
        }
    }
    if rule.operation.is_none() && calls == 0 {
        return all;
    }
    (calls, errors, latency)
}

/// The value of a latency, errors or serverless rule over `[now − window, now)` of
/// `timeline`; `baseline` gives the timelines of earlier days for a baseline rule.
pub fn series_value(
    rule: &Rule,
    timeline: &Timeline,
    now_ns: u64,
    baseline: &[(u64, Timeline)],
) -> Evaluation {
    let window = rule.window.0.as_nanos() as u64;
    let from = now_ns.saturating_sub(window);
    let buckets = || frames(timeline, from, now_ns);
    match rule.kind {
        Kind::Latency => {
            let q = rule.quantile.unwrap_or(0.95);
            let value = red(rule, buckets()).2.quantile(q);
            let threshold = match rule.baseline_factor {
                None => rule.threshold(),
                Some(factor) => {
                    let mut days: Vec<f64> = baseline
                        .iter()
                        .filter_map(|(ago, tl)| {
                            let to = now_ns.saturating_sub(*ago);
                            red(rule, frames(tl, to.saturating_sub(window), to))
                                .2
                                .quantile(q)
                        })
                        .collect();
                    days.sort_by(f64::total_cmp);
                    days.get(days.len() / 2).map(|m| m * factor)
                }
            };
            Evaluation {
                value,
                threshold,
                examples: Vec::new(),
            }
        }
        Kind::Errors => {
            let (calls, errors, _) = red(rule, buckets());
            let value = if rule.measure() == "count" {
                errors as f64
            } else if calls == 0 {
                0.0
            } else {
                errors as f64 / calls as f64
            };
            Evaluation {
                value: Some(value),
                threshold: rule.threshold(),
                examples: Vec::new(),
            }
        }
        Kind::Serverless => {
            // Per function (and place); the worst one counts.
            let mut per: std::collections::BTreeMap<String, arbor_derived::FunctionFigures> =
                Default::default();
            for f in buckets() {
                for (k, v) in &f.functions {
                    if rule.function.as_ref().is_some_and(|w| *w != k.function)
                        || rule.service.as_ref().is_some_and(|w| *w != k.service)
                        || !place_ok(rule, &k.dims)
                    {
                        continue;
                    }
                    per.entry(k.function.clone()).or_default().merge(v);
                }
            }
            let timeout = rule.timeout.map_or(0.0, |t| t.0.as_secs_f64());
            let value = per
                .values()
                .filter_map(|f| match rule.measure() {
                    "timeouts" => Some(f.timeouts as f64),
                    "errors" => Some(f.errors as f64),
                    "cold_start_rate" => Some(f.cold_start_rate()),
                    "memory_share" => (f.memory_samples > 0).then(|| f.memory_share()),
                    "duration_to_timeout" if timeout > 0.0 => {
                        f.duration.quantile(0.99).map(|p| p / timeout)
                    }
                    _ => None,
                })
                .reduce(f64::max);
            let value = value.or(match rule.measure() {
                "timeouts" | "errors" => Some(0.0),
                _ => None,
            });
            Evaluation {
                value,
                threshold: rule.threshold(),
                examples: Vec::new(),
            }
        }
        Kind::Traceql => Evaluation::default(),
    }
}

/// How far back each baseline day lies.
pub fn baseline_days() -> Vec<u64> {
    (1..=7).map(|d| d * DAY).collect()
}

/// A TraceQL string literal.
fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The TraceQL filter whose spans show why a series rule fires (`None` for traceql rules).
pub fn example_filter(rule: &Rule, threshold: Option<f64>) -> Option<String> {
    let mut conds: Vec<String> = Vec::new();
    match rule.kind {
        Kind::Traceql => return None,
        Kind::Serverless => {
            if let Some(f) = &rule.function {
                conds.push(format!(".faas.name = {}", quote(f)));
            } else {
                conds.push(".faas.name != nil".into());
            }
            match rule.measure() {
                "timeouts" => conds.push(".faas.error_timeout = true".into()),
                "cold_start_rate" => conds.push(".faas.coldstart = true".into()),
                "errors" => conds.push("status = error".into()),
                _ => {}
            }
        }
        Kind::Latency | Kind::Errors => {
            if let (Some(c), Some(_)) = (&rule.client, &rule.server) {
                conds.push(format!("resource.service.name = {}", quote(c)));
                conds.push("kind = client".into());
            } else if let Some(s) = &rule.service {
                conds.push(format!("resource.service.name = {}", quote(s)));
            }
            if let Some(op) = &rule.operation {
                conds.push(format!("name = {}", quote(op)));
            }
            if let Some(r) = &rule.route {
                conds.push(format!("span.http.route = {}", quote(r)));
            }
            if rule.kind == Kind::Errors {
                conds.push("status = error".into());
            } else if let Some(t) = threshold {
                conds.push(format!("duration > {}ms", (t * 1000.0).floor() as u64));
            }
        }
    }
    Some(format!("{{ {} }}", conds.join(" && ")))
}

/// Trace IDs of up to [`EXAMPLES`] traces matching `filter` in the window, most recent
/// first.
pub async fn examples(
    store: &Store,
    tenant: &str,
    filter: &str,
    from_ns: u64,
    to_ns: u64,
    timeout: Duration,
) -> Result<Vec<String>, String> {
    let query = traceql::parse_and_validate(filter).map_err(|e| e.to_string())?;
    let mut req = SearchRequest::new(&query).map_err(|e| e.to_string())?;
    req.start_ns = from_ns;
    req.end_ns = to_ns;
    req.limit = EXAMPLES;
    req.spss = 1;
    req.timeout = timeout;
    let found = search::search(&store.search_view(tenant), &req)
        .await
        .map_err(|e| e.to_string())?;
    Ok(found.traces.iter().map(|t| t.trace_id.to_hex()).collect())
}

/// The value of a traceql rule: the count (or per-second rate) of the spans its filter
/// matches in the window, or the largest value of its metrics query; with exemplars.
pub async fn traceql_value(
    store: &Store,
    tenant: &str,
    rule: &Rule,
    now_ns: u64,
    timeout: Duration,
) -> Result<Evaluation, String> {
    let q = rule.query.as_deref().unwrap_or_default();
    let parsed = traceql::parse_and_validate(q).map_err(|e| e.to_string())?;
    let metrics_query = match parsed.kind {
        QueryKind::Search(_) => {
            let f = if rule.measure() == "rate" {
                "rate()"
            } else {
                "count_over_time()"
            };
            format!("{q} | {f}")
        }
        QueryKind::Metrics(_) => q.to_string(),
    };
    let parsed = traceql::parse_and_validate(&metrics_query).map_err(|e| e.to_string())?;
    let QueryKind::Metrics(expr) = parsed.kind else {
        return Err("not a metrics query".into());
    };
    let window = rule.window.0.as_nanos() as u64;
    let req = metrics::MetricsRequest {
        expr,
        start_ns: now_ns.saturating_sub(window),
        end_ns: now_ns,
        step_ns: window,
        max_series: 1_000,
        exemplars: EXAMPLES,
        timeout,
    };
    let result = metrics::query_range(&store.search_view(tenant), &req)
        .await
        .map_err(|e| e.to_string())?;
    let value = result
        .series
        .iter()
        .filter_map(|s| s.values.iter().rev().copied().find(|v| v.is_finite()))
        .reduce(f64::max)
        .unwrap_or(0.0);
    let mut examples: Vec<String> = Vec::new();
    for s in &result.series {
        for e in &s.exemplars {
            let id = e.trace_id.to_hex();
            if !examples.contains(&id) && examples.len() < EXAMPLES {
                examples.push(id);
            }
        }
    }
    Ok(Evaluation {
        value: Some(value),
        threshold: rule.threshold(),
        examples,
    })
}
