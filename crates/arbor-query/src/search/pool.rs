//! The pool searches decode and evaluate on: threads of their own, one per core, so a
//! search never occupies the async workers that serve requests and ingest, and never
//! grows tokio's blocking pool. A panic in a task is caught and answered as an error.

use std::panic::AssertUnwindSafe;
use std::sync::OnceLock;

use super::SearchError;

fn pool() -> &'static rayon::ThreadPool {
    static POOL: OnceLock<rayon::ThreadPool> = OnceLock::new();
    POOL.get_or_init(|| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(parallelism())
            .thread_name(|i| format!("arbor-search-{i}"))
            .build()
            .expect("the search pool starts (threads can be made)")
    })
}

/// Tasks of one search run at once: the machine's cores.
pub fn parallelism() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}

/// Runs `f` on the search pool and waits for it without blocking the caller's thread.
pub async fn run<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, SearchError> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    pool().spawn(move || {
        let _ = tx.send(std::panic::catch_unwind(AssertUnwindSafe(f)));
    });
    match rx.await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(panic)) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown cause".into());
            tracing::error!(panic = %what, "a search task panicked");
            Err(SearchError::Internal(format!(
                "a search task panicked: {what}"
            )))
        }
        Err(_) => Err(SearchError::Internal("a search task was dropped".into())),
    }
}
