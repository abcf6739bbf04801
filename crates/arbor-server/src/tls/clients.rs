//! Who a verified client certificate is: the `[[tls.clients]]` entry whose `subject` is the
//! certificate's common name or one of its DNS names, as a write-only token for that
//! entry's tenants (so the guard treats it like a token, and names it the same way).
//!
//! Only certificates the TLS handshake verified against `tls.client_ca_file` get here; a
//! certificate from another CA ends the handshake.

use std::sync::Arc;

use rustls::pki_types::CertificateDer;

use super::config::TlsClient;
use crate::auth::tokens::{Grant, Tenants, Token};

/// A verified client certificate's identity, put on each request of its connection (the
/// guard reads it when a request carries no token).
#[derive(Debug, Clone)]
pub struct ClientCert(pub Arc<Token>);

/// The tenants of a `[[tls.clients]]` entry, as a token's.
pub fn tenants_of(list: &[String]) -> Result<Tenants, String> {
    if list.iter().any(|t| t == "*") {
        if list.len() > 1 {
            return Err("\"*\" (every tenant) stands alone in tenants".into());
        }
        return Ok(Tenants::All);
    }
    if list.is_empty() {
        return Err("tenants is empty: name tenants, or \"*\"".into());
    }
    for t in list {
        crate::tenant::validate(t).map_err(|e| e.to_string())?;
    }
    Ok(Tenants::Only(list.to_vec()))
}

/// The configured clients, matched by subject.
#[derive(Debug, Default)]
pub struct Clients {
    entries: Vec<(String, Arc<Token>)>,
}

impl Clients {
    /// From validated settings (`TlsConfig::validate`).
    pub fn new(clients: &[TlsClient]) -> Result<Self, String> {
        let mut entries = Vec::with_capacity(clients.len());
        for c in clients {
            let tenants = tenants_of(&c.tenants)?;
            let token = Token::for_certificate(c.display_name(), tenants, vec![Grant::Write]);
            entries.push((c.subject.trim().to_ascii_lowercase(), Arc::new(token)));
        }
        Ok(Self { entries })
    }

    /// The identity of a verified chain (its first certificate is the client's); `None`
    /// when no entry names it.
    pub fn identify(&self, chain: &[CertificateDer<'_>]) -> Option<ClientCert> {
        let leaf = chain.first()?;
        let names = subject_names(leaf);
        self.entries
            .iter()
            .find(|(subject, _)| names.iter().any(|n| n == subject))
            .map(|(_, token)| ClientCert(token.clone()))
    }
}

/// The common names and DNS names of a certificate, lowercase.
pub fn subject_names(der: &CertificateDer<'_>) -> Vec<String> {
    let Ok((_, cert)) = x509_parser::parse_x509_certificate(der.as_ref()) else {
        return Vec::new();
    };
    let mut names: Vec<String> = cert
        .subject()
        .iter_common_name()
        .filter_map(|cn| cn.as_str().ok())
        .map(str::to_ascii_lowercase)
        .collect();
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for n in &san.value.general_names {
            if let x509_parser::extensions::GeneralName::DNSName(d) = n {
                names.push(d.to_ascii_lowercase());
            }
        }
    }
    names
}
