//! The evaluation loop: every `alerts.interval` a round over every rule, and the rules file
//! read again on SIGHUP, until the server stops.
//!
//! Alerting must not die quietly: a round or a reading of the rules file that panics is
//! caught, logged as an error, counted (`arbor_alert_evaluation_panics_total`), and the loop
//! goes on with the next tick. Before, one panic ended the task for good while `/ready` stayed
//! 200 and `/metrics` showed the states of the last round as if they were current.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use arbor_derived::Deriver;
use arbor_storage::Store;
use futures::FutureExt;

use super::Alerts;

/// Evaluates every rule each interval and reloads the rules file on SIGHUP, until `stop`.
pub async fn run(
    alerts: Arc<Alerts>,
    store: Arc<Store>,
    deriver: Option<Arc<Deriver>>,
    timeout: Duration,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let mut every = tokio::time::interval(alerts.config.interval.0);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    #[cfg(unix)]
    let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
    loop {
        #[cfg(unix)]
        let hangup = async {
            match hup.as_mut() {
                Some(h) => {
                    h.recv().await;
                }
                None => std::future::pending().await,
            }
        };
        #[cfg(not(unix))]
        let hangup = std::future::pending::<()>();
        tokio::select! {
            _ = every.tick() => {
                let round = async {
                    if alerts.round(&store, deriver.as_deref(), timeout).await {
                        save_state_off_runtime(&alerts).await;
                    }
                };
                survive(&alerts, "an evaluation round", round).await;
            }
            _ = hangup => {
                tracing::info!("SIGHUP: reading the alert rules file again");
                survive(&alerts, "reading the rules file", async { alerts.reload_file(true) }).await;
            }
            _ = stop.changed() => return,
        }
    }
}

/// Writes the alert state (an fsync and a rename) on the blocking pool, not on an async
/// worker.
pub(crate) async fn save_state_off_runtime(alerts: &Arc<Alerts>) {
    let a = alerts.clone();
    if let Err(e) = tokio::task::spawn_blocking(move || a.save_state()).await {
        tracing::error!(error = %e, "saving the alert state failed");
    }
}

/// Runs `work`; a panic in it is logged and counted instead of ending the loop.
async fn survive(alerts: &Alerts, what: &str, work: impl Future<Output = ()>) {
    if let Err(panic) = AssertUnwindSafe(work).catch_unwind().await {
        let message = panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "(no message)".into());
        alerts.inner.lock().panics += 1;
        tracing::error!(
            panic = %message,
            "{what} panicked; alerting goes on at the next interval"
        );
    }
}
