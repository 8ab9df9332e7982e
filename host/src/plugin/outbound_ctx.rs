//! [`OutboundCtx`]: what the WIT 1.1 `outbound` interface sees of a call —
//! the plugin, whether it holds the `outbound` capability for this
//! account, the account it acts for, and the host's queue
//! ([`PluginOutbound`], set once the service has opened it). A plugin
//! queues and reads jobs of the account it is acting for only.

use std::sync::{Arc, OnceLock};
use std::time::Instant;

use super::account_scope::AccountScope;
use super::bindings::v1::wechat::plugin::outbound;
use super::state::PluginScope;
use crate::config::Capability;

/// A job as a plugin reads it back.
#[derive(Debug, Clone, PartialEq)]
pub struct JobView {
    pub id: i64,
    pub status: String,
    pub reason: Option<String>,
    pub attempts: u32,
    pub msgid: Option<u64>,
}

/// The host's outbound queue as plugins use it (implemented by
/// `crate::outbound::Outbound`; a trait so the plugin runtime does not
/// depend on the queue).
#[async_trait::async_trait]
pub trait PluginOutbound: Send + Sync + 'static {
    /// Queues `job` (the admin API's job JSON) for `account`.
    async fn enqueue(&self, account: &str, job: &str) -> Result<i64, String>;
    /// Job `id` if it is `account`'s.
    async fn status(&self, account: &str, id: i64) -> Result<Option<JobView>, String>;
}

/// Where the queue is, for every account: empty until the service has
/// opened it (a `plugin run` outside `serve` has none).
pub type OutboundSlot = Arc<OnceLock<Arc<dyn PluginOutbound>>>;

/// Longest job JSON a plugin may pass (the queue's own limit is lower; this
/// bounds what is parsed).
const MAX_JOB_JSON_BYTES: usize = 64 << 10;

pub(crate) struct OutboundCtx {
    plugin: Arc<str>,
    account: Arc<str>,
    granted: bool,
    queue: OutboundSlot,
    /// Set per call (an instance reused across calls gets each call's own).
    pub deadline: Instant,
}

impl OutboundCtx {
    pub fn new(scope: &PluginScope, account: &AccountScope, deadline: Instant) -> OutboundCtx {
        let grants = account
            .grants(&scope.id)
            .and_then(|g| g.capabilities.clone());
        let granted = grants
            .as_ref()
            .unwrap_or(&scope.capabilities)
            .contains(&Capability::Outbound);
        OutboundCtx {
            plugin: scope.id.clone(),
            account: account.name.clone(),
            granted,
            queue: account.services.outbound.clone(),
            deadline,
        }
    }

    fn queue(&self) -> Result<Arc<dyn PluginOutbound>, String> {
        if !self.granted {
            tracing::info!(plugin = %self.plugin, "outbound refused: capability not granted");
            return Err(format!(
                "capability `outbound` is not granted to plugin {} (capabilities = [\"outbound\"])",
                self.plugin
            ));
        }
        self.queue
            .get()
            .cloned()
            .ok_or_else(|| "the outbound queue is not running in this process".to_owned())
    }

    /// Runs `f` within the call's deadline.
    async fn bounded<T>(&self, f: impl Future<Output = Result<T, String>>) -> Result<T, String> {
        tokio::time::timeout_at(self.deadline.into(), f)
            .await
            .unwrap_or_else(|_| Err("the call's time ran out".to_owned()))
    }
}

impl outbound::Host for OutboundCtx {
    async fn enqueue(&mut self, job: String) -> wasmtime::Result<Result<i64, String>> {
        let queue = match self.queue() {
            Ok(q) => q,
            Err(e) => return Ok(Err(e)),
        };
        if job.len() > MAX_JOB_JSON_BYTES {
            return Ok(Err(format!(
                "the job is {} bytes, at most {MAX_JOB_JSON_BYTES}",
                job.len()
            )));
        }
        Ok(self.bounded(queue.enqueue(&self.account, &job)).await)
    }

    async fn job_status(
        &mut self,
        id: i64,
    ) -> wasmtime::Result<Result<Option<outbound::JobState>, String>> {
        let queue = match self.queue() {
            Ok(q) => q,
            Err(e) => return Ok(Err(e)),
        };
        let found = self.bounded(queue.status(&self.account, id)).await;
        Ok(found.map(|j| {
            j.map(|j| outbound::JobState {
                id: j.id,
                status: j.status,
                reason: j.reason,
                attempts: j.attempts,
                msgid: j.msgid,
            })
        }))
    }
}
