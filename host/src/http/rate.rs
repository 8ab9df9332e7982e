//! [`ClientRate`]: a request rate per client address, as token buckets —
//! `burst` at once, then one more every `refill` — for the public routes an
//! anonymous client could otherwise use to make the host work (the OAuth
//! callback's code exchanges, plugin pages) and for the console's login.
//!
//! A client is its address, an IPv6 one by its /64 ([`client_key`]): a
//! single host usually gets a whole /64, so keying by the full address
//! would give it 2^64 buckets.
//!
//! [`ClientRate::take`] charges before the work (so concurrent requests
//! cannot all pass a check and then charge), and [`ClientRate::refund`]
//! gives the token back when the work turned out to be free (a correct
//! console login). A small type of its own rather than `governor`:
//! governor cannot refund, and its keyed map grows until swept. The map is
//! bounded ([`MAX_CLIENTS`]): when full, clients whose buckets have
//! refilled are forgotten first, and failing that the one that has waited
//! longest.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;

/// Client addresses remembered per limit.
pub const MAX_CLIENTS: usize = 10_000;

/// The key a client is limited by: an IPv4 address (IPv4-mapped IPv6 as
/// IPv4), or an IPv6 address's /64.
pub fn client_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let bits = u128::from(v6) & !((1u128 << 64) - 1);
                IpAddr::V6(Ipv6Addr::from(bits))
            }
        },
    }
}

/// The client's address, as the accept loop ([`super::conn`]) records it
/// (unspecified when not served by it, as in router tests).
pub fn client_ip(parts: &Parts) -> IpAddr {
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
        .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED))
}

/// The client's address as an extractor (see [`client_ip`]).
pub struct ClientIp(pub IpAddr);

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(ClientIp(client_ip(parts)))
    }
}

/// One bucket: `burst` tokens at most, one more per `refill`.
#[derive(Debug, Clone, Copy)]
pub struct Bucket {
    /// Tokens as of `at`.
    tokens: f64,
    at: Instant,
}

impl Bucket {
    pub fn full(burst: u32, now: Instant) -> Bucket {
        Bucket {
            tokens: f64::from(burst),
            at: now,
        }
    }

    fn level(&self, burst: u32, refill: Duration, now: Instant) -> f64 {
        let refilled = now.saturating_duration_since(self.at).as_secs_f64() / refill.as_secs_f64();
        (self.tokens + refilled).min(f64::from(burst))
    }

    /// Takes a token; `Err(wait)` (nothing taken) when there is none: how
    /// long until there is.
    pub fn take(&mut self, burst: u32, refill: Duration, now: Instant) -> Result<(), Duration> {
        let level = self.level(burst, refill, now);
        if level < 1.0 {
            return Err(refill.mul_f64(1.0 - level));
        }
        self.tokens = level - 1.0;
        self.at = now;
        Ok(())
    }

    /// Gives a token back.
    pub fn refund(&mut self, burst: u32, refill: Duration, now: Instant) {
        self.tokens = (self.level(burst, refill, now) + 1.0).min(f64::from(burst));
        self.at = now;
    }
}

/// Per-client token buckets (see the module docs).
pub struct ClientRate {
    burst: u32,
    refill: Duration,
    clients: Mutex<HashMap<IpAddr, Bucket>>,
}

impl ClientRate {
    /// `burst` at once, then one per `refill` (not zero).
    pub fn new(burst: u32, refill: Duration) -> ClientRate {
        ClientRate {
            burst: burst.max(1),
            refill: refill.max(Duration::from_micros(1)),
            clients: Mutex::new(HashMap::new()),
        }
    }

    /// At most `per_second` a second, `burst` at once.
    pub fn per_second(per_second: u32, burst: u32) -> ClientRate {
        ClientRate::new(burst, Duration::from_secs(1) / per_second.max(1))
    }

    /// Charges one request to `client`; `Err(wait)` (nothing charged) when
    /// it has none left: how long until it has.
    pub fn take(&self, client: IpAddr, now: Instant) -> Result<(), Duration> {
        let key = client_key(client);
        let mut clients = self.clients.lock().unwrap_or_else(|p| p.into_inner());
        if clients.len() >= MAX_CLIENTS && !clients.contains_key(&key) {
            let (burst, refill) = (self.burst, self.refill);
            clients.retain(|_, b| b.level(burst, refill, now) < f64::from(burst));
            if clients.len() >= MAX_CLIENTS
                && let Some(oldest) = clients.iter().min_by_key(|(_, b)| b.at).map(|(k, _)| *k)
            {
                clients.remove(&oldest);
            }
        }
        clients
            .entry(key)
            .or_insert(Bucket::full(self.burst, now))
            .take(self.burst, self.refill, now)
    }

    /// Gives back a request charged to `client`.
    pub fn refund(&self, client: IpAddr, now: Instant) {
        let key = client_key(client);
        let mut clients = self.clients.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(b) = clients.get_mut(&key) {
            b.refund(self.burst, self.refill, now);
        }
    }

    /// `Err(wait)` when `client` has nothing left, charging nothing.
    pub fn check(&self, client: IpAddr, now: Instant) -> Result<(), Duration> {
        let key = client_key(client);
        let clients = self.clients.lock().unwrap_or_else(|p| p.into_inner());
        match clients.get(&key) {
            Some(b) => {
                let level = b.level(self.burst, self.refill, now);
                if level < 1.0 {
                    Err(self.refill.mul_f64(1.0 - level))
                } else {
                    Ok(())
                }
            }
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn a_client_gets_its_burst_then_one_per_refill_and_a_refund_gives_one_back() {
        let rate = ClientRate::new(3, Duration::from_secs(10));
        let t0 = Instant::now();
        for _ in 0..3 {
            assert!(rate.take(ip("10.0.0.1"), t0).is_ok());
        }
        let wait = rate.take(ip("10.0.0.1"), t0).unwrap_err();
        assert!(wait > Duration::ZERO && wait <= Duration::from_secs(10));
        assert!(rate.check(ip("10.0.0.1"), t0).is_err());
        // Another client is not affected.
        assert!(rate.take(ip("10.0.0.2"), t0).is_ok());
        rate.refund(ip("10.0.0.1"), t0);
        assert!(rate.take(ip("10.0.0.1"), t0).is_ok());
        assert!(rate.take(ip("10.0.0.1"), t0).is_err());
        let later = t0 + Duration::from_secs(10);
        assert!(rate.take(ip("10.0.0.1"), later).is_ok());
        assert!(rate.take(ip("10.0.0.1"), later).is_err());
    }

    #[test]
    fn an_ipv6_client_is_its_64_and_a_mapped_ipv4_is_the_ipv4() {
        let rate = ClientRate::new(2, Duration::from_secs(60));
        let t0 = Instant::now();
        assert!(rate.take(ip("2001:db8:1:2::1"), t0).is_ok());
        assert!(rate.take(ip("2001:db8:1:2:ffff::9"), t0).is_ok());
        assert!(rate.take(ip("2001:db8:1:2:abcd::1"), t0).is_err());
        assert!(rate.take(ip("2001:db8:1:3::1"), t0).is_ok());
        assert_eq!(client_key(ip("::ffff:10.1.2.3")), ip("10.1.2.3"));
    }

    #[test]
    fn the_map_stays_bounded() {
        let rate = ClientRate::new(1, Duration::from_secs(3600));
        let t0 = Instant::now();
        for i in 0..(MAX_CLIENTS as u32 + 50) {
            let _ = rate.take(IpAddr::V4(i.into()), t0);
        }
        assert!(rate.clients.lock().unwrap().len() <= MAX_CLIENTS);
    }
}
