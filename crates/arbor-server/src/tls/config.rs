//! The `[tls]` settings: the server's certificate, and for mutual TLS the clients' CA and
//! what each client certificate may do.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// TLS on every listener (`[tls]`); see docs/config.md, "TLS".
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TlsConfig {
    /// The certificate chain (PEM, the server's certificate first). Set with `key_file`,
    /// every listener speaks TLS only.
    pub cert_file: Option<PathBuf>,
    /// The certificate's private key (PEM: PKCS#8, PKCS#1 or SEC1).
    pub key_file: Option<PathBuf>,
    /// CA certificates (PEM) that sign client certificates. Set, the ingest listeners ask
    /// for a client certificate (optional: a token still works), and a certificate signed
    /// by one of these that `clients` names authenticates its sender as a writer.
    pub client_ca_file: Option<PathBuf>,
    /// What each client certificate may do (in the file only).
    pub clients: Vec<TlsClient>,
}

/// One client certificate's grant (`[[tls.clients]]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsClient {
    /// The certificate's subject common name (CN) or one of its DNS names (SAN).
    pub subject: String,
    /// The name in the audit log and in refusals (`cert:<subject>` when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The tenants it may write to, or `["*"]` for every tenant.
    pub tenants: Vec<String>,
}

/// Longest `subject` or `name` of a client.
pub const MAX_NAME_CHARS: usize = 255;

impl TlsClient {
    /// The name shown for this client.
    pub fn display_name(&self) -> String {
        self.name
            .clone()
            .unwrap_or_else(|| format!("cert:{}", self.subject))
    }
}

/// A `[tls]` section that does not hold together.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TlsConfigError {
    #[error("tls.cert_file and tls.key_file go together: {0} is set without the other")]
    Half(&'static str),
    #[error("tls.client_ca_file needs tls.cert_file and tls.key_file (mutual TLS is TLS)")]
    CaWithoutCert,
    #[error("tls.clients is set but tls.client_ca_file is not: no client certificate is asked for")]
    ClientsWithoutCa,
    #[error("tls.clients {subject:?}: {message}")]
    Client { subject: String, message: String },
}

impl TlsConfig {
    /// Whether the listeners speak TLS.
    pub fn enabled(&self) -> bool {
        self.cert_file.is_some() && self.key_file.is_some()
    }

    /// Checks the settings hold together (the files are read when the server starts).
    pub fn validate(&self) -> Result<(), TlsConfigError> {
        match (&self.cert_file, &self.key_file) {
            (Some(_), None) => return Err(TlsConfigError::Half("tls.cert_file")),
            (None, Some(_)) => return Err(TlsConfigError::Half("tls.key_file")),
            _ => {}
        }
        if self.client_ca_file.is_some() && !self.enabled() {
            return Err(TlsConfigError::CaWithoutCert);
        }
        if !self.clients.is_empty() && self.client_ca_file.is_none() {
            return Err(TlsConfigError::ClientsWithoutCa);
        }
        let mut names = std::collections::HashSet::new();
        for c in &self.clients {
            let bad = |message: String| TlsConfigError::Client {
                subject: c.subject.clone(),
                message,
            };
            if c.subject.trim().is_empty() || c.subject.chars().count() > MAX_NAME_CHARS {
                return Err(bad(format!(
                    "subject must be 1 to {MAX_NAME_CHARS} characters"
                )));
            }
            if let Some(n) = &c.name
                && (n.trim().is_empty() || n.chars().count() > MAX_NAME_CHARS)
            {
                return Err(bad(format!(
                    "name must be 1 to {MAX_NAME_CHARS} characters"
                )));
            }
            if !names.insert(c.display_name()) {
                return Err(bad("the name (or subject) is used twice".into()));
            }
            super::clients::tenants_of(&c.tenants).map_err(bad)?;
        }
        Ok(())
    }
}

/// The configuration reference's section on TLS (docs/config.md).
pub const REFERENCE_SECTION: &str = r#"
## TLS

With `tls.cert_file` and `tls.key_file` set (PEM: the certificate chain, the server's
certificate first, and its private key), every listener — HTTP API and UI, OTLP/gRPC,
OTLP/HTTP, Zipkin, Jaeger — speaks TLS only (TLS 1.2 and 1.3, ALPN `h2` and `http/1.1`); a
client speaking plain HTTP to it fails the handshake and is disconnected. The handshake
counts against `limits.header_read_timeout`. The files are read again within a second of a
change: new connections get the new certificate, open ones keep theirs; files that no
longer read (or a key that no longer matches) leave the certificate in force and log why. At
start, a file that does not read stops the start with the file and the reason named.

```toml
[tls]
cert_file = "/etc/arbor/tls/server.crt"
key_file = "/etc/arbor/tls/server.key"
```

Clients then use `https://` and trust the certificate's CA (the OpenTelemetry SDKs:
`OTEL_EXPORTER_OTLP_ENDPOINT=https://arbor:4318`, `OTEL_EXPORTER_OTLP_CERTIFICATE=ca.pem`).

### Mutual TLS for ingest

With `tls.client_ca_file` set too, the ingest listeners (OTLP/gRPC, OTLP/HTTP, Zipkin) ask
for a client certificate, without requiring one: a client may still send a token. A
certificate not signed by one of the file's CAs fails the handshake. A verified certificate
whose subject common name (CN) or one of whose DNS names (SAN) a `[[tls.clients]]` entry
names authenticates requests that carry no `Authorization` header as a writer (`write`
grant) for that entry's tenants, shown by its `name` in logs and refusals. The HTTP and
Jaeger listeners never ask for a client certificate. Client certificates count only when
authentication is on (`auth.tokens_file`; a file with no tokens accepts certificates only).

```toml
[tls]
cert_file = "/etc/arbor/tls/server.crt"
key_file = "/etc/arbor/tls/server.key"
client_ca_file = "/etc/arbor/tls/clients-ca.crt"

[[tls.clients]]
subject = "collector.shop.example"   # the certificate's CN or a DNS name of it
name = "shop collector"              # in logs and refusals (default "cert:<subject>")
tenants = ["shop"]                   # or ["*"] for every tenant
```
"#;

#[cfg(test)]
mod tests {
    use super::*;

    fn client(subject: &str, tenants: &[&str]) -> TlsClient {
        TlsClient {
            subject: subject.into(),
            name: None,
            tenants: tenants.iter().map(|t| t.to_string()).collect(),
        }
    }

    #[test]
    fn settings_that_do_not_hold_together_are_named() {
        let full = TlsConfig {
            cert_file: Some("c.pem".into()),
            key_file: Some("k.pem".into()),
            client_ca_file: Some("ca.pem".into()),
            clients: vec![client("collector", &["a"])],
        };
        assert_eq!(full.validate(), Ok(()));
        let mut c = full.clone();
        c.key_file = None;
        assert_eq!(c.validate(), Err(TlsConfigError::Half("tls.cert_file")));
        let mut c = full.clone();
        c.cert_file = None;
        c.key_file = None;
        assert_eq!(c.validate(), Err(TlsConfigError::CaWithoutCert));
        let mut c = full.clone();
        c.client_ca_file = None;
        assert_eq!(c.validate(), Err(TlsConfigError::ClientsWithoutCa));
        for (bad, says) in [
            (client("", &["a"]), "subject must be"),
            (client("x", &[]), "tenants is empty"),
            (client("x", &["*", "a"]), "stands alone"),
            (client("x", &["a/b"]), "characters outside"),
        ] {
            let mut c = full.clone();
            c.clients = vec![bad];
            let err = c.validate().unwrap_err().to_string();
            assert!(err.contains(says), "{err}");
        }
        let mut c = full;
        c.clients.push(client("collector", &["b"]));
        assert!(c.validate().unwrap_err().to_string().contains("used twice"));
    }
}
