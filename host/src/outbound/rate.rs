//! Token buckets per (account, API), as GCRA ("virtual scheduling"): each
//! send reserves the next free slot, `1/rate` after the previous one, so
//! sends are spaced evenly and no burst ever exceeds one second's worth.
//!
//! The burst allowance is one slot, not `rate` slots: a full bucket of
//! `rate` tokens plus a second of refill would let `2 × rate` through in
//! one second, which is exactly what "never above the configured rate"
//! forbids. A new bucket (a restart) starts with that one slot too, so a
//! process that crashed right after a second at full rate cannot be
//! followed by another full second at once.
//!
//! A slot further off than `max_wait` is not taken: the caller puts the job
//! back for then instead of holding a worker slot (and starving other
//! accounts) while it waits.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A reservation: send at `at` (now or later).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Slot {
    /// Yours: wait until then, then send.
    Granted(Instant),
    /// The next free slot is too far off; try again at about then.
    Busy(Instant),
}

/// The buckets of one process.
pub struct RateLimiter {
    max_wait: Duration,
    /// Per (account, API): the earliest instant the next send may happen.
    next: Mutex<HashMap<(String, &'static str), Instant>>,
}

impl RateLimiter {
    pub fn new(max_wait: Duration) -> RateLimiter {
        RateLimiter {
            max_wait,
            next: Mutex::new(HashMap::new()),
        }
    }

    /// Reserves a slot for one send of `api` for `account` at `rate` per
    /// second (`None`: unlimited).
    pub fn reserve(&self, account: &str, api: &'static str, rate: Option<f64>) -> Slot {
        self.reserve_at(account, api, rate, Instant::now())
    }

    fn reserve_at(
        &self,
        account: &str,
        api: &'static str,
        rate: Option<f64>,
        now: Instant,
    ) -> Slot {
        let Some(rate) = rate.filter(|r| r.is_finite() && *r > 0.0) else {
            return Slot::Granted(now);
        };
        let interval = Duration::from_secs_f64(1.0 / rate);
        let mut next = self.next.lock().unwrap_or_else(|p| p.into_inner());
        let slot = next
            .get(&(account.to_owned(), api))
            .copied()
            .unwrap_or(now)
            .max(now);
        if slot > now + self.max_wait {
            return Slot::Busy(slot);
        }
        next.insert((account.to_owned(), api), slot + interval);
        Slot::Granted(slot)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const API: &str = "/cgi-bin/message/template/send";

    #[test]
    fn sends_are_spaced_and_a_second_holds_at_most_rate() {
        let limiter = RateLimiter::new(Duration::from_secs(10));
        let t0 = Instant::now();
        let slots: Vec<Instant> = (0..25)
            .map(|_| match limiter.reserve_at("a", API, Some(10.0), t0) {
                Slot::Granted(at) => at,
                Slot::Busy(_) => panic!("within max_wait"),
            })
            .collect();
        // The first goes at once: one slot of burst, no more.
        assert_eq!(slots[0], t0);
        for w in slots.windows(2) {
            assert_eq!(w[1] - w[0], Duration::from_millis(100));
        }
        // Any one-second window [t, t + 1 s) holds at most `rate` sends.
        for start in &slots {
            let n = slots
                .iter()
                .filter(|s| **s >= *start && **s < *start + Duration::from_secs(1))
                .count();
            assert!(n <= 10, "{n}");
        }
    }

    #[test]
    fn an_idle_bucket_does_not_save_up_a_burst() {
        let limiter = RateLimiter::new(Duration::from_secs(10));
        let t0 = Instant::now();
        limiter.reserve_at("a", API, Some(2.0), t0);
        // An hour idle: the next two sends are still 500 ms apart.
        let later = t0 + Duration::from_secs(3600);
        let a = limiter.reserve_at("a", API, Some(2.0), later);
        let b = limiter.reserve_at("a", API, Some(2.0), later);
        assert_eq!(a, Slot::Granted(later));
        assert_eq!(b, Slot::Granted(later + Duration::from_millis(500)));
    }

    #[test]
    fn buckets_are_per_account_and_api_and_far_slots_are_refused() {
        let limiter = RateLimiter::new(Duration::from_secs(1));
        let t0 = Instant::now();
        assert_eq!(
            limiter.reserve_at("a", API, Some(1.0), t0),
            Slot::Granted(t0)
        );
        assert_eq!(
            limiter.reserve_at("b", API, Some(1.0), t0),
            Slot::Granted(t0)
        );
        assert_eq!(
            limiter.reserve_at("a", "/other", Some(1.0), t0),
            Slot::Granted(t0)
        );
        assert_eq!(
            limiter.reserve_at("a", API, Some(1.0), t0),
            Slot::Granted(t0 + Duration::from_secs(1))
        );
        // The next would be 2 s off, beyond max_wait: not taken.
        assert_eq!(
            limiter.reserve_at("a", API, Some(1.0), t0),
            Slot::Busy(t0 + Duration::from_secs(2))
        );
        assert_eq!(limiter.reserve_at("a", API, None, t0), Slot::Granted(t0));
    }
}
