//! Scheduled plugin runs: plugins declare schedules in the config
//! (`[plugin.<id>.schedules]`, per account `[account.<name>.plugin.<id>.
//! schedules]`; parsed in `config/schedules.rs`), and every instance's
//! [`Scheduler`] runs each tick **once across the instances sharing the
//! store**:
//!
//! - **Once per tick**: a tick is claimed in the account's store before it
//!   runs ([`SessionStore::claim`](crate::store::SessionStore::claim):
//!   `SET NX PX` on Redis, an insert that conflicts on SQLite) under
//!   `(plugin, schedule, tick)`; the instance that wins runs it, the others
//!   do nothing. Every instance computes the same ticks from the same
//!   expression and time zone, so they contend for the same names.
//! - **No overlap**: a run holds a lease (`schedule-running`, also a
//!   claim, expiring after the run's limit) while it runs; a tick that
//!   finds it held is recorded as `skipped`. A crashed runner's lease
//!   expires by itself.
//! - **Missed ticks** (`catch_up`): the store remembers the last tick each
//!   schedule handled ([`ScheduleStore`](crate::store::ScheduleStore)); when
//!   an instance first sees a schedule it compares with now, and with
//!   `once` runs one catch-up run for the newest missed tick — claimed like
//!   any tick, so a cluster restarting together runs it once.
//! - **Limits**: a run has the plugin's memory limit and its time limit
//!   (the schedule's `timeout_ms`, else the plugin's, at most `[schedules]
//!   max_run_ms`), yields like message calls and holds a share of the pool
//!   of its own (`plugin/schedule.rs`), so it never delays pushes.
//! - **Visible**: every run is recorded with its instance, outcome,
//!   duration and the plugin's log lines (the console's "Schedules" page,
//!   `GET /api/v1/schedules`); metrics count runs by outcome and lateness.
//!
//! `clock.rs` holds the tick arithmetic; `plan.rs` what runs where now
//! (followed each round: hot reloads, switches and accounts added at
//! runtime change it without a restart); `run.rs` one tick.

pub mod clock;
mod plan;
mod run;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chrono_tz::Tz;
use serde::Serialize;
use tokio_util::sync::CancellationToken;

use crate::account::Accounts;
use crate::config::{CatchUp, Config};
use crate::plugin::Runtime;
use crate::store::now_millis;
pub use plan::Entry;

/// How often the plan is looked at when no tick is due sooner.
const ROUND: Duration = Duration::from_secs(1);

/// What a tick's claim is stored under, and how long it is kept: longer
/// than any clock skew between instances.
const CLAIM_REALM: &str = "schedule-tick";
const CLAIM_KEPT: Duration = Duration::from_secs(48 * 3600);
/// The lease a run holds while it runs.
const RUNNING_REALM: &str = "schedule-running";

/// Runs every schedule's ticks on this instance (once per cluster).
pub struct Scheduler {
    runtime: Arc<Runtime>,
    accounts: Arc<Accounts>,
    tz: Tz,
    max_run: Duration,
    instance: String,
    plans: plan::Plans,
    /// Per entry key: when it is next due, and what it last did here.
    states: Mutex<HashMap<String, EntryState>>,
}

#[derive(Debug, Clone)]
struct EntryState {
    expr: String,
    next_due_ms: Option<u64>,
}

/// One schedule as the console and the API show it.
#[derive(Debug, Clone, Serialize)]
pub struct ScheduleView {
    pub account: String,
    pub plugin: String,
    pub schedule: String,
    pub cron: String,
    pub catch_up: &'static str,
    pub jitter_ms: u64,
    pub limit_ms: u64,
    /// Unix ms; `None`: the expression has no future tick.
    pub next_ms: Option<u64>,
}

impl Scheduler {
    pub fn new(
        config: &Config,
        runtime: Arc<Runtime>,
        accounts: Arc<Accounts>,
    ) -> anyhow::Result<Arc<Scheduler>> {
        Ok(Arc::new(Scheduler {
            tz: config.schedules.tz().map_err(anyhow::Error::msg)?,
            max_run: Duration::from_millis(config.schedules.max_run_ms),
            instance: config.instance_id(),
            plans: plan::Plans::from_config(config).map_err(anyhow::Error::msg)?,
            runtime,
            accounts,
            states: Mutex::new(HashMap::new()),
        }))
    }

    /// The time zone cron expressions are read in.
    pub fn timezone(&self) -> &'static str {
        self.tz.name()
    }

    /// Every schedule served now, for `account` only when given.
    pub fn list(&self, account: Option<&str>) -> Vec<ScheduleView> {
        let states = self.states.lock().unwrap_or_else(PoisonError::into_inner);
        let now = now_ms();
        self.plans
            .entries(&self.runtime, &self.accounts)
            .into_iter()
            .filter(|e| account.is_none_or(|a| *e.account.name == *a))
            .map(|e| ScheduleView {
                next_ms: states
                    .get(&e.key())
                    .map(|s| s.next_due_ms)
                    .unwrap_or_else(|| clock::next_after(&e.schedule.cron, self.tz, now)),
                account: e.account.name.to_string(),
                plugin: e.plugin.id().to_owned(),
                schedule: e.schedule.name.clone(),
                cron: e.schedule.expr().to_owned(),
                catch_up: e.schedule.catch_up.as_str(),
                jitter_ms: e.schedule.jitter.as_millis() as u64,
                limit_ms: self.limit(&e).as_millis() as u64,
            })
            .collect()
    }

    /// A run's time limit: the schedule's, else the plugin's, at most
    /// `max_run_ms`.
    fn limit(&self, e: &Entry) -> Duration {
        e.schedule
            .timeout
            .unwrap_or_else(|| e.plugin.timeout())
            .min(self.max_run)
    }

    /// Runs ticks until `stop`; returns when it is cancelled (runs under
    /// way finish by themselves, within their limits).
    pub fn start(self: &Arc<Self>, stop: CancellationToken) -> tokio::task::JoinHandle<()> {
        let this = self.clone();
        tokio::spawn(async move {
            loop {
                let wait = this.round();
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = stop.cancelled() => return,
                }
            }
        })
    }

    /// One look at the plan: fires what is due, notices new schedules
    /// (and their missed ticks), forgets removed ones. Returns how long to
    /// sleep until the next due tick (at most [`ROUND`]).
    fn round(self: &Arc<Self>) -> Duration {
        let now = now_ms();
        let entries = self.plans.entries(&self.runtime, &self.accounts);
        let mut wake = now + ROUND.as_millis() as u64;
        let mut states = self.states.lock().unwrap_or_else(PoisonError::into_inner);
        let mut seen = std::collections::HashSet::with_capacity(entries.len());
        for e in entries {
            let key = e.key();
            let expr = e.schedule.expr();
            let next = |after| clock::next_after(&e.schedule.cron, self.tz, after);
            match states.get_mut(&key) {
                Some(s) if s.expr == expr => {
                    if let Some(due) = s.next_due_ms.filter(|&d| d <= now) {
                        s.next_due_ms = next(now);
                        self.spawn_tick(e.clone(), due, false);
                    }
                }
                other => {
                    // New here (or its expression changed): from now on,
                    // and what was missed while no instance ran it.
                    let first = other.is_none();
                    states.insert(
                        key.clone(),
                        EntryState {
                            expr: expr.to_owned(),
                            next_due_ms: next(now),
                        },
                    );
                    if first {
                        self.spawn_first_sight(e.clone(), now);
                    }
                }
            }
            if let Some(d) = states.get(&key).and_then(|s| s.next_due_ms) {
                wake = wake.min(d);
            }
            seen.insert(key);
        }
        states.retain(|k, _| seen.contains(k));
        Duration::from_millis(wake.saturating_sub(now_ms()))
    }

    fn spawn_tick(self: &Arc<Self>, e: Entry, tick_ms: u64, catch_up: bool) {
        let this = self.clone();
        tokio::spawn(async move { this.tick(&e, tick_ms, catch_up).await });
    }

    /// A schedule this instance has not run before: with `catch_up =
    /// "once"`, one run for the newest tick missed since the last one any
    /// instance handled; a schedule the store has never seen starts its
    /// record now (so a stop before its first tick is caught up later).
    fn spawn_first_sight(self: &Arc<Self>, e: Entry, now: u64) {
        let this = self.clone();
        tokio::spawn(async move {
            let store = e.account.stores.schedules.clone();
            let key = e.store_key();
            match store.last_tick(&key).await {
                Ok(Some(last)) if e.schedule.catch_up == CatchUp::Once => {
                    if let Some(missed) = clock::last_missed(&e.schedule.cron, this.tz, last, now) {
                        this.tick(&e, missed, true).await;
                    }
                }
                Ok(Some(last)) => {
                    if clock::last_missed(&e.schedule.cron, this.tz, last, now).is_some() {
                        tracing::info!(
                            account = %e.account.name,
                            plugin = %e.plugin.id(),
                            schedule = %e.schedule.name,
                            "ticks missed while no instance ran this schedule are skipped (catch_up = \"skip\")"
                        );
                    }
                }
                Ok(None) => {
                    if let Err(err) = store.mark_tick(&key, now).await {
                        tracing::debug!(error = %err, "schedule start not recorded");
                    }
                }
                Err(err) => tracing::warn!(
                    account = %e.account.name,
                    plugin = %e.plugin.id(),
                    schedule = %e.schedule.name,
                    error = %err,
                    "cannot read the schedule's last tick: missed ticks are not caught up"
                ),
            }
        });
    }
}

fn now_ms() -> u64 {
    now_millis().max(0) as u64
}

/// Registers the metrics' descriptions (`/metrics`).
pub fn describe_metrics() {
    metrics::describe_counter!(
        "wxhost_schedule_runs_total",
        "Scheduled runs, by account, plugin, schedule and outcome (ok, failed, timeout, skipped, shed, unclaimed)"
    );
    metrics::describe_histogram!(
        "wxhost_schedule_lateness_seconds",
        metrics::Unit::Seconds,
        "Time from a tick's due time to its run's start (jitter excluded)"
    );
}
