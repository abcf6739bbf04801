//! The alerts API on the main listener (see docs/alerts.md):
//! `/api/alerts/rules` (list, create), `/api/alerts/rules/{name}` (replace, delete),
//! `…/{name}/test`, `…/{name}/silence`, `/api/alerts/history`, `/api/alerts/export` (the
//! rules as a rules file).

use std::collections::HashMap;
use std::sync::Arc;

use arbor_model::time::parse_rfc3339;
use axum::Json;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use http::StatusCode;
use serde_json::{Value, json};

use super::rules::{Format, Rule};
use super::{Alerts, Phase, now_ms};
use crate::api::error;
use crate::state::AppState;
use crate::units::HumanDuration;

pub fn router() -> Router<Arc<AppState>> {
    Router::new()
        .route("/api/alerts/rules", get(list).post(create))
        .route("/api/alerts/rules/{name}", put(replace).delete(remove))
        .route("/api/alerts/rules/{name}/test", post(test_fire))
        .route(
            "/api/alerts/rules/{name}/silence",
            post(silence).delete(unsilence),
        )
        .route("/api/alerts/history", get(history))
        .route("/api/alerts/export", get(export))
}

/// Runs a change of the rules or states, which writes files with fsync, on the blocking
/// pool rather than on an async worker.
async fn off_runtime<T: Send + 'static>(
    a: &Arc<super::Alerts>,
    f: impl FnOnce(&super::Alerts) -> Result<T, (u16, String)> + Send + 'static,
) -> Result<T, (u16, String)> {
    let a = a.clone();
    tokio::task::spawn_blocking(move || f(&a))
        .await
        .unwrap_or_else(|e| Err((500, format!("the change failed: {e}"))))
}

/// A request refused: its status and message.
struct Refusal(StatusCode, String);

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        error(self.0, self.1)
    }
}

/// The alerts of a request's server: every handler here takes it, and a server with alerts
/// switched off answers `503` before any handler runs.
struct Enabled(Arc<Alerts>);

impl axum::extract::FromRequestParts<Arc<AppState>> for Enabled {
    type Rejection = Refusal;

    async fn from_request_parts(
        _: &mut http::request::Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, Refusal> {
        state.alerts.clone().map(Enabled).ok_or_else(|| {
            Refusal(
                StatusCode::SERVICE_UNAVAILABLE,
                "alerts are off (alerts.enabled = false)".into(),
            )
        })
    }
}

fn status(code: u16) -> StatusCode {
    StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

fn parse_rule(body: &[u8]) -> Result<Rule, Refusal> {
    serde_json::from_slice(body)
        .map_err(|e| Refusal(StatusCode::BAD_REQUEST, format!("invalid rule: {e}")))
}

/// A rule with what is known of it now.
fn view(a: &Alerts, rule: &Rule, source: super::Source) -> Value {
    let st = a.state_of(&rule.name);
    let mut v = serde_json::to_value(rule).expect("rule serialises");
    let o = v.as_object_mut().expect("an object");
    o.insert(
        "source".into(),
        serde_json::to_value(source).expect("source"),
    );
    o.insert(
        "state".into(),
        super::phase_name(st.state).to_string().into(),
    );
    o.insert("since".into(), st.since.into());
    o.insert("value".into(), st.value.into());
    o.insert(
        "threshold".into(),
        st.threshold.or_else(|| rule.threshold()).into(),
    );
    o.insert("error".into(), st.error.into());
    o.insert("exampleTraces".into(), st.example_traces.into());
    o.insert("silencedUntil".into(), st.silenced_until.into());
    o.insert("evaluatedAt".into(), st.evaluated_at.into());
    v
}

fn order(state: &str) -> u8 {
    match state {
        "firing" => 0,
        "pending" => 1,
        "error" => 2,
        _ => 3,
    }
}

async fn list(Enabled(a): Enabled) -> Response {
    let mut rules: Vec<Value> = a.rules().iter().map(|(r, s)| view(&a, r, *s)).collect();
    rules.sort_by_key(|v| {
        (
            order(v["state"].as_str().unwrap_or("")),
            v["name"].as_str().unwrap_or("").to_string(),
        )
    });
    let file_error = a.inner.lock().file_error.clone();
    Json(json!({"rules": rules, "fileError": file_error})).into_response()
}

/// `GET /api/alerts/export?format=yaml|toml&source=api|file|all`: the rules as the text of
/// a rules file (by default YAML, of the rules made through the API), to keep them in a
/// file under version control.
async fn export(Enabled(a): Enabled, Query(params): Query<HashMap<String, String>>) -> Response {
    let bad = |m: String| error(StatusCode::BAD_REQUEST, m);
    let format = match params.get("format").map(String::as_str) {
        None | Some("yaml") => Format::Yaml,
        Some("toml") => Format::Toml,
        Some(other) => return bad(format!("format {other:?}: yaml or toml")),
    };
    let (ext, content_type) = format.extension_and_media_type();
    let keep: fn(super::Source) -> bool = match params.get("source").map(String::as_str) {
        None | Some("api") => |s| s == super::Source::Api,
        Some("file") => |s| s == super::Source::File,
        Some("all") => |_| true,
        Some(other) => return bad(format!("source {other:?}: api, file or all")),
    };
    let rules: Vec<Rule> = a
        .rules()
        .into_iter()
        .filter(|(_, s)| keep(*s))
        .map(|(r, _)| r)
        .collect();
    match super::rules::to_file_text(&rules, format) {
        Ok(text) => (
            [
                (
                    http::header::CONTENT_TYPE,
                    format!("{content_type}; charset=utf-8"),
                ),
                (
                    http::header::CONTENT_DISPOSITION,
                    format!("attachment; filename=\"alerts.{ext}\""),
                ),
            ],
            text,
        )
            .into_response(),
        Err(e) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("writing the rules: {e}"),
        ),
    }
}

async fn create(Enabled(a): Enabled, body: axum::body::Bytes) -> Response {
    let rule = match parse_rule(&body) {
        Ok(r) => r,
        Err(r) => return r.into_response(),
    };
    match off_runtime(&a, {
        let rule = rule.clone();
        move |a| a.put_rule(rule, false)
    })
    .await
    {
        Ok(()) => (
            StatusCode::CREATED,
            Json(view(&a, &rule, super::Source::Api)),
        )
            .into_response(),
        Err((code, m)) => error(status(code), m),
    }
}

async fn replace(
    Enabled(a): Enabled,
    Path(name): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    let rule = match parse_rule(&body) {
        Ok(r) => r,
        Err(r) => return r.into_response(),
    };
    if rule.name != name {
        return error(
            StatusCode::BAD_REQUEST,
            format!(
                "the body names rule {:?}, the path {name:?}: rename by deleting and creating",
                rule.name
            ),
        );
    }
    match off_runtime(&a, {
        let rule = rule.clone();
        move |a| a.put_rule(rule, true)
    })
    .await
    {
        Ok(()) => Json(view(&a, &rule, super::Source::Api)).into_response(),
        Err((code, m)) => error(status(code), m),
    }
}

async fn remove(Enabled(a): Enabled, Path(name): Path<String>) -> Response {
    match off_runtime(&a, move |a| a.delete_rule(&name)).await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err((code, m)) => error(status(code), m),
    }
}

async fn silence(
    Enabled(a): Enabled,
    Path(name): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    let v: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => return error(StatusCode::BAD_REQUEST, format!("invalid body: {e}")),
    };
    let until = if let Some(f) = v.get("for").and_then(Value::as_str) {
        match f.parse::<HumanDuration>() {
            Ok(d) => now_ms() + d.0.as_millis() as i64,
            Err(e) => return error(StatusCode::BAD_REQUEST, format!("invalid for {f:?}: {e}")),
        }
    } else if let Some(u) = v.get("until").and_then(Value::as_str) {
        match parse_rfc3339(u) {
            Some(t) => t.secs * 1_000 + i64::from(t.nanos / 1_000_000),
            None => {
                return error(
                    StatusCode::BAD_REQUEST,
                    format!(
                        "invalid until {u:?}: expected an RFC 3339 time, e.g. 2026-11-21T18:00:00Z"
                    ),
                );
            }
        }
    } else {
        return error(
            StatusCode::BAD_REQUEST,
            "give \"until\" (an RFC 3339 time) or \"for\" (a duration)",
        );
    };
    if until <= now_ms() {
        return error(StatusCode::BAD_REQUEST, "the silence would end in the past");
    }
    match off_runtime(&a, {
        let name = name.clone();
        move |a| a.silence(&name, Some(until))
    })
    .await
    {
        Ok(()) => Json(json!({"rule": name, "silencedUntil": until})).into_response(),
        Err((code, m)) => error(status(code), m),
    }
}

async fn unsilence(Enabled(a): Enabled, Path(name): Path<String>) -> Response {
    match off_runtime(&a, move |a| a.silence(&name, None)).await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err((code, m)) => error(status(code), m),
    }
}

async fn test_fire(
    Enabled(a): Enabled,
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
) -> Response {
    let Some((rule, _)) = a.rules().into_iter().find(|(r, _)| r.name == name) else {
        return error(StatusCode::NOT_FOUND, format!("no rule {name:?}"));
    };
    let Some(store) = state.store() else {
        return error(
            StatusCode::SERVICE_UNAVAILABLE,
            "not ready: replaying the write-ahead log",
        );
    };
    let timeout = state.config.query.search_timeout.0;
    let ev = a
        .evaluate_now(&rule, store, state.derived.as_deref(), timeout)
        .await;
    let (value, threshold, examples, err) = match &ev {
        Ok(e) => (e.value, e.threshold, e.examples.clone(), None),
        Err(e) => (None, None, Vec::new(), Some(e.clone())),
    };
    let mut st = a.state_of(&name);
    st.value = value;
    st.threshold = threshold;
    st.example_traces = examples.clone();
    st.state = Phase::Firing;
    let now = now_ms();
    let mut deliveries = Vec::new();
    for receiver in a.receivers_of(&rule) {
        let format = a.receiver(&receiver).map_or("arbor", |r| r.format.as_str());
        let (id, body) = a.body(&rule, &st, "test", format, now);
        let result = a.send(&receiver, &id, &body).await;
        deliveries.push(json!({
            "receiver": receiver,
            "delivered": result.is_ok(),
            "error": result.err(),
        }));
    }
    Json(json!({
        "rule": name,
        "value": value,
        "threshold": threshold,
        "breached": matches!((value, threshold), (Some(v), Some(t)) if v > t),
        "exampleTraces": examples,
        "error": err,
        "deliveries": deliveries,
    }))
    .into_response()
}

async fn history(Enabled(a): Enabled, Query(params): Query<HashMap<String, String>>) -> Response {
    let limit = match params
        .get("limit")
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
    {
        None => 100,
        Some(s) => match s.parse::<usize>() {
            Ok(n) if n > 0 => n.min(super::HISTORY),
            _ => {
                return error(
                    StatusCode::BAD_REQUEST,
                    format!("invalid limit {s:?}: expected 1–{}", super::HISTORY),
                );
            }
        },
    };
    Json(json!({"history": a.history(limit)})).into_response()
}
