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
//! - **TLS** (when `[tls]` is set, see `crate::tls`): the handshake and the first bytes of
//!   the first request must arrive within `header_read_timeout` after the connection's
//!   first bytes, or the connection is closed; a verified client certificate's identity is
//!   put on every request of its connection (`tls::ClientCert`) for the guard.
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
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tower::ServiceExt;

use crate::tls::{ClientCert, ListenerTls};

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
    tls: Option<ListenerTls>,
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
        let tls = tls.clone();
        tokio::spawn(async move {
            let _permit = permit;
            if !first_bytes(&stream, limits.header_read_timeout).await {
                tracing::debug!(listener = name, %peer, "closed a connection that sent nothing");
                return;
            }
            let conn = Conn {
                builder,
                router,
                pace: limits.body,
                watcher,
                name,
                peer,
            };
            match tls {
                None => conn.serve(stream, None).await,
                Some(tls) => {
                    let accepted =
                        tokio::time::timeout(limits.header_read_timeout, handshake(stream, &tls))
                            .await;
                    match accepted {
                        Ok(Ok((io, client))) => conn.serve(io, client).await,
                        Ok(Err(e)) => {
                            tracing::debug!(listener = name, %peer, error = %e, "TLS handshake failed");
                        }
                        Err(_) => {
                            tracing::debug!(listener = name, %peer, "closed a connection whose TLS handshake or first request did not arrive in time");
                        }
                    }
                }
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

/// One accepted connection, ready to be served.
struct Conn {
    builder: Arc<Builder<TokioExecutor>>,
    router: Router,
    pace: BodyPace,
    watcher: hyper_util::server::graceful::Watcher,
    name: &'static str,
    peer: std::net::SocketAddr,
}

impl Conn {
    /// Serves HTTP/1 or HTTP/2 on `io` until the connection ends; every request carries
    /// `client` (a verified client certificate's identity) when there is one.
    async fn serve<I>(self, io: I, client: Option<ClientCert>)
    where
        I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let Conn {
            builder,
            router,
            pace,
            watcher,
            name,
            peer,
        } = self;
        let service = hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
            let mut req = req.map(|b| Body::new(pace.wrap(b)));
            if let Some(c) = &client {
                req.extensions_mut().insert(c.clone());
            }
            router.clone().oneshot(req)
        });
        let conn = builder.serve_connection(TokioIo::new(io), service);
        if let Err(e) = watcher.watch(conn.into_owned()).await {
            tracing::debug!(listener = name, %peer, error = %e, "connection ended with an error");
        }
    }
}

/// The TLS handshake, then the first bytes of the first request (so that a client that
/// finishes the handshake and then stalls is bound by the same timeout); the stream keeps
/// those bytes. Also the identity of the client's certificate, if it sent one we know.
async fn handshake(
    stream: TcpStream,
    tls: &ListenerTls,
) -> std::io::Result<(
    BufReader<tokio_rustls::server::TlsStream<TcpStream>>,
    Option<ClientCert>,
)> {
    let acceptor = tokio_rustls::TlsAcceptor::from(tls.server_config());
    let stream = acceptor.accept(stream).await?;
    let client = tls.identify(stream.get_ref().1.peer_certificates());
    let mut io = BufReader::new(stream);
    if io.fill_buf().await?.is_empty() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            "the client closed the connection after the TLS handshake",
        ));
    }
    Ok((io, client))
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
