//! Unit tests: exact messages and positions for common mistakes, AST snapshots, the
//! lexer's literals, the printer, constant folding and the depth limits. The whole of
//! Tempo's corpus runs in `tests/traceql_corpus.rs`.

mod errors;
mod language;
mod snapshots;
