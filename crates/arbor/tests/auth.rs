//! Tokens against the real binary: every endpoint of every listener refuses a request
//! without one (the OpenAPI file's paths, the ingest endpoints, OTLP/gRPC), a tenant's token
//! never sees another tenant's data, grants are enforced, the token file is read again when
//! it changes, and each read or admin request is in the audit log. The checks that keep
//! other web pages out (Origin, Host, methods, content types) are in `cross_site.rs`.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use arbor_model::otlp::grpc::TraceServiceClient;
use arbor_testkit::{TestServer, eventually, spans};
use prost::Message;
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_arbor");

/// A token minted by `arbor token`: (token, file entry).
fn mint(name: &str, tenants: &str, grants: &str) -> (String, String) {
    let (token, entry) = arbor_testkit::mint_token(
        BIN,
        &["--name", name, "--tenant", tenants, "--grant", grants],
    );
    assert!(
        !entry.contains(&token),
        "the entry holds the hash, not the token"
    );
    (token, entry)
}

struct Tokens {
    /// write, read, admin for every tenant.
    root: String,
    /// read for tenant `a`.
    read_a: String,
    /// write for tenant `a`.
    write_a: String,
    /// read for `a` and `b`.
    read_ab: String,
    /// admin for `a` only.
    admin_a: String,
}

/// Writes a token file with the usual tokens; returns them.
fn token_file(path: &Path) -> Tokens {
    let mut file = String::new();
    let mut take = |name: &str, tenants: &str, grants: &str| {
        let (t, e) = mint(name, tenants, grants);
        file.push_str(&e);
        t
    };
    let tokens = Tokens {
        root: take("root", "*", "write,read,admin"),
        read_a: take("reader-a", "a", "read"),
        write_a: take("writer-a", "a", "write"),
        read_ab: take("reader-ab", "a,b", "read"),
        admin_a: take("admin-a", "a", "admin,read"),
    };
    std::fs::write(path, file).unwrap();
    tokens
}

fn start_with_tokens() -> (TestServer, Tokens, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tokens.toml");
    let tokens = token_file(&path);
    let server = TestServer::start(BIN, &["--auth-tokens-file", path.to_str().unwrap()]).unwrap();
    (server, tokens, dir)
}

fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap()
}

/// `method url` with an optional token and extra headers: (status, body).
fn call(
    method: &str,
    url: &str,
    token: Option<&str>,
    headers: &[(&str, &str)],
    body: Option<Vec<u8>>,
) -> (u16, String) {
    let mut req = client().request(method.parse().unwrap(), url);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    if let Some(b) = body {
        req = req.body(b);
    }
    let resp = req.send().unwrap();
    (resp.status().as_u16(), resp.text().unwrap_or_default())
}

/// Every (listener, method, path) in docs/openapi.yaml, from its `servers` anchors.
fn openapi_operations() -> Vec<(&'static str, String, String)> {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/openapi.yaml"
    ))
    .unwrap();
    let mut out = Vec::new();
    let mut path: Option<String> = None;
    let mut listener = "";
    let mut in_paths = false;
    for line in text.lines() {
        if line == "paths:" {
            in_paths = true;
            continue;
        }
        if !in_paths {
            continue;
        }
        if !line.starts_with(' ') && !line.is_empty() && !line.starts_with('#') {
            break; // components:
        }
        if let Some(p) = line.strip_prefix("  /").and_then(|p| p.strip_suffix(':')) {
            path = Some(format!("/{p}"));
            listener = "";
            continue;
        }
        let t = line.trim();
        if t.starts_with("servers:") || t.starts_with("- url:") {
            if t.contains("query") || t.contains(":3200") {
                listener = "http";
            } else if t.contains("zipkin") || t.contains(":9411") {
                listener = "zipkin";
            } else if t.contains("jaeger") || t.contains(":16686") {
                listener = "jaeger";
            } else if t.contains(":4318") {
                listener = "otlp_http";
            }
        }
        if let Some(m) = ["get", "post", "put", "delete", "patch"]
            .iter()
            .find(|m| line == format!("    {m}:"))
            && let Some(p) = &path
        {
            assert!(!listener.is_empty(), "no listener found for {p}");
            out.push((listener, m.to_uppercase(), p.clone()));
        }
    }
    out
}

fn concrete(path: &str) -> String {
    path.replace("{id}", "0af7651916cd43dd8448eb211c80319c")
        .replace("{name}", "r1")
        .replace("{tag}", "service.name")
        .replace("{file}", "x.js")
        .replace("{service}", "svc")
}

fn url_of(s: &TestServer, listener: &str, path: &str) -> String {
    match listener {
        "http" => format!("{}{path}", s.http_url()),
        "zipkin" => format!("{}{path}", s.zipkin_url()),
        "jaeger" => format!("{}/api{path}", s.jaeger_url()),
        "otlp_http" => format!("{}{path}", s.otlp_http_url()),
        other => panic!("listener {other}"),
    }
}

/// Open without a token: health and the UI's pages and files.
fn open_without_token(listener: &str, method: &str, path: &str) -> bool {
    listener == "http"
        && method == "GET"
        && (path == "/ready"
            || path == "/health"
            || path == "/"
            || path == "/search"
            || path.starts_with("/trace/")
            || path.starts_with("/assets/"))
}

fn grpc_export(
    url: String,
    token: Option<&str>,
    tenant: Option<&str>,
    req: arbor_model::otlp::ExportTraceServiceRequest,
) -> Result<(), tonic::Status> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut client = TraceServiceClient::connect(url).await.unwrap();
        let mut r = tonic::Request::new(req);
        if let Some(t) = token {
            r.metadata_mut()
                .insert("authorization", format!("Bearer {t}").parse().unwrap());
        }
        if let Some(t) = tenant {
            r.metadata_mut().insert("x-scope-orgid", t.parse().unwrap());
        }
        client.export(r).await.map(|_| ())
    })
}

#[test]
fn every_endpoint_of_every_listener_needs_a_token() {
    let (s, tokens, _dir) = start_with_tokens();
    let ops = openapi_operations();
    assert!(
        ops.len() > 50,
        "the OpenAPI file lists {} operations",
        ops.len()
    );
    for listener in ["http", "zipkin", "jaeger", "otlp_http"] {
        assert!(ops.iter().any(|(l, _, _)| *l == listener), "{listener}");
    }
    let json = [("Content-Type", "application/json")];
    let mut checked = 0;
    for (listener, method, path) in &ops {
        let url = url_of(&s, listener, &concrete(path));
        let (status, body) = call(method, &url, None, &json, Some(b"{}".to_vec()));
        if open_without_token(listener, method, path) {
            assert_ne!(status, 401, "{method} {url} is open: {body}");
            continue;
        }
        checked += 1;
        assert_eq!(status, 401, "{method} {url} without a token: {body}");
        // A token that is not in the file, and a header that is not Bearer.
        let (status, _) = call(method, &url, Some("arbor_00"), &json, Some(b"{}".to_vec()));
        assert_eq!(status, 401, "{method} {url} with an unknown token");
        let (status, _) = call(
            method,
            &url,
            None,
            &[("Authorization", &format!("Basic {}", tokens.root))],
            None,
        );
        assert_eq!(status, 401, "{method} {url} with Basic");
        // With the all-powerful token, whatever the answer is, it is not about the token.
        // (Only the status is read: `/api/tail` streams until the client leaves.)
        let resp = client()
            .request(method.parse().unwrap(), &url)
            .bearer_auth(&tokens.root)
            .header("Content-Type", "application/json")
            .body("{}")
            .send()
            .unwrap();
        let status = resp.status().as_u16();
        if status == 401 || status == 403 {
            panic!(
                "{method} {url} with the root token: {status} {}",
                resp.text().unwrap_or_default()
            );
        }
    }
    assert!(checked > 45, "{checked}");
    // Paths no route takes are refused too, rather than telling what exists.
    for url in [
        format!("{}/api/nope", s.http_url()),
        format!("{}/api/nope", s.jaeger_url()),
        format!("{}/nope", s.zipkin_url()),
        format!("{}/v1/logs", s.otlp_http_url()),
    ] {
        assert_eq!(call("GET", &url, None, &[], None).0, 401, "{url}");
    }
    // The ingest endpoints, with real bodies.
    let mut rng = spans::rng(7);
    let trace = spans::trace_id(&mut rng);
    let batch = spans::batch(
        "svc",
        spans::chain(&mut rng, trace, 2, 1_700_000_000_000_000_000),
    );
    let proto = [("Content-Type", "application/x-protobuf")];
    let otlp = format!("{}/v1/traces", s.otlp_http_url());
    assert_eq!(
        call("POST", &otlp, None, &proto, Some(batch.encode_to_vec())).0,
        401
    );
    let zipkin = format!("{}/api/v2/spans", s.zipkin_url());
    assert_eq!(
        call("POST", &zipkin, None, &json, Some(b"[]".to_vec())).0,
        401
    );
    let err = grpc_export(s.otlp_grpc_url(), None, None, batch.clone()).unwrap_err();
    assert_eq!(err.code(), tonic::Code::Unauthenticated, "{err:?}");
    assert!(err.message().contains("Bearer"), "{err:?}");
    let err = grpc_export(s.otlp_grpc_url(), Some("arbor_00"), None, batch.clone()).unwrap_err();
    assert_eq!(err.code(), tonic::Code::Unauthenticated, "{err:?}");
    // gRPC metadata carries the token; a token for one tenant implies it.
    grpc_export(
        s.otlp_grpc_url(),
        Some(&tokens.write_a),
        None,
        batch.clone(),
    )
    .unwrap();
    let err = grpc_export(
        s.otlp_grpc_url(),
        Some(&tokens.write_a),
        Some("b"),
        batch.clone(),
    )
    .unwrap_err();
    assert_eq!(err.code(), tonic::Code::PermissionDenied, "{err:?}");
    let (status, body) = call(
        "GET",
        &format!("{}/api/traces/{}", s.http_url(), hex::encode(trace)),
        Some(&tokens.read_a),
        &[],
        None,
    );
    assert_eq!(status, 200, "written to tenant a over gRPC: {body}");
    assert!(!s.log().contains("panicked"), "{}", s.log());
}

/// Sends `n` spans of service `service` to `tenant`; returns the trace ID (hex).
fn ingest(s: &TestServer, token: &str, tenant: &str, service: &str, seed: u64) -> String {
    let mut rng = spans::rng(seed);
    let trace = spans::trace_id(&mut rng);
    let now = arbor_model::time::now_unix_nanos();
    let batch = spans::batch(
        service,
        spans::chain(&mut rng, trace, 3, now - 5_000_000_000),
    );
    let (status, body) = call(
        "POST",
        &format!("{}/v1/traces", s.otlp_http_url()),
        Some(token),
        &[
            ("Content-Type", "application/x-protobuf"),
            ("X-Scope-OrgID", tenant),
        ],
        Some(batch.encode_to_vec()),
    );
    assert_eq!(status, 200, "{body}");
    hex::encode(trace)
}

#[test]
fn a_tenant_token_never_sees_another_tenant() {
    let (s, t, _dir) = start_with_tokens();
    let trace_a = ingest(&s, &t.root, "a", "svc-of-a", 1);
    let trace_b = ingest(&s, &t.root, "b", "svc-of-b", 2);
    // Zipkin ingest into b as well, so its query API has something to hide.
    let read = |url: String, token: &str, tenant: Option<&str>| {
        let h: Vec<(&str, &str)> = tenant.map(|t| ("X-Scope-OrgID", t)).into_iter().collect();
        call("GET", &url, Some(token), &h, None)
    };
    let (h, j, z) = (s.http_url(), s.jaeger_url(), s.zipkin_url());
    let now = arbor_model::time::now_unix_nanos() / 1_000_000_000;
    let (start, end) = (now - 3600, now + 60);
    let micros = |secs: u64| secs * 1_000_000;
    // Every read API, as a URL template: what tenant b's data would show ("svc-of-b" or
    // its trace ID) must never appear in tenant a's answers.
    let urls = [
        format!("{h}/api/search?q=%7B%7D&start={start}&end={end}&limit=100"),
        format!("{h}/api/search?tags=service.name%3Dsvc-of-b&start={start}&end={end}"),
        format!("{h}/api/traces/{trace_b}"),
        format!("{h}/api/v2/traces/{trace_b}"),
        format!("{h}/api/search/tag/service.name/values"),
        format!("{h}/api/v2/search/tag/resource.service.name/values"),
        format!("{h}/api/search/tags"),
        format!("{h}/api/v2/search/tags"),
        format!(
            "{h}/api/metrics/query_range?q=%7B%7D%20%7C%20count_over_time()%20by%20(resource.service.name)&start={start}&end={end}&step=60s"
        ),
        format!(
            "{h}/api/metrics/query?q=%7B%7D%20%7C%20count_over_time()%20by%20(resource.service.name)&start={start}&end={end}"
        ),
        format!("{h}/api/derived/services?start={start}&end={end}"),
        format!("{h}/api/derived/service-graph?start={start}&end={end}"),
        format!("{j}/api/services"),
        format!(
            "{j}/api/traces?service=svc-of-b&start={}&end={}",
            micros(start),
            micros(end)
        ),
        format!("{j}/api/traces/{trace_b}"),
        format!("{j}/api/v3/services"),
        format!("{j}/api/v3/traces/{trace_b}"),
        format!("{z}/api/v2/services"),
        format!(
            "{z}/api/v2/traces?serviceName=svc-of-b&endTs={}&lookback=3600000",
            now * 1000 + 60_000
        ),
        format!("{z}/api/v2/trace/{trace_b}"),
        format!("{z}/api/v2/traceMany?traceIds={trace_b}"),
    ];
    // Tenant a's token sees a's trace...
    let (status, body) = read(format!("{h}/api/traces/{trace_a}"), &t.read_a, None);
    assert_eq!(status, 200, "{body}");
    assert!(eventually(Duration::from_secs(30), || {
        read(format!("{j}/api/services"), &t.read_a, None)
            .1
            .contains("svc-of-a")
    }));
    // ...and nothing of b, by any API, with its implied tenant or naming a itself.
    for url in &urls {
        for tenant in [None, Some("a")] {
            let (status, body) = read(url.clone(), &t.read_a, tenant);
            assert!(
                !body.contains("svc-of-b"),
                "{url} ({tenant:?}) showed tenant b: {status} {body}"
            );
            // b's trace by ID is not found (an answer may echo the ID it was asked for).
            if url.contains(&format!("/{trace_b}")) {
                assert_eq!(status, 404, "{url}: {body}");
            }
        }
        // Naming b is refused, saying why.
        let (status, body) = read(url.clone(), &t.read_a, Some("b"));
        assert_eq!(status, 403, "{url}: {body}");
        // (Quoted as is in plain text, escaped in Jaeger's JSON envelope.)
        assert!(
            body.contains("reader-a") && (body.contains("\"b\"") || body.contains("\\\"b\\\"")),
            "{url}: {body}"
        );
    }
    // The root token does see b through most of the same URLs (so the checks above are not
    // vacuous; tag names and derived views may not name the service).
    let shown: Vec<&String> = urls
        .iter()
        .filter(|u| {
            read((*u).clone(), &t.root, Some("b"))
                .1
                .contains("svc-of-b")
        })
        .collect();
    assert!(shown.len() >= 15, "b's service shown by only {shown:#?}");
    let (_, body) = read(format!("{h}/api/traces/{trace_b}"), &t.root, Some("b"));
    assert!(body.contains("svc-of-b"), "{body}");
    let (_, body) = read(urls[0].clone(), &t.read_a, None);
    assert!(
        body.contains(&trace_a),
        "a's search finds a's trace: {body}"
    );
    assert!(eventually(Duration::from_secs(30), || {
        read(format!("{j}/api/services"), &t.root, Some("b"))
            .1
            .contains("svc-of-b")
    }));
    // A token for a and b must name one (it does not grant the default tenant).
    let (status, body) = read(format!("{h}/api/search/tags"), &t.read_ab, None);
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("X-Scope-OrgID"), "{body}");
    let (status, body) = read(format!("{h}/api/traces/{trace_b}"), &t.read_ab, Some("b"));
    assert_eq!(status, 200, "{body}");
    // /metrics names every tenant: only a token for all of them reads it.
    let (status, body) = read(format!("{h}/metrics"), &t.read_a, None);
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("every tenant"), "{body}");
    assert_eq!(read(format!("{h}/metrics"), &t.root, None).0, 200);
}

#[test]
fn grants_are_enforced() {
    let (s, t, _dir) = start_with_tokens();
    let h = s.http_url();
    let json = [("Content-Type", "application/json")];
    // Write-only cannot read.
    let (status, body) = call(
        "GET",
        &format!("{h}/api/search/tags"),
        Some(&t.write_a),
        &[],
        None,
    );
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("writer-a") && body.contains("read"), "{body}");
    // Read cannot write, flush or change rules.
    ingest(&s, &t.write_a, "a", "svc", 3);
    let mut rng = spans::rng(4);
    let trace = spans::trace_id(&mut rng);
    let batch = spans::batch(
        "svc",
        spans::chain(&mut rng, trace, 1, 1_700_000_000_000_000_000),
    );
    let (status, body) = call(
        "POST",
        &format!("{}/v1/traces", s.otlp_http_url()),
        Some(&t.read_a),
        &[("Content-Type", "application/x-protobuf")],
        Some(batch.encode_to_vec()),
    );
    assert_eq!(status, 403, "{body}");
    let zipkin_body = br#"[{"traceId":"5af7183fb1d4cf5f","id":"6b221d5bc9e6496c","name":"x","timestamp":1700000000000000,"duration":1,"localEndpoint":{"serviceName":"z"}}]"#;
    let (status, body) = call(
        "POST",
        &format!("{}/api/v2/spans", s.zipkin_url()),
        Some(&t.read_a),
        &json,
        Some(zipkin_body.to_vec()),
    );
    assert_eq!(status, 403, "{body}");
    let (status, _) = call(
        "POST",
        &format!("{}/api/v2/spans", s.zipkin_url()),
        Some(&t.write_a),
        &json,
        Some(zipkin_body.to_vec()),
    );
    assert_eq!(status, 202);
    let flush = format!("{h}/flush");
    assert_eq!(call("POST", &flush, Some(&t.read_a), &[], None).0, 403);
    // Flushing cuts every tenant's head: an admin of one tenant may not.
    let (status, body) = call("POST", &flush, Some(&t.admin_a), &[], None);
    assert_eq!(status, 403, "{body}");
    assert_eq!(call("POST", &flush, Some(&t.root), &[], None).0, 204);
    let rule = serde_json::json!({
        "name": "r1", "kind": "traceql", "query": "{ }", "window": "1m", "above": 1, "tenant": "a"
    })
    .to_string()
    .into_bytes();
    let rules = format!("{h}/api/alerts/rules");
    assert_eq!(
        call("POST", &rules, Some(&t.read_a), &json, Some(rule.clone())).0,
        403
    );
    assert_eq!(
        call("POST", &rules, Some(&t.admin_a), &json, Some(rule.clone())).0,
        403
    );
    let (status, body) = call("POST", &rules, Some(&t.root), &json, Some(rule.clone()));
    assert_eq!(status, 201, "{body}");
    assert_eq!(call("GET", &rules, Some(&t.read_a), &[], None).0, 403);
    let (status, body) = call("GET", &rules, Some(&t.root), &[], None);
    assert_eq!(status, 200);
    assert!(body.contains("r1"), "{body}");
    let one = format!("{h}/api/alerts/rules/r1");
    assert_eq!(call("DELETE", &one, Some(&t.read_a), &[], None).0, 403);
    assert_eq!(call("DELETE", &one, Some(&t.root), &[], None).0, 204);
    // Saved views: a reader lists them, an admin of the tenant changes them.
    let view = serde_json::json!({"name": "mine", "query": "{ }"})
        .to_string()
        .into_bytes();
    let views = format!("{h}/api/views");
    assert_eq!(
        call("POST", &views, Some(&t.read_a), &json, Some(view.clone())).0,
        403
    );
    let (status, body) = call("POST", &views, Some(&t.admin_a), &json, Some(view));
    assert!(status == 200 || status == 201, "{status} {body}");
    assert_eq!(call("GET", &views, Some(&t.read_a), &[], None).0, 200);
    // whoami says what a token grants.
    let (status, body) = call(
        "GET",
        &format!("{h}/api/whoami"),
        Some(&t.read_ab),
        &[],
        None,
    );
    assert_eq!(status, 200);
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["name"], "reader-ab");
    assert_eq!(v["tenants"], serde_json::json!(["a", "b"]));
    assert_eq!(v["grants"], serde_json::json!(["read"]));
}

#[test]
fn the_token_file_is_read_again_when_it_changes() {
    let (s, t, dir) = start_with_tokens();
    let path = dir.path().join("tokens.toml");
    let url = format!("{}/api/search/tags", s.http_url());
    let (late, entry) = mint("late", "a", "read");
    assert_eq!(call("GET", &url, Some(&late), &[], None).0, 401);
    let mut text = std::fs::read_to_string(&path).unwrap();
    text.push_str(&entry);
    std::fs::write(&path, &text).unwrap();
    assert!(
        eventually(Duration::from_secs(30), || {
            call("GET", &url, Some(&late), &[], None).0 == 200
        }),
        "{}",
        s.log()
    );
    // A broken edit keeps the tokens in force; its fix revokes what it leaves out.
    std::fs::write(&path, "[[tokens]]\nname = \n").unwrap();
    assert!(
        eventually(Duration::from_secs(30), || s
            .log()
            .contains("does not read")),
        "{}",
        s.log()
    );
    assert_eq!(call("GET", &url, Some(&late), &[], None).0, 200);
    let without_late = text.replace(&entry, "");
    std::fs::write(&path, without_late).unwrap();
    assert!(eventually(Duration::from_secs(30), || {
        call("GET", &url, Some(&late), &[], None).0 == 401
    }));
    assert_eq!(call("GET", &url, Some(&t.read_a), &[], None).0, 200);
}

#[test]
fn read_and_admin_requests_are_audited() {
    let (s, t, _dir) = start_with_tokens();
    let h = s.http_url();
    call(
        "GET",
        &format!("{h}/api/search/tags"),
        Some(&t.read_a),
        &[],
        None,
    );
    call("POST", &format!("{h}/flush"), Some(&t.admin_a), &[], None);
    call("GET", &format!("{h}/api/search/tags"), None, &[], None);
    let find = |needles: &[&str]| {
        eventually(Duration::from_secs(10), || {
            s.log()
                .lines()
                .any(|l| l.contains("arbor::audit") && needles.iter().all(|n| l.contains(n)))
        })
    };
    assert!(
        find(&[
            "reader-a",
            "GET",
            "/api/search/tags",
            "tenant=a",
            "status=200"
        ]),
        "{}",
        s.log()
    );
    assert!(
        find(&["admin-a", "POST", "/flush", "status=403"]),
        "{}",
        s.log()
    );
    assert!(
        find(&["token=-", "/api/search/tags", "status=401"]),
        "{}",
        s.log()
    );
    // Ingest is not audited (one line per export would drown the rest).
    ingest(&s, &t.write_a, "a", "svc", 9);
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        !s.log()
            .lines()
            .any(|l| l.contains("arbor::audit") && l.contains("/v1/traces"))
    );
}

#[test]
fn a_non_loopback_address_needs_a_token_file_or_the_insecure_flag() {
    let dir = tempfile::tempdir().unwrap();
    let serve = |extra: &[&str]| {
        let mut cmd = Command::new(BIN);
        cmd.args(["serve", "--data-dir"])
            .arg(dir.path().join("data"))
            .args([
                "--http-listen",
                "0.0.0.0:0",
                "--otlp-grpc-listen",
                "127.0.0.1:0",
                "--otlp-http-listen",
                "127.0.0.1:0",
                "--zipkin-listen",
                "127.0.0.1:0",
                "--jaeger-listen",
                "127.0.0.1:0",
            ])
            .args(extra)
            .env_remove("ARBOR_CONFIG")
            .stdin(Stdio::null());
        cmd
    };
    let out = serve(&[]).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--insecure-no-auth") && err.contains("http_listen"),
        "{err}"
    );
    // With the flag it starts, and says what it means.
    let listen = dir.path().join("listen.json");
    let log = dir.path().join("log");
    let mut child = serve(&[
        "--insecure-no-auth",
        "--listen-file",
        listen.to_str().unwrap(),
    ])
    .stderr(std::fs::File::create(&log).unwrap())
    .stdout(Stdio::null())
    .spawn()
    .unwrap();
    let started = eventually(Duration::from_secs(60), || listen.exists());
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    let _ = child.kill();
    let _ = child.wait();
    assert!(started, "{text}");
    assert!(text.contains("without authentication"), "{text}");
    // A token file that does not read stops the start, naming it.
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "[[tokens]]\nname = \"x\"\n").unwrap();
    let err = TestServer::start(BIN, &["--auth-tokens-file", bad.to_str().unwrap()])
        .err()
        .expect("refused");
    assert!(format!("{err:#}").contains("bad.toml"), "{err:#}");
}

#[test]
fn the_cli_clients_send_a_token() {
    let (s, t, _dir) = start_with_tokens();
    let trace = ingest(&s, &t.write_a, "a", "cli-svc", 11);
    let run = |args: &[&str], token: Option<&str>| {
        let mut cmd = Command::new(BIN);
        cmd.args(args)
            .args(["--url", &s.http_url()])
            .env_remove("ARBOR_TOKEN")
            .env_remove("ARBOR_TENANT");
        if let Some(t) = token {
            cmd.env("ARBOR_TOKEN", t);
        }
        cmd.output().unwrap()
    };
    let out = run(&["query", "{ }", "--since", "1h"], None);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("Bearer"),
        "{out:?}"
    );
    let out = run(&["query", "{ }", "--since", "1h"], Some(&t.read_a));
    assert!(out.status.success(), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("cli-svc"),
        "{out:?}"
    );
    let out = run(&["trace", &trace, "--color", "never"], Some(&t.read_a));
    assert!(out.status.success(), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("cli-svc"),
        "{out:?}"
    );
}
