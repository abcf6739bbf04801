//! TLS on every listener, and mutual TLS as a way for ingest clients to authenticate.
//!
//! With `tls.cert_file` and `tls.key_file` set, every listener (HTTP API/UI, OTLP gRPC,
//! OTLP HTTP, Zipkin, Jaeger) speaks TLS only: rustls with the `ring` provider, TLS 1.2 and
//! 1.3, ALPN `h2` and `http/1.1` (gRPC needs h2). A client speaking plain HTTP to a TLS
//! listener fails the handshake and its connection is closed.
//!
//! - **Handshake within `limits.header_read_timeout`**: the handshake and the first bytes
//!   of the first request must arrive within it after the connection's first bytes
//!   (`listener::serve`), so a client that opens a connection and stalls holds no slot.
//! - **Reloaded on change**: the certificate, key and client CA files are looked at every
//!   [`RELOAD_INTERVAL`] (as the token file is, `auth::tokens`); when one changed, all are
//!   read again and new connections get the new configuration; connections already open
//!   keep theirs. Files that no longer read (or no longer match) keep the configuration
//!   in force, and the error is logged with the file named.
//! - **Start**: a file that does not read, holds no certificate or key, or a key that does
//!   not match the certificate stops the start with the file and the reason named.
//! - **Mutual TLS** (`tls.client_ca_file`): the ingest listeners (OTLP gRPC, OTLP HTTP,
//!   Zipkin) ask for a client certificate but do not require one (a token still works); a
//!   certificate not signed by the CA fails the handshake. A verified certificate whose CN
//!   or DNS name a `[[tls.clients]]` entry names authenticates each request on its
//!   connection as a writer for the entry's tenants ([`clients`]), when the request carries
//!   no `Authorization` header. The HTTP and Jaeger listeners never ask for one (browsers
//!   would prompt for it).

pub mod clients;
pub mod config;
mod load;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use parking_lot::{Mutex, RwLock};
use rustls::ServerConfig;
use rustls::pki_types::CertificateDer;
use tokio::sync::watch;

pub use clients::ClientCert;
pub use config::{TlsClient, TlsConfig};
pub use load::TlsError;

/// How often the files are looked at for a change.
pub const RELOAD_INTERVAL: Duration = crate::reload::INTERVAL;

/// The rustls configurations in force: one for the ingest listeners (asking for client
/// certificates when a client CA is set), one for the others.
struct Loaded {
    plain: Arc<ServerConfig>,
    ingest: Arc<ServerConfig>,
}

/// What tells a changed file: its modification time and length.
type Stamp = Option<(SystemTime, u64)>;

fn stamp_of(path: &Path) -> Stamp {
    let m = std::fs::metadata(path).ok()?;
    Some((m.modified().ok()?, m.len()))
}

/// The server's TLS settings and the configuration last read from their files.
pub struct Tls {
    cert_file: PathBuf,
    key_file: PathBuf,
    client_ca_file: Option<PathBuf>,
    clients: clients::Clients,
    current: RwLock<Loaded>,
    stamps: Mutex<Vec<Stamp>>,
}

/// How one listener uses TLS.
#[derive(Clone)]
pub struct ListenerTls {
    pub tls: Arc<Tls>,
    /// An ingest listener: asks for client certificates when a client CA is set.
    pub ingest: bool,
}

impl ListenerTls {
    /// The configuration for a new connection.
    pub fn server_config(&self) -> Arc<ServerConfig> {
        let l = self.tls.current.read();
        if self.ingest {
            l.ingest.clone()
        } else {
            l.plain.clone()
        }
    }

    /// The identity of a connection's verified client certificate chain.
    pub fn identify(&self, chain: Option<&[CertificateDer<'_>]>) -> Option<ClientCert> {
        if !self.ingest {
            return None;
        }
        self.tls.clients.identify(chain?)
    }
}

impl Tls {
    /// Reads the files of validated settings; `None` when TLS is off. An error names the
    /// file and what is wrong with it, and stops the start.
    pub fn open(c: &TlsConfig) -> Result<Option<Arc<Self>>, TlsError> {
        let (Some(cert_file), Some(key_file)) = (&c.cert_file, &c.key_file) else {
            return Ok(None);
        };
        let clients = clients::Clients::new(&c.clients).map_err(TlsError::Clients)?;
        let client_ca_file = c.client_ca_file.clone();
        let stamps = files(cert_file, key_file, client_ca_file.as_deref())
            .into_iter()
            .map(stamp_of)
            .collect();
        let loaded = read_files(cert_file, key_file, client_ca_file.as_deref())?;
        Ok(Some(Arc::new(Self {
            cert_file: cert_file.clone(),
            key_file: key_file.clone(),
            client_ca_file,
            clients,
            current: RwLock::new(loaded),
            stamps: Mutex::new(stamps),
        })))
    }

    pub fn cert_file(&self) -> &Path {
        &self.cert_file
    }

    pub fn mutual(&self) -> bool {
        self.client_ca_file.is_some()
    }

    fn stamps_now(&self) -> Vec<Stamp> {
        files(
            &self.cert_file,
            &self.key_file,
            self.client_ca_file.as_deref(),
        )
        .into_iter()
        .map(stamp_of)
        .collect()
    }

    /// Reads the files again if one changed; true if a new configuration is in force.
    pub fn reload_if_changed(&self) -> bool {
        let now = self.stamps_now();
        {
            let mut last = self.stamps.lock();
            if *last == now {
                return false;
            }
            *last = now;
        }
        match read_files(
            &self.cert_file,
            &self.key_file,
            self.client_ca_file.as_deref(),
        ) {
            Ok(loaded) => {
                tracing::info!(cert_file = %self.cert_file.display(), "TLS certificate files read again; new connections use them");
                *self.current.write() = loaded;
                true
            }
            Err(e) => {
                tracing::error!(error = %e, "a TLS file changed but does not read; the certificate read before stays in force");
                false
            }
        }
    }

    /// Looks at the files every [`RELOAD_INTERVAL`] until told to stop.
    pub async fn watch(self: Arc<Self>, stop: watch::Receiver<bool>) {
        crate::reload::poll(
            move || {
                self.reload_if_changed();
            },
            stop,
        )
        .await;
    }
}

fn files<'a>(cert: &'a Path, key: &'a Path, ca: Option<&'a Path>) -> Vec<&'a Path> {
    let mut v = vec![cert, key];
    v.extend(ca);
    v
}

/// Reads the certificate, its key and the client CA into the configurations to serve.
fn read_files(cert: &Path, key_file: &Path, ca: Option<&Path>) -> Result<Loaded, TlsError> {
    let (chain, key) = load::cert_and_key(cert, key_file)?;
    let roots = match ca {
        Some(ca) => Some((load::client_roots(ca)?, ca)),
        None => None,
    };
    let plain = Arc::new(load::server_config(
        chain.clone(),
        key.clone_key(),
        None,
        (cert, key_file),
    )?);
    let ingest = match roots {
        Some(r) => Arc::new(load::server_config(chain, key, Some(r), (cert, key_file))?),
        None => plain.clone(),
    };
    Ok(Loaded { plain, ingest })
}
