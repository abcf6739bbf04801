//! The query API's parameters. `params` calls the shared readers of `api::params` directly
//! on every parameter the input names; `search_request` sends the input as the query string
//! of `GET /api/search` and `GET /api/metrics/query_range` through the server's real router
//! (no store: a request that parses is answered 503 "not ready", one that does not, 400) —
//! so the search-request parser runs exactly as the server runs it. Neither may panic, and
//! the HTTP answers may only be 400 or 503.

use std::collections::HashMap;
use std::sync::Arc;

use arbor_server::api::params::{duration_param, param, uint_param, unix_time_ns};
use arbor_server::config::Config;
use arbor_server::state::AppState;
use tower::ServiceExt;

use super::{Target, error_outcome};
use crate::engine::outcome;

/// 2200-01-01T00:00:00Z in Unix nanoseconds: the latest time a parameter may name.
const MAX_NS: u64 = 7_258_118_400 * 1_000_000_000;

const NAMES: &[&str] = &[
    "q",
    "tags",
    "limit",
    "spss",
    "start",
    "end",
    "minDuration",
    "maxDuration",
    "step",
    "since",
];

const DICT: &[&[u8]] = &[
    b"&",
    b"=",
    b"q=",
    b"tags=",
    b"limit=",
    b"spss=",
    b"start=",
    b"end=",
    b"minDuration=",
    b"maxDuration=",
    b"step=",
    b"1700000000",
    b"1700000000.5",
    b"1700000000123456789",
    b"2023-11-14T22:13:20Z",
    b"2023-11-14T22:13:20.123456789+05:30",
    b"1e30",
    b"1e9",
    b"-0",
    b"NaN",
    b"inf",
    b"1.5s",
    b"100ms",
    b"2m",
    b"3h",
    b"1d",
    b"0.000000001",
    b"18446744073709551615",
    b"{ }",
    b"{ .a = 1 }",
    b"service.name=x",
    b" ",
    b".",
];

/// The input as parameters: `&`-separated `name=value` pairs, unescaped.
fn pairs(input: &[u8]) -> HashMap<String, String> {
    String::from_utf8_lossy(input)
        .split('&')
        .filter_map(|kv| {
            let (k, v) = kv.split_once('=')?;
            Some((k.to_string(), v.to_string()))
        })
        .collect()
}

fn run_params(input: &[u8]) -> u64 {
    let params = pairs(input);
    let mut sig = String::new();
    for name in NAMES {
        let _ = param(&params, name);
        match uint_param(&params, name, 20) {
            Ok(_) => sig.push('u'),
            Err(_) => sig.push('-'),
        }
        match duration_param(&params, name) {
            Ok(Some(_)) => sig.push('d'),
            Ok(None) => sig.push('_'),
            Err(_) => sig.push('-'),
        }
        match unix_time_ns(&params, name) {
            Ok(Some(ns)) => {
                assert!(ns <= MAX_NS, "{name} read as {ns} ns, after 2200");
                sig.push('t');
            }
            Ok(None) => sig.push('_'),
            Err(_) => sig.push('-'),
        }
    }
    outcome(&sig)
}

pub fn params() -> Target {
    Target {
        name: "params",
        about: "api::params: param, uint_param, duration_param, unix_time_ns",
        run: run_params,
        seeds: || {
            [
                "start=1700000000&end=1700003600&limit=20",
                "minDuration=100ms&maxDuration=2.5s&spss=3",
                "start=2023-11-14T22:13:20Z&end=1700000000123456789",
                "step=15s&since=1h",
            ]
            .iter()
            .map(|s| s.as_bytes().to_vec())
            .collect()
        },
        dict: DICT,
        max_len: 1 << 10,
        smoke_iterations: 4_000,
    }
}

thread_local! {
    static RUNTIME: tokio::runtime::Runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    static ROUTER: axum::Router =
        arbor_server::api::router(Arc::new(AppState::new(Config::default())));
}

/// Percent-encodes everything but unreserved characters, so any input makes a valid URI.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn run_search_request(input: &[u8]) -> u64 {
    let text = String::from_utf8_lossy(input);
    let query: Vec<String> = text
        .split('&')
        .map(|kv| match kv.split_once('=') {
            Some((k, v)) => format!("{}={}", escape(k), escape(v)),
            None => escape(kv),
        })
        .collect();
    let query = query.join("&");
    let mut sig = String::new();
    for path in ["/api/search", "/api/metrics/query_range"] {
        let uri = format!("{path}?{query}");
        let req = http::Request::get(&uri)
            .body(axum::body::Body::empty())
            .expect("an escaped URI is valid");
        let router = ROUTER.with(|r| r.clone());
        let resp = RUNTIME
            .with(|rt| rt.block_on(router.oneshot(req)))
            .expect("infallible");
        let status = resp.status().as_u16();
        let body = RUNTIME.with(|rt| {
            rt.block_on(axum::body::to_bytes(resp.into_body(), 1 << 20))
                .unwrap_or_default()
        });
        assert!(
            status == 400 || status == 503,
            "GET {uri}: {status} {}",
            String::from_utf8_lossy(&body)
        );
        if status == 400 {
            sig.push_str(&format!(
                "{:x}",
                error_outcome(path, &String::from_utf8_lossy(&body))
            ));
        } else {
            sig.push_str("503");
        }
    }
    outcome(&sig)
}

pub fn search_request() -> Target {
    Target {
        name: "search_request",
        about: "GET /api/search and /api/metrics/query_range parameters through the real router",
        run: run_search_request,
        seeds: || {
            [
                "q={ .http.status_code >= 500 }&start=1700000000&end=1700003600&limit=20",
                "tags=service.name=checkout http.method=GET&minDuration=100ms&maxDuration=2s",
                "q={ } | rate() by (resource.service.name)&start=1700000000&end=1700003600&step=15s",
                "q={ status = error }&spss=5&start=2023-11-14T22:13:20Z",
            ]
            .iter()
            .map(|s| s.as_bytes().to_vec())
            .collect()
        },
        dict: DICT,
        max_len: 2 << 10,
        smoke_iterations: 2_000,
    }
}
