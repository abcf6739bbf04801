//! The pool searches decode and evaluate on: threads of their own, one per core, so a
//! search never occupies the async workers that serve requests and ingest, and never
//! grows tokio's blocking pool. A panic in a task is caught and answered as an error.
//!
//! An idle thread sleeps on a condition variable until a task comes. (A work-stealing
//! pool that spins before it sleeps — rayon's did — spent about a quarter of a search's
//! CPU yielding on a two-core machine, because a search hands over one row group at a
//! time.)

use std::collections::VecDeque;
use std::panic::AssertUnwindSafe;
use std::sync::{Condvar, Mutex, OnceLock, PoisonError};

use super::SearchError;

type Task = Box<dyn FnOnce() + Send>;

struct Pool {
    queue: Mutex<VecDeque<Task>>,
    ready: Condvar,
}

impl Pool {
    fn push(&self, task: Task) {
        self.queue
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push_back(task);
        self.ready.notify_one();
    }

    /// A thread's life: take the oldest task, run it, sleep while there is none.
    fn work(&self) {
        loop {
            let task = {
                let mut queue = self.queue.lock().unwrap_or_else(PoisonError::into_inner);
                loop {
                    match queue.pop_front() {
                        Some(t) => break t,
                        None => {
                            queue = self
                                .ready
                                .wait(queue)
                                .unwrap_or_else(PoisonError::into_inner)
                        }
                    }
                }
            };
            task();
        }
    }
}

fn pool() -> &'static Pool {
    static POOL: OnceLock<&'static Pool> = OnceLock::new();
    POOL.get_or_init(|| {
        let pool: &'static Pool = Box::leak(Box::new(Pool {
            queue: Mutex::new(VecDeque::new()),
            ready: Condvar::new(),
        }));
        for i in 0..parallelism() {
            std::thread::Builder::new()
                .name(format!("arbor-search-{i}"))
                .spawn(move || pool.work())
                .expect("the search pool starts (threads can be made)");
        }
        pool
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
    pool().push(Box::new(move || {
        let _ = tx.send(std::panic::catch_unwind(AssertUnwindSafe(f)));
    }));
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

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn runs_tasks_and_survives_a_panicking_one() {
        let boom = run(|| -> u32 { panic!("boom") }).await;
        assert!(matches!(boom, Err(SearchError::Internal(m)) if m.contains("boom")));
        // Every thread still takes tasks after the panic.
        let sums = futures::future::join_all((0..64u64).map(|i| run(move || i * 2))).await;
        let total: u64 = sums.into_iter().map(|r| r.unwrap()).sum();
        assert_eq!(total, (0..64u64).map(|i| i * 2).sum::<u64>());
    }
}
