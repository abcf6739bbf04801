//! The process's memory limit (`limits.memory_limit`): past it, ingest is pushed back
//! instead of memory growing.
//!
//! Each part that holds memory has a budget of its own (the head, requests in flight, the
//! block read cache, compaction's output), but their sum is not the process: the allocator
//! keeps freed pages, a block cut and a compaction hold their files while they write them,
//! searches hold what they read. So the server also watches what it really holds — its
//! resident set, read from `/proc/self/status` every [`POLL`] — and while that is over the
//! limit every new ingest request is refused as overloaded (429 / `RESOURCE_EXHAUSTED`, with
//! a retry hint), as the OpenTelemetry Collector's memory limiter does. Refusing starts at the limit and ends
//! once resident memory is back under [`RESUME`] of it, so that it does not flap.
//!
//! While over the limit it also halves the block read cache (`arbor_storage::block::cache`)
//! once a second, least recently used first: caches are the one holder of memory that can
//! give it back at once — and compaction, whose merge holds its output in memory, waits.
//! Requests already admitted finish; reads are not refused. Without a configured limit it
//! is 80 % of the memory the machine (or its cgroup, when that is less) has; `0` turns the
//! check off. Where `/proc` cannot be read the check is off.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

/// How often resident memory is read.
pub const POLL: Duration = Duration::from_millis(100);

/// Refusing ends below this share of the limit.
pub const RESUME: f64 = 0.9;

/// While over the limit, the block read cache is halved once every this many readings.
const SHRINK_EVERY: u64 = 10;

/// Share of the machine's (or cgroup's) memory used as the limit when none is configured.
const AUTO_SHARE: f64 = 0.8;

/// Resident memory against the limit.
#[derive(Debug)]
pub struct MemoryGuard {
    /// Bytes; 0 when the check is off.
    limit: u64,
    resident: AtomicU64,
    refusing: AtomicBool,
    refusals: AtomicU64,
    /// Readings over the limit since it was last under.
    over: AtomicU64,
}

impl MemoryGuard {
    /// A guard for `configured` (`None`: automatic; `Some(0)`: off).
    pub fn new(configured: Option<u64>) -> MemoryGuard {
        let limit = match configured {
            Some(l) => l,
            None => automatic_limit().unwrap_or(0),
        };
        let guard = MemoryGuard {
            limit,
            resident: AtomicU64::new(0),
            refusing: AtomicBool::new(false),
            refusals: AtomicU64::new(0),
            over: AtomicU64::new(0),
        };
        guard.refresh();
        guard
    }

    /// The limit in bytes; 0 when off.
    pub fn limit(&self) -> u64 {
        self.limit
    }

    /// Resident memory at the last reading (0 when unknown).
    pub fn resident(&self) -> u64 {
        self.resident.load(Ordering::Relaxed)
    }

    /// Requests refused for memory since start.
    pub fn refusals(&self) -> u64 {
        self.refusals.load(Ordering::Relaxed)
    }

    /// Reads resident memory again and decides whether to refuse.
    pub fn refresh(&self) {
        let Some(rss) = resident_bytes() else {
            return;
        };
        if self.observe(rss) {
            let dropped = arbor_storage::block::cache::shrink(0.5);
            tracing::debug!(
                dropped,
                "memory over the limit: halved the block read cache"
            );
        }
    }

    /// Takes a reading; true when the caches should give memory back.
    fn observe(&self, rss: u64) -> bool {
        self.resident.store(rss, Ordering::Relaxed);
        if self.limit == 0 {
            return false;
        }
        let shrink = if rss > self.limit {
            self.over
                .fetch_add(1, Ordering::Relaxed)
                .is_multiple_of(SHRINK_EVERY)
        } else {
            self.over.store(0, Ordering::Relaxed);
            false
        };
        let refusing = self.refusing.load(Ordering::Relaxed);
        if !refusing && rss > self.limit {
            self.refusing.store(true, Ordering::Relaxed);
            tracing::warn!(
                resident = rss,
                limit = self.limit,
                "resident memory over limits.memory_limit: refusing ingest until it is back under {:.0} %",
                RESUME * 100.0
            );
        } else if refusing && (rss as f64) < self.limit as f64 * RESUME {
            self.refusing.store(false, Ordering::Relaxed);
            tracing::info!(
                resident = rss,
                limit = self.limit,
                "memory back under the limit: ingest resumes"
            );
        }
        shrink
    }

    /// Whether ingest is being refused for memory (work that can wait, compaction, waits).
    pub fn over_limit(&self) -> bool {
        self.refusing.load(Ordering::Relaxed)
    }

    /// `Err` with the reason while ingest is refused for memory.
    pub fn admit(&self) -> Result<(), String> {
        if !self.refusing.load(Ordering::Relaxed) {
            return Ok(());
        }
        self.refusals.fetch_add(1, Ordering::Relaxed);
        Err(format!(
            "server memory over its limit: {} MiB resident, limits.memory_limit is {} MiB; retry later",
            self.resident() >> 20,
            self.limit >> 20
        ))
    }

    /// Reads resident memory every [`POLL`] for as long as the runtime runs.
    pub fn watch(self: &Arc<Self>) {
        if self.limit == 0 && resident_bytes().is_none() {
            return;
        }
        let guard = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(POLL);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            loop {
                tick.tick().await;
                let Some(g) = guard.upgrade() else { return };
                g.refresh();
            }
        });
    }
}

/// The process's resident set in bytes (`VmRSS`), where `/proc` has it.
fn resident_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    kib_field(&status, "VmRSS:")
}

/// A `Name:   1234 kB` field of a `/proc` file, in bytes.
fn kib_field(text: &str, name: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.starts_with(name))?;
    let kib: u64 = line[name.len()..]
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kib.saturating_mul(1024))
}

/// [`AUTO_SHARE`] of the machine's memory, or of the cgroup's limit when that is less.
fn automatic_limit() -> Option<u64> {
    let total = kib_field(&std::fs::read_to_string("/proc/meminfo").ok()?, "MemTotal:")?;
    let cgroup = std::fs::read_to_string("/sys/fs/cgroup/memory.max")
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok());
    let memory = cgroup.map_or(total, |c| c.min(total));
    Some((memory as f64 * AUTO_SHARE) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guard(limit: u64) -> MemoryGuard {
        MemoryGuard {
            limit,
            resident: AtomicU64::new(0),
            refusing: AtomicBool::new(false),
            refusals: AtomicU64::new(0),
            over: AtomicU64::new(0),
        }
    }

    #[test]
    fn refuses_over_the_limit_until_back_under_the_resume_share() {
        let g = guard(1000);
        assert!(!g.observe(900));
        assert!(g.admit().is_ok());
        assert!(
            g.observe(1001),
            "the caches give back at the first reading over"
        );
        let why = g.admit().unwrap_err();
        assert!(why.contains("limits.memory_limit"), "{why}");
        for _ in 1..SHRINK_EVERY {
            assert!(
                !g.observe(1001),
                "and then once every {SHRINK_EVERY} readings"
            );
        }
        assert!(g.observe(1001));
        // Under the limit but not under 90 % of it: still refusing.
        assert!(!g.observe(950));
        assert!(g.admit().is_err());
        g.observe(899);
        assert!(g.admit().is_ok());
        assert_eq!(g.refusals(), 2);
    }

    #[test]
    fn zero_is_off() {
        let g = guard(0);
        assert!(!g.observe(u64::MAX));
        assert!(g.admit().is_ok());
    }

    #[test]
    fn reads_kib_fields() {
        let text = "Name:\tarbor\nVmRSS:\t   20480 kB\nVmSwap:\t0 kB\n";
        assert_eq!(kib_field(text, "VmRSS:"), Some(20 << 20));
        assert_eq!(kib_field(text, "VmHWM:"), None);
    }

    #[test]
    fn this_process_has_a_resident_set_on_linux() {
        if cfg!(target_os = "linux") {
            assert!(resident_bytes().is_some_and(|b| b > 0));
            assert!(automatic_limit().is_some_and(|b| b > 0));
        }
    }
}
