//! Sending encoded OTLP requests: over OTLP/gRPC (the bytes go out as encoded, no
//! re-encoding per request), or OTLP/HTTP with protobuf or JSON bodies. Used by `arbor gen`
//! and `arbor bench`.

use std::time::Duration;

use anyhow::Context;
use arbor_model::otlp::{ExportTraceServiceRequest, ExportTraceServiceResponse};
use bytes::Bytes;
use clap::ValueEnum;
use prost::Message;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::codegen::http::uri::PathAndQuery;

/// How requests are sent; the names are those of `OTEL_EXPORTER_OTLP_PROTOCOL`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Protocol {
    /// OTLP/gRPC (default port 4317).
    Grpc,
    /// OTLP/HTTP with protobuf bodies (default port 4318).
    #[value(name = "http/protobuf")]
    HttpProtobuf,
    /// OTLP/HTTP with JSON bodies (default port 4318).
    #[value(name = "http/json")]
    HttpJson,
}

impl Protocol {
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Grpc => "grpc",
            Protocol::HttpProtobuf => "http/protobuf",
            Protocol::HttpJson => "http/json",
        }
    }

    pub fn default_endpoint(self) -> &'static str {
        match self {
            Protocol::Grpc => "http://127.0.0.1:4317",
            _ => "http://127.0.0.1:4318",
        }
    }

    /// The request body (or gRPC message) for this protocol.
    pub fn encode(self, req: &ExportTraceServiceRequest) -> Bytes {
        match self {
            Protocol::HttpJson => Bytes::from(encode_json(req)),
            _ => Bytes::from(req.encode_to_vec()),
        }
    }
}

/// An OTLP/JSON `ExportTraceServiceRequest` body.
pub fn encode_json(req: &ExportTraceServiceRequest) -> Vec<u8> {
    let rs: Vec<serde_json::Value> = req
        .resource_spans
        .iter()
        .map(arbor_model::otlp_json::encode_resource_spans)
        .collect();
    serde_json::to_vec(&serde_json::json!({ "resourceSpans": rs })).unwrap_or_default()
}

/// Why a request was not accepted.
#[derive(Debug)]
pub enum SendError {
    /// The server pushed back (429/503, RESOURCE_EXHAUSTED/UNAVAILABLE): try again later.
    Retry(Option<Duration>),
    /// Anything else: the request is lost.
    Failed(String),
}

/// One connection's worth of sending. Cheap to clone (clones share the connection pool).
#[derive(Clone)]
pub struct Sender {
    inner: Inner,
    tenant: Option<String>,
}

#[derive(Clone)]
enum Inner {
    Grpc(tonic::client::Grpc<tonic::transport::Channel>),
    Http {
        client: reqwest::Client,
        url: String,
        content_type: &'static str,
    },
}

impl Sender {
    pub async fn connect(
        protocol: Protocol,
        endpoint: &str,
        tenant: Option<String>,
    ) -> anyhow::Result<Self> {
        let endpoint = endpoint.trim_end_matches('/');
        let inner = match protocol {
            Protocol::Grpc => {
                let channel = tonic::transport::Endpoint::from_shared(endpoint.to_string())
                    .with_context(|| format!("invalid endpoint {endpoint:?}"))?
                    .timeout(Duration::from_secs(60))
                    .connect()
                    .await
                    .with_context(|| format!("connecting to {endpoint}"))?;
                Inner::Grpc(tonic::client::Grpc::new(channel))
            }
            Protocol::HttpProtobuf | Protocol::HttpJson => Inner::Http {
                client: reqwest::Client::builder()
                    .timeout(Duration::from_secs(60))
                    .build()?,
                // The endpoint is a base URL, as OTEL_EXPORTER_OTLP_ENDPOINT is.
                url: if endpoint.ends_with("/v1/traces") {
                    endpoint.to_string()
                } else {
                    format!("{endpoint}/v1/traces")
                },
                content_type: if protocol == Protocol::HttpJson {
                    "application/json"
                } else {
                    "application/x-protobuf"
                },
            },
        };
        Ok(Self { inner, tenant })
    }

    /// Sends one encoded request; returns the spans the server rejected (partial success).
    pub async fn send(&mut self, body: Bytes) -> Result<i64, SendError> {
        match &mut self.inner {
            Inner::Grpc(grpc) => {
                grpc.ready()
                    .await
                    .map_err(|e| SendError::Failed(format!("grpc connection: {e}")))?;
                let mut req = tonic::Request::new(body);
                if let Some(t) = &self.tenant
                    && let Ok(v) = t.parse()
                {
                    req.metadata_mut().insert("x-scope-orgid", v);
                }
                let path = PathAndQuery::from_static(
                    "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
                );
                match grpc.unary(req, path, RawCodec).await {
                    Ok(resp) => Ok(rejected(&resp.into_inner())),
                    Err(s)
                        if matches!(
                            s.code(),
                            tonic::Code::ResourceExhausted | tonic::Code::Unavailable
                        ) =>
                    {
                        Err(SendError::Retry(None))
                    }
                    Err(s) => Err(SendError::Failed(format!(
                        "grpc {:?}: {}",
                        s.code(),
                        s.message()
                    ))),
                }
            }
            Inner::Http {
                client,
                url,
                content_type,
            } => {
                let mut req = client
                    .post(url.as_str())
                    .header("Content-Type", *content_type)
                    .body(body);
                if let Some(t) = &self.tenant {
                    req = req.header("X-Scope-OrgID", t);
                }
                let resp = req
                    .send()
                    .await
                    .map_err(|e| SendError::Failed(format!("POST {url}: {e}")))?;
                let status = resp.status().as_u16();
                let retry_after = resp
                    .headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse::<u64>().ok())
                    .map(Duration::from_secs);
                let body = resp.bytes().await.unwrap_or_default();
                match status {
                    200 => {
                        let answer = if *content_type == "application/json" {
                            serde_json::from_slice::<serde_json::Value>(&body)
                                .ok()
                                .and_then(|v| {
                                    let r = &v["partialSuccess"]["rejectedSpans"];
                                    r.as_i64().or_else(|| r.as_str()?.parse().ok())
                                })
                                .unwrap_or(0)
                        } else {
                            ExportTraceServiceResponse::decode(&body[..])
                                .map(|r| rejected(&r))
                                .unwrap_or(0)
                        };
                        Ok(answer)
                    }
                    429 | 502 | 503 | 504 => Err(SendError::Retry(retry_after)),
                    _ => Err(SendError::Failed(format!(
                        "POST {url}: {status} {}",
                        String::from_utf8_lossy(&body).trim()
                    ))),
                }
            }
        }
    }

    /// Sends, retrying push-back with a growing pause (at most `attempts` tries); returns
    /// the rejected spans and the retries made.
    pub async fn send_with_retries(
        &mut self,
        body: Bytes,
        attempts: u32,
    ) -> Result<(i64, u32), SendError> {
        let mut pause = Duration::from_millis(50);
        for retry in 0..attempts {
            match self.send(body.clone()).await {
                Ok(rejected) => return Ok((rejected, retry)),
                Err(SendError::Retry(after)) if retry + 1 < attempts => {
                    tokio::time::sleep(after.unwrap_or(pause)).await;
                    pause = (pause * 2).min(Duration::from_secs(5));
                }
                Err(e) => return Err(e),
            }
        }
        Err(SendError::Failed("no attempts".into()))
    }
}

fn rejected(r: &ExportTraceServiceResponse) -> i64 {
    r.partial_success.as_ref().map_or(0, |p| p.rejected_spans)
}

/// A gRPC codec that sends bytes already holding an encoded `ExportTraceServiceRequest`,
/// so a load generator spends no CPU re-encoding what it already encoded once.
#[derive(Clone, Copy)]
struct RawCodec;

impl Codec for RawCodec {
    type Encode = Bytes;
    type Decode = ExportTraceServiceResponse;
    type Encoder = RawCodec;
    type Decoder = RawCodec;
    fn encoder(&mut self) -> Self::Encoder {
        RawCodec
    }
    fn decoder(&mut self) -> Self::Decoder {
        RawCodec
    }
}

impl Encoder for RawCodec {
    type Item = Bytes;
    type Error = tonic::Status;
    fn encode(&mut self, item: Bytes, dst: &mut EncodeBuf<'_>) -> Result<(), Self::Error> {
        bytes::BufMut::put_slice(dst, &item);
        Ok(())
    }
}

impl Decoder for RawCodec {
    type Item = ExportTraceServiceResponse;
    type Error = tonic::Status;
    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Self::Item>, Self::Error> {
        ExportTraceServiceResponse::decode(src)
            .map(Some)
            .map_err(|e| tonic::Status::internal(format!("decoding the answer: {e}")))
    }
}
