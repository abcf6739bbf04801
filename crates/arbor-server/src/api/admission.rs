//! Turns for queries: at most `query.max_concurrent_queries` searches and metrics queries
//! run at once; the rest wait in line up to `query.queue_timeout`, then get `429` with
//! `Retry-After` and a message naming both limits. Memory and the search pool's threads are
//! shared by whoever runs, so a burst queues instead of running everything at once.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::response::{IntoResponse, Response};
use http::StatusCode;
use http::header::{CONTENT_TYPE, RETRY_AFTER};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

pub struct Admission {
    turns: Arc<Semaphore>,
    max: usize,
    wait: Duration,
    refused: AtomicU64,
}

impl Admission {
    pub fn new(max: usize, wait: Duration) -> Admission {
        Admission {
            turns: Arc::new(Semaphore::new(max)),
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
                })
            }
        }
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

/// A query refused for want of a turn.
#[derive(Debug, thiserror::Error)]
#[error(
    "too many queries at once: {max} run at a time (query.max_concurrent_queries) and this one waited {wait:?} (query.queue_timeout); try again"
)]
pub struct Busy {
    max: usize,
    wait: Duration,
}

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
}
