//! Tempo's tag APIs over the real binary: names and values from the head, then from blocks
//! after a flush, tenants kept apart, values narrowed by `q`, and a bad `q` refused.

use arbor_model::otlp::{ExportTraceServiceRequest, KeyValue, kv_int, kv_str};
use arbor_model::time::now_unix_nanos as now_ns;
use arbor_testkit::{TestServer, spans};
use prost::Message;
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_arbor");

/// A batch of `n` spans of `service`, each named `name` and carrying `attrs` on top of the
/// testkit's rich span (route, status code, bool, double, an event and a link).
fn batch(service: &str, name: &str, attrs: Vec<KeyValue>, n: usize) -> ExportTraceServiceRequest {
    let mut rng = spans::rng(name.len() as u64 + n as u64);
    let start = now_ns() - 1_000_000_000;
    let spans = (0..n)
        .map(|i| {
            let trace = spans::trace_id(&mut rng);
            let mut s = spans::rich_span(&mut rng, trace, None, name, start + i as u64);
            s.attributes.retain(|kv| kv.key != "http.route");
            s.attributes.extend(attrs.iter().cloned());
            s
        })
        .collect();
    spans::batch(service, spans)
}

fn send(s: &TestServer, tenant: &str, req: &ExportTraceServiceRequest) {
    let (status, _, body) = s
        .post(
            &format!("{}/v1/traces", s.otlp_http_url()),
            req.encode_to_vec(),
            &[
                ("Content-Type", "application/x-protobuf"),
                ("X-Scope-OrgID", tenant),
            ],
        )
        .unwrap();
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
}

/// GET with a tenant; the status and the body as JSON (or as a string).
fn get(s: &TestServer, tenant: &str, path: &str, query: &[(&str, &str)]) -> (u16, Value) {
    let resp = reqwest::blocking::Client::new()
        .get(format!("{}{path}", s.http_url()))
        .query(query)
        .header("X-Scope-OrgID", tenant)
        .send()
        .unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

fn ok(s: &TestServer, tenant: &str, path: &str, query: &[(&str, &str)]) -> Value {
    let (status, body) = get(s, tenant, path, query);
    assert_eq!(status, 200, "{path} {query:?}: {body}\n{}", s.log());
    body
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap_or_else(|| panic!("not an array: {v}"))
        .iter()
        .map(|x| x.as_str().unwrap().to_string())
        .collect()
}

/// `tags` of scope `name` in a v2 tag-names answer (empty when the scope is absent).
fn scope_tags(answer: &Value, name: &str) -> Vec<String> {
    answer["scopes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == name)
        .map(|s| strings(&s["tags"]))
        .unwrap_or_default()
}

fn typed(pairs: &[(&str, &str)]) -> Value {
    Value::Array(
        pairs
            .iter()
            .map(|(t, v)| json!({"type": t, "value": v}))
            .collect(),
    )
}

fn values_v2(s: &TestServer, tenant: &str, tag: &str, q: Option<&str>) -> Value {
    let mut query = vec![];
    if let Some(q) = q {
        query.push(("q", q));
    }
    ok(
        s,
        tenant,
        &format!("/api/v2/search/tag/{tag}/values"),
        &query,
    )["tagValues"]
        .clone()
}

/// What team-a's api and db spans give, wherever they are held.
fn check_api_and_db(s: &TestServer, from: &str) {
    let v1 = ok(s, "team-a", "/api/search/tags", &[]);
    let names = strings(&v1["tagNames"]);
    for want in [
        "http.path",
        "http.status_code",
        "cache.hit",
        "ratio",
        "db.system",
        "service.name",
        "deployment.environment",
    ] {
        assert!(
            names.contains(&want.to_string()),
            "{from}: {want} in {names:?}"
        );
    }
    assert!(
        !names.contains(&"b.only".to_string()),
        "{from}: tenants apart"
    );
    assert!(
        !names.contains(&"step".to_string()),
        "{from}: v1 lists span and resource"
    );
    let mut sorted = names.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(names, sorted, "{from}: sorted, distinct");

    let v2 = ok(s, "team-a", "/api/v2/search/tags", &[]);
    assert!(
        scope_tags(&v2, "span").contains(&"http.path".to_string()),
        "{from}: {v2}"
    );
    assert!(scope_tags(&v2, "resource").contains(&"service.name".to_string()));
    assert_eq!(scope_tags(&v2, "event"), vec!["step"], "{from}");
    assert_eq!(scope_tags(&v2, "link"), vec!["link.kind"], "{from}");
    let intrinsic = scope_tags(&v2, "intrinsic");
    for want in [
        "duration",
        "name",
        "status",
        "kind",
        "trace:id",
        "span:name",
    ] {
        assert!(intrinsic.contains(&want.to_string()), "{from}: {want}");
    }
    let only_resource = ok(s, "team-a", "/api/v2/search/tags", &[("scope", "resource")]);
    assert_eq!(
        only_resource["scopes"].as_array().unwrap().len(),
        1,
        "{from}: {only_resource}"
    );
    assert_eq!(
        scope_tags(&only_resource, "resource"),
        vec!["deployment.environment", "service.name"]
    );

    assert_eq!(
        values_v2(s, "team-a", "resource.service.name", None),
        typed(&[("string", "api"), ("string", "db")]),
        "{from}"
    );
    assert_eq!(
        values_v2(s, "team-a", "span.http.status_code", None),
        typed(&[("int", "200"), ("int", "503")]),
        "{from}"
    );
    assert_eq!(
        values_v2(s, "team-a", ".ratio", None),
        typed(&[("float", "0.25")]),
        "{from}"
    );
    assert_eq!(
        values_v2(s, "team-a", "event.step", None),
        typed(&[("string", "half")]),
        "{from}"
    );
    assert_eq!(
        values_v2(s, "team-a", "status", None),
        typed(&[
            ("keyword", "error"),
            ("keyword", "ok"),
            ("keyword", "unset")
        ])
    );
    assert_eq!(
        values_v2(s, "team-a", "name", None),
        typed(&[("string", "GET /users"), ("string", "SELECT")]),
        "{from}"
    );
    assert_eq!(
        values_v2(
            s,
            "team-a",
            "name",
            Some(r#"{ resource.service.name = "nope" }"#)
        ),
        typed(&[]),
        "{from}: a filter nothing matches"
    );
    // v1: unscoped, text only.
    let v1 = ok(s, "team-a", "/api/search/tag/service.name/values", &[]);
    assert_eq!(strings(&v1["tagValues"]), vec!["api", "db"], "{from}");
    let v1 = ok(s, "team-a", "/api/search/tag/http.status_code/values", &[]);
    assert_eq!(strings(&v1["tagValues"]), vec!["200", "503"], "{from}");

    // The other tenant sees only its own.
    assert_eq!(
        values_v2(s, "team-b", "resource.service.name", None),
        typed(&[("string", "other")]),
        "{from}"
    );
    let b = ok(s, "team-b", "/api/search/tags", &[]);
    assert!(strings(&b["tagNames"]).contains(&"b.only".to_string()));
    assert!(!strings(&b["tagNames"]).contains(&"db.system".to_string()));
    assert_eq!(
        ok(s, "nobody", "/api/search/tags", &[])["tagNames"],
        json!([]),
        "{from}: a tenant without data"
    );
}

#[test]
fn tag_names_and_values_from_head_and_blocks() {
    let s = TestServer::start(BIN, &[]).unwrap();
    send(
        &s,
        "team-a",
        &batch("api", "GET /users", vec![kv_str("http.path", "/users")], 20),
    );
    send(
        &s,
        "team-a",
        &batch(
            "db",
            "SELECT",
            vec![
                kv_str("db.system", "postgres"),
                kv_int("http.status_code", 503),
            ],
            20,
        ),
    );
    send(
        &s,
        "team-b",
        &batch("other", "b-op", vec![kv_str("b.only", "x")], 5),
    );

    // From the head.
    check_api_and_db(&s, "head");
    // In the head, a filter on the resource narrows exactly.
    assert_eq!(
        values_v2(
            &s,
            "team-a",
            "name",
            Some(r#"{ resource.service.name = "db" }"#)
        ),
        typed(&[("string", "SELECT")])
    );
    assert_eq!(
        values_v2(
            &s,
            "team-a",
            "span.http.path",
            Some(r#"{ .service.name = "db" }"#)
        ),
        typed(&[])
    );
    assert_eq!(
        values_v2(
            &s,
            "team-a",
            "resource.service.name",
            Some(r#"{ span.db.system = "postgres" }"#)
        ),
        typed(&[("string", "db")])
    );
    assert_eq!(
        values_v2(
            &s,
            "team-a",
            "name",
            Some(r#"{ span.http.status_code = 503 }"#)
        ),
        typed(&[("string", "SELECT")]),
        "an integer condition"
    );

    // From blocks: the head is cut and released.
    s.flush().unwrap();
    assert_eq!(s.metric("arbor_head_spans").unwrap(), 0.0);
    check_api_and_db(&s, "block");
    let with_metrics = ok(
        &s,
        "team-a",
        "/api/v2/search/tag/resource.service.name/values",
        &[],
    );
    assert_eq!(with_metrics["metrics"]["totalBlocks"], 1, "{with_metrics}");

    // A second block of another service: a filter skips the block that lacks it.
    send(
        &s,
        "team-a",
        &batch("web", "render", vec![kv_str("http.path", "/")], 5),
    );
    s.flush().unwrap();
    assert_eq!(
        values_v2(
            &s,
            "team-a",
            "name",
            Some(r#"{ resource.service.name = "web" }"#)
        ),
        typed(&[("string", "render")])
    );
    assert_eq!(
        values_v2(
            &s,
            "team-a",
            "name",
            Some(r#"{ resource.service.name = "web" || resource.service.name = "nope" }"#)
        ),
        typed(&[("string", "render")])
    );
    // A filter that cannot narrow lists everything (as Tempo does).
    assert_eq!(
        values_v2(&s, "team-a", "name", Some(r#"{ duration > 1ms }"#)),
        typed(&[
            ("string", "GET /users"),
            ("string", "SELECT"),
            ("string", "render")
        ])
    );

    // start/end pick blocks by time: a range long before the spans holds nothing.
    let old = ok(
        &s,
        "team-a",
        "/api/v2/search/tag/resource.service.name/values",
        &[("start", "1000"), ("end", "2000")],
    );
    assert_eq!(old["tagValues"], json!([]), "{old}");
    let now = (now_ns() / 1_000_000_000).to_string();
    let recent = ok(
        &s,
        "team-a",
        "/api/search/tag/service.name/values",
        &[("start", "1"), ("end", &now)],
    );
    assert_eq!(strings(&recent["tagValues"]), vec!["api", "db", "web"]);
    // The same range in RFC 3339 and in nanoseconds.
    let now_secs = i64::try_from(now_ns() / 1_000_000_000).unwrap();
    let now_rfc = arbor_model::time::format_secs(now_secs, 'T');
    let as_rfc = ok(
        &s,
        "team-a",
        "/api/search/tag/service.name/values",
        &[("start", "1970-01-01T00:00:01Z"), ("end", &now_rfc)],
    );
    assert_eq!(as_rfc["tagValues"], recent["tagValues"], "{now_rfc}");
    let old_ns = ok(
        &s,
        "team-a",
        "/api/search/tag/service.name/values",
        &[("start", "1000000000000000"), ("end", "2000000000000000")],
    );
    assert_eq!(old_ns["tagValues"], json!([]), "{old_ns}");

    // limit cuts the list short.
    let limited = ok(
        &s,
        "team-a",
        "/api/search/tag/service.name/values",
        &[("limit", "2")],
    );
    assert_eq!(strings(&limited["tagValues"]).len(), 2, "{limited}");

    // Bad requests.
    let (status, body) = get(
        &s,
        "team-a",
        "/api/v2/search/tag/name/values",
        &[("q", "{ .a = }")],
    );
    assert_eq!(status, 400, "{body}");
    assert!(
        body.as_str().unwrap().contains("invalid TraceQL query"),
        "{body}"
    );
    let (status, body) = get(&s, "team-a", "/api/v2/search/tags", &[("scope", "bogus")]);
    assert_eq!(status, 400, "{body}");
    let (status, _) = get(&s, "team-a", "/api/v2/search/tag/{nope/values", &[]);
    assert_eq!(status, 400);
    let (status, body) = get(&s, "team-a", "/api/search/tags", &[("start", "yesterday")]);
    assert_eq!(status, 400);
    assert!(
        body.as_str().unwrap().contains("RFC 3339"),
        "says what a time may be: {body}"
    );
}
