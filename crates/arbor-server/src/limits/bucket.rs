//! A token bucket: `rate` tokens a second, up to `burst` held. A request takes all the
//! tokens it needs or none (a refused request is refused whole), and a refusal says how long
//! until enough have come back. Time comes from the caller, so tests drive the clock.

use std::time::Duration;

/// Tokens of a rate, refilled continuously.
#[derive(Debug, Clone)]
pub struct Bucket {
    rate: u64,
    burst: u64,
    /// Tokens held, as of `at`.
    tokens: f64,
    at: Duration,
}

/// A take refused: how long until the tokens needed have come back.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Wait(pub Duration);

impl Bucket {
    /// A full bucket at time `now` (any monotonic origin).
    pub fn new(rate: u64, burst: u64, now: Duration) -> Self {
        Self {
            rate,
            burst,
            tokens: burst as f64,
            at: now,
        }
    }

    pub fn rate(&self) -> u64 {
        self.rate
    }

    pub fn burst(&self) -> u64 {
        self.burst
    }

    /// Takes on a new rate and burst (the overrides changed), keeping what it holds up to
    /// the new burst.
    pub fn reconfigure(&mut self, rate: u64, burst: u64, now: Duration) {
        self.refill(now);
        self.rate = rate;
        self.burst = burst;
        self.tokens = self.tokens.min(burst as f64);
    }

    fn refill(&mut self, now: Duration) {
        if now > self.at {
            let gained = (now - self.at).as_secs_f64() * self.rate as f64;
            self.tokens = (self.tokens + gained).min(self.burst as f64);
            self.at = now;
        }
    }

    /// Takes `n` tokens at `now`, or none and says how long to wait. More than `burst` is
    /// never taken: the wait is then `None` (it would never pass).
    pub fn take(&mut self, n: u64, now: Duration) -> Result<(), Option<Wait>> {
        self.refill(now);
        if n > self.burst {
            return Err(None);
        }
        if self.tokens >= n as f64 {
            self.tokens -= n as f64;
            return Ok(());
        }
        let missing = n as f64 - self.tokens;
        let secs = if self.rate == 0 {
            f64::INFINITY
        } else {
            missing / self.rate as f64
        };
        Err(Some(Wait(Duration::from_secs_f64(
            secs.min(crate::units::HumanDuration::MAX.as_secs_f64()),
        ))))
    }

    /// Tokens held at `now`.
    pub fn available(&mut self, now: Duration) -> u64 {
        self.refill(now);
        self.tokens as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    #[test]
    fn takes_the_burst_then_waits_for_the_rate() {
        let mut b = Bucket::new(100, 300, Duration::ZERO);
        b.take(300, Duration::ZERO).unwrap();
        let Err(Some(Wait(w))) = b.take(50, Duration::ZERO) else {
            panic!("an empty bucket refuses")
        };
        assert_eq!(w, Duration::from_millis(500), "50 tokens at 100/s");
        // Half a second later, exactly enough.
        b.take(50, Duration::from_millis(500)).unwrap();
        assert!(b.take(1, Duration::from_millis(500)).is_err());
        // Refills no further than the burst.
        assert_eq!(b.available(100 * S), 300);
    }

    #[test]
    fn a_refused_take_takes_nothing() {
        let mut b = Bucket::new(10, 100, Duration::ZERO);
        b.take(60, Duration::ZERO).unwrap();
        assert!(b.take(60, Duration::ZERO).is_err());
        assert_eq!(
            b.available(Duration::ZERO),
            40,
            "the refused take left the tokens"
        );
        b.take(40, Duration::ZERO).unwrap();
    }

    #[test]
    fn more_than_the_burst_never_passes() {
        let mut b = Bucket::new(1, 5, Duration::ZERO);
        assert_eq!(b.take(6, 1000 * S), Err(None));
        assert_eq!(b.available(1000 * S), 5);
    }

    #[test]
    fn a_clock_going_back_changes_nothing() {
        let mut b = Bucket::new(10, 10, 10 * S);
        b.take(10, 10 * S).unwrap();
        assert!(b.take(1, 5 * S).is_err());
        b.take(10, 11 * S).unwrap();
    }

    #[test]
    fn reconfigure_keeps_at_most_the_new_burst() {
        let mut b = Bucket::new(100, 1000, Duration::ZERO);
        b.reconfigure(1, 10, Duration::ZERO);
        assert_eq!(b.available(Duration::ZERO), 10);
        assert_eq!((b.rate(), b.burst()), (1, 10));
        let Err(Some(Wait(w))) = b.take(10, S).and_then(|_| b.take(5, S)) else {
            panic!("refused")
        };
        assert_eq!(w, 5 * S);
    }
}
