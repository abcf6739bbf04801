//! Refusals of the auth checks in each protocol's own shape, against the real binary: a 401
//! carries `WWW-Authenticate: Bearer` everywhere; OTLP/HTTP answers a `google.rpc.Status`
//! in protobuf or JSON as the request was (UNAUTHENTICATED 16, PERMISSION_DENIED 7);
//! OTLP/gRPC a gRPC status; the Jaeger query API its JSON envelope (its API v3 its error
//! object); the Tempo API, ours and Zipkin plain text.

use std::time::Duration;

use arbor_model::otlp::grpc::TraceServiceClient;
use arbor_server::rpc::RpcStatus;
use arbor_testkit::{TestServer, spans};
use prost::Message;
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_arbor");

fn mint(name: &str, tenants: &str, grants: &str) -> (String, String) {
    arbor_testkit::mint_token(
        BIN,
        &["--name", name, "--tenant", tenants, "--grant", grants],
    )
}

struct Answer {
    status: u16,
    content_type: String,
    www_authenticate: Option<String>,
    body: Vec<u8>,
}

fn call(method: &str, url: &str, headers: &[(&str, &str)], body: Vec<u8>) -> Answer {
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap();
    let mut req = client.request(method.parse().unwrap(), url).body(body);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = req.send().unwrap();
    let header = |n: &str| {
        resp.headers()
            .get(n)
            .map(|v| v.to_str().unwrap().to_string())
    };
    Answer {
        status: resp.status().as_u16(),
        content_type: header("content-type").unwrap_or_default(),
        www_authenticate: header("www-authenticate"),
        body: resp.bytes().unwrap().to_vec(),
    }
}

fn json(a: &Answer) -> Value {
    serde_json::from_slice(&a.body)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&a.body)))
}

#[test]
fn each_protocol_refuses_in_its_own_shape() {
    let dir = tempfile::tempdir().unwrap();
    let (writer, entry) = mint("writer-a", "a", "write");
    let path = dir.path().join("tokens.toml");
    std::fs::write(&path, entry).unwrap();
    let server = TestServer::start(BIN, &["--auth-tokens-file", path.to_str().unwrap()]).unwrap();
    let mut rng = spans::rng(1);
    let trace = spans::trace_id(&mut rng);
    let body = spans::batch(
        "shapes",
        spans::chain(&mut rng, trace, 1, 1_700_000_000_000_000_000),
    )
    .encode_to_vec();
    let otlp = format!("{}/v1/traces", server.otlp_http_url());

    // OTLP/HTTP, protobuf: a google.rpc.Status in protobuf.
    let a = call(
        "POST",
        &otlp,
        &[("Content-Type", "application/x-protobuf")],
        body.clone(),
    );
    assert_eq!(a.status, 401);
    assert_eq!(a.www_authenticate.as_deref(), Some("Bearer"));
    assert_eq!(a.content_type, "application/x-protobuf");
    let st = RpcStatus::decode(&a.body[..]).unwrap();
    assert_eq!(st.code, 16, "UNAUTHENTICATED");
    assert!(
        st.message.contains("Authorization: Bearer"),
        "{}",
        st.message
    );

    // OTLP/HTTP, JSON: the same in JSON; a tenant the token lacks: PERMISSION_DENIED.
    let bearer = format!("Bearer {writer}");
    let a = call(
        "POST",
        &otlp,
        &[
            ("Content-Type", "application/json"),
            ("Authorization", &bearer),
            ("X-Scope-OrgID", "b"),
        ],
        b"{}".to_vec(),
    );
    assert_eq!(a.status, 403);
    assert!(a.www_authenticate.is_none());
    assert_eq!(a.content_type, "application/json");
    let v = json(&a);
    assert_eq!(v["code"], 7, "{v}");
    assert!(v["message"].as_str().unwrap().contains("writer-a"), "{v}");
    let a = call(
        "POST",
        &otlp,
        &[("Content-Type", "application/json")],
        b"{}".to_vec(),
    );
    assert_eq!((a.status, json(&a)["code"].as_i64()), (401, Some(16)));

    // OTLP/gRPC: a gRPC status.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let status = rt.block_on(async {
        let mut client = TraceServiceClient::connect(server.otlp_grpc_url())
            .await
            .unwrap();
        let req = arbor_model::otlp::ExportTraceServiceRequest::decode(&body[..]).unwrap();
        client.export(req).await.unwrap_err()
    });
    assert_eq!(status.code(), tonic::Code::Unauthenticated);
    assert!(status.message().contains("Bearer"), "{}", status.message());

    // Jaeger: its envelope; its API v3: its error object.
    let a = call(
        "GET",
        &format!("{}/api/services", server.jaeger_url()),
        &[],
        vec![],
    );
    assert_eq!(a.status, 401);
    assert_eq!(a.www_authenticate.as_deref(), Some("Bearer"));
    let v = json(&a);
    assert_eq!(v["data"], Value::Null, "{v}");
    assert_eq!(
        (
            v["total"].as_i64(),
            v["limit"].as_i64(),
            v["offset"].as_i64()
        ),
        (Some(0), Some(0), Some(0))
    );
    assert_eq!(v["errors"][0]["code"], 401, "{v}");
    assert!(
        v["errors"][0]["msg"].as_str().unwrap().contains("Bearer"),
        "{v}"
    );
    let a = call(
        "GET",
        &format!("{}/api/v3/services", server.jaeger_url()),
        &[],
        vec![],
    );
    assert_eq!(a.status, 401);
    let v = json(&a);
    assert_eq!(v["error"]["httpCode"], 401, "{v}");
    assert!(
        v["error"]["message"].as_str().unwrap().contains("Bearer"),
        "{v}"
    );

    // The Tempo API (and ours) and Zipkin: plain text, like their other errors.
    for url in [
        format!("{}/api/search", server.http_url()),
        format!("{}/api/v2/services", server.zipkin_url()),
    ] {
        let a = call("GET", &url, &[], vec![]);
        assert_eq!(a.status, 401, "{url}");
        assert_eq!(a.www_authenticate.as_deref(), Some("Bearer"), "{url}");
        assert!(
            a.content_type.starts_with("text/plain"),
            "{url}: {}",
            a.content_type
        );
        assert!(String::from_utf8_lossy(&a.body).contains("Bearer"), "{url}");
    }
}
