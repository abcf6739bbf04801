//! `arbor-fuzz`: long fuzzing runs on stable Rust.
//!
//! ```text
//! arbor-fuzz list                                   the targets
//! arbor-fuzz run TARGET [--seconds N | --iterations N] [--seed S] [--crashes DIR]
//! arbor-fuzz run all --seconds N                    every target, N seconds each
//! arbor-fuzz replay TARGET FILE...                  run inputs once (a crash's, say)
//! arbor-fuzz seeds TARGET DIR                       write the built-in seeds as files
//! ```
//!
//! Exit status: 0 without crashes, 1 with (each crash input written under --crashes).

use std::path::PathBuf;
use std::time::Duration;

use arbor_fuzz::engine::{self, Bound, RunConfig};
use arbor_fuzz::targets;
use clap::{Parser, Subcommand};

/// A command-line failure: the message for stderr.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct Failure(String);

#[derive(Parser)]
#[command(
    name = "arbor-fuzz",
    about = "Fuzz Arbor's decoders, WAL, blocks, TraceQL and query parameters"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// List the targets.
    List,
    /// Fuzz a target (or `all`, one after the other).
    Run {
        target: String,
        /// Run for this many seconds (per target with `all`).
        #[arg(long, conflicts_with = "iterations")]
        seconds: Option<u64>,
        /// Run this many inputs.
        #[arg(long)]
        iterations: Option<u64>,
        /// The seed of the mutations.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Where crash inputs are written.
        #[arg(long, default_value = "fuzz-crashes")]
        crashes: PathBuf,
    },
    /// Run the given inputs once each and report what they do.
    Replay { target: String, files: Vec<PathBuf> },
    /// Write a target's built-in seed inputs into a directory.
    Seeds { target: String, dir: PathBuf },
}

fn target(name: &str) -> Result<targets::Target, Failure> {
    targets::by_name(name).ok_or_else(|| {
        let names: Vec<&str> = targets::all().iter().map(|t| t.name).collect();
        Failure(format!("no target {name:?}; targets: {}", names.join(", ")))
    })
}

fn main() {
    arbor_fuzz::alloc::configure_from_env();
    match run(Cli::parse()) {
        Ok(true) => {}
        Ok(false) => std::process::exit(1),
        Err(e) => {
            eprintln!("arbor-fuzz: {e}");
            std::process::exit(2);
        }
    }
}

fn run(cli: Cli) -> Result<bool, Failure> {
    match cli.command {
        Command::List => {
            for t in targets::all() {
                println!("{:<16} {}", t.name, t.about);
            }
            Ok(true)
        }
        Command::Run {
            target: name,
            seconds,
            iterations,
            seed,
            crashes,
        } => {
            let list = if name == "all" {
                targets::all()
            } else {
                vec![target(&name)?]
            };
            let bound = match (seconds, iterations) {
                (_, Some(n)) => Bound::Iterations(n),
                (Some(s), None) => Bound::Time(Duration::from_secs(s)),
                (None, None) => Bound::Time(Duration::from_secs(60)),
            };
            let mut clean = true;
            for t in list {
                let config = RunConfig {
                    seed,
                    bound,
                    corpus_dir: Some(arbor_fuzz::corpus_dir(t.name)),
                    crash_dir: Some(crashes.clone()),
                    keep_current: true,
                    progress: Some(Duration::from_secs(10)),
                };
                let report = engine::run(&t, &config);
                println!(
                    "{}: {} executions in {:.1}s ({:.0}/s), corpus {}, outcomes {}, crashes {}",
                    t.name,
                    report.executions,
                    report.elapsed.as_secs_f64(),
                    report.executions as f64 / report.elapsed.as_secs_f64().max(1e-9),
                    report.corpus,
                    report.outcomes,
                    report.crashes.len()
                );
                for c in &report.crashes {
                    clean = false;
                    println!("  crash at {}: {}", c.location, c.message);
                    if let Some(f) = &c.file {
                        println!("    input: {} ({} bytes)", f.display(), c.input.len());
                    }
                    println!("    backtrace:\n{}", indent(&c.backtrace));
                }
            }
            Ok(clean)
        }
        Command::Replay {
            target: name,
            files,
        } => {
            let t = target(&name)?;
            let mut clean = true;
            for f in files {
                let input = std::fs::read(&f)
                    .map_err(|e| Failure(format!("reading {}: {e}", f.display())))?;
                match engine::run_one(&t, &input) {
                    Ok(outcome) => println!("{}: ok (outcome {outcome:016x})", f.display()),
                    Err((location, message, backtrace)) => {
                        clean = false;
                        println!("{}: crash at {location}: {message}", f.display());
                        println!("{}", indent(&backtrace));
                    }
                }
            }
            Ok(clean)
        }
        Command::Seeds { target: name, dir } => {
            let t = target(&name)?;
            std::fs::create_dir_all(&dir)
                .map_err(|e| Failure(format!("creating {}: {e}", dir.display())))?;
            for (i, seed) in (t.seeds)().iter().enumerate() {
                let path = dir.join(format!("seed-{i:02}"));
                std::fs::write(&path, seed)
                    .map_err(|e| Failure(format!("writing {}: {e}", path.display())))?;
            }
            Ok(true)
        }
    }
}

fn indent(text: &str) -> String {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .take(60)
        .map(|l| format!("      {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}
