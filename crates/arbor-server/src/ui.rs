//! The web UI, embedded at build time (see `build.rs`: `ui/` built with Vite).
//!
//! Served on the HTTP listener after every API route, so an API path always wins:
//!
//! - `/`, `/search…`, `/trace/<id>…`, `/map`, `/services`, `/serverless`, `/alerts`,
//!   `/views`, `/views/<id>` and `/tail` (the app's own routes) answer `index.html`, so a
//!   shared link or a reload lands in the app, which reads its state from the URL;
//! - the built files by path: `/assets/*` carry a content hash in their names and are
//!   cached for a year (`immutable`), everything else is revalidated (`no-cache`);
//!   a gzip copy made at build time is sent to clients that accept it;
//! - anything else is a 404: for a browser navigating to a page (`Accept: text/html`,
//!   outside `/api/` and `/assets/`) `index.html` with status 404, whose app shows a
//!   *Page not found* page; for any other client the API's plain 404.

use axum::response::{IntoResponse, Response};
use http::header::{
    ACCEPT_ENCODING, CACHE_CONTROL, CONTENT_ENCODING, CONTENT_SECURITY_POLICY, CONTENT_TYPE, VARY,
    X_CONTENT_TYPE_OPTIONS,
};
use http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};

/// A built file: path relative to the build's root, bytes, gzip bytes when smaller.
type Asset = (&'static str, &'static [u8], Option<&'static [u8]>);

static ASSETS: &[Asset] = include!(concat!(env!("OUT_DIR"), "/ui_assets.rs"));

/// The app's own routes, answered with `index.html`.
fn is_app_route(path: &str) -> bool {
    path == "/"
        || path == "/index.html"
        || path == "/search"
        || path.starts_with("/search/")
        || path.starts_with("/trace/")
        || path == "/map"
        || path == "/services"
        || path == "/serverless"
        || path == "/alerts"
        || path == "/views"
        || path.starts_with("/views/")
        || path == "/tail"
}

fn asset(path: &str) -> Option<Asset> {
    ASSETS.iter().copied().find(|(p, _, _)| *p == path)
}

fn content_type(path: &str) -> &'static str {
    match path.rsplit_once('.').map(|(_, ext)| ext) {
        Some("html") => "text/html; charset=utf-8",
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("json" | "map") => "application/json",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("ico") => "image/x-icon",
        Some("woff2") => "font/woff2",
        Some("txt") => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

/// The UI for `uri`, or `None` when it is not the UI's (the caller answers 404).
pub fn serve(method: &Method, uri: &Uri, headers: &HeaderMap) -> Option<Response> {
    if method != Method::GET && method != Method::HEAD {
        return None;
    }
    let path = uri.path();
    let name = if is_app_route(path) {
        "index.html"
    } else {
        path.strip_prefix('/')?
    };
    file(method, name, headers, StatusCode::OK)
}

/// A page the UI does not have, for a browser navigating to it: `index.html` answered
/// `404` (the app shows its *Page not found* page). `None` for API paths, assets, methods
/// other than GET and HEAD, and clients that do not ask for HTML (they get the API's 404).
pub fn not_found_page(method: &Method, uri: &Uri, headers: &HeaderMap) -> Option<Response> {
    if method != Method::GET && method != Method::HEAD {
        return None;
    }
    let path = uri.path();
    if path == "/api" || path.starts_with("/api/") || path.starts_with("/assets/") {
        return None;
    }
    let wants_html = headers
        .get_all(http::header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| {
            t.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .eq_ignore_ascii_case("text/html")
        });
    if !wants_html {
        return None;
    }
    file(method, "index.html", headers, StatusCode::NOT_FOUND)
}

fn file(method: &Method, name: &str, headers: &HeaderMap, status: StatusCode) -> Option<Response> {
    let (name, body, gz) = asset(name)?;
    let immutable = name.starts_with("assets/");
    let accepts_gzip = headers
        .get_all(ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|e| {
            let mut parts = e.split(';');
            let coding = parts.next().unwrap_or("").trim();
            let refused = parts.any(|p| matches!(p.trim(), "q=0" | "q=0.0" | "q=0.00" | "q=0.000"));
            (coding.eq_ignore_ascii_case("gzip") || coding == "*") && !refused
        });
    let (bytes, gzipped) = match gz {
        Some(g) if accepts_gzip => (g, true),
        _ => (body, false),
    };
    let mut resp = if method == Method::HEAD {
        status.into_response()
    } else {
        (status, bytes).into_response()
    };
    let h = resp.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static(content_type(name)));
    h.insert(
        CACHE_CONTROL,
        HeaderValue::from_static(if immutable {
            "public, max-age=31536000, immutable"
        } else {
            "no-cache"
        }),
    );
    h.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    if gz.is_some() {
        h.insert(VARY, HeaderValue::from_static("accept-encoding"));
    }
    if gzipped {
        h.insert(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }
    if name == "index.html" {
        h.insert(
            CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(
                "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; \
                 connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'",
            ),
        );
    }
    Some(resp)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(path: &str, gzip: bool) -> Option<Response> {
        let mut headers = HeaderMap::new();
        if gzip {
            headers.insert(ACCEPT_ENCODING, HeaderValue::from_static("gzip, br"));
        }
        serve(&Method::GET, &path.parse().unwrap(), &headers)
    }

    #[test]
    fn app_routes_answer_index_html() {
        for path in [
            "/",
            "/search",
            "/search?q=%7B%7D",
            "/trace/abc",
            "/trace/abc/x",
            "/map",
            "/services",
            "/serverless?namespace=shop",
            "/alerts",
            "/views",
            "/views/api",
            "/tail?q=%7B%7D",
        ] {
            let resp = get(path, false).unwrap_or_else(|| panic!("{path} not served"));
            assert_eq!(resp.status(), StatusCode::OK, "{path}");
            assert_eq!(resp.headers()[CONTENT_TYPE], "text/html; charset=utf-8");
            assert_eq!(resp.headers()[CACHE_CONTROL], "no-cache");
            assert!(resp.headers().contains_key(CONTENT_SECURITY_POLICY));
        }
    }

    #[test]
    fn hashed_assets_are_immutable_and_typed() {
        let js = ASSETS
            .iter()
            .find(|(p, _, _)| p.starts_with("assets/") && p.ends_with(".js"))
            .unwrap_or_else(|| {
                panic!(
                    "the embedded UI has no script under assets/ (built from ARBOR_UI_DIST={:?}?)",
                    option_env!("ARBOR_UI_DIST")
                )
            });
        let resp = get(&format!("/{}", js.0), true).unwrap();
        assert_eq!(
            resp.headers()[CONTENT_TYPE],
            "text/javascript; charset=utf-8"
        );
        assert_eq!(
            resp.headers()[CACHE_CONTROL],
            "public, max-age=31536000, immutable"
        );
        assert_eq!(resp.headers()[CONTENT_ENCODING], "gzip");
        let plain = get(&format!("/{}", js.0), false).unwrap();
        assert!(!plain.headers().contains_key(CONTENT_ENCODING));
    }

    #[test]
    fn other_paths_are_not_the_ui() {
        assert!(get("/nope", false).is_none());
        assert!(get("/assets/missing.js", false).is_none());
        assert!(get("/api/whatever", false).is_none());
        let post = serve(&Method::POST, &"/".parse().unwrap(), &HeaderMap::new());
        assert!(post.is_none());
    }

    #[test]
    fn a_browser_gets_the_app_with_404_for_an_unknown_page() {
        let mut html = HeaderMap::new();
        html.insert(
            http::header::ACCEPT,
            HeaderValue::from_static("text/html,application/xhtml+xml;q=0.9,*/*;q=0.8"),
        );
        let page = not_found_page(&Method::GET, &"/nope".parse().unwrap(), &html).unwrap();
        assert_eq!(page.status(), StatusCode::NOT_FOUND);
        assert_eq!(
            page.headers()[CONTENT_TYPE],
            HeaderValue::from_static("text/html; charset=utf-8")
        );
        assert!(page.headers().contains_key(CONTENT_SECURITY_POLICY));
        // Not for API paths, assets, other methods or clients that do not ask for HTML.
        for path in ["/api/nope", "/assets/missing.js"] {
            assert!(not_found_page(&Method::GET, &path.parse().unwrap(), &html).is_none());
        }
        assert!(not_found_page(&Method::POST, &"/nope".parse().unwrap(), &html).is_none());
        let mut json = HeaderMap::new();
        json.insert(
            http::header::ACCEPT,
            HeaderValue::from_static("application/json"),
        );
        assert!(not_found_page(&Method::GET, &"/nope".parse().unwrap(), &json).is_none());
        assert!(
            not_found_page(&Method::GET, &"/nope".parse().unwrap(), &HeaderMap::new()).is_none()
        );
    }

    #[test]
    fn gzip_refused_with_q_zero() {
        let mut headers = HeaderMap::new();
        headers.insert(ACCEPT_ENCODING, HeaderValue::from_static("gzip;q=0, br"));
        let resp = serve(&Method::GET, &"/".parse().unwrap(), &headers).unwrap();
        assert!(!resp.headers().contains_key(CONTENT_ENCODING));
    }
}
