//! What each endpoint needs: a grant, for the request's tenant or for every tenant. One
//! table for every listener, so a new route falls under a rule rather than outside all.

use http::Method;

use super::Grant;

/// The listeners, as the checks tell them apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listener {
    Http,
    OtlpHttp,
    Zipkin,
    Jaeger,
    OtlpGrpc,
}

/// Whose data a grant must cover.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// The request's tenant (`X-Scope-OrgID`, or the token's only one).
    Tenant,
    /// Every tenant: endpoints whose answer or effect spans tenants (`/metrics`, `/flush`,
    /// the alerts API, whose rules each name their tenant).
    Server,
}

/// What an endpoint asks of a request when auth is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// Health and the UI's static files: no token.
    Open,
    /// Any valid token (`/api/whoami`).
    AnyToken,
    /// A token with one of these grants, over this scope.
    Grant(&'static [Grant], Scope),
}

impl Need {
    /// Whether requests here are written to the audit log (the read and admin APIs).
    pub fn audited(self, listener: Listener) -> bool {
        match self {
            Need::Open => false,
            Need::AnyToken => true,
            Need::Grant(grants, _) => {
                !(grants == WRITE
                    && matches!(
                        listener,
                        Listener::OtlpHttp | Listener::OtlpGrpc | Listener::Zipkin
                    ))
            }
        }
    }
}

const WRITE: &[Grant] = &[Grant::Write];
const READ: &[Grant] = &[Grant::Read];
const ADMIN: &[Grant] = &[Grant::Admin];
const READ_OR_ADMIN: &[Grant] = &[Grant::Read, Grant::Admin];

fn is_read_method(m: &Method) -> bool {
    m == Method::GET || m == Method::HEAD
}

/// The need of `method path` on `listener`.
pub fn classify(listener: Listener, method: &Method, path: &str) -> Need {
    use Scope::{Server, Tenant};
    match listener {
        // Every gRPC method is an export.
        Listener::OtlpGrpc | Listener::OtlpHttp => Need::Grant(WRITE, Tenant),
        Listener::Zipkin if method == Method::POST && path == "/api/v2/spans" => {
            Need::Grant(WRITE, Tenant)
        }
        Listener::Zipkin | Listener::Jaeger => Need::Grant(READ, Tenant),
        Listener::Http => match path {
            "/ready" | "/health" => Need::Open,
            "/metrics" => Need::Grant(READ_OR_ADMIN, Server),
            "/flush" => Need::Grant(ADMIN, Server),
            "/api/whoami" => Need::AnyToken,
            "/api/views/query" => Need::Grant(READ, Tenant),
            p if p.starts_with("/api/alerts/") || p == "/api/alerts" => {
                if is_read_method(method) {
                    Need::Grant(READ_OR_ADMIN, Server)
                } else {
                    Need::Grant(ADMIN, Server)
                }
            }
            p if p.starts_with("/api/views") => {
                if is_read_method(method) {
                    Need::Grant(READ, Tenant)
                } else {
                    Need::Grant(ADMIN, Tenant)
                }
            }
            p if p.starts_with("/api/") || p == "/api" => Need::Grant(READ, Tenant),
            // The UI's pages and files: no data in them.
            _ if is_read_method(method) => Need::Open,
            _ => Need::Grant(READ, Tenant),
        },
    }
}

/// Whether `path` applies a narrowed read token's scope to everything it answers. A token
/// with a scope is refused everywhere else, so a read path is closed to it until it applies
/// the scope (default deny).
pub fn honours_scope(listener: Listener, path: &str) -> bool {
    let seg: Vec<&str> = path.trim_end_matches('/').split('/').collect();
    match listener {
        Listener::Http => matches!(
            seg.as_slice(),
            ["", "api", "search"]
                | ["", "api", "traces", _]
                | ["", "api", "v2", "traces", _]
                | ["", "api", "metrics", "query_range"]
                | ["", "api", "metrics", "query"]
                | ["", "api", "tail"]
                | ["", "api", "views"]
                | ["", "api", "views", _]
                | ["", "api", "derived", "services"]
                | ["", "api", "derived", "service-graph"]
                | ["", "api", "derived", "serverless"]
                | ["", "api", "search", "tags"]
                | ["", "api", "v2", "search", "tags"]
                | ["", "api", "search", "tag", _, "values"]
                | ["", "api", "v2", "search", "tag", _, "values"]
                | ["", "api", "echo"]
                | ["", "api", "status", "buildinfo"]
        ),
        Listener::Jaeger => matches!(
            seg.as_slice(),
            ["", "api", "services"]
                | ["", "api", "services", _, "operations"]
                | ["", "api", "operations"]
                | ["", "api", "dependencies"]
                | ["", "api", "v3", "services"]
                | ["", "api", "v3", "operations"]
                | ["", "api", "traces"]
                | ["", "api", "traces", _]
                | ["", "api", "v3", "traces"]
                | ["", "api", "v3", "traces", _]
                | ["", "api", "v3", "trace-summaries"]
        ),
        Listener::Zipkin => matches!(
            seg.as_slice(),
            ["", "api", "v2", "traces"]
                | ["", "api", "v2", "trace", _]
                | ["", "api", "v2", "traceMany"]
                | ["", "api", "v2", "services"]
                | ["", "api", "v2", "spans"]
                | ["", "api", "v2", "remoteServices"]
                | ["", "api", "v2", "dependencies"]
                | ["", "api", "v2", "autocompleteKeys"]
                | ["", "api", "v2", "autocompleteValues"]
        ),
        Listener::OtlpHttp | Listener::OtlpGrpc => false,
    }
}

/// Whether `method path` changes alert rules or saved views, whose bodies must be JSON.
pub fn wants_json(listener: Listener, method: &Method, path: &str) -> bool {
    listener == Listener::Http
        && (method == Method::POST || method == Method::PUT || method == Method::PATCH)
        && (path.starts_with("/api/alerts") || path.starts_with("/api/views"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table() {
        let h = Listener::Http;
        assert_eq!(classify(h, &Method::GET, "/ready"), Need::Open);
        assert_eq!(classify(h, &Method::GET, "/trace/abc"), Need::Open);
        assert_eq!(
            classify(h, &Method::POST, "/trace/abc"),
            Need::Grant(READ, Scope::Tenant)
        );
        assert_eq!(
            classify(h, &Method::POST, "/flush"),
            Need::Grant(ADMIN, Scope::Server)
        );
        assert_eq!(
            classify(h, &Method::GET, "/api/search"),
            Need::Grant(READ, Scope::Tenant)
        );
        assert_eq!(
            classify(h, &Method::DELETE, "/api/alerts/rules/x"),
            Need::Grant(ADMIN, Scope::Server)
        );
        assert_eq!(
            classify(Listener::Zipkin, &Method::GET, "/api/v2/spans"),
            Need::Grant(READ, Scope::Tenant)
        );
        assert_eq!(
            classify(Listener::Zipkin, &Method::POST, "/api/v2/spans"),
            Need::Grant(WRITE, Scope::Tenant)
        );
        assert!(
            !classify(Listener::OtlpHttp, &Method::POST, "/v1/traces").audited(Listener::OtlpHttp)
        );
        assert!(classify(h, &Method::GET, "/api/search").audited(h));
        assert!(wants_json(h, &Method::POST, "/api/alerts/rules/x/test"));
        assert!(!wants_json(h, &Method::DELETE, "/api/alerts/rules/x"));
    }
}
