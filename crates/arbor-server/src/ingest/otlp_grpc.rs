//! OTLP/gRPC: `opentelemetry.proto.collector.trace.v1.TraceService/Export`, gzip or zstd
//! compressed messages accepted.
//!
//! Answers follow the OTLP spec: OK with `partial_success` for rejected spans;
//! `INVALID_ARGUMENT` for requests that will never succeed (over a limit, bad tenant);
//! `RESOURCE_EXHAUSTED` with a `RetryInfo` when the head is full (OTLP exporters retry
//! only with that detail); `UNAVAILABLE` while replaying or when the log failed.
//! Message size is bounded by `limits.max_decompressed_bytes` (tonic checks it after
//! decompression).

use std::sync::Arc;

use arbor_model::otlp::grpc::{TraceService, TraceServiceServer};
use arbor_model::otlp::{ExportTracePartialSuccess, ExportTraceServiceRequest, ExportTraceServiceResponse};
use prost::Message;
use tonic::codec::CompressionEncoding;
use tonic::{Code, Request, Response, Status};

use super::{RETRY_AFTER, Refused, refuse, submit};
use crate::metrics::Protocol;
use crate::rpc;
use crate::state::AppState;
use crate::tenant;

const PROTOCOL: Protocol = Protocol::OtlpGrpc;

pub struct OtlpGrpc {
    state: Arc<AppState>,
}

/// The tonic service, with compression and size limits set.
pub fn service(state: Arc<AppState>) -> TraceServiceServer<OtlpGrpc> {
    let max = state.config.limits.max_decompressed_bytes.as_usize();
    TraceServiceServer::new(OtlpGrpc { state })
        .accept_compressed(CompressionEncoding::Gzip)
        .accept_compressed(CompressionEncoding::Zstd)
        .max_decoding_message_size(max)
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
        Refused::NotReady | Refused::Unavailable(_) => Status::unavailable(msg),
    }
}

#[tonic::async_trait]
impl TraceService for OtlpGrpc {
    async fn export(
        &self,
        request: Request<ExportTraceServiceRequest>,
    ) -> Result<Response<ExportTraceServiceResponse>, Status> {
        let state = &self.state;
        let tenant = match request.metadata().get(tenant::HEADER) {
            None => tenant::DEFAULT_TENANT.to_string(),
            Some(v) => {
                let s = v.to_str().unwrap_or("\u{fffd}");
                tenant::validate(s.trim())
                    .map(str::to_string)
                    .map_err(|e| to_status(&refuse(state, PROTOCOL, Refused::BadRequest(e.to_string()))))?
            }
        };
        let batch = request.into_inner();
        state.metrics.request(PROTOCOL, batch.encoded_len() as u64);
        let accepted = submit(state, PROTOCOL, &tenant, batch, Vec::new())
            .await
            .map_err(|r| to_status(&r))?;
        Ok(Response::new(ExportTraceServiceResponse {
            partial_success: accepted.message.map(|m| ExportTracePartialSuccess {
                rejected_spans: accepted.rejected as i64,
                error_message: m,
            }),
        }))
    }
}
