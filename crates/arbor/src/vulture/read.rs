//! The reader: a written trace read back by ID (`GET /api/v2/traces/<id>`, protobuf) and by
//! search (TraceQL `{ span.vulture.tag = "<tag>" }` over the trace's time range on
//! `/api/search`), compared with what vulture wrote, and the result counted and logged.

use std::sync::atomic::Ordering;
use std::time::Duration;

use arbor_model::otlp::TracesData;
use prost::Message;

use super::check::{Verdict, compare};
use super::metrics::{ReadKind, Shared};
use super::traces::{TAG_KEY, TraceSpec};

/// Tempo's `TraceByIDResponse` as Arbor sends it: `trace = 1`, `status = 3`.
#[derive(Clone, PartialEq, Message)]
struct TraceByIdResponse {
    #[prost(message, optional, tag = "1")]
    trace: Option<TracesData>,
    #[prost(int32, tag = "3")]
    status: i32,
}

/// What one read found.
#[derive(Debug)]
pub enum Found {
    /// By ID: the trace's spans; by search: whether the trace was among the results.
    Trace(TracesData),
    Listed(bool),
    Absent,
}

pub struct Reader {
    client: reqwest::Client,
    base: String,
    tenant: Option<String>,
    pub metrics: Shared,
}

impl Reader {
    pub fn new(base: &str, tenant: Option<String>, metrics: Shared) -> anyhow::Result<Self> {
        Ok(Self {
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()?,
            base: base.trim_end_matches('/').to_string(),
            tenant,
            metrics,
        })
    }

    fn get(&self, url: &str) -> reqwest::RequestBuilder {
        let req = self.client.get(url);
        match &self.tenant {
            Some(t) => req.header("X-Scope-OrgID", t),
            None => req,
        }
    }

    async fn by_id(&self, spec: &TraceSpec) -> Result<Found, String> {
        let url = format!("{}/api/v2/traces/{}", self.base, spec.id_hex());
        let resp = self
            .get(&url)
            .header("Accept", "application/protobuf")
            .send()
            .await
            .map_err(|e| format!("GET {url}: {e}"))?;
        match resp.status().as_u16() {
            404 => Ok(Found::Absent),
            200 => {
                let body = resp.bytes().await.map_err(|e| e.to_string())?;
                let answer = TraceByIdResponse::decode(body).map_err(|e| e.to_string())?;
                Ok(Found::Trace(answer.trace.unwrap_or_default()))
            }
            status => Err(format!(
                "GET {url}: {status} {}",
                resp.text().await.unwrap_or_default().trim()
            )),
        }
    }

    async fn search(&self, spec: &TraceSpec) -> Result<Found, String> {
        let q = format!("{{ span.{TAG_KEY} = \"{}\" }}", spec.tag);
        let start = (spec.start_ns / 1_000_000_000).to_string();
        let end = (spec.end_ns / 1_000_000_000 + 1).to_string();
        let url = format!("{}/api/search", self.base);
        let resp = self
            .get(&url)
            .query(&[
                ("q", q.as_str()),
                ("start", start.as_str()),
                ("end", end.as_str()),
                ("limit", "20"),
            ])
            .send()
            .await
            .map_err(|e| format!("GET {url}: {e}"))?;
        let status = resp.status().as_u16();
        let text = resp.text().await.map_err(|e| e.to_string())?;
        if status != 200 {
            return Err(format!("search {q}: {status} {}", text.trim()));
        }
        let v: serde_json::Value = serde_json::from_str(&text).map_err(|e| e.to_string())?;
        let want = spec.id_hex();
        let listed = v["traces"].as_array().into_iter().flatten().any(|t| {
            t["traceID"]
                .as_str()
                .is_some_and(|id| id.trim_start_matches('0') == want.trim_start_matches('0'))
        });
        Ok(Found::Listed(listed))
    }

    /// Reads the trace both ways and counts what was wrong; `label` names the check in log
    /// lines (its age, or "final").
    pub async fn check(&self, spec: &TraceSpec, acked: u8, label: &str) {
        if acked == 0 {
            // Nothing acknowledged yet: nothing is expected.
            return;
        }
        for kind in [ReadKind::ById, ReadKind::Search] {
            let per = self.metrics.kind(kind);
            per.checks.fetch_add(1, Ordering::Relaxed);
            let result = match kind {
                ReadKind::ById => self.by_id(spec).await,
                ReadKind::Search => self.search(spec).await,
            };
            let expected = spec.spans_in(acked).count();
            match result {
                Err(e) => {
                    per.read_errors.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(trace = %spec.id_hex(), check = label, kind = kind.label(), error = %e, "vulture: read failed");
                }
                Ok(Found::Absent) | Ok(Found::Listed(false)) => {
                    per.missing_traces.fetch_add(1, Ordering::Relaxed);
                    if kind == ReadKind::ById {
                        self.metrics
                            .missing_spans
                            .fetch_add(expected as u64, Ordering::Relaxed);
                    }
                    tracing::warn!(
                        trace = %spec.id_hex(), tag = %spec.tag, check = label, kind = kind.label(),
                        expected_spans = expected,
                        "vulture: trace missing"
                    );
                }
                Ok(Found::Listed(true)) => {}
                Ok(Found::Trace(data)) => self.count(spec, compare(spec, acked, &data), label),
            }
        }
    }

    fn count(&self, spec: &TraceSpec, v: Verdict, label: &str) {
        let m = &self.metrics;
        m.missing_spans
            .fetch_add(v.missing as u64, Ordering::Relaxed);
        m.duplicated_spans
            .fetch_add(v.duplicated as u64, Ordering::Relaxed);
        m.wrong_spans.fetch_add(v.wrong as u64, Ordering::Relaxed);
        if v.ok() {
            tracing::debug!(trace = %spec.id_hex(), check = label, spans = v.found, "vulture: trace complete");
        } else {
            tracing::warn!(
                trace = %spec.id_hex(), check = label, expected = v.expected, found = v.found,
                missing = v.missing, duplicated = v.duplicated, wrong = v.wrong,
                "vulture: trace read back wrong"
            );
        }
    }
}
