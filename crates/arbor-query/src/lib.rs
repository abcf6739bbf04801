//! Arbor's read path. For now: trace by ID over the head. Search and TraceQL come here too.

pub mod trace_by_id;
pub mod traceql;

pub use trace_by_id::{TraceLookup, find_trace};
