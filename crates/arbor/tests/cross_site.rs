//! What a web page on another site (or a page on a name rebound to 127.0.0.1) could send to
//! a server the browser reaches, against the real binary with no token file: state changes
//! only by POST/PUT/DELETE with a JSON body, ingest only with a content type, no request
//! from another origin, no request for a host name the server does not serve. The same in a
//! real browser is `ui/e2e/cross-site.test.mjs`.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use arbor_testkit::TestServer;

const BIN: &str = env!("CARGO_BIN_EXE_arbor");

/// A raw HTTP/1.1 request (so the Host header is ours to set): (status, body).
fn raw(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut req = format!("{method} {path} HTTP/1.1\r\nConnection: close\r\n");
    if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
        req.push_str(&format!("Host: {addr}\r\n"));
    }
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    s.write_all(req.as_bytes()).unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    let status = out
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = out
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

const RULE: &str = r#"{"name":"r1","kind":"traceql","query":"{ }","window":"1m","above":1}"#;

fn rule_count(s: &TestServer) -> usize {
    let v: serde_json::Value = s.get("/api/alerts/rules").unwrap().json().unwrap();
    v["rules"].as_array().map_or(0, |r| r.len())
}

#[test]
fn state_changes_need_a_state_changing_method_and_json() {
    let s = TestServer::start(BIN, &[]).unwrap();
    let a = s.addrs.http.clone();
    // GET /flush no longer cuts blocks.
    let (status, body) = raw(&a, "GET", "/flush", &[], "");
    assert_eq!(status, 405, "{body}");
    assert!(body.contains("POST"), "{body}");
    assert_eq!(raw(&a, "POST", "/flush", &[], "").0, 204);
    // The alerts API reads JSON only: a form's or a simple fetch's text/plain is refused.
    for ct in [
        None,
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
    ] {
        let h: Vec<(&str, &str)> = ct.map(|c| ("Content-Type", c)).into_iter().collect();
        let (status, body) = raw(&a, "POST", "/api/alerts/rules", &h, RULE);
        assert_eq!(status, 415, "{ct:?}: {body}");
        assert!(body.contains("application/json"), "{body}");
    }
    assert_eq!(rule_count(&s), 0);
    let json = [("Content-Type", "application/json")];
    assert_eq!(raw(&a, "POST", "/api/alerts/rules", &json, RULE).0, 201);
    for path in ["/api/alerts/rules/r1/test", "/api/alerts/rules/r1/silence"] {
        let (status, body) = raw(
            &a,
            "POST",
            path,
            &[("Content-Type", "text/plain")],
            r#"{"for":"1h"}"#,
        );
        assert_eq!(status, 415, "{path}: {body}");
    }
    let (status, body) = raw(
        &a,
        "POST",
        "/api/views",
        &[("Content-Type", "text/plain")],
        r#"{"name":"v","query":"{ }"}"#,
    );
    assert_eq!(status, 415, "{body}");
    // Ingest without a content type (what `fetch(url, {mode: "no-cors", body: blob})`
    // sends) is refused by Zipkin and OTLP/HTTP alike.
    let z = s.addrs.zipkin.clone();
    let (status, body) = raw(&z, "POST", "/api/v2/spans", &[], "[]");
    assert_eq!(status, 415, "{body}");
    let (status, body) = raw(
        &z,
        "POST",
        "/api/v2/spans",
        &[("Content-Type", "text/plain")],
        "[]",
    );
    assert_eq!(status, 415, "{body}");
    assert_eq!(raw(&z, "POST", "/api/v2/spans", &json, "[]").0, 202);
    let o = s.addrs.otlp_http.clone();
    assert_eq!(raw(&o, "POST", "/v1/traces", &[], "{}").0, 415);
}

#[test]
fn other_origins_and_other_host_names_are_refused() {
    let s = TestServer::start(
        BIN,
        &[
            "--auth-allowed-origins",
            "https://grafana.example.com",
            "--auth-allowed-hosts",
            "arbor.example.com",
        ],
    )
    .unwrap();
    let a = s.addrs.http.clone();
    let json = ("Content-Type", "application/json");
    // A page on another origin: refused, reads and writes alike.
    for (method, path, body) in [
        ("POST", "/api/alerts/rules", RULE),
        ("POST", "/flush", ""),
        ("GET", "/api/search/tags", ""),
        ("DELETE", "/api/alerts/rules/r1", ""),
    ] {
        for origin in ["http://evil.example", "null", "http://127.0.0.1:1"] {
            let (status, text) = raw(&a, method, path, &[json, ("Origin", origin)], body);
            assert_eq!(status, 403, "{method} {path} from {origin}: {text}");
            assert!(text.contains("allowed_origins"), "{text}");
        }
    }
    assert_eq!(rule_count(&s), 0);
    // The server's own origin, and one allowed, are let through.
    let own = format!("http://{a}");
    assert_eq!(
        raw(
            &a,
            "POST",
            "/api/alerts/rules",
            &[json, ("Origin", &own)],
            RULE
        )
        .0,
        201
    );
    assert_eq!(
        raw(
            &a,
            "GET",
            "/api/search/tags",
            &[("Origin", "https://grafana.example.com")],
            ""
        )
        .0,
        200
    );
    // DNS rebinding: a name the server does not serve, though the connection is local.
    let port = a.rsplit(':').next().unwrap();
    for host in [
        format!("evil.example:{port}"),
        "rebind.attacker.test".to_string(),
    ] {
        let (status, text) = raw(&a, "GET", "/api/search/tags", &[("Host", &host)], "");
        assert_eq!(status, 403, "{host}: {text}");
        assert!(text.contains("allowed_hosts"), "{text}");
        // With the page's own Origin too (a rebound page is same-origin with itself).
        let origin = format!("http://{host}");
        assert_eq!(
            raw(
                &a,
                "DELETE",
                "/api/alerts/rules/r1",
                &[("Host", &host), ("Origin", &origin)],
                ""
            )
            .0,
            403
        );
    }
    assert_eq!(rule_count(&s), 1);
    for host in [
        format!("localhost:{port}"),
        format!("arbor.example.com:{port}"),
        format!("[::1]:{port}"),
    ] {
        assert_eq!(
            raw(&a, "GET", "/api/search/tags", &[("Host", &host)], "").0,
            200,
            "{host}"
        );
    }
    // Every listener checks.
    for addr in [&s.addrs.jaeger, &s.addrs.zipkin] {
        assert_eq!(
            raw(
                addr,
                "GET",
                "/api/services",
                &[("Host", "evil.example")],
                ""
            )
            .0,
            403
        );
    }
    let (status, _) = raw(
        &s.addrs.otlp_http,
        "POST",
        "/v1/traces",
        &[json, ("Origin", "http://evil.example")],
        "{}",
    );
    assert_eq!(status, 403);
}
