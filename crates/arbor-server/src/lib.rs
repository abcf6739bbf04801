//! Arbor's network side: the receivers (OTLP/gRPC, OTLP/HTTP, Zipkin), the HTTP query API
//! (Tempo-compatible), the embedded web UI, configuration, and the server that runs them
//! over the store.

pub mod alerts;
pub mod api;
pub mod auth;
pub mod config;
pub mod ingest;
pub mod limits;
pub mod listener;
pub mod logging;
pub mod memory;
pub mod metrics;
pub mod reload;
pub mod rpc;
pub mod server;
pub mod state;
pub mod tail;
pub mod tenant;
pub mod tls;
pub mod ui;
pub mod units;
pub mod views;

pub use config::{Config, ServeArgs};
pub use server::run;
