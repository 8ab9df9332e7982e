//! The queue as plugins use it ([`PluginOutbound`], WIT 1.1 `outbound`): a
//! plugin queues jobs for the account it acts for — a job naming another
//! account is refused — and reads back only that account's jobs.

use super::Outbound;
use super::job::JobSpec;
use crate::plugin::{JobView, PluginOutbound};

#[async_trait::async_trait]
impl PluginOutbound for Outbound {
    async fn enqueue(&self, account: &str, job: &str) -> Result<i64, String> {
        let spec: JobSpec = serde_json::from_str(job).map_err(|e| format!("the job: {e}"))?;
        if spec.account.as_deref().is_some_and(|a| a != account) {
            return Err(format!(
                "account: a plugin queues jobs for the account it acts for ({account})"
            ));
        }
        let queued = self
            .submit(account, vec![spec])
            .await
            .map_err(|e| e.to_string())?;
        queued
            .first()
            .map(|e| e.id)
            .ok_or_else(|| "nothing was queued".to_owned())
    }

    async fn status(&self, account: &str, id: i64) -> Result<Option<JobView>, String> {
        let job = self
            .job(id, Some(account))
            .await
            .map_err(|e| format!("the queue is unavailable: {e}"))?;
        Ok(job.map(|j| JobView {
            id: j.id,
            status: j.status.as_str().to_owned(),
            reason: j.reason,
            attempts: j.attempts,
            msgid: j.msgid,
        }))
    }
}
