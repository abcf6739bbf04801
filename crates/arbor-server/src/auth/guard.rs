//! The middleware every listener's router runs first (see the module doc of `auth`).

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::header::{
    ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS, ACCESS_CONTROL_ALLOW_ORIGIN,
    ACCESS_CONTROL_MAX_AGE, ACCESS_CONTROL_REQUEST_METHOD, AUTHORIZATION, CONTENT_TYPE, VARY,
    WWW_AUTHENTICATE,
};
use http::{HeaderValue, Method, StatusCode};

use super::routes::{Listener, Need, Scope, classify, wants_json};
use super::{Auth, Denied, Identity, TokenFile, origin};
use crate::tenant;
use crate::tls::ClientCert;

/// What the middleware of one listener knows.
#[derive(Clone)]
pub struct Guard {
    pub auth: Arc<Auth>,
    pub listener: Listener,
}

/// A request let through: who made it, and the tenant it acts for (`None`: server-wide or
/// not tenant-bound).
struct Admitted {
    identity: Identity,
    tenant: Option<String>,
}

pub async fn guard(State(g): State<Guard>, req: Request, next: Next) -> Response {
    // A page of an origin in `auth.allowed_origins`: CORS headers on every answer, and its
    // preflights answered here (they carry no token; the request that follows is checked).
    let Some(origin) = origin::cors_origin(&g.auth, req.headers()) else {
        return checked(g, req, next).await;
    };
    let mut resp = if req.method() == Method::OPTIONS
        && req.headers().contains_key(ACCESS_CONTROL_REQUEST_METHOD)
    {
        let mut r = StatusCode::NO_CONTENT.into_response();
        let h = r.headers_mut();
        h.insert(
            ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static(CORS_METHODS),
        );
        h.insert(
            ACCESS_CONTROL_ALLOW_HEADERS,
            HeaderValue::from_static(CORS_HEADERS),
        );
        h.insert(ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("600"));
        r
    } else {
        checked(g, req, next).await
    };
    let h = resp.headers_mut();
    h.insert(ACCESS_CONTROL_ALLOW_ORIGIN, origin);
    h.append(VARY, HeaderValue::from_static("Origin"));
    resp
}

/// The methods a page of an allowed origin may use.
const CORS_METHODS: &str = "GET, HEAD, POST, PUT, DELETE, OPTIONS";
/// The request headers a page of an allowed origin may send.
const CORS_HEADERS: &str = "Authorization, Content-Type, X-Scope-OrgID";

/// The checks of the module doc, then the route.
async fn checked(g: Guard, mut req: Request, next: Next) -> Response {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let need = classify(g.listener, &method, &path);
    let audited = need.audited(g.listener);
    match admit(&g.auth, g.listener, need, &mut req) {
        Ok(a) => {
            req.extensions_mut().insert(a.identity.clone());
            let resp = next.run(req).await;
            if audited {
                audit(
                    a.identity.name(),
                    &method,
                    &path,
                    a.tenant.as_deref(),
                    resp.status(),
                );
            }
            resp
        }
        Err((denied, who)) => {
            let resp = refuse(g.listener, &denied, &req);
            if audited {
                let tenant = req
                    .headers()
                    .get(tenant::HEADER)
                    .and_then(|v| v.to_str().ok());
                audit(
                    who.as_deref().unwrap_or("-"),
                    &method,
                    &path,
                    tenant,
                    resp.status(),
                );
            }
            resp
        }
    }
}

/// One line per request to the read and admin APIs.
fn audit(token: &str, method: &Method, path: &str, tenant: Option<&str>, status: StatusCode) {
    let path: String = path.chars().take(300).collect();
    tracing::info!(
        target: "arbor::audit",
        token = %token,
        method = %method,
        path = %path,
        tenant = %tenant.unwrap_or("-"),
        status = status.as_u16(),
        "request"
    );
}

/// A refused request: the denial and, when a token was recognised, its name.
type Refusal = (Denied, Option<String>);

fn admit(
    auth: &Auth,
    listener: Listener,
    need: Need,
    req: &mut Request,
) -> Result<Admitted, Refusal> {
    let plain = |d: Denied| -> Refusal { (d, None) };
    origin::check_origin(auth, req.headers(), req.uri()).map_err(plain)?;
    let token = match (&auth.tokens, need) {
        (Some(file), Need::AnyToken | Need::Grant(..)) => {
            match authenticate(file, req.headers()) {
                Ok(t) => Some(t),
                // No token: a verified client certificate (mutual TLS, ingest listeners
                // only) stands for one.
                Err(Denied::NoToken) => match req.extensions().get::<ClientCert>() {
                    Some(c) => Some(c.0.clone()),
                    None => return Err(plain(Denied::NoToken)),
                },
                Err(e) => return Err(plain(e)),
            }
        }
        _ => None,
    };
    if token.is_none() && listener != Listener::OtlpGrpc {
        // Without a token, only the network guards the server: a page on a rebound name
        // must not reach it. (Browsers cannot make a gRPC call: it needs HTTP/2 without
        // TLS, which they never speak; so collectors may name the gRPC listener freely.)
        origin::check_host(auth, req.headers(), req.uri()).map_err(plain)?;
    }
    let (identity, tenant) = match token {
        None => {
            let tenant = req
                .headers()
                .get(tenant::HEADER)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            (Identity::Anonymous, tenant)
        }
        Some(t) => {
            let named = |d: Denied| (d, Some(t.name.clone()));
            let tenant = match need {
                Need::Open | Need::AnyToken => None,
                Need::Grant(grants, scope) => {
                    if !grants.iter().any(|g| t.has(*g)) {
                        let need = grants
                            .iter()
                            .map(|g| g.as_str())
                            .collect::<Vec<_>>()
                            .join(" or ");
                        let has = t
                            .grants
                            .iter()
                            .map(|g| g.as_str())
                            .collect::<Vec<_>>()
                            .join(", ");
                        return Err(named(Denied::NoGrant {
                            token: t.name.clone(),
                            need,
                            has,
                        }));
                    }
                    let tenant = match scope {
                        Scope::Server => {
                            if t.tenants != super::Tenants::All {
                                return Err(named(Denied::NotServerWide {
                                    token: t.name.clone(),
                                    what: what_of(req.uri().path()),
                                }));
                            }
                            None
                        }
                        Scope::Tenant => Some(resolve_tenant(&t, req).map_err(named)?),
                    };
                    // The scope narrows reads; writes are not narrowed.
                    if let Some(scope) = &t.scope
                        && grants.contains(&super::Grant::Read)
                        && !super::routes::honours_scope(listener, req.uri().path())
                    {
                        return Err(named(Denied::NotNarrowable {
                            token: t.name.clone(),
                            scope: scope.text().to_string(),
                            path: req.uri().path().chars().take(200).collect(),
                        }));
                    }
                    tenant
                }
            };
            (Identity::Token(t), tenant)
        }
    };
    if wants_json(listener, req.method(), req.uri().path()) {
        let ct = req
            .headers()
            .get(CONTENT_TYPE)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .unwrap_or_default();
        let mime = ct
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        if mime != "application/json" {
            let who = match &identity {
                Identity::Token(t) => Some(t.name.clone()),
                Identity::Anonymous => None,
            };
            return Err((Denied::MediaType(ct.chars().take(100).collect()), who));
        }
    }
    Ok(Admitted { identity, tenant })
}

/// The server-wide endpoint a path is, for a refusal's message.
fn what_of(path: &str) -> String {
    match path {
        "/metrics" | "/flush" => path.to_string(),
        _ => "the alerts API".into(),
    }
}

/// The token of `Authorization: Bearer <token>`.
fn authenticate(
    file: &TokenFile,
    headers: &http::HeaderMap,
) -> Result<Arc<super::tokens::Token>, Denied> {
    let raw = headers.get(AUTHORIZATION).ok_or(Denied::NoToken)?;
    let value = raw.to_str().map_err(|_| Denied::NotBearer)?.trim();
    let (scheme, token) = value.split_once(' ').ok_or(Denied::NotBearer)?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(Denied::NotBearer);
    }
    file.tokens().find(token.trim()).ok_or(Denied::UnknownToken)
}

/// The tenant a token acts for: the one `X-Scope-OrgID` names, which it must grant; without
/// the header, its only tenant, or the default tenant if it grants that.
fn resolve_tenant(t: &super::tokens::Token, req: &mut Request) -> Result<String, Denied> {
    match req.headers().get(tenant::HEADER) {
        Some(v) => {
            let asked = tenant::from_value(Some(v.as_bytes()))?;
            if t.tenants.allows(&asked) {
                Ok(asked)
            } else {
                Err(Denied::Tenant {
                    token: t.name.clone(),
                    tenant: asked,
                    allowed: t.tenants.describe(),
                })
            }
        }
        None => {
            if let Some(one) = t.tenants.single() {
                let value = HeaderValue::from_str(one).map_err(|_| {
                    Denied::BadTenant(tenant::TenantError::BadChars(one.to_string()))
                })?;
                req.headers_mut().insert(tenant::HEADER, value);
                Ok(one.to_string())
            } else if t.tenants.allows(tenant::DEFAULT_TENANT) {
                Ok(tenant::DEFAULT_TENANT.to_string())
            } else {
                Err(Denied::WhichTenant {
                    token: t.name.clone(),
                    allowed: t.tenants.describe(),
                })
            }
        }
    }
}

/// The answer to a refused request, in the shape its protocol gives errors: a gRPC status
/// (OTLP/gRPC), a `google.rpc.Status` in the request's encoding (OTLP/HTTP), Jaeger's JSON
/// envelope (or its API v3's error object), plain text elsewhere (Zipkin, the Tempo API
/// and ours, whose other errors are plain text too). A 401 carries
/// `WWW-Authenticate: Bearer`.
fn refuse(listener: Listener, d: &Denied, req: &Request) -> Response {
    let status = d.status();
    let message = d.to_string();
    let mut resp = match listener {
        Listener::OtlpGrpc => {
            return tonic::Status::new(d.grpc_code(), message)
                .into_http::<axum::body::Body>()
                .into_response();
        }
        Listener::OtlpHttp => {
            // JSON unless the request's body is protobuf (as for a type not understood).
            let enc = crate::ingest::otlp_http::encoding(req.headers())
                .unwrap_or(crate::ingest::otlp_http::Encoding::Json);
            crate::ingest::otlp_http::status_response(enc, status, d.grpc_code() as i32, message)
        }
        Listener::Jaeger if req.uri().path().starts_with("/api/v3/") => {
            crate::api::jaeger::v3_error(status, message)
        }
        Listener::Jaeger => crate::api::jaeger::envelope_error(status, message),
        Listener::Http | Listener::Zipkin => crate::api::error(status, message),
    };
    if status == StatusCode::UNAUTHORIZED {
        resp.headers_mut()
            .insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    }
    resp
}
