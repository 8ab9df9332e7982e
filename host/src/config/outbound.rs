//! `[outbound]`: the outbound message queue (`crate::outbound`): how fast
//! each (account, API) may send, how patiently failures are retried, how
//! many sends run at once.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::{ConfigError, invalid};

/// The channels a per-channel rate may name.
pub const CHANNELS: [&str; 4] = ["template", "subscribe", "customer", "mass"];

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OutboundConfig {
    /// Drain the queue in `serve` (jobs are accepted either way).
    pub enabled: bool,
    /// Sends per second per (account, API); 0 = unlimited (benchmarks).
    /// The default stays well inside WeChat's per-minute limits.
    pub rate_per_sec: f64,
    /// Per-channel overrides of `rate_per_sec` (`template`, `subscribe`,
    /// `customer`, `mass`).
    pub channel_rate_per_sec: BTreeMap<String, f64>,
    /// Sends in flight at once (all accounts).
    pub concurrency: usize,
    /// How long a sender owns a leased job before another may take it
    /// (covers the call's timeout and its rate wait).
    pub lease_secs: u64,
    /// A job's default deadline: retries stop this long after queueing.
    pub deadline_secs: u64,
    /// First retry's pause; doubles per retry up to `retry_max_ms`.
    pub retry_base_ms: u64,
    pub retry_max_ms: u64,
    /// How often an idle worker looks for due jobs (retries, other
    /// processes' jobs); a job queued in this process wakes it at once.
    pub poll_ms: u64,
    /// WeChat's customer-service window after a user's last push.
    pub customer_window_secs: u64,
}

impl Default for OutboundConfig {
    fn default() -> Self {
        let mut channel_rate_per_sec = BTreeMap::new();
        // WeChat: mass API calls are limited to 60 a minute.
        channel_rate_per_sec.insert("mass".to_owned(), 1.0);
        OutboundConfig {
            enabled: true,
            rate_per_sec: 20.0,
            channel_rate_per_sec,
            concurrency: 16,
            lease_secs: 60,
            deadline_secs: 24 * 3600,
            retry_base_ms: 1000,
            retry_max_ms: 60_000,
            poll_ms: 250,
            customer_window_secs: 48 * 3600,
        }
    }
}

impl OutboundConfig {
    /// The rate for `channel`, `None` when unlimited.
    pub fn rate(&self, channel: &str) -> Option<f64> {
        let r = self
            .channel_rate_per_sec
            .get(channel)
            .copied()
            .unwrap_or(self.rate_per_sec);
        (r > 0.0).then_some(r)
    }

    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        let rate_ok = |r: f64| r.is_finite() && r >= 0.0;
        if !rate_ok(self.rate_per_sec) {
            return Err(invalid(
                "outbound.rate_per_sec",
                "must be 0 (unlimited) or positive",
            ));
        }
        for (channel, r) in &self.channel_rate_per_sec {
            let key = format!("outbound.channel_rate_per_sec.{channel}");
            if !CHANNELS.contains(&channel.as_str()) {
                return Err(invalid(
                    &key,
                    "not a channel (template, subscribe, customer, mass)",
                ));
            }
            if !rate_ok(*r) {
                return Err(invalid(&key, "must be 0 (unlimited) or positive"));
            }
        }
        if !(1..=1024).contains(&self.concurrency) {
            return Err(invalid("outbound.concurrency", "must be 1 to 1024"));
        }
        if self.lease_secs < 5 {
            return Err(invalid("outbound.lease_secs", "must be at least 5"));
        }
        if self.retry_base_ms == 0 || self.retry_max_ms < self.retry_base_ms {
            return Err(invalid(
                "outbound.retry_base_ms",
                "must be positive and at most outbound.retry_max_ms",
            ));
        }
        if self.poll_ms == 0 || self.poll_ms > 60_000 {
            return Err(invalid("outbound.poll_ms", "must be 1 to 60000"));
        }
        Ok(())
    }
}
