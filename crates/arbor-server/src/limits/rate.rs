//! Ingest rate per tenant: a [`Bucket`] of bytes per tenant
//! (`ingestion_rate_limit_bytes` a second, up to `ingestion_burst_size_bytes` at once),
//! charged with a request's body size after decompression, before the body is decoded. A
//! request is taken whole or refused whole; a refusal says when enough will have come back.
//! Tenants have buckets of their own, so one tenant over its rate slows no other.

use std::collections::HashMap;
use std::time::Duration;

use parking_lot::Mutex;

use super::bucket::{Bucket, Wait};
use super::overrides::TenantLimits;

/// A request refused by its tenant's rate.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RateRefusal {
    /// Over the rate now; would pass after `retry_after`.
    #[error(
        "tenant {tenant:?} is over its ingest rate of {rate} bytes/s (burst {burst} bytes; overrides ingestion_rate_limit_bytes, ingestion_burst_size_bytes): this request of {bytes} bytes would be taken in {wait_ms} ms; retry later"
    )]
    Limited {
        tenant: String,
        rate: u64,
        burst: u64,
        bytes: u64,
        wait_ms: u64,
        retry_after: Duration,
    },
    /// Larger than the bucket: never taken as sent.
    #[error(
        "a request of {bytes} bytes is more than tenant {tenant:?}'s ingest burst of {burst} bytes (overrides ingestion_burst_size_bytes): it can never be taken; send smaller requests"
    )]
    OverBurst {
        tenant: String,
        burst: u64,
        bytes: u64,
    },
}

/// Every tenant's bucket.
#[derive(Default)]
pub struct RateLimiter {
    buckets: Mutex<HashMap<String, Bucket>>,
}

impl RateLimiter {
    /// Charges `bytes` to the tenant's bucket at `now`, or refuses the request whole.
    pub fn admit(
        &self,
        tenant: &str,
        limits: &TenantLimits,
        bytes: u64,
        now: Duration,
    ) -> Result<(), RateRefusal> {
        let (rate, burst) = (
            limits.ingestion_rate_limit_bytes,
            limits.ingestion_burst_size_bytes,
        );
        let mut buckets = self.buckets.lock();
        if rate == 0 {
            // No limit (any longer): the bucket goes, a later limit starts full.
            buckets.remove(tenant);
            return Ok(());
        }
        let bucket = buckets
            .entry(tenant.to_string())
            .or_insert_with(|| Bucket::new(rate, burst, now));
        if bucket.rate() != rate || bucket.burst() != burst {
            bucket.reconfigure(rate, burst, now);
        }
        match bucket.take(bytes, now) {
            Ok(()) => Ok(()),
            Err(None) => Err(RateRefusal::OverBurst {
                tenant: tenant.to_string(),
                burst,
                bytes,
            }),
            Err(Some(Wait(wait))) => Err(RateRefusal::Limited {
                tenant: tenant.to_string(),
                rate,
                burst,
                bytes,
                wait_ms: wait.as_millis() as u64,
                retry_after: wait,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn limits(rate: u64, burst: u64) -> TenantLimits {
        TenantLimits {
            ingestion_rate_limit_bytes: rate,
            ingestion_burst_size_bytes: burst,
            ..TenantLimits::from_config(&Config::default())
        }
    }

    #[test]
    fn a_tenant_over_its_rate_does_not_slow_another() {
        let r = RateLimiter::default();
        let slow = limits(1, 100);
        let t0 = Duration::ZERO;
        r.admit("a", &slow, 100, t0).unwrap();
        let err = r.admit("a", &slow, 10, t0).unwrap_err();
        let RateRefusal::Limited { retry_after, .. } = &err else {
            panic!("{err:?}")
        };
        assert_eq!(*retry_after, Duration::from_secs(10));
        let msg = err.to_string();
        assert!(msg.contains("\"a\"") && msg.contains("1 bytes/s"), "{msg}");
        r.admit("b", &slow, 100, t0).unwrap();
        assert!(matches!(
            r.admit("a", &slow, 101, t0),
            Err(RateRefusal::OverBurst { .. })
        ));
        r.admit("a", &slow, 10, Duration::from_secs(10)).unwrap();
    }

    #[test]
    fn a_changed_limit_applies_at_once() {
        let r = RateLimiter::default();
        let t0 = Duration::ZERO;
        r.admit("a", &limits(1, 10), 10, t0).unwrap();
        assert!(r.admit("a", &limits(1, 10), 1, t0).is_err());
        r.admit("a", &limits(0, 0), 1_000_000, t0).unwrap();
        r.admit("a", &limits(1, 1000), 1000, t0).unwrap();
    }
}
