//! Turns for queries: at most `query.max_concurrent_queries` searches and metrics queries
//! run at once; the rest wait in line up to `query.queue_timeout`, then get `429` with
//! `Retry-After` and a message naming both limits. Memory and the search pool's threads are
//! shared by whoever runs, so a burst queues instead of running everything at once.
//!
//! A tenant's queries also take a turn of the tenant's own
//! (`max_concurrent_searches` of the overrides file, `crate::limits`), first, within the
//! same wait: one tenant's burst queues behind its own limit, not in front of others.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::response::{IntoResponse, Response};
use http::StatusCode;
use http::header::{CONTENT_TYPE, RETRY_AFTER};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

pub struct Admission {
    turns: Arc<Semaphore>,
    /// Each tenant's turns, with the limit they were made for.
    tenants: parking_lot::Mutex<HashMap<String, (usize, Arc<Semaphore>)>>,
    max: usize,
    wait: Duration,
    refused: AtomicU64,
}

impl Admission {
    pub fn new(max: usize, wait: Duration) -> Admission {
        Admission {
            turns: Arc::new(Semaphore::new(max)),
            tenants: Default::default(),
            max,
            wait,
            refused: AtomicU64::new(0),
        }
    }

    /// A turn, held until the permit is dropped; or why none came in time.
    pub async fn turn(&self) -> Result<OwnedSemaphorePermit, Busy> {
        match tokio::time::timeout(self.wait, self.turns.clone().acquire_owned()).await {
            Ok(Ok(permit)) => Ok(permit),
            _ => {
                self.refused.fetch_add(1, Ordering::Relaxed);
                Err(Busy {
                    max: self.max,
                    wait: self.wait,
                    tenant: None,
                })
            }
        }
    }

    /// A turn of the tenant's (at most `tenant_max` at once) and then a shared one, both
    /// held until the [`Turn`] is dropped; or why none came within `query.queue_timeout`.
    pub async fn turn_for(&self, tenant: &str, tenant_max: usize) -> Result<Turn, Busy> {
        let tenant_max = tenant_max.max(1);
        let mine = {
            let mut tenants = self.tenants.lock();
            let entry = tenants
                .entry(tenant.to_string())
                .or_insert_with(|| (tenant_max, Arc::new(Semaphore::new(tenant_max))));
            if entry.0 != tenant_max {
                // The limit changed: new turns; those out now end as they were.
                *entry = (tenant_max, Arc::new(Semaphore::new(tenant_max)));
            }
            entry.1.clone()
        };
        let deadline = tokio::time::Instant::now() + self.wait;
        let refused = |tenant_limit: Option<usize>| {
            self.refused.fetch_add(1, Ordering::Relaxed);
            Busy {
                max: self.max,
                wait: self.wait,
                tenant: tenant_limit.map(|n| (tenant.to_string(), n)),
            }
        };
        let own = match tokio::time::timeout_at(deadline, mine.acquire_owned()).await {
            Ok(Ok(p)) => p,
            _ => return Err(refused(Some(tenant_max))),
        };
        let shared =
            match tokio::time::timeout_at(deadline, self.turns.clone().acquire_owned()).await {
                Ok(Ok(p)) => p,
                _ => return Err(refused(None)),
            };
        Ok(Turn {
            _own: own,
            _shared: shared,
        })
    }

    /// Queries refused since start.
    pub fn refused(&self) -> u64 {
        self.refused.load(Ordering::Relaxed)
    }

    /// Queries running now.
    pub fn running(&self) -> usize {
        self.max - self.turns.available_permits()
    }

    /// The Prometheus lines of the queries' turns.
    pub fn render(&self, out: &mut String) {
        use std::fmt::Write as _;
        let _ = write!(
            out,
            "# HELP arbor_queries_running Searches and metrics queries running now.\n\
             # TYPE arbor_queries_running gauge\n\
             arbor_queries_running {}\n\
             # HELP arbor_queries_refused_total Queries refused after waiting query.queue_timeout for a turn.\n\
             # TYPE arbor_queries_refused_total counter\n\
             arbor_queries_refused_total {}\n",
            self.running(),
            self.refused()
        );
    }
}

/// A tenant's turn and a shared one, given back on drop.
#[derive(Debug)]
pub struct Turn {
    _own: OwnedSemaphorePermit,
    _shared: OwnedSemaphorePermit,
}

/// A query refused for want of a turn: a shared one, or (`tenant`) one of the tenant's.
#[derive(Debug)]
pub struct Busy {
    max: usize,
    wait: Duration,
    tenant: Option<(String, usize)>,
}

impl std::fmt::Display for Busy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.tenant {
            Some((t, n)) => write!(
                f,
                "too many queries at once for tenant {t:?}: {n} run at a time (overrides max_concurrent_searches) and this one waited {:?} (query.queue_timeout); try again",
                self.wait
            ),
            None => write!(
                f,
                "too many queries at once: {} run at a time (query.max_concurrent_queries) and this one waited {:?} (query.queue_timeout); try again",
                self.max, self.wait
            ),
        }
    }
}

impl std::error::Error for Busy {}

impl IntoResponse for Busy {
    fn into_response(self) -> Response {
        (
            StatusCode::TOO_MANY_REQUESTS,
            [
                (RETRY_AFTER, "1"),
                (CONTENT_TYPE, "text/plain; charset=utf-8"),
            ],
            format!("{self}\n"),
        )
            .into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_query_past_the_limit_waits_then_is_refused() {
        let a = Admission::new(1, Duration::from_millis(50));
        let first = a.turn().await.unwrap();
        assert_eq!(a.running(), 1);
        let refused = a.turn().await.unwrap_err().into_response();
        assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(refused.headers()[RETRY_AFTER], "1");
        assert_eq!(a.refused(), 1);
        drop(first);
        let _second = a.turn().await.unwrap();
    }

    #[tokio::test]
    async fn a_tenant_past_its_own_limit_waits_and_others_run() {
        let a = Admission::new(4, Duration::from_millis(50));
        let first = a.turn_for("a", 1).await.unwrap();
        let busy = a.turn_for("a", 1).await.unwrap_err().to_string();
        assert!(
            busy.contains("\"a\"") && busy.contains("max_concurrent_searches"),
            "{busy}"
        );
        let _b = a.turn_for("b", 1).await.unwrap();
        drop(first);
        let _again = a.turn_for("a", 1).await.unwrap();
        // A raised limit applies at once.
        let _more = a.turn_for("a", 2).await.unwrap();
    }
}
