//! OTLP/gRPC: `opentelemetry.proto.collector.trace.v1.TraceService/Export`, gzip or zstd
//! compressed messages accepted.
//!
//! Answers follow the OTLP spec: OK with `partial_success` for rejected spans;
//! `INVALID_ARGUMENT` for requests that will never succeed (a message that does not decode,
//! over a limit, bad tenant); `RESOURCE_EXHAUSTED` with a `RetryInfo` when the head is full
//! (OTLP exporters retry only with that detail); `UNAVAILABLE` while replaying or when the
//! log failed. A message over `limits.max_decompressed_bytes` is refused by the gRPC layer
//! (`OUT_OF_RANGE` as sent, `RESOURCE_EXHAUSTED` once decompression passes the limit — it
//! stops there, so a compression bomb costs no more than the limit).
//!
//! The service is written out here rather than generated so that its codec can answer
//! `INVALID_ARGUMENT` (not tonic's default `INTERNAL`) for malformed protobuf.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use arbor_model::otlp::{
    ExportTracePartialSuccess, ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use prost::Message;
use tonic::codec::{Codec, CompressionEncoding, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::server::{Grpc, NamedService, UnaryService};
use tonic::{Code, Request, Response, Status};

use super::budget::DECODE_EXPANSION;
use super::{RETRY_AFTER, Refused, admit_rate, refuse, submit};
use crate::metrics::Protocol;
use crate::rpc;
use crate::state::AppState;
use crate::tenant;

const PROTOCOL: Protocol = Protocol::OtlpGrpc;
const EXPORT_PATH: &str = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";

type BoxFuture<T, E> = Pin<Box<dyn Future<Output = Result<T, E>> + Send + 'static>>;

/// A decoded request and its size as received (after decompression).
pub struct Incoming {
    request: ExportTraceServiceRequest,
    bytes: usize,
}

/// Prost encoding, with decode errors reported as `INVALID_ARGUMENT`.
#[derive(Default, Clone, Copy)]
struct OtlpCodec;

struct OtlpEncoder;
struct OtlpDecoder;

impl Codec for OtlpCodec {
    type Encode = ExportTraceServiceResponse;
    type Decode = Incoming;
    type Encoder = OtlpEncoder;
    type Decoder = OtlpDecoder;

    fn encoder(&mut self) -> Self::Encoder {
        OtlpEncoder
    }

    fn decoder(&mut self) -> Self::Decoder {
        OtlpDecoder
    }
}

impl Encoder for OtlpEncoder {
    type Item = ExportTraceServiceResponse;
    type Error = Status;

    fn encode(&mut self, item: Self::Item, buf: &mut EncodeBuf<'_>) -> Result<(), Status> {
        item.encode(buf)
            .map_err(|e| Status::internal(format!("encoding the answer: {e}")))
    }
}

impl Decoder for OtlpDecoder {
    type Item = Incoming;
    type Error = Status;

    fn decode(&mut self, buf: &mut DecodeBuf<'_>) -> Result<Option<Incoming>, Status> {
        let bytes = bytes::Buf::remaining(buf);
        let request = ExportTraceServiceRequest::decode(buf).map_err(|e| {
            Status::invalid_argument(format!(
                "message is not a valid OTLP ExportTraceServiceRequest: {e}"
            ))
        })?;
        Ok(Some(Incoming { request, bytes }))
    }
}

/// The `TraceService` gRPC service.
#[derive(Clone)]
pub struct OtlpGrpc {
    state: Arc<AppState>,
}

impl NamedService for OtlpGrpc {
    const NAME: &'static str = "opentelemetry.proto.collector.trace.v1.TraceService";
}

pub fn service(state: Arc<AppState>) -> OtlpGrpc {
    OtlpGrpc { state }
}

impl<B> tower::Service<http::Request<B>> for OtlpGrpc
where
    B: http_body::Body + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync + 'static>> + Send + 'static,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = BoxFuture<Self::Response, Infallible>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        let state = self.state.clone();
        if req.uri().path() != EXPORT_PATH {
            return Box::pin(
                async move { Ok(Status::unimplemented("no such method").into_http()) },
            );
        }
        Box::pin(async move {
            let max = state.config.limits.max_decompressed_bytes.as_usize();
            let mut grpc = Grpc::new(OtlpCodec)
                .accept_compressed(CompressionEncoding::Gzip)
                .accept_compressed(CompressionEncoding::Zstd)
                .max_decoding_message_size(max);
            Ok(grpc.unary(Export { state }, req).await)
        })
    }
}

struct Export {
    state: Arc<AppState>,
}

fn to_status(r: &Refused) -> Status {
    let msg = r.message();
    match r {
        Refused::BadRequest(_) | Refused::TooLarge(_) | Refused::UnsupportedMediaType(_) => {
            Status::invalid_argument(msg)
        }
        Refused::Overloaded(_) => Status::with_details(
            Code::ResourceExhausted,
            msg.clone(),
            rpc::status_with_retry(rpc::code::RESOURCE_EXHAUSTED, &msg, RETRY_AFTER),
        ),
        Refused::RateLimited { retry_after, .. } => Status::with_details(
            Code::ResourceExhausted,
            msg.clone(),
            rpc::status_with_retry(rpc::code::RESOURCE_EXHAUSTED, &msg, *retry_after),
        ),
        Refused::NotReady | Refused::Unavailable(_) => Status::unavailable(msg),
        Refused::TimedOut(_) => Status::deadline_exceeded(msg),
    }
}

impl UnaryService<Incoming> for Export {
    type Response = ExportTraceServiceResponse;
    type Future = BoxFuture<Response<ExportTraceServiceResponse>, Status>;

    fn call(&mut self, request: Request<Incoming>) -> Self::Future {
        let state = self.state.clone();
        Box::pin(async move { export(&state, request).await })
    }
}

async fn export(
    state: &AppState,
    request: Request<Incoming>,
) -> Result<Response<ExportTraceServiceResponse>, Status> {
    let tenant =
        tenant::from_value(request.metadata().get(tenant::HEADER).map(|v| v.as_bytes()))
            .map_err(|e| to_status(&refuse(state, PROTOCOL, Refused::BadRequest(e.to_string()))))?;
    let incoming = request.into_inner();
    state.metrics.request(PROTOCOL, incoming.bytes as u64);
    admit_rate(state, PROTOCOL, &tenant, incoming.bytes).map_err(|r| to_status(&r))?;
    // Held until the request is answered.
    let mut reservation = state.inflight.start();
    state
        .inflight
        .reserve(&mut reservation, incoming.bytes * (1 + DECODE_EXPANSION))
        .map_err(|r| to_status(&refuse(state, PROTOCOL, r)))?;
    let accepted = submit(state, PROTOCOL, &tenant, incoming.request, Vec::new())
        .await
        .map_err(|r| to_status(&r))?;
    Ok(Response::new(ExportTraceServiceResponse {
        partial_success: accepted.message.map(|m| ExportTracePartialSuccess {
            rejected_spans: accepted.rejected as i64,
            error_message: m,
        }),
    }))
}
