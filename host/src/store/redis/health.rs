//! [`Health`]: whether Redis answers. The first failure after answers is
//! logged (once), and so is the first answer after failures; while it is
//! down, calls fail at once except one probe every [`PROBE_EVERY`], so a
//! dead or unreachable Redis costs a push nothing but the fallback, and the
//! probe notices its return. Only the probe's answer ends an outage: an
//! answer to a call sent before the failure (pipelined calls complete out of
//! order when the connection drops) says nothing about Redis now.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// How often a call is let through to a Redis known to be down.
pub const PROBE_EVERY: Duration = Duration::from_millis(200);

/// How a call was let through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Call {
    /// Redis was answering when it was sent.
    Normal,
    /// Sent to a Redis known to be down, to see whether it is back.
    Probe,
}

pub struct Health {
    down: AtomicBool,
    /// While down: when the next probe may go (ms since `epoch`).
    next_probe_ms: AtomicU64,
    epoch: Instant,
    /// The redacted URL, for the log lines.
    url: String,
}

impl Health {
    pub fn new(url: String) -> Health {
        Health {
            down: AtomicBool::new(false),
            next_probe_ms: AtomicU64::new(0),
            epoch: Instant::now(),
            url,
        }
    }

    fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    /// Whether a call may go to Redis now: always while it answers
    /// (`Some(Call::Normal)`); while down, one caller per [`PROBE_EVERY`]
    /// (`Some(Call::Probe)`).
    pub fn admit(&self) -> Option<Call> {
        if !self.down.load(Ordering::Relaxed) {
            return Some(Call::Normal);
        }
        let now = self.now_ms();
        let due = self.next_probe_ms.load(Ordering::Relaxed);
        let probe = now >= due
            && self
                .next_probe_ms
                .compare_exchange(
                    due,
                    now + PROBE_EVERY.as_millis() as u64,
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                )
                .is_ok();
        probe.then_some(Call::Probe)
    }

    /// Redis answered `call`.
    pub fn answered(&self, call: Call) {
        if call == Call::Probe && self.down.swap(false, Ordering::Relaxed) {
            tracing::info!(
                redis = %self.url,
                "redis answers again: shared state and cross-instance de-duplication are back"
            );
        }
    }

    pub fn failed(&self, error: &str) {
        self.next_probe_ms.store(
            self.now_ms() + PROBE_EVERY.as_millis() as u64,
            Ordering::Relaxed,
        );
        if !self.down.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                redis = %self.url,
                error,
                "redis unreachable: pushes are still answered (de-duplicated in this process only), \
                 plugin kv calls and API commands fail until it is back"
            );
        }
    }

    #[cfg(test)]
    pub fn is_down(&self) -> bool {
        self.down.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn while_down_one_probe_goes_per_interval_and_an_answer_restores_all() {
        let h = Health::new("redis://h/0".into());
        assert_eq!(h.admit(), Some(Call::Normal));
        h.failed("boom");
        assert!(h.is_down());
        assert_eq!(h.admit(), None, "no call right after a failure");
        // A call sent before the failure, answered late, ends nothing.
        h.answered(Call::Normal);
        assert!(h.is_down());
        std::thread::sleep(PROBE_EVERY + Duration::from_millis(20));
        assert_eq!(h.admit(), Some(Call::Probe), "the probe");
        assert_eq!(h.admit(), None, "only one probe");
        h.answered(Call::Probe);
        assert!(!h.is_down());
        assert_eq!(h.admit(), Some(Call::Normal));
    }
}
