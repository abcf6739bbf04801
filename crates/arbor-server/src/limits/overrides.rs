//! The overrides file: per-tenant limits, as Tempo's `overrides`. A `[defaults]` section
//! sets what every tenant gets (each key unset there falls back to the global
//! configuration, see [`TenantLimits::from_config`]); a `[tenants.NAME]` section per tenant
//! overrides any of the same keys. Unknown keys, bad values and bad tenant names are errors
//! naming the file, the line and the key.
//!
//! ```toml
//! [defaults]
//! ingestion_rate_limit_bytes = "16MiB"   # per second; 0 = no limit
//! ingestion_burst_size_bytes = "32MiB"
//!
//! [tenants.team-a]
//! ingestion_rate_limit_bytes = "1MiB"
//! max_spans_per_trace = 5000
//! retention = "3d"
//! ```

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use arbor_storage::retention::{RetentionLimits, RetentionPolicy};
use serde::Deserialize;
use toml::Spanned;

use crate::config::Config;
use crate::units::{ByteSize, HumanDuration};

/// An overrides file larger than this is refused before it is parsed.
pub const MAX_FILE_BYTES: u64 = 4 << 20;

/// The limits one tenant is held to. Zero means "no limit" for the rate, the trace sizes,
/// the key length and the search range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantLimits {
    /// Bytes per second of request bodies (after decompression) taken in; 0: no limit.
    pub ingestion_rate_limit_bytes: u64,
    /// Bytes the rate bucket holds: the largest request and the largest burst taken at once.
    pub ingestion_burst_size_bytes: u64,
    /// Spans the head may hold for one trace; 0: no limit.
    pub max_spans_per_trace: u64,
    /// Bytes (protobuf encoding of the spans) the head may hold for one trace; 0: no limit.
    pub max_bytes_per_trace: u64,
    /// Attributes kept per span (and resource, scope, event, link).
    pub max_attributes_per_span: usize,
    /// Attributes with a longer key are dropped; 0: no limit.
    pub max_attribute_key_bytes: usize,
    /// Searches and metrics queries of the tenant run at once.
    pub max_concurrent_searches: usize,
    /// The longest time range one search may cover; zero: no limit.
    pub max_search_duration: Duration,
    /// How long the tenant's blocks are kept.
    pub retention: Duration,
    /// Most bytes of blocks kept for the tenant; `None`: no size limit.
    pub retention_max_bytes: Option<u64>,
}

impl TenantLimits {
    /// What a tenant gets with no overrides file: the global configuration, no rate or
    /// trace-size limits.
    pub fn from_config(c: &Config) -> Self {
        Self {
            ingestion_rate_limit_bytes: 0,
            ingestion_burst_size_bytes: 0,
            max_spans_per_trace: 0,
            max_bytes_per_trace: 0,
            max_attributes_per_span: c.limits.max_attributes_per_span,
            max_attribute_key_bytes: 0,
            max_concurrent_searches: c.query.max_concurrent_queries,
            max_search_duration: Duration::ZERO,
            retention: c.retention.max_age.0,
            retention_max_bytes: (c.retention.max_bytes.0 > 0).then_some(c.retention.max_bytes.0),
        }
    }
}

/// Why an overrides file was not taken.
#[derive(Debug, thiserror::Error)]
pub enum OverridesError {
    #[error("reading the overrides file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the overrides file {path} is larger than {MAX_FILE_BYTES} bytes")]
    TooLarge { path: PathBuf },
    #[error("in the overrides file {path}: {source}")]
    Syntax {
        path: PathBuf,
        source: Box<toml::de::Error>,
    },
    #[error("in the overrides file {path}, line {line}: {key}: {message}")]
    Invalid {
        path: PathBuf,
        line: usize,
        key: String,
        message: String,
    },
}

/// One section of the file: every key optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct SectionForm {
    ingestion_rate_limit_bytes: Option<Spanned<ByteSize>>,
    ingestion_burst_size_bytes: Option<Spanned<ByteSize>>,
    max_spans_per_trace: Option<Spanned<u64>>,
    max_bytes_per_trace: Option<Spanned<ByteSize>>,
    max_attributes_per_span: Option<Spanned<usize>>,
    max_attribute_key_bytes: Option<Spanned<ByteSize>>,
    max_concurrent_searches: Option<Spanned<usize>>,
    max_search_duration: Option<Spanned<HumanDuration>>,
    retention: Option<Spanned<HumanDuration>>,
    retention_max_bytes: Option<Spanned<ByteSize>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileForm {
    #[serde(default)]
    defaults: SectionForm,
    #[serde(default)]
    tenants: HashMap<Spanned<String>, SectionForm>,
}

/// A value wrong for its key, at a byte offset of the file.
struct Bad {
    at: usize,
    key: String,
    message: String,
}

impl SectionForm {
    /// `base` with this section's keys applied; `section` names it in errors.
    fn apply(&self, base: &TenantLimits, section: &str) -> Result<TenantLimits, Bad> {
        let mut l = base.clone();
        let bad = |at: usize, key: &str, message: String| Bad {
            at,
            key: format!("{section}.{key}"),
            message,
        };
        if let Some(v) = &self.ingestion_rate_limit_bytes {
            l.ingestion_rate_limit_bytes = v.get_ref().0;
            // A burst not given is one second's worth of the rate.
            if self.ingestion_burst_size_bytes.is_none() {
                l.ingestion_burst_size_bytes = l.ingestion_burst_size_bytes.max(v.get_ref().0);
            }
        }
        if let Some(v) = &self.ingestion_burst_size_bytes {
            l.ingestion_burst_size_bytes = v.get_ref().0;
        }
        if l.ingestion_rate_limit_bytes > 0 && l.ingestion_burst_size_bytes == 0 {
            let at = self
                .ingestion_burst_size_bytes
                .as_ref()
                .or(self.ingestion_rate_limit_bytes.as_ref())
                .map_or(0, |v| v.span().start);
            return Err(bad(
                at,
                "ingestion_burst_size_bytes",
                "must be more than 0 when ingestion_rate_limit_bytes is set (it is the largest request taken)".into(),
            ));
        }
        if let Some(v) = &self.max_spans_per_trace {
            l.max_spans_per_trace = *v.get_ref();
        }
        if let Some(v) = &self.max_bytes_per_trace {
            l.max_bytes_per_trace = v.get_ref().0;
        }
        if let Some(v) = &self.max_attributes_per_span {
            if *v.get_ref() == 0 {
                return Err(bad(
                    v.span().start,
                    "max_attributes_per_span",
                    "must be at least 1".into(),
                ));
            }
            l.max_attributes_per_span = *v.get_ref();
        }
        if let Some(v) = &self.max_attribute_key_bytes {
            l.max_attribute_key_bytes = v.get_ref().as_usize();
        }
        if let Some(v) = &self.max_concurrent_searches {
            if *v.get_ref() == 0 {
                return Err(bad(
                    v.span().start,
                    "max_concurrent_searches",
                    "must be at least 1".into(),
                ));
            }
            l.max_concurrent_searches = *v.get_ref();
        }
        if let Some(v) = &self.max_search_duration {
            l.max_search_duration = v.get_ref().0;
        }
        if let Some(v) = &self.retention {
            if v.get_ref().0.is_zero() {
                return Err(bad(
                    v.span().start,
                    "retention",
                    "must be more than 0".into(),
                ));
            }
            l.retention = v.get_ref().0;
        }
        if let Some(v) = &self.retention_max_bytes {
            l.retention_max_bytes = (v.get_ref().0 > 0).then_some(v.get_ref().0);
        }
        Ok(l)
    }
}

/// The limits of every tenant, as read from one version of the file.
#[derive(Debug, Clone, PartialEq)]
pub struct Overrides {
    defaults: Arc<TenantLimits>,
    tenants: HashMap<String, Arc<TenantLimits>>,
}

impl Overrides {
    /// Every tenant on `base` (no file).
    pub fn uniform(base: TenantLimits) -> Self {
        Self {
            defaults: Arc::new(base),
            tenants: HashMap::new(),
        }
    }

    /// Parses the file's text over `base` (the global configuration's limits).
    pub fn parse(text: &str, base: &TenantLimits, path: &Path) -> Result<Self, OverridesError> {
        let form: FileForm = toml::from_str(text).map_err(|e| OverridesError::Syntax {
            path: path.to_path_buf(),
            source: Box::new(e),
        })?;
        let invalid = |b: Bad| OverridesError::Invalid {
            path: path.to_path_buf(),
            line: line_of(text, b.at),
            key: b.key,
            message: b.message,
        };
        let defaults = form.defaults.apply(base, "defaults").map_err(invalid)?;
        let mut tenants = HashMap::with_capacity(form.tenants.len());
        for (name, section) in &form.tenants {
            let label = format!("tenants.{}", name.get_ref());
            crate::tenant::validate(name.get_ref()).map_err(|e| {
                invalid(Bad {
                    at: name.span().start,
                    key: label.clone(),
                    message: e.to_string(),
                })
            })?;
            let limits = section.apply(&defaults, &label).map_err(invalid)?;
            tenants.insert(name.get_ref().clone(), Arc::new(limits));
        }
        Ok(Self {
            defaults: Arc::new(defaults),
            tenants,
        })
    }

    /// Reads and parses the file.
    pub fn read(path: &Path, base: &TenantLimits) -> Result<Self, OverridesError> {
        let read_err = |source| OverridesError::Read {
            path: path.to_path_buf(),
            source,
        };
        let len = std::fs::metadata(path).map_err(read_err)?.len();
        if len > MAX_FILE_BYTES {
            return Err(OverridesError::TooLarge {
                path: path.to_path_buf(),
            });
        }
        let text = std::fs::read_to_string(path).map_err(read_err)?;
        Self::parse(&text, base, path)
    }

    /// The limits of a tenant: its own section, else the defaults.
    pub fn get(&self, tenant: &str) -> Arc<TenantLimits> {
        self.tenants
            .get(tenant)
            .cloned()
            .unwrap_or_else(|| self.defaults.clone())
    }

    /// Tenants with a section of their own.
    pub fn tenant_count(&self) -> usize {
        self.tenants.len()
    }

    /// Retention as the storage applies it: the defaults' for every tenant, each tenant's
    /// own where its section sets it.
    pub fn retention_policy(&self) -> RetentionPolicy {
        let limits = |l: &TenantLimits| RetentionLimits {
            max_age: l.retention,
            max_total_bytes: l.retention_max_bytes,
        };
        RetentionPolicy {
            default: limits(&self.defaults),
            per_tenant: self
                .tenants
                .iter()
                .map(|(name, l)| (name.clone(), limits(l)))
                .collect(),
        }
    }
}

/// The 1-based line of a byte offset.
fn line_of(text: &str, at: usize) -> usize {
    text.as_bytes()[..at.min(text.len())]
        .iter()
        .filter(|b| **b == b'\n')
        .count()
        + 1
}

/// The configuration reference's section on the overrides file (docs/config.md).
pub const DOC_SECTION: &str = r#"
## Per-tenant limits

`limits.overrides_file` names a TOML file of per-tenant limits, as Grafana Tempo's
`overrides`. Its `[defaults]` section applies to every tenant; each `[tenants.NAME]` section
overrides keys for one tenant. A key set nowhere takes its value from the global
configuration (below). The file is looked at every second and a change applies to the next
request, without a restart; a file that no longer reads (bad TOML, an unknown key, a bad
value) leaves the limits read before in force and logs why. A bad file at start stops the
start, naming the file, the line and the key.

```toml
[defaults]
ingestion_rate_limit_bytes = "16MiB"   # per second, after decompression
ingestion_burst_size_bytes = "32MiB"   # the largest request, and the largest burst
max_bytes_per_trace = "5MiB"

[tenants.team-a]
ingestion_rate_limit_bytes = "1MiB"
ingestion_burst_size_bytes = "4MiB"
max_spans_per_trace = 10000
max_attributes_per_span = 128
max_attribute_key_bytes = 256
max_concurrent_searches = 4
max_search_duration = "7d"
retention = "3d"
retention_max_bytes = "50GiB"
```

| key | without it | meaning |
|---|---|---|
| `ingestion_rate_limit_bytes` | 0 (no limit) | Bytes a second of request bodies (after decompression) the tenant may send: a token bucket per tenant, charged before the body is decoded. Over it, the request is refused whole: 429 with `Retry-After` (the seconds until the bucket holds enough), gRPC `RESOURCE_EXHAUSTED` with a `RetryInfo`; the message names the tenant, the rate, the burst and the request's size. Other tenants are not slowed. |
| `ingestion_burst_size_bytes` | the `[defaults]` burst, at least the rate (one second's worth) | What the bucket holds. A request larger than it can never be taken: 413 (gRPC `INVALID_ARGUMENT`). |
| `max_spans_per_trace` | 0 (no limit) | Spans the head may hold for one trace. |
| `max_bytes_per_trace` | 0 (no limit) | Bytes (the spans' protobuf encoding) the head may hold for one trace. |
| `max_attributes_per_span` | `limits.max_attributes_per_span` | Attributes a span keeps (its resource, scope, events and links are held to it too). |
| `max_attribute_key_bytes` | 0 (no limit) | A span attribute with a longer key is dropped. |
| `max_concurrent_searches` | `query.max_concurrent_queries` | Searches and metrics queries of the tenant run at once (within the global limit); more wait `query.queue_timeout`, then 429. |
| `max_search_duration` | 0 (no limit) | The longest `start`–`end` range a search (`/api/search`, TraceQL metrics, Jaeger's and Zipkin's trace search) may cover: longer is 400 naming the limit; a search without `start` covers the last `max_search_duration` (before `end`, or now). |
| `retention` | `retention.max_age` | How long the tenant's blocks are kept (by when their spans were received, see `retention.max_age`); each retention pass reads it as the file says then. |
| `retention_max_bytes` | `retention.max_bytes` (0: none) | Most bytes of blocks kept for the tenant; past it its oldest blocks go first. |

Spans and bytes per trace are counted over what the head holds for the trace: the spans
taken in since the tenant's head was last cut to a block (`block.max_age`,
`block.max_head_bytes`), so a trace that goes on after a cut starts counting again. The span
that would take a trace past a limit and every later span of that trace are refused: the
request is answered with a partial success (OTLP `partial_success.rejected_spans` and
`error_message`, Zipkin's 202 with a note) naming the trace ID and the limit. The trace is
then *truncated*: trace-by-ID answers flag it — Tempo's `/api/v2/traces/<id>` answers
`"status": "PARTIAL"` with a `message`, and every trace-by-ID answer (Tempo v1 and v2, Jaeger,
Zipkin) carries an `X-Arbor-Partial` header saying why. The flag is kept in
`truncated_traces.log` in the data directory, across restarts.

Attributes past `max_attributes_per_span` or with a key longer than `max_attribute_key_bytes`
are dropped from the span (which is kept), counted in its `dropped_attributes_count`, and
reported in the answer's partial-success message, naming the tenant and the limit.

`/metrics` counts per tenant: `arbor_tenant_spans_received_total`,
`arbor_tenant_bytes_received_total`, `arbor_tenant_rate_limited_requests_total` and
`arbor_tenant_refused_total{reason="rate"|"trace_size"|"attributes"}` (bytes of requests
refused by the rate, spans refused past a trace limit, span attributes dropped).
"#;

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> TenantLimits {
        TenantLimits::from_config(&Config::default())
    }

    fn parse(text: &str) -> Result<Overrides, OverridesError> {
        Overrides::parse(text, &base(), Path::new("overrides.toml"))
    }

    #[test]
    fn defaults_then_tenant_sections() {
        let o = parse(
            "[defaults]\ningestion_rate_limit_bytes = \"1MiB\"\nmax_spans_per_trace = 100\n\n\
             [tenants.team-a]\nmax_spans_per_trace = 5\nretention = \"3d\"\nretention_max_bytes = \"1GiB\"\n",
        )
        .unwrap();
        let other = o.get("team-b");
        assert_eq!(other.ingestion_rate_limit_bytes, 1 << 20);
        assert_eq!(
            other.ingestion_burst_size_bytes,
            1 << 20,
            "burst defaults to 1s"
        );
        assert_eq!(other.max_spans_per_trace, 100);
        assert_eq!(other.retention, Config::default().retention.max_age.0);
        let a = o.get("team-a");
        assert_eq!(a.max_spans_per_trace, 5);
        assert_eq!(a.ingestion_rate_limit_bytes, 1 << 20, "defaults inherited");
        assert_eq!(a.retention, Duration::from_secs(3 * 86400));
        assert_eq!(a.retention_max_bytes, Some(1 << 30));
        assert_eq!(
            a.max_attributes_per_span,
            Config::default().limits.max_attributes_per_span,
            "unset everywhere: the global configuration"
        );
    }

    #[test]
    fn errors_name_file_line_and_key() {
        let err = parse("[defaults]\n\n[tenants.a]\nmax_spans_per_trace = 1\nmax_spanz = 2\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("overrides.toml"), "{err}");
        assert!(err.contains("line 5") && err.contains("max_spanz"), "{err}");
        let err = parse("[tenants.a]\nretention = \"0s\"\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("line 2") && err.contains("tenants.a.retention"),
            "{err}"
        );
        let err = parse("[tenants.\"a/b\"]\nretention = \"1d\"\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("line 1") && err.contains("characters"),
            "{err}"
        );
        let err = parse("[defaults]\nmax_bytes_per_trace = \"12XB\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("line 2") && err.contains("12XB"), "{err}");
    }
}
