//! What vulture remembers of each trace it wrote: its slot (from which everything else is
//! regenerated), when it was written, which parts the server acknowledged, and how many of
//! its checks have run. A few bytes per trace.

use std::collections::BTreeMap;
use std::time::Instant;

use std::sync::{Mutex, MutexGuard, PoisonError};

#[derive(Debug, Clone, Copy)]
pub struct Entry {
    pub written_at: Instant,
    /// A bit per part: acknowledged by the server.
    pub acked: u8,
    /// Checks done so far (an index into the read ages).
    pub checks_done: usize,
}

#[derive(Debug, Default)]
pub struct Ledger {
    entries: Mutex<BTreeMap<u64, Entry>>,
}

impl Ledger {
    fn lock(&self) -> MutexGuard<'_, BTreeMap<u64, Entry>> {
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn insert(&self, slot: u64, written_at: Instant) {
        self.lock().insert(
            slot,
            Entry {
                written_at,
                acked: 0,
                checks_done: 0,
            },
        );
    }

    /// Records an acknowledged part; true the first time for that part.
    pub fn ack(&self, slot: u64, part: usize) -> bool {
        let mut entries = self.lock();
        let Some(e) = entries.get_mut(&slot) else {
            return false;
        };
        let first = e.acked & (1 << part) == 0;
        e.acked |= 1 << part;
        first
    }

    pub fn get(&self, slot: u64) -> Option<Entry> {
        self.lock().get(&slot).copied()
    }

    /// The traces whose next check is due: written at least `ages[checks_done]` ago.
    pub fn due(&self, ages: &[std::time::Duration], now: Instant) -> Vec<(u64, Entry)> {
        self.lock()
            .iter()
            .filter(|(_, e)| {
                ages.get(e.checks_done)
                    .is_some_and(|age| now.saturating_duration_since(e.written_at) >= *age)
            })
            .map(|(s, e)| (*s, *e))
            .collect()
    }

    pub fn checked(&self, slot: u64) {
        if let Some(e) = self.lock().get_mut(&slot) {
            e.checks_done += 1;
        }
    }

    /// Every trace, for the final check.
    pub fn all(&self) -> Vec<(u64, Entry)> {
        self.lock().iter().map(|(s, e)| (*s, *e)).collect()
    }

    pub fn len(&self) -> usize {
        self.lock().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn checks_come_due_by_age_one_after_the_other() {
        let ledger = Ledger::default();
        let t0 = Instant::now();
        ledger.insert(1, t0);
        let ages = [Duration::from_secs(1), Duration::from_secs(5)];
        assert!(ledger.due(&ages, t0).is_empty());
        assert_eq!(ledger.due(&ages, t0 + Duration::from_secs(2)).len(), 1);
        ledger.checked(1);
        assert!(ledger.due(&ages, t0 + Duration::from_secs(2)).is_empty());
        assert_eq!(ledger.due(&ages, t0 + Duration::from_secs(6)).len(), 1);
        ledger.checked(1);
        assert!(ledger.due(&ages, t0 + Duration::from_secs(60)).is_empty());
        assert!(ledger.ack(1, 2));
        assert!(!ledger.ack(1, 2));
        assert_eq!(ledger.get(1).unwrap().acked, 0b100);
    }
}
