//! [`Deadlines`]: the two instants one push is held to, computed once when
//! it arrives, on one clock (`std::time::Instant`).

use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deadlines {
    /// The passive reply is decided by then (arrival + budget): a plugin
    /// answer if one is ready, else `success`.
    pub reply: Instant,
    /// No plugin call starts after, or runs past, this instant. Without late
    /// replies it is `reply`; with them it is later, so slow plugins can
    /// still finish (each within its own limit) and be sent as a
    /// customer-service message.
    pub work: Instant,
}

impl Deadlines {
    pub fn new(arrived: Instant, budget: Duration, late_window: Option<Duration>) -> Deadlines {
        let reply = arrived + budget;
        Deadlines {
            reply,
            work: late_window.map_or(reply, |w| (arrived + w).max(reply)),
        }
    }

    /// Plugins of a push held for WeChat's retries (`super::hold`) may run
    /// until `until` (at least the last delivery's budget), late replies or
    /// not.
    pub fn held_until(self, until: Instant) -> Deadlines {
        Deadlines {
            work: self.work.max(until),
            ..self
        }
    }

    /// Whether plugins may run past the reply deadline.
    pub fn allows_late(&self) -> bool {
        self.work > self.reply
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn work_ends_at_the_reply_unless_late_replies_extend_it() {
        let t = Instant::now();
        let d = Deadlines::new(t, Duration::from_millis(4500), None);
        assert_eq!(
            (d.reply, d.work),
            (t + Duration::from_millis(4500), d.reply)
        );
        assert!(!d.allows_late());
        let d = Deadlines::new(
            t,
            Duration::from_millis(4500),
            Some(Duration::from_secs(60)),
        );
        assert_eq!(d.work, t + Duration::from_secs(60));
        assert!(d.allows_late());
    }
}
