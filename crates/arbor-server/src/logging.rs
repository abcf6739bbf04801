//! Where the log goes: standard error, written so that a log that cannot be written never
//! takes the server down.
//!
//! Writing to a full disk, `/dev/full` or a closed pipe fails. Rust's `eprintln!` panics on
//! such a failure, and the log library reports its own failed writes with `eprintln!` — so a
//! failing stderr panicked whichever thread logged: the server at start, a handler in the
//! middle of an answer (the client saw a dropped connection), the shutdown. Here a failed
//! write is dropped and counted (`arbor_log_write_failures_total` on `/metrics`), and the
//! library's own reports are off: the server goes on, silent, and says so in its metrics.

use std::io::{self, Write};
use std::sync::atomic::{AtomicU64, Ordering};

use tracing_subscriber::fmt::MakeWriter;

static FAILURES: AtomicU64 = AtomicU64::new(0);

/// Log lines that could not be written since the process started.
pub fn write_failures() -> u64 {
    FAILURES.load(Ordering::Relaxed)
}

/// Standard error, with write failures counted instead of reported.
#[derive(Debug, Clone, Copy, Default)]
pub struct Stderr;

impl Write for Stderr {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if let Err(e) = io::stderr().lock().write_all(buf) {
            // Interrupted writes are retried by write_all; anything else loses the line.
            let _ = e;
            FAILURES.fetch_add(1, Ordering::Relaxed);
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        let _ = io::stderr().flush();
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Stderr {
    type Writer = Stderr;

    fn make_writer(&'a self) -> Self::Writer {
        Stderr
    }
}

/// Installs the process's log: `filter` in tracing's EnvFilter syntax, as text or JSON
/// lines, colour only for a person at a terminal.
pub fn init(filter: tracing_subscriber::EnvFilter, json: bool) {
    use std::io::IsTerminal;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(Stderr)
        .log_internal_errors(false)
        .with_ansi(io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none());
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_write_reports_the_whole_line_taken() {
        // Whatever stderr is in the test harness, the writer never errors.
        let mut w = Stderr;
        assert_eq!(w.write(b"").unwrap(), 0);
        assert!(w.flush().is_ok());
    }
}
