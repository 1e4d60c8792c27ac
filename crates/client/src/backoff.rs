//! When to try again, and how to call an outage: pure functions, so the policy is tested without waiting.
//!
//! socket.io-client's policy: 1 s initial delay, doubled per attempt, capped at 5 s, ±50 % jitter, unbounded
//! attempts, reset after a successful connect. The cap is what keeps a week-long outage from turning into a
//! tight loop (rust_socketio's own backoff stops sleeping after 15 minutes): the engine sleeps at least
//! `INITIAL / 2` between attempts, whatever happens.

use std::time::Duration;

use chrono::{DateTime, Utc};
use order_protocol::LinkState;

pub const INITIAL: Duration = Duration::from_secs(1);
pub const MAX: Duration = Duration::from_secs(5);
pub const FACTOR: u32 = 2;
pub const JITTER: f64 = 0.5;
/// How long an outage is shown as "Reconnecting" before it becomes "Offline" with its reason.
pub const RECONNECTING_FOR: Duration = Duration::from_secs(10);

/// The reconnection backoff.
#[derive(Clone, Debug, Default)]
pub struct Backoff {
    attempts: u32,
}

impl Backoff {
    pub fn new() -> Backoff {
        Backoff::default()
    }

    /// Attempts made since the last success.
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    pub fn reset(&mut self) {
        self.attempts = 0;
    }

    /// The delay before the next attempt, with `random` uniform in [0, 1) (socket.io-client's formula).
    pub fn next_delay_with(&mut self, random: f64) -> Duration {
        let base = INITIAL.as_millis() as f64 * f64::from(FACTOR).powi(self.attempts.min(16) as i32);
        self.attempts = self.attempts.saturating_add(1);
        let deviation = (random * JITTER * base).floor();
        let ms = if ((random * 10.0).floor() as u64) & 1 == 0 { base - deviation } else { base + deviation };
        let ms = ms.clamp(INITIAL.as_millis() as f64 * (1.0 - JITTER), MAX.as_millis() as f64);
        Duration::from_millis(ms as u64)
    }
}

/// The link state to show while reconnecting: "connecting" for the first [`RECONNECTING_FOR`] of an outage, then
/// "offline" with the reason, retries going on either way.
pub fn outage_state(
    attempt: u32,
    outage_for: Duration,
    reason: &str,
    next_retry_at: Option<DateTime<Utc>>,
) -> LinkState {
    if outage_for < RECONNECTING_FOR {
        LinkState::Connecting { attempt, next_retry_at, reason: Some(reason.to_owned()) }
    } else {
        LinkState::Offline { reason: reason.to_owned(), attempt, next_retry_at }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_from_one_second_and_caps_at_five() {
        let mut b = Backoff::new();
        // random 0.0: no deviation.
        let d: Vec<u64> = (0..6).map(|_| b.next_delay_with(0.0).as_millis() as u64).collect();
        assert_eq!(d, vec![1000, 2000, 4000, 5000, 5000, 5000]);
        b.reset();
        assert_eq!(b.next_delay_with(0.0), Duration::from_secs(1));
    }

    #[test]
    fn jitter_stays_within_half_and_never_below_half_a_second() {
        let mut b = Backoff::new();
        for i in 0..10_000u32 {
            let r = f64::from(i % 1000) / 1000.0;
            let d = b.next_delay_with(r);
            assert!(d >= Duration::from_millis(500) && d <= MAX, "{d:?}");
        }
        // Attempt 1 with the largest upward jitter: 1.5 s; downward: 0.5 s.
        assert_eq!(Backoff::new().next_delay_with(0.1999).as_millis(), 1000 + 99);
        assert_eq!(Backoff::new().next_delay_with(0.0999).as_millis(), 1000 - 49);
    }

    #[test]
    fn an_outage_is_reconnecting_then_offline() {
        assert_eq!(outage_state(2, Duration::from_secs(3), "x", None).name(), "connecting");
        assert_eq!(
            outage_state(5, Duration::from_secs(11), "server closed", None),
            LinkState::Offline { reason: "server closed".into(), attempt: 5, next_retry_at: None }
        );
    }
}
