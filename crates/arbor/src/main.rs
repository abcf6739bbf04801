//! The `arbor` command: `serve` runs the server; `trace` prints a trace as a waterfall;
//! `query` runs a TraceQL search or metrics query; `tail` follows matching spans live;
//! `inspect` describes a block;
//! `config-reference` prints the configuration reference (docs/config.md); `check-rules`
//! checks alert rules files; `gen` sends a
//! realistic generated workload; `bench` measures a fresh server against floors.

/// jemalloc, not glibc's malloc: under 64 concurrent senders glibc's per-thread arenas grew
/// resident memory round after round (BENCHMARKS.md, "Memory under overload"). Build with
/// `--no-default-features` for the system allocator.
#[cfg(all(feature = "jemalloc", not(target_env = "msvc")))]
#[global_allocator]
static ALLOC: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

mod bench;
mod generate;
mod inspect;
mod query;
mod tail;
mod text;
mod vulture;
mod waterfall;

use std::io::IsTerminal;
use std::time::Duration;

use anyhow::Context;
use arbor_model::TraceId;
use arbor_model::otlp::TracesData;
use arbor_server::config::LogFormat;
use arbor_server::{Config, ServeArgs};
use clap::{Parser, Subcommand, ValueEnum};
use prost::Message;

#[derive(Parser)]
#[command(
    name = "arbor",
    version,
    about = "A distributed-tracing backend: receives OpenTelemetry and Zipkin spans, keeps them, finds them"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server: receivers, query API, storage.
    Serve(Box<ServeArgs>),
    /// Print one trace as a waterfall in the terminal.
    Trace(TraceArgs),
    /// Run a TraceQL query and print the traces, or the series of a metrics query.
    ///
    /// A search prints a table of traces: ID, start (RFC 3339, UTC), root service, root span
    /// name, duration and matched spans. A metrics query (rate(), count_over_time(), …)
    /// prints a sparkline per series, with its min / avg / max / last.
    ///
    /// Exit status: 0 when answered, 2 when the query (or an argument) is refused (the
    /// server's message goes to stderr as it came), 1 for anything else, e.g. the server
    /// cannot be reached.
    Query(query::QueryArgs),
    /// Print the spans matching a TraceQL filter as the server acknowledges them (live
    /// tail), one a line, until interrupted.
    ///
    /// Past --limit spans a second the server samples and says so (on stderr). Exit
    /// status: 0 when the stream ends, 2 when the query is refused, 1 otherwise.
    Tail(tail::TailArgs),
    /// Print the configuration reference as Markdown (the text of docs/config.md).
    ConfigReference,
    /// Mint a bearer token: the token goes to stderr (shown only now), its token-file entry
    /// (which holds the token's SHA-256, never the token) to stdout, e.g.
    /// `arbor token --name ci --tenant team-a --grant write >> tokens.toml`.
    Token(TokenArgs),
    /// Check alert rules files (TOML, or YAML if named *.yaml/*.yml) as the server would
    /// read them, without a server: every field, every TraceQL query, names used twice.
    ///
    /// Prints each file's rules, or its first error with the line. Rules that name
    /// receivers are checked against those of `--config` (or `--receiver`). Exit status: 0
    /// when every file is valid, 1 otherwise.
    CheckRules(CheckRulesArgs),
    /// Print a block's metadata, file and column sizes, and dedicated columns.
    Inspect {
        /// The block's directory, e.g. data/blocks/single-tenant/<block-id>.
        dir: std::path::PathBuf,
    },
    /// Generate a realistic, seeded trace workload and send it over OTLP (or write it to a
    /// file), with a progress line and a summary.
    Gen(Box<generate::GenArgs>),
    /// Benchmark Arbor: start a server on a fresh data directory, ingest a generated workload
    /// over OTLP/gRPC and OTLP/HTTP, then measure storage, trace lookups and searches, each
    /// next to a floor measured in the same run. Prints a table; --json writes the figures.
    Bench(Box<bench::BenchArgs>),
    /// Check consistency: write known traces at a steady rate, read them back by ID and by
    /// search at increasing ages, count missing, duplicated and wrong spans (docs/vulture.md).
    Vulture(Box<vulture::VultureArgs>),
}

#[derive(clap::Args)]
struct CheckRulesArgs {
    /// The rules files.
    #[arg(required = true, value_name = "FILE")]
    files: Vec<std::path::PathBuf>,
    /// The server's configuration file, for the names of its `[[alerts.receivers]]`.
    #[arg(long, value_name = "PATH")]
    config: Option<std::path::PathBuf>,
    /// A receiver name the rules may use (repeatable), besides those of `--config`.
    #[arg(long = "receiver", value_name = "NAME")]
    receivers: Vec<String>,
}

#[derive(clap::Args)]
struct TokenArgs {
    /// The token's name, shown in the audit log and in refusals.
    #[arg(long)]
    name: String,
    /// A tenant the token may use (repeatable or comma-separated); `*` for every tenant.
    #[arg(
        long = "tenant",
        required = true,
        value_delimiter = ',',
        value_name = "TENANT"
    )]
    tenants: Vec<String>,
    /// What the token allows (repeatable or comma-separated).
    #[arg(
        long = "grant",
        required = true,
        value_delimiter = ',',
        value_name = "GRANT"
    )]
    grants: Vec<GrantArg>,
    /// Narrows a read token to the spans that pass this TraceQL filter of resource and
    /// span attributes, e.g. '{ resource.service.namespace = "shop" }'.
    #[arg(long, value_name = "FILTER")]
    scope: Option<String>,
}

/// A grant, as `arbor token` takes it.
#[derive(Clone, Copy, ValueEnum)]
enum GrantArg {
    /// Send spans.
    Write,
    /// Read spans and what is derived from them.
    Read,
    /// Change alert rules and views, flush.
    Admin,
}

#[derive(Clone, Copy, ValueEnum)]
enum ColorChoice {
    Auto,
    Always,
    Never,
}

#[derive(clap::Args)]
struct TraceArgs {
    /// The trace ID, in hex (leading zeros may be left out).
    id: String,
    /// Base URL of Arbor's HTTP API.
    #[arg(long, env = "ARBOR_URL", default_value = "http://127.0.0.1:3200")]
    url: String,
    /// Tenant (X-Scope-OrgID).
    #[arg(long, env = "ARBOR_TENANT")]
    tenant: Option<String>,
    /// Bearer token, for a server with a token file (a read token).
    #[arg(long, env = "ARBOR_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Output width in columns (default: the terminal's, or 120).
    #[arg(long)]
    width: Option<usize>,
    /// Colour the bars and services.
    #[arg(long, value_enum, default_value = "auto")]
    color: ColorChoice,
    /// Print at most this many spans.
    #[arg(long)]
    max_spans: Option<usize>,
    /// Print the trace as OTLP/JSON instead.
    #[arg(long)]
    json: bool,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => serve(*args),
        Command::Trace(args) => trace(args),
        Command::Query(args) => match query::run(args) {
            Ok(()) => Ok(()),
            Err(failure) => {
                use std::io::Write as _;
                let _ = std::io::stdout().flush();
                let mut stderr = std::io::stderr().lock();
                let _ = stderr.write_all(failure.message.as_bytes());
                if !failure.message.ends_with('\n') {
                    let _ = stderr.write_all(b"\n");
                }
                std::process::exit(i32::from(failure.code))
            }
        },
        Command::Tail(args) => match tail::run(args) {
            Ok(()) => Ok(()),
            Err(f) => {
                eprintln!("{}", f.message.trim_end());
                std::process::exit(i32::from(f.code))
            }
        },
        Command::Inspect { dir } => {
            print!("{}", inspect::inspect(&dir)?);
            Ok(())
        }
        Command::Gen(args) => generate::run(*args),
        Command::Bench(args) => bench::run(*args),
        Command::Vulture(args) => vulture::run(*args),
        Command::CheckRules(args) => {
            if !check_rules(&args)? {
                std::process::exit(1);
            }
            Ok(())
        }
        Command::Token(args) => token(&args),
        Command::ConfigReference => {
            print!("{}", arbor_server::config::reference_markdown());
            Ok(())
        }
    }
}

/// `arbor token`: mints a token and checks its entry reads back as the server will read it.
fn token(args: &TokenArgs) -> anyhow::Result<()> {
    use arbor_server::auth::tokens;
    let grants: Vec<tokens::Grant> = args
        .grants
        .iter()
        .map(|g| match g {
            GrantArg::Write => tokens::Grant::Write,
            GrantArg::Read => tokens::Grant::Read,
            GrantArg::Admin => tokens::Grant::Admin,
        })
        .collect();
    let tenants: Vec<String> = args.tenants.iter().map(|t| t.trim().to_string()).collect();
    let token =
        tokens::mint().map_err(|_| anyhow::anyhow!("the system's random generator failed"))?;
    let entry = tokens::entry_toml(&args.name, &token, &tenants, &grants, args.scope.as_deref());
    tokens::TokenSet::parse(&entry).map_err(|e| anyhow::anyhow!("{e}"))?;
    eprintln!("token (shown only now; the file keeps its hash): {token}");
    print!("{entry}");
    Ok(())
}

/// `arbor check-rules`: whether every file is valid; what each holds on stdout, the errors
/// on stderr.
fn check_rules(args: &CheckRulesArgs) -> anyhow::Result<bool> {
    let mut receivers = args.receivers.clone();
    if let Some(path) = &args.config {
        let config = Config::from_file(path)?;
        receivers.extend(config.alerts.receivers.into_iter().map(|r| r.name));
    }
    let mut all_ok = true;
    for file in &args.files {
        match arbor_server::alerts::rules::load_file(file, &receivers) {
            Ok(rules) => {
                let noun = if rules.len() == 1 { "rule" } else { "rules" };
                println!("{}: {} {noun}, valid", file.display(), rules.len());
                for r in &rules {
                    println!("  {}: {}, tenant {}", r.name, r.kind.as_str(), r.tenant());
                }
            }
            Err(e) => {
                all_ok = false;
                eprintln!("{e}");
                if e.contains("no receiver named") && args.config.is_none() {
                    eprintln!(
                        "  (receiver names are checked against --config's [[alerts.receivers]] or --receiver)"
                    );
                }
            }
        }
    }
    Ok(all_ok)
}

fn init_logging(config: &Config) -> anyhow::Result<()> {
    let filter = tracing_subscriber::EnvFilter::try_new(&config.log.level)
        .with_context(|| format!("invalid log.level {:?}", config.log.level))?;
    // A log that cannot be written (full disk, closed pipe) is counted, never a panic.
    arbor_server::logging::init(filter, config.log.format == LogFormat::Json);
    Ok(())
}

fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let config = Config::load(&args)?;
    init_logging(&config)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("arbor")
        .build()
        .context("starting the async runtime")?;
    let result = runtime.block_on(arbor_server::run(config, shutdown_signal()));
    if let Err(e) = &result {
        tracing::error!("{e:#}");
    }
    // Give in-flight work that ignored the shutdown a bounded time, then leave.
    runtime.shutdown_timeout(Duration::from_secs(5));
    result
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}

fn trace(args: TraceArgs) -> anyhow::Result<()> {
    let id = TraceId::from_hex(&args.id).context("invalid trace id")?;
    let url = format!("{}/api/traces/{}", args.url.trim_end_matches('/'), id);
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()?;
    let mut req = client.get(&url).header("Accept", "application/protobuf");
    if let Some(t) = &args.tenant {
        req = req.header("X-Scope-OrgID", t);
    }
    if let Some(t) = &args.token {
        req = req.bearer_auth(t);
    }
    let resp = req.send().with_context(|| format!("GET {url}"))?;
    let status = resp.status();
    if !status.is_success() {
        let text = resp.text().unwrap_or_default();
        anyhow::bail!("{status}: {}", text.trim());
    }
    let data = TracesData::decode(resp.bytes()?).context("decoding the trace")?;
    if args.json {
        let batches: Vec<_> = data
            .resource_spans
            .iter()
            .map(arbor_model::otlp_json::encode_resource_spans)
            .collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({ "batches": batches }))?
        );
        return Ok(());
    }
    let stdout = std::io::stdout();
    let color = match args.color {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => stdout.is_terminal() && std::env::var_os("NO_COLOR").is_none(),
    };
    let width = args
        .width
        .or_else(|| std::env::var("COLUMNS").ok().and_then(|c| c.parse().ok()))
        .unwrap_or(120)
        .max(40);
    let opts = waterfall::RenderOptions {
        width,
        color,
        max_spans: args.max_spans,
    };
    print!("{}", waterfall::render(&data.resource_spans, &opts));
    Ok(())
}
