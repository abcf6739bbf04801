//! The scopes (Serverless Console's named sets of required tags) and the filters of a
//! view, as TraceQL.
//!
//! A view's query is one spanset filter: the scope's predicate (every required tag
//! present), then one condition per filter, all joined by `&&`; a view's own TraceQL, when
//! it has one, is joined to that with `&&` (both must match in the trace). Values are read
//! in every shape the data may hold them: a flag as `true` or `"true"`, a status code as
//! `500` or `"500"`, each key under its current and its older name.

pub use arbor_query::traceql::quote;
use serde::Serialize;

/// A built-in scope.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Scope {
    pub id: &'static str,
    pub name: &'static str,
    /// Tags a span must have to be in the scope.
    pub requires: &'static [&'static str],
    /// The filters its view offers, by [`Filter`] id.
    pub filters: &'static [&'static str],
    /// The charts its view may show.
    pub charts: &'static [&'static str],
}

const PLACE: [&str; 4] = ["service", "namespace", "environment", "region"];

pub const SCOPES: [Scope; 2] = [
    Scope {
        id: "api",
        name: "API",
        requires: &arbor_model::faas::API_TAGS,
        filters: &[
            PLACE[0], PLACE[1], PLACE[2], PLACE[3], "endpoint", "method", "duration", "status",
        ],
        charts: &["requests", "errors", "p95"],
    },
    Scope {
        id: "functions",
        name: "All Functions",
        requires: &arbor_model::faas::ALL_FUNCTIONS_TAGS,
        filters: &[
            PLACE[0],
            PLACE[1],
            PLACE[2],
            PLACE[3],
            "function",
            "errors",
            "coldstart",
            "duration",
        ],
        charts: &["invocations", "errors", "coldStarts", "p95"],
    },
];

/// A filter a view may set: its id, its label and the keys it reads.
#[derive(Debug, Clone, Serialize)]
pub struct Filter {
    pub id: &'static str,
    pub label: &'static str,
    /// Attribute keys whose values the UI offers (the first the data has), empty for
    /// fixed choices.
    pub keys: &'static [&'static str],
}

pub const FILTERS: [Filter; 11] = [
    Filter {
        id: "service",
        label: "Service",
        keys: &["resource.service.name"],
    },
    Filter {
        id: "namespace",
        label: "Namespace",
        keys: &["service.namespace"],
    },
    Filter {
        id: "environment",
        label: "Environment",
        keys: &["deployment.environment.name", "deployment.environment"],
    },
    Filter {
        id: "region",
        label: "Region",
        keys: &["cloud.region"],
    },
    Filter {
        id: "endpoint",
        label: "Endpoint",
        keys: &["http.route", "http.path", "url.path"],
    },
    Filter {
        id: "method",
        label: "Method",
        keys: &["http.request.method", "http.method"],
    },
    Filter {
        id: "status",
        label: "Status code",
        keys: &["http.response.status_code", "http.status_code"],
    },
    Filter {
        id: "duration",
        label: "Duration",
        keys: &[],
    },
    Filter {
        id: "function",
        label: "Function",
        keys: &["faas.name"],
    },
    Filter {
        id: "errors",
        label: "Errors",
        keys: &[],
    },
    Filter {
        id: "coldstart",
        label: "Cold start",
        keys: &[],
    },
];

/// A filter value that cannot be turned into a condition.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FilterError {
    #[error("unknown filter {0:?}")]
    Unknown(String),
    #[error("filter {0}: {1}")]
    Value(&'static str, String),
}

pub fn scope(id: &str) -> Option<&'static Scope> {
    SCOPES.iter().find(|s| s.id == id)
}

/// `.key` for an attribute key (quoted when it needs to be).
fn field(key: &str) -> String {
    if key.starts_with("resource.") {
        return key.to_string();
    }
    if key
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"._-:".contains(&b))
    {
        format!(".{key}")
    } else {
        format!(".{}", quote(key))
    }
}

/// The scope's predicate: every required tag present.
pub fn scope_condition(s: &Scope) -> String {
    s.requires
        .iter()
        .map(|k| format!("{} != nil", field(k)))
        .collect::<Vec<_>>()
        .join(" && ")
}

/// `key` equal to `value` under any of `keys`.
fn any_equal(keys: &[&str], value: &str) -> String {
    let parts: Vec<String> = keys
        .iter()
        .map(|k| format!("{} = {}", field(k), quote(value)))
        .collect();
    group(parts)
}

fn group(parts: Vec<String>) -> String {
    if parts.len() == 1 {
        parts.into_iter().next().expect("one")
    } else {
        format!("({})", parts.join(" || "))
    }
}

/// A flag `key` equal to `on`, as a boolean or as the Console's string.
fn flag_parts(key: &str, on: bool) -> [String; 2] {
    [
        format!("{} = {on}", field(key)),
        format!("{} = \"{on}\"", field(key)),
    ]
}

fn flag(key: &str, on: bool) -> String {
    group(flag_parts(key, on).into())
}

fn boolean(id: &'static str, value: &str) -> Result<bool, FilterError> {
    match value.trim() {
        "true" => Ok(true),
        "false" => Ok(false),
        v => Err(FilterError::Value(
            id,
            format!("{v:?} is not true or false"),
        )),
    }
}

/// The failed spans: status error, or `faas.error` / `faas.error_timeout` true.
pub fn failed_condition() -> String {
    let mut parts = vec!["status = error".to_string()];
    parts.extend(flag_parts("faas.error", true));
    parts.extend(flag_parts("faas.error_timeout", true));
    group(parts)
}

/// A status code (`500`) or class (`5xx`) under both keys, as a number or a string.
fn status(value: &str) -> Result<String, FilterError> {
    let v = value.trim();
    let keys = ["http.response.status_code", "http.status_code"];
    if let Some(class) = v
        .strip_suffix("xx")
        .and_then(|d| d.parse::<u16>().ok())
        .filter(|d| (1..=5).contains(d))
    {
        let (lo, hi) = (class * 100, class * 100 + 100);
        return Ok(group(
            keys.iter()
                .flat_map(|k| {
                    let f = field(k);
                    [
                        format!("({f} >= {lo} && {f} < {hi})"),
                        format!("{f} =~ {}", quote(&format!("{class}[0-9][0-9]"))),
                    ]
                })
                .collect(),
        ));
    }
    let code: u16 = v
        .parse()
        .ok()
        .filter(|c| (100..=599).contains(c))
        .ok_or_else(|| {
            FilterError::Value("status", format!("{v:?} is not a code or a class (5xx)"))
        })?;
    Ok(group(
        keys.iter()
            .flat_map(|k| {
                [
                    format!("{} = {code}", field(k)),
                    format!("{} = \"{code}\"", field(k)),
                ]
            })
            .collect(),
    ))
}

/// A minimum duration: `500ms`, `1.5s`, or a number of milliseconds.
fn duration(value: &str) -> Result<String, FilterError> {
    let v = value.trim();
    let number_end = v
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(v.len());
    let (n, unit) = v.split_at(number_end);
    let unit = if unit.is_empty() { "ms" } else { unit };
    if n.parse::<f64>().is_err() || !["ns", "us", "ms", "s", "m", "h"].contains(&unit) {
        return Err(FilterError::Value(
            "duration",
            format!("{v:?} is not a duration (500ms, 1.5s)"),
        ));
    }
    Ok(format!("duration >= {n}{unit}"))
}

/// One filter's condition.
pub fn condition(id: &str, value: &str) -> Result<String, FilterError> {
    let keys = |id: &str| {
        FILTERS
            .iter()
            .find(|f| f.id == id)
            .map(|f| f.keys)
            .unwrap_or(&[])
    };
    Ok(match id {
        "service" => format!("resource.service.name = {}", quote(value)),
        "namespace" | "environment" | "region" | "endpoint" | "method" | "function" => {
            any_equal(keys(id), value)
        }
        "status" => status(value)?,
        "duration" => duration(value)?,
        "errors" => {
            if boolean("errors", value)? {
                failed_condition()
            } else {
                format!("!{}", failed_condition())
            }
        }
        "coldstart" => flag("faas.coldstart", boolean("coldstart", value)?),
        other => return Err(FilterError::Unknown(other.to_string())),
    })
}

/// The spanset filter of a scope (optional) and filters: `{ … && … }` (`{ }` for none).
pub fn spanset(
    scope: Option<&Scope>,
    filters: &std::collections::BTreeMap<String, String>,
) -> Result<String, FilterError> {
    let mut conds: Vec<String> = scope.map(scope_condition).into_iter().collect();
    for (id, value) in filters {
        if value.trim().is_empty() {
            continue;
        }
        conds.push(condition(id, value)?);
    }
    Ok(if conds.is_empty() {
        "{ }".into()
    } else {
        format!("{{ {} }}", conds.join(" && "))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parses(q: &str) {
        arbor_query::traceql::parse_and_validate(q).unwrap_or_else(|e| panic!("{q}: {e}"));
    }

    #[test]
    fn every_condition_is_traceql() {
        for (id, v) in [
            ("service", "my-app"),
            ("namespace", "a\"b"),
            ("environment", "prod"),
            ("region", "us-east1"),
            ("endpoint", "/user/create"),
            ("method", "POST"),
            ("status", "500"),
            ("status", "5xx"),
            ("duration", "500ms"),
            ("duration", "250"),
            ("function", "my-lambda"),
            ("errors", "true"),
            ("errors", "false"),
            ("coldstart", "true"),
        ] {
            parses(&format!("{{ {} }}", condition(id, v).unwrap()));
        }
        for s in &SCOPES {
            parses(&spanset(Some(s), &Default::default()).unwrap());
        }
    }

    #[test]
    fn values_in_every_shape() {
        assert_eq!(
            condition("coldstart", "true").unwrap(),
            r#"(.faas.coldstart = true || .faas.coldstart = "true")"#
        );
        assert_eq!(
            failed_condition(),
            r#"(status = error || .faas.error = true || .faas.error = "true" || .faas.error_timeout = true || .faas.error_timeout = "true")"#
        );
        assert_eq!(
            condition("status", "500").unwrap(),
            r#"(.http.response.status_code = 500 || .http.response.status_code = "500" || .http.status_code = 500 || .http.status_code = "500")"#
        );
        assert_eq!(condition("duration", "1.5s").unwrap(), "duration >= 1.5s");
        assert!(matches!(
            condition("duration", "fast"),
            Err(FilterError::Value(..))
        ));
        assert!(matches!(
            condition("status", "600"),
            Err(FilterError::Value(..))
        ));
        assert!(matches!(
            condition("color", "red"),
            Err(FilterError::Unknown(_))
        ));
    }
}
