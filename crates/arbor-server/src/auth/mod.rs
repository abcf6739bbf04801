//! Who may call what: bearer tokens with grants per tenant, and the checks that keep a web
//! page the operator happens to open from acting on a server it can reach.
//!
//! Every listener's router is wrapped in [`guard::guard`], which, for each request:
//!
//! 0. for a page of an origin in `auth.allowed_origins` (CORS): answers its preflight
//!    (`OPTIONS` with `Access-Control-Request-Method`) itself, 204 without a token, and adds
//!    `Access-Control-Allow-Origin` and `Vary: Origin` to every answer (refusals too);
//! 1. refuses a browser request from another origin (`Origin` not the listener's own and
//!    not in `auth.allowed_origins`): 403;
//! 2. when a token file is configured, asks for `Authorization: Bearer <token>` (HTTP
//!    header or gRPC metadata) on every endpoint but `/ready`, `/health` and the UI's
//!    static files: 401 without one, 403 when the token lacks the grant the endpoint needs
//!    ([`routes::classify`]) or the tenant (`X-Scope-OrgID`) is not one of its tenants. A
//!    token for exactly one tenant implies it. On the ingest listeners, a request without
//!    an `Authorization` header whose connection presented a verified client certificate
//!    named in `[[tls.clients]]` (mutual TLS, `crate::tls`; the accept loop puts a
//!    `tls::ClientCert` on the request) is treated as carrying a write-only token for
//!    that entry's tenants, named as the entry is;
//! 3. for a request not carrying a valid token, checks `Host` against the names the
//!    listener serves (IP addresses, `localhost`, `auth.allowed_hosts`): 403, which stops
//!    DNS rebinding (not on OTLP/gRPC, which no browser can call);
//! 4. asks for `Content-Type: application/json` on `POST`/`PUT` of the alerts and views
//!    APIs (415), which a cross-site form or a `fetch` without preflight cannot send;
//! 5. writes an audit line (target `arbor::audit`) for every request to the read and admin
//!    APIs: token name, method, path, tenant, status.
//!
//! Refusals take each protocol's own error shape (`guard::refuse`): a gRPC status on
//! OTLP/gRPC (UNAUTHENTICATED, PERMISSION_DENIED, INVALID_ARGUMENT), a `google.rpc.Status`
//! in the request's encoding on OTLP/HTTP, Jaeger's JSON envelope on its query API (its
//! API v3's error object under `/api/v3/`), plain text on the HTTP API and Zipkin (as
//! their other errors); every 401 carries `WWW-Authenticate: Bearer`.
//!
//! Tokens are kept hashed ([`tokens`]); `arbor token` mints one.

pub mod guard;
pub mod origin;
pub mod routes;
pub mod tokens;

use std::sync::Arc;

use arbor_query::visibility::Visibility;
use http::StatusCode;

pub use tokens::{Grant, Tenants, TokenFile};

/// The authentication settings in force on a server.
pub struct Auth {
    /// `None`: no token file, every request is let through (loopback, or
    /// `--insecure-no-auth`).
    pub tokens: Option<Arc<TokenFile>>,
    /// Extra host names the listeners answer to (lowercase); `*` turns the check off.
    pub allowed_hosts: Vec<String>,
    /// Extra origins (`scheme://host[:port]`, lowercase) whose pages may call the API.
    pub allowed_origins: Vec<String>,
}

impl Auth {
    /// No tokens, only the host and origin checks.
    pub fn open() -> Self {
        Self {
            tokens: None,
            allowed_hosts: Vec::new(),
            allowed_origins: Vec::new(),
        }
    }

    /// From the configuration: reads the token file (an error stops the start).
    pub fn from_config(c: &crate::config::AuthConfig) -> Result<Self, tokens::TokenFileError> {
        let tokens = match &c.tokens_file {
            Some(path) => Some(Arc::new(TokenFile::open(path)?)),
            None => None,
        };
        let norm = |v: &Vec<String>| {
            v.iter()
                .map(|s| s.trim().trim_end_matches('/').to_ascii_lowercase())
                .filter(|s| !s.is_empty())
                .collect()
        };
        Ok(Self {
            tokens,
            allowed_hosts: norm(&c.allowed_hosts),
            allowed_origins: norm(&c.allowed_origins),
        })
    }

    pub fn enabled(&self) -> bool {
        self.tokens.is_some()
    }
}

/// A request refused by the checks here, with what to do about it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Denied {
    #[error("authentication required: send Authorization: Bearer <token>")]
    NoToken,
    #[error("the Authorization header must be \"Bearer <token>\"")]
    NotBearer,
    #[error("the bearer token is not known (revoked, or mistyped)")]
    UnknownToken,
    #[error("token {token:?} does not grant {need} (it grants {has})")]
    NoGrant {
        token: String,
        need: String,
        has: String,
    },
    #[error("token {token:?} may not use tenant {tenant:?} (it grants {allowed})")]
    Tenant {
        token: String,
        tenant: String,
        allowed: String,
    },
    #[error("token {token:?} grants several tenants ({allowed}): name one with X-Scope-OrgID")]
    WhichTenant { token: String, allowed: String },
    #[error(
        "token {token:?} is for some tenants only; {what} needs a token for every tenant (tenants = [\"*\"])"
    )]
    NotServerWide { token: String, what: String },
    #[error("{0}")]
    BadTenant(#[from] crate::tenant::TenantError),
    #[error(
        "requests from pages of origin {0:?} are refused (not this server's origin, nor in auth.allowed_origins)"
    )]
    Origin(String),
    #[error("host {0:?} is not a name this server answers to (add it to auth.allowed_hosts)")]
    Host(String),
    #[error("this endpoint takes Content-Type: application/json (got {0:?})")]
    MediaType(String),
    #[error(
        "token {token:?} is narrowed to the scope {scope} and {path} does not apply scopes yet; use trace by ID, search or TraceQL metrics, or a token without a scope"
    )]
    NotNarrowable {
        token: String,
        scope: String,
        path: String,
    },
}

impl Denied {
    pub fn status(&self) -> StatusCode {
        match self {
            Denied::NoToken | Denied::NotBearer | Denied::UnknownToken => StatusCode::UNAUTHORIZED,
            Denied::BadTenant(_) => StatusCode::BAD_REQUEST,
            Denied::MediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            _ => StatusCode::FORBIDDEN,
        }
    }

    pub fn grpc_code(&self) -> tonic::Code {
        match self.status() {
            StatusCode::UNAUTHORIZED => tonic::Code::Unauthenticated,
            StatusCode::BAD_REQUEST | StatusCode::UNSUPPORTED_MEDIA_TYPE => {
                tonic::Code::InvalidArgument
            }
            _ => tonic::Code::PermissionDenied,
        }
    }
}

/// Who made a request, as the handlers (`/api/whoami`) and the audit log see it.
#[derive(Debug, Clone)]
pub enum Identity {
    /// No token file: anyone who reaches the listener.
    Anonymous,
    /// A valid token.
    Token(Arc<tokens::Token>),
}

impl Identity {
    pub fn name(&self) -> &str {
        match self {
            Identity::Anonymous => "-",
            Identity::Token(t) => &t.name,
        }
    }

    /// The filter a narrowed read token sees spans through.
    pub fn scope(&self) -> Option<&Arc<Visibility>> {
        match self {
            Identity::Anonymous => None,
            Identity::Token(t) => t.scope.as_ref(),
        }
    }
}

/// What the request's token may read, for handlers: `ReadScope(None)` sees every span of
/// the tenant; `Some` only the spans its filter admits. Only endpoints that apply it are
/// open to a narrowed token ([`routes::honours_scope`]).
#[derive(Debug, Clone, Default)]
pub struct ReadScope(pub Option<Arc<Visibility>>);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for ReadScope {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut http::request::Parts,
        _: &S,
    ) -> Result<Self, Self::Rejection> {
        Ok(ReadScope(
            parts
                .extensions
                .get::<Identity>()
                .and_then(|i| i.scope().cloned()),
        ))
    }
}
