//! Notifications: built when an alert fires or resolves, queued per receiver in the saved
//! outbox, delivered in order with retries and exponential backoff.

use std::time::Duration;

use arbor_model::time::format_millis;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::rules::Rule;
use super::{Alerts, RuleState, now_ms};
use crate::config::ReceiverConfig;

/// Longest wait between two attempts.
const MAX_BACKOFF_MS: i64 = 300_000;

/// One notification to one receiver, waiting to be delivered.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Notification {
    /// `<rule>/<fired at, ms>/<status>`: the same alert's same news has the same ID.
    pub id: String,
    pub receiver: String,
    /// The body, in the receiver's format.
    pub body: Value,
    pub attempts: u32,
    /// When the next attempt may be made (Unix ms).
    pub next_at: i64,
    pub last_error: Option<String>,
}

/// An error with its causes (`sending: …: client error (Connect): invalid peer certificate:
/// UnknownIssuer`): reqwest's own text leaves them out.
fn with_causes(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let text = c.to_string();
        // An I/O error wrapping another shows it, then gives it again as its source.
        if !out.ends_with(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        cause = c.source();
    }
    out
}

/// The HTTP client of a receiver with TLS settings of its own (`ca_file`,
/// `insecure_skip_verify`): trusting the system's root certificates and those of `ca_file`,
/// or checking none. `None` for a receiver without: it uses the alerts' shared client. Reads
/// `ca_file`; an error names it.
pub fn receiver_client(r: &ReceiverConfig) -> Result<Option<reqwest::Client>, String> {
    if r.ca_file.is_none() && !r.insecure_skip_verify {
        return Ok(None);
    }
    let mut builder = reqwest::Client::builder();
    let what = match &r.ca_file {
        Some(path) => format!("ca_file {:?}", path.display().to_string()),
        None => "making the webhook client".to_string(),
    };
    if let Some(path) = &r.ca_file {
        let pem = std::fs::read(path).map_err(|e| format!("{what}: cannot be read: {e}"))?;
        let certs = reqwest::Certificate::from_pem_bundle(&pem)
            .map_err(|e| format!("{what}: {}", with_causes(&e)))?;
        if certs.is_empty() {
            return Err(format!(
                "{what}: no certificate in it (PEM, -----BEGIN CERTIFICATE-----)"
            ));
        }
        for cert in certs {
            builder = builder.add_root_certificate(cert);
        }
    }
    if r.insecure_skip_verify {
        builder = builder.danger_accept_invalid_certs(true);
    }
    // A certificate that does not parse is refused here.
    builder.build().map(Some).map_err(|e| {
        let why = with_causes(&e);
        let why = why.strip_prefix("builder error: ").unwrap_or(&why);
        if r.ca_file.is_some() {
            format!("{what}: a certificate in it cannot be used: {why}")
        } else {
            format!("{what}: {why}")
        }
    })
}

impl Alerts {
    /// The labels of a rule's alerts.
    fn labels(rule: &Rule) -> serde_json::Map<String, Value> {
        let mut labels = serde_json::Map::new();
        labels.insert("alertname".into(), rule.name.clone().into());
        labels.insert("severity".into(), rule.severity.clone().into());
        for (k, v) in &rule.labels {
            labels.insert(k.clone(), v.clone().into());
        }
        for (k, v) in [
            ("service", &rule.service),
            ("operation", &rule.operation),
            ("route", &rule.route),
            ("function", &rule.function),
        ] {
            if let Some(v) = v {
                labels.entry(k).or_insert_with(|| v.clone().into());
            }
        }
        labels
    }

    /// The body of a notification in `format` (`arbor` or `alertmanager`).
    pub fn body(
        &self,
        rule: &Rule,
        st: &RuleState,
        status: &str,
        format: &str,
        now: i64,
    ) -> (String, Value) {
        let fired = st.fired_at.unwrap_or(now);
        let id = format!("{}/{fired}/{status}", rule.name);
        let description = rule.describe(st.value, st.threshold);
        let ends = (status == "resolved").then(|| format_millis(now));
        // The rule on the alerts page.
        let url = reqwest::Url::parse_with_params(
            &format!("{}/alerts", self.base_url),
            [("rule", rule.name.as_str())],
        )
        .map_or_else(|_| format!("{}/alerts", self.base_url), String::from);
        let body = if format == "alertmanager" {
            let mut alert = json!({
                "labels": Self::labels(rule),
                "annotations": {
                    "description": description,
                    "value": st.value.map(|v| v.to_string()).unwrap_or_default(),
                    "threshold": st.threshold.map(|v| v.to_string()).unwrap_or_default(),
                    "exampleTraces": st.example_traces.join(","),
                },
                "startsAt": format_millis(fired),
                "generatorURL": url,
            });
            if let Some(e) = ends {
                alert["endsAt"] = e.into();
            }
            json!([alert])
        } else {
            json!({
                "id": id,
                "status": status,
                "rule": rule.name,
                "severity": rule.severity,
                "labels": Self::labels(rule),
                "description": description,
                "value": st.value,
                "threshold": st.threshold,
                "startsAt": format_millis(fired),
                "endsAt": ends,
                "exampleTraces": st.example_traces,
                "url": url,
            })
        };
        (id, body)
    }

    /// A notification of `status` for `receiver`, due now.
    pub fn notification(
        &self,
        rule: &Rule,
        st: &RuleState,
        status: &str,
        receiver: &str,
        now: i64,
    ) -> Notification {
        let format = self
            .receiver(receiver)
            .map_or("arbor", |r| r.format.as_str());
        let (id, body) = self.body(rule, st, status, format, now);
        Notification {
            id,
            receiver: receiver.to_string(),
            body,
            attempts: 0,
            next_at: now,
            last_error: None,
        }
    }

    /// POSTs one body to a receiver; `Err` says why it was not delivered.
    pub async fn send(&self, receiver: &str, id: &str, body: &Value) -> Result<(), String> {
        let r = self
            .receiver(receiver)
            .ok_or_else(|| format!("no receiver named {receiver:?}"))?;
        let resp = self
            .clients
            .get(&r.name)
            .unwrap_or(&self.http)
            .post(&r.url)
            .timeout(r.timeout.0)
            .header("Content-Type", "application/json")
            .header("X-Arbor-Notification-Id", id)
            .body(serde_json::to_vec(body).expect("json"))
            .send()
            .await
            .map_err(|e| {
                if e.is_timeout() {
                    format!("no answer within {} (timeout)", r.timeout)
                } else {
                    // Without the URL: it may hold a token.
                    let mut why = format!("sending: {}", with_causes(&e.without_url()));
                    if why.contains("UnknownIssuer") && r.ca_file.is_none() {
                        why.push_str(
                            " (a certificate from a private CA needs the receiver's ca_file)",
                        );
                    }
                    why
                }
            })?;
        if resp.status().is_success() {
            Ok(())
        } else {
            Err(format!("answered {}", resp.status()))
        }
    }

    /// Delivers the notifications that are due: per receiver the oldest first, so a
    /// receiver gets them in order; a failure waits 1 s, 2 s, 4 s … (at most 5 minutes)
    /// before the next attempt, and is dropped after the receiver's `max_attempts`.
    /// Sends the notifications that are due; true when the outbox changed (and should be
    /// saved).
    pub async fn deliver_due(&self) -> bool {
        let now = now_ms();
        let due: Vec<Notification> = {
            let inner = self.inner.lock();
            let mut seen = std::collections::HashSet::new();
            inner
                .outbox
                .iter()
                .filter(|n| seen.insert(n.receiver.clone()))
                .filter(|n| n.next_at <= now)
                .cloned()
                .collect()
        };
        if due.is_empty() {
            return false;
        }
        let sends = due.iter().map(|n| self.send(&n.receiver, &n.id, &n.body));
        let results = futures::future::join_all(sends).await;
        {
            let mut inner = self.inner.lock();
            for (n, result) in due.iter().zip(results) {
                let Some(pos) = inner
                    .outbox
                    .iter()
                    .position(|o| o.id == n.id && o.receiver == n.receiver)
                else {
                    continue;
                };
                match result {
                    Ok(()) => {
                        inner.outbox.remove(pos);
                        *inner
                            .deliveries
                            .entry((n.receiver.clone(), "delivered"))
                            .or_default() += 1;
                        tracing::info!(receiver = %n.receiver, id = %n.id, "alert notification delivered");
                    }
                    Err(e) => {
                        *inner
                            .deliveries
                            .entry((n.receiver.clone(), "failed"))
                            .or_default() += 1;
                        let max = self.receiver(&n.receiver).map_or(1, |r| r.max_attempts);
                        let o = &mut inner.outbox[pos];
                        o.attempts += 1;
                        o.last_error = Some(e.clone());
                        if o.attempts >= max {
                            tracing::error!(receiver = %n.receiver, id = %n.id, error = %e, attempts = o.attempts, "alert notification dropped after its last attempt");
                            inner.outbox.remove(pos);
                            *inner
                                .deliveries
                                .entry((n.receiver.clone(), "dropped"))
                                .or_default() += 1;
                        } else {
                            let backoff =
                                (1_000i64 << (o.attempts - 1).min(20)).min(MAX_BACKOFF_MS);
                            o.next_at = now_ms() + backoff;
                            tracing::warn!(receiver = %n.receiver, id = %n.id, error = %e, attempt = o.attempts, retry_in_ms = backoff, "alert notification not delivered; retrying");
                        }
                    }
                }
            }
        }
        true
    }
}

/// Delivers due notifications every 200 ms until `stop`.
pub async fn run(alerts: std::sync::Arc<Alerts>, mut stop: tokio::sync::watch::Receiver<bool>) {
    let mut every = tokio::time::interval(Duration::from_millis(200));
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = every.tick() => {
                if alerts.deliver_due().await {
                    super::task::save_state_off_runtime(&alerts).await;
                }
            }
            _ = stop.changed() => return,
        }
    }
}
