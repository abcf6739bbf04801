//! The writer: one new trace per interval (its slot is the write time), each part sent when
//! due — at once, or `--late-after` later — and some parts sent a second time. A part is
//! sent until the server acknowledges it (pauses growing to 2 s while the server is down or
//! pushes back); only acknowledged parts are expected back. At the end, the parts still
//! waiting are sent at once, for at most `--flush-timeout`; what is still unacknowledged
//! then is counted and never expected.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use arbor_model::time::now_unix_nanos;

use super::ledger::Ledger;
use super::metrics::Shared;
use super::traces::Plan;
use crate::generate::send::{Protocol, SendError, Sender};

/// A part waiting to be sent: when, which trace, which part, whether it is the resend.
type Due = Reverse<(Instant, u64, usize, bool)>;

pub struct Writer {
    pub plan: Plan,
    pub protocol: Protocol,
    pub endpoint: String,
    pub tenant: Option<String>,
    pub ledger: Arc<Ledger>,
    pub metrics: Shared,
}

impl Writer {
    /// Writes until `stop_at`, then flushes the waiting parts until `give_up_at`.
    pub async fn run(self, stop_at: Instant, give_up_at: Instant) {
        let Some(mut sender) = self.connect(give_up_at).await else {
            tracing::error!(endpoint = %self.endpoint, "vulture: could not connect; nothing written");
            return;
        };
        let mut queue: BinaryHeap<Due> = BinaryHeap::new();
        let mut last_slot = 0u64;
        loop {
            let now = Instant::now();
            if now >= stop_at {
                break;
            }
            let slot = self.plan.slot_of(now_unix_nanos());
            if slot > last_slot {
                last_slot = slot;
                self.start_trace(slot, now, &mut queue);
            }
            while let Some(Reverse((when, slot, part, resend))) = queue.peek().copied() {
                if when > Instant::now() {
                    break;
                }
                queue.pop();
                self.send_part(&mut sender, slot, part, resend, give_up_at)
                    .await;
            }
            let next_slot_in = self.until_next_slot();
            let next_due_in = queue
                .peek()
                .map(|Reverse((when, ..))| when.saturating_duration_since(Instant::now()))
                .unwrap_or(next_slot_in);
            tokio::time::sleep(next_slot_in.min(next_due_in).min(stop_at - now)).await;
        }
        // The late parts and resends still waiting go now: the run is over.
        while let Some(Reverse((_, slot, part, resend))) = queue.pop() {
            self.send_part(&mut sender, slot, part, resend, give_up_at)
                .await;
        }
    }

    fn until_next_slot(&self) -> Duration {
        let interval = self.plan.interval.as_nanos().max(1) as u64;
        let now = now_unix_nanos();
        Duration::from_nanos(interval - now % interval)
    }

    fn start_trace(&self, slot: u64, now: Instant, queue: &mut BinaryHeap<Due>) {
        let spec = self.plan.trace(slot);
        self.ledger.insert(slot, now);
        self.metrics.traces_written.fetch_add(1, Ordering::Relaxed);
        for (p, part) in spec.parts.iter().enumerate() {
            queue.push(Reverse((now + part.delay, slot, p, false)));
            if part.resend {
                queue.push(Reverse((
                    now + part.delay + self.plan.interval / 2,
                    slot,
                    p,
                    true,
                )));
            }
        }
    }

    async fn connect(&self, give_up_at: Instant) -> Option<Sender> {
        let mut pause = Duration::from_millis(100);
        loop {
            match Sender::connect(self.protocol, &self.endpoint, self.tenant.clone()).await {
                Ok(s) => return Some(s),
                Err(e) if Instant::now() < give_up_at => {
                    tracing::warn!(error = %format!("{e:#}"), "vulture: connecting; will retry");
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_secs(2));
                }
                Err(_) => return None,
            }
        }
    }

    /// Sends one part until acknowledged (or `give_up_at`).
    async fn send_part(
        &self,
        sender: &mut Sender,
        slot: u64,
        part: usize,
        resend: bool,
        give_up_at: Instant,
    ) {
        let spec = self.plan.trace(slot);
        let request = spec.request(part, self.plan.seed);
        let body = self.protocol.encode(&request);
        let spans = spec.parts[part].spans.len() as u64;
        let mut pause = Duration::from_millis(50);
        loop {
            match sender.send(body.clone()).await {
                Ok(rejected) => {
                    if rejected > 0 {
                        tracing::warn!(
                            trace = %spec.id_hex(), part, rejected,
                            "vulture: the server rejected spans of a part"
                        );
                    }
                    self.metrics.parts_sent.fetch_add(1, Ordering::Relaxed);
                    if resend {
                        self.metrics.parts_resent.fetch_add(1, Ordering::Relaxed);
                    }
                    if self.ledger.ack(slot, part) {
                        self.metrics
                            .spans_acknowledged
                            .fetch_add(spans, Ordering::Relaxed);
                    }
                    return;
                }
                Err(e) => {
                    if Instant::now() >= give_up_at {
                        self.metrics
                            .parts_unacknowledged
                            .fetch_add(1, Ordering::Relaxed);
                        tracing::warn!(
                            trace = %spec.id_hex(), part,
                            "vulture: part never acknowledged; not expected back"
                        );
                        return;
                    }
                    self.metrics.write_retries.fetch_add(1, Ordering::Relaxed);
                    let wait = match e {
                        SendError::Retry(Some(after)) => after,
                        SendError::Retry(None) => pause,
                        SendError::Failed(message) => {
                            tracing::warn!(
                                trace = %spec.id_hex(), part, error = %message,
                                "vulture: write failed; will retry"
                            );
                            pause
                        }
                    };
                    tokio::time::sleep(wait.min(give_up_at - Instant::now())).await;
                    pause = (pause * 2).min(Duration::from_secs(2));
                }
            }
        }
    }
}
