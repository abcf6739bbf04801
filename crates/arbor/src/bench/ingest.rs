//! The ingest phase: the workload is generated in chunks before the clock starts (on all
//! cores), the floors are taken on the very payloads of each chunk (prost decode CPU time,
//! zstd size), then the chunk is sent to the server by concurrent senders while the clock
//! and the server's CPU time run.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::bail;
use arbor_model::otlp::ExportTraceServiceRequest;
use arbor_workload::{Batcher, Generator, Options, Profile};
use bytes::Bytes;
use prost::Message;

use crate::generate::send::{Protocol, SendError, Sender};

/// Encoded requests ready to send, and what the floors found in them.
#[derive(Default)]
pub struct Chunk {
    pub payloads: Vec<(Bytes, u64)>,
    pub spans: u64,
    pub trace_ids: Vec<[u8; 16]>,
    pub decode_cpu: Duration,
    pub zstd_bytes: u64,
    pub protobuf_bytes: u64,
}

/// Generates about `spans` spans (whole traces) on `threads` threads, each with a generator
/// of its own seed (`seed + thread`), in batches of `batch` spans, stamped with the clock.
pub fn generate(seed: u64, spans: u64, threads: usize, batch: usize) -> Chunk {
    let per = spans.div_ceil(threads as u64);
    let parts: Vec<Chunk> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads as u64)
            .map(|t| s.spawn(move || generate_one(seed + t, per, batch)))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut out = Chunk::default();
    // Interleave the threads' batches so senders see traffic from every generator.
    let mut iters: Vec<_> = parts.iter().map(|p| p.payloads.iter()).collect();
    loop {
        let mut any = false;
        for it in iters.iter_mut() {
            if let Some(p) = it.next() {
                out.payloads.push(p.clone());
                any = true;
            }
        }
        if !any {
            break;
        }
    }
    for p in parts {
        out.spans += p.spans;
        out.trace_ids.extend(p.trace_ids);
        out.decode_cpu += p.decode_cpu;
        out.zstd_bytes += p.zstd_bytes;
        out.protobuf_bytes += p.protobuf_bytes;
    }
    out
}

fn generate_one(seed: u64, spans: u64, batch: usize) -> Chunk {
    let mut g = Generator::new(Options {
        profile: Profile::Microservices,
        seed,
        late_fraction: 0.0,
    });
    let mut batcher = Batcher::new(batch);
    let mut out = Chunk::default();
    let mut made = 0u64;
    let finish = |batch: Vec<arbor_workload::GenSpan>, g: &Generator, out: &mut Chunk| {
        let n = batch.len() as u64;
        let body = g.request(batch).encode_to_vec();
        // Floors, on exactly these bytes: decoding with prost alone (this thread's CPU
        // time), and the size zstd (level 3) makes of them.
        let t = cpu_time::ThreadTime::now();
        let decoded = ExportTraceServiceRequest::decode(&body[..]).map(|r| r.resource_spans.len());
        out.decode_cpu += t.elapsed();
        debug_assert!(decoded.is_ok());
        out.zstd_bytes += zstd::bulk::compress(&body, 3).map_or(0, |c| c.len() as u64);
        out.protobuf_bytes += body.len() as u64;
        out.spans += n;
        out.payloads.push((Bytes::from(body), n));
    };
    while made < spans {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        let t = g.next_trace(now);
        made += t.len() as u64;
        out.trace_ids.push(t.id);
        batcher.push(t.spans);
        while let Some(b) = batcher.full() {
            finish(b, &g, &mut out);
        }
    }
    while let Some(b) = batcher.rest() {
        finish(b, &g, &mut out);
    }
    out
}

/// What sending one chunk took.
pub struct Sent {
    pub wall: Duration,
    pub retries: u64,
    pub rejected: i64,
}

/// Sends every payload of `chunk` with `concurrency` requests in flight.
pub fn send(
    runtime: &tokio::runtime::Runtime,
    protocol: Protocol,
    endpoint: &str,
    concurrency: usize,
    chunk: &Chunk,
) -> anyhow::Result<Sent> {
    let payloads: Arc<Vec<Bytes>> = Arc::new(chunk.payloads.iter().map(|p| p.0.clone()).collect());
    runtime.block_on(async {
        let sender = Sender::connect(protocol, endpoint, None).await?;
        let next = Arc::new(AtomicUsize::new(0));
        let started = Instant::now();
        let tasks: Vec<_> = (0..concurrency)
            .map(|_| {
                let (mut sender, next, payloads) = (sender.clone(), next.clone(), payloads.clone());
                tokio::spawn(async move {
                    let (mut retries, mut rejected) = (0u64, 0i64);
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(body) = payloads.get(i) else { break };
                        match sender.send_with_retries(body.clone(), 100).await {
                            Ok((r, n)) => {
                                rejected += r;
                                retries += u64::from(n);
                            }
                            Err(SendError::Retry(_)) => {
                                return Err("the server kept pushing back".to_string());
                            }
                            Err(SendError::Failed(m)) => return Err(m),
                        }
                    }
                    Ok((retries, rejected))
                })
            })
            .collect();
        let mut sent = Sent {
            wall: Duration::ZERO,
            retries: 0,
            rejected: 0,
        };
        for t in tasks {
            match t.await? {
                Ok((r, j)) => {
                    sent.retries += r;
                    sent.rejected += j;
                }
                Err(m) => bail!("{} ingest failed: {m}", protocol.name()),
            }
        }
        sent.wall = started.elapsed();
        Ok(sent)
    })
}
