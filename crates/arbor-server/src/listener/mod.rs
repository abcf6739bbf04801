//! Serving one listener: accepting connections within limits and giving up on clients that
//! stall, so a few slow or silent connections cannot hold a receiver or the query API.
//!
//! What a connection gets (all in `[limits]`):
//!
//! - **Connections**: at most `max_connections` open per listener; past it the listener stops
//!   accepting (new clients wait in the kernel's backlog) until one closes.
//! - **First bytes and headers**: a connection that sends nothing for `header_read_timeout`
//!   after it opens is closed; so is an HTTP/1 request whose headers take longer (hyper's
//!   header timeout, which also closes keep-alive connections left idle that long).
//! - **Bodies**: every request body must keep arriving: after `body_read_timeout`, it must
//!   have come at `min_body_rate` on average ([`slow_body`]); a body that falls behind ends
//!   in an error the handler answers (408, or the gRPC status), and the connection is closed.
//! - **HTTP/2**: at most `MAX_STREAMS` requests at once per connection, and pings that close
//!   a connection whose peer stopped answering.
//!
//! Shutdown stops accepting, asks every connection to finish (HTTP/1 closes after the
//! response in flight, HTTP/2 sends GOAWAY), and waits for them at most [`SHUTDOWN_GRACE`].
//!
//! Limits on work rather than on connections (how many ingest requests are processed at
//! once, the memory they reserve) are taken after a request's body has arrived
//! (`ingest::submit`, `ingest::budget`), so a request that never sends its body holds none.

pub mod slow_body;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tower::ServiceExt;

pub use slow_body::BodyPace;

/// Requests one HTTP/2 connection may have open at once.
pub const MAX_STREAMS: u32 = 256;

/// How long shutdown waits for open connections to finish their requests.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

/// How a listener treats its connections.
#[derive(Debug, Clone, Copy)]
pub struct ConnLimits {
    pub max_connections: usize,
    pub header_read_timeout: Duration,
    pub body: BodyPace,
}

/// Serves `router` on `listener` until `shutdown` completes, then lets open connections
/// finish (at most [`SHUTDOWN_GRACE`]).
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ConnLimits,
    name: &'static str,
    shutdown: impl Future<Output = ()>,
) {
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(MAX_STREAMS)
        .keep_alive_interval(Some(Duration::from_secs(20)))
        .keep_alive_timeout(Duration::from_secs(20));
    let builder = Arc::new(builder);
    let graceful = GracefulShutdown::new();
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let mut warned_full = false;
    tokio::pin!(shutdown);
    loop {
        if slots.available_permits() == 0 && !warned_full {
            warned_full = true;
            tracing::warn!(
                listener = name,
                max = limits.max_connections,
                "connection limit reached (limits.max_connections); new connections wait"
            );
        }
        let permit = tokio::select! {
            p = slots.clone().acquire_owned() => p.expect("the semaphore is never closed"),
            _ = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            a = listener.accept() => match a {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: wait a little, keep serving.
                    tracing::warn!(listener = name, error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        if slots.available_permits() > 0 {
            warned_full = false;
        }
        let _ = stream.set_nodelay(true);
        let builder = builder.clone();
        let router = router.clone();
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            let _permit = permit;
            if !first_bytes(&stream, limits.header_read_timeout).await {
                tracing::debug!(listener = name, %peer, "closed a connection that sent nothing");
                return;
            }
            let pace = limits.body;
            let service = hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
                router.clone().oneshot(req.map(|b| Body::new(pace.wrap(b))))
            });
            let conn = builder.serve_connection(TokioIo::new(stream), service);
            if let Err(e) = watcher.watch(conn.into_owned()).await {
                tracing::debug!(listener = name, %peer, error = %e, "connection ended with an error");
            }
        });
    }
    drop(listener);
    tokio::select! {
        _ = graceful.shutdown() => {}
        _ = tokio::time::sleep(SHUTDOWN_GRACE) => {
            tracing::warn!(listener = name, "connections still open after the shutdown grace period; closing them");
        }
    }
}

/// Waits until the client has sent something; false if it sent nothing in `timeout` or
/// closed the connection.
async fn first_bytes(stream: &TcpStream, timeout: Duration) -> bool {
    let mut byte = [0u8; 1];
    matches!(
        tokio::time::timeout(timeout, stream.peek(&mut byte)).await,
        Ok(Ok(n)) if n > 0
    )
}
