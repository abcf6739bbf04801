//! The configuration of `arbor serve`: one struct, loaded in three layers — built-in
//! defaults, then a TOML file (`--config`), then environment variables (`ARBOR_*`) and flags
//! (a flag wins over its variable). Every setting has all three forms; the reference in
//! `docs/config.md` is generated from the definitions here (`arbor config-reference`) and a
//! test keeps it in step.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use clap::{Args, CommandFactory, Parser};
use serde::{Deserialize, Serialize};

use crate::units::{ByteSize, HumanDuration};

/// How the write-ahead log makes a write durable before it is acknowledged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum WalSync {
    /// Group commit: one fsync, at most every `wal.sync_interval`, covers every request waiting.
    Batch,
    /// An fsync for every request.
    Always,
    /// No fsync: acknowledged once written to the OS (benchmarks only; a power loss loses data).
    None,
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub data_dir: PathBuf,
    pub http_listen: SocketAddr,
    pub otlp_grpc_listen: SocketAddr,
    pub otlp_http_listen: SocketAddr,
    pub zipkin_listen: SocketAddr,
    pub jaeger_listen: SocketAddr,
    pub listen_file: Option<PathBuf>,
    pub log: LogConfig,
    pub wal: WalConfig,
    pub head: HeadConfig,
    pub limits: LimitsConfig,
    pub storage: StorageConfig,
    pub block: BlockConfig,
    pub retention: RetentionConfig,
    pub compaction: CompactionSettings,
    pub query: QueryConfig,
    pub derived: DerivedConfig,
    pub alerts: AlertsConfig,
    pub auth: AuthConfig,
    pub tls: crate::tls::TlsConfig,
}

/// Who may call the server (`[auth]`); see docs/config.md, "Authentication".
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    /// The token file (hashed tokens, their tenants and grants; `arbor token` mints one).
    /// Set, every endpoint but health and the UI's files needs a bearer token.
    pub tokens_file: Option<PathBuf>,
    /// Serve without a token file on an address other than loopback.
    pub insecure_no_auth: bool,
    /// Host names the listeners answer to besides IP addresses and `localhost`.
    pub allowed_hosts: Vec<String>,
    /// Origins (`https://grafana.example.com`) whose pages may call the APIs.
    pub allowed_origins: Vec<String>,
}

/// Alert rules and where their notifications go; see docs/alerts.md.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AlertsConfig {
    /// Evaluate alert rules at all.
    pub enabled: bool,
    /// How often every rule is evaluated.
    pub interval: HumanDuration,
    /// A file of alert rules, read at start, when it changes and on SIGHUP: TOML
    /// (`[[rules]]`), or YAML (`rules:` and a list) when named `*.yaml` or `*.yml`.
    pub rules_file: Option<PathBuf>,
    /// Where notifications go.
    pub receivers: Vec<ReceiverConfig>,
    /// The address people reach Arbor's UI at (`https://arbor.example.com`), for the links
    /// in notifications; the HTTP listener's address when absent.
    pub external_url: Option<String>,
}

impl Default for AlertsConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            interval: HumanDuration(Duration::from_secs(15)),
            rules_file: None,
            receivers: Vec::new(),
            external_url: None,
        }
    }
}

/// A webhook that receives notifications (`[[alerts.receivers]]`, in the file only).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReceiverConfig {
    /// Unique; what rules name in `receivers`.
    pub name: String,
    /// `http://…` or `https://…`. An HTTPS receiver's certificate is checked against the
    /// system's root certificates and those of `ca_file`.
    pub url: String,
    /// `arbor` (Arbor's JSON) or `alertmanager` (Alertmanager's `POST /api/v2/alerts` body).
    #[serde(default = "default_receiver_format")]
    pub format: String,
    /// How long one attempt may take.
    #[serde(default = "default_receiver_timeout")]
    pub timeout: HumanDuration,
    /// Attempts before a notification is dropped.
    #[serde(default = "default_receiver_attempts")]
    pub max_attempts: u32,
    /// A PEM file of root certificates to trust besides the system's (e.g. an internal CA),
    /// for an `https://` url. Read at start (a file that cannot be read or holds no valid
    /// certificate stops the start); a change after that needs a restart.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// Accept any certificate from an `https://` receiver, unchecked. For testing only: the
    /// notifications can then be read or changed by anyone on the way.
    #[serde(default)]
    pub insecure_skip_verify: bool,
}

fn default_receiver_format() -> String {
    "arbor".into()
}

fn default_receiver_timeout() -> HumanDuration {
    HumanDuration(Duration::from_secs(10))
}

fn default_receiver_attempts() -> u32 {
    10
}

/// The derived views (span metrics, service graph, serverless figures), computed as spans
/// arrive and exposed on `/metrics`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DerivedConfig {
    /// Compute them at all.
    pub enabled: bool,
    /// How long the first half of a client/server span pair waits for the other.
    pub wait: HumanDuration,
    /// Series per view and tenant; past it new label sets count in one overflow series.
    pub max_series: usize,
    /// Price of one GB-second of function time, for the serverless cost estimate.
    pub gb_second_price: f64,
    /// Extra span-metrics labels: attribute keys looked up on the span, then its resource
    /// (e.g. `["http.route"]`); each adds a label named after the key (`http_route`).
    pub dimensions: Vec<String>,
    /// The attribute naming the caller of a root SERVER span in the service graph (e.g.
    /// `client.address`); empty: the caller is `user`.
    pub caller_attribute: String,
}

impl Default for DerivedConfig {
    fn default() -> Self {
        let d = arbor_derived::Config::default();
        Self {
            enabled: true,
            wait: HumanDuration(d.wait),
            max_series: d.max_series,
            gb_second_price: d.gb_second_price,
            dimensions: d.dimensions,
            caller_attribute: d.caller_attribute,
        }
    }
}

/// How blocks are merged in the background.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CompactionSettings {
    /// How often to look for blocks to merge; 0 turns compaction off.
    pub interval: HumanDuration,
    /// Blocks whose newest spans fall in the same window of this length are merged.
    pub window: HumanDuration,
    /// Fewest blocks worth merging.
    pub min_inputs: usize,
    /// Most blocks merged at once.
    pub max_inputs: usize,
    /// Largest output, as the inputs' bytes added up (the output is held in memory until
    /// it is written); unset: half of `head.max_bytes`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_output_bytes: Option<ByteSize>,
}

impl Default for CompactionSettings {
    fn default() -> Self {
        Self {
            interval: HumanDuration(Duration::from_secs(30)),
            window: HumanDuration(Duration::from_secs(3600)),
            min_inputs: 4,
            max_inputs: 16,
            max_output_bytes: None,
        }
    }
}

/// Where blocks are kept.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StorageConfig {
    /// Empty: `<data_dir>/blocks` on the local disk. Else a path, or an object store URL.
    pub url: String,
    /// Object store options (`endpoint`, `region`, `access_key_id`, `secret_access_key`,
    /// `allow_http`, …); the usual `AWS_*`/`GOOGLE_*`/`AZURE_*` variables are read too.
    pub options: std::collections::BTreeMap<String, String>,
}

/// When the head is cut into a block, and how blocks are laid out.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BlockConfig {
    pub max_head_bytes: ByteSize,
    pub max_age: HumanDuration,
    pub rows_per_row_group: usize,
    pub max_dedicated_columns: usize,
}

/// How long blocks are kept.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetentionConfig {
    pub max_age: HumanDuration,
    /// Per tenant; 0 means no size limit.
    pub max_bytes: ByteSize,
    /// How often retention runs (and leftovers of compaction and interrupted writes go).
    pub interval: HumanDuration,
    /// How far spans' own times may be from their receipt before receipt bounds them for
    /// retention (and ingest counts them as clock-skewed); see `arbor_storage::retention`.
    pub ingestion_time_slack: HumanDuration,
}

/// Limits of the read path.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct QueryConfig {
    pub max_trace_spans: usize,
    /// Most tag names (per scope) or values a tag API answer holds (a request's `limit`
    /// may ask for fewer).
    pub max_tag_values: usize,
    /// Most bytes of tag names or values an answer holds.
    pub max_bytes_per_tag_values_query: ByteSize,
    /// A search or metrics query running longer than this stops with an error.
    pub search_timeout: HumanDuration,
    /// Most traces one search returns (a request's `limit` above it is refused).
    pub max_search_limit: usize,
    /// Most series one metrics query returns; more is an error naming this limit.
    pub max_metrics_series: usize,
    /// Searches and metrics queries run at once; more wait for a turn.
    pub max_concurrent_queries: usize,
    /// How long a query waits for a turn before it is refused with 429.
    pub queue_timeout: HumanDuration,
    /// Bytes of blocks' trace tables, attribute indexes and derived series kept decoded.
    pub block_cache_bytes: ByteSize,
}

impl Default for BlockConfig {
    fn default() -> Self {
        Self {
            max_head_bytes: ByteSize(256 * ByteSize::MIB),
            max_age: HumanDuration(Duration::from_secs(5 * 60)),
            rows_per_row_group: 20_000,
            max_dedicated_columns: 10,
        }
    }
}

impl Default for RetentionConfig {
    fn default() -> Self {
        Self {
            max_age: HumanDuration(Duration::from_secs(14 * 86400)),
            max_bytes: ByteSize(0),
            interval: HumanDuration(Duration::from_secs(60)),
            ingestion_time_slack: HumanDuration(arbor_storage::retention::DEFAULT_SLACK),
        }
    }
}

impl Default for QueryConfig {
    fn default() -> Self {
        Self {
            max_trace_spans: 100_000,
            max_tag_values: 1_000,
            max_bytes_per_tag_values_query: ByteSize(5_000_000),
            search_timeout: HumanDuration(Duration::from_secs(30)),
            max_search_limit: 10_000,
            max_metrics_series: 1_000,
            max_concurrent_queries: 16,
            queue_timeout: HumanDuration(Duration::from_secs(10)),
            block_cache_bytes: ByteSize(256 * ByteSize::MIB),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    pub level: String,
    pub format: LogFormat,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WalConfig {
    pub sync: WalSync,
    pub sync_interval: HumanDuration,
    pub segment_size: ByteSize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HeadConfig {
    pub max_bytes: ByteSize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LimitsConfig {
    pub max_request_bytes: ByteSize,
    pub max_decompressed_bytes: ByteSize,
    pub max_attribute_value_bytes: ByteSize,
    pub max_spans_per_request: usize,
    pub max_inflight_bytes: ByteSize,
    pub max_concurrent_requests: usize,
    pub max_attributes_per_span: usize,
    pub max_events_per_span: usize,
    pub max_links_per_span: usize,
    pub max_connections: usize,
    pub header_read_timeout: HumanDuration,
    pub body_read_timeout: HumanDuration,
    pub min_body_rate: ByteSize,
    /// Resident memory past which ingest is refused (`crate::memory`); `None`: 80 % of the
    /// machine's or cgroup's memory; 0: off.
    pub memory_limit: Option<ByteSize>,
    /// Per-tenant limits (see `crate::limits`); read again when it changes.
    pub overrides_file: Option<PathBuf>,
}

fn addr(s: &str) -> SocketAddr {
    s.parse().expect("built-in address parses")
}

impl Default for Config {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("./data"),
            http_listen: addr("127.0.0.1:3200"),
            otlp_grpc_listen: addr("127.0.0.1:4317"),
            otlp_http_listen: addr("127.0.0.1:4318"),
            zipkin_listen: addr("127.0.0.1:9411"),
            jaeger_listen: addr("127.0.0.1:16686"),
            listen_file: None,
            log: LogConfig::default(),
            wal: WalConfig::default(),
            head: HeadConfig::default(),
            limits: LimitsConfig::default(),
            storage: StorageConfig::default(),
            block: BlockConfig::default(),
            retention: RetentionConfig::default(),
            compaction: CompactionSettings::default(),
            query: QueryConfig::default(),
            derived: DerivedConfig::default(),
            alerts: AlertsConfig::default(),
            auth: AuthConfig::default(),
            tls: crate::tls::TlsConfig::default(),
        }
    }
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            level: "info".into(),
            format: LogFormat::Text,
        }
    }
}

impl Default for WalConfig {
    fn default() -> Self {
        Self {
            sync: WalSync::Batch,
            sync_interval: HumanDuration(Duration::from_millis(5)),
            segment_size: ByteSize(128 * ByteSize::MIB),
        }
    }
}

impl Default for HeadConfig {
    fn default() -> Self {
        Self {
            max_bytes: ByteSize(ByteSize::GIB),
        }
    }
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            max_request_bytes: ByteSize(16 * ByteSize::MIB),
            max_decompressed_bytes: ByteSize(64 * ByteSize::MIB),
            max_attribute_value_bytes: ByteSize(32 * ByteSize::KIB),
            max_spans_per_request: 50_000,
            max_inflight_bytes: ByteSize(ByteSize::GIB),
            max_concurrent_requests: 64,
            max_attributes_per_span: 1000,
            max_events_per_span: 1000,
            max_links_per_span: 1000,
            max_connections: 1024,
            header_read_timeout: HumanDuration(Duration::from_secs(10)),
            body_read_timeout: HumanDuration(Duration::from_secs(10)),
            min_body_rate: ByteSize(64 * ByteSize::KIB),
            memory_limit: None,
            overrides_file: None,
        }
    }
}

impl LimitsConfig {
    pub fn span_limits(&self) -> arbor_model::validate::Limits {
        arbor_model::validate::Limits {
            max_attribute_value_bytes: self.max_attribute_value_bytes.as_usize(),
            max_spans_per_request: self.max_spans_per_request,
            max_attributes: self.max_attributes_per_span,
            max_events: self.max_events_per_span,
            max_links: self.max_links_per_span,
        }
    }

    /// How every listener treats its connections.
    pub fn conn_limits(&self) -> crate::listener::ConnLimits {
        crate::listener::ConnLimits {
            max_connections: self.max_connections,
            header_read_timeout: self.header_read_timeout.0,
            body: crate::listener::BodyPace {
                grace: self.body_read_timeout.0,
                min_rate: self.min_body_rate.0,
            },
        }
    }
}

/// Flags of `arbor serve`. Each argument's id is its TOML key; each has an `ARBOR_*`
/// variable. Unset flags leave the file's (or the default) value alone.
#[derive(Debug, Clone, Default, Args)]
pub struct ServeArgs {
    /// TOML configuration file; flags and ARBOR_* variables override its values.
    #[arg(long, env = "ARBOR_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Directory for the write-ahead log and blocks.
    #[arg(
        id = "data_dir",
        long = "data-dir",
        env = "ARBOR_DATA_DIR",
        value_name = "DIR"
    )]
    pub data_dir: Option<PathBuf>,

    /// Query API, UI, /ready and /metrics (host:port; port 0 picks a free port).
    #[arg(
        id = "http_listen",
        long = "http-listen",
        env = "ARBOR_HTTP_LISTEN",
        value_name = "ADDR"
    )]
    pub http_listen: Option<SocketAddr>,

    /// OTLP/gRPC receiver.
    #[arg(
        id = "otlp_grpc_listen",
        long = "otlp-grpc-listen",
        env = "ARBOR_OTLP_GRPC_LISTEN",
        value_name = "ADDR"
    )]
    pub otlp_grpc_listen: Option<SocketAddr>,

    /// OTLP/HTTP receiver (POST /v1/traces, protobuf and JSON).
    #[arg(
        id = "otlp_http_listen",
        long = "otlp-http-listen",
        env = "ARBOR_OTLP_HTTP_LISTEN",
        value_name = "ADDR"
    )]
    pub otlp_http_listen: Option<SocketAddr>,

    /// Zipkin v2 receiver (POST /api/v2/spans) and Zipkin's v2 query API.
    #[arg(
        id = "zipkin_listen",
        long = "zipkin-listen",
        env = "ARBOR_ZIPKIN_LISTEN",
        value_name = "ADDR"
    )]
    pub zipkin_listen: Option<SocketAddr>,

    /// Jaeger-compatible query API (the JSON API of Jaeger UI, v1 and v3).
    #[arg(
        id = "jaeger_listen",
        long = "jaeger-listen",
        env = "ARBOR_JAEGER_LISTEN",
        value_name = "ADDR"
    )]
    pub jaeger_listen: Option<SocketAddr>,

    /// Once every listener is bound, write their addresses to this file as JSON (for tools and tests).
    #[arg(
        id = "listen_file",
        long = "listen-file",
        env = "ARBOR_LISTEN_FILE",
        value_name = "FILE"
    )]
    pub listen_file: Option<PathBuf>,

    /// Log filter, in tracing's EnvFilter syntax (e.g. info, arbor_storage=debug).
    #[arg(
        id = "log.level",
        long = "log-level",
        env = "ARBOR_LOG_LEVEL",
        value_name = "FILTER"
    )]
    pub log_level: Option<String>,

    /// Log format.
    #[arg(
        id = "log.format",
        long = "log-format",
        env = "ARBOR_LOG_FORMAT",
        value_enum
    )]
    pub log_format: Option<LogFormat>,

    /// When a write is durable before it is acknowledged: batch (group commit), always, none.
    #[arg(id = "wal.sync", long = "wal-sync", env = "ARBOR_WAL_SYNC", value_enum)]
    pub wal_sync: Option<WalSync>,

    /// With wal.sync = batch, the shortest time between two fsyncs.
    #[arg(
        id = "wal.sync_interval",
        long = "wal-sync-interval",
        env = "ARBOR_WAL_SYNC_INTERVAL",
        value_name = "DURATION"
    )]
    pub wal_sync_interval: Option<HumanDuration>,

    /// A write-ahead log segment is closed and a new one started past this size.
    #[arg(
        id = "wal.segment_size",
        long = "wal-segment-size",
        env = "ARBOR_WAL_SEGMENT_SIZE",
        value_name = "SIZE"
    )]
    pub wal_segment_size: Option<ByteSize>,

    /// Memory budget of the in-memory head (estimated); past it, ingest answers 429 / RESOURCE_EXHAUSTED.
    #[arg(
        id = "head.max_bytes",
        long = "head-max-bytes",
        env = "ARBOR_HEAD_MAX_BYTES",
        value_name = "SIZE"
    )]
    pub head_max_bytes: Option<ByteSize>,

    /// Largest request body as received (compressed), answered with 413 past it.
    #[arg(
        id = "limits.max_request_bytes",
        long = "max-request-bytes",
        env = "ARBOR_MAX_REQUEST_BYTES",
        value_name = "SIZE"
    )]
    pub max_request_bytes: Option<ByteSize>,

    /// Largest request body after decompression (guards against decompression bombs), 413 past it.
    #[arg(
        id = "limits.max_decompressed_bytes",
        long = "max-decompressed-bytes",
        env = "ARBOR_MAX_DECOMPRESSED_BYTES",
        value_name = "SIZE"
    )]
    pub max_decompressed_bytes: Option<ByteSize>,

    /// Longer string and bytes attribute values are truncated (and counted in the answer).
    #[arg(
        id = "limits.max_attribute_value_bytes",
        long = "max-attribute-value-bytes",
        env = "ARBOR_MAX_ATTRIBUTE_VALUE_BYTES",
        value_name = "SIZE"
    )]
    pub max_attribute_value_bytes: Option<ByteSize>,

    /// A request with more spans is refused whole.
    #[arg(
        id = "limits.max_spans_per_request",
        long = "max-spans-per-request",
        env = "ARBOR_MAX_SPANS_PER_REQUEST",
        value_name = "N"
    )]
    pub max_spans_per_request: Option<usize>,

    /// Memory all requests being received, decoded and written may reserve together (body, then decoded size); past it, 429 / RESOURCE_EXHAUSTED.
    #[arg(
        id = "limits.max_inflight_bytes",
        long = "max-inflight-bytes",
        env = "ARBOR_MAX_INFLIGHT_BYTES",
        value_name = "SIZE"
    )]
    pub max_inflight_bytes: Option<ByteSize>,

    /// Resident memory of the server past which new ingest requests are refused (429 / RESOURCE_EXHAUSTED) until it is back under 90 % of it; unset: 80 % of the machine's or cgroup's memory; 0: off.
    #[arg(
        id = "limits.memory_limit",
        long = "memory-limit",
        env = "ARBOR_MEMORY_LIMIT",
        value_name = "SIZE"
    )]
    pub memory_limit: Option<ByteSize>,

    /// Ingest requests handled at once, over all receivers; more wait their turn.
    #[arg(
        id = "limits.max_concurrent_requests",
        long = "max-concurrent-requests",
        env = "ARBOR_MAX_CONCURRENT_REQUESTS",
        value_name = "N"
    )]
    pub max_concurrent_requests: Option<usize>,

    /// Most attributes a span (and its resource, scope, each event and link, each map value) keeps; the rest are dropped and counted in its dropped_attributes_count and the answer.
    #[arg(
        id = "limits.max_attributes_per_span",
        long = "max-attributes-per-span",
        env = "ARBOR_MAX_ATTRIBUTES_PER_SPAN",
        value_name = "N"
    )]
    pub max_attributes_per_span: Option<usize>,

    /// Most events a span keeps; the rest are dropped and counted (dropped_events_count).
    #[arg(
        id = "limits.max_events_per_span",
        long = "max-events-per-span",
        env = "ARBOR_MAX_EVENTS_PER_SPAN",
        value_name = "N"
    )]
    pub max_events_per_span: Option<usize>,

    /// Most links a span keeps; the rest are dropped and counted (dropped_links_count).
    #[arg(
        id = "limits.max_links_per_span",
        long = "max-links-per-span",
        env = "ARBOR_MAX_LINKS_PER_SPAN",
        value_name = "N"
    )]
    pub max_links_per_span: Option<usize>,

    /// Connections each listener keeps open at once; past it, new ones wait to be accepted.
    #[arg(
        id = "limits.max_connections",
        long = "max-connections",
        env = "ARBOR_MAX_CONNECTIONS",
        value_name = "N"
    )]
    pub max_connections: Option<usize>,

    /// A connection that sends nothing, or an HTTP/1 request whose headers do not arrive, in this time is closed (also an idle keep-alive connection).
    #[arg(
        id = "limits.header_read_timeout",
        long = "header-read-timeout",
        env = "ARBOR_HEADER_READ_TIMEOUT",
        value_name = "DURATION"
    )]
    pub header_read_timeout: Option<HumanDuration>,

    /// Time a request body may take before limits.min_body_rate applies; a body that falls behind gets 408 and its connection is closed.
    #[arg(
        id = "limits.body_read_timeout",
        long = "body-read-timeout",
        env = "ARBOR_BODY_READ_TIMEOUT",
        value_name = "DURATION"
    )]
    pub body_read_timeout: Option<HumanDuration>,

    /// After limits.body_read_timeout, a request body must have arrived at this many bytes per second on average (0: no rate; the timeout then bounds each wait).
    #[arg(
        id = "limits.min_body_rate",
        long = "min-body-rate",
        env = "ARBOR_MIN_BODY_RATE",
        value_name = "SIZE"
    )]
    pub min_body_rate: Option<ByteSize>,

    /// Where blocks are kept: a path, or an object store URL (s3://bucket/prefix, gs://…, az://…); empty for <data_dir>/blocks.
    #[arg(
        id = "storage.url",
        long = "storage-url",
        env = "ARBOR_STORAGE_URL",
        value_name = "URL"
    )]
    pub storage_url: Option<String>,

    /// The head is cut into a block once it holds this much.
    #[arg(
        id = "block.max_head_bytes",
        long = "block-max-head-bytes",
        env = "ARBOR_BLOCK_MAX_HEAD_BYTES",
        value_name = "SIZE"
    )]
    pub block_max_head_bytes: Option<ByteSize>,

    /// The head is cut into a block once its oldest spans arrived this long ago.
    #[arg(
        id = "block.max_age",
        long = "block-max-age",
        env = "ARBOR_BLOCK_MAX_AGE",
        value_name = "DURATION"
    )]
    pub block_max_age: Option<HumanDuration>,

    /// Spans per Parquet row group (smaller: cheaper lookups by ID; larger: better compression).
    #[arg(
        id = "block.rows_per_row_group",
        long = "block-rows-per-row-group",
        env = "ARBOR_BLOCK_ROWS_PER_ROW_GROUP",
        value_name = "N"
    )]
    pub block_rows_per_row_group: Option<usize>,

    /// The most frequent span attributes given a column of their own in each block.
    #[arg(
        id = "block.max_dedicated_columns",
        long = "block-max-dedicated-columns",
        env = "ARBOR_BLOCK_MAX_DEDICATED_COLUMNS",
        value_name = "N"
    )]
    pub block_max_dedicated_columns: Option<usize>,

    /// Blocks are deleted this long after their spans were received (by the server's clock; see retention.ingestion_time_slack); 0: no age limit.
    #[arg(
        id = "retention.max_age",
        long = "retention-max-age",
        env = "ARBOR_RETENTION_MAX_AGE",
        value_name = "DURATION"
    )]
    pub retention_max_age: Option<HumanDuration>,

    /// Per tenant, the oldest blocks are deleted past this total size (0: no limit).
    #[arg(
        id = "retention.max_bytes",
        long = "retention-max-bytes",
        env = "ARBOR_RETENTION_MAX_BYTES",
        value_name = "SIZE"
    )]
    pub retention_max_bytes: Option<ByteSize>,

    /// How often retention runs.
    #[arg(
        id = "retention.interval",
        long = "retention-interval",
        env = "ARBOR_RETENTION_INTERVAL",
        value_name = "DURATION"
    )]
    pub retention_interval: Option<HumanDuration>,

    /// How far a span's own times may be from when the server received it: retention counts a block's newest span end, clamped to within this of its receipt (so clients' clocks cannot shorten or pin retention), and ingest counts spans off by more in arbor_spans_clock_skewed_total; 0: receipt alone, at most 1d.
    #[arg(
        id = "retention.ingestion_time_slack",
        long = "retention-ingestion-time-slack",
        env = "ARBOR_RETENTION_INGESTION_TIME_SLACK",
        value_name = "DURATION"
    )]
    pub retention_ingestion_time_slack: Option<HumanDuration>,

    /// How often to look for blocks to merge; 0 turns compaction off.
    #[arg(
        id = "compaction.interval",
        long = "compaction-interval",
        env = "ARBOR_COMPACTION_INTERVAL",
        value_name = "DURATION"
    )]
    pub compaction_interval: Option<HumanDuration>,

    /// Blocks whose newest spans fall in the same window of this length are merged.
    #[arg(
        id = "compaction.window",
        long = "compaction-window",
        env = "ARBOR_COMPACTION_WINDOW",
        value_name = "DURATION"
    )]
    pub compaction_window: Option<HumanDuration>,

    /// Fewest blocks worth merging.
    #[arg(
        id = "compaction.min_inputs",
        long = "compaction-min-inputs",
        env = "ARBOR_COMPACTION_MIN_INPUTS",
        value_name = "N"
    )]
    pub compaction_min_inputs: Option<usize>,

    /// Most blocks merged at once.
    #[arg(
        id = "compaction.max_inputs",
        long = "compaction-max-inputs",
        env = "ARBOR_COMPACTION_MAX_INPUTS",
        value_name = "N"
    )]
    pub compaction_max_inputs: Option<usize>,

    /// Largest compaction output, as its inputs' bytes added up; compaction holds its output in memory until it is written, so this bounds what one compaction takes. Unset: half of head.max_bytes.
    #[arg(
        id = "compaction.max_output_bytes",
        long = "compaction-max-output-bytes",
        env = "ARBOR_COMPACTION_MAX_OUTPUT_BYTES",
        value_name = "SIZE"
    )]
    pub compaction_max_output_bytes: Option<ByteSize>,

    /// A trace with more spans is returned in part, marked PARTIAL with the counts.
    #[arg(
        id = "query.max_trace_spans",
        long = "max-trace-spans",
        env = "ARBOR_MAX_TRACE_SPANS",
        value_name = "N"
    )]
    pub max_trace_spans: Option<usize>,

    /// Most tag names (per scope) or values a tag API answer holds; a request's `limit` may ask for fewer.
    #[arg(
        id = "query.max_tag_values",
        long = "max-tag-values",
        env = "ARBOR_MAX_TAG_VALUES",
        value_name = "N"
    )]
    pub max_tag_values: Option<usize>,

    /// Most bytes of tag names or values a tag API answer holds (Tempo's max_bytes_per_tag_values_query).
    #[arg(
        id = "query.max_bytes_per_tag_values_query",
        long = "max-bytes-per-tag-values-query",
        env = "ARBOR_MAX_BYTES_PER_TAG_VALUES_QUERY",
        value_name = "SIZE"
    )]
    pub max_bytes_per_tag_values_query: Option<ByteSize>,

    /// A search or metrics query running longer than this stops with an error.
    #[arg(
        id = "query.search_timeout",
        long = "search-timeout",
        env = "ARBOR_SEARCH_TIMEOUT",
        value_name = "DURATION"
    )]
    pub search_timeout: Option<HumanDuration>,

    /// Most traces one search returns; a larger `limit` is refused.
    #[arg(
        id = "query.max_search_limit",
        long = "max-search-limit",
        env = "ARBOR_MAX_SEARCH_LIMIT",
        value_name = "N"
    )]
    pub max_search_limit: Option<usize>,

    /// Most series one metrics query returns; more is an error that names this limit.
    #[arg(
        id = "query.max_metrics_series",
        long = "max-metrics-series",
        env = "ARBOR_MAX_METRICS_SERIES",
        value_name = "N"
    )]
    pub max_metrics_series: Option<usize>,

    /// Searches and metrics queries run at once; more wait for a turn.
    #[arg(
        id = "query.max_concurrent_queries",
        long = "max-concurrent-queries",
        env = "ARBOR_MAX_CONCURRENT_QUERIES",
        value_name = "N"
    )]
    pub max_concurrent_queries: Option<usize>,

    /// How long a query waits for a turn before it is refused with 429.
    #[arg(
        id = "query.queue_timeout",
        long = "query-queue-timeout",
        env = "ARBOR_QUERY_QUEUE_TIMEOUT",
        value_name = "DURATION"
    )]
    pub query_queue_timeout: Option<HumanDuration>,

    /// Bytes of blocks' trace tables, attribute indexes and derived series kept decoded for queries; the least recently used go first.
    #[arg(
        id = "query.block_cache_bytes",
        long = "block-cache-bytes",
        env = "ARBOR_BLOCK_CACHE_BYTES",
        value_name = "SIZE"
    )]
    pub block_cache_bytes: Option<ByteSize>,

    /// Compute the derived views (span metrics, service graph, serverless figures).
    #[arg(
        id = "derived.enabled",
        long = "derived-views",
        env = "ARBOR_DERIVED_VIEWS",
        value_name = "BOOL"
    )]
    pub derived_enabled: Option<bool>,

    /// How long the first half of a client/server span pair waits for the other.
    #[arg(
        id = "derived.wait",
        long = "derived-wait",
        env = "ARBOR_DERIVED_WAIT",
        value_name = "DURATION"
    )]
    pub derived_wait: Option<HumanDuration>,

    /// Series per derived view and tenant; past it new label sets count in one overflow
    /// series.
    #[arg(
        id = "derived.max_series",
        long = "derived-max-series",
        env = "ARBOR_DERIVED_MAX_SERIES",
        value_name = "N"
    )]
    pub derived_max_series: Option<usize>,

    /// Price of one GB-second of function time, for the serverless cost estimate.
    #[arg(
        id = "derived.gb_second_price",
        long = "derived-gb-second-price",
        env = "ARBOR_DERIVED_GB_SECOND_PRICE",
        value_name = "PRICE"
    )]
    pub derived_gb_second_price: Option<f64>,

    /// Extra span-metrics labels, comma-separated attribute keys (span, then resource),
    /// e.g. `http.route`; each adds a label named after the key (`http_route`).
    #[arg(
        id = "derived.dimensions",
        long = "derived-dimensions",
        env = "ARBOR_DERIVED_DIMENSIONS",
        value_name = "KEYS",
        value_delimiter = ','
    )]
    pub derived_dimensions: Option<Vec<String>>,

    /// The attribute naming the caller of a root SERVER span in the service graph (e.g.
    /// `client.address`); empty: the caller is `user`.
    #[arg(
        id = "derived.caller_attribute",
        long = "derived-caller-attribute",
        env = "ARBOR_DERIVED_CALLER_ATTRIBUTE",
        value_name = "KEY"
    )]
    pub derived_caller_attribute: Option<String>,

    /// Evaluate alert rules.
    #[arg(
        id = "alerts.enabled",
        long = "alerts",
        env = "ARBOR_ALERTS",
        value_name = "BOOL"
    )]
    pub alerts_enabled: Option<bool>,

    /// How often every alert rule is evaluated.
    #[arg(
        id = "alerts.interval",
        long = "alerts-interval",
        env = "ARBOR_ALERTS_INTERVAL",
        value_name = "DURATION"
    )]
    pub alerts_interval: Option<HumanDuration>,

    /// A file of alert rules (TOML `[[rules]]`, or YAML if named *.yaml/*.yml), read at start,
    /// when it changes and on SIGHUP.
    #[arg(
        id = "alerts.rules_file",
        long = "alerts-rules-file",
        env = "ARBOR_ALERTS_RULES_FILE",
        value_name = "PATH"
    )]
    pub alerts_rules_file: Option<PathBuf>,

    /// The address people reach Arbor's UI at, for the links in alert notifications.
    #[arg(
        id = "alerts.external_url",
        long = "alerts-external-url",
        env = "ARBOR_ALERTS_EXTERNAL_URL",
        value_name = "URL"
    )]
    pub alerts_external_url: Option<String>,

    /// The per-tenant overrides file (ingest rate and burst, spans and bytes per trace, attributes, search concurrency and range, retention; see "Per-tenant limits" below); read again when it changes.
    #[arg(
        id = "limits.overrides_file",
        long = "overrides-file",
        env = "ARBOR_OVERRIDES_FILE",
        value_name = "PATH"
    )]
    pub overrides_file: Option<PathBuf>,

    /// The token file: every endpoint but /ready and the UI's files then needs a bearer
    /// token (see `arbor token`); read again when it changes.
    #[arg(
        id = "auth.tokens_file",
        long = "auth-tokens-file",
        env = "ARBOR_AUTH_TOKENS_FILE",
        value_name = "PATH"
    )]
    pub auth_tokens_file: Option<PathBuf>,

    /// Serve without a token file on an address other than loopback (anyone who reaches the
    /// port can read, write and delete).
    #[arg(
        id = "auth.insecure_no_auth",
        long = "insecure-no-auth",
        env = "ARBOR_INSECURE_NO_AUTH",
        value_name = "BOOL",
        num_args = 0..=1,
        default_missing_value = "true"
    )]
    pub auth_insecure_no_auth: Option<bool>,

    /// Host names the listeners answer to besides IP addresses and localhost,
    /// comma-separated (`*`: any); other Host headers get 403 unless the request carries a
    /// valid token (DNS rebinding).
    #[arg(
        id = "auth.allowed_hosts",
        long = "auth-allowed-hosts",
        env = "ARBOR_AUTH_ALLOWED_HOSTS",
        value_name = "NAMES",
        value_delimiter = ','
    )]
    pub auth_allowed_hosts: Option<Vec<String>>,

    /// Origins whose web pages may call the APIs (e.g. `https://grafana.example.com`),
    /// comma-separated; a browser request from any other origin but the server's own gets 403.
    #[arg(
        id = "auth.allowed_origins",
        long = "auth-allowed-origins",
        env = "ARBOR_AUTH_ALLOWED_ORIGINS",
        value_name = "ORIGINS",
        value_delimiter = ','
    )]
    pub auth_allowed_origins: Option<Vec<String>>,

    /// The TLS certificate chain (PEM); with the key, every listener speaks TLS only. Read
    /// again when it changes.
    #[arg(
        id = "tls.cert_file",
        long = "tls-cert-file",
        env = "ARBOR_TLS_CERT_FILE",
        value_name = "PATH"
    )]
    pub tls_cert_file: Option<PathBuf>,

    /// The TLS certificate's private key (PEM).
    #[arg(
        id = "tls.key_file",
        long = "tls-key-file",
        env = "ARBOR_TLS_KEY_FILE",
        value_name = "PATH"
    )]
    pub tls_key_file: Option<PathBuf>,

    /// CA certificates (PEM) of client certificates: the ingest listeners then accept a
    /// client certificate named in `[[tls.clients]]` instead of a token.
    #[arg(
        id = "tls.client_ca_file",
        long = "tls-client-ca-file",
        env = "ARBOR_TLS_CLIENT_CA_FILE",
        value_name = "PATH"
    )]
    pub tls_client_ca_file: Option<PathBuf>,
}

impl Config {
    /// Reads a TOML file; unknown keys are errors that name the key.
    pub fn from_file(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading config file {}", path.display()))?;
        toml::from_str(&text).with_context(|| format!("in config file {}", path.display()))
    }

    /// Defaults, then the file named by `--config`, then variables and flags.
    pub fn load(args: &ServeArgs) -> anyhow::Result<Self> {
        let mut c = match &args.config {
            Some(path) => Self::from_file(path)?,
            None => Self::default(),
        };
        macro_rules! set {
            ($($field:ident => $($path:ident).+),* $(,)?) => {
                $(if let Some(v) = args.$field.clone() { c.$($path).+ = v; })*
            };
        }
        set!(
            data_dir => data_dir,
            http_listen => http_listen,
            otlp_grpc_listen => otlp_grpc_listen,
            otlp_http_listen => otlp_http_listen,
            zipkin_listen => zipkin_listen,
            jaeger_listen => jaeger_listen,
            log_level => log.level,
            log_format => log.format,
            wal_sync => wal.sync,
            wal_sync_interval => wal.sync_interval,
            wal_segment_size => wal.segment_size,
            head_max_bytes => head.max_bytes,
            max_request_bytes => limits.max_request_bytes,
            max_decompressed_bytes => limits.max_decompressed_bytes,
            max_attribute_value_bytes => limits.max_attribute_value_bytes,
            max_spans_per_request => limits.max_spans_per_request,
            max_inflight_bytes => limits.max_inflight_bytes,
            max_concurrent_requests => limits.max_concurrent_requests,
            max_attributes_per_span => limits.max_attributes_per_span,
            max_events_per_span => limits.max_events_per_span,
            max_links_per_span => limits.max_links_per_span,
            max_connections => limits.max_connections,
            header_read_timeout => limits.header_read_timeout,
            body_read_timeout => limits.body_read_timeout,
            min_body_rate => limits.min_body_rate,
            storage_url => storage.url,
            block_max_head_bytes => block.max_head_bytes,
            block_max_age => block.max_age,
            block_rows_per_row_group => block.rows_per_row_group,
            block_max_dedicated_columns => block.max_dedicated_columns,
            retention_max_age => retention.max_age,
            retention_max_bytes => retention.max_bytes,
            max_trace_spans => query.max_trace_spans,
            max_tag_values => query.max_tag_values,
            max_bytes_per_tag_values_query => query.max_bytes_per_tag_values_query,
            search_timeout => query.search_timeout,
            max_search_limit => query.max_search_limit,
            max_metrics_series => query.max_metrics_series,
            max_concurrent_queries => query.max_concurrent_queries,
            query_queue_timeout => query.queue_timeout,
            block_cache_bytes => query.block_cache_bytes,
            derived_enabled => derived.enabled,
            derived_wait => derived.wait,
            derived_max_series => derived.max_series,
            derived_gb_second_price => derived.gb_second_price,
            derived_dimensions => derived.dimensions,
            derived_caller_attribute => derived.caller_attribute,
            alerts_enabled => alerts.enabled,
            alerts_interval => alerts.interval,
            retention_interval => retention.interval,
            retention_ingestion_time_slack => retention.ingestion_time_slack,
            compaction_interval => compaction.interval,
            compaction_window => compaction.window,
            compaction_min_inputs => compaction.min_inputs,
            compaction_max_inputs => compaction.max_inputs,
            auth_insecure_no_auth => auth.insecure_no_auth,
            auth_allowed_hosts => auth.allowed_hosts,
            auth_allowed_origins => auth.allowed_origins,
        );
        if args.auth_tokens_file.is_some() {
            c.auth.tokens_file = args.auth_tokens_file.clone();
        }
        if args.overrides_file.is_some() {
            c.limits.overrides_file = args.overrides_file.clone();
        }
        if args.memory_limit.is_some() {
            c.limits.memory_limit = args.memory_limit;
        }
        if args.compaction_max_output_bytes.is_some() {
            c.compaction.max_output_bytes = args.compaction_max_output_bytes;
        }
        if args.listen_file.is_some() {
            c.listen_file = args.listen_file.clone();
        }
        if args.alerts_rules_file.is_some() {
            c.alerts.rules_file = args.alerts_rules_file.clone();
        }
        for (arg, field) in [
            (&args.tls_cert_file, &mut c.tls.cert_file),
            (&args.tls_key_file, &mut c.tls.key_file),
            (&args.tls_client_ca_file, &mut c.tls.client_ca_file),
        ] {
            if arg.is_some() {
                *field = arg.clone();
            }
        }
        if args.alerts_external_url.is_some() {
            c.alerts.external_url = args.alerts_external_url.clone();
        }
        c.validate()?;
        Ok(c)
    }

    fn validate(&self) -> anyhow::Result<()> {
        if self.auth.tokens_file.is_none() && !self.auth.insecure_no_auth {
            for (key, addr) in self.listen_addrs() {
                anyhow::ensure!(
                    addr.ip().is_loopback(),
                    "{key} = {addr} is not a loopback address and there is no token file: \
                     set auth.tokens_file (--auth-tokens-file; `arbor token` mints tokens), or \
                     pass --insecure-no-auth (auth.insecure_no_auth = true) to serve without \
                     authentication"
                );
            }
        }
        self.tls.validate()?;
        for o in &self.auth.allowed_origins {
            let o = o.trim();
            anyhow::ensure!(
                o == "*" || o.starts_with("http://") || o.starts_with("https://"),
                "auth.allowed_origins: {o:?} must be scheme://host[:port] (or *)"
            );
        }
        anyhow::ensure!(
            !self.alerts.interval.0.is_zero(),
            "alerts.interval must be more than 0"
        );
        if let Some(u) = &self.alerts.external_url {
            let ok = reqwest::Url::parse(u)
                .is_ok_and(|url| matches!(url.scheme(), "http" | "https") && url.has_host());
            anyhow::ensure!(
                ok,
                "alerts.external_url {u:?} must be an http://… or https://… URL"
            );
        }
        let mut names = std::collections::HashSet::new();
        for r in &self.alerts.receivers {
            anyhow::ensure!(
                names.insert(r.name.as_str()),
                "alerts.receivers: the name {:?} is used twice",
                r.name
            );
            let url = reqwest::Url::parse(&r.url).map_err(|e| {
                anyhow::anyhow!(
                    "alerts.receivers {:?}: url {:?} is not a URL ({e})",
                    r.name,
                    r.url
                )
            })?;
            anyhow::ensure!(
                matches!(url.scheme(), "http" | "https") && url.has_host(),
                "alerts.receivers {:?}: url {:?} must be http://… or https://…",
                r.name,
                r.url
            );
            anyhow::ensure!(
                url.scheme() == "https" || (r.ca_file.is_none() && !r.insecure_skip_verify),
                "alerts.receivers {:?}: ca_file and insecure_skip_verify are for an https:// url, not {:?}",
                r.name,
                r.url
            );
            // Reads ca_file now, so that a bad one stops the start.
            crate::alerts::notify::receiver_client(r)
                .map_err(|e| anyhow::anyhow!("alerts.receivers {:?}: {e}", r.name))?;
            anyhow::ensure!(
                r.format == "arbor" || r.format == "alertmanager",
                "alerts.receivers {:?}: format {:?} must be \"arbor\" or \"alertmanager\"",
                r.name,
                r.format
            );
            anyhow::ensure!(
                r.max_attempts >= 1,
                "alerts.receivers {:?}: max_attempts must be at least 1",
                r.name
            );
        }
        anyhow::ensure!(
            self.limits.max_decompressed_bytes >= self.limits.max_request_bytes,
            "limits.max_decompressed_bytes ({}) must be at least limits.max_request_bytes ({})",
            self.limits.max_decompressed_bytes,
            self.limits.max_request_bytes
        );
        anyhow::ensure!(
            self.block.rows_per_row_group >= 100,
            "block.rows_per_row_group must be at least 100, got {}",
            self.block.rows_per_row_group
        );
        anyhow::ensure!(
            self.compaction.min_inputs >= 2
                && self.compaction.max_inputs >= self.compaction.min_inputs,
            "compaction needs 2 <= compaction.min_inputs <= compaction.max_inputs, got {} and {}",
            self.compaction.min_inputs,
            self.compaction.max_inputs
        );
        anyhow::ensure!(
            !self.retention.interval.0.is_zero(),
            "retention.interval must be more than 0"
        );
        anyhow::ensure!(
            self.retention.ingestion_time_slack.0 <= Duration::from_secs(86_400),
            "retention.ingestion_time_slack must be at most 1d, got {}",
            self.retention.ingestion_time_slack
        );
        anyhow::ensure!(
            self.query.max_trace_spans > 0,
            "query.max_trace_spans must be at least 1"
        );
        anyhow::ensure!(
            self.query.max_tag_values > 0 && self.query.max_bytes_per_tag_values_query.0 > 0,
            "query.max_tag_values and query.max_bytes_per_tag_values_query must be more than 0"
        );
        anyhow::ensure!(
            self.limits.max_concurrent_requests > 0,
            "limits.max_concurrent_requests must be at least 1"
        );
        anyhow::ensure!(
            self.query.max_concurrent_queries > 0,
            "query.max_concurrent_queries must be at least 1"
        );
        anyhow::ensure!(
            self.limits.max_spans_per_request > 0,
            "limits.max_spans_per_request must be at least 1"
        );
        anyhow::ensure!(
            self.limits.max_connections > 0,
            "limits.max_connections must be at least 1"
        );
        anyhow::ensure!(
            !self.limits.header_read_timeout.0.is_zero()
                && !self.limits.body_read_timeout.0.is_zero(),
            "limits.header_read_timeout and limits.body_read_timeout must be more than 0"
        );
        anyhow::ensure!(
            self.wal.segment_size.0 >= ByteSize::MIB,
            "wal.segment_size must be at least 1MiB, got {}",
            self.wal.segment_size
        );
        Ok(())
    }
}

impl Config {
    /// Every listener's setting and address.
    pub fn listen_addrs(&self) -> [(&'static str, SocketAddr); 5] {
        [
            ("http_listen", self.http_listen),
            ("otlp_grpc_listen", self.otlp_grpc_listen),
            ("otlp_http_listen", self.otlp_http_listen),
            ("zipkin_listen", self.zipkin_listen),
            ("jaeger_listen", self.jaeger_listen),
        ]
    }
}

/// A stand-alone parser so the reference can be generated from the same definitions.
#[derive(Parser)]
#[command(name = "arbor serve")]
struct ServeOnly {
    #[command(flatten)]
    args: ServeArgs,
}

/// The configuration reference, as Markdown: every setting with its TOML key, flag,
/// variable, default and meaning. `docs/config.md` is this text.
pub fn reference_markdown() -> String {
    let defaults = toml::Value::try_from(Config::default()).expect("config serialises");
    let cmd = ServeOnly::command();
    let mut out = String::from(
        "# Configuration reference\n\n\
         <!-- generated by `arbor config-reference`; a test keeps it in step with the code -->\n\n\
         `arbor serve` reads its settings in three layers: built-in defaults, then the TOML file \
         given by `--config` (or `ARBOR_CONFIG`), then environment variables and flags (a flag \
         wins over its variable). Unknown keys in the file are errors.\n\n\
         Sizes take a unit (`B`, `KiB`, `MiB`, `GiB`; `16MiB`) or a plain number of bytes; \
         durations take a unit (`ns`, `us`, `ms`, `s`, `m`, `h`; `5ms`).\n\n\
         Every listener is loopback-only by default. To accept spans from other machines, bind \
         another address, e.g. `--otlp-grpc-listen 0.0.0.0:4317`, and give a token file \
         (`auth.tokens_file`, see \"Authentication\" below); without one, a non-loopback address \
         needs `--insecure-no-auth`.\n\n\
         | TOML key | flag | variable | default | meaning |\n|---|---|---|---|---|\n",
    );
    for arg in cmd.get_arguments() {
        let id = arg.get_id().as_str();
        if id == "help" || id == "version" {
            continue;
        }
        let Some(long) = arg.get_long() else { continue };
        let env = arg
            .get_env()
            .map(|e| format!("`{}`", e.to_string_lossy()))
            .unwrap_or_default();
        let (key, default) = if id == "config" {
            ("—".to_string(), "—".to_string())
        } else {
            let mut v = Some(&defaults);
            for part in id.split('.') {
                v = v.and_then(|v| v.get(part));
            }
            let d = match v {
                Some(toml::Value::String(s)) if s.is_empty() => "(empty)".to_string(),
                Some(toml::Value::String(s)) => format!("`{s}`"),
                Some(other) => format!("`{other}`"),
                None => "(none)".to_string(),
            };
            (format!("`{id}`"), d)
        };
        let help = arg.get_help().map(|h| h.to_string()).unwrap_or_default();
        let values: Vec<String> = arg
            .get_possible_values()
            .iter()
            .map(|v| format!("`{}`", v.get_name()))
            .collect();
        let help = if values.is_empty() {
            help
        } else {
            format!("{help} One of {}.", values.join(", "))
        };
        out.push_str(&format!(
            "| {key} | `--{long}` | {env} | {default} | {} |\n",
            help.replace('|', "\\|")
        ));
    }
    out.push_str(
        "\n## Example file\n\n```toml\ndata_dir = \"/var/lib/arbor\"\notlp_grpc_listen = \"0.0.0.0:4317\"\n\n\
         [wal]\nsync = \"batch\"\nsync_interval = \"5ms\"\n\n[head]\nmax_bytes = \"2GiB\"\n\n\
         [limits]\nmax_request_bytes = \"16MiB\"\nmax_attribute_value_bytes = \"32KiB\"\n\n\
         [block]\nmax_head_bytes = \"256MiB\"\nmax_age = \"5m\"\n\n[retention]\nmax_age = \"14d\"\n\n\
         # Blocks in S3 or an S3-compatible server (AWS_* variables are read too)\n\
         [storage]\nurl = \"s3://traces/arbor\"\n\n[storage.options]\nendpoint = \"http://127.0.0.1:9000\"\n\
         region = \"us-east-1\"\nallow_http = \"true\"\n```\n\n\
         `storage.options` is set in the file only; its keys are `endpoint`, `region`, `access_key_id`, \
         `secret_access_key`, `allow_http` and the other options of the object store chosen by the URL.\n\n\
         ## The listen file\n\n`--listen-file FILE` makes `arbor serve` write, once every listener \
         is bound, a JSON object with the bound addresses (useful with port 0):\n\n\
         ```json\n{\"http\":\"127.0.0.1:3200\",\"otlp_grpc\":\"127.0.0.1:4317\",\
         \"otlp_http\":\"127.0.0.1:4318\",\"zipkin\":\"127.0.0.1:9411\",\"jaeger\":\"127.0.0.1:16686\"}\n```\n",
    );
    out.push_str(AUTH_SECTION);
    out.push_str(crate::limits::overrides::DOC_SECTION);
    out.push_str(crate::tls::config::REFERENCE_SECTION);
    out
}

/// The reference's section on tokens (docs/config.md).
const AUTH_SECTION: &str = r#"
## Authentication

With `auth.tokens_file` set, every endpoint of every listener needs a bearer token, except
`/ready`, `/health` and the web UI's pages and files: `Authorization: Bearer <token>` as an
HTTP header or gRPC metadata (the OpenTelemetry SDKs send it with
`OTEL_EXPORTER_OTLP_HEADERS="Authorization=Bearer <token>"`). Without a token file the
server answers anyone who reaches it, which is allowed on loopback addresses only unless
`--insecure-no-auth` is given (a warning is logged).

`arbor token --name NAME --tenant T --grant G` mints a token: the token on stderr (shown
once), the file entry on stdout. The file keeps only the SHA-256 of each token, and is read
again within a second of a change (a file that no longer reads leaves the tokens in force
and logs why):

```toml
[[tokens]]
name = "collector"            # shown in the audit log and in refusals
sha256 = "<64 hex digits>"
tenants = ["team-a"]          # one tenant, a list, or ["*"] for every tenant
grants = ["write"]            # any of "write", "read", "admin"
# Optional, read tokens only: the token sees only spans that pass this filter of resource
# and span attributes
# (`arbor token … --scope '<filter>'`; see api.md, "Read tokens narrowed to a scope").
# scope = '{ resource.service.namespace = "shop" }'
```

| grant | lets a token |
|---|---|
| `write` | send spans (OTLP/gRPC, OTLP/HTTP, Zipkin) |
| `read` | read spans and what is derived from them: trace by ID, search, metrics, tags, derived views, views, live tail, the Jaeger and Zipkin APIs |
| `admin` | change alert rules and saved views |

`X-Scope-OrgID` must name one of the token's tenants (403 otherwise); a token for exactly one
tenant implies it, and a token for several must name one unless it grants the default tenant.
Endpoints whose answer or effect spans tenants need a token for every tenant (`["*"]`):
`/metrics` (`read` or `admin`), `POST /flush` (`admin`), and the alerts API (`read` or
`admin` to list rules and history, `admin` to change them; a rule names its own tenant).
`GET /api/whoami` says what the token grants.

Browser checks apply with and without tokens: a request whose `Origin` is neither the
listener's own nor in `auth.allowed_origins` gets 403; a request without a valid token whose
`Host` is not an IP address, `localhost` or in `auth.allowed_hosts` gets 403 (DNS
rebinding; so a server without tokens that clients reach by name, e.g. `http://arbor:4318`,
lists that name in `auth.allowed_hosts`; OTLP/gRPC, which browsers cannot call, is not
checked). Changes to alert rules and views take `Content-Type: application/json` only (415).
Each request to the read and admin APIs is logged (target `arbor::audit`) with the token's
name, method, path, tenant and status.
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layers_defaults_file_flags() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("arbor.toml");
        std::fs::write(
            &file,
            "data_dir = \"/x\"\n[wal]\nsync = \"always\"\n[limits]\nmax_request_bytes = \"1MiB\"\n",
        )
        .unwrap();
        let args = ServeArgs {
            config: Some(file),
            data_dir: Some("/y".into()),
            ..Default::default()
        };
        let c = Config::load(&args).unwrap();
        assert_eq!(c.data_dir, PathBuf::from("/y"), "flag beats file");
        assert_eq!(c.wal.sync, WalSync::Always, "file beats default");
        assert_eq!(c.limits.max_request_bytes.0, 1 << 20);
        assert_eq!(c.http_listen, addr("127.0.0.1:3200"), "default kept");
    }

    #[test]
    fn unknown_key_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("arbor.toml");
        std::fs::write(&file, "[wal]\nsyncc = \"always\"\n").unwrap();
        let err = Config::from_file(&file).unwrap_err();
        assert!(format!("{err:#}").contains("syncc"), "{err:#}");
    }

    #[test]
    fn docs_config_md_is_current() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/config.md");
        let current = std::fs::read_to_string(path).unwrap_or_default();
        if std::env::var_os("ARBOR_UPDATE_DOCS").is_some() {
            std::fs::write(path, reference_markdown()).unwrap();
            return;
        }
        assert!(
            current == reference_markdown(),
            "docs/config.md is stale: run `ARBOR_UPDATE_DOCS=1 cargo test -p arbor-server docs_config_md_is_current`"
        );
    }
}
