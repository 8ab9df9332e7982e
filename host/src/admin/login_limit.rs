//! [`LoginLimit`]: console login attempts (password or one-time link),
//! bounded three ways so that guessing stays slow and cheap however many
//! requests arrive at once:
//!
//! - per client address (an IPv6 one by its /64, see
//!   [`crate::http::rate`]): [`BURST`] failures at once, then one more
//!   every [`REFILL`];
//! - for everyone together: [`GLOBAL_BURST`] failures, then one per
//!   [`GLOBAL_REFILL`], so many addresses cannot guess in parallel;
//! - at most [`CONCURRENT_CHECKS`] password hashes verified at once
//!   (argon2 takes ~19 MiB and tens of milliseconds each).
//!
//! An attempt is charged before its password is looked at and refunded
//! when it succeeds ([`LoginLimit::attempt`]): checking first and charging
//! after a failure let every request of a concurrent burst pass the check
//! before any failure was charged.

use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::http::rate::{Bucket, ClientRate};

/// Failures allowed at once per client.
pub const BURST: u32 = 5;
/// One failure more allowed per client per this interval.
pub const REFILL: Duration = Duration::from_secs(12);
/// Failures allowed at once across all clients.
pub const GLOBAL_BURST: u32 = 100;
/// One failure more allowed across all clients per this interval.
pub const GLOBAL_REFILL: Duration = Duration::from_secs(2);
/// Password hashes verified at once.
pub const CONCURRENT_CHECKS: usize = 2;

pub struct LoginLimit {
    clients: ClientRate,
    global: Mutex<Bucket>,
    checks: Arc<Semaphore>,
}

impl Default for LoginLimit {
    fn default() -> Self {
        LoginLimit {
            clients: ClientRate::new(BURST, REFILL),
            global: Mutex::new(Bucket::full(GLOBAL_BURST, Instant::now())),
            checks: Arc::new(Semaphore::new(CONCURRENT_CHECKS)),
        }
    }
}

/// An attempt charged to a client and to the global budget; [`Self::succeeded`]
/// refunds both, [`Self::failed`] (or dropping it) keeps the charge.
pub struct Attempt<'a> {
    limit: &'a LoginLimit,
    client: IpAddr,
}

impl Attempt<'_> {
    /// Waits for a turn to verify a password hash; the turn lasts until
    /// the permit is dropped (with the blocking task that verifies, even
    /// if the request is dropped meanwhile).
    pub async fn check_turn(&self) -> OwnedSemaphorePermit {
        self.limit
            .checks
            .clone()
            .acquire_owned()
            .await
            .expect("the semaphore is never closed")
    }

    /// The attempt failed: the charge stays.
    pub fn failed(self) {}

    /// The attempt logged in: it costs nothing.
    pub fn succeeded(self) {
        let now = Instant::now();
        self.limit.clients.refund(self.client, now);
        self.limit
            .global
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .refund(GLOBAL_BURST, GLOBAL_REFILL, now);
    }
}

impl LoginLimit {
    /// Charges an attempt to `client`; `Err(wait)` (nothing charged) when
    /// it, or everyone together, has no failure left: how long until then.
    pub fn attempt(&self, client: IpAddr, now: Instant) -> Result<Attempt<'_>, Duration> {
        self.clients.take(client, now)?;
        let global = self.global.lock().unwrap_or_else(|p| p.into_inner()).take(
            GLOBAL_BURST,
            GLOBAL_REFILL,
            now,
        );
        if let Err(wait) = global {
            self.clients.refund(client, now);
            tracing::warn!("admin login refused: the global failed-login budget is spent");
            return Err(wait);
        }
        Ok(Attempt {
            limit: self,
            client,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_is_stopped_after_the_burst_and_a_success_costs_nothing() {
        let limit = LoginLimit::default();
        let (a, b): (IpAddr, IpAddr) = ("127.0.0.2".parse().unwrap(), "127.0.0.3".parse().unwrap());
        let t0 = Instant::now();
        limit.attempt(a, t0).unwrap().succeeded();
        for _ in 0..BURST {
            limit.attempt(a, t0).unwrap().failed();
        }
        let wait = limit.attempt(a, t0).err().unwrap();
        assert!(wait > Duration::ZERO && wait <= REFILL, "{wait:?}");
        // Another client is not affected.
        assert!(limit.attempt(b, t0).is_ok());
    }

    #[test]
    fn many_addresses_together_spend_the_global_budget() {
        let limit = LoginLimit::default();
        let t0 = Instant::now();
        let mut refused = 0;
        for i in 0..(GLOBAL_BURST + 20) {
            let ip = IpAddr::V4(std::net::Ipv4Addr::from(0x0a00_0000 + i));
            match limit.attempt(ip, t0) {
                Ok(a) => a.failed(),
                Err(_) => refused += 1,
            }
        }
        assert_eq!(refused, 20);
    }
}
