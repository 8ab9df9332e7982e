//! Plugins that run on schedules: a component exporting
//! `wechat:plugin/schedule` (WIT 1.x; the SDK's `export_scheduled_plugin!`).
//! [`ScheduleExport`] is that export, resolved at load;
//! [`LoadedPlugin::run_schedule`] is one run — through the same per-call
//! path as a message (`PluginCode::with_instance_for`: pool permit, always
//! a fresh store, memory limit, epoch deadline with yields), acting for
//! one account (its kv, API client, outbound queue and grants).
//!
//! Runs come after pushes: they hold at most [`schedule_share`] of the
//! instance pool at once (like pages, a share of their own), so a burst of
//! ticks across many accounts can neither take the instances WeChat's
//! pushes need nor run without bound. A run waits at most
//! [`SCHEDULE_QUEUE_WAIT`] for the share (then [`PluginError::Shed`]).
//! Which ticks run, once per cluster, is `crate::schedule`'s business.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::anyhow;
use wasmtime::component::InstancePre;

use super::bindings::WitVersion;
use super::bindings::v1::exports::wechat::plugin::schedule::{GuestIndices, Tick};
use super::bindings::v1::wechat::plugin::types::Account;
use super::call::InstanceUse;
use super::loaded::LoadedPlugin;
use super::state::CallState;
use super::{AccountScope, LogLine, PluginError};

/// How long a run waits for its share of the pool.
pub const SCHEDULE_QUEUE_WAIT: Duration = Duration::from_secs(10);

/// Instances scheduled runs may hold at once, of `max_instances`: a
/// quarter, at least one.
pub fn schedule_share(max_instances: u32) -> usize {
    (max_instances as usize / 4).max(1)
}

/// A component's `wechat:plugin/schedule` export.
pub(crate) struct ScheduleExport {
    indices: GuestIndices,
}

impl ScheduleExport {
    /// Looks the export up once, at load (its function's type is checked
    /// on each run's instance, as bindgen does).
    pub fn resolve(
        pre: &InstancePre<CallState>,
        version: Option<WitVersion>,
    ) -> anyhow::Result<ScheduleExport> {
        if version != Some(WitVersion::V1) {
            return Err(anyhow!(
                "a schedule export needs WIT 1.x (wechat:plugin@1.0 or later); rebuild the plugin with a current SDK"
            ));
        }
        Ok(ScheduleExport {
            indices: GuestIndices::new(pre)
                .map_err(|e| anyhow!("mistyped wechat:plugin/schedule export: {e:#}"))?,
        })
    }
}

/// What one run produced.
#[derive(Debug, Clone)]
pub struct ScheduleReport {
    /// `Err(PluginError::Guest…)` when the plugin returned an error.
    pub result: Result<(), PluginError>,
    pub logs: Vec<LogLine>,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
}

impl LoadedPlugin {
    /// Whether it exports `wechat:plugin/schedule`.
    pub fn runs_schedules(&self) -> bool {
        self.code.schedule.is_some()
    }

    /// Runs schedule `name`'s tick due at `scheduled_at_ms` for `account`,
    /// limited to `limit` (the caller has cut it to `[schedules]
    /// max_run_ms`).
    pub async fn run_schedule(
        &self,
        account: &Arc<AccountScope>,
        name: &str,
        scheduled_at_ms: u64,
        limit: Duration,
    ) -> ScheduleReport {
        let code = &self.code;
        let empty = |result: Result<(), PluginError>| ScheduleReport {
            result,
            logs: vec![],
            stdout: String::new(),
            stderr: String::new(),
            elapsed: Duration::ZERO,
        };
        let Some(export) = &code.schedule else {
            let e = PluginError::Host(format!(
                "plugin {} does not export wechat:plugin/schedule",
                code.id
            ));
            return empty(Err(e));
        };
        let queued = Instant::now();
        let share =
            tokio::time::timeout(SCHEDULE_QUEUE_WAIT, code.inner.schedule_share.acquire()).await;
        let Ok(Ok(_share)) = share else {
            return empty(Err(PluginError::Shed {
                waited_ms: queued.elapsed().as_millis() as u64,
            }));
        };
        let tick = Tick {
            name: name.to_owned(),
            scheduled_at: scheduled_at_ms,
            account: Account {
                name: account.name.to_string(),
                app_id: account.app_id.to_string(),
                // Known from pushes only; a tick has none to take it from.
                original_id: String::new(),
            },
        };
        let deadline = Instant::now() + limit;
        let (r, report) = code
            .with_instance_for(
                limit,
                account,
                deadline,
                InstanceUse::Fresh,
                async |i, s| {
                    let guest = export.indices.load(&mut *s, i)?;
                    guest.call_handle_schedule(&mut *s, &tick).await
                },
            )
            .await;
        let result = match r {
            Ok(Ok(())) => Ok(()),
            Ok(Err(message)) => Err(PluginError::Failed(message)),
            Err(e) => Err(e),
        };
        code.inner.stats.record(&code.id, &result);
        let acct = account.name.to_string();
        metrics::counter!("wxhost_plugin_calls_total", "plugin" => code.id.clone(), "kind" => "schedule", "account" => acct.clone()).increment(1);
        if let Err(e) = &result {
            metrics::counter!("wxhost_plugin_failures_total", "plugin" => code.id.clone(), "class" => e.kind(), "kind" => "schedule", "account" => acct).increment(1);
            tracing::warn!(
                target: "wxhost::plugin",
                plugin = %code.id,
                schedule = name,
                error.kind = e.kind(),
                "plugin {} failed on schedule {name} ({}): {e}",
                code.id,
                e.kind()
            );
        }
        ScheduleReport {
            result,
            logs: report.logs,
            stdout: report.stdout,
            stderr: report.stderr,
            elapsed: report.elapsed,
        }
    }
}
