//! Alert rules: their fields, their checks, and the rules file (see docs/alerts.md).

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::units::HumanDuration;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Latency,
    Errors,
    Traceql,
    Serverless,
}

/// A threshold as written: a number, or (latency) a duration text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Above {
    Number(f64),
    Text(String),
}

/// One alert rule, as written in the file or sent to the API.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    pub name: String,
    pub kind: Kind,
    /// The tenant whose data the rule reads; the default tenant when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// Latency and errors of a service: spans of this kind only (`server`, `client`,
    /// `producer`, `consumer`, `internal`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub span_kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quantile: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub measure: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<HumanDuration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query: Option<String>,
    pub window: HumanDuration,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub above: Option<Above>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline_factor: Option<f64>,
    #[serde(rename = "for", default = "zero")]
    pub for_: HumanDuration,
    #[serde(default = "warning")]
    pub severity: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receivers: Option<Vec<String>>,
}

fn zero() -> HumanDuration {
    HumanDuration(std::time::Duration::ZERO)
}

fn warning() -> String {
    "warning".into()
}

/// The span kinds a rule can name, as TraceQL writes them.
pub const SPAN_KINDS: [&str; 5] = ["server", "client", "producer", "consumer", "internal"];

/// Longest window a rule may have.
pub const MAX_WINDOW: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

/// What each measure means, per kind.
const ERROR_MEASURES: [&str; 2] = ["rate", "count"];
const TRACEQL_MEASURES: [&str; 2] = ["count", "rate"];
const SERVERLESS_MEASURES: [&str; 6] = [
    "timeouts",
    "errors",
    "cold_start_rate",
    "memory_share",
    "duration_to_timeout",
    "new_errors",
];

impl Rule {
    /// The threshold in the rule's unit (seconds for latency).
    pub fn threshold(&self) -> Option<f64> {
        match self.above.as_ref()? {
            Above::Number(n) => Some(*n),
            Above::Text(t) => t
                .parse::<HumanDuration>()
                .ok()
                .map(|d| d.0.as_secs_f64())
                .or_else(|| t.trim().parse().ok()),
        }
    }

    /// The tenant whose data the rule reads.
    pub fn tenant(&self) -> &str {
        self.tenant
            .as_deref()
            .unwrap_or(crate::tenant::DEFAULT_TENANT)
    }

    /// The measure, with each kind's default.
    pub fn measure(&self) -> &str {
        match (self.kind, self.measure.as_deref()) {
            (_, Some(m)) => m,
            (Kind::Latency, None) => "quantile",
            (Kind::Errors, None) => "rate",
            (Kind::Traceql, None) => "count",
            (Kind::Serverless, None) => "errors",
        }
    }

    /// Checks the rule; the message names the field.
    pub fn check(&self, receivers: &[String]) -> Result<(), String> {
        let name_ok = !self.name.trim().is_empty()
            && self.name.len() <= 128
            && self
                .name
                .chars()
                .all(|c| c.is_alphanumeric() || "-_. ".contains(c));
        if !name_ok {
            return Err(format!(
                "name {:?}: 1–128 characters of letters, digits, '-', '_', '.', ' '",
                self.name
            ));
        }
        let w = self.window.0;
        if w < std::time::Duration::from_secs(15) || w > MAX_WINDOW {
            return Err(format!(
                "window {}: must be between 15s and 24h",
                self.window
            ));
        }
        if let Some(t) = &self.tenant {
            crate::tenant::validate(t).map_err(|e| format!("tenant: {e}"))?;
        }
        if let Some(k) = &self.span_kind {
            if !SPAN_KINDS.contains(&k.as_str()) {
                return Err(format!("span_kind {k:?}: one of {SPAN_KINDS:?}"));
            }
            let of_service = matches!(self.kind, Kind::Latency | Kind::Errors)
                && self.client.is_none()
                && self.route.is_none();
            if !of_service {
                return Err(
                    "span_kind: only latency and errors rules of a service (not of a route or an edge) take a span kind"
                        .into(),
                );
            }
        }
        if self.above.is_some() && self.threshold().is_none() {
            return Err(format!(
                "above {:?}: expected a number or a duration",
                self.above
            ));
        }
        match self.kind {
            Kind::Latency => {
                match self.quantile {
                    Some(q) if [0.5, 0.9, 0.95, 0.99].contains(&q) => {}
                    other => {
                        return Err(format!(
                            "quantile {other:?}: a latency rule needs one of 0.5, 0.9, 0.95, 0.99"
                        ));
                    }
                }
                if self.service.is_none() {
                    return Err("service: a latency rule needs a service".into());
                }
                match (&self.above, self.baseline_factor) {
                    (Some(_), None) => {}
                    (None, Some(f)) if f > 1.0 => {}
                    (None, Some(f)) => {
                        return Err(format!("baseline_factor {f}: must be more than 1"));
                    }
                    _ => {
                        return Err(
                            "above, baseline_factor: a latency rule needs exactly one of them"
                                .into(),
                        );
                    }
                }
            }
            Kind::Errors => {
                let edge = self.client.is_some() || self.server.is_some();
                if edge && (self.client.is_none() || self.server.is_none()) {
                    return Err("client, server: an edge needs both".into());
                }
                if !edge && self.service.is_none() {
                    return Err(
                        "service: an errors rule needs a service (or client and server)".into(),
                    );
                }
                if !ERROR_MEASURES.contains(&self.measure()) {
                    return Err(format!(
                        "measure {:?}: an errors rule measures one of {ERROR_MEASURES:?}",
                        self.measure()
                    ));
                }
            }
            Kind::Traceql => {
                let q = self
                    .query
                    .as_deref()
                    .ok_or("query: a traceql rule needs a query")?;
                arbor_query::traceql::parse_and_validate(q).map_err(|e| format!("query: {e}"))?;
                if !TRACEQL_MEASURES.contains(&self.measure()) {
                    return Err(format!(
                        "measure {:?}: a traceql rule measures one of {TRACEQL_MEASURES:?}",
                        self.measure()
                    ));
                }
            }
            Kind::Serverless => {
                if !SERVERLESS_MEASURES.contains(&self.measure()) {
                    return Err(format!(
                        "measure {:?}: a serverless rule measures one of {SERVERLESS_MEASURES:?}",
                        self.measure()
                    ));
                }
                if self.measure() == "duration_to_timeout" && self.timeout.is_none() {
                    return Err("timeout: duration_to_timeout needs the function's timeout".into());
                }
            }
        }
        if self.kind != Kind::Latency && self.above.is_none() {
            return Err("above: the rule needs a threshold".into());
        }
        if let Some(rs) = &self.receivers
            && let Some(r) = rs.iter().find(|r| !receivers.contains(r))
        {
            return Err(format!(
                "receivers: no receiver named {r:?} (alerts.receivers)"
            ));
        }
        Ok(())
    }

    /// The description with its placeholders filled in.
    pub fn describe(&self, value: Option<f64>, threshold: Option<f64>) -> String {
        let text = if self.description.is_empty() {
            "{{name}}: {{value}} above {{threshold}} over {{window}}".to_string()
        } else {
            self.description.clone()
        };
        let num = |v: Option<f64>| {
            v.map_or_else(
                || "none".to_string(),
                |v| {
                    format!("{v:.4}")
                        .trim_end_matches('0')
                        .trim_end_matches('.')
                        .to_string()
                },
            )
        };
        let opt = |v: &Option<String>| v.clone().unwrap_or_default();
        text.replace("{{name}}", &self.name)
            .replace("{{value}}", &num(value))
            .replace("{{threshold}}", &num(threshold))
            .replace("{{service}}", &opt(&self.service))
            .replace("{{operation}}", &opt(&self.operation))
            .replace("{{route}}", &opt(&self.route))
            .replace("{{function}}", &opt(&self.function))
            .replace("{{window}}", &self.window.to_string())
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RulesFile {
    #[serde(default)]
    rules: Vec<Rule>,
}

/// Reads a rules file: every rule, or the first error with its line.
pub fn load_file(path: &Path, receivers: &[String]) -> Result<Vec<Rule>, String> {
    let text =
        std::fs::read_to_string(path).map_err(|e| format!("reading {}: {e}", path.display()))?;
    parse_file(&text, receivers).map_err(|e| format!("{}: {e}", path.display()))
}

/// Parses the text of a rules file (see [`load_file`]).
pub fn parse_file(text: &str, receivers: &[String]) -> Result<Vec<Rule>, String> {
    let file: RulesFile = toml::from_str(text).map_err(|e| {
        // toml's message already says "TOML parse error at line L, column C".
        e.to_string().trim_end().to_string()
    })?;
    // The line of each `[[rules]]` header, for the rules' own errors.
    let headers: Vec<usize> = text
        .lines()
        .enumerate()
        .filter(|(_, l)| l.trim_start().starts_with("[[rules]]"))
        .map(|(i, _)| i + 1)
        .collect();
    let mut seen = std::collections::HashSet::new();
    for (i, r) in file.rules.iter().enumerate() {
        let line = headers.get(i).copied().unwrap_or(0);
        r.check(receivers)
            .map_err(|e| format!("line {line}: rule {:?}: {e}", r.name))?;
        if !seen.insert(r.name.clone()) {
            return Err(format!(
                "line {line}: rule {:?}: the name is used twice",
                r.name
            ));
        }
    }
    Ok(file.rules)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_good_file_reads_and_errors_name_the_line() {
        let good = r#"
[[rules]]
name = "checkout p95"
kind = "latency"
service = "checkout"
quantile = 0.95
window = "5m"
above = "500ms"
for = "1m"

[[rules]]
name = "slow checkouts"
kind = "traceql"
query = '{ span.http.route = "/checkout" && duration > 2s }'
window = "5m"
above = 10
"#;
        let rules = parse_file(good, &[]).unwrap();
        assert_eq!(rules.len(), 2);
        assert_eq!(rules[0].threshold(), Some(0.5));
        assert_eq!(rules[1].measure(), "count");

        let bad = good.replace("quantile = 0.95", "quantile = 0.42");
        let e = parse_file(&bad, &[]).unwrap_err();
        assert!(
            e.starts_with("line 2: rule \"checkout p95\": quantile"),
            "{e}"
        );
        let bad = good.replace("duration > 2s }", "duration > }");
        let e = parse_file(&bad, &[]).unwrap_err();
        assert!(
            e.starts_with("line 11: rule \"slow checkouts\": query:"),
            "{e}"
        );
        let bad = good.replace("window = \"5m\"\nabove = 10", "windw = \"5m\"");
        let e = parse_file(&bad, &[]).unwrap_err();
        assert!(e.contains("line 15") && e.contains("windw"), "{e}");
        let e = parse_file(
            &good.replace("above = 10", "above = 10\nreceivers = [\"pager\"]"),
            &[],
        )
        .unwrap_err();
        assert!(e.contains("no receiver named \"pager\""), "{e}");
    }

    #[test]
    fn tenant_and_span_kind_are_checked() {
        let rule = |extra: &str| {
            parse_file(
                &format!(
                    "[[rules]]\nname = \"r\"\nkind = \"errors\"\nservice = \"s\"\nwindow = \"1m\"\nabove = 1\n{extra}"
                ),
                &[],
            )
        };
        let ok = rule("tenant = \"acme\"\nspan_kind = \"client\"\noperation = \"GET\"").unwrap();
        assert_eq!(ok[0].tenant(), "acme");
        assert_eq!(rule("").unwrap()[0].tenant(), crate::tenant::DEFAULT_TENANT);
        let e = rule("tenant = \"../x\"").unwrap_err();
        assert!(e.contains("tenant:"), "{e}");
        let e = rule("span_kind = \"SERVER\"").unwrap_err();
        assert!(e.contains("span_kind \"SERVER\""), "{e}");
        let e = rule("span_kind = \"server\"\nroute = \"/x\"").unwrap_err();
        assert!(e.contains("span_kind: only"), "{e}");
    }
}
