//! The read phases: trace by ID over random present and absent IDs, and a fixed, named set
//! of TraceQL searches and a metrics query, timed over the Tempo HTTP API.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail, ensure};
use arbor_testkit::TestServer;
use rand::{Rng, SeedableRng};

/// The `p`-quantile (0–1) of sorted durations, in milliseconds.
pub fn pct_ms(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize].as_secs_f64() * 1e3
}

pub struct Lookups {
    pub all: Vec<Duration>,
    pub present: Vec<Duration>,
    pub absent: Vec<Duration>,
}

/// Times `n` lookups of random present IDs and `n` of random absent ones (interleaved),
/// after `warm` untimed lookups; every present ID must be found and every absent one not.
pub fn trace_by_id(
    server: &TestServer,
    ids: &[[u8; 16]],
    n: usize,
    warm: usize,
    seed: u64,
) -> anyhow::Result<Lookups> {
    ensure!(!ids.is_empty(), "no trace IDs to look up");
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    for _ in 0..warm {
        server.trace(&hex::encode(ids[rng.random_range(0..ids.len())]))?;
    }
    let mut out = Lookups {
        all: Vec::with_capacity(2 * n),
        present: Vec::with_capacity(n),
        absent: Vec::with_capacity(n),
    };
    for _ in 0..n {
        let id = hex::encode(ids[rng.random_range(0..ids.len())]);
        let t = Instant::now();
        let found = server.trace(&id)?;
        let took = t.elapsed();
        if found.is_none() {
            bail!("trace {id} was sent and acknowledged, but the server does not find it");
        }
        out.present.push(took);
        out.all.push(took);

        let mut absent = [0u8; 16];
        rng.fill(&mut absent);
        let id = hex::encode(absent);
        let t = Instant::now();
        let found = server.trace(&id)?;
        let took = t.elapsed();
        ensure!(found.is_none(), "a random trace ID {id} was found");
        out.absent.push(took);
        out.all.push(took);
    }
    out.all.sort_unstable();
    out.present.sort_unstable();
    out.absent.sort_unstable();
    Ok(out)
}

/// The fixed set: (key, description, TraceQL). The workload is the `microservices` profile.
pub const QUERIES: &[(&str, &str, &str)] = &[
    (
        "selective_attribute",
        "a selective attribute match (one user's requests)",
        r#"{ span.enduser.id = "u-0004242" }"#,
    ),
    (
        "matches_nothing",
        "a value no span holds",
        r#"{ span.http.route = "/nowhere" }"#,
    ),
    (
        "duration_threshold",
        "spans slower than 500 ms",
        "{ duration > 500ms }",
    ),
    (
        "structural",
        "failed PostgreSQL calls below the frontend",
        r#"{ resource.service.name = "frontend" } >> { span.db.system = "postgresql" && status = error }"#,
    ),
    (
        "metrics_rate_1h",
        "a metrics query over 1 h: span rate by service, 1 min steps",
        "{ } | rate() by (resource.service.name)",
    ),
];

pub struct Search {
    pub key: &'static str,
    pub query: &'static str,
    pub times: Vec<Duration>,
    /// Traces (searches) or series (metrics) in the last answer.
    pub results: usize,
    pub inspected_spans: f64,
}

/// Runs each query of [`QUERIES`] `runs` times (after one untimed run).
pub fn searches(server: &TestServer, runs: usize) -> anyhow::Result<Vec<Search>> {
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(120))
        .build()?;
    let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
    let mut out = Vec::new();
    for &(key, _, q) in QUERIES {
        let metrics = key.starts_with("metrics");
        let (path, start, end) = if metrics {
            ("/api/metrics/query_range", now - 3600, now)
        } else {
            ("/api/search", now - 3 * 3600, now + 60)
        };
        let (start, end) = (start.to_string(), end.to_string());
        let mut params: Vec<(&str, &str)> = vec![("q", q), ("start", &start), ("end", &end)];
        if metrics {
            params.push(("step", "60s"));
        }
        let url =
            reqwest::Url::parse_with_params(&format!("{}{path}", server.http_url()), &params)?;
        let mut s = Search {
            key,
            query: q,
            times: Vec::with_capacity(runs),
            results: 0,
            inspected_spans: 0.0,
        };
        for run in 0..=runs {
            let t = Instant::now();
            let r = client
                .get(url.clone())
                .send()
                .with_context(|| format!("{key}: {q}"))?;
            let status = r.status().as_u16();
            let body: serde_json::Value = r.json().with_context(|| format!("{key}: answer"))?;
            let took = t.elapsed();
            ensure!(status == 200, "{key}: {q} answered {status}: {body}");
            if run > 0 {
                s.times.push(took);
            }
            let m = &body["metrics"]["inspectedSpans"];
            s.inspected_spans = m
                .as_str()
                .and_then(|v| v.parse().ok())
                .or(m.as_f64())
                .unwrap_or(0.0);
            s.results = body["traces"]
                .as_array()
                .or(body["series"].as_array())
                .map_or(0, Vec::len);
        }
        s.times.sort_unstable();
        out.push(s);
    }
    Ok(out)
}
