//! The derived series a block keeps beside its spans (`derived.pb`): every frame of the
//! spans the block holds, protobuf-encoded and zstd-compressed. Label sets are written once
//! in tables and referred to by position.
//!
//! Sidecars of blocks compacted together are merged by adding their frames; frames older
//! than a day are rolled up to 5 minutes, older than a week to an hour
//! ([`merge_sidecars`]).

use std::collections::HashMap;
use std::sync::Arc;

use prost::Message;

use crate::figures::{
    Dims, EdgeFigures, EdgeKey, EndpointFigures, EndpointKey, FunctionFigures, FunctionKey,
    Histogram, LATENCY_BUCKETS, OVERFLOW, SpanFigures, SpanKey, Timeline,
};

/// The file name of a block's derived series.
pub const FILE: &str = "derived.pb";

const VERSION: u32 = 1;
const SECOND: u64 = 1_000_000_000;

/// A block's derived series, read back.
#[derive(Debug, Clone, Default)]
pub struct Sidecar {
    /// Head generations whose figures this holds (so the live copy of one is not counted
    /// twice while its block is being published).
    pub generations: Vec<u64>,
    pub frames: Timeline,
}

#[derive(Clone, PartialEq, Message)]
struct SidecarPb {
    #[prost(uint32, tag = "1")]
    version: u32,
    #[prost(uint64, repeated, tag = "2")]
    generations: Vec<u64>,
    #[prost(message, repeated, tag = "3")]
    span_keys: Vec<SpanKeyPb>,
    #[prost(message, repeated, tag = "4")]
    edge_keys: Vec<EdgeKeyPb>,
    #[prost(message, repeated, tag = "5")]
    function_keys: Vec<FunctionKeyPb>,
    #[prost(message, repeated, tag = "6")]
    endpoint_keys: Vec<EndpointKeyPb>,
    #[prost(message, repeated, tag = "7")]
    frames: Vec<FramePb>,
}

#[derive(Clone, PartialEq, Message)]
struct DimsPb {
    #[prost(string, tag = "1")]
    namespace: String,
    #[prost(string, tag = "2")]
    environment: String,
    #[prost(string, tag = "3")]
    region: String,
}

#[derive(Clone, PartialEq, Message)]
struct SpanKeyPb {
    #[prost(string, tag = "1")]
    service: String,
    #[prost(string, tag = "2")]
    span_name: String,
    #[prost(string, tag = "3")]
    span_kind: String,
    #[prost(string, tag = "4")]
    status_code: String,
    #[prost(message, optional, tag = "5")]
    dims: Option<DimsPb>,
    #[prost(string, repeated, tag = "6")]
    extra: Vec<String>,
}

#[derive(Clone, PartialEq, Message)]
struct EdgeKeyPb {
    #[prost(string, tag = "1")]
    client: String,
    #[prost(string, tag = "2")]
    server: String,
    #[prost(string, tag = "3")]
    connection_type: String,
}

#[derive(Clone, PartialEq, Message)]
struct FunctionKeyPb {
    #[prost(string, tag = "1")]
    function: String,
    #[prost(string, tag = "2")]
    service: String,
    #[prost(message, optional, tag = "3")]
    dims: Option<DimsPb>,
}

#[derive(Clone, PartialEq, Message)]
struct EndpointKeyPb {
    #[prost(string, tag = "1")]
    service: String,
    #[prost(string, tag = "2")]
    method: String,
    #[prost(string, tag = "3")]
    route: String,
    #[prost(message, optional, tag = "4")]
    dims: Option<DimsPb>,
}

#[derive(Clone, PartialEq, Message)]
struct HistPb {
    #[prost(uint64, repeated, tag = "1")]
    counts: Vec<u64>,
    #[prost(double, tag = "2")]
    sum: f64,
}

#[derive(Clone, PartialEq, Message)]
struct FramePb {
    #[prost(uint64, tag = "1")]
    start_ns: u64,
    #[prost(uint64, tag = "2")]
    width_ns: u64,
    #[prost(message, repeated, tag = "3")]
    spans: Vec<SpanRowPb>,
    #[prost(message, repeated, tag = "4")]
    edges: Vec<EdgeRowPb>,
    #[prost(message, repeated, tag = "5")]
    functions: Vec<FunctionRowPb>,
    #[prost(message, repeated, tag = "6")]
    endpoints: Vec<EndpointRowPb>,
    #[prost(message, repeated, tag = "7")]
    errors: Vec<ErrorRowPb>,
}

#[derive(Clone, PartialEq, Message)]
struct ErrorRowPb {
    /// A function's label set.
    #[prost(uint32, tag = "1")]
    key: u32,
    #[prost(string, tag = "2")]
    message: String,
    #[prost(uint64, tag = "3")]
    count: u64,
}

#[derive(Clone, PartialEq, Message)]
struct SpanRowPb {
    #[prost(uint32, tag = "1")]
    key: u32,
    #[prost(uint64, tag = "2")]
    calls: u64,
    #[prost(uint64, tag = "3")]
    errors: u64,
    #[prost(message, optional, tag = "4")]
    latency: Option<HistPb>,
}

#[derive(Clone, PartialEq, Message)]
struct EdgeRowPb {
    #[prost(uint32, tag = "1")]
    key: u32,
    #[prost(uint64, tag = "2")]
    requests: u64,
    #[prost(uint64, tag = "3")]
    failed: u64,
    #[prost(message, optional, tag = "4")]
    client: Option<HistPb>,
    #[prost(message, optional, tag = "5")]
    server: Option<HistPb>,
}

#[derive(Clone, PartialEq, Message)]
struct FunctionRowPb {
    #[prost(uint32, tag = "1")]
    key: u32,
    #[prost(uint64, tag = "2")]
    invocations: u64,
    #[prost(uint64, tag = "3")]
    errors: u64,
    #[prost(uint64, tag = "4")]
    timeouts: u64,
    #[prost(uint64, tag = "5")]
    cold_starts: u64,
    #[prost(message, optional, tag = "6")]
    duration: Option<HistPb>,
    #[prost(message, optional, tag = "7")]
    duration_warm: Option<HistPb>,
    #[prost(double, tag = "8")]
    memory_used_mb: f64,
    #[prost(double, tag = "9")]
    memory_configured_mb: f64,
    #[prost(uint64, tag = "10")]
    memory_samples: u64,
    #[prost(double, tag = "11")]
    gb_seconds: f64,
}

#[derive(Clone, PartialEq, Message)]
struct EndpointRowPb {
    #[prost(uint32, tag = "1")]
    key: u32,
    #[prost(uint64, tag = "2")]
    requests: u64,
    #[prost(uint64, tag = "3")]
    errors: u64,
    #[prost(uint64, repeated, tag = "4")]
    status: Vec<u64>,
    #[prost(message, optional, tag = "5")]
    latency: Option<HistPb>,
}

/// Gives each distinct label set a position, once.
struct Table<K, P> {
    index: HashMap<Arc<K>, u32>,
    rows: Vec<P>,
}

impl<K: Eq + std::hash::Hash, P> Table<K, P> {
    fn new() -> Self {
        Self {
            index: HashMap::new(),
            rows: Vec::new(),
        }
    }

    fn at(&mut self, k: &Arc<K>, encode: impl FnOnce(&K) -> P) -> u32 {
        if let Some(&i) = self.index.get(k) {
            return i;
        }
        let i = self.rows.len() as u32;
        self.rows.push(encode(k));
        self.index.insert(k.clone(), i);
        i
    }
}

fn dims_pb(d: &Dims) -> Option<DimsPb> {
    Some(DimsPb {
        namespace: d.namespace.clone(),
        environment: d.environment.clone(),
        region: d.region.clone(),
    })
}

fn dims(d: Option<DimsPb>) -> Dims {
    d.map(|d| Dims {
        namespace: d.namespace,
        environment: d.environment,
        region: d.region,
    })
    .unwrap_or_default()
}

fn hist_pb(h: &Histogram) -> Option<HistPb> {
    Some(HistPb {
        counts: h.counts.to_vec(),
        sum: h.sum,
    })
}

fn hist(h: Option<HistPb>) -> Histogram {
    let mut out = Histogram::default();
    if let Some(h) = h {
        for (a, b) in out.counts.iter_mut().zip(h.counts) {
            *a = b;
        }
        out.sum = h.sum;
        out.count = out.counts.iter().sum();
    }
    out
}

/// The `&'static` label for a kind or status read back (unknown text: unspecified).
fn label(s: &str) -> &'static str {
    const KNOWN: [&str; 10] = [
        "SPAN_KIND_UNSPECIFIED",
        "SPAN_KIND_INTERNAL",
        "SPAN_KIND_SERVER",
        "SPAN_KIND_CLIENT",
        "SPAN_KIND_PRODUCER",
        "SPAN_KIND_CONSUMER",
        "STATUS_CODE_UNSET",
        "STATUS_CODE_OK",
        "STATUS_CODE_ERROR",
        OVERFLOW,
    ];
    KNOWN.iter().find(|k| **k == s).copied().unwrap_or("")
}

fn connection(s: &str) -> &'static str {
    ["virtual_node", "database", "messaging_system", OVERFLOW]
        .iter()
        .find(|k| **k == s)
        .copied()
        .unwrap_or("")
}

/// Encodes frames of the given generations.
pub fn encode(generations: &[u64], frames: &Timeline) -> Vec<u8> {
    let mut spans = Table::new();
    let mut edges = Table::new();
    let mut functions = Table::new();
    let mut endpoints = Table::new();
    let mut out = Vec::with_capacity(frames.len());
    for (&(start_ns, width_ns), f) in frames {
        if f.is_empty() {
            continue;
        }
        let mut fp = FramePb {
            start_ns,
            width_ns,
            ..Default::default()
        };
        for (k, v) in &f.spans {
            fp.spans.push(SpanRowPb {
                key: spans.at(k, |k: &SpanKey| SpanKeyPb {
                    service: k.service.clone(),
                    span_name: k.span_name.clone(),
                    span_kind: k.span_kind.into(),
                    status_code: k.status_code.into(),
                    dims: dims_pb(&k.dims),
                    extra: k.extra.clone(),
                }),
                calls: v.calls,
                errors: v.errors,
                latency: hist_pb(&v.latency),
            });
        }
        for (k, v) in &f.edges {
            fp.edges.push(EdgeRowPb {
                key: edges.at(k, |k: &EdgeKey| EdgeKeyPb {
                    client: k.client.clone(),
                    server: k.server.clone(),
                    connection_type: k.connection_type.into(),
                }),
                requests: v.requests,
                failed: v.failed,
                client: hist_pb(&v.client_latency),
                server: hist_pb(&v.server_latency),
            });
        }
        for (k, v) in &f.functions {
            fp.functions.push(FunctionRowPb {
                key: functions.at(k, |k: &FunctionKey| FunctionKeyPb {
                    function: k.function.clone(),
                    service: k.service.clone(),
                    dims: dims_pb(&k.dims),
                }),
                invocations: v.invocations,
                errors: v.errors,
                timeouts: v.timeouts,
                cold_starts: v.cold_starts,
                duration: hist_pb(&v.duration),
                duration_warm: hist_pb(&v.duration_warm),
                memory_used_mb: v.memory_used_mb,
                memory_configured_mb: v.memory_configured_mb,
                memory_samples: v.memory_samples,
                gb_seconds: v.gb_seconds,
            });
        }
        for (k, v) in &f.endpoints {
            fp.endpoints.push(EndpointRowPb {
                key: endpoints.at(k, |k: &EndpointKey| EndpointKeyPb {
                    service: k.service.clone(),
                    method: k.method.clone(),
                    route: k.route.clone(),
                    dims: dims_pb(&k.dims),
                }),
                requests: v.requests,
                errors: v.errors,
                status: v.status.to_vec(),
                latency: hist_pb(&v.latency),
            });
        }
        for (k, messages) in &f.errors {
            let key = functions.at(k, |k: &FunctionKey| FunctionKeyPb {
                function: k.function.clone(),
                service: k.service.clone(),
                dims: dims_pb(&k.dims),
            });
            for (message, count) in messages {
                fp.errors.push(ErrorRowPb {
                    key,
                    message: message.clone(),
                    count: *count,
                });
            }
        }
        out.push(fp);
    }
    let pb = SidecarPb {
        version: VERSION,
        generations: generations.to_vec(),
        span_keys: spans.rows,
        edge_keys: edges.rows,
        function_keys: functions.rows,
        endpoint_keys: endpoints.rows,
        frames: out,
    };
    zstd::bulk::compress(&pb.encode_to_vec(), 3).expect("compressing to memory")
}

/// Largest sidecar read back, decompressed.
const MAX_DECODED: usize = 1 << 30;

fn key<T: Clone>(table: &[T], i: u32) -> Result<T, String> {
    table
        .get(i as usize)
        .cloned()
        .ok_or_else(|| format!("label set {i} is not in the table"))
}

/// About how many bytes of memory a sidecar read from `bytes` takes: three times its
/// decoded protobuf (label sets become shared keys, frames maps), from the frame header,
/// without decompressing.
pub fn memory_estimate(bytes: &[u8]) -> usize {
    let raw = zstd::zstd_safe::get_frame_content_size(bytes)
        .ok()
        .flatten()
        .map_or(bytes.len().saturating_mul(8), |n| {
            usize::try_from(n).unwrap_or(usize::MAX)
        });
    raw.saturating_mul(3)
}

/// Reads a sidecar back.
pub fn decode(bytes: &[u8]) -> Result<Sidecar, String> {
    let raw = zstd::bulk::decompress(bytes, MAX_DECODED).map_err(|e| format!("zstd: {e}"))?;
    let pb = SidecarPb::decode(raw.as_slice()).map_err(|e| format!("protobuf: {e}"))?;
    if pb.version != VERSION {
        return Err(format!(
            "version {} (this build reads {VERSION})",
            pb.version
        ));
    }
    let span_keys: Vec<Arc<SpanKey>> = pb
        .span_keys
        .into_iter()
        .map(|k| {
            Arc::new(SpanKey {
                service: k.service,
                span_name: k.span_name,
                span_kind: label(&k.span_kind),
                status_code: label(&k.status_code),
                dims: dims(k.dims),
                extra: k.extra,
            })
        })
        .collect();
    let edge_keys: Vec<Arc<EdgeKey>> = pb
        .edge_keys
        .into_iter()
        .map(|k| {
            Arc::new(EdgeKey {
                client: k.client,
                server: k.server,
                connection_type: connection(&k.connection_type),
            })
        })
        .collect();
    let function_keys: Vec<Arc<FunctionKey>> = pb
        .function_keys
        .into_iter()
        .map(|k| {
            Arc::new(FunctionKey {
                function: k.function,
                service: k.service,
                dims: dims(k.dims),
            })
        })
        .collect();
    let endpoint_keys: Vec<Arc<EndpointKey>> = pb
        .endpoint_keys
        .into_iter()
        .map(|k| {
            Arc::new(EndpointKey {
                service: k.service,
                method: k.method,
                route: k.route,
                dims: dims(k.dims),
            })
        })
        .collect();
    let mut frames = Timeline::new();
    for fp in pb.frames {
        let f = frames.entry((fp.start_ns, fp.width_ns)).or_default();
        for r in fp.spans {
            f.spans
                .entry(key(&span_keys, r.key)?)
                .or_default()
                .merge(&SpanFigures {
                    calls: r.calls,
                    errors: r.errors,
                    latency: hist(r.latency),
                });
        }
        for r in fp.edges {
            f.edges
                .entry(key(&edge_keys, r.key)?)
                .or_default()
                .merge(&EdgeFigures {
                    requests: r.requests,
                    failed: r.failed,
                    client_latency: hist(r.client),
                    server_latency: hist(r.server),
                });
        }
        for r in fp.functions {
            f.functions
                .entry(key(&function_keys, r.key)?)
                .or_default()
                .merge(&FunctionFigures {
                    invocations: r.invocations,
                    errors: r.errors,
                    timeouts: r.timeouts,
                    cold_starts: r.cold_starts,
                    duration: hist(r.duration),
                    duration_warm: hist(r.duration_warm),
                    memory_used_mb: r.memory_used_mb,
                    memory_configured_mb: r.memory_configured_mb,
                    memory_samples: r.memory_samples,
                    gb_seconds: r.gb_seconds,
                });
        }
        for r in fp.endpoints {
            let mut status = [0u64; 6];
            for (a, b) in status.iter_mut().zip(r.status) {
                *a = b;
            }
            f.endpoints
                .entry(key(&endpoint_keys, r.key)?)
                .or_default()
                .merge(&EndpointFigures {
                    requests: r.requests,
                    errors: r.errors,
                    status,
                    latency: hist(r.latency),
                });
        }
        for r in fp.errors {
            let m = f.errors.entry(key(&function_keys, r.key)?).or_default();
            *m.entry(r.message).or_default() += r.count;
        }
    }
    debug_assert!(LATENCY_BUCKETS.len() < 64);
    Ok(Sidecar {
        generations: pb.generations,
        frames,
    })
}

/// The width a frame starting `age_ns` ago is kept at: 15 s for a day, 5 minutes for a
/// week, an hour after that.
pub fn rollup_width(age_ns: u64) -> u64 {
    const DAY: u64 = 86_400 * SECOND;
    if age_ns > 7 * DAY {
        3_600 * SECOND
    } else if age_ns > DAY {
        300 * SECOND
    } else {
        crate::RESOLUTION_NS
    }
}

/// Merges the sidecars of blocks compacted into one, rolling old frames up (see the module
/// doc). Inputs that cannot be read are left out, and said why.
pub fn merge_sidecars(inputs: &[&[u8]], now_ns: u64) -> (Vec<u8>, Vec<String>) {
    let mut generations = Vec::new();
    let mut frames = Timeline::new();
    let mut unreadable = Vec::new();
    for bytes in inputs {
        let s = match decode(bytes) {
            Ok(s) => s,
            Err(e) => {
                unreadable.push(e);
                continue;
            }
        };
        generations.extend(s.generations);
        for ((start, width), f) in s.frames {
            let target = rollup_width(now_ns.saturating_sub(start)).max(width);
            let start = start / target * target;
            frames.entry((start, target)).or_default().merge(&f);
        }
    }
    generations.sort_unstable();
    generations.dedup();
    (encode(&generations, &frames), unreadable)
}
