//! Computing a rule's value: from the derived series (latency, errors, serverless) or from
//! a TraceQL metrics query (traceql), and finding example traces when it fires.

use arbor_query::traceql::quote;
use std::time::Duration;

use arbor_derived::{Frame, Histogram, Timeline};
use arbor_query::search::metrics;
use arbor_query::traceql::{self, QueryKind};

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

/// Where to start reading buckets for a window beginning at `from` (see [`frames`]): one
/// bucket earlier, as wide as buckets of that age are kept (15 s for the last day), so a
/// round over recent data does not read an hour more than its window.
pub fn read_from(from: u64, now_ns: u64) -> u64 {
    let age = now_ns.saturating_sub(from).saturating_add(WIDEST);
    from.saturating_sub(arbor_derived::sidecar::rollup_width(age))
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
    // An operation by name (of a kind, if given); else the service's spans of a kind, or
    // its entry spans, or all its spans if it has none.
    let kind_ok = |k: &arbor_derived::SpanKey| {
        rule.span_kind.as_deref().is_none_or(|want| {
            k.span_kind
                .strip_prefix("SPAN_KIND_")
                .is_some_and(|have| have.eq_ignore_ascii_case(want))
        })
    };
    let mut all = (0, 0, Histogram::default());
    for f in buckets {
        for (k, s) in &f.spans {
            if k.service != service || !place_ok(rule, &k.dims) {
                continue;
            }
            if rule.operation.is_some() || rule.span_kind.is_some() {
                if rule.operation.as_ref().is_none_or(|op| &k.span_name == op) && kind_ok(k) {
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
    if rule.operation.is_none() && rule.span_kind.is_none() && calls == 0 {
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

/// How far back "new" error messages are looked for: a message seen in the 48 hours
/// before the window is not new.
pub const NEW_ERRORS_LOOKBACK: u64 = 48 * 3_600 * SECOND;

/// The error messages of failed invocations (of `rule.function`, or every function) in the
/// buckets, by function.
pub fn error_messages<'a>(
    rule: &Rule,
    buckets: impl Iterator<Item = &'a Frame>,
) -> std::collections::BTreeSet<(String, String)> {
    let mut out = std::collections::BTreeSet::new();
    for f in buckets {
        for (k, messages) in &f.errors {
            if rule.function.as_ref().is_some_and(|w| *w != k.function)
                || rule.service.as_ref().is_some_and(|w| *w != k.service)
                || !place_ok(rule, &k.dims)
            {
                continue;
            }
            for m in messages.keys() {
                if m != arbor_derived::OVERFLOW {
                    out.insert((k.function.clone(), m.clone()));
                }
            }
        }
    }
    out
}

/// The messages of the window (in `timeline`) not seen in `earlier`: the value of a
/// `new_errors` rule is how many.
pub fn new_errors(
    rule: &Rule,
    timeline: &Timeline,
    earlier: &Timeline,
    now_ns: u64,
) -> Vec<(String, String)> {
    let window = rule.window.0.as_nanos() as u64;
    let from = now_ns.saturating_sub(window);
    // The window takes every bucket that reaches into it (see `frames`), so "before" is
    // the buckets that end by its start: a bucket is on one side only.
    let before = error_messages(
        rule,
        earlier
            .range((from.saturating_sub(NEW_ERRORS_LOOKBACK + WIDEST), 0)..(from, 0))
            .filter(|((start, width), _)| {
                start + width > from.saturating_sub(NEW_ERRORS_LOOKBACK) && start + width <= from
            })
            .map(|(_, f)| f),
    );
    error_messages(rule, frames(timeline, from, now_ns))
        .into_iter()
        .filter(|m| !before.contains(m))
        .collect()
}

/// How far back each baseline day lies.
pub fn baseline_days() -> Vec<u64> {
    (1..=7).map(|d| d * DAY).collect()
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
            // Flags as booleans or as Serverless Console's strings.
            match rule.measure() {
                "timeouts" => {
                    conds.push(r#"(.faas.error_timeout = true || .faas.error_timeout = "true")"#.into())
                }
                "cold_start_rate" => {
                    conds.push(r#"(.faas.coldstart = true || .faas.coldstart = "true")"#.into())
                }
                "errors" | "new_errors" => conds.push(
                    r#"(status = error || .faas.error = true || .faas.error = "true" || .faas.error_timeout = true || .faas.error_timeout = "true")"#
                        .into(),
                ),
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
            if let Some(k) = &rule.span_kind {
                conds.push(format!("kind = {k}"));
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

/// The metrics query that finds example traces for a series rule: the slowest spans its
/// [`example_filter`] matches in `[from, to)`, one step over the whole range.
pub fn examples_request(
    filter: &str,
    from_ns: u64,
    to_ns: u64,
    timeout: Duration,
) -> Result<metrics::MetricsRequest, String> {
    let q = format!("{filter} | max_over_time(duration)");
    metrics_request(
        &q,
        from_ns,
        to_ns,
        to_ns.saturating_sub(from_ns).max(1),
        timeout,
    )
}

/// Trace IDs of up to [`EXAMPLES`] traces from a query's exemplars, those of the largest
/// values first (the slowest spans of an [`examples_request`]); `by_value` false keeps the
/// order they were found in.
pub fn example_ids(result: &metrics::MetricsResult, by_value: bool) -> Vec<String> {
    let mut all: Vec<&metrics::Exemplar> =
        result.series.iter().flat_map(|s| &s.exemplars).collect();
    if by_value {
        all.sort_by(|a, b| b.value.total_cmp(&a.value));
    }
    let mut examples: Vec<String> = Vec::new();
    for e in all {
        let id = e.trace_id.to_hex();
        if !examples.contains(&id) && examples.len() < EXAMPLES {
            examples.push(id);
        }
    }
    examples
}

/// What a traceql rule with a filter has counted so far: per 15 s step, so each round
/// only reads the steps since the last one (and the two before, for spans that came late).
#[derive(Debug, Clone, Default)]
pub struct TraceqlCounts {
    /// The tenant, query and window these counts are of.
    key: String,
    steps: std::collections::BTreeMap<u64, f64>,
    covered_to: u64,
    examples: Vec<String>,
}

/// Steps of the incremental TraceQL counts.
const TRACEQL_STEP: u64 = 15 * SECOND;

fn metrics_request(
    query: &str,
    from_ns: u64,
    to_ns: u64,
    step_ns: u64,
    timeout: Duration,
) -> Result<metrics::MetricsRequest, String> {
    let parsed = traceql::parse_and_validate(query).map_err(|e| e.to_string())?;
    let QueryKind::Metrics(expr) = parsed.kind else {
        return Err("not a metrics query".into());
    };
    Ok(metrics_request_of(expr, from_ns, to_ns, step_ns, timeout))
}

fn metrics_request_of(
    expr: traceql::MetricsExpr,
    from_ns: u64,
    to_ns: u64,
    step_ns: u64,
    timeout: Duration,
) -> metrics::MetricsRequest {
    metrics::MetricsRequest {
        sample: Default::default(),
        scope: None,
        expr,
        start_ns: from_ns,
        end_ns: to_ns,
        step_ns,
        max_series: 1_000,
        // Spans of one trace can fill the list: more than needed, to find distinct traces.
        exemplars: EXAMPLES * 4,
        timeout,
    }
}

/// The metrics query a traceql rule needs this round (see [`traceql_request`]).
pub struct TraceqlRequest {
    pub req: metrics::MetricsRequest,
    /// The rule's query is a metrics query (run whole), not a filter (counted per step).
    pub metrics_query: bool,
}

/// The metrics query a traceql rule needs this round: its metrics query over the window,
/// or, for a filter, a count per 15 s step of the steps not counted yet (and the two
/// before them, for spans that came late).
pub fn traceql_request(
    rule: &Rule,
    tenant: &str,
    now_ns: u64,
    timeout: Duration,
    counts: &mut TraceqlCounts,
) -> Result<TraceqlRequest, String> {
    let q = rule.query.as_deref().unwrap_or_default();
    let parsed = traceql::parse_and_validate(q).map_err(|e| e.to_string())?;
    let window = rule.window.0.as_nanos() as u64;
    if let QueryKind::Metrics(expr) = parsed.kind {
        return Ok(TraceqlRequest {
            req: metrics_request_of(expr, now_ns.saturating_sub(window), now_ns, window, timeout),
            metrics_query: true,
        });
    }
    let key = format!("{tenant}\u{0}{q}\u{0}{window}");
    if counts.key != key {
        *counts = TraceqlCounts {
            key,
            ..Default::default()
        };
    }
    let oldest = now_ns.saturating_sub(window) / TRACEQL_STEP * TRACEQL_STEP;
    let from = if counts.covered_to > oldest {
        counts
            .covered_to
            .saturating_sub(2 * TRACEQL_STEP)
            .max(oldest)
            / TRACEQL_STEP
            * TRACEQL_STEP
    } else {
        oldest
    };
    Ok(TraceqlRequest {
        req: metrics_request(
            &format!("{q} | count_over_time()"),
            from,
            now_ns,
            TRACEQL_STEP,
            timeout,
        )?,
        metrics_query: false,
    })
}

/// The value of a traceql rule from the answer to its [`traceql_request`]: the count (or
/// per-second rate) of the spans its filter matches in the window, or the largest value of
/// its metrics query; with exemplars.
pub fn traceql_answer(
    rule: &Rule,
    metrics_query: bool,
    result: &metrics::MetricsResult,
    now_ns: u64,
    counts: &mut TraceqlCounts,
) -> Evaluation {
    let window = rule.window.0.as_nanos() as u64;
    if metrics_query {
        let value = result
            .series
            .iter()
            .filter_map(|s| s.values.iter().rev().copied().find(|v| v.is_finite()))
            .reduce(f64::max)
            .unwrap_or(0.0);
        return Evaluation {
            value: Some(value),
            threshold: rule.threshold(),
            examples: example_ids(result, true),
        };
    }
    for (i, ts) in result.timestamps_ms.iter().enumerate() {
        // Folded from +0 (an empty `sum` of floats is -0).
        let n = result
            .series
            .iter()
            .filter_map(|s| s.values.get(i).copied().filter(|v| v.is_finite()))
            .fold(0.0, |a, b| a + b);
        counts.steps.insert(*ts as u64 * 1_000_000, n);
    }
    let oldest = now_ns.saturating_sub(window) / TRACEQL_STEP * TRACEQL_STEP;
    counts.steps.retain(|t, _| *t >= oldest);
    counts.covered_to = now_ns;
    let found = example_ids(result, false);
    if !found.is_empty() {
        counts.examples = found;
    }
    let total = counts.steps.values().fold(0.0, |a, b| a + b);
    let value = if rule.measure() == "rate" {
        total / (window as f64 / 1e9)
    } else {
        total
    };
    Evaluation {
        value: Some(value),
        threshold: rule.threshold(),
        examples: if total > 0.0 {
            counts.examples.clone()
        } else {
            Vec::new()
        },
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arbor_derived::{Dims, Frame, FunctionKey, Timeline};

    use super::*;

    fn rule(toml_text: &str) -> Rule {
        super::super::rules::parse_file(toml_text, &[])
            .unwrap()
            .remove(0)
    }

    fn errors_at(t: &mut Timeline, start: u64, function: &str, msgs: &[&str]) {
        let k = Arc::new(FunctionKey {
            function: function.into(),
            service: function.into(),
            dims: Dims::default(),
        });
        let f: &mut Frame = t.entry((start, 15 * SECOND)).or_default();
        for m in msgs {
            f.add_error(k.clone(), (*m).to_string());
        }
    }

    #[test]
    fn new_errors_are_the_messages_not_seen_in_the_48_hours_before() {
        let r = rule(
            r#"
[[rules]]
name = "new errors"
kind = "serverless"
function = "resize"
measure = "new_errors"
window = "5m"
above = 0
"#,
        );
        let now = 100 * DAY;
        let mut recent = Timeline::new();
        errors_at(&mut recent, now - 60 * SECOND, "resize", &["E1", "E2"]);
        errors_at(&mut recent, now - 60 * SECOND, "other", &["E9"]);
        let mut earlier = Timeline::new();
        // E1 was seen a day ago; E2 three days ago (outside the 48 h): E2 is new again.
        errors_at(&mut earlier, now - DAY, "resize", &["E1"]);
        errors_at(&mut earlier, now - 3 * DAY, "resize", &["E2"]);
        let new = new_errors(&r, &recent, &earlier, now);
        assert_eq!(new, vec![("resize".to_string(), "E2".to_string())]);

        // A bucket that began before the window and reaches into it belongs to the window
        // only, though both reads hold it.
        let straddling = (now - 300 * SECOND) / (15 * SECOND) * (15 * SECOND) - 5 * SECOND;
        errors_at(&mut recent, straddling, "resize", &["E3"]);
        errors_at(&mut earlier, straddling, "resize", &["E3"]);
        let new = new_errors(&r, &recent, &earlier, now);
        assert!(
            new.contains(&("resize".to_string(), "E3".to_string())),
            "{new:?}"
        );
    }
}
