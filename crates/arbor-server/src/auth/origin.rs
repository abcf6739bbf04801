//! The browser checks: a request's `Origin` must be the listener's own (or allowed), and a
//! request's `Host` must be a name the listener serves, so a page elsewhere — or a page on
//! a name that an attacker's DNS points at 127.0.0.1 (DNS rebinding) — cannot use a server
//! the browser can reach.

use std::net::IpAddr;

use http::HeaderMap;
use http::header::{HOST, ORIGIN};

use super::{Auth, Denied};

/// The host the request is for: its `Host` header, or the URI's authority (HTTP/2).
pub fn request_host<'a>(headers: &'a HeaderMap, uri: &'a http::Uri) -> Option<&'a str> {
    headers
        .get(HOST)
        .and_then(|v| v.to_str().ok())
        .or_else(|| uri.authority().map(|a| a.as_str()))
}

/// The name of a `host[:port]`, lowercase, without brackets or a trailing dot.
fn name_of(host_port: &str) -> String {
    let h = host_port.trim();
    let name = if let Some(rest) = h.strip_prefix('[') {
        rest.split(']').next().unwrap_or("")
    } else {
        h.rsplit_once(':')
            .filter(|(_, port)| port.bytes().all(|b| b.is_ascii_digit()))
            .map_or(h, |(name, _)| name)
    };
    name.trim_end_matches('.').to_ascii_lowercase()
}

/// Whether the listener answers to `host`: an IP address (DNS rebinding needs a name),
/// `localhost` and its subdomains, or a name in `auth.allowed_hosts` (`*`: any).
pub fn host_allowed(auth: &Auth, host: &str) -> bool {
    let name = name_of(host);
    name.parse::<IpAddr>().is_ok()
        || name == "localhost"
        || name.ends_with(".localhost")
        || auth.allowed_hosts.iter().any(|h| h == "*" || *h == name)
}

/// Checks `Host` (absent: an HTTP/1.0 client, let through).
pub fn check_host(auth: &Auth, headers: &HeaderMap, uri: &http::Uri) -> Result<(), Denied> {
    match request_host(headers, uri) {
        Some(h) if !host_allowed(auth, h) => Err(Denied::Host(h.chars().take(100).collect())),
        _ => Ok(()),
    }
}

/// Checks `Origin` when a browser sent one: its host and port must be the request's own
/// `Host`, or the origin must be in `auth.allowed_origins` (`*`: any). `null` (sandboxed
/// frames, files) is refused.
pub fn check_origin(auth: &Auth, headers: &HeaderMap, uri: &http::Uri) -> Result<(), Denied> {
    let Some(raw) = headers.get(ORIGIN) else {
        return Ok(());
    };
    let shown = || -> String {
        String::from_utf8_lossy(raw.as_bytes())
            .chars()
            .take(100)
            .collect()
    };
    let Ok(origin) = raw.to_str() else {
        return Err(Denied::Origin(shown()));
    };
    let origin = origin.trim().trim_end_matches('/').to_ascii_lowercase();
    if auth
        .allowed_origins
        .iter()
        .any(|o| o == "*" || *o == origin)
    {
        return Ok(());
    }
    let authority = origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"));
    let own = request_host(headers, uri).map(|h| h.trim().to_ascii_lowercase());
    match (authority, own) {
        (Some(a), Some(h)) if a == h || with_default_port(&origin) == h => Ok(()),
        _ => Err(Denied::Origin(shown())),
    }
}

/// The `Origin` of a browser request from a page `auth.allowed_origins` lets in (not the
/// listener's own origin, which needs no CORS headers): the value to answer in
/// `Access-Control-Allow-Origin`.
pub fn cors_origin(auth: &Auth, headers: &HeaderMap) -> Option<http::HeaderValue> {
    let raw = headers.get(ORIGIN)?;
    let origin = raw
        .to_str()
        .ok()?
        .trim()
        .trim_end_matches('/')
        .to_ascii_lowercase();
    auth.allowed_origins
        .iter()
        .any(|o| o == "*" || *o == origin)
        .then(|| raw.clone())
}

/// `http://name` as `name:80` (and https's 443), for a Host header that names the port.
fn with_default_port(origin: &str) -> String {
    if let Some(a) = origin.strip_prefix("http://") {
        format!("{a}:80")
    } else if let Some(a) = origin.strip_prefix("https://") {
        format!("{a}:443")
    } else {
        String::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auth(hosts: &[&str], origins: &[&str]) -> Auth {
        Auth {
            tokens: None,
            allowed_hosts: hosts.iter().map(|s| s.to_string()).collect(),
            allowed_origins: origins.iter().map(|s| s.to_string()).collect(),
        }
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn hosts() {
        let a = auth(&["arbor.example.com"], &[]);
        for ok in [
            "127.0.0.1:3200",
            "[::1]:3200",
            "10.1.2.3",
            "localhost:3200",
            "LOCALHOST.",
            "app.localhost",
            "arbor.example.com:443",
        ] {
            assert!(host_allowed(&a, ok), "{ok}");
        }
        for bad in ["evil.example:3200", "127.0.0.1.nip.io", "example.com"] {
            assert!(!host_allowed(&a, bad), "{bad}");
        }
        assert!(host_allowed(&auth(&["*"], &[]), "anything.example"));
    }

    #[test]
    fn origins() {
        let a = auth(&[], &["https://grafana.example.com"]);
        let uri: http::Uri = "/api/search".parse().unwrap();
        let check = |origin: &str, host: &str| {
            check_origin(&a, &headers(&[("origin", origin), ("host", host)]), &uri)
        };
        assert!(check("http://127.0.0.1:3200", "127.0.0.1:3200").is_ok());
        assert!(check("http://arbor.local", "arbor.local:80").is_ok());
        assert!(check("https://grafana.example.com/", "127.0.0.1:3200").is_ok());
        assert!(check("http://127.0.0.1:8000", "127.0.0.1:3200").is_err());
        assert!(check("null", "127.0.0.1:3200").is_err());
        assert!(check("http://evil.example", "127.0.0.1:3200").is_err());
        assert!(check_origin(&a, &headers(&[("host", "x")]), &uri).is_ok());
    }
}
