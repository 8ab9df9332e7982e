//! [`LoginLimit`]: failed console logins, rate-limited per client address
//! with a token bucket: [`BURST`] failures at once, then one more every
//! [`REFILL`]. Only failures take tokens, and a client out of tokens gets
//! 429 before its password is even checked, so guessing is capped at one
//! try per [`REFILL`] per address.
//!
//! A small type of its own rather than `governor`: governor's keyed limiter
//! charges on every check, while here a correct login must never be
//! charged and an exhausted client must be told so without being charged.
//! The map is bounded ([`MAX_CLIENTS`]): when full, clients whose buckets
//! have refilled are forgotten first, and failing that the one that has
//! waited longest.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Failures allowed at once.
pub const BURST: u32 = 5;
/// One failure more allowed per this interval.
pub const REFILL: Duration = Duration::from_secs(12);
/// Client addresses remembered.
const MAX_CLIENTS: usize = 10_000;

#[derive(Debug, Clone, Copy)]
struct Bucket {
    /// Tokens as of `at`.
    tokens: f64,
    at: Instant,
}

impl Bucket {
    fn now(self, now: Instant) -> f64 {
        let refilled = now.saturating_duration_since(self.at).as_secs_f64() / REFILL.as_secs_f64();
        (self.tokens + refilled).min(f64::from(BURST))
    }
}

#[derive(Default)]
pub struct LoginLimit {
    clients: Mutex<HashMap<IpAddr, Bucket>>,
}

impl LoginLimit {
    /// `Err(wait)` when `client` has no failure left: how long until it has.
    pub fn check(&self, client: IpAddr, now: Instant) -> Result<(), Duration> {
        let clients = self.clients.lock().unwrap_or_else(|p| p.into_inner());
        match clients.get(&client) {
            Some(b) if b.now(now) < 1.0 => {
                let missing = 1.0 - b.now(now);
                Err(REFILL.mul_f64(missing))
            }
            _ => Ok(()),
        }
    }

    /// Charges one failed login to `client`.
    pub fn failed(&self, client: IpAddr, now: Instant) {
        let mut clients = self.clients.lock().unwrap_or_else(|p| p.into_inner());
        if clients.len() >= MAX_CLIENTS && !clients.contains_key(&client) {
            clients.retain(|_, b| b.now(now) < f64::from(BURST));
            if clients.len() >= MAX_CLIENTS
                && let Some(oldest) = clients.iter().min_by_key(|(_, b)| b.at).map(|(k, _)| *k)
            {
                clients.remove(&oldest);
            }
        }
        let b = clients.entry(client).or_insert(Bucket {
            tokens: f64::from(BURST),
            at: now,
        });
        b.tokens = (b.now(now) - 1.0).max(0.0);
        b.at = now;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_is_stopped_after_the_burst_and_let_in_again_after_the_refill() {
        let limit = LoginLimit::default();
        let (a, b): (IpAddr, IpAddr) = ("127.0.0.2".parse().unwrap(), "127.0.0.3".parse().unwrap());
        let t0 = Instant::now();
        for _ in 0..BURST {
            assert!(limit.check(a, t0).is_ok());
            limit.failed(a, t0);
        }
        let wait = limit.check(a, t0).unwrap_err();
        assert!(wait > Duration::ZERO && wait <= REFILL, "{wait:?}");
        // Another client is not affected.
        assert!(limit.check(b, t0).is_ok());
        // One refill later, one more try.
        assert!(limit.check(a, t0 + REFILL).is_ok());
        limit.failed(a, t0 + REFILL);
        assert!(limit.check(a, t0 + REFILL).is_err());
    }
}
