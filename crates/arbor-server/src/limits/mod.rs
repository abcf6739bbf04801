//! Per-tenant limits and overrides (`limits.overrides_file`), as Grafana Tempo's
//! `overrides`: each tenant has its own ingest rate and burst, spans and bytes per trace,
//! attributes per span and key length, search concurrency and time range, and retention.
//!
//! Layout:
//! - [`overrides`]: the file (a `[defaults]` section over the global configuration, a
//!   `[tenants.NAME]` section per tenant) and [`TenantLimits`], what one tenant is held to;
//! - [`bucket`]: the token bucket, on a clock the caller gives;
//! - [`rate`]: a bucket of bytes per tenant, charged before a request body is decoded;
//! - [`traces`]: spans and bytes per trace over what the head holds, and truncated traces;
//! - [`attrs`]: attributes per span and key length;
//! - [`counters`]: the per-tenant counters on `/metrics`.
//!
//! Guarantees: a request refused by the rate is refused whole, before anything of it is
//! written (nothing acknowledged is lost); limits come from the file last read well — a
//! file that no longer reads keeps the limits in force and logs why; a bad file at start
//! stops the start, naming the file, line and key. The file is looked at every
//! [`RELOAD_INTERVAL`] (as the token file is) and a change applies to the next request.

pub mod attrs;
pub mod bucket;
pub mod counters;
pub mod overrides;
pub mod rate;
pub mod traces;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use parking_lot::{Mutex, RwLock};
use tokio::sync::watch;

use crate::config::Config;
pub use overrides::{Overrides, OverridesError, TenantLimits};
pub use rate::RateRefusal;

/// How often the overrides file is looked at for a change.
pub const RELOAD_INTERVAL: Duration = crate::reload::INTERVAL;

/// What tells a changed file: its modification time and length.
type Stamp = (SystemTime, u64);

fn stamp_of(path: &Path) -> Option<Stamp> {
    let m = std::fs::metadata(path).ok()?;
    Some((m.modified().ok()?, m.len()))
}

/// The overrides in force and what enforces them.
pub struct Limiter {
    /// What every tenant gets from the global configuration.
    base: TenantLimits,
    file: Option<PathBuf>,
    current: RwLock<Arc<Overrides>>,
    stamp: Mutex<Option<Stamp>>,
    origin: Instant,
    pub rate: rate::RateLimiter,
    pub traces: traces::TraceSizes,
    pub counters: counters::TenantCounters,
}

impl Limiter {
    /// Limits from the global configuration only, truncated traces kept in memory (tests,
    /// and the state before the server has read its file).
    pub fn uniform(config: &Config) -> Self {
        let base = TenantLimits::from_config(config);
        Self {
            current: RwLock::new(Arc::new(Overrides::uniform(base.clone()))),
            base,
            file: None,
            stamp: Mutex::new(None),
            origin: Instant::now(),
            rate: Default::default(),
            traces: traces::TraceSizes::open(None),
            counters: Default::default(),
        }
    }

    /// Reads `limits.overrides_file` if set; an error stops the start.
    pub fn open(config: &Config) -> Result<Self, OverridesError> {
        let mut me = Self::uniform(config);
        me.traces = traces::TraceSizes::open(Some(&config.data_dir));
        if let Some(path) = &config.limits.overrides_file {
            let stamp = stamp_of(path);
            let o = Overrides::read(path, &me.base)?;
            tracing::info!(path = %path.display(), tenants = o.tenant_count(), "overrides file read");
            *me.current.get_mut() = Arc::new(o);
            me.stamp = Mutex::new(stamp);
            me.file = Some(path.clone());
        }
        Ok(me)
    }

    /// The limits of a tenant now.
    pub fn tenant(&self, tenant: &str) -> Arc<TenantLimits> {
        self.current.read().get(tenant)
    }

    /// How long a tenant's blocks are kept, and the most bytes of them kept (`None`: no size
    /// limit): the tenant's `retention` and `retention_max_bytes`, else the defaults', else
    /// `retention.max_age` and `retention.max_bytes`.
    pub fn retention_for(&self, tenant: &str) -> (Duration, Option<u64>) {
        let l = self.tenant(tenant);
        (l.retention, l.retention_max_bytes)
    }

    /// Retention per tenant, as the overrides say now (see [`retention_for`](Self::retention_for)).
    pub fn retention_policy(&self) -> arbor_storage::retention::RetentionPolicy {
        self.current.read().retention_policy()
    }

    /// The partial-answer message of a trace read by ID: `read` (why the read was cut, if it
    /// was) joined with why the trace was truncated at ingest, if it was.
    pub fn partial_note(
        &self,
        tenant: &str,
        id: &arbor_model::TraceId,
        read: Option<String>,
    ) -> Option<String> {
        let truncated = self
            .traces
            .truncated(tenant, id)
            .map(|r| format!("truncated at ingest: {r}"));
        match (read, truncated) {
            (Some(a), Some(b)) => Some(format!("{a}; {b}")),
            (a, b) => a.or(b),
        }
    }

    /// Charges a request of `bytes` to the tenant's ingest rate now.
    pub fn admit_ingest(&self, tenant: &str, bytes: u64) -> Result<(), RateRefusal> {
        let limits = self.tenant(tenant);
        let r = self
            .rate
            .admit(tenant, &limits, bytes, self.origin.elapsed());
        match &r {
            Ok(()) => self.counters.admitted(tenant, bytes),
            Err(e) => {
                self.counters.rate_limited(tenant, bytes);
                tracing::debug!(tenant, "{e}");
            }
        }
        r
    }

    /// Reads the file again if it changed; true if new limits are in force.
    pub fn reload_if_changed(&self) -> bool {
        let Some(path) = &self.file else {
            return false;
        };
        let now = stamp_of(path);
        {
            let mut last = self.stamp.lock();
            if *last == now {
                return false;
            }
            *last = now;
        }
        match Overrides::read(path, &self.base) {
            Ok(o) => {
                tracing::info!(path = %path.display(), tenants = o.tenant_count(), "overrides file read again");
                *self.current.write() = Arc::new(o);
                true
            }
            Err(e) => {
                tracing::error!(error = %e, "the overrides file changed but does not read; the limits read before stay in force");
                false
            }
        }
    }

    /// Looks at the file every [`RELOAD_INTERVAL`] until told to stop.
    pub async fn watch(self: Arc<Self>, stop: watch::Receiver<bool>) {
        if self.file.is_none() {
            return;
        }
        crate::reload::poll(
            move || {
                self.reload_if_changed();
            },
            stop,
        )
        .await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_changed_file_is_read_again_and_a_broken_one_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("overrides.toml");
        std::fs::write(&path, "[tenants.a]\nretention = \"1d\"\n").unwrap();
        let config = Config {
            data_dir: dir.path().to_path_buf(),
            limits: crate::config::LimitsConfig {
                overrides_file: Some(path.clone()),
                ..Default::default()
            },
            ..Config::default()
        };
        let l = Limiter::open(&config).unwrap();
        assert_eq!(l.retention_for("a").0, Duration::from_secs(86400));
        assert_eq!(l.retention_for("b"), (config.retention.max_age.0, None));
        // A different length, so the change shows even within the clock's resolution.
        std::fs::write(
            &path,
            "[tenants.a]\nretention = \"2d\"\nretention_max_bytes = \"1MiB\"\n",
        )
        .unwrap();
        assert!(l.reload_if_changed());
        assert_eq!(
            l.retention_for("a"),
            (Duration::from_secs(2 * 86400), Some(1 << 20))
        );
        std::fs::write(&path, "[tenants.a]\nretention = \"soon\"\n").unwrap();
        assert!(!l.reload_if_changed());
        assert_eq!(l.retention_for("a").0, Duration::from_secs(2 * 86400));
        // A bad file at start stops it.
        assert!(Limiter::open(&config).is_err());
    }
}
