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

impl Kind {
    /// The kind as written in a rule: `latency`, `errors`, `traceql`, `serverless`.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Latency => "latency",
            Kind::Errors => "errors",
            Kind::Traceql => "traceql",
            Kind::Serverless => "serverless",
        }
    }
}

/// A threshold as written: a number, or (latency) a duration text.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Above {
    Number(f64),
    Text(String),
}

impl<'de> Deserialize<'de> for Above {
    // By hand rather than untagged, so that anything else is refused with what is expected
    // and, in a file, where.
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Above;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a number, or a duration such as \"500ms\"")
            }
            fn visit_f64<E>(self, v: f64) -> Result<Above, E> {
                Ok(Above::Number(v))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Above, E> {
                Ok(Above::Number(v as f64))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Above, E> {
                Ok(Above::Number(v as f64))
            }
            fn visit_str<E>(self, v: &str) -> Result<Above, E> {
                Ok(Above::Text(v.to_string()))
            }
        }
        d.deserialize_any(V)
    }
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

/// Reads a rules file: every rule, or the first error with its line. A file named `*.yaml`
/// or `*.yml` is YAML (`rules:` and a list of rules); any other, TOML (`[[rules]]` tables).
pub fn load_file(path: &Path, receivers: &[String]) -> Result<Vec<Rule>, String> {
    let text =
        std::fs::read_to_string(path).map_err(|e| format!("reading {}: {e}", path.display()))?;
    let parsed = match Format::of_path(path) {
        Format::Yaml => parse_yaml(&text, receivers),
        Format::Toml => parse_file(&text, receivers),
    };
    parsed.map_err(|e| format!("{}: {e}", path.display()))
}

/// Parses the text of a TOML rules file (see [`load_file`]).
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
    check_all(file.rules, &headers, receivers)
}

/// Parses the text of a YAML rules file (see [`load_file`]): the same fields as the TOML
/// file, under `rules:`.
///
/// ```yaml
/// rules:
///   - name: checkout p95
///     kind: latency
///     service: checkout
///     quantile: 0.95
///     window: 5m
///     above: 500ms
/// ```
pub fn parse_yaml(text: &str, receivers: &[String]) -> Result<Vec<Rule>, String> {
    // An empty file (or one of comments only) has no rules, as an empty TOML file.
    let file: RulesFile = if text
        .lines()
        .all(|l| l.trim().is_empty() || l.trim_start().starts_with('#'))
    {
        RulesFile { rules: Vec::new() }
    } else {
        // serde_norway's message ends with "at line L column C".
        serde_norway::from_str(text).map_err(|e| format!("YAML: {e}"))?
    };
    check_all(file.rules, &yaml_items(text), receivers)
}

/// The line of each item of the block list under the top-level `rules:` key (none for a
/// flow list, `rules: [ … ]`).
fn yaml_items(text: &str) -> Vec<usize> {
    let mut lines = text.lines().enumerate();
    if !lines.by_ref().any(|(_, l)| {
        l.strip_prefix("rules")
            .is_some_and(|r| r.trim_start().starts_with(':'))
    }) {
        return Vec::new();
    }
    let mut indent = None;
    let mut items = Vec::new();
    for (i, l) in lines {
        let body = l.trim_start_matches(' ');
        if body.trim().is_empty() || body.starts_with('#') {
            continue;
        }
        let at = l.len() - body.len();
        let item = body == "-" || body.starts_with("- ");
        match indent {
            None if item => indent = Some(at),
            None => break,
            Some(n) if at < n || (at == n && !item) => break,
            Some(n) if at == n => {}
            Some(_) => continue,
        }
        items.push(i + 1);
    }
    items
}

/// A rules file's format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Toml,
    Yaml,
}

impl Format {
    /// YAML for a file named `*.yaml` or `*.yml`, else TOML.
    pub fn of_path(path: &Path) -> Format {
        match path.extension().and_then(|e| e.to_str()) {
            Some(e) if e.eq_ignore_ascii_case("yaml") || e.eq_ignore_ascii_case("yml") => {
                Format::Yaml
            }
            _ => Format::Toml,
        }
    }

    /// The file name extension and the media type of a file of this format.
    pub fn extension_and_media_type(self) -> (&'static str, &'static str) {
        match self {
            Format::Toml => ("toml", "application/toml"),
            Format::Yaml => ("yaml", "application/yaml"),
        }
    }
}

/// `rules` as the text of a rules file that [`parse_file`] / [`parse_yaml`] read back to
/// the same rules.
pub fn to_file_text(rules: &[Rule], format: Format) -> Result<String, String> {
    #[derive(Serialize)]
    struct Out<'a> {
        rules: &'a [Rule],
    }
    let out = Out { rules };
    match format {
        Format::Toml => toml::to_string(&out).map_err(|e| e.to_string()),
        Format::Yaml => serde_norway::to_string(&out).map_err(|e| e.to_string()),
    }
}

/// Checks every rule and that no name is used twice; `lines` (where each rule starts)
/// prefixes the errors.
fn check_all(rules: Vec<Rule>, lines: &[usize], receivers: &[String]) -> Result<Vec<Rule>, String> {
    let at = |i: usize| match lines.get(i) {
        Some(line) => format!("line {line}: "),
        None => String::new(),
    };
    let mut seen = std::collections::HashSet::new();
    for (i, r) in rules.iter().enumerate() {
        r.check(receivers)
            .map_err(|e| format!("{}rule {:?}: {e}", at(i), r.name))?;
        if !seen.insert(r.name.clone()) {
            return Err(format!(
                "{}rule {:?}: the name is used twice",
                at(i),
                r.name
            ));
        }
    }
    Ok(rules)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two rules in TOML, as the docs show them.
    const GOOD: &str = r#"
[[rules]]
name = "checkout p95"
kind = "latency"
service = "checkout"
quantile = 0.95
window = "5m"
above = "500ms"
for = "1m"
labels = { team = "shop" }
description = "p95 is {{value}}"

[[rules]]
name = "slow checkouts"
kind = "traceql"
query = '{ span.http.route = "/checkout" && duration > 2s }'
window = "5m"
above = 10
"#;

    #[test]
    fn a_good_file_reads_and_errors_name_the_line() {
        let good = GOOD;
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
            e.starts_with("line 13: rule \"slow checkouts\": query:"),
            "{e}"
        );
        let bad = good.replace("window = \"5m\"\nabove = 10", "windw = \"5m\"");
        let e = parse_file(&bad, &[]).unwrap_err();
        assert!(e.contains("line 17") && e.contains("windw"), "{e}");
        let e = parse_file(
            &good.replace("above = 10", "above = 10\nreceivers = [\"pager\"]"),
            &[],
        )
        .unwrap_err();
        assert!(e.contains("no receiver named \"pager\""), "{e}");
    }

    #[test]
    fn a_yaml_file_reads_as_the_toml_one_and_errors_name_the_line() {
        let toml = GOOD;
        let yaml = r#"# alerts.yaml
rules:
  - name: checkout p95
    kind: latency
    service: checkout
    quantile: 0.95
    window: 5m
    above: 500ms
    for: 1m
    labels:
      team: shop
    description: "p95 is {{value}}"

  # TraceQL: a filter's spans counted.
  - name: slow checkouts
    kind: traceql
    query: |
      { span.http.route = "/checkout" && duration > 2s }
    window: 5m
    above: 10
"#;
        let from_toml = parse_file(toml, &[]).unwrap();
        let mut from_yaml = parse_yaml(yaml, &[]).unwrap();
        // A literal block keeps its final newline.
        assert_eq!(
            from_yaml[1].query.as_deref().map(str::trim_end),
            from_toml[1].query.as_deref()
        );
        from_yaml[1].query = from_toml[1].query.clone();
        assert_eq!(from_yaml, from_toml);

        assert_eq!(parse_yaml("", &[]).unwrap(), vec![]);
        assert_eq!(parse_yaml("# nothing yet\n", &[]).unwrap(), vec![]);
        assert_eq!(parse_yaml("rules: []\n", &[]).unwrap(), vec![]);

        // A rule's own error names the line its list item starts on.
        let e = parse_yaml(&yaml.replace("quantile: 0.95", "quantile: 0.42"), &[]).unwrap_err();
        assert!(
            e.starts_with("line 3: rule \"checkout p95\": quantile"),
            "{e}"
        );
        let e = parse_yaml(&yaml.replace("duration > 2s }", "duration > }"), &[]).unwrap_err();
        assert!(
            e.starts_with("line 15: rule \"slow checkouts\": query:"),
            "{e}"
        );
        // What YAML itself refuses names the line too.
        let e = parse_yaml(
            &yaml.replace("    window: 5m\n    above: 10", "    windw: 5m"),
            &[],
        )
        .unwrap_err();
        assert!(e.contains("windw") && e.contains("line 19"), "{e}");
        let e = parse_yaml(
            &yaml.replace("  - name: checkout p95", "  - name: [checkout"),
            &[],
        )
        .unwrap_err();
        assert!(e.starts_with("YAML: ") && e.contains("line"), "{e}");
        let e = parse_yaml(&yaml.replace("above: 10", "above: [10]"), &[]).unwrap_err();
        assert!(
            e.contains("line 20") && e.contains("a number, or a duration"),
            "{e}"
        );
        // Items at the key's own indentation, and a flow list (no lines to name).
        let flat = "rules:\n- name: a\n  kind: errors\n  service: s\n  window: 1m\n  above: 1\n- name: a\n  kind: errors\n  service: s\n  window: 1m\n  above: 1\n";
        let e = parse_yaml(flat, &[]).unwrap_err();
        assert_eq!(e, "line 7: rule \"a\": the name is used twice");
        let flow =
            "rules: [{name: a, kind: latency, service: s, window: 1m, above: 1, quantile: 0.42}]";
        let e = parse_yaml(flow, &[]).unwrap_err();
        assert!(e.starts_with("rule \"a\": quantile"), "{e}");
    }

    #[test]
    fn rules_written_as_a_file_read_back_the_same() {
        let mut rules = parse_file(GOOD, &[]).unwrap();
        let mut extra = rules[0].clone();
        extra.name = "edge errors".into();
        extra.kind = Kind::Errors;
        extra.quantile = None;
        extra.service = None;
        extra.client = Some("web \"front\"".into());
        extra.server = Some("checkout".into());
        extra.measure = Some("count".into());
        extra.above = Some(Above::Number(3.5));
        extra.tenant = Some("acme".into());
        extra.receivers = Some(vec!["pager".into()]);
        extra.description = "multi\nline: {{value}} # not a comment".into();
        rules.push(extra);
        let receivers = ["pager".to_string()];
        let toml = to_file_text(&rules, Format::Toml).unwrap();
        assert_eq!(parse_file(&toml, &receivers).unwrap(), rules, "{toml}");
        let yaml = to_file_text(&rules, Format::Yaml).unwrap();
        assert_eq!(parse_yaml(&yaml, &receivers).unwrap(), rules, "{yaml}");
        // Lines are found in what was written, for errors after edits.
        assert_eq!(yaml_items(&yaml).len(), rules.len(), "{yaml}");
        assert_eq!(to_file_text(&[], Format::Yaml).unwrap().trim(), "rules: []");
        assert_eq!(
            parse_file(&to_file_text(&[], Format::Toml).unwrap(), &[]).unwrap(),
            vec![]
        );
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
