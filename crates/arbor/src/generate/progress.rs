//! A progress line on stderr: a bar redrawn in place at a terminal, a plain line every 10 s
//! into a file or pipe (so CI logs show that long work is moving), nothing when quiet.

use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// What to show now: the fraction done (if known) and a status text.
pub type Status = Box<dyn Fn() -> (Option<f64>, String) + Send>;

pub struct Progress {
    stop: Arc<AtomicBool>,
    handle: Option<std::thread::JoinHandle<()>>,
}

impl Progress {
    pub fn start(label: &str, quiet: bool, status: Status) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        if quiet {
            return Self { stop, handle: None };
        }
        let tty = std::io::stderr().is_terminal();
        let (label, flag) = (label.to_string(), stop.clone());
        let handle = std::thread::spawn(move || {
            let every = if tty {
                Duration::from_millis(200)
            } else {
                Duration::from_secs(10)
            };
            let mut last = Instant::now();
            while !flag.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(100));
                if last.elapsed() < every {
                    continue;
                }
                last = Instant::now();
                let (frac, text) = status();
                let mut err = std::io::stderr().lock();
                if tty {
                    let _ = write!(err, "\r\x1b[2K{label} {} {text}", bar(frac));
                } else {
                    let pct = frac.map_or(String::new(), |f| format!("{:.0}% ", f * 100.0));
                    let _ = writeln!(err, "{label}: {pct}{text}");
                }
                let _ = err.flush();
            }
            if tty {
                let _ = write!(std::io::stderr(), "\r\x1b[2K");
            }
        });
        Self {
            stop,
            handle: Some(handle),
        }
    }

    pub fn finish(mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

fn bar(frac: Option<f64>) -> String {
    const W: usize = 30;
    match frac {
        Some(f) => {
            let f = f.clamp(0.0, 1.0);
            let full = (f * W as f64) as usize;
            format!(
                "[{}{}] {:>3.0}%",
                "#".repeat(full),
                "-".repeat(W - full),
                f * 100.0
            )
        }
        None => String::new(),
    }
}

pub use crate::text::thousands;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_groups_digits() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(1234567), "1,234,567");
    }

    #[test]
    fn bar_is_proportional() {
        assert_eq!(
            bar(Some(0.5)),
            format!("[{}{}]  50%", "#".repeat(15), "-".repeat(15))
        );
        assert_eq!(bar(None), "");
    }
}
