//! `wxhost plugin run FILE --schedule NAME`: one run of a plugin's schedule
//! (a tick due now, for the default account), without a server: prints its
//! logs, its output and the outbound jobs it queued — validated as the
//! queue would, recorded here, never sent.

use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use async_trait::async_trait;

use super::plugin_run::{ms, print_output};
use crate::config::{Config, parse_schedules};
use crate::outbound::job::JobSpec;
use crate::plugin::{HostServices, JobView, PluginOutbound, Runtime, RuntimeConfig};
use crate::store::KvStore;

/// Jobs a run queued: checked as the queue checks them, kept in order.
#[derive(Default)]
struct Recorded {
    jobs: Mutex<Vec<String>>,
}

#[async_trait]
impl PluginOutbound for Recorded {
    async fn enqueue(&self, account: &str, job: &str) -> Result<i64, String> {
        let value: serde_json::Value =
            serde_json::from_str(job).map_err(|e| format!("the job: {e}"))?;
        let spec = JobSpec::from_json(value)?;
        if spec.account.as_deref().is_some_and(|a| a != account) {
            return Err(format!(
                "account: a plugin queues jobs for the account it acts for ({account})"
            ));
        }
        spec.validate()?;
        let mut jobs = self.jobs.lock().unwrap_or_else(|e| e.into_inner());
        jobs.push(serde_json::to_string(&spec).unwrap_or_else(|_| job.to_owned()));
        Ok(jobs.len() as i64)
    }

    async fn status(&self, _account: &str, id: i64) -> Result<Option<JobView>, String> {
        let jobs = self.jobs.lock().unwrap_or_else(|e| e.into_inner());
        Ok((id >= 1 && id as usize <= jobs.len()).then(|| JobView {
            id,
            status: "queued".to_owned(),
            reason: None,
            attempts: 0,
            msgid: None,
        }))
    }
}

pub(super) async fn run(
    config: &Config,
    cfg: RuntimeConfig,
    kv: Arc<dyn KvStore>,
    file: &Path,
    name: &str,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let id = crate::plugin::plugin_id(file)?;
    let declared = cfg
        .settings
        .get(&id)
        .map(|s| parse_schedules(&format!("plugin.{id}.schedules"), &s.schedules))
        .transpose()
        .map_err(anyhow::Error::msg)?
        .unwrap_or_default();
    let schedule = declared.iter().find(|s| s.name == name);
    let recorded = Arc::new(Recorded::default());
    let slot = Arc::new(OnceLock::new());
    let _ = slot.set(recorded.clone() as Arc<dyn PluginOutbound>);
    let rt = Runtime::new(
        cfg,
        HostServices {
            kv,
            wechat: None,
            jssdk: None,
            outbound: slot,
        },
    )?;
    let t = Instant::now();
    let plugin = rt
        .load_file(file)
        .await
        .with_context(|| format!("cannot load {}", file.display()))?;
    writeln!(
        out,
        "plugin   {} {} (id {}), loaded in {}",
        plugin.info.name,
        plugin.info.version,
        plugin.id(),
        ms(t.elapsed())
    )?;
    if !plugin.runs_schedules() {
        bail!(
            "plugin {} does not export wechat:plugin/schedule: it cannot run schedules (build it with the SDK's export_scheduled_plugin!)",
            plugin.id()
        );
    }
    let max_run = Duration::from_millis(config.schedules.max_run_ms);
    let limit = schedule
        .and_then(|s| s.timeout)
        .unwrap_or_else(|| plugin.timeout())
        .min(max_run);
    match schedule {
        Some(s) => writeln!(out, "schedule {name} ({}; limit {})", s.expr(), ms(limit))?,
        None => writeln!(
            out,
            "schedule {name} (not in [plugin.{id}.schedules]: run anyway; limit {})",
            ms(limit)
        )?,
    }
    let now_ms = crate::store::now_millis().max(0) as u64;
    let r = plugin
        .run_schedule(&rt.default_scope(), name, now_ms, limit)
        .await;
    print_output(out, &r.logs, &r.stdout, &r.stderr)?;
    let jobs = recorded
        .jobs
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    for (i, job) in jobs.iter().enumerate() {
        writeln!(out, "job      {} {job}", i + 1)?;
    }
    writeln!(
        out,
        "time     {}; {} outbound jobs queued (not sent)",
        ms(r.elapsed),
        jobs.len()
    )?;
    match r.result {
        Ok(()) => writeln!(out, "result   ok")?,
        Err(e) => {
            writeln!(out, "error    {}: {e}", e.kind())?;
            bail!(
                "plugin {} failed on schedule {name} ({})",
                plugin.id(),
                e.kind()
            );
        }
    }
    Ok(())
}
