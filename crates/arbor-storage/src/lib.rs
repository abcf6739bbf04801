//! Arbor's storage: what makes an acknowledged span durable and readable.
//!
//! The write path is `Store::ingest`: the normalised batch is appended to the write-ahead
//! log ([`wal`]) and, once the record is durable under the configured sync policy, added to
//! the in-memory [`head`]. Only then is the client acknowledged, so every acknowledged span
//! survives a crash: on open, the log is replayed into the head.
//!
//! The head is cut into immutable blocks ([`block`]) kept in object storage ([`backend`]).
//! A cut gate orders ingest against cuts: ingest holds it shared from its log append until
//! its head append, a cut holds it exclusively while it rotates the log and takes the head,
//! so a record and its spans always land on the same side of a cut. The log segments a cut
//! covers are released only once its blocks are durable; a block records the last segment
//! it covers, and replay skips what blocks already hold, so a crash between the two steps
//! neither loses nor duplicates spans.

pub mod backend;
pub mod block;
pub mod compact;
pub mod head;
pub mod record;
pub mod retention;
pub mod tags;
pub mod wal;

mod store;
mod view;

pub use store::{Activity, CutReport, IngestError, OpenReport, Store, StoreConfig, StoreError};
pub use view::{Part, SearchView, ViewError};
