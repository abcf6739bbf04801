//! Fuzzing Arbor on stable Rust, without libFuzzer: a seeded byte-mutation engine
//! ([`engine`], [`mutate`]) with a corpus and outcome feedback, structured inputs through
//! the `arbitrary` crate where a target wants a shape rather than bytes, and an allocator
//! that turns an unbounded allocation into a finding ([`alloc`]).
//!
//! The targets ([`targets`]) cover the wire decoders (OTLP protobuf and JSON, Zipkin JSON
//! and protobuf), validation, the WAL replay on damaged segments and its record format, the
//! block reader on damaged files, the TraceQL front end and the query API's parameters.
//!
//! Two ways to run (docs/fuzzing.md): the bounded smoke in `tests/smoke.rs` (a few
//! thousand seeded iterations per target, plus every committed corpus input), and long runs
//! with `cargo run --release -p arbor-fuzz -- TARGET --seconds N`.

pub mod alloc;
pub mod engine;
pub mod mutate;
pub mod targets;

/// The committed corpus of a target: `crates/arbor-fuzz/corpus/<target>/`.
pub fn corpus_dir(target: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("corpus")
        .join(target)
}
