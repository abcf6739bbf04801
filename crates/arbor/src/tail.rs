//! `arbor tail '<traceql>'`: the spans matching a TraceQL filter as the server acknowledges
//! them, one line each, read from `GET /api/tail` (server-sent events).
//!
//! A line: the span's start (UTC, milliseconds), service, name, duration, status and trace
//! ID. When the server samples (more matches a second than `--limit`) a line on stderr
//! says how many matched and how many were shown. `--json` prints each span event's JSON.
//! Runs until interrupted, or until the server ends the stream (exit status 0); 2 when the
//! query or an argument is refused, 1 when the server cannot be reached.

use std::io::{BufRead, BufReader, Write};

use serde_json::Value;

#[derive(clap::Args)]
pub struct TailArgs {
    /// One TraceQL spanset filter, e.g. '{ resource.service.name = "checkout" }'.
    #[arg(default_value = "{ }")]
    pub query: String,
    /// Base URL of Arbor's HTTP API.
    #[arg(long, env = "ARBOR_URL", default_value = "http://127.0.0.1:3200")]
    pub url: String,
    /// Tenant (X-Scope-OrgID).
    #[arg(long, env = "ARBOR_TENANT")]
    pub tenant: Option<String>,
    /// Bearer token, for a server with a token file (a read token).
    #[arg(long, env = "ARBOR_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// At most this many spans a second (the server samples past it).
    #[arg(long, default_value_t = 100)]
    pub limit: u32,
    /// Print each span as the server sent it (JSON, one a line).
    #[arg(long)]
    pub json: bool,
}

/// Why the tail stopped, with the exit status.
pub struct Failure {
    pub code: u8,
    pub message: String,
}

pub fn run(args: TailArgs) -> Result<(), Failure> {
    let base = args.url.trim_end_matches('/');
    let url = reqwest::Url::parse_with_params(
        &format!("{base}/api/tail"),
        &[
            ("q", args.query.as_str()),
            ("limit", &args.limit.to_string()),
        ],
    )
    .map_err(|e| failure(2, format!("invalid --url {:?}: {e}", args.url)))?;
    let client = reqwest::blocking::Client::builder()
        .timeout(None)
        .build()
        .map_err(|e| failure(1, format!("starting the HTTP client: {e}")))?;
    let mut req = client.get(url).header("Accept", "text/event-stream");
    if let Some(t) = &args.tenant {
        req = req.header("X-Scope-OrgID", t);
    }
    if let Some(t) = &args.token {
        req = req.bearer_auth(t);
    }
    let resp = req
        .send()
        .map_err(|e| failure(1, format!("cannot reach arbor at {base}: {e}")))?;
    let status = resp.status();
    if !status.is_success() {
        let body = resp.text().unwrap_or_default();
        let code = if status == reqwest::StatusCode::BAD_REQUEST {
            2
        } else {
            1
        };
        return Err(failure(
            code,
            format!("GET {base}/api/tail: {status}: {}", body.trim()),
        ));
    }
    let mut out = std::io::stdout().lock();
    let mut event = String::new();
    let mut data = String::new();
    for line in BufReader::new(resp).lines() {
        let line = line.map_err(|e| failure(1, format!("reading from {base}: {e}")))?;
        if let Some(v) = line.strip_prefix("event:") {
            event = v.trim().to_string();
        } else if let Some(v) = line.strip_prefix("data:") {
            data.push_str(v.strip_prefix(' ').unwrap_or(v));
        } else if line.is_empty() {
            let printed = show(&mut out, &event, &data, args.json);
            if printed.is_err() {
                // stdout closed (a pipe into `head`): done.
                return Ok(());
            }
            event.clear();
            data.clear();
        }
    }
    Ok(())
}

fn failure(code: u8, message: String) -> Failure {
    Failure { code, message }
}

fn show(out: &mut impl Write, event: &str, data: &str, json: bool) -> std::io::Result<()> {
    match event {
        "span" if json => writeln!(out, "{data}")?,
        "span" => {
            if let Ok(v) = serde_json::from_str::<Value>(data) {
                writeln!(out, "{}", line(&v))?;
            }
        }
        "stats" => {
            if let Ok(v) = serde_json::from_str::<Value>(data) {
                eprintln!("{}", sampled(&v));
            }
        }
        "ready" => eprintln!("tailing (at most {} spans a second) …", ready_limit(data)),
        _ => {}
    }
    out.flush()
}

fn ready_limit(data: &str) -> String {
    serde_json::from_str::<Value>(data)
        .ok()
        .and_then(|v| v["limit"].as_u64())
        .map_or_else(|| "?".into(), |n| n.to_string())
}

/// `sampled: 100 of 2400 matching spans shown in the last second`.
pub fn sampled(v: &Value) -> String {
    let mut s = format!(
        "sampled: {} of {} matching spans shown in the last second (limit {}/s)",
        v["sent"].as_u64().unwrap_or(0),
        v["matched"].as_u64().unwrap_or(0),
        v["limit"].as_u64().unwrap_or(0)
    );
    if let Some(n) = v["lostBatches"].as_u64() {
        s.push_str(&format!("; {n} batches lost behind"));
    }
    s
}

/// One span as a line: start, service, name, duration, status, trace ID.
pub fn line(v: &Value) -> String {
    let start: u64 = v["startTimeUnixNano"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let dur: u64 = v["durationNanos"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let when = arbor_model::time::format_millis((start / 1_000_000) as i64);
    format!(
        "{when}  {:<20} {:<32} {:>10}  {:<5}  {}",
        v["service"].as_str().unwrap_or(""),
        v["name"].as_str().unwrap_or(""),
        crate::waterfall::fmt_duration(dur),
        v["status"].as_str().unwrap_or(""),
        v["traceId"].as_str().unwrap_or("")
    )
}
