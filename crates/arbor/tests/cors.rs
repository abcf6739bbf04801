//! CORS for the origins in `auth.allowed_origins`, against the real binary with a token
//! file: a preflight from an allowed origin is answered (origin, methods, the headers a
//! client sends, `Vary: Origin`) without a token, and the answers to its requests carry
//! `Access-Control-Allow-Origin`, refusals included; a page of any other origin still gets
//! 403 and no CORS header, preflight or not; a same-origin request gets no CORS header.

use std::time::Duration;

use arbor_testkit::TestServer;

const BIN: &str = env!("CARGO_BIN_EXE_arbor");
const ALLOWED: &str = "https://grafana.example.com";

fn mint() -> (String, String) {
    arbor_testkit::mint_token(BIN, &["--name", "ui", "--tenant", "a", "--grant", "read"])
}

/// (status, headers as (lowercase name, value) in order).
fn call(method: &str, url: &str, headers: &[(&str, &str)]) -> (u16, Vec<(String, String)>) {
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap();
    let mut req = client.request(method.parse().unwrap(), url);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = req.send().unwrap();
    let hs = resp
        .headers()
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_string()))
        .collect();
    (resp.status().as_u16(), hs)
}

fn header<'a>(hs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    hs.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

fn varies_on_origin(hs: &[(String, String)]) -> bool {
    hs.iter().filter(|(k, _)| k == "vary").any(|(_, v)| {
        v.split(',')
            .any(|p| p.trim().eq_ignore_ascii_case("origin"))
    })
}

#[test]
fn allowed_origins_get_cors_and_others_do_not() {
    let dir = tempfile::tempdir().unwrap();
    let (token, entry) = mint();
    let path = dir.path().join("tokens.toml");
    std::fs::write(&path, entry).unwrap();
    let s = TestServer::start(
        BIN,
        &[
            "--auth-tokens-file",
            path.to_str().unwrap(),
            "--auth-allowed-origins",
            ALLOWED,
        ],
    )
    .unwrap();
    let search = format!("{}/api/search?limit=1", s.http_url());
    let jaeger = format!("{}/api/services", s.jaeger_url());

    for url in [&search, &jaeger] {
        // A preflight from the allowed origin: answered without a token.
        let (status, hs) = call(
            "OPTIONS",
            url,
            &[
                ("Origin", ALLOWED),
                ("Access-Control-Request-Method", "GET"),
                (
                    "Access-Control-Request-Headers",
                    "authorization, x-scope-orgid",
                ),
            ],
        );
        assert!(status == 204 || status == 200, "{url}: {status}");
        assert_eq!(header(&hs, "access-control-allow-origin"), Some(ALLOWED));
        let methods = header(&hs, "access-control-allow-methods").unwrap_or_default();
        assert!(
            methods.contains("GET") && methods.contains("POST"),
            "{methods}"
        );
        let allowed = header(&hs, "access-control-allow-headers")
            .unwrap_or_default()
            .to_ascii_lowercase();
        for h in ["authorization", "content-type", "x-scope-orgid"] {
            assert!(allowed.contains(h), "{h} in {allowed}");
        }
        assert!(varies_on_origin(&hs), "{hs:?}");

        // The request itself: with the token, 200 and the CORS header; without, a 401 the
        // page can read.
        let bearer = format!("Bearer {token}");
        let (status, hs) = call(
            "GET",
            url,
            &[("Origin", ALLOWED), ("Authorization", &bearer)],
        );
        assert_eq!(status, 200, "{url}");
        assert_eq!(header(&hs, "access-control-allow-origin"), Some(ALLOWED));
        assert!(varies_on_origin(&hs), "{hs:?}");
        let (status, hs) = call("GET", url, &[("Origin", ALLOWED)]);
        assert_eq!(status, 401);
        assert_eq!(header(&hs, "access-control-allow-origin"), Some(ALLOWED));

        // Another origin: 403 and no CORS header, for the preflight and the request.
        for (method, extra) in [
            ("OPTIONS", Some(("Access-Control-Request-Method", "GET"))),
            ("GET", None),
        ] {
            let mut headers = vec![
                ("Origin", "https://evil.example"),
                ("Authorization", bearer.as_str()),
            ];
            headers.extend(extra);
            let (status, hs) = call(method, url, &headers);
            assert_eq!(status, 403, "{method} {url}");
            assert!(
                !hs.iter().any(|(k, _)| k.starts_with("access-control-")),
                "{method} {url}: {hs:?}"
            );
        }

        // Same origin (or no Origin at all): no CORS header needed, none sent.
        let (status, hs) = call("GET", url, &[("Authorization", &bearer)]);
        assert_eq!(status, 200);
        assert!(header(&hs, "access-control-allow-origin").is_none());
    }
}
