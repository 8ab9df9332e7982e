//! Outbound messages: template, subscription, customer-service and mass
//! messages through a durable queue, sent under per-(account, API) rate
//! limits, retried without duplicates, joined to their receipts, and sent
//! through a fallback channel when the customer-service window is closed.
//!
//! - [`job`]: the job JSON and the queue's record of it.
//! - [`queue`]: the [`queue::JobQueue`] trait (leases, outcomes, receipts,
//!   opt-outs, last pushes, pauses); [`sqlite`] and [`redis`]: its
//!   backends (the deployment's own: several instances on one Redis drain
//!   one queue).
//! - [`rules`]: template data rules, checked before queueing;
//!   [`media`]: uploads cached by content hash.
//! - [`rate`]: the token buckets; [`retry`]: errcode → retry, pause,
//!   fallback or failure, and the backoff.
//! - [`worker`]: drains the queue (started with the service).
//! - `plugin.rs`: the queue as plugins use it (WIT 1.1 `outbound`).
//! - [`receipts`]: what pushes tell the queue (receipts, opt-outs, the
//!   users' last pushes), off the push path.
//!
//! [`Outbound`] (here) is what the rest of the host holds: submit jobs,
//! read them, observe pushes, start the worker.
//!
//! Guarantees per channel (README "Outbound messages"): a template retry
//! reuses its `client_msg_id`, so within WeChat's 10-minute window a crash
//! between WeChat's answer and our record is not a second message; mass
//! sends use `clientmsgid` (24 h); customer-service and subscription sends
//! have no idempotency at WeChat: after a crash in that same gap the job is
//! sent again (at least once).

pub mod job;
pub mod media;
mod plugin;
pub mod queue;
pub mod rate;
pub mod receipts;
pub mod redis;
pub mod retry;
pub mod rules;
pub mod sqlite;
pub mod worker;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::Notify;

use crate::account::Accounts;
use crate::config::{Config, OutboundConfig};
use crate::store::{StoreError, now_millis};
use job::{JobRecord, JobSpec, MAX_JOB_BYTES};
use queue::{Enqueued, JobQueue, NewJob, Pause};

/// Jobs one request may submit (the admin API's body is 1 MiB anyway).
pub const MAX_BATCH: usize = 10_000;

/// Why jobs were not queued.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SubmitError {
    /// Job `index` (0-based) is wrong; nothing was queued.
    #[error("job {index}: {message}")]
    Invalid { index: usize, message: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The outbound side of the host.
pub struct Outbound {
    pub queue: Arc<dyn JobQueue>,
    pub settings: OutboundConfig,
    accounts: Arc<Accounts>,
    /// Wakes the worker when this process queues a job.
    wake: Arc<Notify>,
    /// Paused (account, API) → until (ms): read by the worker per job
    /// without a store round trip; the store has them for restarts.
    pauses: Mutex<HashMap<(String, String), i64>>,
    observer: receipts::Observer,
}

impl Outbound {
    /// The queue on the deployment's backend — `<data_dir>/outbound.db`,
    /// or its Redis (shared by every instance) — for `accounts`.
    pub fn open(config: &Config, accounts: Arc<Accounts>) -> Result<Arc<Outbound>, StoreError> {
        let location = config
            .store_location(None)
            .map_err(|e| StoreError::Backend(e.to_string()))?;
        let queue: Arc<dyn JobQueue> = match location {
            crate::store::StoreLocation::Sqlite { data_dir } => {
                Arc::new(sqlite::SqliteQueue::open(&data_dir)?)
            }
            crate::store::StoreLocation::Redis(settings) => {
                Arc::new(redis::RedisQueue::open(&settings)?)
            }
        };
        Ok(Outbound::with_queue(
            queue,
            config.outbound.clone(),
            accounts,
        ))
    }

    pub fn with_queue(
        queue: Arc<dyn JobQueue>,
        settings: OutboundConfig,
        accounts: Arc<Accounts>,
    ) -> Arc<Outbound> {
        let observer = receipts::Observer::start(queue.clone());
        Arc::new(Outbound {
            queue,
            settings,
            accounts,
            wake: Arc::new(Notify::new()),
            pauses: Mutex::new(HashMap::new()),
            observer,
        })
    }

    /// Validates and queues `specs` (all or none) for `default_account`
    /// where a job names none. A job whose `key` was seen gets the first
    /// job's id.
    pub async fn submit(
        &self,
        default_account: &str,
        specs: Vec<JobSpec>,
    ) -> Result<Vec<Enqueued>, SubmitError> {
        if specs.len() > MAX_BATCH {
            return Err(SubmitError::Invalid {
                index: MAX_BATCH,
                message: format!("at most {MAX_BATCH} jobs per request"),
            });
        }
        let now = now_millis();
        let mut jobs = Vec::with_capacity(specs.len());
        for (index, spec) in specs.into_iter().enumerate() {
            let bad = |message: String| SubmitError::Invalid { index, message };
            spec.validate().map_err(bad)?;
            let account = spec
                .account
                .clone()
                .unwrap_or_else(|| default_account.to_owned());
            if self.accounts.by_name(&account).is_none() {
                return Err(bad(format!("account: no account `{account}` is served")));
            }
            let size = serde_json::to_vec(&spec).map_or(usize::MAX, |v| v.len());
            if size > MAX_JOB_BYTES {
                return Err(bad(format!(
                    "{size} bytes, at most {MAX_JOB_BYTES} per job"
                )));
            }
            let secs = spec.deadline_secs.unwrap_or(self.settings.deadline_secs);
            jobs.push(NewJob {
                account,
                deadline_ms: now.saturating_add((secs.min(30 * 86_400) * 1000) as i64),
                spec,
            });
        }
        let out = self.queue.enqueue(jobs, now).await?;
        metrics::counter!("wxhost_outbound_enqueued_total")
            .increment(out.iter().filter(|e| !e.duplicate).count() as u64);
        self.wake.notify_one();
        Ok(out)
    }

    /// Job `id`, if it is `account`'s (`None`: any account's).
    pub async fn job(
        &self,
        id: i64,
        account: Option<&str>,
    ) -> Result<Option<JobRecord>, StoreError> {
        Ok(self
            .queue
            .get(id)
            .await?
            .filter(|j| account.is_none_or(|a| a == j.account)))
    }

    /// Tells the queue what a push means for delivery (a receipt, an
    /// opt-out, the user's last push). Never waits: the push path calls it.
    pub fn observe(&self, account: &str, message: &crate::protocol::Message) {
        self.observer.offer(account, message);
    }

    /// The pause of `api` for `account` in force now, if any.
    fn paused_until(&self, account: &str, api: &str, now_ms: i64) -> Option<i64> {
        let pauses = self.pauses.lock().unwrap_or_else(PoisonError::into_inner);
        pauses
            .get(&(account.to_owned(), api.to_owned()))
            .copied()
            .filter(|until| *until > now_ms)
    }

    /// Records a pause, here and in the store.
    async fn pause(&self, pause: Pause) -> Result<(), StoreError> {
        self.pauses
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert((pause.account.clone(), pause.api.clone()), pause.until_ms);
        self.queue.pause(&pause).await
    }

    /// Reloads the pauses from the store (at start, and now and then: a
    /// pause another process recorded).
    async fn reload_pauses(&self) -> Result<(), StoreError> {
        let now = now_millis();
        let fresh: HashMap<_, _> = self
            .queue
            .pauses(now)
            .await?
            .into_iter()
            .map(|p| ((p.account, p.api), p.until_ms))
            .collect();
        *self.pauses.lock().unwrap_or_else(PoisonError::into_inner) = fresh;
        Ok(())
    }

    /// Starts draining the queue until `stop`; the handle ends once the
    /// sends in flight finished (or were given up at stop).
    pub fn start(
        self: &Arc<Self>,
        stop: tokio_util::sync::CancellationToken,
    ) -> tokio::task::JoinHandle<()> {
        tokio::spawn(worker::Worker::new(self.clone()).run(stop))
    }
}
