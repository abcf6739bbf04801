//! An allocator that refuses any single allocation over a limit (512 MiB, or
//! `ARBOR_FUZZ_MAX_ALLOC` bytes read at the first run), so that a length read from damaged
//! bytes and trusted — `Vec::with_capacity(u32::MAX)` — is a finding: the process aborts
//! with "memory allocation of N bytes failed" instead of the kernel's overcommit quietly
//! handing out address space. The engine writes the input it is about to run to a file first
//! (long runs), so an abort leaves the input behind.
//!
//! The one place in the workspace with `unsafe`: implementing `GlobalAlloc` requires it. Every
//! call forwards to the system allocator unchanged.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

/// The limit in bytes; 0 means "not read yet".
static LIMIT: AtomicUsize = AtomicUsize::new(DEFAULT_LIMIT);
/// Largest single allocation refused so far (0: none).
static REFUSED: AtomicUsize = AtomicUsize::new(0);

pub const DEFAULT_LIMIT: usize = 512 << 20;

pub struct CappedAlloc;

impl CappedAlloc {
    fn allowed(size: usize) -> bool {
        if size <= LIMIT.load(Ordering::Relaxed) {
            true
        } else {
            REFUSED.fetch_max(size, Ordering::Relaxed);
            false
        }
    }
}

// SAFETY: every method forwards to `System` with the same arguments, or returns null, which
// `GlobalAlloc` allows to signal failure.
unsafe impl GlobalAlloc for CappedAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if !Self::allowed(layout.size()) {
            return std::ptr::null_mut();
        }
        // SAFETY: the caller's contract is passed through unchanged.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if !Self::allowed(layout.size()) {
            return std::ptr::null_mut();
        }
        // SAFETY: as above.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System` through `alloc` or `realloc` above.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if !Self::allowed(new_size) {
            return std::ptr::null_mut();
        }
        // SAFETY: as above.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: CappedAlloc = CappedAlloc;

/// Sets the limit from `ARBOR_FUZZ_MAX_ALLOC` (bytes), if set.
pub fn configure_from_env() {
    if let Some(limit) = std::env::var("ARBOR_FUZZ_MAX_ALLOC")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
    {
        LIMIT.store(limit, Ordering::Relaxed);
    }
}

/// The limit in force.
pub fn limit() -> usize {
    LIMIT.load(Ordering::Relaxed)
}

/// The largest allocation refused so far, if any (a refusal that was handled with
/// `try_reserve` leaves the process running).
pub fn largest_refused() -> Option<usize> {
    match REFUSED.load(Ordering::Relaxed) {
        0 => None,
        n => Some(n),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn an_allocation_over_the_limit_is_refused_and_the_rest_are_not() {
        let mut small: Vec<u8> = Vec::new();
        assert!(small.try_reserve(1 << 20).is_ok());
        let mut huge: Vec<u8> = Vec::new();
        assert!(huge.try_reserve(super::limit() + 1).is_err());
        assert!(super::largest_refused().unwrap() > super::limit());
    }
}
