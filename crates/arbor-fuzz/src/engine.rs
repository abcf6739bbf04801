//! The fuzzing loop: takes a target's seeds and corpus, mutates, runs each input under
//! `catch_unwind`, and keeps an input in the in-memory corpus when it reaches an outcome the
//! run had not seen (the target names its outcome: which error, which path) — a coarse,
//! instrumentation-free feedback that steers mutation toward inputs that get further.
//! Seeded: the same seed, corpus and bound run the same inputs.

use std::collections::{HashMap, HashSet};
use std::io::Write as _;
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::Once;
use std::time::{Duration, Instant};

use crate::mutate::{Mutator, Rng};
use crate::targets::Target;

/// How long a run goes on.
#[derive(Debug, Clone, Copy)]
pub enum Bound {
    Iterations(u64),
    Time(Duration),
}

#[derive(Debug, Clone)]
pub struct RunConfig {
    pub seed: u64,
    pub bound: Bound,
    /// Extra inputs to start from (the committed corpus directory).
    pub corpus_dir: Option<PathBuf>,
    /// Where crashing inputs are written (`<dir>/crash-<target>-<hash>.bin`); none in tests.
    pub crash_dir: Option<PathBuf>,
    /// Write each input to `<crash_dir>/current-<target>.bin` before running it, so that an
    /// abort (refused allocation, stack overflow) leaves it behind.
    pub keep_current: bool,
    /// Print a line of progress every this often.
    pub progress: Option<Duration>,
}

/// One distinct crash: where it panicked, the message, the smallest input seen for it.
#[derive(Debug, Clone)]
pub struct Crash {
    pub location: String,
    pub message: String,
    pub backtrace: String,
    pub input: Vec<u8>,
    pub file: Option<PathBuf>,
}

#[derive(Debug, Default)]
pub struct Report {
    pub executions: u64,
    pub corpus: usize,
    pub outcomes: usize,
    pub crashes: Vec<Crash>,
    pub elapsed: Duration,
}

/// Runs one input, catching a panic: `Ok(outcome)` or `Err((location, message, backtrace))`.
pub fn run_one(target: &Target, input: &[u8]) -> Result<u64, (String, String, String)> {
    install_hook();
    LAST_PANIC.with(|p| p.borrow_mut().take());
    match panic::catch_unwind(AssertUnwindSafe(|| (target.run)(input))) {
        Ok(outcome) => Ok(outcome),
        Err(payload) => {
            let message = payload
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "panic with a non-string payload".into());
            let (location, backtrace) = LAST_PANIC
                .with(|p| p.borrow_mut().take())
                .unwrap_or_else(|| ("unknown".into(), String::new()));
            Err((location, message, backtrace))
        }
    }
}

thread_local! {
    static LAST_PANIC: std::cell::RefCell<Option<(String, String)>> =
        const { std::cell::RefCell::new(None) };
    static QUIET: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// A panic hook that records the location and a backtrace for the thread that panicked and
/// stays quiet for threads running a target (other threads get the default hook).
fn install_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let default = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if QUIET.with(|q| q.get()) {
                let location = info
                    .location()
                    .map(|l| format!("{}:{}", l.file(), l.line()))
                    .unwrap_or_else(|| "unknown".into());
                let bt = std::backtrace::Backtrace::force_capture().to_string();
                LAST_PANIC.with(|p| *p.borrow_mut() = Some((location, bt)));
            } else {
                default(info);
            }
        }));
    });
}

/// Fuzzes `target` under `config`.
pub fn run(target: &Target, config: &RunConfig) -> Report {
    crate::alloc::configure_from_env();
    install_hook();
    QUIET.with(|q| q.set(true));
    let report = run_inner(target, config);
    QUIET.with(|q| q.set(false));
    report
}

fn run_inner(target: &Target, config: &RunConfig) -> Report {
    let started = Instant::now();
    let mut rng = Rng::new(config.seed ^ fnv(target.name.as_bytes()));
    let mutator = Mutator::new(target.dict, target.max_len);
    let mut corpus: Vec<Vec<u8>> = (target.seeds)();
    if let Some(dir) = &config.corpus_dir {
        corpus.extend(read_corpus(dir));
    }
    if corpus.is_empty() {
        corpus.push(Vec::new());
    }
    let mut current = config
        .crash_dir
        .as_ref()
        .filter(|_| config.keep_current)
        .map(|dir| {
            let _ = std::fs::create_dir_all(dir);
            let path = dir.join(format!("current-{}.bin", target.name));
            (path.clone(), std::fs::File::create(&path).ok())
        });
    let mut report = Report::default();
    let mut outcomes: HashSet<u64> = HashSet::new();
    let mut crashes: HashMap<String, Crash> = HashMap::new();
    let mut last_progress = Instant::now();

    // The seeds and corpus run unmutated first: a regression input fails on its own.
    let mut queue: Vec<Vec<u8>> = corpus.clone();
    queue.reverse();
    loop {
        let done = match config.bound {
            Bound::Iterations(n) => report.executions >= n,
            Bound::Time(d) => started.elapsed() >= d,
        };
        if done {
            break;
        }
        let input = queue.pop().unwrap_or_else(|| {
            let mut v = corpus[rng.below(corpus.len())].clone();
            let other = &corpus[rng.below(corpus.len())];
            mutator.mutate(&mut rng, &mut v, other);
            v
        });
        if let Some((_, Some(file))) = current.as_mut() {
            let _ = file.set_len(0);
            let _ = std::io::Seek::rewind(file);
            let _ = file.write_all(&input);
        }
        report.executions += 1;
        match run_one(target, &input) {
            Ok(outcome) => {
                if outcomes.insert(outcome) && corpus.len() < 4096 {
                    corpus.push(input);
                }
            }
            Err((location, message, backtrace)) => {
                let keep = crashes
                    .get(&location)
                    .is_none_or(|c| input.len() < c.input.len());
                if keep {
                    let file = config
                        .crash_dir
                        .as_ref()
                        .and_then(|d| write_crash(d, target.name, &input));
                    if !crashes.contains_key(&location) {
                        eprintln!(
                            "{}: crash at {location}: {message}{}",
                            target.name,
                            file.as_ref()
                                .map(|f| format!(" (input: {})", f.display()))
                                .unwrap_or_default()
                        );
                    }
                    crashes.insert(
                        location.clone(),
                        Crash {
                            location,
                            message,
                            backtrace,
                            input,
                            file,
                        },
                    );
                }
            }
        }
        if let Some(every) = config.progress
            && last_progress.elapsed() >= every
        {
            last_progress = Instant::now();
            let secs = started.elapsed().as_secs_f64();
            eprintln!(
                "{}: {} executions ({:.0}/s), corpus {}, outcomes {}, crashes {}",
                target.name,
                report.executions,
                report.executions as f64 / secs.max(1e-9),
                corpus.len(),
                outcomes.len(),
                crashes.len()
            );
        }
    }
    if let Some((path, file)) = current {
        drop(file);
        let _ = std::fs::remove_file(path);
    }
    report.corpus = corpus.len();
    report.outcomes = outcomes.len();
    let mut list: Vec<Crash> = crashes.into_values().collect();
    list.sort_by(|a, b| a.location.cmp(&b.location));
    report.crashes = list;
    report.elapsed = started.elapsed();
    report
}

/// Every file of a corpus directory, in name order (empty if the directory is missing).
pub fn read_corpus(dir: &Path) -> Vec<Vec<u8>> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    paths.sort();
    paths
        .into_iter()
        .filter_map(|p| std::fs::read(p).ok())
        .collect()
}

fn write_crash(dir: &Path, target: &str, input: &[u8]) -> Option<PathBuf> {
    std::fs::create_dir_all(dir).ok()?;
    let path = dir.join(format!("crash-{target}-{:016x}.bin", fnv(input)));
    std::fs::write(&path, input).ok()?;
    Some(path)
}

/// FNV-1a, for names and outcome signatures.
pub fn fnv(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// An outcome signature from a short description (an error's kind, a path taken).
pub fn outcome(what: &str) -> u64 {
    fnv(what.as_bytes())
}
