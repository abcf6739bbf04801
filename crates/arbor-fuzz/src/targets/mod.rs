//! The fuzz targets. Each takes bytes, runs a part of Arbor on them, asserts what must hold
//! (no panic, and the target's own invariants) and returns an outcome signature for the
//! engine's feedback.

pub mod block;
pub mod model;
pub mod params;
pub mod structured;
pub mod traceql;
pub mod wal;

/// One fuzz target.
pub struct Target {
    pub name: &'static str,
    pub about: &'static str,
    pub run: fn(&[u8]) -> u64,
    /// Inputs built in code (valid encodings of realistic data), besides the corpus files.
    pub seeds: fn() -> Vec<Vec<u8>>,
    /// Tokens the mutator inserts.
    pub dict: &'static [&'static [u8]],
    /// Inputs are cut to this length.
    pub max_len: usize,
    /// Iterations of the bounded smoke test (a few seconds in a debug build).
    pub smoke_iterations: u64,
}

/// Every target, in the order they are listed.
pub fn all() -> Vec<Target> {
    vec![
        model::otlp_proto(),
        model::otlp_json(),
        model::zipkin_json(),
        model::zipkin_proto(),
        structured::normalize(),
        wal::wal(),
        wal::record(),
        block::block_target(),
        traceql::traceql(),
        params::params(),
        params::search_request(),
    ]
}

pub fn by_name(name: &str) -> Option<Target> {
    all().into_iter().find(|t| t.name == name)
}

/// An outcome signature from an error message: its first words, digits and quoted parts
/// left out, so that "at line 3" and "at line 7" are the same outcome.
pub fn error_outcome(prefix: &str, message: &str) -> u64 {
    let mut shape = String::from(prefix);
    let mut quoted = false;
    for c in message.chars().take(60) {
        match c {
            '"' | '`' => quoted = !quoted,
            _ if quoted || c.is_ascii_digit() => {}
            _ => shape.push(c),
        }
    }
    crate::engine::outcome(&shape)
}
