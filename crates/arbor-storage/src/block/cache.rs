//! What queries read of every block again and again — the trace table (`traces.parquet`),
//! the attribute index, and the derived series the server keeps beside a block — decoded
//! once and kept in one cache for the process, bounded in bytes: past the budget the least
//! recently used entries go (read again on next use).
//!
//! Entries are keyed by block ID (unique: a UUID made when the block is written) and kind.
//! The budget is [`DEFAULT_BUDGET`] until [`set_budget`] says otherwise (the server sets it
//! from its configuration at start).

use std::any::Any;
use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use parking_lot::Mutex;

/// Bytes kept when nothing else is configured.
pub const DEFAULT_BUDGET: usize = 256 << 20;

/// What is cached of a block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    TraceTable,
    Index,
    /// The server's derived series of the block (`derived.pb`).
    DerivedSeries,
}

impl Kind {
    const ALL: [Kind; 3] = [Kind::TraceTable, Kind::Index, Kind::DerivedSeries];
}

type Value = Arc<dyn Any + Send + Sync>;

struct Entry {
    value: Value,
    bytes: usize,
    used: u64,
}

#[derive(Default)]
struct Inner {
    entries: HashMap<(String, Kind), Entry>,
    bytes: usize,
}

struct Cache {
    inner: Mutex<Inner>,
    budget: AtomicUsize,
    tick: AtomicU64,
    hits: AtomicU64,
    misses: AtomicU64,
}

fn cache() -> &'static Cache {
    static CACHE: std::sync::OnceLock<Cache> = std::sync::OnceLock::new();
    CACHE.get_or_init(|| Cache {
        inner: Mutex::new(Inner::default()),
        budget: AtomicUsize::new(DEFAULT_BUDGET),
        tick: AtomicU64::new(0),
        hits: AtomicU64::new(0),
        misses: AtomicU64::new(0),
    })
}

/// Sets the cache's budget in bytes (0 keeps nothing).
pub fn set_budget(bytes: usize) {
    cache().budget.store(bytes, Ordering::Relaxed);
    evict(&mut cache().inner.lock());
}

/// Bytes held, hits and misses since start.
pub fn stats() -> (usize, u64, u64) {
    let c = cache();
    (
        c.inner.lock().bytes,
        c.hits.load(Ordering::Relaxed),
        c.misses.load(Ordering::Relaxed),
    )
}

/// The cached value of `kind` for `block`, or what `load` gives (a value and its size in
/// bytes), then kept. Two searches missing at once both load; one copy is kept.
pub async fn get_or_load<T, E, F>(block: &str, kind: Kind, load: F) -> Result<Arc<T>, E>
where
    T: Any + Send + Sync,
    F: Future<Output = Result<(T, usize), E>>,
{
    let c = cache();
    let key = (block.to_string(), kind);
    {
        let mut inner = c.inner.lock();
        if let Some(e) = inner.entries.get_mut(&key)
            && let Ok(v) = e.value.clone().downcast::<T>()
        {
            e.used = c.tick.fetch_add(1, Ordering::Relaxed);
            c.hits.fetch_add(1, Ordering::Relaxed);
            return Ok(v);
        }
    }
    c.misses.fetch_add(1, Ordering::Relaxed);
    let (value, bytes) = load.await?;
    let value = Arc::new(value);
    let mut inner = c.inner.lock();
    if bytes <= c.budget.load(Ordering::Relaxed) {
        let old = inner.entries.insert(
            key,
            Entry {
                value: value.clone(),
                bytes,
                used: c.tick.fetch_add(1, Ordering::Relaxed),
            },
        );
        inner.bytes += bytes;
        if let Some(old) = old {
            inner.bytes -= old.bytes;
        }
        evict(&mut inner);
    }
    Ok(value)
}

/// Drops the least recently used entries until at most `share` of what is held now is left
/// (the server's memory limit asks this while the process is over it). Returns the bytes
/// dropped.
pub fn shrink(share: f64) -> usize {
    let mut inner = cache().inner.lock();
    let before = inner.bytes;
    let target = (before as f64 * share.clamp(0.0, 1.0)) as usize;
    evict_to(&mut inner, target);
    before - inner.bytes
}

/// Forgets a block (deleted by compaction or retention).
pub fn forget(block: &str) {
    let mut inner = cache().inner.lock();
    for kind in Kind::ALL {
        if let Some(e) = inner.entries.remove(&(block.to_string(), kind)) {
            inner.bytes -= e.bytes;
        }
    }
}

fn evict(inner: &mut Inner) {
    evict_to(inner, cache().budget.load(Ordering::Relaxed));
}

/// Drops the least recently used entries until at most `budget` bytes are held.
fn evict_to(inner: &mut Inner, budget: usize) {
    while inner.bytes > budget {
        let Some(oldest) = inner
            .entries
            .iter()
            .min_by_key(|(_, e)| e.used)
            .map(|(k, _)| k.clone())
        else {
            break;
        };
        if let Some(e) = inner.entries.remove(&oldest) {
            inner.bytes -= e.bytes;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn load(v: u32, bytes: usize) -> Result<(u32, usize), ()> {
        Ok((v, bytes))
    }

    #[tokio::test]
    async fn entries_stay_within_the_budget_least_recently_used_first() {
        // The cache is the process's: this test uses its own block names and only checks
        // what it put in.
        let a = get_or_load("cache-test-a", Kind::Index, load(1, 10))
            .await
            .unwrap();
        assert_eq!(*a, 1);
        let again = get_or_load("cache-test-a", Kind::Index, load(2, 10))
            .await
            .unwrap();
        assert_eq!(*again, 1, "a hit, not a load");
        // Larger than any budget: given, never kept.
        let huge = get_or_load("cache-test-b", Kind::Index, load(3, usize::MAX))
            .await
            .unwrap();
        assert_eq!(*huge, 3);
        let reload = get_or_load("cache-test-b", Kind::Index, load(4, usize::MAX))
            .await
            .unwrap();
        assert_eq!(*reload, 4);
        forget("cache-test-a");
        let after = get_or_load("cache-test-a", Kind::Index, load(5, 10))
            .await
            .unwrap();
        assert_eq!(*after, 5);
        forget("cache-test-a");
    }

    #[tokio::test]
    async fn shrinking_keeps_the_most_recently_used() {
        // Other tests share the process's cache: only this test's entries are checked.
        for (i, name) in ["shrink-a", "shrink-b", "shrink-c", "shrink-d"]
            .iter()
            .enumerate()
        {
            get_or_load(name, Kind::TraceTable, load(i as u32, 1000))
                .await
                .unwrap();
        }
        shrink(0.0);
        let reloaded = get_or_load("shrink-d", Kind::TraceTable, load(99, 1000))
            .await
            .unwrap();
        assert_eq!(*reloaded, 99, "emptied by shrink(0)");
        shrink(1.0);
        let kept = get_or_load("shrink-d", Kind::TraceTable, load(100, 1000))
            .await
            .unwrap();
        assert_eq!(*kept, 99, "shrink(1) drops nothing");
        forget("shrink-d");
    }
}
