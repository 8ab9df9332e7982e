//! One tick of one schedule: claimed once across the instances, skipped
//! when the previous run still holds its lease, jittered, run within its
//! limits, recorded.

use std::time::Duration;

use rand::Rng as _;

use super::{CLAIM_KEPT, CLAIM_REALM, Entry, RUNNING_REALM, Scheduler, now_ms};
use crate::plugin::{LogLevel, LogLine, PluginError, SCHEDULE_QUEUE_WAIT};
use crate::store::ScheduleRun;

/// Lines of a run's logs and output kept in its record.
const LOG_LINES_KEPT: usize = 50;

impl Scheduler {
    /// Runs `tick_ms` of `e` here unless another instance already claimed
    /// it. `catch_up`: it stands for ticks missed while no instance ran.
    pub(super) async fn tick(&self, e: &Entry, tick_ms: u64, catch_up: bool) {
        let stores = &e.account.stores;
        let key = e.store_key();
        let labels = [
            ("account", e.account.name.to_string()),
            ("plugin", e.plugin.id().to_owned()),
            ("schedule", e.schedule.name.clone()),
        ];
        let count = |outcome: &'static str| {
            let mut l: Vec<(&'static str, String)> = labels.to_vec();
            l.push(("outcome", outcome.to_owned()));
            metrics::counter!("wxhost_schedule_runs_total", &l).increment(1);
        };
        match stores
            .sessions
            .claim(CLAIM_REALM, &format!("{key}/{tick_ms}"), CLAIM_KEPT)
            .await
        {
            Ok(true) => {}
            // Another instance runs it.
            Ok(false) => return,
            Err(err) => {
                // Without the claim a run could be a second one: not run.
                tracing::warn!(
                    account = %e.account.name,
                    plugin = %e.plugin.id(),
                    schedule = %e.schedule.name,
                    error = %err,
                    "tick not run: the store did not answer its claim"
                );
                count("unclaimed");
                return;
            }
        }
        let claimed_ms = now_ms();
        metrics::histogram!("wxhost_schedule_lateness_seconds", &labels[1..])
            .record(claimed_ms.saturating_sub(tick_ms) as f64 / 1000.0);
        let limit = self.limit(e);
        let jitter = match e.schedule.jitter.as_millis() as u64 {
            0 => Duration::ZERO,
            j => Duration::from_millis(rand::rng().random_range(0..=j)),
        };
        // Outlives the run (queue wait, jitter, limit) by a margin; a
        // crashed runner's lease expires by itself.
        let lease = limit + SCHEDULE_QUEUE_WAIT + jitter + Duration::from_secs(5);
        let mut record = ScheduleRun {
            plugin: e.plugin.id().to_owned(),
            schedule: e.schedule.name.clone(),
            tick_ms,
            started_ms: claimed_ms,
            instance: self.instance.clone(),
            outcome: String::new(),
            duration_ms: 0,
            catch_up,
            error: None,
            logs: vec![],
        };
        let outcome: &'static str;
        let running = stores.sessions.claim(RUNNING_REALM, &key, lease).await;
        match running {
            Ok(true) => {
                tokio::time::sleep(jitter).await;
                record.started_ms = now_ms();
                let report = e
                    .plugin
                    .run_schedule(&e.account.plugins, &e.schedule.name, tick_ms, limit)
                    .await;
                if let Err(err) = stores.sessions.delete(RUNNING_REALM, &key).await {
                    tracing::debug!(error = %err, "schedule lease not released: it expires");
                }
                record.duration_ms = report.elapsed.as_millis() as u64;
                outcome = match &report.result {
                    Ok(()) => "ok",
                    Err(PluginError::Timeout { .. }) => "timeout",
                    Err(PluginError::Shed { .. }) => "shed",
                    Err(_) => "failed",
                };
                record.error = report.result.as_ref().err().map(ToString::to_string);
                record.logs = lines(&report.logs, &report.stdout, &report.stderr);
            }
            Ok(false) => {
                outcome = "skipped";
                record.error = Some("the previous run was still running".to_owned());
                tracing::info!(
                    account = %e.account.name,
                    plugin = %e.plugin.id(),
                    schedule = %e.schedule.name,
                    "tick skipped: the previous run is still running"
                );
            }
            Err(err) => {
                outcome = "unclaimed";
                record.error = Some(format!("the store did not answer: {err}"));
            }
        }
        record.outcome = outcome.to_owned();
        count(outcome);
        if let Err(err) = stores.schedules.mark_tick(&key, tick_ms).await {
            tracing::warn!(error = %err, "schedule tick not recorded as handled");
        }
        if let Err(err) = stores.schedules.record_run(&record).await {
            tracing::warn!(error = %err, "schedule run not recorded");
        }
    }
}

/// The run's log lines, then what it printed, bounded.
fn lines(logs: &[LogLine], stdout: &str, stderr: &str) -> Vec<String> {
    let logged = logs.iter().map(|l| {
        let level = match l.level {
            LogLevel::Trace => "trace",
            LogLevel::Debug => "debug",
            LogLevel::Info => "info",
            LogLevel::Warn => "warn",
            LogLevel::Error => "error",
        };
        let fields: String = l
            .fields
            .iter()
            .map(|(k, v)| format!(" {k}={v:?}"))
            .collect();
        format!("{level}: {}{fields}", l.message)
    });
    let printed = [("stdout", stdout), ("stderr", stderr)]
        .into_iter()
        .flat_map(|(n, t)| {
            t.lines()
                .filter(|l| !l.trim().is_empty())
                .map(move |l| format!("{n}: {l}"))
        });
    logged.chain(printed).take(LOG_LINES_KEPT).collect()
}
