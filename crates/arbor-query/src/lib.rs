//! Arbor's read path: trace by ID, the TraceQL front end, and search over the head and blocks.

pub mod jaeger;
pub mod narrowed;
pub mod search;
pub mod tags;
pub mod trace_by_id;
pub mod traceql;
pub mod visibility;

pub use trace_by_id::{TraceLookup, find_trace};
