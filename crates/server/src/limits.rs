//! Rate limits: login attempts (per client address and per account) and Socket.IO events per socket.
//!
//! In memory on purpose: they protect this process, and a restart resetting them costs an attacker nothing
//! worth a table. Windows are fixed and small, so the maps stay small and are swept as they are used.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A fixed-window counter per key: at most `limit` hits per `window`.
pub struct WindowLimiter {
    limit: u32,
    window: Duration,
    hits: Mutex<HashMap<String, (Instant, u32)>>,
}

impl WindowLimiter {
    pub fn new(limit: u32, window: Duration) -> Self {
        WindowLimiter { limit, window, hits: Mutex::new(HashMap::new()) }
    }

    /// How long until `key` may try again, if it is over the limit now (does not count a hit).
    pub fn blocked_for(&self, key: &str) -> Option<Duration> {
        let now = Instant::now();
        let hits = self.hits.lock().expect("limiter lock");
        match hits.get(key) {
            Some((start, n)) if *n >= self.limit && now < *start + self.window => Some(*start + self.window - now),
            _ => None,
        }
    }

    /// Counts one hit for `key`.
    pub fn hit(&self, key: &str) {
        let now = Instant::now();
        let mut hits = self.hits.lock().expect("limiter lock");
        if hits.len() > 10_000 {
            let window = self.window;
            hits.retain(|_, (start, _)| now < *start + window);
        }
        let entry = hits.entry(key.to_owned()).or_insert((now, 0));
        if now >= entry.0 + self.window {
            *entry = (now, 0);
        }
        entry.1 += 1;
    }

    /// Forgets `key` (a successful login clears its failures).
    pub fn clear(&self, key: &str) {
        self.hits.lock().expect("limiter lock").remove(key);
    }
}

/// A token bucket for one socket's incoming events: `rate` per second, bursts up to `burst`.
#[derive(Debug)]
pub struct TokenBucket {
    rate: f64,
    burst: f64,
    tokens: f64,
    last: Instant,
    /// Events refused so far; the socket is dropped when this grows too large.
    pub refused: u32,
}

impl TokenBucket {
    pub fn new(rate: u32, burst: u32) -> Self {
        TokenBucket {
            rate: f64::from(rate),
            burst: f64::from(burst),
            tokens: f64::from(burst),
            last: Instant::now(),
            refused: 0,
        }
    }

    /// Takes a token if there is one.
    pub fn try_take(&mut self) -> bool {
        let now = Instant::now();
        self.tokens = (self.tokens + now.duration_since(self.last).as_secs_f64() * self.rate).min(self.burst);
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            self.refused += 1;
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_window_blocks_after_the_limit_and_clears() {
        let l = WindowLimiter::new(2, Duration::from_secs(60));
        l.hit("a");
        assert!(l.blocked_for("a").is_none());
        l.hit("a");
        let wait = l.blocked_for("a").expect("blocked after two hits");
        assert!(wait > Duration::from_secs(50) && wait <= Duration::from_secs(60));
        assert!(l.blocked_for("b").is_none(), "keys are independent");
        l.clear("a");
        assert!(l.blocked_for("a").is_none());
    }

    #[test]
    fn a_bucket_allows_a_burst_then_refuses() {
        let mut b = TokenBucket::new(1, 3);
        assert!((0..3).all(|_| b.try_take()));
        assert!(!b.try_take());
        assert_eq!(b.refused, 1);
    }
}
