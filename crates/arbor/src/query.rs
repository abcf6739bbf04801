//! `arbor query '<traceql>'`: TraceQL from the terminal, through the Tempo-compatible HTTP API.
//!
//! A search (`{ … }`) goes to `GET /api/search` and prints one line per trace: ID, start (RFC
//! 3339, UTC), root service, root span name, duration and matched spans; with `--spans`, each
//! trace's matched spans beneath it. A metrics query (`… | rate()`, `count_over_time()`, …) goes
//! to `GET /api/metrics/query_range` and prints one line per series: its labels, a sparkline
//! over the steps (a blank where a step has no sample; each line scaled from its own min to
//! its own max), and min / avg / max / last.
//!
//! ```text
//! TRACE ID                          START (UTC)           SERVICE   NAME           DURATION  MATCHED
//! 4bf92f3577b34da6a3ce929d0e0e4736  2023-11-14T22:13:20Z  frontend  GET /checkout     1.24s        4
//!   ├─ SELECT orders     340ms  +12.0ms    db.system=postgresql
//!   └─ … 3 more matched spans not returned (--spss)
//! 9a3ce929d0e0e4736                 2023-11-14T22:13:25Z  cart      GetCart            <1ms        1
//!   └─ redis GET    87.0µs  +100µs
//! 2 traces · inspected 2,000 traces, 12,345 spans, 965 KiB, 3 blocks · 87.0ms
//!
//! SERIES                       step 1m                                     MIN       AVG       MAX      LAST
//! {resource.service.name=api}  ▅▆▇███▇▅▄▃▂▁▁▂▃▄▅▇███▇▆▅▄▂▁▁▁▂▃              1      2.01         3      1.46
//! {resource.service.name=db}   ███▇▆▅▃▂▁▁▁   ▆▇███▇▆▄▃▂▁▁▁▂▄▅▆              2      4.07         6      4.84
//! 2 series · step 1m · inspected 123,456 spans, 94 MiB, 7 blocks · 2.06ms
//! ```
//!
//! Rendering is pure (parsed JSON in, text out) and tolerant of what Tempo-compatible servers
//! send: 64-bit integers as strings or numbers, missing fields (a trace without `durationMs`
//! took under a millisecond, a sample without `value` is 0), `spanSet` as well as `spanSets`.
//! Text from the server goes through [`clean`], so it cannot break a line or drive the terminal.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use arbor_model::time;
use serde_json::Value;

use crate::ColorChoice;
use crate::waterfall::{Line, Style, clean, fmt_duration, service_color, text_width, truncate};

#[derive(clap::Args)]
pub struct QueryArgs {
    /// The TraceQL query: a search such as '{ resource.service.name = "api" && status = error }'
    /// or a metrics query such as '{ } | rate() by (resource.service.name)'.
    query: String,
    /// Base URL of Arbor's HTTP API.
    #[arg(long, env = "ARBOR_URL", default_value = "http://127.0.0.1:3200")]
    url: String,
    /// Tenant (X-Scope-OrgID).
    #[arg(long, env = "ARBOR_TENANT")]
    tenant: Option<String>,
    /// Bearer token, for a server with a token file (a read token).
    #[arg(long, env = "ARBOR_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// How far back to look, from --end (or now): 30s, 15m, 1h, 7d, 1h30m. [default: 1h]
    #[arg(long, conflicts_with = "start")]
    since: Option<String>,
    /// Start of the range: RFC 3339 (2024-05-01T12:00:00Z) or unix seconds.
    #[arg(long)]
    start: Option<String>,
    /// End of the range: RFC 3339 or unix seconds. [default: now]
    #[arg(long)]
    end: Option<String>,
    /// Most traces to return (search).
    #[arg(long, default_value_t = 20)]
    limit: u32,
    /// Most matched spans per span set to return (search).
    #[arg(long, default_value_t = 3)]
    spss: u32,
    /// Print each trace's matched spans beneath it: name, duration, offset from the trace's
    /// start, attributes.
    #[arg(long)]
    spans: bool,
    /// Run as a metrics query even if it does not look like one (queries using rate(),
    /// *_over_time(), compare(), topk() or bottomk() are detected).
    #[arg(long)]
    metrics: bool,
    /// Step of a metrics query, e.g. 30s or 5m. [default: the range / 60, rounded up to 1s,
    /// 2s, 5s, 10s, 15s, 30s, 1m, 2m, 5m, 10m, 15m, 30m, 1h, 2h, 3h, 6h, 12h or whole days]
    #[arg(long)]
    step: Option<String>,
    /// Print the server's answer (JSON) as it came.
    #[arg(long)]
    json: bool,
    /// Output width in columns. [default: the terminal's, else $COLUMNS, else 120]
    #[arg(long)]
    width: Option<usize>,
    /// Colour the services and headers.
    #[arg(long, value_enum, default_value = "auto")]
    color: ColorChoice,
}

/// Why `arbor query` failed: the message for stderr (printed as is) and the exit code.
#[derive(Debug)]
pub struct Failure {
    /// 2 for a query or arguments the server or the CLI refused, 1 for everything else.
    pub code: u8,
    pub message: String,
}

impl Failure {
    fn usage(message: String) -> Self {
        Failure { code: 2, message }
    }

    fn other(message: String) -> Self {
        Failure { code: 1, message }
    }
}

/// How long to wait for an answer: a query over a long range may take a while.
const TIMEOUT: Duration = Duration::from_secs(300);
/// The range when neither `--since` nor `--start` is given.
const DEFAULT_SINCE_SECS: u64 = 3_600;

pub fn run(args: QueryArgs) -> Result<(), Failure> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let range = time_range(
        args.since.as_deref(),
        args.start.as_deref(),
        args.end.as_deref(),
        now,
    )
    .map_err(Failure::usage)?;
    let metrics = args.metrics || is_metrics_query(&args.query);

    let base = args.url.trim_end_matches('/');
    let (path, params, grid) = if metrics {
        let step = match &args.step {
            Some(s) => parse_duration(s).map_err(|e| Failure::usage(format!("--step: {e}")))?,
            None => default_step(range.end - range.start),
        };
        let grid = Grid::new(range, step);
        let params = vec![
            ("q", args.query.clone()),
            ("start", grid.start.to_string()),
            ("end", grid.end.to_string()),
            ("step", fmt_secs(step)),
        ];
        ("/api/metrics/query_range", params, Some(grid))
    } else {
        let params = vec![
            ("q", args.query.clone()),
            ("start", range.start.to_string()),
            ("end", range.end.to_string()),
            ("limit", args.limit.to_string()),
            ("spss", args.spss.to_string()),
        ];
        ("/api/search", params, None)
    };
    let url = reqwest::Url::parse_with_params(&format!("{base}{path}"), &params)
        .map_err(|e| Failure::other(format!("invalid --url {:?}: {e}", args.url)))?;

    let client = reqwest::blocking::Client::builder()
        .timeout(TIMEOUT)
        .build()
        .map_err(|e| Failure::other(format!("starting the HTTP client: {e}")))?;
    let mut req = client.get(url.clone()).header("Accept", "application/json");
    if let Some(t) = &args.tenant {
        req = req.header("X-Scope-OrgID", t);
    }
    if let Some(t) = &args.token {
        req = req.bearer_auth(t);
    }
    let started = Instant::now();
    let resp = req.send().map_err(|e| unreachable(base, &e))?;
    let status = resp.status();
    let body = resp
        .text()
        .map_err(|e| Failure::other(format!("reading the answer from {base}{path}: {e}")))?;
    let elapsed = started.elapsed();
    if status == reqwest::StatusCode::BAD_REQUEST {
        // The server's own words about the query (`parse error at 1:5: …`), unchanged.
        return Err(Failure::usage(body));
    }
    if !status.is_success() {
        let hint = if status == reqwest::StatusCode::NOT_FOUND {
            format!(" (does the server at {base} answer {path}?)")
        } else {
            String::new()
        };
        return Err(Failure::other(format!(
            "GET {base}{path}: {status}: {}{hint}",
            body.trim()
        )));
    }
    if args.json {
        print!("{body}");
        if !body.ends_with('\n') {
            println!();
        }
        return Ok(());
    }
    let answer: Value = serde_json::from_str(&body)
        .map_err(|e| Failure::other(format!("the answer from {base}{path} is not JSON: {e}")))?;
    if !answer.is_object() {
        return Err(Failure::other(format!(
            "the answer from {base}{path} is not a JSON object"
        )));
    }

    let view = View {
        width: output_width(args.width),
        color: match args.color {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => {
                std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none()
            }
        },
        spans: args.spans,
        limit: Some(args.limit),
    };
    let text = match &grid {
        Some(grid) => render_metrics(&answer, grid, &view, elapsed),
        None => render_search(&answer, &view, elapsed),
    };
    print!("{text}");
    Ok(())
}

/// A connection failure, naming the URL and the innermost cause ("Connection refused").
fn unreachable(base: &str, e: &reqwest::Error) -> Failure {
    if e.is_timeout() {
        return Failure::other(format!(
            "no answer from arbor at {base} within {}s",
            TIMEOUT.as_secs()
        ));
    }
    let mut cause: &dyn std::error::Error = e;
    while let Some(inner) = cause.source() {
        cause = inner;
    }
    Failure::other(format!("cannot reach arbor at {base}: {cause}"))
}

fn output_width(flag: Option<usize>) -> usize {
    flag.or_else(|| terminal_size::terminal_size().map(|(w, _)| usize::from(w.0)))
        .or_else(|| std::env::var("COLUMNS").ok().and_then(|c| c.parse().ok()))
        .unwrap_or(120)
        .clamp(40, 4096)
}

// ---------------------------------------------------------------------------------------------
// The query and its time range.

/// A range of unix seconds, `start < end`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Range {
    start: u64,
    end: u64,
}

fn time_range(
    since: Option<&str>,
    start: Option<&str>,
    end: Option<&str>,
    now: u64,
) -> Result<Range, String> {
    let end = match end {
        Some(e) => parse_time(e).map_err(|e| format!("--end: {e}"))?,
        None => now,
    };
    let start = match (start, since) {
        (Some(s), _) => parse_time(s).map_err(|e| format!("--start: {e}"))?,
        (None, Some(s)) => {
            end.saturating_sub(parse_duration(s).map_err(|e| format!("--since: {e}"))?)
        }
        (None, None) => end.saturating_sub(DEFAULT_SINCE_SECS),
    };
    if start >= end {
        return Err(format!(
            "the range is empty: start {} is not before end {}",
            fmt_rfc3339(start),
            fmt_rfc3339(end)
        ));
    }
    Ok(Range { start, end })
}

/// Whether the query computes metrics (`{ } | rate()`): a metrics function called outside a
/// string literal.
fn is_metrics_query(q: &str) -> bool {
    let chars: Vec<char> = q.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '"' || c == '`' {
            // Skip the string literal (backslash escapes in "…").
            i += 1;
            while i < chars.len() && chars[i] != c {
                if c == '"' && chars[i] == '\\' {
                    i += 1;
                }
                i += 1;
            }
            i += 1;
        } else if c.is_ascii_alphabetic() || c == '_' {
            let from = i;
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            let word: String = chars[from..i].iter().collect();
            let mut j = i;
            while j < chars.len() && chars[j].is_whitespace() {
                j += 1;
            }
            let called = chars.get(j) == Some(&'(');
            let preceded_by_dot = from > 0 && chars[from - 1] == '.';
            if called
                && !preceded_by_dot
                && (matches!(word.as_str(), "rate" | "compare" | "topk" | "bottomk")
                    || word.ends_with("_over_time"))
            {
                return true;
            }
        } else {
            i += 1;
        }
    }
    false
}

/// A duration in whole seconds: `90`, `30s`, `15m`, `1h`, `7d`, `1h30m`. Never zero.
fn parse_duration(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let bad = || format!("{s:?} is not a duration (30s, 15m, 1h, 7d, 1h30m)");
    if t.is_empty() {
        return Err(bad());
    }
    let mut total: u64 = 0;
    let mut rest = t;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if digits == 0 {
            return Err(bad());
        }
        let n: u64 = rest[..digits].parse().map_err(|_| bad())?;
        rest = &rest[digits..];
        let unit = match rest.chars().next() {
            None if total == 0 => 1,
            Some('s') => 1,
            Some('m') => 60,
            Some('h') => 3_600,
            Some('d') => 86_400,
            _ => return Err(bad()),
        };
        rest = rest.get(1..).unwrap_or("");
        total = n
            .checked_mul(unit)
            .and_then(|v| total.checked_add(v))
            .ok_or_else(bad)?;
    }
    if total == 0 {
        return Err(format!("{s:?} is zero"));
    }
    Ok(total)
}

/// Unix seconds from `1700000000` or RFC 3339 (`2023-11-14T22:13:20Z`,
/// `2023-11-14T23:13:20.5+01:00`); fractions of a second are dropped.
fn parse_time(s: &str) -> Result<u64, String> {
    let t = s.trim();
    if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) {
        return t.parse().map_err(|_| format!("{s:?} is out of range"));
    }
    let parsed = time::parse_rfc3339(t).ok_or_else(|| {
        format!("{s:?} is neither RFC 3339 (2024-05-01T12:00:00Z) nor unix seconds")
    })?;
    u64::try_from(parsed.secs).map_err(|_| format!("{s:?} is before 1970"))
}

/// Unix seconds as RFC 3339 in UTC: `2023-11-14T22:13:20Z`.
fn fmt_rfc3339(secs: u64) -> String {
    time::format_secs(secs as i64, 'T')
}

/// Seconds in the largest unit that divides them: `30s`, `5m`, `2h`, `1d`, `90s`.
fn fmt_secs(secs: u64) -> String {
    match secs {
        0 => "0s".to_string(),
        s if s % 86_400 == 0 => format!("{}d", s / 86_400),
        s if s % 3_600 == 0 => format!("{}h", s / 3_600),
        s if s % 60 == 0 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

/// The step for a metrics query over `range_secs`: about 60 points, at a round interval.
fn default_step(range_secs: u64) -> u64 {
    const NICE: [u64; 17] = [
        1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1_800, 3_600, 7_200, 10_800, 21_600, 43_200,
    ];
    let raw = range_secs.div_ceil(60).max(1);
    NICE.iter()
        .copied()
        .find(|&n| n >= raw)
        .unwrap_or_else(|| raw.div_ceil(86_400) * 86_400)
}

/// The steps of a metrics query: `start` and `end` (unix seconds) aligned to `step`, so every
/// sample falls on a whole step from `start`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Grid {
    start: u64,
    end: u64,
    step: u64,
}

impl Grid {
    fn new(range: Range, step: u64) -> Self {
        let step = step.max(1);
        Grid {
            start: range.start - range.start % step,
            end: range.end.div_ceil(step) * step,
            step,
        }
    }

    fn steps(&self) -> i64 {
        ((self.end - self.start) / self.step) as i64
    }

    /// The step a sample at `ms` (unix milliseconds) falls on, from the start (may be
    /// negative or past the end when the server aligns differently).
    fn index(&self, ms: i128) -> i64 {
        let step_ms = i128::from(self.step) * 1_000;
        let offset = ms - i128::from(self.start) * 1_000;
        (offset + step_ms / 2).div_euclid(step_ms) as i64
    }
}

// ---------------------------------------------------------------------------------------------
// Reading the JSON answers.

/// An unsigned integer sent as a number or as a string (`"1700000000000000000"`).
fn as_u64(v: Option<&Value>) -> Option<u64> {
    match v? {
        Value::Number(n) => n.as_u64().or_else(|| {
            n.as_f64()
                .filter(|f| f.is_finite() && *f >= 0.0)
                .map(|f| f as u64)
        }),
        Value::String(s) => {
            let s = s.trim();
            s.parse().ok().or_else(|| {
                s.parse::<f64>()
                    .ok()
                    .filter(|f| f.is_finite() && *f >= 0.0)
                    .map(|f| f as u64)
            })
        }
        _ => None,
    }
}

/// A float sent as a number or a string (protobuf JSON writes `"NaN"`, `"Infinity"`).
fn as_f64(v: Option<&Value>) -> Option<f64> {
    match v? {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn as_str(v: Option<&Value>) -> Option<&str> {
    v?.as_str()
}

fn array(v: Option<&Value>) -> &[Value] {
    v.and_then(Value::as_array).map_or(&[], Vec::as_slice)
}

/// An OTLP `AnyValue` in JSON (`{"stringValue": "x"}`, `{"intValue": "3"}`, …) as text.
fn any_value_text(v: &Value) -> String {
    let Some(obj) = v.as_object() else {
        return match v {
            Value::String(s) => clean(s).into_owned(),
            Value::Null => String::new(),
            other => other.to_string(),
        };
    };
    if let Some(s) = as_str(obj.get("stringValue")) {
        return clean(s).into_owned();
    }
    if let Some(i) = obj.get("intValue") {
        return match i {
            Value::String(s) => clean(s).into_owned(),
            other => other.to_string(),
        };
    }
    if let Some(d) = obj.get("doubleValue") {
        return match as_f64(Some(d)) {
            Some(f) => f.to_string(),
            None => clean(&d.to_string()).into_owned(),
        };
    }
    if let Some(b) = obj.get("boolValue") {
        return b.as_bool().map_or_else(|| b.to_string(), |b| b.to_string());
    }
    if let Some(a) = obj.get("arrayValue") {
        let items: Vec<String> = array(a.get("values")).iter().map(any_value_text).collect();
        return format!("[{}]", items.join(", "));
    }
    if let Some(kv) = obj.get("kvlistValue") {
        let items: Vec<String> = array(kv.get("values"))
            .iter()
            .map(|kv| {
                let key = clean(as_str(kv.get("key")).unwrap_or("")).into_owned();
                let value = kv.get("value").map(any_value_text).unwrap_or_default();
                format!("{key}={value}")
            })
            .collect();
        return format!("{{{}}}", items.join(", "));
    }
    if let Some(s) = as_str(obj.get("bytesValue")) {
        return clean(s).into_owned();
    }
    if obj.is_empty() {
        return String::new();
    }
    clean(&v.to_string()).into_owned()
}

/// `key=value` for each OTLP `KeyValue`; a value that is a string holding spaces, separators
/// or quotes (or nothing) is quoted.
fn key_values(attrs: &[Value]) -> Vec<String> {
    attrs
        .iter()
        .map(|kv| {
            let key = clean(as_str(kv.get("key")).unwrap_or("")).into_owned();
            let value = kv.get("value");
            let is_string = value.is_some_and(|v| v.get("stringValue").is_some() || v.is_string());
            let text = value.map(any_value_text).unwrap_or_default();
            let needs_quotes = is_string
                && (text.is_empty()
                    || text
                        .chars()
                        .any(|c| c.is_whitespace() || matches!(c, ',' | '{' | '}' | '=' | '"')));
            if needs_quotes {
                format!(
                    "{key}=\"{}\"",
                    text.replace('\\', "\\\\").replace('"', "\\\"")
                )
            } else {
                format!("{key}={text}")
            }
        })
        .collect()
}

/// A series' labels as `{resource.service.name=api, status=error}` (`{}` for none).
fn fmt_labels(labels: &[Value]) -> String {
    format!("{{{}}}", key_values(labels).join(", "))
}

// ---------------------------------------------------------------------------------------------
// Rendering.

/// How to print an answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct View {
    /// Total columns; no line is longer.
    pub width: usize,
    /// ANSI colours; when false the output holds no escape codes.
    pub color: bool,
    /// Print each trace's matched spans beneath it.
    pub spans: bool,
    /// The `limit` asked for, to say when the answer may have been cut by it.
    pub limit: Option<u32>,
}

const GAP: usize = 2;
/// `2023-11-14T22:13:20Z`
const TIME_W: usize = 20;
const DUR_W: usize = 8;
const MATCHED_W: usize = 7;

/// A matched span set of a trace.
struct SpanSet<'a> {
    matched: Option<u64>,
    attributes: &'a [Value],
    spans: &'a [Value],
}

/// One trace of a search answer.
struct TraceRow<'a> {
    id: String,
    start_ns: Option<u64>,
    service: Option<String>,
    name: Option<String>,
    duration_ms: Option<u64>,
    span_sets: Vec<SpanSet<'a>>,
}

impl<'a> TraceRow<'a> {
    fn parse(t: &'a Value) -> Self {
        let mut sets: Vec<&Value> = array(t.get("spanSets")).iter().collect();
        // `spanSet` is the older, single form; when both are sent they repeat each other.
        if sets.is_empty()
            && let Some(one) = t.get("spanSet").filter(|v| v.is_object())
        {
            sets.push(one);
        }
        TraceRow {
            id: clean(as_str(t.get("traceID")).unwrap_or("-")).into_owned(),
            start_ns: as_u64(t.get("startTimeUnixNano")),
            service: as_str(t.get("rootServiceName")).map(|s| clean(s).into_owned()),
            name: as_str(t.get("rootTraceName")).map(|s| clean(s).into_owned()),
            duration_ms: as_u64(t.get("durationMs")),
            span_sets: sets
                .into_iter()
                .map(|s| SpanSet {
                    matched: as_u64(s.get("matched")),
                    attributes: array(s.get("attributes")),
                    spans: array(s.get("spans")),
                })
                .collect(),
        }
    }

    /// Matched spans over all span sets (spans returned where a count is missing); `None`
    /// when the answer has no span set at all.
    fn matched(&self) -> Option<u64> {
        if self.span_sets.is_empty() {
            return None;
        }
        Some(
            self.span_sets
                .iter()
                .map(|s| s.matched.unwrap_or(s.spans.len() as u64))
                .sum(),
        )
    }

    fn start_text(&self) -> String {
        self.start_ns
            .map_or_else(|| "-".to_string(), |ns| fmt_rfc3339(ns / 1_000_000_000))
    }

    fn duration_text(&self) -> String {
        match self.duration_ms {
            // Tempo leaves out a zero `durationMs`: the trace took less than a millisecond.
            None | Some(0) => "<1ms".to_string(),
            Some(ms) => fmt_duration(ms.saturating_mul(1_000_000)),
        }
    }
}

/// A search answer (`{"traces": […], "metrics": {…}}`) as a table, then a summary line.
pub fn render_search(answer: &Value, view: &View, elapsed: Duration) -> String {
    let width = view.width;
    let rows: Vec<TraceRow> = array(answer.get("traces"))
        .iter()
        .map(TraceRow::parse)
        .collect();
    let mut out = String::new();

    if !rows.is_empty() {
        let id_w = rows
            .iter()
            .map(|r| text_width(&r.id))
            .max()
            .unwrap_or(0)
            .max(8);
        let mut svc_w = rows
            .iter()
            .map(|r| text_width(r.service.as_deref().unwrap_or("-")))
            .max()
            .unwrap_or(0)
            .clamp(7, 30);
        let mut name_w = rows
            .iter()
            .map(|r| text_width(r.name.as_deref().unwrap_or("-")))
            .max()
            .unwrap_or(0)
            .clamp(4, 60);
        let fixed = id_w + GAP + TIME_W + GAP + GAP + GAP + DUR_W + GAP + MATCHED_W;
        // Narrow terminals: the name gives way first, then the service.
        let room = width.saturating_sub(fixed);
        if svc_w + name_w > room {
            name_w = room.saturating_sub(svc_w).max(8).min(name_w);
            if svc_w + name_w > room {
                svc_w = room.saturating_sub(name_w).max(7).min(svc_w);
            }
        }
        let col_time = id_w + GAP;
        let col_svc = col_time + TIME_W + GAP;
        let col_name = col_svc + svc_w + GAP;
        let col_dur_end = col_name + name_w + GAP + DUR_W;
        let col_matched_end = col_dur_end + GAP + MATCHED_W;

        let mut line = Line::new(&mut out, width, view.color);
        for (text, col, right) in [
            ("TRACE ID", 0, false),
            ("START (UTC)", col_time, false),
            ("SERVICE", col_svc, false),
            ("NAME", col_name, false),
            ("DURATION", col_dur_end, true),
            ("MATCHED", col_matched_end, true),
        ] {
            line.pad_to(if right { col - text_width(text) } else { col });
            line.text(text, Style::Bold);
        }
        line.finish();

        for row in &rows {
            let mut line = Line::new(&mut out, width, view.color);
            line.text(&row.id, Style::Plain);
            line.pad_to(col_time);
            line.text(&row.start_text(), Style::Dim);
            line.pad_to(col_svc);
            let service = row.service.as_deref().unwrap_or("-");
            let style = if view.color && row.service.is_some() {
                Style::Service(service_color(service))
            } else {
                Style::Plain
            };
            line.text(&truncate(service, svc_w), style);
            line.pad_to(col_name);
            line.text(
                &truncate(row.name.as_deref().unwrap_or("-"), name_w),
                Style::Plain,
            );
            let dur = row.duration_text();
            line.pad_to(col_dur_end - text_width(&dur));
            line.text(&dur, Style::Plain);
            let matched = row
                .matched()
                .map_or_else(|| "-".to_string(), |m| m.to_string());
            line.pad_to(col_matched_end.saturating_sub(text_width(&matched)));
            line.text(&matched, Style::Bold);
            line.finish();
            if view.spans {
                render_span_sets(row, width, view.color, &mut out);
            }
        }
    } else {
        let mut line = Line::new(&mut out, width, view.color);
        line.text("no traces matched", Style::Bold);
        line.finish();
    }

    let n = rows.len();
    let mut summary = format!("{n} {}", plural(n as u64, "trace", "traces"));
    if view
        .limit
        .is_some_and(|l| l > 0 && n as u64 >= u64::from(l))
    {
        summary.push_str(" (the limit; --limit for more)");
    }
    summary.push_str(&inspected(answer.get("metrics")));
    summary.push_str(&format!(" · {}", fmt_elapsed(elapsed)));
    let mut line = Line::new(&mut out, width, view.color);
    line.text(&summary, Style::Dim);
    line.finish();
    out
}

/// The matched spans of a trace, indented beneath it.
fn render_span_sets(row: &TraceRow, width: usize, color: bool, out: &mut String) {
    let spans: Vec<&Value> = row.span_sets.iter().flat_map(|s| s.spans.iter()).collect();
    let name_w = spans
        .iter()
        .map(|s| text_width(&clean(as_str(s.get("name")).unwrap_or("-"))))
        .max()
        .unwrap_or(0)
        .clamp(4, 40);
    let many_sets = row.span_sets.len() > 1;
    for set in &row.span_sets {
        let shown = set.spans.len() as u64;
        if many_sets || !set.attributes.is_empty() {
            let mut line = Line::new(out, width, color);
            line.pad_to(2);
            let mut text = key_values(set.attributes).join("  ");
            if let Some(m) = set.matched {
                if !text.is_empty() {
                    text.push_str(" · ");
                }
                text.push_str(&format!("{m} matched"));
            }
            line.text(
                if text.is_empty() { "span set" } else { &text },
                Style::Bold,
            );
            line.finish();
        }
        for (i, span) in set.spans.iter().enumerate() {
            let last = i + 1 == set.spans.len() && set.matched.is_none_or(|m| m <= shown);
            let mut line = Line::new(out, width, color);
            line.pad_to(2);
            line.text(if last { "└─" } else { "├─" }, Style::Dim);
            line.space();
            let name = clean(as_str(span.get("name")).unwrap_or("-")).into_owned();
            line.text(&truncate(&name, name_w), Style::Plain);
            let dur = as_u64(span.get("durationNanos")).map_or_else(|| "-".into(), fmt_duration);
            let dur_end = 5 + name_w + GAP + DUR_W;
            line.pad_to(dur_end - text_width(&dur));
            line.text(&dur, Style::Plain);
            line.pad_to(dur_end + GAP);
            let offset = match (as_u64(span.get("startTimeUnixNano")), row.start_ns) {
                (Some(s), Some(t0)) if s >= t0 => format!("+{}", fmt_offset(s - t0)),
                (Some(s), Some(t0)) => format!("-{}", fmt_offset(t0 - s)),
                _ => String::new(),
            };
            line.text(&offset, Style::Dim);
            line.pad_to(dur_end + GAP + 9 + GAP);
            line.text(
                &key_values(array(span.get("attributes"))).join("  "),
                Style::Dim,
            );
            line.finish();
        }
        if let Some(m) = set.matched.filter(|&m| m > shown) {
            let mut line = Line::new(out, width, color);
            line.pad_to(2);
            line.text("└─", Style::Dim);
            line.space();
            let more = m - shown;
            line.text(
                &format!(
                    "… {more} more matched {} not returned (--spss)",
                    plural(more, "span", "spans")
                ),
                Style::Dim,
            );
            line.finish();
        }
    }
}

fn fmt_offset(ns: u64) -> String {
    if ns == 0 {
        "0".to_string()
    } else {
        fmt_duration(ns)
    }
}

/// ` · inspected 1,204 spans, 310 KiB, 4 blocks` from a `metrics` object: what is there.
fn inspected(metrics: Option<&Value>) -> String {
    let Some(m) = metrics else {
        return String::new();
    };
    let mut parts = Vec::new();
    if let Some(n) = as_u64(m.get("inspectedTraces")) {
        parts.push(format!(
            "{} {}",
            crate::text::thousands(n),
            plural(n, "trace", "traces")
        ));
    }
    if let Some(n) = as_u64(m.get("inspectedSpans")) {
        parts.push(format!(
            "{} {}",
            crate::text::thousands(n),
            plural(n, "span", "spans")
        ));
    }
    if let Some(n) = as_u64(m.get("inspectedBytes")) {
        parts.push(fmt_bytes(n));
    }
    if let Some(n) = as_u64(m.get("totalBlocks")) {
        parts.push(format!(
            "{} {}",
            crate::text::thousands(n),
            plural(n, "block", "blocks")
        ));
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!(" · inspected {}", parts.join(", "))
    }
}

/// A metrics answer (`{"series": […], "metrics": {…}}`) as one line per series, then a summary.
pub fn render_metrics(answer: &Value, grid: &Grid, view: &View, elapsed: Duration) -> String {
    let width = view.width;
    let series = array(answer.get("series"));
    let mut out = String::new();

    // Every series on the same steps; widened when the server sends samples outside them.
    let mut parsed: Vec<(String, BTreeMap<i64, f64>)> = Vec::with_capacity(series.len());
    let (mut lo, mut hi) = (0i64, grid.steps().max(1) - 1);
    for s in series {
        let labels = array(s.get("labels"));
        let label = if labels.is_empty() {
            as_str(s.get("promLabels")).map_or_else(|| "{}".to_string(), |p| clean(p).into_owned())
        } else {
            fmt_labels(labels)
        };
        let mut points = BTreeMap::new();
        for sample in array(s.get("samples")) {
            let Some(ms) = as_f64(sample.get("timestampMs")) else {
                continue;
            };
            let value = match sample.get("value") {
                None | Some(Value::Null) => 0.0,
                v => match as_f64(v) {
                    Some(f) => f,
                    None => continue,
                },
            };
            let i = grid.index(ms as i128);
            lo = lo.min(i);
            hi = hi.max(i);
            if value.is_finite() {
                points.insert(i, value);
            }
        }
        parsed.push((label, points));
    }
    // Bound the slots a broken answer (timestamps a century apart) can make us allocate.
    hi = hi.min(lo + 100_000);
    let slots = (hi - lo + 1) as usize;

    if parsed.is_empty() {
        let mut line = Line::new(&mut out, width, view.color);
        line.text("no series", Style::Bold);
        line.finish();
    } else {
        const NUM_W: usize = 8;
        let stats_w = 4 * (GAP + NUM_W);
        let label_w = parsed
            .iter()
            .map(|(l, _)| text_width(l))
            .max()
            .unwrap_or(0)
            .clamp(6, (width / 3).max(12));
        let spark_w = width
            .saturating_sub(label_w + GAP + stats_w)
            .max(8)
            .min(slots);
        let col_spark = label_w + GAP;
        let col_stats = col_spark + spark_w;

        let mut line = Line::new(&mut out, width, view.color);
        line.text("SERIES", Style::Bold);
        line.pad_to(col_spark);
        let per = slots.div_ceil(spark_w);
        let step_text = if per > 1 {
            format!("{}/col", fmt_secs(grid.step * per as u64))
        } else {
            format!("step {}", fmt_secs(grid.step))
        };
        line.text(&truncate(&step_text, spark_w), Style::Bold);
        for (i, h) in ["MIN", "AVG", "MAX", "LAST"].into_iter().enumerate() {
            line.pad_to(col_stats + (i + 1) * (GAP + NUM_W) - h.len());
            line.text(h, Style::Bold);
        }
        line.finish();

        for (label, points) in &parsed {
            let mut values = vec![None; slots];
            for (&i, &v) in points.range(lo..=hi) {
                values[(i - lo) as usize] = Some(v);
            }
            let mut line = Line::new(&mut out, width, view.color);
            line.text(&truncate(label, label_w), Style::Plain);
            line.pad_to(col_spark);
            line.text(&sparkline(&values, spark_w), Style::Service(39));
            let present: Vec<f64> = values.iter().flatten().copied().collect();
            let stats = if present.is_empty() {
                [
                    "-".to_string(),
                    "-".to_string(),
                    "-".to_string(),
                    "-".to_string(),
                ]
            } else {
                let min = present.iter().copied().fold(f64::INFINITY, f64::min);
                let max = present.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                let avg = present.iter().sum::<f64>() / present.len() as f64;
                let last = present[present.len() - 1];
                [min, avg, max, last].map(fmt_number)
            };
            for (i, s) in stats.iter().enumerate() {
                line.pad_to(col_stats + (i + 1) * (GAP + NUM_W) - text_width(s));
                line.text(s, Style::Plain);
            }
            line.finish();
        }
    }

    let n = parsed.len() as u64;
    let summary = format!(
        "{n} series · step {}{} · {}",
        fmt_secs(grid.step),
        inspected(answer.get("metrics")),
        fmt_elapsed(elapsed)
    );
    let mut line = Line::new(&mut out, width, view.color);
    line.text(&summary, Style::Dim);
    line.finish();
    out
}

const SPARKS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];

/// `values` (one per step, `None` where the step has no sample) drawn in at most `cols`
/// columns, lowest `▁` to highest `█`; a blank where no sample falls. When there are more steps
/// than columns, a column shows the mean of its steps.
fn sparkline(values: &[Option<f64>], cols: usize) -> String {
    if values.is_empty() || cols == 0 {
        return String::new();
    }
    let per = values.len().div_ceil(cols);
    let columns: Vec<Option<f64>> = values
        .chunks(per)
        .map(|chunk| {
            let present: Vec<f64> = chunk.iter().flatten().copied().collect();
            (!present.is_empty()).then(|| present.iter().sum::<f64>() / present.len() as f64)
        })
        .collect();
    let min = columns
        .iter()
        .flatten()
        .copied()
        .fold(f64::INFINITY, f64::min);
    let max = columns
        .iter()
        .flatten()
        .copied()
        .fold(f64::NEG_INFINITY, f64::max);
    columns
        .iter()
        .map(|c| match c {
            None => ' ',
            // A flat line: at the bottom when it is zero, in the middle otherwise.
            Some(v) if max <= min => {
                if *v == 0.0 {
                    SPARKS[0]
                } else {
                    SPARKS[3]
                }
            }
            Some(v) => {
                let level = ((v - min) / (max - min) * 7.0).round() as usize;
                SPARKS[level.min(7)]
            }
        })
        .collect::<String>()
        .trim_end()
        .to_string()
}

/// A number in at most 8 columns, three significant digits: `0`, `0.0167`, `1.5`, `12.3`,
/// `980`, `12.3k`, `4.56M`, `1.2e-5`.
fn fmt_number(v: f64) -> String {
    if v == 0.0 {
        return "0".to_string();
    }
    let a = v.abs();
    let sign = if v < 0.0 { "-" } else { "" };
    if a < 0.001 {
        return format!("{v:.1e}");
    }
    let (scaled, suffix) = if a < 1_000.0 {
        (a, "")
    } else if a < 999_500.0 {
        (a / 1e3, "k")
    } else if a < 999_500_000.0 {
        (a / 1e6, "M")
    } else if a < 999_500_000_000.0 {
        (a / 1e9, "G")
    } else {
        return format!("{v:.1e}");
    };
    let decimals = if scaled >= 99.95 {
        0
    } else if scaled >= 9.995 {
        1
    } else if scaled >= 1.0 {
        2
    } else {
        // Three significant digits below one: 0.123, 0.0123, 0.00123.
        (2 - scaled.log10().floor() as i32).clamp(0, 6) as usize
    };
    let mut text = format!("{scaled:.decimals$}");
    if text.contains('.') {
        text = text.trim_end_matches('0').trim_end_matches('.').to_string();
    }
    format!("{sign}{text}{suffix}")
}

fn fmt_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if n < 1_024 {
        return format!("{n} B");
    }
    let mut v = n as f64 / 1_024.0;
    let mut unit = UNITS[0];
    for u in &UNITS[1..] {
        if v < 1_024.0 {
            break;
        }
        v /= 1_024.0;
        unit = u;
    }
    if v < 10.0 {
        format!("{v:.1} {unit}")
    } else {
        format!("{v:.0} {unit}")
    }
}

fn fmt_elapsed(d: Duration) -> String {
    fmt_duration(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

fn plural<'s>(n: u64, one: &'s str, many: &'s str) -> &'s str {
    if n == 1 { one } else { many }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn view(width: usize) -> View {
        View {
            width,
            color: false,
            spans: false,
            limit: Some(20),
        }
    }

    const MS87: Duration = Duration::from_millis(87);

    fn search_answer() -> Value {
        json!({
            "traces": [
                {
                    "traceID": "4bf92f3577b34da6a3ce929d0e0e4736",
                    "rootServiceName": "frontend",
                    "rootTraceName": "GET /checkout",
                    "startTimeUnixNano": "1700000000000000000",
                    "durationMs": 1240,
                    "spanSets": [{
                        "spans": [
                            {
                                "spanID": "00f067aa0ba902b7",
                                "name": "SELECT orders",
                                "startTimeUnixNano": "1700000000012000000",
                                "durationNanos": "340000000",
                                "attributes": [
                                    {"key": "db.system", "value": {"stringValue": "postgresql"}},
                                    {"key": "rows", "value": {"intValue": "12"}}
                                ]
                            },
                            {
                                "spanID": "00f067aa0ba902b8",
                                "name": "charge",
                                "startTimeUnixNano": 1700000000400000000u64,
                                "durationNanos": 87000,
                                "attributes": [
                                    {"key": "note", "value": {"stringValue": "two words"}}
                                ]
                            }
                        ],
                        "matched": 5
                    }]
                },
                {
                    // Tempo's shortened ID, no durationMs (under 1ms), numbers as numbers, the
                    // single `spanSet` form.
                    "traceID": "abc",
                    "rootServiceName": "cart",
                    "rootTraceName": "GetCart",
                    "startTimeUnixNano": 1700000060000000000u64,
                    "spanSet": {"spans": [], "matched": 1}
                }
            ],
            "metrics": {
                "inspectedTraces": 7,
                "inspectedBytes": "317440",
                "inspectedSpans": "1204",
                "totalBlocks": 4
            }
        })
    }

    #[test]
    fn search_table() {
        let out = render_search(&search_answer(), &view(120), MS87);
        let expected = "\
TRACE ID                          START (UTC)           SERVICE   NAME           DURATION  MATCHED
4bf92f3577b34da6a3ce929d0e0e4736  2023-11-14T22:13:20Z  frontend  GET /checkout     1.24s        5
abc                               2023-11-14T22:14:20Z  cart      GetCart            <1ms        1
2 traces · inspected 7 traces, 1,204 spans, 310 KiB, 4 blocks · 87.0ms
";
        assert_eq!(out, expected);
    }

    #[test]
    fn search_table_with_spans() {
        let mut v = view(120);
        v.spans = true;
        let out = render_search(&search_answer(), &v, MS87);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(
            lines[2],
            "  ├─ SELECT orders     340ms  +12.0ms    db.system=postgresql  rows=12"
        );
        assert_eq!(
            lines[3],
            "  ├─ charge           87.0µs  +400ms     note=\"two words\""
        );
        assert_eq!(
            lines[4],
            "  └─ … 3 more matched spans not returned (--spss)"
        );
        assert!(lines[5].starts_with("abc "), "{out}");
        assert_eq!(lines[6], "  └─ … 1 more matched span not returned (--spss)");
        assert_eq!(lines.len(), 8, "{out}");
    }

    #[test]
    fn search_span_sets_with_by_attributes() {
        let answer = json!({"traces": [{
            "traceID": "1",
            "spanSets": [
                {"spans": [{"name": "a", "durationNanos": "1000"}], "matched": 1,
                 "attributes": [{"key": "by(resource.service.name)", "value": {"stringValue": "api"}}]},
                {"spans": [{"name": "b"}], "matched": 1,
                 "attributes": [{"key": "by(resource.service.name)", "value": {"stringValue": "db"}}]}
            ]
        }]});
        let mut v = view(100);
        v.spans = true;
        let out = render_search(&answer, &v, MS87);
        let lines: Vec<&str> = out.lines().collect();
        assert!(lines[1].starts_with("1 "), "{out}");
        assert!(lines[1].ends_with("  2"), "matched over both sets: {out}");
        assert!(lines[1].contains(" -  "), "missing fields as -: {out}");
        assert_eq!(lines[2], "  by(resource.service.name)=api · 1 matched");
        assert_eq!(lines[3], "  └─ a       1.00µs");
        assert_eq!(lines[4], "  by(resource.service.name)=db · 1 matched");
        assert_eq!(lines[5], "  └─ b            -");
    }

    #[test]
    fn search_narrow_and_empty() {
        let mut answer = search_answer();
        answer["traces"][0]["rootTraceName"] =
            json!("a very long root span name that will not fit into a narrow terminal at all");
        for width in [40, 60, 80, 100] {
            let out = render_search(&answer, &view(width), MS87);
            for line in out.lines() {
                assert!(text_width(line) <= width, "{width}: {line:?}");
            }
            assert!(out.contains('…'), "{out}");
        }
        let out = render_search(&json!({}), &view(80), MS87);
        assert_eq!(out, "no traces matched\n0 traces · 87.0ms\n");
        let out = render_search(&json!({"traces": [], "metrics": {}}), &view(80), MS87);
        assert_eq!(out, "no traces matched\n0 traces · 87.0ms\n");
    }

    #[test]
    fn search_at_the_limit_says_so() {
        let mut v = view(120);
        v.limit = Some(2);
        let out = render_search(&search_answer(), &v, MS87);
        assert!(
            out.contains("2 traces (the limit; --limit for more)"),
            "{out}"
        );
    }

    #[test]
    fn search_colour_and_hostile_names() {
        let answer = json!({"traces": [{
            "traceID": "1", "rootServiceName": "svc", "rootTraceName": "evil\u{1b}[2Jname\nline",
            "durationMs": "3"
        }]});
        let plain = render_search(&answer, &view(100), MS87);
        assert!(!plain.contains('\u{1b}'), "{plain:?}");
        assert_eq!(plain.lines().count(), 3, "{plain:?}");
        assert!(plain.contains("3.00ms"), "{plain}");
        let mut v = view(100);
        v.color = true;
        let coloured = render_search(&answer, &v, MS87);
        assert!(coloured.contains("\u{1b}[38;5;"), "{coloured:?}");
    }

    #[test]
    fn numbers_or_strings() {
        assert_eq!(
            as_u64(Some(&json!("1700000000000000000"))),
            Some(1_700_000_000_000_000_000)
        );
        assert_eq!(
            as_u64(Some(&json!(1_700_000_000_000_000_000u64))),
            Some(1_700_000_000_000_000_000)
        );
        assert_eq!(as_u64(Some(&json!(12.0))), Some(12));
        assert_eq!(as_u64(Some(&json!(" 12 "))), Some(12));
        assert_eq!(as_u64(Some(&json!("x"))), None);
        assert_eq!(as_u64(Some(&json!(-1))), None);
        assert_eq!(as_u64(Some(&json!(null))), None);
        assert_eq!(as_u64(None), None);
        assert_eq!(as_f64(Some(&json!("1.5"))), Some(1.5));
        assert_eq!(as_f64(Some(&json!(2))), Some(2.0));
        assert!(as_f64(Some(&json!("NaN"))).unwrap().is_nan());
        assert_eq!(as_f64(Some(&json!("Infinity"))), Some(f64::INFINITY));
    }

    #[test]
    fn durations() {
        let row = |d: Value| {
            let t = json!({ "durationMs": d });
            TraceRow::parse(&t).duration_text()
        };
        assert_eq!(row(json!(1200)), "1.20s");
        assert_eq!(row(json!("340")), "340ms");
        assert_eq!(row(json!(0)), "<1ms");
        assert_eq!(row(Value::Null), "<1ms");
        assert_eq!(row(json!(125_000)), "2m05s");
        assert_eq!(fmt_duration(87_000), "87.0µs");
        assert_eq!(fmt_elapsed(Duration::from_micros(1_500)), "1.50ms");
    }

    #[test]
    fn labels() {
        let labels = json!([
            {"key": "resource.service.name", "value": {"stringValue": "api"}},
            {"key": "span.http.status_code", "value": {"intValue": 500}},
            {"key": "ok", "value": {"boolValue": false}},
            {"key": "ratio", "value": {"doubleValue": 0.5}},
            {"key": "name", "value": {"stringValue": "GET /a, b"}},
            {"key": "quote", "value": {"stringValue": "say \"hi\""}},
            {"key": "empty", "value": {"stringValue": ""}},
            {"key": "list", "value": {"arrayValue": {"values": [{"stringValue": "x"}, {"intValue": "2"}]}}},
            {"key": "nothing", "value": {}}
        ]);
        assert_eq!(
            fmt_labels(labels.as_array().unwrap()),
            "{resource.service.name=api, span.http.status_code=500, ok=false, ratio=0.5, \
             name=\"GET /a, b\", quote=\"say \\\"hi\\\"\", empty=\"\", list=[x, 2], nothing=}"
        );
        assert_eq!(fmt_labels(&[]), "{}");
    }

    fn grid() -> Grid {
        // 10 steps of a minute from 1700000000 (not a whole minute: aligned down to 1699999980).
        Grid::new(
            Range {
                start: 1_700_000_000,
                end: 1_700_000_600,
            },
            60,
        )
    }

    #[test]
    fn grid_alignment() {
        let g = grid();
        assert_eq!((g.start, g.end, g.step), (1_699_999_980, 1_700_000_640, 60));
        assert_eq!(g.steps(), 11);
        assert_eq!(g.index(1_699_999_980_000), 0);
        assert_eq!(g.index(1_700_000_040_000), 1);
        assert_eq!(g.index(1_700_000_069_000), 1, "nearest step");
        assert_eq!(g.index(1_699_999_920_000), -1);
    }

    #[test]
    fn sparkline_levels_and_gaps() {
        let v = |xs: &[Option<f64>]| xs.to_vec();
        assert_eq!(
            sparkline(
                &v(&[
                    Some(0.0),
                    Some(1.0),
                    Some(2.0),
                    Some(3.0),
                    Some(4.0),
                    Some(5.0),
                    Some(6.0),
                    Some(7.0)
                ]),
                8
            ),
            "▁▂▃▄▅▆▇█"
        );
        assert_eq!(
            sparkline(&v(&[Some(1.0), None, Some(3.0), None, Some(2.0)]), 10),
            "▁ █ ▅"
        );
        assert_eq!(
            sparkline(&v(&[Some(5.0), Some(5.0)]), 10),
            "▄▄",
            "flat, not zero"
        );
        assert_eq!(
            sparkline(&v(&[Some(0.0), None, Some(0.0)]), 10),
            "▁ ▁",
            "flat zero"
        );
        assert_eq!(sparkline(&v(&[None, None]), 10), "");
        assert_eq!(
            sparkline(&v(&[Some(1.0), Some(1.0), None]), 10),
            "▄▄",
            "no trailing blank"
        );
        // Eight steps in four columns: the mean of each pair; a pair with one sample uses it.
        assert_eq!(
            sparkline(
                &v(&[
                    Some(0.0),
                    Some(2.0),
                    None,
                    None,
                    Some(4.0),
                    None,
                    Some(8.0),
                    Some(8.0)
                ]),
                4
            ),
            "▁ ▄█"
        );
        assert_eq!(sparkline(&[], 4), "");
    }

    fn metrics_answer() -> Value {
        let t0: u64 = 1_699_999_980_000;
        json!({
            "series": [
                {
                    "labels": [{"key": "resource.service.name", "value": {"stringValue": "api"}}],
                    "promLabels": "{resource.service.name=\"api\"}",
                    "samples": [
                        {"timestampMs": t0.to_string(), "value": 1.0},
                        {"timestampMs": t0 + 60_000, "value": 2.0},
                        // Steps 2 and 3 have no sample: a gap.
                        {"timestampMs": (t0 + 240_000).to_string(), "value": "4"},
                        {"timestampMs": t0 + 300_000},
                        {"timestampMs": t0 + 360_000, "value": 3.0}
                    ],
                    "exemplars": [{"labels": [{"key": "trace:id", "value": {"stringValue": "ab"}}],
                                   "value": 1.5, "timestampMs": t0.to_string()}]
                },
                {
                    "promLabels": "{__name__=\"rate\"}",
                    "samples": [{"timestampMs": t0, "value": 12345.0}]
                }
            ],
            "metrics": {"inspectedSpans": 2000, "totalBlocks": "1"}
        })
    }

    #[test]
    fn metrics_table() {
        let out = render_metrics(&metrics_answer(), &grid(), &view(100), MS87);
        let expected = "\
SERIES                       step 1m           MIN       AVG       MAX      LAST
{resource.service.name=api}  ▃▅  █▁▆             0         2         4         3
{__name__=\"rate\"}            ▄               12.3k     12.3k     12.3k     12.3k
2 series · step 1m · inspected 2,000 spans, 1 block · 87.0ms
";
        assert_eq!(out, expected);
    }

    #[test]
    fn metrics_many_steps_share_columns_and_fit() {
        let t0 = 1_699_999_980_000u64;
        let samples: Vec<Value> = (0..11)
            .map(|i| json!({"timestampMs": t0 + i * 60_000, "value": i as f64}))
            .collect();
        let answer = json!({"series": [{"labels": [], "samples": samples}]});
        let out = render_metrics(&answer, &grid(), &view(40), MS87);
        for line in out.lines() {
            assert!(text_width(line) <= 40, "{line:?}");
        }
        assert!(out.contains("2m/col"), "{out}");
        assert!(
            out.lines().nth(1).unwrap().starts_with("{}      ▁"),
            "{out}"
        );
    }

    #[test]
    fn metrics_empty_and_odd_samples() {
        let out = render_metrics(&json!({"series": []}), &grid(), &view(80), MS87);
        assert!(out.starts_with("no series\n0 series · "), "{out}");
        let answer = json!({"series": [{"labels": [], "samples": [
            {"timestampMs": "not a time", "value": 1},
            {"timestampMs": 1_699_999_980_000u64, "value": "NaN"},
            {"value": 3}
        ]}]});
        let out = render_metrics(&answer, &grid(), &view(80), MS87);
        assert!(
            out.lines()
                .nth(1)
                .unwrap()
                .ends_with("-         -         -         -"),
            "{out}"
        );
    }

    #[test]
    fn numbers() {
        assert_eq!(fmt_number(0.0), "0");
        assert_eq!(fmt_number(1.5), "1.5");
        assert_eq!(fmt_number(2.0), "2");
        assert_eq!(fmt_number(0.016_666), "0.0167");
        assert_eq!(fmt_number(0.5), "0.5");
        assert_eq!(fmt_number(12.34), "12.3");
        assert_eq!(fmt_number(980.2), "980");
        assert_eq!(fmt_number(12_345.0), "12.3k");
        assert_eq!(fmt_number(4_560_000.0), "4.56M");
        assert_eq!(fmt_number(-3.25), "-3.25");
        assert_eq!(fmt_number(0.000_012), "1.2e-5");
        assert_eq!(crate::text::thousands(1_234_567), "1,234,567");
        assert_eq!(crate::text::thousands(999), "999");
        assert_eq!(fmt_bytes(512), "512 B");
        assert_eq!(fmt_bytes(317_440), "310 KiB");
        assert_eq!(fmt_bytes(5 * 1024 * 1024 + 1), "5.0 MiB");
    }

    #[test]
    fn metrics_detection() {
        for q in [
            "{ } | rate()",
            "{ } | rate () by (resource.service.name)",
            "{ status = error } | count_over_time()",
            "{ } | quantile_over_time(duration, .99)",
            "{ } | compare({ status = error })",
            "{ } | rate() | topk(5)",
            "{ } | rate() | bottomk(5)",
        ] {
            assert!(is_metrics_query(q), "{q}");
        }
        for q in [
            "{ }",
            "{ name = \"rate(x)\" }",
            "{ name = `count_over_time(` }",
            "{ span.rate = 3 }",
            "{ resource.service.name = \"a\\\"rate(\" }",
            "{ .rate(1) }",
            "{ } | count() > 2",
            "{ } | select(span.rate)",
        ] {
            assert!(!is_metrics_query(q), "{q}");
        }
    }

    #[test]
    fn durations_parsed() {
        assert_eq!(parse_duration("30s"), Ok(30));
        assert_eq!(parse_duration("15m"), Ok(900));
        assert_eq!(parse_duration("1h"), Ok(3_600));
        assert_eq!(parse_duration("7d"), Ok(604_800));
        assert_eq!(parse_duration("1h30m"), Ok(5_400));
        assert_eq!(parse_duration("90"), Ok(90));
        for bad in [
            "",
            "h",
            "1x",
            "1.5h",
            "0s",
            "-1h",
            "1h30",
            "99999999999999999999d",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn times_parsed_and_printed() {
        // The RFC 3339 grammar is tested in arbor_model::time; here what parse_time adds.
        assert_eq!(parse_time("1700000000"), Ok(1_700_000_000));
        assert_eq!(parse_time(" 1700000000\n"), Ok(1_700_000_000));
        assert_eq!(parse_time("2023-11-14T22:13:20Z"), Ok(1_700_000_000));
        assert_eq!(parse_time(" 2023-11-14T22:13:20Z "), Ok(1_700_000_000));
        assert_eq!(parse_time("2023-11-14t22:13:20.999999z"), Ok(1_700_000_000));
        assert_eq!(parse_time("2023-11-14T20:43:20-01:30"), Ok(1_700_000_000));
        assert_eq!(parse_time("1970-01-01T00:00:00Z"), Ok(0));
        assert_eq!(
            parse_time("1969-12-31T23:59:59Z"),
            Err(r#""1969-12-31T23:59:59Z" is before 1970"#.into())
        );
        assert_eq!(
            parse_time("99999999999999999999"),
            Err(r#""99999999999999999999" is out of range"#.into())
        );
        for bad in [
            "2023-02-29T00:00:00Z",
            "2023-11-14T22:13:20",
            "yesterday",
            "-1",
            "",
        ] {
            assert_eq!(
                parse_time(bad),
                Err(format!(
                    "{bad:?} is neither RFC 3339 (2024-05-01T12:00:00Z) nor unix seconds"
                ))
            );
        }
        assert_eq!(fmt_rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
        for secs in (0..4_102_444_800u64).step_by(86_399 * 37) {
            assert_eq!(parse_time(&fmt_rfc3339(secs)), Ok(secs));
        }
    }

    #[test]
    fn ranges() {
        let now = 1_700_000_000;
        assert_eq!(
            time_range(None, None, None, now),
            Ok(Range {
                start: now - 3_600,
                end: now
            })
        );
        assert_eq!(
            time_range(Some("15m"), None, None, now),
            Ok(Range {
                start: now - 900,
                end: now
            })
        );
        assert_eq!(
            time_range(Some("1h"), None, Some("2023-11-14T22:00:00Z"), now),
            Ok(Range {
                start: 1_699_995_600,
                end: 1_699_999_200
            })
        );
        assert_eq!(
            time_range(None, Some("1699990000"), None, now),
            Ok(Range {
                start: 1_699_990_000,
                end: now
            })
        );
        let err = time_range(None, Some("1700000001"), None, now).unwrap_err();
        assert!(err.contains("range is empty"), "{err}");
        let err = time_range(Some("soon"), None, None, now).unwrap_err();
        assert!(err.starts_with("--since: "), "{err}");
        let err = time_range(None, Some("nope"), None, now).unwrap_err();
        assert!(err.starts_with("--start: "), "{err}");
    }

    #[test]
    fn steps() {
        assert_eq!(default_step(60), 1);
        assert_eq!(default_step(1), 1);
        assert_eq!(default_step(3_600), 60);
        assert_eq!(default_step(3_601), 120);
        assert_eq!(default_step(6 * 3_600), 600);
        assert_eq!(default_step(7 * 86_400), 3 * 3_600);
        assert_eq!(default_step(60 * 86_400), 86_400);
        assert_eq!(default_step(90 * 86_400), 2 * 86_400);
        assert_eq!(fmt_secs(60), "1m");
        assert_eq!(fmt_secs(90), "90s");
        assert_eq!(fmt_secs(7_200), "2h");
        assert_eq!(fmt_secs(86_400), "1d");
    }
}
