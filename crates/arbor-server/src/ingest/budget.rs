//! The in-flight memory budget: what requests being received, decoded and written may hold
//! at once, across every receiver (`limits.max_inflight_bytes`).
//!
//! A request reserves its body as it arrives, then its decompressed size times
//! [`DECODE_EXPANSION`] (a decoded batch takes several times the memory of its protobuf
//! encoding); the reservation is held until the answer is sent. When the budget is spent,
//! the request is refused with 429 / `RESOURCE_EXHAUSTED` and a retry hint, instead of
//! letting memory grow. A request larger than the whole budget is admitted when it is
//! alone, so no single valid request is refused forever.
//!
//! A request's first reservation is also where the process's memory limit
//! ([`crate::memory`]) pushes back: while resident memory is over it, new requests are
//! refused the same way.

use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::Refused;
use crate::memory::MemoryGuard;

/// Memory of a decoded batch per byte of its protobuf encoding (measured: ~8x for typical
/// spans with a dozen attributes).
pub const DECODE_EXPANSION: usize = 8;

const UNIT: usize = 1024;

pub struct InflightBudget {
    sem: Arc<Semaphore>,
    total_units: u32,
    limit_bytes: usize,
    memory: Arc<MemoryGuard>,
}

/// Memory reserved for one request; released on drop.
pub struct Reservation {
    _permits: Vec<OwnedSemaphorePermit>,
}

impl InflightBudget {
    pub fn new(limit_bytes: usize, memory: Arc<MemoryGuard>) -> Self {
        let units = (limit_bytes / UNIT).clamp(1, Semaphore::MAX_PERMITS.min(u32::MAX as usize));
        Self {
            sem: Arc::new(Semaphore::new(units)),
            total_units: units as u32,
            limit_bytes,
            memory,
        }
    }

    /// Bytes reserved now.
    pub fn in_use(&self) -> usize {
        (self.total_units as usize - self.sem.available_permits()) * UNIT
    }

    pub fn limit(&self) -> usize {
        self.limit_bytes
    }

    /// Reserves `bytes` more for a request, adding to what it already holds.
    pub fn reserve(&self, held: &mut Reservation, bytes: usize) -> Result<(), Refused> {
        if held._permits.is_empty() {
            self.memory.admit().map_err(Refused::Overloaded)?;
        }
        let units = bytes.div_ceil(UNIT).clamp(1, self.total_units as usize) as u32;
        let held_units: u32 = held._permits.iter().map(|p| p.num_permits() as u32).sum();
        // Past the whole budget, take what is left of it: the request can only pass alone.
        let units = units
            .min(self.total_units.saturating_sub(held_units))
            .max(1);
        match self.sem.clone().try_acquire_many_owned(units) {
            Ok(p) => {
                held._permits.push(p);
                Ok(())
            }
            Err(_) => Err(Refused::Overloaded(format!(
                "in-flight request memory budget exhausted: {} of {} bytes reserved (limits.max_inflight_bytes)",
                self.in_use(),
                self.limit_bytes
            ))),
        }
    }

    /// A new, empty reservation.
    pub fn start(&self) -> Reservation {
        Reservation {
            _permits: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn budget(bytes: usize) -> InflightBudget {
        InflightBudget::new(bytes, Arc::new(MemoryGuard::new(Some(0))))
    }

    #[test]
    fn refuses_past_budget_and_releases() {
        let b = budget(10 * UNIT);
        let mut r1 = b.start();
        b.reserve(&mut r1, 6 * UNIT).unwrap();
        let mut r2 = b.start();
        let err = b.reserve(&mut r2, 6 * UNIT).unwrap_err();
        assert!(
            err.message().contains("limits.max_inflight_bytes"),
            "{}",
            err.message()
        );
        drop(r1);
        b.reserve(&mut r2, 6 * UNIT).unwrap();
        assert_eq!(b.in_use(), 6 * UNIT);
    }

    #[test]
    fn oversized_request_passes_alone() {
        let b = budget(10 * UNIT);
        let mut r = b.start();
        b.reserve(&mut r, 100 * UNIT).unwrap();
        assert!(b.reserve(&mut b.start(), 1).is_err());
        drop(r);
        assert_eq!(b.in_use(), 0);
    }
}
