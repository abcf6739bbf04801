//! A read token narrowed to `{ resource.service.namespace = "shop" }` (and one narrowed by a
//! span attribute) against the real
//! binary: no read path it may use shows a span of another namespace — trace by ID (Tempo
//! v1/v2, Jaeger v1/v3, Zipkin), search (Tempo, Jaeger, Zipkin), TraceQL metrics, tag names
//! and values, service and operation names, dependencies, derived views and the service map
//! — whether the spans are in the head or in blocks; a trace with spans out of scope comes
//! back without them and marked partial; a read path that does not apply scopes
//! (`/metrics`) refuses the token. (The live tail's narrowing is checked in
//! `arbor-server`'s tail tests.) An unnarrowed token of the same tenant sees everything, so
//! the data the checks look for is there.

use std::time::Duration;

use arbor_model::otlp::{
    ExportTraceServiceRequest, InstrumentationScope, Resource, ResourceSpans, ScopeSpans, Span,
    kv_str,
};
use arbor_testkit::TestServer;
use prost::Message;
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_arbor");
const SCOPE: &str = r#"{ resource.service.namespace = "shop" }"#;
/// A scope of a span attribute: only `shop-child` holds it.
const CART: &str = r#"{ span.http.route = "/cart" }"#;

/// A token minted by `arbor token`: (token, file entry).
fn mint(args: &[&str]) -> (String, String) {
    arbor_testkit::mint_token(BIN, args)
}

struct Setup {
    server: TestServer,
    root: String,
    shop: String,
    /// The same scope over every tenant.
    shop_everywhere: String,
    /// Narrowed by a span attribute: [`CART`].
    cart: String,
    _dir: tempfile::TempDir,
}

fn start() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let (root, e1) = mint(&[
        "--name",
        "root",
        "--tenant",
        "*",
        "--grant",
        "write,read,admin",
    ]);
    let (shop, e2) = mint(&[
        "--name",
        "shop-reader",
        "--tenant",
        "a",
        "--grant",
        "read",
        "--scope",
        SCOPE,
    ]);
    assert!(e2.contains("scope = "), "{e2}");
    let (shop_everywhere, e3) = mint(&[
        "--name",
        "shop-everywhere",
        "--tenant",
        "*",
        "--grant",
        "read",
        "--scope",
        SCOPE,
    ]);
    let (cart, e4) = mint(&[
        "--name",
        "cart-reader",
        "--tenant",
        "a",
        "--grant",
        "read",
        "--scope",
        CART,
    ]);
    let path = dir.path().join("tokens.toml");
    std::fs::write(&path, format!("{e1}{e2}{e3}{e4}")).unwrap();
    let server = TestServer::start(BIN, &["--auth-tokens-file", path.to_str().unwrap()]).unwrap();
    Setup {
        server,
        root,
        shop,
        shop_everywhere,
        cart,
        _dir: dir,
    }
}

fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap()
}

/// GET `url` as tenant `a` with `token`: (status, body).
fn get(url: &str, token: &str) -> (u16, String) {
    let resp = client()
        .get(url)
        .bearer_auth(token)
        .header("X-Scope-OrgID", "a")
        .send()
        .unwrap();
    (resp.status().as_u16(), resp.text().unwrap())
}

fn get_json(url: &str, token: &str) -> Value {
    let (status, body) = get(url, token);
    assert_eq!(status, 200, "GET {url}: {body}");
    serde_json::from_str(&body).unwrap()
}

fn resource(service: &str, namespace: &str) -> Resource {
    Resource {
        attributes: vec![
            kv_str("service.name", service),
            kv_str("service.namespace", namespace),
        ],
        ..Default::default()
    }
}

fn span(trace: [u8; 16], id: u8, parent: Option<u8>, name: &str, start_ms: u64) -> Span {
    let start = (arbor_model::time::now_unix_nanos() / 1_000_000 - 60_000 + start_ms) * 1_000_000;
    Span {
        trace_id: trace.to_vec(),
        span_id: vec![0, 0, 0, 0, 0, 0, trace[0], id],
        parent_span_id: parent
            .map(|p| vec![0, 0, 0, 0, 0, 0, trace[0], p])
            .unwrap_or_default(),
        name: name.into(),
        kind: 2,
        start_time_unix_nano: start,
        end_time_unix_nano: start + 5_000_000,
        ..Default::default()
    }
}

fn group(r: Resource, spans: Vec<Span>) -> ResourceSpans {
    ResourceSpans {
        resource: Some(r),
        scope_spans: vec![ScopeSpans {
            scope: Some(InstrumentationScope {
                name: "t".into(),
                ..Default::default()
            }),
            spans,
            ..Default::default()
        }],
        ..Default::default()
    }
}

const MIXED: [u8; 16] = [0x11; 16];
const BANK_ONLY: [u8; 16] = [0x22; 16];
const SHOP_ONLY: [u8; 16] = [0x33; 16];

/// Three traces: one with spans of both namespaces (the root is the bank's), one of the
/// bank only, one of the shop only.
fn send(s: &Setup) {
    let req = ExportTraceServiceRequest {
        resource_spans: vec![
            group(
                resource("ledger", "bank"),
                vec![
                    // A client calling the shop: an edge ledger → frontend.
                    Span {
                        kind: 3,
                        attributes: vec![
                            kv_str("http.route", "/bank-secret"),
                            kv_str("bank.account", "42"),
                        ],
                        ..span(MIXED, 1, None, "bank-root", 0)
                    },
                    Span {
                        attributes: vec![
                            kv_str("http.route", "/bank-secret"),
                            kv_str("bank.account", "42"),
                        ],
                        ..span(BANK_ONLY, 1, None, "bank-alone", 10)
                    },
                ],
            ),
            group(
                resource("frontend", "shop"),
                vec![
                    Span {
                        attributes: vec![kv_str("http.route", "/cart")],
                        ..span(MIXED, 2, Some(1), "shop-child", 1)
                    },
                    span(MIXED, 3, Some(2), "shop-grandchild", 2),
                    span(SHOP_ONLY, 1, None, "shop-alone", 20),
                ],
            ),
        ],
    };
    let resp = client()
        .post(format!("{}/v1/traces", s.server.otlp_http_url()))
        .bearer_auth(&s.root)
        .header("X-Scope-OrgID", "a")
        .header("Content-Type", "application/x-protobuf")
        .body(req.encode_to_vec())
        .send()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
}

fn hex(id: [u8; 16]) -> String {
    id.iter().map(|b| format!("{b:02x}")).collect()
}

/// Every read path the narrowed token may use, checked against what it must and must not
/// see; `where_` names the storage state for failures.
fn check_reads(s: &Setup, where_: &str) {
    let http = s.server.http_url();
    let jaeger = s.server.jaeger_url();
    let zipkin = s.server.zipkin_url();
    let (mixed, bank, shop) = (hex(MIXED), hex(BANK_ONLY), hex(SHOP_ONLY));

    // The unnarrowed token sees the bank's spans: the checks below can fail.
    let (_, all) = get(&format!("{http}/api/traces/{mixed}"), &s.root);
    assert!(
        all.contains("bank-root") && all.contains("ledger"),
        "{where_}: {all}"
    );

    // Trace by ID: the mixed trace without the bank's span, marked partial.
    for url in [
        format!("{http}/api/traces/{mixed}"),
        format!("{http}/api/v2/traces/{mixed}"),
        format!("{jaeger}/api/traces/{mixed}"),
        format!("{jaeger}/api/v3/traces/{mixed}"),
        format!("{zipkin}/api/v2/trace/{mixed}"),
        format!("{zipkin}/api/v2/traceMany?traceIds={mixed}"),
    ] {
        let (status, body) = get(&url, &s.shop);
        assert_eq!(status, 200, "{where_}: {url}: {body}");
        assert!(
            body.contains("shop-child") && body.contains("shop-grandchild"),
            "{where_}: {url}: {body}"
        );
        assert!(
            !body.contains("bank") && !body.contains("ledger"),
            "{where_}: {url} leaks: {body}"
        );
    }
    let v2 = get_json(&format!("{http}/api/v2/traces/{mixed}"), &s.shop);
    assert_eq!(v2["status"], "PARTIAL", "{where_}: {v2}");
    assert!(
        v2["message"]
            .as_str()
            .unwrap()
            .contains("outside the token's scope"),
        "{where_}: {v2}"
    );
    // A trace with no span in scope is not found, by any API.
    for url in [
        format!("{http}/api/traces/{bank}"),
        format!("{http}/api/v2/traces/{bank}"),
        format!("{jaeger}/api/traces/{bank}"),
        format!("{zipkin}/api/v2/trace/{bank}"),
    ] {
        let (status, body) = get(&url, &s.shop);
        assert_eq!(status, 404, "{where_}: {url}: {body}");
    }

    // TraceQL search: the bank-only trace is not found, the mixed one is summarised as the
    // token sees it (its root, the bank's span, is not there).
    let q = |query: &str| {
        let url = reqwest::Url::parse_with_params(
            &format!("{http}/api/search"),
            &[("q", query), ("limit", "20"), ("spss", "10")],
        )
        .unwrap();
        get_json(url.as_str(), &s.shop)
    };
    let found = q("{ }");
    let ids: Vec<&str> = found["traces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["traceID"].as_str().unwrap())
        .collect();
    assert!(
        ids.contains(&mixed.trim_start_matches('0')) || ids.contains(&mixed.as_str()),
        "{where_}: {found}"
    );
    assert!(
        ids.iter()
            .any(|i| shop.ends_with(i.trim_start_matches('0'))),
        "{where_}: {found}"
    );
    assert!(
        !ids.iter()
            .any(|i| bank.ends_with(i.trim_start_matches('0'))),
        "{where_}: bank trace found: {found}"
    );
    let text = found.to_string();
    assert!(
        !text.contains("ledger") && !text.contains("bank-"),
        "{where_}: search leaks: {text}"
    );
    for query in [
        r#"{ resource.service.name = "ledger" }"#,
        r#"{ resource.service.namespace = "bank" }"#,
        r#"{ name = "bank-root" }"#,
        r#"{ trace:rootService = "ledger" }"#,
        r#"{ trace:rootName = "bank-root" }"#,
        r#"{ } | count() > 2"#,
    ] {
        let found = q(query);
        assert_eq!(
            found["traces"].as_array().map_or(0, Vec::len),
            0,
            "{where_}: {query} found {found}"
        );
    }
    // The shop's child is a root to the token (its parent is out of scope).
    let found = q(r#"{ trace:rootName = "shop-child" }"#);
    assert_eq!(
        found["traces"].as_array().unwrap().len(),
        1,
        "{where_}: {found}"
    );

    // TraceQL metrics: no series of the bank.
    let url = reqwest::Url::parse_with_params(
        &format!("{http}/api/metrics/query_range"),
        &[
            ("q", "{ } | count_over_time() by (resource.service.name)"),
            ("since", "1h"),
            ("step", "60s"),
        ],
    )
    .unwrap();
    let m = get_json(url.as_str(), &s.shop);
    let text = m.to_string();
    assert!(text.contains("frontend"), "{where_}: {text}");
    assert!(!text.contains("ledger"), "{where_}: metrics leak: {text}");

    // Jaeger and Zipkin search.
    let now_us = arbor_model::time::now_unix_nanos() / 1_000;
    // The last hour's traces of a service, by the Jaeger and the Zipkin API.
    let by_service = |service: &str| {
        [
            format!(
                "{jaeger}/api/traces?service={service}&start={}&end={}",
                now_us - 3_600_000_000,
                now_us + 60_000_000
            ),
            format!(
                "{zipkin}/api/v2/traces?serviceName={service}&lookback=3600000&endTs={}",
                now_us / 1000 + 60_000
            ),
        ]
    };
    for url in by_service("frontend") {
        let (status, body) = get(&url, &s.shop);
        assert_eq!(status, 200, "{where_}: {url}: {body}");
        assert!(body.contains("shop-child"), "{where_}: {url}: {body}");
        assert!(
            !body.contains("ledger") && !body.contains("bank-"),
            "{where_}: {url} leaks: {body}"
        );
    }
    // Tag values, service and operation names, dependencies: only what the shop's spans
    // hold. (The unnarrowed token's answers name the bank: checked below.)
    let now_ms = now_us / 1_000;
    let lists = [
        format!("{http}/api/search/tag/service.name/values"),
        format!("{http}/api/v2/search/tag/resource.service.name/values"),
        format!("{http}/api/v2/search/tag/name/values"),
        format!("{http}/api/v2/search/tag/span.http.route/values"),
        format!("{jaeger}/api/services"),
        format!("{jaeger}/api/v3/services"),
        format!("{jaeger}/api/services/ledger/operations"),
        format!("{jaeger}/api/operations?service=ledger"),
        format!(
            "{jaeger}/api/dependencies?endTs={}&lookback=3600000",
            now_ms + 60_000
        ),
        format!("{zipkin}/api/v2/services"),
        format!("{zipkin}/api/v2/spans?serviceName=ledger"),
        format!(
            "{zipkin}/api/v2/dependencies?endTs={}&lookback=3600000",
            now_ms + 60_000
        ),
        format!("{zipkin}/api/v2/autocompleteValues?key=http.route"),
        format!("{http}/api/derived/services"),
        format!("{http}/api/derived/service-graph"),
        format!("{http}/api/derived/serverless"),
        format!("{http}/api/search/tags"),
        format!("{http}/api/v2/search/tags"),
    ];
    for url in &lists {
        let (status, body) = get(url, &s.shop);
        assert_eq!(status, 200, "{where_}: {url}: {body}");
        assert!(
            !body.contains("ledger") && !body.contains("bank"),
            "{where_}: {url} leaks: {body}"
        );
    }
    for url in &lists[..6] {
        let (_, body) = get(url, &s.shop);
        assert!(
            body.contains("frontend") || body.contains("shop-") || body.contains("/cart"),
            "{where_}: {url}: {body}"
        );
        let (_, all) = get(url, &s.root);
        assert!(
            all.contains("ledger") || all.contains("bank"),
            "{where_}: {url} as root: {all}"
        );
    }
    let (_, deps) = get(&lists[8], &s.root);
    assert!(
        deps.contains("ledger"),
        "{where_}: the unnarrowed dependencies: {deps}"
    );
    for url in &lists[16..] {
        let (_, body) = get(url, &s.shop);
        assert!(body.contains("http.route"), "{where_}: {url}: {body}");
        let (_, all) = get(url, &s.root);
        assert!(
            all.contains("bank.account"),
            "{where_}: {url} as root: {all}"
        );
    }
    let red = &lists[13];
    let (_, body) = get(red, &s.shop);
    assert!(body.contains("frontend"), "{where_}: {red}: {body}");
    let (_, all) = get(red, &s.root);
    assert!(all.contains("ledger"), "{where_}: {red} as root: {all}");

    for url in by_service("ledger") {
        let (status, body) = get(&url, &s.shop);
        assert_eq!(status, 200, "{where_}: {url}: {body}");
        assert!(
            !body.contains("ledger") && !body.contains("bank-"),
            "{where_}: {url} leaks: {body}"
        );
    }
}

/// Cuts the head into blocks (as the root token).
fn flush(s: &Setup) {
    let resp = client()
        .post(format!("{}/flush", s.server.http_url()))
        .bearer_auth(&s.root)
        .timeout(Duration::from_secs(600))
        .send()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 204);
}

#[test]
fn a_narrowed_token_sees_only_its_scope_in_the_head_and_in_blocks() {
    let s = start();
    send(&s);
    check_reads(&s, "head");
    flush(&s);
    check_reads(&s, "blocks");
}

#[test]
fn read_paths_that_do_not_apply_scopes_refuse_a_narrowed_token() {
    let s = start();
    send(&s);
    let http = s.server.http_url();
    // Saved views hold queries, not spans: open to a narrowed token.
    let (status, body) = get(&format!("{http}/api/views"), &s.shop);
    assert_eq!(status, 200, "{body}");
    // `/metrics` (service names of every tenant) does not apply scopes: a narrowed token
    // for every tenant, which could otherwise read it, is refused (default deny).
    let url = format!("{http}/metrics");
    let (status, body) = get(&url, &s.shop_everywhere);
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("narrowed to the scope"), "{body}");
    let (status, body) = get(&url, &s.root);
    assert_eq!(status, 200, "{body}");
    let me = get_json(&format!("{http}/api/whoami"), &s.shop);
    assert_eq!(me["scope"], SCOPE, "{me}");
}

/// What a token narrowed by a span attribute sees: the spans holding it, not the others of
/// their resource or trace.
fn check_span_scope(s: &Setup, where_: &str) {
    let http = s.server.http_url();
    let mixed = hex(MIXED);
    let v2 = get_json(&format!("{http}/api/v2/traces/{mixed}"), &s.cart);
    let text = v2.to_string();
    assert!(text.contains("shop-child"), "{where_}: {text}");
    assert!(
        !text.contains("shop-grandchild") && !text.contains("bank-root"),
        "{where_}: {text}"
    );
    assert_eq!(v2["status"], "PARTIAL", "{where_}: {v2}");
    let (status, body) = get(&format!("{http}/api/traces/{}", hex(SHOP_ONLY)), &s.cart);
    assert_eq!(status, 404, "{where_}: {body}");
    let url = reqwest::Url::parse_with_params(
        &format!("{http}/api/search"),
        &[("q", "{ }"), ("spss", "10")],
    )
    .unwrap();
    let found = get_json(url.as_str(), &s.cart);
    assert_eq!(
        found["traces"].as_array().unwrap().len(),
        1,
        "{where_}: {found}"
    );
    let text = found.to_string();
    assert!(
        !text.contains("grandchild") && !text.contains("alone"),
        "{where_}: {text}"
    );
    let (_, names) = get(&format!("{http}/api/v2/search/tag/name/values"), &s.cart);
    assert!(names.contains("shop-child"), "{where_}: {names}");
    assert!(
        !names.contains("grandchild") && !names.contains("alone") && !names.contains("bank"),
        "{where_}: {names}"
    );
}

#[test]
fn a_token_narrowed_by_a_span_attribute_sees_only_the_spans_holding_it() {
    let s = start();
    send(&s);
    check_span_scope(&s, "head");
    flush(&s);
    check_span_scope(&s, "blocks");
}
