//! A request body that must keep arriving: within `body_read_timeout` of the request's start,
//! plus one second for every `min_body_rate` bytes received. A client that sends a header
//! promising a megabyte and then nothing, or trickles a byte a second, gets an error
//! ([`TooSlow`]) instead of holding its connection, and the memory it reserved, for ever.

use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use tokio::time::{Instant, Sleep};

/// How fast a body must arrive.
#[derive(Debug, Clone, Copy)]
pub struct BodyPace {
    /// Time allowed before any byte counts (`limits.body_read_timeout`).
    pub grace: Duration,
    /// Bytes per second owed after the grace (`limits.min_body_rate`); 0 turns the pace off
    /// (the grace then bounds each wait between two chunks).
    pub min_rate: u64,
}

impl BodyPace {
    pub fn wrap<B>(self, inner: B) -> PacedBody<B> {
        let start = Instant::now();
        PacedBody {
            inner,
            pace: self,
            start,
            received: 0,
            sleep: Box::pin(tokio::time::sleep_until(start + self.grace)),
            done: false,
        }
    }

    /// When a body that has received `received` bytes since `start` must have sent more.
    fn deadline(&self, start: Instant, received: u64) -> Instant {
        if self.min_rate == 0 {
            return Instant::now() + self.grace;
        }
        let earned = Duration::from_secs_f64(received as f64 / self.min_rate as f64);
        start + self.grace + earned.min(Duration::from_secs(86_400))
    }
}

/// The error a body that fell behind ends with.
#[derive(Debug, thiserror::Error)]
#[error(
    "the request body arrived too slowly: {received} bytes in {elapsed_ms} ms (limits.body_read_timeout {grace_ms} ms, then limits.min_body_rate {min_rate} bytes/s)"
)]
pub struct TooSlow {
    pub received: u64,
    pub elapsed_ms: u64,
    pub grace_ms: u64,
    pub min_rate: u64,
}

pin_project_lite::pin_project! {
    pub struct PacedBody<B> {
        #[pin]
        inner: B,
        pace: BodyPace,
        start: Instant,
        received: u64,
        sleep: Pin<Box<Sleep>>,
        done: bool,
    }
}

impl<B> Body for PacedBody<B>
where
    B: Body<Data = Bytes>,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.project();
        if *this.done {
            return this.inner.poll_frame(cx).map_err(Into::into);
        }
        match this.inner.poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    *this.received += data.len() as u64;
                    let next = this.pace.deadline(*this.start, *this.received);
                    this.sleep.as_mut().reset(next);
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(None) => {
                *this.done = true;
                Poll::Ready(None)
            }
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(e.into()))),
            Poll::Pending => {
                ready!(this.sleep.as_mut().poll(cx));
                *this.done = true;
                Poll::Ready(Some(Err(Box::new(TooSlow {
                    received: *this.received,
                    elapsed_ms: this.start.elapsed().as_millis() as u64,
                    grace_ms: this.pace.grace.as_millis() as u64,
                    min_rate: this.pace.min_rate,
                }))))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::{BodyExt, StreamBody};

    fn pace(grace_ms: u64, rate: u64) -> BodyPace {
        BodyPace {
            grace: Duration::from_millis(grace_ms),
            min_rate: rate,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_body_that_never_comes_ends_in_an_error_after_the_grace() {
        let (_tx, rx) = tokio::sync::mpsc::channel::<Result<Frame<Bytes>, std::io::Error>>(1);
        let body = StreamBody::new(tokio_stream::wrappers::ReceiverStream::new(rx));
        let err = pace(10_000, 1024).wrap(body).collect().await.unwrap_err();
        let slow = err.downcast_ref::<TooSlow>().expect("TooSlow");
        assert_eq!(slow.received, 0);
        assert!(slow.elapsed_ms >= 10_000, "{}", slow.elapsed_ms);
        assert!(err.to_string().contains("limits.min_body_rate"), "{err}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_trickle_falls_behind_and_a_steady_body_does_not() {
        // 1 KiB/s owed after 2 s; a trickle of 100 B/s falls behind, 2 KiB/s does not.
        for (chunk, ok) in [(100usize, false), (2048, true)] {
            let (tx, rx) = tokio::sync::mpsc::channel::<Result<Frame<Bytes>, std::io::Error>>(1);
            tokio::spawn(async move {
                for _ in 0..20 {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    let frame = Frame::data(Bytes::from(vec![b'x'; chunk]));
                    if tx.send(Ok(frame)).await.is_err() {
                        return;
                    }
                }
            });
            let body = StreamBody::new(tokio_stream::wrappers::ReceiverStream::new(rx));
            let got = pace(2_000, 1024).wrap(body).collect().await;
            assert_eq!(got.is_ok(), ok, "chunks of {chunk} B a second");
        }
    }
}
