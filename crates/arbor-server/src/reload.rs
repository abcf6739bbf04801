//! Files read again when they change (the token file, the TLS certificate files, the
//! overrides file): each is looked at every [`INTERVAL`] by [`poll`], off the async workers,
//! and swapped in whole when it reads; one that no longer reads leaves what was read before
//! in force.

use std::time::Duration;

use tokio::sync::watch;

/// How often a watched file is looked at for a change.
pub const INTERVAL: Duration = Duration::from_secs(1);

/// Runs `check` (which reads the file again if it changed) on a blocking thread every
/// [`INTERVAL`] until `stop` turns true.
pub async fn poll<F>(check: F, mut stop: watch::Receiver<bool>)
where
    F: Fn() + Clone + Send + 'static,
{
    let mut every = tokio::time::interval(INTERVAL);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = every.tick() => {}
            _ = stop.wait_for(|s| *s) => return,
        }
        let _ = tokio::task::spawn_blocking(check.clone()).await;
    }
}
