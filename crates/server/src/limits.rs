//! Limits: login attempts per client address, backoff for failed logins of one account from one address,
//! orders per customer, connections per address, and Socket.IO events per socket.
//!
//! In memory on purpose: they protect this process, and a restart resetting them costs an attacker nothing
//! worth a table. Keyed rates are `governor`'s (GCRA); the login backoff and the connection counts are ours,
//! because they count failures and open connections, not requests.

use std::collections::{HashMap, HashSet};
use std::hash::Hash;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use governor::clock::Clock;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use socketioxide::socket::Sid;

/// Keys kept by a limiter beyond which the idle ones are swept.
const SWEEP_ABOVE: usize = 10_000;

/// At most `n` requests per minute per key, as a steady rate with a burst of `n`.
pub struct KeyedRate<K: Hash + Eq + Clone> {
    limiter: DefaultKeyedRateLimiter<K>,
}

impl<K: Hash + Eq + Clone> KeyedRate<K> {
    pub fn per_minute(n: u32) -> Self {
        let quota = Quota::per_minute(NonZeroU32::new(n.max(1)).expect("at least 1"));
        KeyedRate { limiter: RateLimiter::keyed(quota) }
    }

    /// Counts one request of `key`, or says how long until it may come.
    pub fn check(&self, key: &K) -> Result<(), Duration> {
        if self.limiter.len() > SWEEP_ABOVE {
            self.limiter.retain_recent();
        }
        // The limiter's own clock: a new one per refusal calibrates anew and keeps memory (about 1.4 KiB a
        // refusal, found by the abuse benchmark's login flood), and its instants are not the limiter's.
        self.limiter.check_key(key).map_err(|not_until| not_until.wait_time_from(self.limiter.clock().now()))
    }
}

/// Failed logins of one key (an account from one address): after `free` of them each try waits, 1 s after the
/// `free`-th failure, twice as long after each further one (at most `max`). One attempt per key at a time, so parallel
/// guesses cannot slip past the count.
pub struct Backoff {
    free: u32,
    max: Duration,
    keys: Mutex<HashMap<String, Failures>>,
}

#[derive(Default)]
struct Failures {
    count: u32,
    until: Option<Instant>,
    last: Option<Instant>,
    in_flight: bool,
}

/// Why an attempt may not start now, and how long to wait.
#[derive(Debug, PartialEq, Eq)]
pub struct Wait(pub Duration);

impl Backoff {
    pub fn new(free: u32, max: Duration) -> Self {
        Backoff { free, max, keys: Mutex::new(HashMap::new()) }
    }

    /// Starts an attempt of `key`; finish it with [`Backoff::finish`].
    pub fn begin(&self, key: &str) -> Result<(), Wait> {
        let now = Instant::now();
        let mut keys = self.keys.lock().expect("backoff lock");
        if keys.len() > SWEEP_ABOVE {
            let max = self.max;
            keys.retain(|_, f| f.in_flight || f.last.is_some_and(|t| now.duration_since(t) < max));
        }
        let f = keys.entry(key.to_owned()).or_default();
        if let Some(until) = f.until.filter(|u| *u > now) {
            return Err(Wait(until - now));
        }
        if f.in_flight {
            return Err(Wait(Duration::from_secs(1)));
        }
        f.in_flight = true;
        Ok(())
    }

    /// Ends the attempt of `key`: a success forgets its failures, a failure counts.
    pub fn finish(&self, key: &str, success: bool) {
        let now = Instant::now();
        let mut keys = self.keys.lock().expect("backoff lock");
        if success {
            keys.remove(key);
            return;
        }
        let f = keys.entry(key.to_owned()).or_default();
        f.in_flight = false;
        f.count += 1;
        f.last = Some(now);
        if f.count >= self.free {
            let doublings = (f.count - self.free).min(20);
            f.until = Some(now + Duration::from_secs(1u64 << doublings).min(self.max));
        }
    }
}

/// Open connections per client address, by socket id: adding a socket twice counts it once, so a count is
/// always the number of sockets that will each remove themselves when they close.
#[derive(Default)]
pub struct ConnectionCounts(Mutex<HashMap<IpAddr, HashSet<Sid>>>);

impl ConnectionCounts {
    /// Whether `addr` may open one more connection.
    pub fn has_room(&self, addr: IpAddr, max: u32) -> bool {
        self.0.lock().expect("counts lock").get(&addr).is_none_or(|s| s.len() < max as usize)
    }

    pub fn add(&self, addr: IpAddr, sid: Sid) {
        self.0.lock().expect("counts lock").entry(addr).or_default().insert(sid);
    }

    pub fn remove(&self, addr: IpAddr, sid: Sid) {
        let mut counts = self.0.lock().expect("counts lock");
        if let Some(sids) = counts.get_mut(&addr) {
            sids.remove(&sid);
            if sids.is_empty() {
                counts.remove(&addr);
            }
        }
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
    fn a_keyed_rate_refuses_past_its_burst_per_key() {
        let r = KeyedRate::per_minute(2);
        assert!(r.check(&"a").is_ok() && r.check(&"a").is_ok());
        let wait = r.check(&"a").expect_err("the third within a minute");
        assert!(wait > Duration::from_secs(20) && wait <= Duration::from_secs(30), "{wait:?}");
        assert!(r.check(&"b").is_ok(), "keys are independent");
    }

    #[test]
    fn failures_back_off_per_key_one_attempt_at_a_time() {
        let b = Backoff::new(2, Duration::from_secs(5));
        b.begin("k").unwrap();
        assert_eq!(b.begin("k"), Err(Wait(Duration::from_secs(1))), "one attempt in flight at a time");
        b.finish("k", false);
        b.begin("k").unwrap();
        b.finish("k", false);
        let Err(Wait(w)) = b.begin("k") else { panic!("the second failure makes the next wait") };
        assert!(w > Duration::from_millis(900) && w <= Duration::from_secs(1));
        assert!(b.begin("other").is_ok(), "another account or address is not held back");
        for _ in 0..10 {
            b.keys.lock().unwrap().get_mut("k").unwrap().until = None;
            b.begin("k").unwrap();
            b.finish("k", false);
        }
        let Err(Wait(w)) = b.begin("k") else { panic!("still waiting") };
        assert!(w <= Duration::from_secs(5), "capped at the maximum: {w:?}");
        b.keys.lock().unwrap().get_mut("k").unwrap().until = None;
        b.begin("k").unwrap();
        b.finish("k", true);
        assert!(b.begin("k").is_ok(), "a success forgets the failures");
    }

    #[test]
    fn connections_are_counted_per_address_once_per_socket() {
        let c = ConnectionCounts::default();
        let a: IpAddr = [10, 0, 0, 1].into();
        let (s1, s2) = (Sid::new(), Sid::new());
        c.add(a, s1);
        c.add(a, s1);
        assert!(c.has_room(a, 2), "one socket added twice is one");
        c.add(a, s2);
        assert!(!c.has_room(a, 2));
        assert!(c.has_room([10, 0, 0, 2].into(), 2), "addresses are independent");
        c.remove(a, s1);
        assert!(c.has_room(a, 2));
    }

    #[test]
    fn a_bucket_allows_a_burst_then_refuses() {
        let mut b = TokenBucket::new(1, 3);
        assert!((0..3).all(|_| b.try_take()));
        assert!(!b.try_take());
        assert_eq!(b.refused, 1);
    }
}
