//! The worker: leases due jobs, sends each under its (account, API) bucket,
//! and records the outcome — sent with WeChat's msgid, a retry after the
//! backoff, a pause of the API for the account (45009), the fallback
//! channel, or a failure with a reason.
//!
//! At most `[outbound] concurrency` sends are in flight; it leases only as
//! many jobs as it has free slots, so a job it holds is one it is working
//! on, and a job whose sender died (a crash, `kill -9`) is due again when
//! its lease lapses. A job whose rate slot is more than a second off, or
//! whose API is paused, is put back for then instead of holding a slot
//! (other accounts keep sending). With Redis the (account, API) buckets
//! are shared by every instance (`reserve_shared_slot`, on Redis's clock),
//! so the configured rate holds for the cluster, not per instance.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::Outbound;
use super::job::{Channel, JobRecord};
use super::queue::{Outcome, Pause};
use super::rate::{RateLimiter, Slot};
use super::retry::{Verdict, backoff, classify, quota_reset_after};
use crate::api::ApiError;
use crate::store::now_millis;

/// Longest a send waits for its rate slot while holding a worker slot.
const MAX_RATE_WAIT: Duration = Duration::from_secs(1);
/// How often pauses recorded by another process are picked up.
const RELOAD_PAUSES_EVERY: Duration = Duration::from_secs(5);
/// How often the queue-depth gauges are refreshed.
const GAUGES_EVERY: Duration = Duration::from_secs(5);
/// How long a stopping worker lets sends in flight finish.
const STOP_GRACE: Duration = Duration::from_secs(5);

pub struct Worker {
    outbound: Arc<Outbound>,
    limiter: RateLimiter,
    /// This process's lease owner id.
    owner: String,
}

impl Worker {
    pub fn new(outbound: Arc<Outbound>) -> Worker {
        Worker {
            outbound,
            limiter: RateLimiter::new(MAX_RATE_WAIT),
            owner: format!("{}-{:016x}", std::process::id(), rand::random::<u64>()),
        }
    }

    /// A send slot for (`account`, `api`): across every process draining
    /// the queue when it is shared (Redis: one bucket for the cluster, so
    /// N instances together keep to the rate), else this process's.
    async fn reserve(&self, account: &str, api: &'static str, rate: Option<f64>) -> Slot {
        let Some(r) = rate.filter(|r| r.is_finite() && *r > 0.0) else {
            return Slot::Granted(std::time::Instant::now());
        };
        let interval = Duration::from_secs_f64(1.0 / r);
        let shared = self
            .outbound
            .queue
            .reserve_shared_slot(account, api, interval, MAX_RATE_WAIT)
            .await;
        let now = std::time::Instant::now();
        match shared {
            None => self.limiter.reserve(account, api, rate),
            Some(Ok(Ok(wait))) => Slot::Granted(now + wait),
            Some(Ok(Err(later))) => Slot::Busy(now + later),
            Some(Err(e)) => {
                // The queue's store did not answer: this process's bucket
                // still bounds what it sends.
                tracing::debug!(error = %e, "outbound: shared rate slot unavailable, using this process's");
                self.limiter.reserve(account, api, rate)
            }
        }
    }

    pub async fn run(self, stop: CancellationToken) {
        let me = Arc::new(self);
        let o = &me.outbound;
        let settings = &o.settings;
        if let Err(e) = o.reload_pauses().await {
            tracing::warn!(error = %e, "outbound: paused APIs could not be read");
        }
        let slots = Arc::new(Semaphore::new(settings.concurrency));
        let tasks = TaskTracker::new();
        let poll = Duration::from_millis(settings.poll_ms);
        let lease_ms = (settings.lease_secs * 1000) as i64;
        let mut last_reload = tokio::time::Instant::now();
        tokio::spawn(gauges(o.clone(), stop.clone()));
        tracing::info!(
            concurrency = settings.concurrency,
            rate_per_sec = settings.rate_per_sec,
            "outbound queue: draining"
        );
        loop {
            let first = tokio::select! {
                p = slots.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => break },
                _ = stop.cancelled() => break,
            };
            if last_reload.elapsed() >= RELOAD_PAUSES_EVERY {
                last_reload = tokio::time::Instant::now();
                if let Err(e) = o.reload_pauses().await {
                    tracing::warn!(error = %e, "outbound: paused APIs could not be read");
                }
            }
            let free = slots.available_permits() + 1;
            let jobs = match o.queue.lease(&me.owner, now_millis(), free, lease_ms).await {
                Ok(jobs) => jobs,
                Err(e) => {
                    tracing::warn!(error = %e, "outbound: the queue did not answer");
                    drop(first);
                    tokio::select! {
                        _ = tokio::time::sleep(poll) => {}
                        _ = stop.cancelled() => break,
                    }
                    continue;
                }
            };
            if jobs.is_empty() {
                drop(first);
                tokio::select! {
                    _ = o.wake.notified() => {}
                    _ = tokio::time::sleep(poll) => {}
                    _ = stop.cancelled() => break,
                }
                continue;
            }
            let mut permit = Some(first);
            for job in jobs {
                // Permits only come back while we lease, so there are
                // at least as many free as jobs leased.
                let p = match permit.take() {
                    Some(p) => p,
                    None => match slots.clone().try_acquire_owned() {
                        Ok(p) => p,
                        Err(_) => slots.clone().acquire_owned().await.expect("never closed"),
                    },
                };
                let me = me.clone();
                tasks.spawn(async move {
                    me.process(job).await;
                    drop(p);
                });
            }
        }
        tasks.close();
        if tokio::time::timeout(STOP_GRACE, tasks.wait())
            .await
            .is_err()
        {
            tracing::warn!(
                in_flight = tasks.len(),
                "outbound: stopping with sends in flight; their jobs are due again when their leases lapse"
            );
        }
    }

    /// One attempt at `job`, its outcome recorded.
    async fn process(&self, job: JobRecord) {
        let channel = job.via;
        let outcome = match self.attempt(&job).await {
            Some(outcome) => outcome,
            // Put back (pause, rate slot): nothing to record.
            None => return,
        };
        match &outcome {
            Outcome::Sent { .. } => {
                metrics::counter!("wxhost_outbound_sent_total", "channel" => channel.as_str())
                    .increment(1)
            }
            Outcome::Failed { reason, .. } => metrics::counter!(
                "wxhost_outbound_failed_total", "channel" => channel.as_str(), "reason" => reason_label(reason)
            )
            .increment(1),
            Outcome::Retry { reason, .. } => metrics::counter!(
                "wxhost_outbound_retries_total", "channel" => channel.as_str(), "reason" => reason_label(reason)
            )
            .increment(1),
            Outcome::UseFallback { reason, .. } => metrics::counter!(
                "wxhost_outbound_fallbacks_total", "reason" => reason_label(reason)
            )
            .increment(1),
        }
        match self
            .outbound
            .queue
            .record(job.id, &self.owner, outcome, now_millis())
            .await
        {
            Ok(true) => {}
            Ok(false) => tracing::warn!(
                job = job.id,
                "outbound: the job's lease lapsed before its outcome was recorded (another sender has it)"
            ),
            Err(e) => tracing::warn!(
                job = job.id,
                error = %e,
                "outbound: outcome not recorded; the job is due again when its lease lapses"
            ),
        }
    }

    /// Sends `job` once; `None` when it was put back untried.
    async fn attempt(&self, job: &JobRecord) -> Option<Outcome> {
        let o = &self.outbound;
        let now = now_millis();
        let spec = job.effective_spec();
        let channel = job.via;
        let failed = |reason: &str| {
            Some(Outcome::Failed {
                reason: reason.to_owned(),
                called: false,
            })
        };
        if now >= job.deadline_ms {
            let last = job.reason.as_deref().unwrap_or("not sent");
            return failed(&format!("deadline ({last})"));
        }
        let Some(account) = o.accounts.by_name(&job.account) else {
            return failed("no_such_account");
        };
        let Some(wechat) = account.wechat.clone() else {
            return failed("api_off");
        };
        let openid = spec.openid().unwrap_or_default().to_owned();
        if matches!(channel, Channel::Template | Channel::Subscribe)
            && let Some(t) = &spec.template_id
        {
            match o.queue.opted_out(&job.account, &openid, t).await {
                Ok(true) => return failed("opted_out"),
                Ok(false) => {}
                Err(e) => return Some(self.store_retry(job, &e)),
            }
        }
        // The customer-service window: with a fallback, a user silent for
        // longer (or never seen) gets the fallback instead of a doomed call.
        if channel == Channel::Customer && job.spec.fallback.is_some() {
            let window = (o.settings.customer_window_secs * 1000) as i64;
            match o.queue.last_seen(&job.account, &openid).await {
                Ok(Some(at)) if now - at < window => {}
                Ok(_) => {
                    return Some(Outcome::UseFallback {
                        reason: "outside_48h".into(),
                        called: false,
                    });
                }
                Err(e) => return Some(self.store_retry(job, &e)),
            }
        }
        let api = channel.api();
        if let Some(until) = o.paused_until(&job.account, api, now) {
            self.put_back(job, until, None).await;
            return None;
        }
        match self
            .reserve(&job.account, api, o.settings.rate(channel.as_str()))
            .await
        {
            Slot::Granted(at) => {
                let wait = at.saturating_duration_since(std::time::Instant::now());
                if !wait.is_zero() {
                    metrics::counter!("wxhost_outbound_rate_waits_total", "channel" => channel.as_str())
                        .increment(1);
                    tokio::time::sleep(wait).await;
                }
            }
            Slot::Busy(at) => {
                metrics::counter!("wxhost_outbound_rate_waits_total", "channel" => channel.as_str())
                    .increment(1);
                let later = at.saturating_duration_since(std::time::Instant::now());
                self.put_back(job, now + later.as_millis() as i64, None)
                    .await;
                return None;
            }
        }
        let body = spec.request_body(&job.dedup_id());
        let result = match channel {
            Channel::Template => wechat.send_template(&body).await,
            Channel::Subscribe => wechat.send_subscribe(&body).await,
            Channel::Customer => wechat
                .post_once("/cgi-bin/message/custom/send", &body)
                .await
                .map(|_| None),
            Channel::Mass => wechat.send_mass(spec.mass_path(), &body).await,
        };
        let error = match result {
            Ok(msgid) => return Some(Outcome::Sent { msgid }),
            Err(e) => e,
        };
        let now = now_millis();
        Some(match classify(&error) {
            Verdict::Retry { reason } => {
                let s = &o.settings;
                let pause = backoff(
                    Duration::from_millis(s.retry_base_ms),
                    Duration::from_millis(s.retry_max_ms),
                    job.attempts,
                );
                let at = now + pause.as_millis() as i64;
                if at >= job.deadline_ms {
                    Outcome::Failed {
                        reason: format!("deadline ({reason})"),
                        called: true,
                    }
                } else {
                    Outcome::Retry {
                        at_ms: at,
                        reason,
                        called: true,
                    }
                }
            }
            Verdict::Pause { reason } => {
                let until = quota_reset_after(now);
                tracing::warn!(
                    account = %job.account,
                    api,
                    "outbound: WeChat's daily quota (45009) is spent: this API is paused for this account until the quota resets (Beijing midnight)"
                );
                metrics::counter!("wxhost_outbound_pauses_total", "channel" => channel.as_str())
                    .increment(1);
                let pause = Pause {
                    account: job.account.clone(),
                    api: api.to_owned(),
                    until_ms: until,
                    reason: reason.clone(),
                };
                if let Err(e) = o.pause(pause).await {
                    tracing::warn!(error = %e, "outbound: the pause was not stored");
                }
                Outcome::Retry {
                    at_ms: until,
                    reason,
                    called: true,
                }
            }
            Verdict::WindowClosed { reason } => {
                if channel == Channel::Customer && job.spec.fallback.is_some() {
                    Outcome::UseFallback {
                        reason,
                        called: true,
                    }
                } else {
                    Outcome::Failed {
                        reason,
                        called: true,
                    }
                }
            }
            Verdict::Permanent { reason } => {
                // 43101: the user refuses this template; later jobs to it
                // fail at once instead of calling.
                if matches!(&error, ApiError::Wechat { code: 43101, .. })
                    && let Some(t) = &spec.template_id
                    && let Err(e) = o.queue.opt_out(&job.account, &openid, t, now).await
                {
                    tracing::warn!(error = %e, "outbound: opt-out not stored");
                }
                Outcome::Failed {
                    reason,
                    called: true,
                }
            }
        })
    }

    /// The store failed before the call: try again shortly.
    fn store_retry(&self, _job: &JobRecord, e: &crate::store::StoreError) -> Outcome {
        Outcome::Retry {
            at_ms: now_millis() + self.outbound.settings.retry_base_ms as i64,
            reason: format!("storage: {e}"),
            called: false,
        }
    }

    async fn put_back(&self, job: &JobRecord, at_ms: i64, note: Option<&str>) {
        if let Err(e) = self
            .outbound
            .queue
            .release(job.id, &self.owner, at_ms, note)
            .await
        {
            tracing::warn!(job = job.id, error = %e, "outbound: job not put back; due again when its lease lapses");
        }
    }
}

/// Names and explains the outbound metrics (`/metrics`).
pub fn describe_metrics() {
    use metrics::{describe_counter, describe_gauge};
    describe_gauge!(
        "wxhost_outbound_queue_depth",
        "Outbound jobs queued (due or waiting for a retry or a pause), by account"
    );
    describe_counter!("wxhost_outbound_enqueued_total", "Outbound jobs queued");
    describe_counter!(
        "wxhost_outbound_sent_total",
        "Outbound jobs WeChat accepted, by channel"
    );
    describe_counter!(
        "wxhost_outbound_failed_total",
        "Outbound jobs given up, by channel and reason"
    );
    describe_counter!(
        "wxhost_outbound_retries_total",
        "Outbound sends to be retried, by channel and reason"
    );
    describe_counter!(
        "wxhost_outbound_fallbacks_total",
        "Customer-service jobs switched to their fallback, by reason"
    );
    describe_counter!(
        "wxhost_outbound_pauses_total",
        "APIs paused for an account by WeChat's daily quota (45009), by channel"
    );
    describe_counter!(
        "wxhost_outbound_rate_waits_total",
        "Sends that waited for their (account, API) rate slot, by channel"
    );
    describe_counter!(
        "wxhost_outbound_receipts_total",
        "Receipt pushes, by channel and the status they set (unmatched: no job had the msgid)"
    );
}

/// Keeps `wxhost_outbound_queue_depth` current until `stop`.
async fn gauges(outbound: Arc<Outbound>, stop: CancellationToken) {
    let mut seen: std::collections::HashSet<String> = std::collections::HashSet::new();
    loop {
        if let Ok(stats) = outbound.queue.stats(now_millis()).await {
            let mut depth: std::collections::HashMap<String, u64> =
                seen.iter().map(|a| (a.clone(), 0)).collect();
            for (account, status, n) in stats.by_status {
                if status == super::job::Status::Queued {
                    depth.insert(account, n);
                }
            }
            for (account, n) in depth {
                metrics::gauge!("wxhost_outbound_queue_depth", "account" => account.clone())
                    .set(n as f64);
                seen.insert(account);
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(GAUGES_EVERY) => {}
            _ = stop.cancelled() => return,
        }
    }
}

/// A reason as a metric label: its stable name, without the detail a
/// deadline or an invalid request carries (labels stay a bounded set).
fn reason_label(reason: &str) -> String {
    let head = reason.split([' ', ':', '(']).next().unwrap_or(reason);
    match head {
        "" => "unknown".to_owned(),
        h if h.starts_with("wechat_") => "wechat_error".to_owned(),
        h => h.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metric_labels_are_a_bounded_set() {
        assert_eq!(reason_label("deadline (busy)"), "deadline");
        assert_eq!(reason_label("invalid: data.thing1 too long"), "invalid");
        assert_eq!(reason_label("wechat_40999"), "wechat_error");
        assert_eq!(reason_label("user_refused"), "user_refused");
    }
}
