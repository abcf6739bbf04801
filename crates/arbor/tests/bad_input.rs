//! Bad input gets the documented status and a message naming what was wrong and the limit;
//! good spans in the same request are kept.

use std::io::Write;

use arbor_model::otlp::grpc::TraceServiceClient;
use arbor_model::otlp::kv_str;
use arbor_testkit::{TestServer, flatten, spans};
use prost::Message;

const BIN: &str = env!("CARGO_BIN_EXE_arbor");

fn server() -> TestServer {
    TestServer::start(
        BIN,
        &[
            "--max-request-bytes",
            "1MiB",
            "--max-decompressed-bytes",
            "4MiB",
            "--max-spans-per-request",
            "1000",
        ],
    )
    .unwrap()
}

fn post(
    s: &TestServer,
    body: Vec<u8>,
    headers: &[(&str, &str)],
) -> (u16, Vec<(String, String)>, String) {
    let (status, h, b) = s
        .post(&format!("{}/v1/traces", s.otlp_http_url()), body, headers)
        .unwrap();
    (status, h, String::from_utf8_lossy(&b).into_owned())
}

const PROTO: (&str, &str) = ("Content-Type", "application/x-protobuf");
const JSON: (&str, &str) = ("Content-Type", "application/json");

#[test]
fn malformed_bodies_and_types() {
    let s = server();
    let mut rng = spans::rng(3);
    let trace = spans::trace_id(&mut rng);
    let req = spans::batch("x", spans::chain(&mut rng, trace, 3, 1));
    let bytes = req.encode_to_vec();

    let (status, _, body) = post(&s, bytes[..bytes.len() / 2].to_vec(), &[PROTO]);
    assert_eq!(status, 400);
    assert!(body.contains("not a valid OTLP protobuf"), "{body}");

    let (status, _, body) = post(&s, b"{\"resourceSpans\": [".to_vec(), &[JSON]);
    assert_eq!(status, 400);
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .contains("not valid OTLP/JSON"),
        "{body}"
    );

    let (status, _, body) = post(&s, bytes.clone(), &[("Content-Type", "text/plain")]);
    assert_eq!(status, 415);
    assert!(
        body.contains("application/x-protobuf or application/json"),
        "{body}"
    );

    let (status, _, body) = post(&s, bytes.clone(), &[PROTO, ("Content-Encoding", "br")]);
    assert_eq!(status, 415);
    assert!(body.contains("content-encoding"), "{body}");

    let (status, _, body) = post(
        &s,
        b"not gzip".to_vec(),
        &[PROTO, ("Content-Encoding", "gzip")],
    );
    assert_eq!(status, 400);
    assert!(body.contains("gzip body does not decompress"), "{body}");

    // Zipkin: malformed JSON and wrong type.
    let (status, _, b) = s
        .post(
            &format!("{}/api/v2/spans", s.zipkin_url()),
            b"[{".to_vec(),
            &[JSON],
        )
        .unwrap();
    assert_eq!(status, 400, "{}", String::from_utf8_lossy(&b));
    let (status, _, _) = s
        .post(
            &format!("{}/api/v2/spans", s.zipkin_url()),
            b"x".to_vec(),
            &[("Content-Type", "text/csv")],
        )
        .unwrap();
    assert_eq!(status, 415);
}

#[test]
fn size_limits_and_bombs() {
    let s = server();
    let (status, _, body) = post(&s, vec![b'x'; 2 << 20], &[PROTO]);
    assert_eq!(status, 413);
    assert!(body.contains("limits.max_request_bytes"), "{body}");

    // A gzip bomb: 40 KiB on the wire, 40 MiB when inflated.
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    e.write_all(&vec![0u8; 40 << 20]).unwrap();
    let bomb = e.finish().unwrap();
    assert!(bomb.len() < 1 << 20);
    let (status, _, body) = post(&s, bomb, &[PROTO, ("Content-Encoding", "gzip")]);
    assert_eq!(status, 413);
    assert!(body.contains("limits.max_decompressed_bytes"), "{body}");

    // Too many spans: refused whole.
    let mut rng = spans::rng(4);
    let trace = spans::trace_id(&mut rng);
    let many: Vec<_> = (0..1001)
        .map(|_| spans::rich_span(&mut rng, trace, None, "s", 1))
        .collect();
    let (status, _, body) = post(&s, spans::batch("x", many).encode_to_vec(), &[PROTO]);
    assert_eq!(status, 413);
    assert!(body.contains("1001 spans, the limit is 1000"), "{body}");
    assert!(s.trace(&hex::encode(trace)).unwrap().is_none());

    // The server is still healthy.
    assert_eq!(s.get("/ready").unwrap().status(), 200);
}

#[test]
fn bad_spans_rejected_neighbours_kept() {
    let s = server();
    let mut rng = spans::rng(5);
    let trace = spans::trace_id(&mut rng);
    let good = spans::rich_span(&mut rng, trace, None, "good", 1_000);
    let mut zero_trace = spans::rich_span(&mut rng, trace, None, "zero-trace", 1_000);
    zero_trace.trace_id = vec![0; 16];
    let mut short_span = spans::rich_span(&mut rng, trace, None, "short-span", 1_000);
    short_span.span_id = vec![1, 2, 3];
    let mut backwards = spans::rich_span(&mut rng, trace, None, "backwards", 1_000);
    backwards.end_time_unix_nano = 10;
    let mut big = spans::rich_span(&mut rng, trace, None, "big-values", 1_000);
    big.attributes
        .push(kv_str("payload", &"x".repeat(100 * 1024)));
    let req = spans::batch("x", vec![good, zero_trace, short_span, backwards, big]);

    let (status, answer) = s.export_http(&req).unwrap();
    assert_eq!(status, 200);
    let partial = answer
        .unwrap()
        .partial_success
        .expect("partial success reported");
    assert_eq!(partial.rejected_spans, 3);
    let msg = partial.error_message;
    assert!(msg.contains("trace id is all zeros"), "{msg}");
    assert!(msg.contains("span id must be 8 bytes, got 3"), "{msg}");
    assert!(msg.contains("before start time"), "{msg}");
    assert!(msg.contains("1 attribute values truncated"), "{msg}");

    let got = flatten(
        &s.trace(&hex::encode(trace))
            .unwrap()
            .expect("good spans kept"),
    );
    let mut names: Vec<_> = got.iter().map(|(_, sp)| sp.name.clone()).collect();
    names.sort();
    assert_eq!(names, ["big-values", "good"]);
    let big = &got
        .iter()
        .find(|(_, sp)| sp.name == "big-values")
        .unwrap()
        .1;
    let payload = big
        .attributes
        .iter()
        .find(|kv| kv.key == "payload")
        .unwrap();
    match payload.value.as_ref().unwrap().value.as_ref().unwrap() {
        arbor_model::otlp::any_value::Value::StringValue(v) => assert_eq!(v.len(), 32 * 1024),
        other => panic!("{other:?}"),
    }

    // The same over gRPC: partial success in the answer, invalid argument for too many spans.
    let url = s.otlp_grpc_url();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut client = TraceServiceClient::connect(url).await.unwrap();
        let answer = client.export(req.clone()).await.unwrap().into_inner();
        assert_eq!(answer.partial_success.unwrap().rejected_spans, 3);
        let many: Vec<_> = (0..1001)
            .map(|_| spans::rich_span(&mut rng, trace, None, "s", 1))
            .collect();
        let err = client.export(spans::batch("x", many)).await.unwrap_err();
        assert_eq!(err.code(), tonic::Code::InvalidArgument);
        assert!(
            err.message().contains("limits.max_spans_per_request"),
            "{}",
            err.message()
        );
    });

    // Over OTLP/JSON, a span whose ID is not hex is rejected alone.
    let body = serde_json::json!({"resourceSpans": [{"scopeSpans": [{"spans": [
        {"traceId": "zz", "spanId": "0102030405060708", "name": "bad"},
        {"traceId": "11111111111111111111111111111111", "spanId": "0102030405060708", "name": "fine",
         "startTimeUnixNano": "1", "endTimeUnixNano": "2"}
    ]}]}]});
    let (status, _, text) = post(&s, body.to_string().into_bytes(), &[JSON]);
    assert_eq!(status, 200, "{text}");
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["partialSuccess"]["rejectedSpans"], "1", "{text}");
    assert!(
        s.trace("11111111111111111111111111111111")
            .unwrap()
            .is_some()
    );
}

#[test]
fn head_budget_pushes_back() {
    let s = TestServer::start(BIN, &["--head-max-bytes", "200KiB"]).unwrap();
    let mut rng = spans::rng(6);
    let mut statuses = Vec::new();
    let mut retry_after = None;
    for _ in 0..60 {
        let trace = spans::trace_id(&mut rng);
        let req = spans::batch("x", spans::chain(&mut rng, trace, 20, 1));
        let (status, headers, _) = s
            .post(
                &format!("{}/v1/traces", s.otlp_http_url()),
                req.encode_to_vec(),
                &[PROTO],
            )
            .unwrap();
        if status == 429 {
            retry_after = headers
                .iter()
                .find(|(k, _)| k == "retry-after")
                .map(|(_, v)| v.clone());
        }
        statuses.push(status);
    }
    assert_eq!(statuses[0], 200);
    assert!(statuses.contains(&429), "{statuses:?}");
    assert_eq!(retry_after.as_deref(), Some("1"));

    let url = s.otlp_grpc_url();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut client = TraceServiceClient::connect(url).await.unwrap();
        let trace = spans::trace_id(&mut rng);
        let err = client
            .export(spans::batch("x", spans::chain(&mut rng, trace, 20, 1)))
            .await
            .unwrap_err();
        assert_eq!(err.code(), tonic::Code::ResourceExhausted);
        assert!(
            err.message().contains("head.max_bytes"),
            "{}",
            err.message()
        );
        assert!(!err.details().is_empty(), "carries RetryInfo");
    });
    let metrics = s.get("/metrics").unwrap().text().unwrap();
    assert!(metrics.contains("reason=\"overloaded\"} 1"), "{metrics}");
}

/// Sends raw bytes as the Export message, to test what a real client never sends.
mod raw_grpc {
    use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
    use tonic::{Status, codegen::http};

    #[derive(Default, Clone)]
    pub struct RawCodec;
    pub struct Enc;
    pub struct Dec;

    impl Codec for RawCodec {
        type Encode = Vec<u8>;
        type Decode = Vec<u8>;
        type Encoder = Enc;
        type Decoder = Dec;
        fn encoder(&mut self) -> Enc {
            Enc
        }
        fn decoder(&mut self) -> Dec {
            Dec
        }
    }
    impl Encoder for Enc {
        type Item = Vec<u8>;
        type Error = Status;
        fn encode(&mut self, item: Vec<u8>, buf: &mut EncodeBuf<'_>) -> Result<(), Status> {
            bytes::BufMut::put_slice(buf, &item);
            Ok(())
        }
    }
    impl Decoder for Dec {
        type Item = Vec<u8>;
        type Error = Status;
        fn decode(&mut self, buf: &mut DecodeBuf<'_>) -> Result<Option<Vec<u8>>, Status> {
            let n = bytes::Buf::remaining(buf);
            Ok(Some(bytes::Buf::copy_to_bytes(buf, n).to_vec()))
        }
    }

    pub async fn export(url: String, body: Vec<u8>) -> Result<Vec<u8>, Status> {
        let channel = tonic::transport::Channel::from_shared(url)
            .unwrap()
            .connect()
            .await
            .unwrap();
        let mut grpc = tonic::client::Grpc::new(channel);
        grpc.ready().await.unwrap();
        let path = http::uri::PathAndQuery::from_static(
            "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
        );
        grpc.unary(tonic::Request::new(body), path, RawCodec)
            .await
            .map(|r| r.into_inner())
    }
}

#[test]
fn grpc_malformed_and_bombs() {
    let s = server();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let err = raw_grpc::export(s.otlp_grpc_url(), vec![0xff, 0xff, 0xff, 0x0f, 0x01])
            .await
            .unwrap_err();
        assert_eq!(err.code(), tonic::Code::InvalidArgument, "{err:?}");
        assert!(
            err.message()
                .contains("not a valid OTLP ExportTraceServiceRequest"),
            "{}",
            err.message()
        );

        // 40 MiB of zeros in one value, gzip-compressed by the client to a few KiB: the
        // server stops inflating at limits.max_decompressed_bytes (4 MiB here).
        let mut rng = spans::rng(21);
        let trace = spans::trace_id(&mut rng);
        let mut span = spans::rich_span(&mut rng, trace, None, "bomb", 1);
        span.attributes.push(kv_str("zeros", &"0".repeat(40 << 20)));
        let mut client = TraceServiceClient::connect(s.otlp_grpc_url())
            .await
            .unwrap()
            .send_compressed(tonic::codec::CompressionEncoding::Gzip)
            .max_encoding_message_size(64 << 20);
        let err = client
            .export(spans::batch("x", vec![span]))
            .await
            .unwrap_err();
        assert_eq!(err.code(), tonic::Code::ResourceExhausted, "{err:?}");
        assert!(err.message().contains("size limit"), "{}", err.message());
    });
    assert_eq!(s.get("/ready").unwrap().status(), 200);
}

#[test]
fn inflight_budget_pushes_back_while_a_slow_upload_holds_it() {
    use std::io::Write as _;
    let s = TestServer::start(
        BIN,
        &[
            "--max-request-bytes",
            "1MiB",
            "--max-decompressed-bytes",
            "1MiB",
            "--max-inflight-bytes",
            "1MiB",
        ],
    )
    .unwrap();
    // A chunked upload that has sent most of the largest body and not finished holds a
    // reservation for what it sent (memory is reserved as a body arrives, in steps).
    let mut slow = std::net::TcpStream::connect(&s.addrs.otlp_http).unwrap();
    write!(
        slow,
        "POST /v1/traces HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-protobuf\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n",
        1000 * 1024
    )
    .unwrap();
    slow.write_all(&vec![0u8; 1000 * 1024]).unwrap();
    slow.write_all(b"\r\n").unwrap();
    slow.flush().unwrap();
    // Wait until the server holds it (the gauge shows the whole budget reserved).
    let held = (0..500).any(|_| {
        let m = s.get("/metrics").unwrap().text().unwrap();
        let full = m.contains("arbor_receiver_inflight_bytes 1048576");
        if !full {
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        full
    });
    assert!(held, "the slow upload never held the budget\n{}", s.log());

    let mut rng = spans::rng(31);
    let trace = spans::trace_id(&mut rng);
    let req = spans::batch("x", spans::chain(&mut rng, trace, 2, 1));
    let mut refused = None;
    for _ in 0..50 {
        let (status, headers, body) = post(&s, req.encode_to_vec(), &[PROTO]);
        if status == 429 {
            refused = Some((headers, body));
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let (headers, body) = refused.unwrap_or_else(|| {
        panic!(
            "no request was refused while the budget was held\n{}",
            s.log()
        )
    });
    assert!(body.contains("limits.max_inflight_bytes"), "{body}");
    assert!(headers.iter().any(|(k, v)| k == "retry-after" && v == "1"));

    drop(slow);
    let mut ok = false;
    for _ in 0..100 {
        if post(&s, req.encode_to_vec(), &[PROTO]).0 == 200 {
            ok = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(
        ok,
        "the reservation is released when the slow upload goes away"
    );
}
