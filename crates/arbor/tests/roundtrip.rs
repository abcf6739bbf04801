//! Spans sent over every receiver read back by ID with every field intact.

use arbor_model::otlp::grpc::TraceServiceClient;
use arbor_model::otlp::{ExportTraceServiceRequest, Span, any_value};
use arbor_testkit::{TestServer, flatten, spans};
use prost::Message;

const BIN: &str = env!("CARGO_BIN_EXE_arbor");

fn sorted(mut v: Vec<Span>) -> Vec<Span> {
    v.sort_by(|a, b| a.span_id.cmp(&b.span_id));
    v
}

fn sent_spans(req: &ExportTraceServiceRequest) -> Vec<Span> {
    req.resource_spans
        .iter()
        .flat_map(|rs| rs.scope_spans.iter())
        .flat_map(|ss| ss.spans.iter().cloned())
        .collect()
}

#[test]
fn otlp_http_protobuf_round_trip() {
    let server = TestServer::start(BIN, &[]).unwrap();
    let mut rng = spans::rng(1);
    let trace = spans::trace_id(&mut rng);
    let req = spans::batch(
        "checkout",
        spans::chain(&mut rng, trace, 5, 1_700_000_000_000_000_000),
    );
    let (status, answer) = server.export_http(&req).unwrap();
    assert_eq!(status, 200);
    assert_eq!(answer.unwrap().partial_success, None);

    let got = server
        .trace(&hex::encode(trace))
        .unwrap()
        .expect("trace found");
    assert_eq!(got.resource_spans.len(), 1);
    let rs = &got.resource_spans[0];
    assert_eq!(
        rs.resource, req.resource_spans[0].resource,
        "resource intact"
    );
    assert_eq!(
        rs.scope_spans[0].scope, req.resource_spans[0].scope_spans[0].scope,
        "scope intact"
    );
    assert_eq!(
        sorted(flatten(&got).into_iter().map(|(_, s)| s).collect()),
        sorted(sent_spans(&req))
    );
}

#[test]
fn otlp_json_round_trip_and_id_forms() {
    let server = TestServer::start(BIN, &[]).unwrap();
    let body = serde_json::json!({
        "resourceSpans": [{
            "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "json-svc"}}]},
            "scopeSpans": [{
                "scope": {"name": "manual"},
                "spans": [{
                    "traceId": "0000000000000000000000000000ABCD",
                    "spanId": "00000000000000AA",
                    "name": "GET /",
                    "kind": "SPAN_KIND_SERVER",
                    "startTimeUnixNano": "1700000000000000000",
                    "endTimeUnixNano": 1700000000500000000u64,
                    "attributes": [
                        {"key": "http.status_code", "value": {"intValue": "503"}},
                        {"key": "retry", "value": {"boolValue": true}}
                    ],
                    "events": [{"timeUnixNano": "1700000000100000000", "name": "exception",
                                "attributes": [{"key": "exception.message", "value": {"stringValue": "boom"}}]}],
                    "status": {"code": 2, "message": "upstream failed"}
                }]
            }]
        }]
    });
    let (status, _, answer) = server
        .post(
            &format!("{}/v1/traces", server.otlp_http_url()),
            body.to_string().into_bytes(),
            &[("Content-Type", "application/json")],
        )
        .unwrap();
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&answer));
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&answer).unwrap(),
        serde_json::json!({})
    );

    // Any case, leading zeros optional, v1 and v2 shapes.
    for id in ["abcd", "ABCD", "0000000000000000000000000000abcd"] {
        let (status, v) = server.trace_json(id).unwrap();
        assert_eq!(status, 200, "{id}: {v}");
        let span = &v["batches"][0]["scopeSpans"][0]["spans"][0];
        assert_eq!(span["traceId"], "0000000000000000000000000000abcd");
        assert_eq!(span["spanId"], "00000000000000aa");
        assert_eq!(span["kind"], 2);
        assert_eq!(span["status"]["code"], 2);
        assert_eq!(span["status"]["message"], "upstream failed");
        assert_eq!(span["events"][0]["name"], "exception");
        assert_eq!(span["startTimeUnixNano"], "1700000000000000000");
    }
    let v2: serde_json::Value = server.get("/api/v2/traces/abcd").unwrap().json().unwrap();
    assert_eq!(v2["status"], "COMPLETE");
    assert_eq!(
        v2["trace"]["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["name"],
        "GET /"
    );
    let v2proto = server
        .get("/api/v2/traces/abcd")
        .map(|_| ())
        .and_then(|_| {
            let c = reqwest::blocking::Client::new();
            Ok(c.get(format!("{}/api/v2/traces/abcd", server.http_url()))
                .header("Accept", "application/protobuf")
                .send()?
                .bytes()?)
        })
        .unwrap();
    // TraceByIDResponse.trace (field 1) holds the TracesData.
    #[derive(Clone, PartialEq, prost::Message)]
    struct TraceByIdResponse {
        #[prost(message, optional, tag = "1")]
        trace: Option<arbor_model::otlp::TracesData>,
    }
    let decoded = TraceByIdResponse::decode(v2proto).unwrap();
    assert_eq!(flatten(&decoded.trace.unwrap()).len(), 1);

    // Absent and malformed IDs.
    assert_eq!(server.trace_json("1234").unwrap().0, 404);
    assert_eq!(server.get("/api/v2/traces/1234").unwrap().status(), 404);
    assert_eq!(server.trace_json("xyz").unwrap().0, 400);
    assert_eq!(server.trace_json(&"1".repeat(33)).unwrap().0, 400);
}

#[test]
fn otlp_grpc_round_trip_gzip() {
    let server = TestServer::start(BIN, &[]).unwrap();
    let mut rng = spans::rng(2);
    let trace = spans::trace_id(&mut rng);
    let req = spans::batch(
        "grpc-svc",
        spans::chain(&mut rng, trace, 3, 1_700_000_000_000_000_000),
    );
    let url = server.otlp_grpc_url();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let answer = rt.block_on(async {
        let mut client = TraceServiceClient::connect(url)
            .await
            .unwrap()
            .send_compressed(tonic::codec::CompressionEncoding::Gzip);
        client.export(req.clone()).await.unwrap().into_inner()
    });
    assert_eq!(answer.partial_success, None);
    let got = server
        .trace(&hex::encode(trace))
        .unwrap()
        .expect("trace found");
    assert_eq!(
        sorted(flatten(&got).into_iter().map(|(_, s)| s).collect()),
        sorted(sent_spans(&req))
    );
}

#[test]
fn zipkin_json_round_trip() {
    let server = TestServer::start(BIN, &[]).unwrap();
    let body = serde_json::json!([
        {
            "traceId": "5af7183fb1d4cf5f", "id": "6b221d5bc9e6496c", "name": "get /api",
            "kind": "SERVER", "timestamp": 1700000000000000u64, "duration": 207000,
            "localEndpoint": {"serviceName": "frontend", "ipv4": "192.0.2.1"},
            "tags": {"http.method": "GET", "http.path": "/api"},
            "annotations": [{"timestamp": 1700000000100000u64, "value": "cache miss"}]
        },
        {
            "traceId": "5af7183fb1d4cf5f", "parentId": "6b221d5bc9e6496c", "id": "352bff9a74ca9ad2",
            "name": "query", "kind": "CLIENT", "timestamp": 1700000000050000u64, "duration": 50000,
            "localEndpoint": {"serviceName": "backend"},
            "remoteEndpoint": {"serviceName": "postgres"},
            "tags": {"error": "timeout"}
        }
    ]);
    let (status, _, text) = server
        .post(
            &format!("{}/api/v2/spans", server.zipkin_url()),
            body.to_string().into_bytes(),
            &[("Content-Type", "application/json")],
        )
        .unwrap();
    assert_eq!(status, 202, "{}", String::from_utf8_lossy(&text));
    let got = server
        .trace("5af7183fb1d4cf5f")
        .unwrap()
        .expect("trace found");
    let spans = flatten(&got);
    assert_eq!(spans.len(), 2);
    let (svc, server_span) = spans.iter().find(|(_, s)| s.name == "get /api").unwrap();
    assert_eq!(svc, "frontend");
    assert_eq!(server_span.kind, 2, "SERVER");
    assert_eq!(server_span.start_time_unix_nano, 1_700_000_000_000_000_000);
    assert_eq!(
        server_span.end_time_unix_nano - server_span.start_time_unix_nano,
        207_000_000
    );
    assert_eq!(server_span.events[0].name, "cache miss");
    let method = server_span
        .attributes
        .iter()
        .find(|kv| kv.key == "http.method")
        .unwrap();
    assert!(matches!(
        method.value.as_ref().unwrap().value.as_ref().unwrap(),
        any_value::Value::StringValue(v) if v == "GET"
    ));
    let (svc, client_span) = spans.iter().find(|(_, s)| s.name == "query").unwrap();
    assert_eq!(svc, "backend");
    assert_eq!(
        client_span.parent_span_id, server_span.span_id,
        "parent link intact"
    );
    assert_eq!(
        client_span.status.as_ref().unwrap().code,
        2,
        "error tag makes an error status"
    );
}

#[test]
fn otlp_http_chunked_and_zstd_bodies() {
    let server = TestServer::start(BIN, &[]).unwrap();
    let mut rng = spans::rng(3);
    let url = format!("{}/v1/traces", server.otlp_http_url());
    let client = reqwest::blocking::Client::new();

    // A body from a reader has no length: reqwest sends it chunked.
    let trace = spans::trace_id(&mut rng);
    let req = spans::batch("chunked", spans::chain(&mut rng, trace, 4, 1));
    let body = reqwest::blocking::Body::new(std::io::Cursor::new(req.encode_to_vec()));
    let resp = client
        .post(&url)
        .header("Content-Type", "application/x-protobuf")
        .body(body)
        .send()
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(
        flatten(&server.trace(&hex::encode(trace)).unwrap().unwrap()).len(),
        4
    );

    let trace = spans::trace_id(&mut rng);
    let req = spans::batch("zstd", spans::chain(&mut rng, trace, 3, 1));
    let compressed = zstd_encode(&req.encode_to_vec());
    let resp = client
        .post(&url)
        .header("Content-Type", "application/x-protobuf")
        .header("Content-Encoding", "zstd")
        .body(compressed)
        .send()
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(
        flatten(&server.trace(&hex::encode(trace)).unwrap().unwrap()).len(),
        3
    );
}

fn zstd_encode(data: &[u8]) -> Vec<u8> {
    zstd::encode_all(data, 3).unwrap()
}
